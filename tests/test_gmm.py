"""Tests of diarize.gmm.GaussianMixture (scikit-learn is only an optional oracle)."""

import io
import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import logsumexp

from diarize.errors import FitError, ModelError, NotFittedError, ParameterError
from diarize.gmm import ConvergenceWarning, GaussianMixture

COV_TYPES = ["diag", "spherical", "tied", "full"]
FAST = settings(max_examples=25, deadline=None, derandomize=True)


def blobs(n_per=200, n_features=3, seed=0, spread=4.0):
    rng = np.random.RandomState(seed)
    centres = rng.randn(3, n_features) * spread
    scales = [1.0, 0.5, 1.5]
    return np.vstack(
        [c + s * rng.randn(n_per, n_features) for c, s in zip(centres, scales)]
    )


def identity_precisions(cov_type, k, d, scale=1.0):
    return {
        "spherical": np.full(k, scale),
        "diag": np.full((k, d), scale),
        "tied": np.eye(d) * scale,
        "full": np.stack([np.eye(d) * scale] * k),
    }[cov_type]


def fixed_init(X, k, cov_type, seed=1):
    rng = np.random.RandomState(seed)
    return dict(
        weights_init=np.full(k, 1.0 / k),
        means_init=X[rng.choice(len(X), k, replace=False)],
        precisions_init=identity_precisions(cov_type, k, X.shape[1]),
    )


def full_covariances(model):
    k, d = model.means_.shape
    cov = model.covariances_
    if model.covariance_type == "full":
        return cov
    if model.covariance_type == "tied":
        return np.stack([cov] * k)
    if model.covariance_type == "diag":
        return np.stack([np.diag(c) for c in cov])
    return np.stack([np.eye(d) * c for c in cov])


def fit_quiet(model, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, **kw)


def assert_rel(a, b, rtol=1e-6):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = max(np.max(np.abs(b)), 1e-300)
    assert np.max(np.abs(a - b)) <= rtol * scale, np.max(np.abs(a - b)) / scale


