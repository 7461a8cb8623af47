"""UBM speaker models (diarize.speakers) and UBM speaker linking (cluster.link_clusters).

Expected values come from independent computations in the tests (predict_proba sums,
the MAP and supervector formulas written out, cosines by hand) or from the ground truth
of synthetic data, never from the implementation's own output.
"""

import warnings

import numpy as np
import pytest

from diarize import speakers
from diarize.cluster import link_clusters, link_clusters_clr
from diarize.config import ClusterConfig, FeatureConfig
from diarize.errors import ConfigError
from diarize.gmm import GaussianMixture
from diarize.speakers import (FRONT_END_FIELDS, UBM_PATH, BackgroundModel, cosine_similarity,
                              load_ubm, save_ubm, segment_statistics, supervectors)

FRONT_END = {"win_length": 0.025, "n_fft": 512, "n_mels": 40, "n_mfcc": 20, "fmin": 20.0,
             "fmax": 7600.0, "pre_emphasis": 0.97, "deltas": False, "delta_width": 9}


def small_gmm(cov_type="diag", k=4, d=3, seed=0):
    rng = np.random.RandomState(seed)
    X = np.vstack([rng.randn(60, d) + 4 * rng.randn(d) for _ in range(k)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(k, covariance_type=cov_type, random_state=seed).fit(X), X


# --- save_ubm / load_ubm --------------------------------------------------------------


@pytest.mark.parametrize("with_nuisance", [False, True])
def test_save_load_round_trip(tmp_path, with_nuisance):
    gmm, X = small_gmm()
    front = dict(FRONT_END, fmin=200.0, fmax=3700.0, deltas=True, delta_width=5)
    nuisance = None
    if with_nuisance:
        q, _ = np.linalg.qr(np.random.RandomState(1).randn(gmm.means_.size, 2))
        nuisance = q.T
    path = tmp_path / f"sub dir/ubm_{with_nuisance}.npz"  # parent is created
    save_ubm(path, gmm, front_end=front, nuisance=nuisance)
    ubm = load_ubm(str(path))
    assert isinstance(ubm, BackgroundModel)
    assert ubm.gmm.covariance_type == "diag"
    for k in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(ubm.gmm, k), getattr(gmm, k))
    np.testing.assert_allclose(ubm.gmm.score_samples(X), gmm.score_samples(X), rtol=1e-12)
    assert dict(ubm.front_end) == front
    assert type(ubm.front_end["deltas"]) is bool and type(ubm.front_end["delta_width"]) is int
    if with_nuisance:
        assert ubm.nuisance.dtype == np.float64
        np.testing.assert_allclose(ubm.nuisance, nuisance, atol=1e-6)  # stored as float32
    else:
        assert ubm.nuisance is None


def test_shipped_ubm_loads():
    ubm = load_ubm()
    assert ubm.gmm.covariance_type == "diag"
    c, d = ubm.gmm.means_.shape
    assert c >= 2 and d >= 1
    assert set(FRONT_END_FIELDS) | {"deltas", "delta_width"} <= set(ubm.front_end)
    assert load_ubm(str(UBM_PATH)).gmm.means_.shape == (c, d)


def test_save_refuses_non_diagonal(tmp_path):
    gmm, _ = small_gmm("full")
    with pytest.raises(ConfigError):
        save_ubm(tmp_path / "full.npz", gmm, front_end=FRONT_END)


def test_garbage_file_is_config_error(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"this is not a numpy file at all\n" * 20)
    with pytest.raises(ConfigError):
        load_ubm(str(path))


def test_missing_file_is_config_error(tmp_path):
    with pytest.raises(ConfigError):
        load_ubm(str(tmp_path / "nope.npz"))


def test_npz_that_is_not_a_ubm_is_config_error(tmp_path):
    gmm, _ = small_gmm()
    p1 = tmp_path / "other.npz"
    np.savez(p1, a=np.zeros(3), b=np.ones(2))
    with pytest.raises(ConfigError):
        load_ubm(str(p1))
    # a bare GaussianMixture (no ubm/ prefix, no front end)
    p2 = tmp_path / "bare.npz"
    np.savez(p2, **gmm.to_dict())
    with pytest.raises(ConfigError):
        load_ubm(str(p2))
    # UBM arrays, but part of the front end missing
    p3 = tmp_path / "nofront.npz"
    np.savez(p3, **{f"ubm/{k}": np.asarray(v) for k, v in gmm.to_dict().items()},
             **{f"front_end/{k}": np.asarray(v) for k, v in FRONT_END.items() if k != "fmax"})
    with pytest.raises(ConfigError):
        load_ubm(str(p3))


def test_full_covariance_file_is_config_error(tmp_path):
    gmm, _ = small_gmm("full")
    path = tmp_path / "fullcov.npz"
    np.savez(path, **{f"ubm/{k}": np.asarray(v) for k, v in gmm.to_dict().items()},
             **{f"front_end/{k}": np.asarray(v) for k, v in FRONT_END.items()})
    with pytest.raises(ConfigError):
        load_ubm(str(path))


def test_nuisance_of_wrong_shape_is_config_error(tmp_path):
    gmm, _ = small_gmm()
    path = tmp_path / "badnuis.npz"
    save_ubm(path, gmm, front_end=FRONT_END, nuisance=np.zeros((2, gmm.means_.size + 1)))
    with pytest.raises(ConfigError):
        load_ubm(str(path))


def test_truncated_ubm_file_is_config_error(tmp_path):
    gmm, _ = small_gmm()
    good = tmp_path / "good.npz"
    save_ubm(good, gmm, front_end=FRONT_END)
    raw = good.read_bytes()
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(raw[: len(raw) // 2])  # an interrupted download or copy
    try:
        load_ubm(str(bad))
    except ConfigError:
        return
    except Exception as exc:  # anything else is the bug
        raise AssertionError(f"{type(exc).__name__} instead of ConfigError") from exc
    raise AssertionError("no error for a truncated file")


# --- BackgroundModel.feature_config -----------------------------------------------------


def test_feature_config_of_shipped_ubm():
    ubm = load_ubm()
    assert ubm.feature_config(FeatureConfig()) is None
    # cmvn, deltas and the frame step are not front-end fields
    assert ubm.feature_config(FeatureConfig(cmvn=False, hop_length=0.02)) is None
    tel = FeatureConfig(fmin=200, fmax=3700, hop_length=0.02)
    need = ubm.feature_config(tel)
    assert need is not None
    assert need.hop_length == 0.02  # frames line up with the pipeline's
    for k in FRONT_END_FIELDS:
        assert getattr(need, k) == ubm.front_end[k]
    assert ubm.feature_config(need) is None


def test_feature_config_of_telephone_ubm():
    gmm, _ = small_gmm()
    front = dict(FRONT_END, fmin=200.0, fmax=3700.0)
    ubm = BackgroundModel(gmm, front)
    assert ubm.feature_config(FeatureConfig(fmin=200, fmax=3700)) is None
    need = ubm.feature_config(FeatureConfig())
    assert (need.fmin, need.fmax) == (200.0, 3700.0)


# --- segment_statistics -------------------------------------------------------------------


def per_segment_stats(gmm, X, segments):
    n, f = [], []
    for a, b in segments:
        R = gmm.predict_proba(X[a:b])
        n.append(R.sum(0))
        f.append(R.T @ X[a:b])
    return np.array(n), np.array(f)


@pytest.mark.parametrize("block_frames", [None, 25, 1])
def test_segment_statistics_match_per_segment_statistics(monkeypatch, block_frames):
    gmm, X = small_gmm(k=4, d=3)
    if block_frames is not None:  # runs of segments longer than a block, single long segments
        monkeypatch.setattr(speakers, "BLOCK_FRAMES", block_frames)
    rng = np.random.RandomState(3)
    lengths = rng.randint(1, 40, 12)
    gaps = rng.randint(0, 3, 12)  # some segments touch, some leave gaps
    starts = np.cumsum(gaps + np.concatenate([[0], lengths[:-1]]))
    segments = np.stack([starts, starts + lengths], axis=1)
    assert segments[-1, 1] <= len(X)
    n, first = segment_statistics(gmm, X, segments)
    assert n.shape == (12, 4) and first.shape == (12, 4, 3)
    assert n.dtype == np.float64 and first.dtype == np.float64
    en, ef = per_segment_stats(gmm, X, segments)
    np.testing.assert_allclose(n, en, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(first, ef, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(n.sum(1), lengths, rtol=1e-12)
    for k, (a, b) in enumerate(segments):  # the same as GaussianMixture.sufficient_statistics
        s = gmm.sufficient_statistics(X[a:b])
        np.testing.assert_allclose(n[k], s.n, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(first[k], s.first, rtol=1e-10, atol=1e-10)


def test_segment_statistics_bound_the_posteriors_memory(monkeypatch):
    gmm, X = small_gmm(k=4, d=3)
    monkeypatch.setattr(speakers, "BLOCK_FRAMES", 30)
    sizes = []
    predict_proba = gmm.predict_proba

    def recording(block):
        sizes.append(len(block))
        return predict_proba(block)

    monkeypatch.setattr(gmm, "predict_proba", recording)
    lengths = [10, 10, 10, 5, 45, 3, 20, 20, 1]  # one segment longer than a block
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    segments = np.stack([starts, starts + lengths], axis=1)
    n, first = segment_statistics(gmm, X, segments)
    assert max(sizes) <= 45  # one block at most, or one segment
    assert sum(sizes) == sum(lengths)  # every frame scored once
    assert sorted(sizes)[-2] <= 30
    monkeypatch.undo()
    en, ef = per_segment_stats(gmm, X, segments)
    np.testing.assert_allclose(n, en, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(first, ef, rtol=1e-10, atol=1e-10)


def test_segment_statistics_float32_features():
    gmm, X = small_gmm()
    X32 = X.astype(np.float32)
    segments = np.array([[0, 50], [50, 51], [60, 200]])
    n, first = segment_statistics(gmm, X32, segments)
    en, ef = per_segment_stats(gmm, X32.astype(np.float64), segments)
    np.testing.assert_allclose(n, en, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(first, ef, rtol=1e-5, atol=1e-4)


def test_segment_statistics_no_segments():
    gmm, X = small_gmm()
    n, first = segment_statistics(gmm, X, np.zeros((0, 2), dtype=np.int64))
    assert n.shape == (0, 4) and first.shape == (0, 4, 3)


# --- supervectors and cosine_similarity ------------------------------------------------


def expected_supervectors(gmm, n, first, r):
    out = []
    for nk, fk in zip(n, first):
        mu = (fk + r * gmm.means_) / (nk + r)[:, None]
        off = np.sqrt(gmm.weights_)[:, None] * (mu - gmm.means_) / np.sqrt(gmm.covariances_)
        out.append(off.ravel())
    return np.array(out)


def test_supervectors_formula_and_shape():
    gmm, X = small_gmm(k=4, d=3)
    segments = np.array([[0, 30], [30, 100], [100, 240]])
    n, first = segment_statistics(gmm, X, segments)
    sv = supervectors(gmm, n, first, relevance_factor=16.0)
    assert sv.shape == (3, 4 * 3)
    np.testing.assert_allclose(sv, expected_supervectors(gmm, n, first, 16.0), rtol=1e-10,
                               atol=1e-12)
    # Through the public MAP adaptation of the GMM as well.
    for k, (a, b) in enumerate(segments):
        adapted = gmm.map_adapt(X[a:b], relevance_factor=16.0, params="m")
        off = (np.sqrt(gmm.weights_)[:, None] * (adapted.means_ - gmm.means_)
               / np.sqrt(gmm.covariances_))
        np.testing.assert_allclose(sv[k], off.ravel(), rtol=1e-8, atol=1e-12)


def test_supervectors_of_no_data_are_zero():
    gmm, _ = small_gmm(k=4, d=3)
    sv = supervectors(gmm, np.zeros((2, 4)), np.zeros((2, 4, 3)), relevance_factor=16.0)
    assert sv.shape == (2, 12)
    np.testing.assert_array_equal(sv, 0.0)
    # and data exactly at the UBM means gives zero offsets too
    n = np.array([[3.0, 1.0, 0.0, 7.0]])
    sv = supervectors(gmm, n, n[..., None] * gmm.means_[None], relevance_factor=4.0)
    np.testing.assert_allclose(sv, 0.0, atol=1e-12)


def test_supervectors_nuisance_projection():
    gmm, X = small_gmm(k=4, d=3)
    segments = np.array([[0, 40], [40, 90], [90, 170], [170, 240]])
    n, first = segment_statistics(gmm, X, segments)
    q, _ = np.linalg.qr(np.random.RandomState(2).randn(12, 3))
    U = q.T  # 3 orthonormal directions
    plain = supervectors(gmm, n, first, relevance_factor=8.0)
    proj = supervectors(gmm, n, first, relevance_factor=8.0, nuisance=U)
    assert proj.shape == plain.shape
    np.testing.assert_allclose(proj @ U.T, 0.0, atol=1e-12)
    # only the nuisance part is removed
    np.testing.assert_allclose(proj, plain - (plain @ U.T) @ U, rtol=1e-10, atol=1e-12)
    assert np.linalg.norm(proj - plain) > 1e-3
    # no directions: nothing removed
    np.testing.assert_array_equal(
        supervectors(gmm, n, first, relevance_factor=8.0, nuisance=np.zeros((0, 12))), plain)


def test_cosine_similarity():
    rng = np.random.RandomState(0)
    a = rng.randn(6, 5)
    s = cosine_similarity(a)
    assert s.shape == (6, 6)
    np.testing.assert_allclose(s, s.T, rtol=0, atol=1e-15)
    np.testing.assert_allclose(np.diag(s), 1.0, rtol=1e-12)
    for i in range(6):
        for j in range(6):
            c = a[i] @ a[j] / np.linalg.norm(a[i]) / np.linalg.norm(a[j])
            assert s[i, j] == pytest.approx(c, rel=1e-12, abs=1e-12)
    # scale-invariant, in [-1, 1]; opposite vectors are -1
    np.testing.assert_allclose(cosine_similarity(a * rng.uniform(0.1, 10, (6, 1))), s,
                               atol=1e-12)
    assert np.all(np.abs(s) <= 1 + 1e-12)
    assert cosine_similarity(np.array([[1.0, 2.0], [-2.0, -4.0]]))[0, 1] == pytest.approx(-1.0)
    # a zero vector gives finite values, not NaN
    z = cosine_similarity(np.vstack([a[:2], np.zeros(5)]))
    assert np.all(np.isfinite(z))


# --- link_clusters on three synthetic voices -----------------------------------------------

D = 5
SEG = 200          # frames per segment
PER_VOICE = 6      # segments per voice


def synthetic_voices(*, seed):
    """A UBM and frames of three 'voices': a shared set of 'phones' (so UBM components are
    shared across voices, as in speech) displaced by a per-voice offset; the frames come
    in PER_VOICE segments of SEG frames per voice, interleaved. Returns the UBM, the
    frames and the true voice of every segment."""
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
    X = np.vstack([draw(v, SEG) for v in truth])
    return gmm, X, truth


@pytest.fixture(scope="module")
def voices():
    """Three 'voices': a shared set of 'phones' (so UBM components are shared across
    voices, as in speech) displaced by a per-voice offset. Returns the UBM, the
    per-segment statistics, and the true voice of every segment."""
    gmm, X, truth = synthetic_voices(seed=0)
    m = len(truth)
    segments = np.stack([np.arange(m) * SEG, np.arange(1, m + 1) * SEG], axis=1)
    n, first = segment_statistics(gmm, X, segments)
    ubm = BackgroundModel(gmm, dict(FRONT_END))
    # Sanity of the fixture itself: every same-voice pair of segments is more alike than
    # every pair of different voices, so the expected partition is unambiguous.
    s = cosine_similarity(supervectors(gmm, n, first, relevance_factor=16.0))
    same = truth[:, None] == truth[None, :]
    off = ~same
    np.fill_diagonal(same, False)
    assert s[same].min() > s[off].max() + 0.2
    return ubm, n, first, truth


def partition(labels):
    return {frozenset(np.flatnonzero(labels == k)) for k in np.unique(labels)}


def link(voices, labels=None, **kw):
    ubm, n, first, truth = voices
    cfg_kw = {k: kw.pop(k) for k in ("link_threshold", "relevance_factor") if k in kw}
    cfg = ClusterConfig(**{"link_threshold": 0.4, "relevance_factor": 16.0, **cfg_kw})
    if labels is None:
        labels = np.arange(len(truth))  # every segment its own cluster
    return link_clusters(n, first, labels, ubm=ubm, config=cfg, **kw)


def test_linking_recovers_the_three_voices(voices):
    truth = voices[3]
    res = link(voices, max_clusters=10)
    assert res.n_clusters == 3
    assert partition(res.labels) == partition(truth)
    # labels numbered by first appearance
    _, idx = np.unique(res.labels, return_index=True)
    assert list(res.labels[np.sort(idx)]) == [0, 1, 2]
    # the declined merge (3 -> 2) is recorded, and is below the threshold
    assert min(res.similarity) == 2
    assert res.similarity[2] <= 0.4
    assert all(res.similarity[k] > 0.4 for k in res.similarity if k > 2)


def test_linking_with_grouped_initial_labels(voices):
    """Initial clusters of several segments stay together; arbitrary label values work."""
    truth = voices[3]
    labels = np.empty(len(truth), dtype=np.int64)
    for v in range(3):  # split each voice into two initial clusters
        idx = np.flatnonzero(truth == v)
        labels[idx[:2]] = 100 + 10 * v
        labels[idx[2:]] = 7 + v
    res = link(voices, labels=labels)
    assert partition(res.labels) == partition(truth)


def test_exact_number_of_clusters(voices):
    truth = voices[3]
    for k in (1, 2, 3, 5):
        res = link(voices, n_clusters=k)
        assert res.n_clusters == k
        if k <= 3:  # no voice is split: each lies wholly in one cluster
            assert all(len(set(res.labels[truth == v])) == 1 for v in range(3))
        else:  # no voices are mixed: each cluster holds a single voice
            assert all(len(set(truth[res.labels == c])) == 1 for c in range(k))


def test_max_clusters_forces_merging_below_threshold(voices):
    truth = voices[3]
    # a threshold no pair reaches: without the bound nothing would merge
    assert link(voices, link_threshold=0.9999, max_clusters=100).n_clusters == len(truth)
    assert link(voices, link_threshold=0.9999).n_clusters == 10  # the default bound
    res = link(voices, link_threshold=0.9999, max_clusters=3)
    assert res.n_clusters == 3
    assert partition(res.labels) == partition(truth)


def test_min_clusters_stops_merging(voices):
    truth = voices[3]
    # a threshold every pair exceeds: without the bound everything merges
    assert link(voices, link_threshold=-2.0).n_clusters == 1
    res = link(voices, link_threshold=-2.0, min_clusters=3)
    assert res.n_clusters == 3
    assert partition(res.labels) == partition(truth)
    res = link(voices, link_threshold=-2.0, min_clusters=4)
    assert res.n_clusters == 4
    assert all(len(set(truth[res.labels == k])) == 1 for k in range(4))


def test_similarity_is_average_linkage_and_monotone(voices):
    ubm, n, first, truth = voices
    res = link(voices, link_threshold=-2.0)  # merge everything
    m = len(truth)
    assert sorted(res.similarity) == list(range(1, m))
    seq = [res.similarity[k] for k in range(m - 1, 0, -1)]  # in merge order
    assert all(b <= a + 1e-12 for a, b in zip(seq, seq[1:]))
    # The last merge joins the two clusters of n_clusters=2, at their average similarity.
    s0 = cosine_similarity(expected_supervectors(ubm.gmm, n, first, 16.0))
    two = link(voices, n_clusters=2).labels
    a, b = np.flatnonzero(two == 0), np.flatnonzero(two == 1)
    assert res.similarity[1] == pytest.approx(s0[np.ix_(a, b)].mean(), rel=1e-9, abs=1e-12)
    # and the first merge is the most similar pair of segments
    off = s0.copy()
    np.fill_diagonal(off, -np.inf)
    assert res.similarity[m - 1] == pytest.approx(off.max(), rel=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_similarity_monotone_on_random_statistics(seed):
    rng = np.random.RandomState(seed)
    gmm, _ = small_gmm(k=4, d=3, seed=seed)
    m = 12
    n = rng.uniform(0, 30, (m, 4))
    first = n[..., None] * (gmm.means_ + rng.randn(m, 4, 3))
    ubm = BackgroundModel(gmm, dict(FRONT_END))
    res = link_clusters(n, first, rng.randint(0, 9, m), ubm=ubm,
                        config=ClusterConfig(link_threshold=-2.0, relevance_factor=4.0))
    assert res.n_clusters == 1
    keys = sorted(res.similarity, reverse=True)
    seq = [res.similarity[k] for k in keys]
    assert all(b <= a + 1e-12 for a, b in zip(seq, seq[1:]))


@pytest.mark.parametrize("pair", [(0, 1), (0, 2), (1, 2)])
def test_nuisance_directions_are_projected_out(voices, pair):
    """With the direction that separates two voices declared a nuisance, those two are
    one voice to the linker: the two clusters left are their union and the third."""
    ubm, n, first, truth = voices
    sv = supervectors(ubm.gmm, n, first, relevance_factor=16.0)
    a, b = pair
    direction = sv[truth == a].mean(0) - sv[truth == b].mean(0)
    nuisance = (direction / np.linalg.norm(direction))[None]
    res = link_clusters(n, first, np.arange(len(truth)),
                        ubm=BackgroundModel(ubm.gmm, ubm.front_end, nuisance),
                        config=ClusterConfig(link_threshold=0.4, relevance_factor=16.0),
                        n_clusters=2)
    c = ({0, 1, 2} - set(pair)).pop()
    assert partition(res.labels) == {frozenset(np.flatnonzero(truth != c)),
                                     frozenset(np.flatnonzero(truth == c))}


def test_link_clusters_no_segments(voices):
    ubm, n, first, _ = voices
    res = link_clusters(n[:0], first[:0], np.zeros(0, dtype=np.int64), ubm=ubm,
                        config=ClusterConfig())
    assert len(res.labels) == 0 and res.n_clusters == 0


# --- link_clusters_clr (cross-likelihood ratio) on frames of three synthetic voices -------

@pytest.fixture(scope="module")
def voice_frames():
    """UBM, frames, the initial cluster (segment) of every frame, and the true voice of
    every segment: three voices sharing 'phones', displaced by per-voice offsets."""
    gmm, X, truth = synthetic_voices(seed=1)
    frame_labels = np.repeat(np.arange(len(truth)), SEG)
    return BackgroundModel(gmm, dict(FRONT_END)), X, frame_labels, truth


def clr_link(voice_frames, **kw):
    ubm, X, labels, _ = voice_frames
    cfg_kw = {k: kw.pop(k) for k in ("link_threshold", "link_max_frames") if k in kw}
    cfg = ClusterConfig(**{"link_threshold": 0.0, **cfg_kw})
    return link_clusters_clr(X, labels, ubm=ubm, config=cfg, **kw)


def segment_partition(res, voice_frames):
    _, _, labels, truth = voice_frames
    seg_label = np.array([res.labels[labels == s][0] for s in range(len(truth))])
    # every segment's frames stay together
    assert all(len(set(res.labels[labels == s])) == 1 for s in range(len(truth)))
    return partition(seg_label)


def test_clr_linking_recovers_the_three_voices(voice_frames):
    # CLR > 0 means "each explains the other better than voices in general do".
    res = clr_link(voice_frames, max_clusters=30)
    assert res.n_clusters == 3
    assert segment_partition(res, voice_frames) == partition(voice_frames[3])
    assert res.similarity[2] <= 0.0 < min(v for k, v in res.similarity.items() if k > 2)


@pytest.mark.slow
def test_clr_exact_count_and_bounds(voice_frames):
    truth = voice_frames[3]
    assert clr_link(voice_frames, n_clusters=2, max_clusters=30).n_clusters == 2
    # a threshold no pair reaches: only the upper bound forces merges, and it merges
    # the most alike first, so three clusters are the three voices
    res = clr_link(voice_frames, link_threshold=1e9, max_clusters=3)
    assert res.n_clusters == 3
    assert segment_partition(res, voice_frames) == partition(truth)
    assert clr_link(voice_frames, link_threshold=-1e9, min_clusters=2,
                    max_clusters=30).n_clusters == 2


def test_clr_frame_cap_keeps_the_answer(voice_frames):
    # Scoring at most 50 evenly spaced frames per cluster still separates the voices.
    res = clr_link(voice_frames, link_max_frames=50, max_clusters=30)
    assert segment_partition(res, voice_frames) == partition(voice_frames[3])


def test_clr_no_frames(voice_frames):
    ubm = voice_frames[0]
    res = link_clusters_clr(np.zeros((0, D)), np.zeros(0, dtype=np.int64), ubm=ubm,
                            config=ClusterConfig())
    assert len(res.labels) == 0


def test_cohort_round_trip_and_shape_check(tmp_path):
    gmm, _ = small_gmm()
    cohort = np.random.RandomState(0).randn(5, *gmm.means_.shape)
    path = tmp_path / "coh.npz"
    save_ubm(path, gmm, front_end=FRONT_END, cohort=cohort)
    np.testing.assert_allclose(load_ubm(str(path)).cohort, cohort, rtol=1e-6)
    bad = tmp_path / "badcoh.npz"
    save_ubm(bad, gmm, front_end=FRONT_END, cohort=cohort[:, :, :-1])
    with pytest.raises(ConfigError):
        load_ubm(str(bad))


def test_shipped_ubm_has_a_cohort():
    ubm = load_ubm()
    assert ubm.cohort is not None and ubm.cohort.shape[1:] == ubm.gmm.means_.shape
    assert len(ubm.cohort) >= 16


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
    return BackgroundModel(ubm.gmm, ubm.front_end, None, np.array(cohort)), X, labels, truth


@pytest.mark.slow
def test_cohort_normalised_linking_recovers_the_voices(voice_frames_with_cohort):
    ubm, X, labels, truth = voice_frames_with_cohort
    cfg = ClusterConfig(link_norm="cohort", link_threshold=-np.inf)
    every = link_clusters_clr(X, labels, ubm=ubm, config=cfg, max_clusters=30)
    assert every.n_clusters == 1
    # merging across voices (3 -> 2 -> 1 clusters) scores below every same-voice merge
    same = min(v for k, v in every.similarity.items() if k >= 3)
    assert max(every.similarity[2], every.similarity[1]) < same
    # so a threshold between them recovers the three voices
    cfg = ClusterConfig(link_norm="cohort", link_threshold=(every.similarity[2] + same) / 2)
    res = link_clusters_clr(X, labels, ubm=ubm, config=cfg, max_clusters=30)
    assert segment_partition(res, voice_frames_with_cohort) == partition(truth)
    # the normalisation changes the scores; without a cohort in the model it does nothing
    ref = link_clusters_clr(X, labels, ubm=ubm, config=ClusterConfig(
        link_norm="none", link_threshold=-np.inf), max_clusters=30)
    assert ref.similarity != every.similarity
    plain = link_clusters_clr(X, labels, ubm=BackgroundModel(ubm.gmm, ubm.front_end),
                              config=cfg, max_clusters=30)
    ref = link_clusters_clr(X, labels, ubm=ubm, config=ClusterConfig(
        link_norm="none", link_threshold=cfg.link_threshold), max_clusters=30)
    assert plain.similarity == ref.similarity
