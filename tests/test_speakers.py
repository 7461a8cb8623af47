"""UBM files and front ends (diarize.speakers); the linking that uses them is tested in
test_cluster.py."""

import warnings

import numpy as np
import pytest

from diarize.config import FeatureConfig
from diarize.errors import ConfigError, ModelError
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


def test_garbage_file_is_model_error(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"this is not a numpy file at all\n" * 20)
    with pytest.raises(ModelError):
        load_ubm(str(path))


def test_missing_file_is_model_error(tmp_path):
    with pytest.raises(ModelError):
        load_ubm(str(tmp_path / "nope.npz"))


def test_npz_that_is_not_a_ubm_is_model_error(tmp_path):
    gmm, _ = small_gmm()
    p1 = tmp_path / "other.npz"
    np.savez(p1, a=np.zeros(3), b=np.ones(2))
    with pytest.raises(ModelError):
        load_ubm(str(p1))
    # a bare GaussianMixture (no ubm/ prefix, no front end)
    p2 = tmp_path / "bare.npz"
    np.savez(p2, **gmm.to_dict())
    with pytest.raises(ModelError):
        load_ubm(str(p2))
    # UBM arrays, but part of the front end missing
    p3 = tmp_path / "nofront.npz"
    np.savez(p3, **{f"ubm/{k}": np.asarray(v) for k, v in gmm.to_dict().items()},
             **{f"front_end/{k}": np.asarray(v) for k, v in FRONT_END.items() if k != "fmax"})
    with pytest.raises(ModelError):
        load_ubm(str(p3))


def test_full_covariance_file_is_model_error(tmp_path):
    gmm, _ = small_gmm("full")
    path = tmp_path / "fullcov.npz"
    np.savez(path, **{f"ubm/{k}": np.asarray(v) for k, v in gmm.to_dict().items()},
             **{f"front_end/{k}": np.asarray(v) for k, v in FRONT_END.items()})
    with pytest.raises(ModelError):
        load_ubm(str(path))


def test_truncated_ubm_file_is_model_error(tmp_path):
    gmm, _ = small_gmm()
    good = tmp_path / "good.npz"
    save_ubm(good, gmm, front_end=FRONT_END)
    raw = good.read_bytes()
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(raw[: len(raw) // 2])  # an interrupted download or copy
    try:
        load_ubm(str(bad))
    except ModelError:
        return
    except Exception as exc:  # anything else is the bug
        raise AssertionError(f"{type(exc).__name__} instead of ModelError") from exc
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


# --- cohort -------------------------------------------------------------------------


def test_cohort_round_trip_and_shape_check(tmp_path):
    gmm, _ = small_gmm()
    cohort = np.random.RandomState(0).randn(5, *gmm.means_.shape)
    path = tmp_path / "coh.npz"
    save_ubm(path, gmm, front_end=FRONT_END, cohort=cohort)
    np.testing.assert_allclose(load_ubm(str(path)).cohort, cohort, rtol=1e-6)
    bad = tmp_path / "badcoh.npz"
    save_ubm(bad, gmm, front_end=FRONT_END, cohort=cohort[:, :, :-1])
    with pytest.raises(ModelError):
        load_ubm(str(bad))


def test_shipped_ubm_has_a_cohort():
    ubm = load_ubm()
    assert ubm.cohort is not None and ubm.cohort.shape[1:] == ubm.gmm.means_.shape
    assert len(ubm.cohort) >= 16


def test_aligned_llr_is_the_fixed_alignment_likelihood_ratio():
    # Computed frame by frame: sum_c gamma_tc [log N(x_t; m_c, S_c) - log N(x_t; mu_c, S_c)].
    from diarize.speakers import VoiceStats, aligned_llr, load_ubm, voice_statistics

    gmm = load_ubm().gmm
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, gmm.means_.shape[1])) + gmm.means_[3]
    (stats,) = voice_statistics(gmm, X, np.zeros(len(X), dtype=np.int64), n_labels=1)
    models = gmm.means_ + rng.normal(scale=0.3, size=(2,) + gmm.means_.shape)
    gamma = gmm.predict_proba(X)
    var = gmm.covariances_

    def logn(means):
        d = X[:, None, :] - means[None]
        return -0.5 * np.sum(d * d / var + np.log(2 * np.pi * var), axis=2)

    want = [np.sum(gamma * (logn(m) - logn(gmm.means_))) / len(X) for m in models]
    np.testing.assert_allclose(aligned_llr(gmm, stats, models), want, rtol=1e-6, atol=1e-9)
    # Statistics add up: two halves pooled are the whole.
    halves = voice_statistics(gmm, X, (np.arange(len(X)) >= 150).astype(np.int64), n_labels=2)
    pooled = halves[0] + halves[1]
    np.testing.assert_allclose(pooled.first, stats.first, rtol=1e-9)
    assert isinstance(pooled, VoiceStats) and pooled.frames == pytest.approx(len(X))


# --- TopComponentScorer ---------------------------------------------------------------


@pytest.mark.parametrize("block", [None, 7])
def test_logliks_of_many_models_is_each_models_loglik(monkeypatch, block):
    import diarize.speakers as speakers

    if block is not None:  # several frame blocks, each of a few frames
        monkeypatch.setattr(speakers, "BLOCK_SCORES", block)
    gmm, X = small_gmm(k=6, d=4)
    rng = np.random.RandomState(1)
    models = gmm.means_[None] + rng.randn(9, 6, 4)
    scorer = speakers.TopComponentScorer(gmm, X[::3], top=3)
    got = scorer.logliks(models)
    assert got.shape == (9, len(X[::3]))
    # the same up to rounding: an expanded square, not loglik's order of operations
    want = np.array([scorer.loglik(m) for m in models])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # one model (scored another way), and some frames only
    np.testing.assert_allclose(scorer.logliks(models[:1])[0], want[0], rtol=1e-12, atol=1e-12)
    rows = np.array([4, 1, 9])
    np.testing.assert_allclose(scorer.logliks(models, rows), want[:, rows], rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(scorer.logliks(models[2:3], rows), want[2:3, rows],
                               rtol=1e-12, atol=1e-12)
    assert scorer.logliks(models[:0]).shape == (0, len(X[::3]))


def test_a_frames_top_component_scores_do_not_depend_on_the_frames_scored_with_it():
    # link_clusters_clr scores every frame once on one scorer for all clusters
    gmm, X = small_gmm(k=6, d=4)
    whole = speakers_scorer(gmm, X)
    part = speakers_scorer(gmm, X[5:40:2])
    np.testing.assert_array_equal(whole.idx[5:40:2], part.idx)
    np.testing.assert_array_equal(whole.base[5:40:2], part.base)
    m = gmm.means_ + 0.5
    np.testing.assert_array_equal(whole.loglik(m)[5:40:2], part.loglik(m))
    rows = np.array([3, 0, 17])
    np.testing.assert_array_equal(whole.loglik(m, rows), whole.loglik(m)[rows])


def speakers_scorer(gmm, X):
    from diarize.speakers import TopComponentScorer

    return TopComponentScorer(gmm, X, top=3)