# --- scikit-learn oracle ------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_matches_sklearn_from_same_init(cov_type):
    sk_mixture = pytest.importorskip("sklearn.mixture")
    X = blobs()
    kw = dict(
        n_components=3, covariance_type=cov_type, tol=0, max_iter=12,
        **fixed_init(X, 3, cov_type),
    )
    ours = GaussianMixture(**kw)
    ours._block_size = 97  # several blocks, last one partial
    fit_quiet(ours, X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sk_mixture.GaussianMixture(**kw).fit(X)
    for name in ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"]:
        assert_rel(getattr(ours, name), getattr(ref, name))
    assert ours.lower_bound_ == pytest.approx(ref.lower_bound_, rel=1e-6)
    assert ours.n_iter_ == ref.n_iter_ == 12
    assert ours.bic(X) == pytest.approx(ref.bic(X), rel=1e-6)
    assert ours.aic(X) == pytest.approx(ref.aic(X), rel=1e-6)
    assert ours._n_parameters() == ref._n_parameters()
    assert_rel(ours.score_samples(X), ref.score_samples(X))
    assert_rel(ours.predict_proba(X), ref.predict_proba(X))
    assert np.array_equal(ours.predict(X), ref.predict(X))


@pytest.mark.parametrize("init_params", ["random", "random_from_data"])
def test_random_inits_match_sklearn(init_params):
    sk_mixture = pytest.importorskip("sklearn.mixture")
    X = blobs(n_per=60)
    kw = dict(n_components=3, init_params=init_params, random_state=3, max_iter=5, tol=0)
    ours = fit_quiet(GaussianMixture(**kw), X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sk_mixture.GaussianMixture(covariance_type="diag", **kw).fit(X)
    assert_rel(ours.means_, ref.means_)
    assert ours.lower_bound_ == pytest.approx(ref.lower_bound_, rel=1e-6)


# --- properties -----------------------------------------------------------------


@st.composite
def problems(draw):
    seed = draw(st.integers(0, 2**31 - 1))
    n = draw(st.integers(20, 60))
    d = draw(st.integers(1, 3))
    k = draw(st.integers(1, 3))
    cov_type = draw(st.sampled_from(COV_TYPES))
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d) + rng.randint(0, 3, size=(n, 1)) * 3.0
    return X, k, cov_type, seed


@pytest.mark.slow
@FAST
@given(problems())
def test_lower_bound_never_decreases(problem):
    X, k, cov_type, seed = problem
    model = GaussianMixture(
        k, covariance_type=cov_type, tol=0, max_iter=15, random_state=seed,
        init_params="random",
    )
    model._block_size = 16
    fit_quiet(model, X)
    lb = np.asarray(model.lower_bounds_)
    assert np.all(np.isfinite(lb))
    # EM is monotone in exact arithmetic; reg_covar (added after the exact M-step)
    # can cost O((reg_covar / variance)**2) near a fixed point, hence the slack.
    assert np.all(np.diff(lb) >= -1e-6 * np.maximum(1.0, np.abs(lb[1:])))


@pytest.mark.slow
@FAST
@given(problems())
def test_predict_proba_rows_sum_to_one_and_density_is_exact(problem):
    X, k, cov_type, seed = problem
    model = fit_quiet(
        GaussianMixture(k, covariance_type=cov_type, max_iter=5, random_state=seed,
                        reg_covar=1e-3),
        X,
    )
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), k)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert np.array_equal(model.predict(X), proba.argmax(axis=1))
    covs = full_covariances(model)
    direct = logsumexp(
        [
            np.log(w) + stats.multivariate_normal(m, c).logpdf(X).reshape(-1)
            for w, m, c in zip(model.weights_, model.means_, covs)
        ],
        axis=0,
    )
    np.testing.assert_allclose(model.score_samples(X), direct, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(model.log_likelihoods(X), direct, rtol=1e-9, atol=1e-9)
    assert model.score(X) == pytest.approx(direct.mean(), rel=1e-9)


@pytest.mark.slow
@settings(max_examples=10, deadline=None, derandomize=True)
@given(st.sampled_from(COV_TYPES), st.integers(0, 1000))
def test_sample_reproduces_weights_and_means(cov_type, seed):
    X = blobs(n_per=150, n_features=2, seed=seed % 7)
    model = fit_quiet(GaussianMixture(3, covariance_type=cov_type, random_state=seed), X)
    n = 20000
    Xs, y = model.sample(n)
    assert Xs.shape == (n, 2) and y.shape == (n,)
    freq = np.bincount(y, minlength=3) / n
    sd = np.sqrt(model.weights_ * (1 - model.weights_) / n)
    assert np.all(np.abs(freq - model.weights_) <= 5 * sd + 1e-12)
    covs = full_covariances(model)
    for j in range(3):
        pts = Xs[y == j]
        err = np.sqrt(np.diag(covs[j]) / max(len(pts), 1))
        assert np.all(np.abs(pts.mean(axis=0) - model.means_[j]) <= 5 * err)


# --- beyond scikit-learn ------------------------------------------------------------


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_integer_weights_equal_repeated_rows(cov_type):
    X = blobs(n_per=40)
    rng = np.random.RandomState(0)
    w = rng.randint(0, 4, size=len(X))
    kw = dict(n_components=3, covariance_type=cov_type, tol=0, max_iter=8,
              **fixed_init(X, 3, cov_type))
    weighted = GaussianMixture(**kw)
    weighted._block_size = 33
    fit_quiet(weighted, X, sample_weight=w)
    repeated = fit_quiet(GaussianMixture(**kw), np.repeat(X, w, axis=0))
    for name in ["weights_", "means_", "covariances_"]:
        assert_rel(getattr(weighted, name), getattr(repeated, name), 1e-9)
    assert weighted.lower_bound_ == pytest.approx(repeated.lower_bound_, rel=1e-9)


def test_weighted_kmeans_init_runs():
    X = blobs(n_per=50)
    w = np.linspace(0.1, 2.0, len(X))
    model = GaussianMixture(3, random_state=0).fit(X, sample_weight=w)
    assert np.all(np.isfinite(model.means_))


@pytest.mark.slow
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_float32_matches_float64(cov_type):
    X = blobs(n_per=300, n_features=4, seed=2)
    kw = dict(n_components=3, covariance_type=cov_type, tol=0, max_iter=10,
              **fixed_init(X, 3, cov_type))
    m64 = fit_quiet(GaussianMixture(**kw), X)
    m32 = fit_quiet(GaussianMixture(dtype=np.float32, **kw), X.astype(np.float32))
    for name in ["weights_", "means_", "covariances_"]:
        assert_rel(getattr(m32, name), getattr(m64, name), 1e-4)
    assert m32.lower_bound_ == pytest.approx(m64.lower_bound_, rel=1e-4)
    # float64 data with a float32 engine is converted block by block.
    m32b = fit_quiet(GaussianMixture(dtype=np.float32, **kw), X)
    assert_rel(m32b.means_, m64.means_, 1e-4)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_to_dict_round_trip_through_npz(cov_type):
    X = blobs(n_per=50)
    model = GaussianMixture(3, covariance_type=cov_type, random_state=0,
                            dtype=np.float32).fit(X)
    buf = io.BytesIO()
    np.savez(buf, **model.to_dict())
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as data:
        loaded = GaussianMixture.from_dict(data)
    assert loaded.covariance_type == cov_type and loaded.dtype == np.float32
    assert loaded.random_state == 0
    for name in ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"]:
        assert np.array_equal(getattr(loaded, name), getattr(model, name))
    assert loaded.converged_ == model.converged_ and loaded.n_iter_ == model.n_iter_
    assert loaded.lower_bound_ == model.lower_bound_
    assert np.array_equal(loaded.score_samples(X), model.score_samples(X))
    # A plain dict works too.
    again = GaussianMixture.from_dict(model.to_dict())
    assert np.array_equal(again.predict(X), model.predict(X))


def test_from_dict_rejects_other_models():
    with pytest.raises(ModelError, match="from_dict"):
        GaussianMixture.from_dict({"class": "Foo", "format": 1})
    with pytest.raises(ModelError, match="missing key"):
        GaussianMixture.from_dict({})


def test_deterministic_bit_identical():
    X = blobs(n_per=100)
    a = GaussianMixture(3, covariance_type="full", random_state=7, n_init=2).fit(X)
    b = GaussianMixture(3, covariance_type="full", random_state=7, n_init=2).fit(X)
    for name in ["weights_", "means_", "covariances_"]:
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert a.lower_bound_ == b.lower_bound_


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
def test_kmeans_inits_find_separated_clusters(init_params):
    rng = np.random.RandomState(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    X = np.vstack([c + rng.randn(100, 2) for c in centres])
    model = GaussianMixture(3, init_params=init_params, random_state=0).fit(X)
    found = model.means_[np.argsort(model.means_[:, 0] + 2 * model.means_[:, 1])]
    np.testing.assert_allclose(found, centres, atol=0.5)
    assert model.converged_


def test_fit_predict_and_aliases():
    X = blobs(n_per=50)
    model = GaussianMixture(3, random_state=0)
    labels = model.fit_predict(X)
    assert np.array_equal(labels, model.predict(X))
    wlp = model.estimate_weighted_log_prob(X)
    np.testing.assert_allclose(logsumexp(wlp, axis=1), model.score_samples(X), rtol=1e-12)
    np.testing.assert_allclose(
        model._estimate_log_prob(X) + np.log(model.weights_), wlp, rtol=1e-12
    )


def test_warm_start_continues():
    X = blobs(n_per=50)
    model = GaussianMixture(3, warm_start=True, max_iter=2, tol=0, random_state=0)
    fit_quiet(model, X)
    first = model.lower_bound_
    fit_quiet(model, X)
    assert model.lower_bound_ >= first - 1e-12


def test_convergence_warning_when_not_converged():
    X = blobs(n_per=30)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        GaussianMixture(3, max_iter=1, tol=0, random_state=0).fit(X)
    assert issubclass(ConvergenceWarning, UserWarning)


def test_empty_component_does_not_produce_nan():
    X = blobs(n_per=50, n_features=2)
    means = np.vstack([X[:2], [[1e4, 1e4]]])  # third component explains nothing
    for cov_type in COV_TYPES:
        model = GaussianMixture(
            3, covariance_type=cov_type, tol=0, max_iter=5, weights_init=np.full(3, 1 / 3),
            means_init=means, precisions_init=identity_precisions(cov_type, 3, 2, 100.0),
        )
        fit_quiet(model, X)
        for name in ["weights_", "means_", "covariances_", "precisions_"]:
            assert np.all(np.isfinite(getattr(model, name))), (cov_type, name)
        assert model.weights_[2] < 1e-12
        assert np.all(np.isfinite(model.score_samples(X)))


# --- errors ------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_rejected(bad):
    X = blobs(n_per=10)
    X[7, 1] = bad
    with pytest.raises(FitError, match="row 7"):
        GaussianMixture(2).fit(X)
    with pytest.raises(ValueError, match="NaN or infinity"):
        GaussianMixture(2).fit(X)


def test_too_few_samples():
    with pytest.raises(FitError, match="n_samples >= n_components"):
        GaussianMixture(5).fit(np.random.RandomState(0).randn(4, 2))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_components": 0}, {"covariance_type": "banana"}, {"tol": -1},
        {"reg_covar": -1.0}, {"max_iter": -1}, {"n_init": 0}, {"init_params": "x"},
        {"dtype": np.int32}, {"weights_init": [0.5, 0.6]}, {"means_init": np.zeros((3, 3))},
        {"precisions_init": -np.ones((2, 3))}, {"random_state": "seed"},
    ],
)
def test_bad_parameters(kwargs):
    params = {"n_components": 2, **kwargs}
    with pytest.raises(ParameterError):
        GaussianMixture(**params).fit(blobs(n_per=10))


def test_not_fitted_and_shape_errors():
    model = GaussianMixture(2)
    with pytest.raises(NotFittedError, match="fit"):
        model.predict(np.zeros((3, 2)))
    model.fit(blobs(n_per=10))
    with pytest.raises(FitError, match="features"):
        model.predict(np.zeros((3, 5)))
    with pytest.raises(FitError, match="2-D"):
        model.predict(np.zeros(3))
    with pytest.raises(FitError, match="sample_weight"):
        GaussianMixture(2).fit(blobs(n_per=10), sample_weight=np.ones(3))


# --- memory -------------------------------------------------------------------------


@pytest.mark.slow
def test_fit_memory_is_blockwise():
    rng = np.random.RandomState(0)
    n, d, k = 100_000, 16, 8
    X = rng.randn(n, d)
    model = GaussianMixture(k, tol=0, max_iter=2, **fixed_init(X, k, "diag"))
    tracemalloc.start()
    fit_quiet(model, X)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Far below a single N x K array (6.4 MB), let alone N x D (12.8 MB).
    assert peak < n * k * 8 / 2, peak
