"""The clustering stage (diarize.cluster): cluster_speakers' contract, BIC merging and
UBM speaker linking.

Expected values come from the ground truth of synthetic data, never from the
implementation's own output.
"""

import warnings

import numpy as np
import pytest

from diarize.cluster import (ClusterResult, agglomerative_bic, chunk_speech, cluster_speakers,
                             link_clusters_clr, speaker_ubm)
from diarize.config import ClusterConfig, Config
from diarize.errors import ParameterError
from diarize.frames import relabel
from diarize.gmm import GaussianMixture
from diarize.speakers import BackgroundModel

FRONT_END = {"win_length": 0.025, "n_fft": 512, "n_mels": 40, "n_mfcc": 20, "fmin": 20.0,
             "fmax": 7600.0, "pre_emphasis": 0.97, "deltas": False, "delta_width": 9}


def first_appearance_numbered(labels):
    """Whether labels are 0, 1, 2, ... in the order they first appear."""
    _, idx = np.unique(labels, return_index=True)
    return list(labels[np.sort(idx)]) == list(range(len(idx)))


def purity(labels, truth):
    """Whether every cluster holds one true source and every source one cluster."""
    pairs = set(zip(labels.tolist(), truth.tolist()))
    return len(pairs) == len(set(labels.tolist())) == len(set(truth.tolist()))


# --- cluster_speakers, BIC only: Gaussian "voices" -------------------------------------

TURN = 300  # frames per turn
STEP = 0.01  # seconds per frame


def bic_voices(*, seed=0, turns=(0, 1, 2, 0, 1, 2, 1, 0)):
    """Frames of well-separated Gaussian sources in turns of TURN frames, with a pause of
    37 frames after every turn; returns (speech frames, speech mask, source of every
    speech frame)."""
    rng = np.random.RandomState(seed)
    d = 8
    centres = rng.randn(3, d) * 4.0
    scales = [1.0, 1.5, 0.7]
    X = np.vstack([centres[v] + scales[v] * rng.randn(TURN, d) for v in turns])
    mask = np.concatenate([np.r_[np.ones(TURN, bool), np.zeros(37, bool)] for _ in turns])
    return X.astype(np.float32), mask, np.repeat(turns, TURN)


def bic_only(**overrides):
    return Config().replace(**{"cluster__link_method": "none", "cluster__bic_penalty": 0.32,
                               **overrides}).validate()


def test_bic_only_labels_every_speech_frame_by_first_appearance():
    X, mask, truth = bic_voices()
    res = cluster_speakers(X, speech=mask, config=bic_only())
    assert isinstance(res, ClusterResult)
    assert res.labels.shape == (mask.sum(),) and res.labels.dtype == np.int64
    assert first_appearance_numbered(res.labels)
    assert res.n_clusters == 3 and purity(res.labels, truth)
    assert 3 in res.bic and res.similarity == {}  # no linking
    assert res.decided_by == "bic" and res.threshold is None


def test_bic_only_labels_are_the_chunks_spread_over_their_frames():
    X, mask, _ = bic_voices()
    cfg = bic_only()
    res = cluster_speakers(X, speech=mask, config=cfg)
    chunks = chunk_speech(mask, chunk_frames=100, max_chunks=cfg.cluster.max_segments)
    for a, b in chunks:  # a chunk is never split between clusters
        assert len(set(res.labels[a:b])) == 1
    bic = agglomerative_bic(X, chunks, config=cfg.cluster, frame_step=0.01,
                            max_clusters=cfg.max_speakers)
    np.testing.assert_array_equal(res.labels, np.repeat(bic.chunk_labels, chunks[:, 1] - chunks[:, 0]))
    assert res.bic == bic.bic


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_known_count_is_exact(k):
    X, mask, truth = bic_voices()
    res = cluster_speakers(X, speech=mask, config=bic_only(num_speakers=k))
    assert res.n_clusters == k and first_appearance_numbered(res.labels)
    if k == 3:
        assert purity(res.labels, truth)


def test_counts_stay_within_the_bounds():
    X, mask, _ = bic_voices()
    assert cluster_speakers(X, speech=mask, config=bic_only(max_speakers=2)).n_clusters == 2
    assert cluster_speakers(X, speech=mask,
                            config=bic_only(min_speakers=5, max_speakers=6)).n_clusters == 5


def test_never_more_speakers_than_there_is_speech_for():
    # 600 frames of speech: 6 chunks of 1 s, and speech for 12 speakers at
    # cluster.speech_per_speaker = 0.5 s each: the count asked is capped there, exactly
    # (the speech is cut finer than chunks, and the linear pass stops at the count).
    X, mask, _ = bic_voices(turns=(0, 1))
    for linear in (True, False):
        res = cluster_speakers(X, speech=mask, config=bic_only(
            num_speakers=50, max_speakers=50, cluster__linear_merge=linear))
        assert res.n_clusters == 12


def test_no_speech_gives_no_labels():
    res = cluster_speakers(np.zeros((0, 8), np.float32), speech=np.zeros(50, bool),
                           config=Config())
    assert res.labels.shape == (0,) and res.n_clusters == 0


def test_rows_must_be_the_speech_frames():
    X, mask, _ = bic_voices()
    with pytest.raises(ParameterError, match="speech frames"):
        cluster_speakers(X[:-1], speech=mask, config=bic_only())


