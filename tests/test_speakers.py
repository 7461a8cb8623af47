"""UBM speaker models (diarize.speakers) and UBM speaker linking (cluster.link_clusters_clr).

Expected values come from the ground truth of synthetic data, never from the
implementation's own output.
"""

import warnings

import numpy as np
import pytest

from diarize.cluster import link_clusters_clr
from diarize.config import ClusterConfig, FeatureConfig
from diarize.errors import ConfigError
from diarize.gmm import GaussianMixture
from diarize.speakers import FRONT_END_FIELDS, UBM_PATH, BackgroundModel, load_ubm, save_ubm

FRONT_END = {"win_length": 0.025, "n_fft": 512, "n_mels": 40, "n_mfcc": 20, "fmin": 20.0,
             "fmax": 7600.0, "pre_emphasis": 0.97, "deltas": False, "delta_width": 9}


def small_gmm(cov_type="diag", k=4, d=3, seed=0):
    rng = np.random.RandomState(seed)
    X = np.vstack([rng.randn(60, d) + 4 * rng.randn(d) for _ in range(k)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(k, covariance_type=cov_type, random_state=seed).fit(X), X


# --- save_ubm / load_ubm --------------------------------------------------------------


def test_save_load_round_trip(tmp_path):
    gmm, X = small_gmm()
    front = dict(FRONT_END, fmin=200.0, fmax=3700.0, deltas=True, delta_width=5)
    path = tmp_path / "sub dir/ubm.npz"  # parent is created
    save_ubm(path, gmm, front_end=front)
    ubm = load_ubm(str(path))
    assert isinstance(ubm, BackgroundModel)
    assert ubm.gmm.covariance_type == "diag"
    for k in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(ubm.gmm, k), getattr(gmm, k))
    np.testing.assert_allclose(ubm.gmm.score_samples(X), gmm.score_samples(X), rtol=1e-12)
    assert dict(ubm.front_end) == front
    assert type(ubm.front_end["deltas"]) is bool and type(ubm.front_end["delta_width"]) is int
    assert ubm.cohort is None


def test_arrays_the_loader_does_not_know_are_ignored(tmp_path):
    """Model files of older releases hold arrays this one no longer uses; they still load."""
    gmm, X = small_gmm()
    path = tmp_path / "older.npz"
    np.savez(path, **{f"ubm/{k}": np.asarray(v) for k, v in gmm.to_dict().items()},
             **{f"front_end/{k}": np.asarray(v) for k, v in FRONT_END.items()},
             projection=np.zeros((2, gmm.means_.size + 1), dtype=np.float32))
    ubm = load_ubm(str(path))
    np.testing.assert_allclose(ubm.gmm.score_samples(X), gmm.score_samples(X), rtol=1e-12)


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


# --- three synthetic voices -------------------------------------------------------------

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


def partition(labels):
    return {frozenset(np.flatnonzero(labels == k)) for k in np.unique(labels)}


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
    return BackgroundModel(ubm.gmm, ubm.front_end, np.array(cohort)), X, labels, truth


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