def test_linking_needs_the_ubm_features():
    X, mask, _ = bic_voices()
    with pytest.raises(ParameterError, match="ubm_features"):
        cluster_speakers(X, speech=mask, config=Config())


def test_speaker_ubm_only_for_ubm_linking():
    assert speaker_ubm(ClusterConfig(link_method="none")) is None
    assert isinstance(speaker_ubm(ClusterConfig()), BackgroundModel)


# --- cluster_speakers with UBM linking: the shipped UBM, voices offset from its speech ---


def ubm_voices(*, offset=2.0, turn=400, turns=(0, 1, 2, 0, 1, 2, 0, 2, 1)):
    """Frames drawn from the shipped UBM (speech in general), each voice displaced by its
    own offset; returns (frames, source of every frame)."""
    gmm = speaker_ubm(ClusterConfig()).gmm
    rng = np.random.RandomState(0)
    c, d = gmm.means_.shape
    offsets = rng.randn(3, d) * offset

    def draw(n):
        comp = rng.choice(c, n, p=gmm.weights_)
        return gmm.means_[comp] + np.sqrt(gmm.covariances_[comp]) * rng.randn(n, d)

    X = np.vstack([draw(turn) + offsets[v] for v in turns]).astype(np.float32)
    return X, np.repeat(turns, turn)


def over_clustering(**overrides):
    # No BIC penalty: BIC merging stops early, with more clusters than voices, so that
    # linking decides the count.
    return Config().replace(**{"cluster__bic_penalty": 0.0, **overrides}).validate()


@pytest.fixture(scope="module")
def linked():
    X, truth = ubm_voices()
    return X, truth, cluster_speakers(X, speech=np.ones(len(X), bool),
                                      config=over_clustering(), ubm_features=X)


def test_linking_finds_the_voices(linked):
    X, truth, res = linked
    assert res.labels.shape == (len(X),) and res.labels.dtype == np.int64
    assert first_appearance_numbered(res.labels)
    assert res.n_clusters == 3 and purity(res.labels, truth)
    # linking merged BIC's extra clusters, each above the threshold, and declined 3 -> 2
    threshold = ClusterConfig().link_threshold
    assert max(res.bic) > 3 and len(res.similarity) > 1
    assert res.similarity[2] <= threshold < min(v for k, v in res.similarity.items() if k > 2)
    assert res.decided_by == "linking" and res.threshold == threshold


@pytest.mark.slow
def test_linking_is_deterministic(linked):
    X, _, res = linked
    again = cluster_speakers(X, speech=np.ones(len(X), bool), config=over_clustering(),
                             ubm_features=X)
    np.testing.assert_array_equal(again.labels, res.labels)
    assert again.similarity == res.similarity and again.bic == res.bic


@pytest.mark.slow
def test_linking_honours_a_known_count(linked):
    X, truth, _ = linked
    res = cluster_speakers(X, speech=np.ones(len(X), bool),
                           config=over_clustering(num_speakers=2), ubm_features=X)
    assert res.n_clusters == 2 and res.decided_by == "given"
    assert all(len(set(res.labels[truth == v])) == 1 for v in range(3))  # no voice split


@pytest.mark.slow
def test_long_chunk_ratio_decides_when_clusters_are_resegmented_first(linked):
    """With max_segments forcing longer chunks, 'long' resegments before linking as
    'always' does; a ratio above the lengthening makes it 'never'."""
    X, _, _ = linked
    speech = np.ones(len(X), bool)

    def run(mode, ratio=1.5):
        cfg = over_clustering(cluster__max_segments=12, cluster__reseg_before_link=mode,
                              cluster__long_chunk_ratio=ratio)
        return cluster_speakers(X, speech=speech, config=cfg, ubm_features=X)

    always, never = run("always"), run("never")
    assert always.similarity != never.similarity  # the two paths differ on this recording
    assert run("long").similarity == always.similarity
    assert run("long", ratio=10.0).similarity == never.similarity


# --- three synthetic voices -------------------------------------------------------------

D = 5
CHUNK = 200        # frames per chunk
PER_VOICE = 6      # chunks per voice


def synthetic_voices(*, seed):
    """A UBM and frames of three 'voices': a shared set of 'phones' (so UBM components are
    shared across voices, as in speech) displaced by a per-voice offset; the frames come
    in PER_VOICE chunks of CHUNK frames per voice, interleaved. Returns the UBM, the
    frames and the true voice of every chunk."""
    rng = np.random.RandomState(seed)
    phones = rng.randn(4, D) * 3.0
    offsets = rng.randn(3, D) * 1.5

    def draw(v, n):
        return phones[rng.randint(0, 4, n)] + offsets[v] + 0.8 * rng.randn(n, D)

    pool = np.vstack([draw(v, 1500) for v in range(3)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gmm = GaussianMixture(8, random_state=0, max_iter=50).fit(pool)
    truth = rng.permutation(np.repeat(np.arange(3), PER_VOICE))  # voices interleaved
    X = np.vstack([draw(v, CHUNK) for v in truth])
    return gmm, X, truth


def partition(labels):
    return {frozenset(np.flatnonzero(labels == k)) for k in np.unique(labels)}


# --- link_clusters_clr (cross-likelihood ratio) on frames of three synthetic voices -------

@pytest.fixture(scope="module")
def voice_frames():
    """UBM, frames, the initial cluster (chunk) of every frame, and the true voice of
    every chunk: three voices sharing 'phones', displaced by per-voice offsets."""
    gmm, X, truth = synthetic_voices(seed=1)
    frame_labels = np.repeat(np.arange(len(truth)), CHUNK)
    return BackgroundModel(gmm, dict(FRONT_END)), X, frame_labels, truth


def clr_link(voice_frames, **kw):
    ubm, X, labels, _ = voice_frames
    cfg_kw = {k: kw.pop(k) for k in ("link_threshold", "link_max_frames") if k in kw}
    cfg = ClusterConfig(**{"link_threshold": 0.0, **cfg_kw})
    return link_clusters_clr(X, labels, ubm=ubm, config=cfg, frame_step=STEP, **kw)


def chunk_partition(res, voice_frames):
    _, _, labels, truth = voice_frames
    chunk_label = np.array([res.labels[labels == s][0] for s in range(len(truth))])
    # every chunk's frames stay together
    assert all(len(set(res.labels[labels == s])) == 1 for s in range(len(truth)))
    return partition(chunk_label)


def test_clr_linking_recovers_the_three_voices(voice_frames):
    # CLR > 0 means "each explains the other better than voices in general do".
    res = clr_link(voice_frames, max_clusters=30)
    assert res.n_clusters == 3
    assert chunk_partition(res, voice_frames) == partition(voice_frames[3])
    assert res.similarity[2] <= 0.0 < min(v for k, v in res.similarity.items() if k > 2)


@pytest.mark.parametrize("width", [0.5, 2.0])
def test_gap_stop_recovers_the_three_voices(voice_frames, width):
    # the count the widest range of thresholds around link_threshold gives: the voices
    ubm, X, labels, truth = voice_frames
    # on the plain ratio's scale (the own ratios' prior is set for the shipped UBM)
    cfg = ClusterConfig(link_threshold=0.0, link_stop="gap", link_stop_width=width,
                        link_self_weight=0.0)
    res = link_clusters_clr(X, labels, ubm=ubm, config=cfg, max_clusters=30, frame_step=STEP)
    assert chunk_partition(res, voice_frames) == partition(truth)
    assert -width <= res.threshold <= width


def test_small_clusters_join_their_own_voices_speaker(voice_frames):
    """cluster.link_absorb_small, through link_clusters_clr: each voice's first two chunks
    form a speaker, every other chunk is a cluster too small to be one; with a threshold
    no pair reaches, the small ones join the speaker of their own voice."""
    ubm, X, labels, truth = voice_frames
    first_two = {v: np.flatnonzero(truth == v)[:2] for v in range(3)}
    chunk_cluster = np.arange(len(truth))
    for v, (a, b) in first_two.items():
        chunk_cluster[b] = a
    start = relabel(chunk_cluster)[labels]
    cfg = ClusterConfig(link_threshold=1e9)
    plain = link_clusters_clr(X, start, ubm=ubm, config=cfg, max_clusters=30, frame_step=STEP)
    assert plain.n_clusters == len(truth) - 3
    res = link_clusters_clr(X, start, ubm=ubm, config=cfg, max_clusters=30,
                            min_frames=2 * CHUNK, frame_step=STEP)
    assert res.n_clusters == 3
    assert chunk_partition(res, voice_frames) == partition(truth)


@pytest.mark.slow
def test_clr_exact_count_and_bounds(voice_frames):
    truth = voice_frames[3]
    assert clr_link(voice_frames, n_clusters=2, max_clusters=30).n_clusters == 2
    # a threshold no pair reaches: only the upper bound forces merges, and it merges
    # the most alike first, so three clusters are the three voices
    res = clr_link(voice_frames, link_threshold=1e9, max_clusters=3)
    assert res.n_clusters == 3
    assert chunk_partition(res, voice_frames) == partition(truth)
    assert clr_link(voice_frames, link_threshold=-1e9, min_clusters=2,
                    max_clusters=30).n_clusters == 2


def test_clr_frame_cap_keeps_the_answer(voice_frames):
    # Scoring at most 50 evenly spaced frames per cluster still separates the voices.
    res = clr_link(voice_frames, link_max_frames=50, max_clusters=30)
    assert chunk_partition(res, voice_frames) == partition(voice_frames[3])


def test_clr_no_frames(voice_frames):
    ubm = voice_frames[0]
    res = link_clusters_clr(np.zeros((0, D)), np.zeros(0, dtype=np.int64), ubm=ubm,
                            config=ClusterConfig(), frame_step=STEP)
    assert len(res.labels) == 0


@pytest.fixture(scope="module")
def voice_frames_with_cohort(voice_frames):
    """The same voices, plus a cohort: MAP models of other voices drawn the same way."""
    ubm, X, labels, truth = voice_frames
    rng = np.random.RandomState(5)
    cohort = []
    for _ in range(12):
        other = ubm.gmm.sample(400)[0] + rng.randn(1, D) * 1.5
        st = ubm.gmm.sufficient_statistics(other)
        cohort.append((st.first + 16.0 * ubm.gmm.means_) / (st.n[:, None] + 16.0))
    return BackgroundModel(ubm.gmm, ubm.front_end, np.array(cohort)), X, labels, truth


@pytest.mark.slow
def test_cohort_normalised_linking_recovers_the_voices(voice_frames_with_cohort):
    ubm, X, labels, truth = voice_frames_with_cohort
    cfg = ClusterConfig(link_norm="cohort", link_threshold=-np.inf)
    every = link_clusters_clr(X, labels, ubm=ubm, config=cfg, max_clusters=30, frame_step=STEP)
    assert every.n_clusters == 1
    # merging across voices (3 -> 2 -> 1 clusters) scores below every same-voice merge
    same = min(v for k, v in every.similarity.items() if k >= 3)
    assert max(every.similarity[2], every.similarity[1]) < same
    # so a threshold between them recovers the three voices
    cfg = ClusterConfig(link_norm="cohort", link_threshold=(every.similarity[2] + same) / 2)
    res = link_clusters_clr(X, labels, ubm=ubm, config=cfg, max_clusters=30, frame_step=STEP)
    assert chunk_partition(res, voice_frames_with_cohort) == partition(truth)
    # the normalisation changes the scores; without a cohort in the model it does nothing
    ref = link_clusters_clr(X, labels, ubm=ubm, config=ClusterConfig(
        link_norm="none", link_threshold=-np.inf), max_clusters=30, frame_step=STEP)
    assert ref.similarity != every.similarity
    plain = link_clusters_clr(X, labels, ubm=BackgroundModel(ubm.gmm, ubm.front_end),
                              config=cfg, max_clusters=30, frame_step=STEP)
    ref = link_clusters_clr(X, labels, ubm=ubm, config=ClusterConfig(
        link_norm="none", link_threshold=cfg.link_threshold), max_clusters=30, frame_step=STEP)
    assert plain.similarity == ref.similarity


# --- the stage's boundary ----------------------------------------------------------------


def test_only_the_clustering_stage_uses_the_speaker_scoring_internals():
    """Outside cluster.py, diarize.speakers is only a UBM file and its front end."""
    import ast
    from pathlib import Path

    public = {"load_ubm", "save_ubm", "BackgroundModel", "UBM_PATH", "FRONT_END_FIELDS",
              # kept voices (named speakers, linking across recordings): statistics only
              "VoiceStats", "voice_statistics", "unit_statistics", "voice_scores", "aligned_llr",
              "model_offsets", "offset_llr", "linear_scores", "map_offsets",
              "ubm_fingerprint",
              "cohort_norm", "cohort_moments", "MIN_COHORT_STD", "matched_voice_scores",
              # the nuisance subspace: scoring projected off it, and its training
              "with_nuisance", "load_nuisance", "save_nuisance", "supervector_offsets"}
    repo = Path(__file__).resolve().parents[1]
    offenders = []
    for path in sorted([*(repo / "diarize").rglob("*.py"), *(repo / "scripts").glob("*.py")]):
        if path.name in ("cluster.py", "speakers.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("speakers"):
                offenders += [f"{path.name}: {a.name}" for a in node.names if a.name not in public]
            elif isinstance(node, (ast.Import, ast.ImportFrom)) and any(
                    a.name == "speakers" or a.name.endswith(".speakers") for a in node.names):
                offenders.append(f"{path.name}: the whole module")
    assert offenders == []


# --- grid shifts, order-free linear merging, consensus of grids --------------------------

def test_chunk_grid_phase_moves_the_cuts_inside_long_runs():
    mask = np.ones(1000, bool)
    mask[300:330] = False  # two runs: 300 and 670 speech frames
    base = chunk_speech(mask, chunk_frames=100, max_chunks=2000)
    np.testing.assert_array_equal(chunk_speech(mask, chunk_frames=100, max_chunks=2000,
                                               phase=0.0), base)
    for phase in (0.25, 0.5, 0.75):
        ch = chunk_speech(mask, chunk_frames=100, max_chunks=2000, phase=phase)
        assert ch[0, 0] == 0 and ch[-1, 1] == 970 and np.all(ch[1:, 0] == ch[:-1, 1])
        assert np.all(ch[:, 1] - ch[:, 0] >= 50)
        assert 300 in ch[:, 0]  # never across the pause
        # the grid inside each run is shifted by the phase (mod a chunk)
        inside = ch[:, 0][(ch[:, 0] > 0) & (ch[:, 0] < 300)]
        assert set(inside % 100) == {round((1 - phase) * 100) % 100}


def test_consensus_of_identical_runs_is_the_run():
    from diarize.cluster import consensus_labels

    run = np.array([3, 3, 0, 0, 2, 2, 3, 1])
    got = consensus_labels(np.stack([run, run, run, run]), threshold=0.5, max_clusters=40)
    np.testing.assert_array_equal(got, [0, 0, 1, 1, 2, 2, 0, 3])


def test_consensus_follows_the_majority_of_runs():
    from diarize.cluster import consensus_labels

    # frame 3 goes with the first voice in two runs of three, frame 2 in all three
    runs = np.array([[0, 0, 0, 0, 1, 1],
                     [0, 0, 0, 0, 1, 1],
                     [0, 0, 0, 1, 1, 1]])
    np.testing.assert_array_equal(consensus_labels(runs, threshold=0.5, max_clusters=40),
                                  [0, 0, 0, 0, 1, 1])
    # more clusters than allowed are merged anyway; the bound on groups keeps the answer
    assert consensus_labels(runs, threshold=0.5, max_clusters=1).max() == 0
    exact = consensus_labels(np.vstack([runs, [[0, 1, 2, 2, 3, 3]]]), threshold=np.inf,
                             min_clusters=2, max_clusters=2)
    np.testing.assert_array_equal(exact, [0, 0, 0, 0, 1, 1])
    np.testing.assert_array_equal(
        consensus_labels(runs, threshold=0.5, max_clusters=40, max_groups=2),
        [0, 0, 0, 0, 1, 1])


def test_best_first_linear_merge_keeps_the_voices_apart():
    X, mask, truth = bic_voices()
    for order in ("sequential", "best"):
        res = cluster_speakers(X, speech=mask, config=bic_only(cluster__linear_order=order),
                               keep_stages=True)
        linear = res.stages["linear"]
        assert all(len(set(truth[linear == c])) == 1 for c in np.unique(linear))
        assert res.n_clusters == 3 and purity(res.labels, truth)


def frame_purity(labels, truth):
    return sum(np.bincount(truth[labels == c]).max() for c in np.unique(labels)) / len(labels)


@pytest.fixture(scope="module")
def misaligned():
    """Voices whose turns (370 frames) do not fall on the 100-frame chunk grid: chunks
    straddle speaker changes."""
    X, truth = ubm_voices(turn=370)
    return X, truth


def stages_of(X, **overrides):
    return cluster_speakers(X, speech=np.ones(len(X), bool),
                            config=over_clustering(**overrides), ubm_features=X,
                            keep_stages=True).stages


def test_best_first_linear_merge_does_not_chain_through_straddling_chunks(misaligned):
    X, truth = misaligned
    seq = stages_of(X, cluster__linear_order="sequential")["linear"]
    best = stages_of(X, cluster__linear_order="best")["linear"]
    # left to right, a chunk holding the end of one turn and the start of the next joins
    # the first turn's cluster, and the next turn follows it
    assert frame_purity(seq, truth) < 0.8 < 0.9 < frame_purity(best, truth)


def test_grid_consensus_is_purer_than_one_grid(misaligned):
    X, truth = misaligned
    for shift in (0, 11):
        one = stages_of(X[shift:], cluster__linear_order="best", cluster__grid_offsets=1)["bic"]
        four = stages_of(X[shift:], cluster__linear_order="best",
                         cluster__grid_offsets=4)["bic"]
        assert four.max() + 1 <= ClusterConfig().max_initial_clusters
        assert frame_purity(four, truth[shift:]) > frame_purity(one, truth[shift:])


# --- BIC pair costs: pieces, threads and the degenerate route ---------------------------

def _bic_state(pool=None):
    from diarize.cluster import _BicState, _stats

    rng = np.random.default_rng(3)
    X = rng.standard_normal((700 * 30, 5)).astype(np.float32)
    X[::30] *= 4.0  # unequal spreads: costs that differ
    chunks = np.stack([np.arange(700) * 30, np.arange(1, 701) * 30], axis=1)
    return _BicState(_stats(X, chunks), diag=False, pool=pool)


def _one_batch_costs(state, i, js):
    """The pair costs as a single call of _logdet over the whole batch gives them."""
    from diarize.cluster import _logdet

    n, s, ss, ld = state.n, state.s, state.ss, state.ld
    nn = n[i] + n[js]
    ldm = _logdet(nn, s[i] + s[js], ss[i] + ss[js], diag=False, reg=state.REG)
    return 0.5 * (nn * ldm - n[i] * ld[i] - n[js] * ld[js]) - state.n_par * np.log(nn)


@pytest.mark.parametrize("degenerate", [False, True])
def test_bic_pair_costs_in_pieces_and_threads_are_one_batch_costs(degenerate):
    from concurrent.futures import ThreadPoolExecutor

    js = np.arange(1, 700)
    with ThreadPoolExecutor(2) as pool:
        for state in (_bic_state(), _bic_state(pool)):
            if degenerate:  # a pair whose pooled scatter is 0 with a non-zero mean
                state.n[1], state.s[1], state.ss[1] = state.n[0], state.s[0], -state.ss[0]
                state.ssp = state.tril.pack(state.ss)  # the packed copy kept beside
            want = _one_batch_costs(state, 0, js)
            assert np.isinf(want[0]) == degenerate and np.isfinite(want[1:]).all()
            assert np.array_equal(state._pair_costs(0, js), want, equal_nan=True)
            assert np.array_equal(state.pair_cost(0, js), want, equal_nan=True)


def test_bic_merge_order_is_the_full_matrix_argmin():
    # The incrementally kept row minima pick the pair np.argmin of the matrix picks.
    state = _bic_state()
    while state.n_active > 2:
        i, j, cost = state.best_pair()
        flat = divmod(int(np.argmin(state.cost)), len(state.cost))
        assert (i, j) == flat and cost == state.cost[flat]
        state.merge(i, j)


def test_bic_clustering_does_not_depend_on_the_threads(monkeypatch):
    rng = np.random.default_rng(5)
    # 600 chunks of 8 voices in random order: few neighbours merge in the linear pass,
    # so the first merges pair a cluster with hundreds of others (cut into pieces).
    voices = rng.normal(0.0, 2.0, (8, 4))
    X = np.concatenate([rng.normal(voices[v], 1.0, (40, 4)) for v in rng.integers(0, 8, 600)])
    chunks = chunk_speech(np.ones(len(X), dtype=bool), chunk_frames=40, max_chunks=2000)
    runs = []
    for threads in ("1", "2", "3"):
        monkeypatch.setenv("DIARIZE_THREADS", threads)
        bic = agglomerative_bic(X.astype(np.float32), chunks, config=ClusterConfig(),
                                max_clusters=40, frame_step=STEP)
        runs.append((bic.chunk_labels.tolist(), bic.bic))
    assert runs[0] == runs[1] == runs[2]
    assert len(set(runs[0][0])) == 8  # the voices


# --- a stricter linear pass: linear_penalty, linear_max_seconds ----------------------

def _two_voice_turn():
    """12 chunks of one voice with a 2-chunk turn of a close second voice (chunks 6, 7)
    in the middle: plain BIC's linear pass joins the turn to its neighbours."""
    from diarize.cluster import _stats

    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, (1200, 4))
    b = rng.normal(0.4, 1.0, (200, 4))
    X = np.concatenate([a[:600], b, a[600:]]).astype(np.float32)
    chunks = np.stack([np.arange(14) * 100, np.arange(1, 15) * 100], axis=1)
    return _stats(X, chunks)


def test_stricter_linear_penalty_keeps_a_short_turn_apart():
    from diarize.cluster import _BicState

    plain = _BicState(_two_voice_turn(), diag=False)
    plain.linear_pass(order="best")
    assert len(set(plain.labels().tolist())) == 1  # the turn is swallowed
    strict = _BicState(_two_voice_turn(), diag=False)
    strict.linear_pass(order="best", penalty=0.5)
    labels = strict.labels()
    assert labels[6] == labels[7]
    assert labels[6] not in set(labels[:6]) | set(labels[8:])


def test_linear_max_frames_bounds_the_runs():
    from diarize.cluster import _BicState

    state = _BicState(_two_voice_turn(), diag=False)
    state.linear_pass(order="best", max_frames=500)
    sizes = np.bincount(state.labels())
    assert sizes.max() == 5 and len(sizes) > 1  # without the bound: one run of 14


def test_linear_options_off_are_the_plain_pass():
    X = np.concatenate([np.random.default_rng(1).normal(v, 1.0, (300, 4)) for v in
                        (0, 2, 0, 2, 0)]).astype(np.float32)
    chunks = chunk_speech(np.ones(len(X), dtype=bool), chunk_frames=50, max_chunks=2000)
    base = agglomerative_bic(X, chunks, config=ClusterConfig(), keep_stages=True, frame_step=STEP)
    off = agglomerative_bic(X, chunks, config=ClusterConfig(linear_penalty=1.0,
                                                            linear_max_seconds=0.0),
                            keep_stages=True, frame_step=STEP)
    assert np.array_equal(base.linear_labels, off.linear_labels)
    strict = agglomerative_bic(X, chunks, config=ClusterConfig(linear_max_seconds=1.0),
                               keep_stages=True, frame_step=STEP)
    assert np.bincount(strict.linear_labels).max() <= 2  # 1 s = 100 frames: 2 chunks


# --- BIC's consent to linking merges (cluster.link_bic_veto) -------------------------------

def test_bic_veto_keeps_apart_voices_the_ratio_would_merge(voice_frames):
    # The lowest threshold allowed: the ratio alone merges the three voices into one.
    ubm, X, labels, truth = voice_frames
    merged = link_clusters_clr(X, labels, ubm=ubm, max_clusters=30,
                               config=ClusterConfig(link_threshold=-1000.0), frame_step=STEP)
    assert merged.n_clusters == 1
    # BIC on the recording's own features still tells the voices apart, and joins each
    # voice's chunks.
    cfg = ClusterConfig(link_threshold=-1000.0, link_bic_veto=0.38)
    res = link_clusters_clr(X, labels, ubm=ubm, config=cfg, max_clusters=30,
                            bic_features=X, frame_step=STEP)
    assert chunk_partition(res, voice_frames) == partition(truth)
    # the merge to two voices was declined, and is reported so
    assert res.similarity[2] <= cfg.link_threshold < res.similarity[3]
    # A count bound still forces merges, vetoed or not.
    forced = link_clusters_clr(X, labels, ubm=ubm, config=cfg, max_clusters=30,
                               n_clusters=1, bic_features=X, frame_step=STEP)
    assert forced.n_clusters == 1


def test_bic_veto_only_ever_declines_merges(voice_frames):
    # Features in which the voices are one Gaussian: BIC consents to every merge, and the
    # result is the ratio's alone.
    ubm, X, labels, truth = voice_frames
    rng = np.random.RandomState(3)
    alike = rng.randn(*X.shape)
    plain = clr_link(voice_frames, max_clusters=30)
    cfg = ClusterConfig(link_threshold=0.0, link_bic_veto=0.38)
    res = link_clusters_clr(X, labels, ubm=ubm, config=cfg, max_clusters=30,
                            bic_features=alike, frame_step=STEP)
    assert np.array_equal(res.labels, plain.labels)
    assert res.similarity == plain.similarity


def test_bic_veto_statistics_in_blocks_are_the_same(voice_frames, monkeypatch):
    import diarize.cluster as cluster

    ubm, X, labels, truth = voice_frames
    cfg = ClusterConfig(link_threshold=-1000.0, link_bic_veto=0.38)
    whole = link_clusters_clr(X, labels, ubm=ubm, config=cfg, max_clusters=30,
                              bic_features=X, frame_step=STEP)
    monkeypatch.setattr(cluster, "VETO_BLOCK_FRAMES", 77)  # blocks cut through clusters
    blocks = link_clusters_clr(X, labels, ubm=ubm, config=cfg, max_clusters=30,
                               bic_features=X, frame_step=STEP)
    assert np.array_equal(blocks.labels, whole.labels)
    assert blocks.similarity.keys() == whole.similarity.keys()
    np.testing.assert_allclose(list(blocks.similarity.values()),
                               list(whole.similarity.values()), rtol=1e-9, atol=1e-9)


def test_cluster_speakers_asks_bic_on_the_clustering_features():
    # Voices apart in the clustering features, alike in the UBM's (one voice's frames
    # for all): linking alone merges them, BIC's veto keeps them apart.
    X, truth = ubm_voices(offset=3.0)
    alike, _ = ubm_voices(offset=0.0)
    speech = np.ones(len(X), bool)
    cfg = over_clustering(cluster__link_threshold=-1000.0, cluster__link_bic_veto=0.0)
    merged = cluster_speakers(X, speech=speech, config=cfg, ubm_features=alike)
    assert merged.n_clusters == 1
    vetoed = cluster_speakers(X, speech=speech, ubm_features=alike,
                              config=cfg.replace(cluster__link_bic_veto=0.38))
    assert vetoed.n_clusters == 3 and purity(vetoed.labels, truth)


# --- linking scores read against each voice's own (cluster.link_self_weight) -------------

def test_own_ratio_keeps_the_voices_apart_under_a_channel_shift(voice_frames_with_cohort):
    # A channel (the same offset on every frame) makes every pair of clusters more alike
    # to the UBM than its cohort: the plain ratio then ranks some merge of two voices above
    # a merge inside one voice, and no threshold recovers the voices.
    ubm, X, labels, truth = voice_frames_with_cohort
    shifted = X + 2.0

    def every_merge(weight):
        cfg = ClusterConfig(link_norm="cohort", link_threshold=-np.inf, link_bic_veto=0.0,
                            link_self_weight=weight, link_self_prior_frames=0.0)
        res = link_clusters_clr(shifted, labels, ubm=ubm, config=cfg, max_clusters=30,
                                frame_step=STEP)
        assert res.n_clusters == 1
        same = min(v for k, v in res.similarity.items() if k >= 3)
        return same, max(res.similarity[2], res.similarity[1])

    same, across = every_merge(0.0)
    assert across >= same
    # Read against how each cluster's halves score to each other, the voices separate.
    same, across = every_merge(0.5)
    assert across < same
    cfg = ClusterConfig(link_norm="cohort", link_threshold=(same + across) / 2,
                        link_bic_veto=0.0, link_self_weight=0.5, link_self_prior_frames=0.0)
    res = link_clusters_clr(shifted, labels, ubm=ubm, config=cfg, max_clusters=30, frame_step=STEP)
    assert chunk_partition(res, voice_frames_with_cohort) == partition(truth)


def test_own_ratio_is_drawn_to_the_prior_in_short_clusters(voice_frames_with_cohort):
    ubm, X, labels, _ = voice_frames_with_cohort

    def link(**kw):
        cfg = ClusterConfig(link_norm="cohort", link_threshold=-np.inf, link_bic_veto=0.0,
                            **kw)
        return link_clusters_clr(X, labels, ubm=ubm, max_clusters=30, config=cfg,
                                 frame_step=STEP).similarity

    plain = link(link_self_weight=0.0)
    own = link(link_self_weight=0.5, link_self_prior_frames=0.0, link_self_prior=0.0)
    # A cluster's halves score positive against each other (one voice), so read against
    # them every merge scores lower.
    assert all(own[k] < plain[k] for k in plain)
    # With a prior that outweighs the frames, the own ratios are the prior's, and the
    # scores are the plain ratio's.
    prior = link(link_self_weight=0.5, link_self_prior_frames=1e6, link_self_prior=3.0)
    np.testing.assert_allclose([prior[k] for k in plain], [plain[k] for k in plain],
                               atol=0.01)
    assert prior != plain


def test_own_ratio_is_drawn_to_the_recordings_own(voice_frames_with_cohort):
    ubm, X, labels, _ = voice_frames_with_cohort

    def link(**kw):
        cfg = ClusterConfig(link_norm="cohort", link_threshold=-np.inf, link_bic_veto=0.0,
                            link_self_weight=0.5, link_self_prior=40.0, **kw)
        return link_clusters_clr(X, labels, ubm=ubm, max_clusters=30, config=cfg,
                                 frame_step=STEP).similarity

    fixed = link(link_self_prior_frames=1e6)
    # The clusters' own ratios here are far below a prior of 40: drawn towards the
    # recording's own instead, every merge scores higher than against the prior alone
    # (the pair score subtracts the own ratio less its prior).
    recording = link(link_self_prior_frames=1e6, link_self_recording_frames=1.0)
    assert all(recording[k] > fixed[k] + 1.0 for k in fixed)
    # The recording's own ratio is itself drawn towards the prior: a weight that
    # outweighs every frame gives back the prior's scores.
    heavy = link(link_self_prior_frames=1e6, link_self_recording_frames=1e9)
    np.testing.assert_allclose([heavy[k] for k in fixed], [fixed[k] for k in fixed],
                               atol=1e-3)


def test_own_ratio_of_clusters_of_one_or_two_frames(voice_frames_with_cohort):
    # A cluster too short to halve takes the prior; the scores stay finite.
    ubm, X, labels, _ = voice_frames_with_cohort
    tiny = labels.copy()
    tiny[0] = labels.max() + 1          # one frame
    tiny[1:3] = labels.max() + 2        # two frames
    cfg = ClusterConfig(link_norm="cohort", link_threshold=-np.inf, link_bic_veto=0.0,
                        link_self_weight=0.5)
    res = link_clusters_clr(X, tiny, ubm=ubm, config=cfg, max_clusters=40, frame_step=STEP)
    assert res.n_clusters == 1
    assert all(np.isfinite(v) for v in res.similarity.values())


# --- cluster.link_level_db: linking models and scores only some frames ------------------

def test_scored_frames_link_as_if_they_were_the_only_frames(voice_frames_with_cohort):
    # Without the BIC veto (the one part that reads every frame) and the own ratios
    # (weighed by every frame), linking with a scored mask is linking the scored frames.
    ubm, X, labels, _ = voice_frames_with_cohort
    cfg = ClusterConfig(link_norm="cohort", link_threshold=-np.inf, link_bic_veto=0.0,
                        link_self_weight=0.0)
    scored = np.random.RandomState(3).rand(len(X)) < 0.6
    masked = link_clusters_clr(X, labels, ubm=ubm, config=cfg, max_clusters=30, scored=scored,
                               frame_step=STEP)
    subset = link_clusters_clr(X[scored], labels[scored], ubm=ubm, config=cfg, max_clusters=30,
                               frame_step=STEP)
    assert masked.similarity.keys() == subset.similarity.keys()
    np.testing.assert_allclose([masked.similarity[k] for k in subset.similarity],
                               [subset.similarity[k] for k in subset.similarity], atol=1e-9)
    # every frame is labelled, each initial cluster as a whole
    assert len(masked.labels) == len(X)
    assert all(len(set(masked.labels[labels == k])) == 1 for k in np.unique(labels))


def test_frames_shared_by_every_voice_are_left_out_of_linking(voice_frames_with_cohort):
    # Half of every cluster's frames are one common sound (a room's tail, the noise in
    # the pauses): scored, it makes every pair alike and linking merges voices;
    # modelled on the other frames alone, the voices come back.
    ubm, X, labels, truth = voice_frames_with_cohort
    rng = np.random.RandomState(7)
    common = rng.randn(1, D) * 2.0
    noisy = X.copy()
    shared = np.zeros(len(X), dtype=bool)
    shared[::2] = True
    noisy[shared] = common + 0.5 * rng.randn(int(shared.sum()), D)
    cfg = ClusterConfig(link_norm="none", link_threshold=0.0, link_bic_veto=0.0,
                        link_self_weight=0.0)
    every = link_clusters_clr(noisy, labels, ubm=ubm, config=cfg, max_clusters=30, frame_step=STEP)
    voice = link_clusters_clr(noisy, labels, ubm=ubm, config=cfg, max_clusters=30,
                              scored=~shared, frame_step=STEP)
    assert chunk_partition(voice, voice_frames_with_cohort) == partition(truth)
    assert every.n_clusters == 1


def test_a_cluster_with_too_few_scored_frames_is_modelled_on_all_of_them(
        voice_frames_with_cohort):
    ubm, X, labels, _ = voice_frames_with_cohort
    cfg = ClusterConfig(link_norm="cohort", link_threshold=-np.inf, link_bic_veto=0.0,
                        link_self_weight=0.0, link_min_scored_frames=50)
    scored = np.ones(len(X), dtype=bool)
    scored[labels == 0] = False           # cluster 0 has no scored frame at all
    scored[np.flatnonzero(labels == 1)[:CHUNK - 10]] = False  # cluster 1 keeps 10
    masked = link_clusters_clr(X, labels, ubm=ubm, config=cfg, max_clusters=30, scored=scored,
                               frame_step=STEP)
    fallback = scored | (labels == 0) | (labels == 1)
    subset = link_clusters_clr(X[fallback], labels[fallback], ubm=ubm, config=cfg,
                               max_clusters=30, frame_step=STEP)
    np.testing.assert_allclose([masked.similarity[k] for k in subset.similarity],
                               [subset.similarity[k] for k in subset.similarity], atol=1e-9)


def test_scored_flags_must_be_one_per_frame(voice_frames):
    ubm, X, labels, _ = voice_frames
    with pytest.raises(ParameterError, match="scored flags"):
        link_clusters_clr(X, labels, ubm=ubm, config=ClusterConfig(),
                          scored=np.ones(len(X) - 1, dtype=bool), frame_step=STEP)
