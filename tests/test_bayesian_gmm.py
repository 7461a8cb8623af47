"""Tests of diarize.gmm.BayesianGaussianMixture (scikit-learn as optional oracle)."""

import io
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diarize.errors import FitError, ParameterError
from diarize.gmm import BayesianGaussianMixture, ConvergenceWarning

COV_TYPES = ["diag", "spherical", "tied", "full"]
PRIOR_TYPES = ["dirichlet_process", "dirichlet_distribution"]


class FromResp(BayesianGaussianMixture):
    """Test-only hook: start from given responsibilities (``init_resp``)."""

    init_resp = None

    def _initialize_parameters(self, X, random_state, sample_weight):
        self._initialize(X, self.init_resp, sample_weight)


def three_clusters(n_per=100, seed=0):
    rng = np.random.RandomState(seed)
    centres = np.array([[0.0, 0.0, 0.0], [8.0, 0.0, 0.0], [0.0, 8.0, 0.0]])
    return np.vstack([c + rng.randn(n_per, 3) for c in centres])


def random_resp(n, k, seed=1):
    resp = np.random.RandomState(seed).rand(n, k)
    return resp / resp.sum(axis=1, keepdims=True)


def fit_quiet(model, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, **kw)


def sklearn_from_resp(kw, X, resp):
    sk_mixture = pytest.importorskip("sklearn.mixture")
    ref = sk_mixture.BayesianGaussianMixture(**kw)
    ref._initialize_parameters = lambda X, random_state, xp=None: ref._initialize(X, resp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ref.fit(X)


def ours_from_resp(kw, X, resp, block=None):
    model = FromResp(**kw)
    model.init_resp = resp
    model._block_size = block
    return fit_quiet(model, X)


def assert_rel(a, b, rtol=1e-6):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = max(np.max(np.abs(b)), 1e-300)
    assert np.max(np.abs(a - b)) <= rtol * scale, np.max(np.abs(a - b)) / scale


@pytest.mark.slow
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_matches_sklearn_from_same_resp(cov_type, prior_type):
    pytest.importorskip("sklearn")
    X = three_clusters(n_per=60)
    resp = random_resp(len(X), 4)
    kw = dict(n_components=4, covariance_type=cov_type, tol=0, max_iter=10,
              weight_concentration_prior_type=prior_type)
    ref = sklearn_from_resp(kw, X, resp)
    ours = ours_from_resp(kw, X, resp, block=47)
    for name in ["weights_", "means_", "covariances_", "precisions_",
                 "precisions_cholesky_", "mean_precision_", "degrees_of_freedom_",
                 "mean_prior_", "covariance_prior_"]:
        assert_rel(getattr(ours, name), getattr(ref, name))
    if prior_type == "dirichlet_process":
        for j in range(2):
            assert_rel(ours.weight_concentration_[j], ref.weight_concentration_[j])
    else:
        assert_rel(ours.weight_concentration_, ref.weight_concentration_)
    assert ours.lower_bound_ == pytest.approx(float(np.squeeze(ref.lower_bound_)), rel=1e-6)
    assert ours.n_iter_ == ref.n_iter_ == 10
    assert_rel(ours.score_samples(X), ref.score_samples(X))
    assert_rel(ours.predict_proba(X), ref.predict_proba(X))
    assert ours.score(X) == pytest.approx(ref.score(X), rel=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("cov_type", ["diag", "spherical", "full"])
def test_unneeded_components_are_switched_off(cov_type):
    X = three_clusters()
    model = fit_quiet(
        BayesianGaussianMixture(
            10, covariance_type=cov_type, weight_concentration_prior=1e-3,
            max_iter=300, tol=1e-6, random_state=0,
        ),
        X,
    )
    weights = np.sort(model.weights_)
    assert np.all(weights[:7] < 0.01), weights
    assert np.all(weights[7:] > 0.3), weights
    # The cluster-count recipe of docs/gmm.md.
    assert int(np.sum(model.weights_ > 0.01)) == 3


@pytest.mark.slow
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_tied_pruning_matches_sklearn(prior_type):
    pytest.importorskip("sklearn")
    X = three_clusters(n_per=60)
    resp = random_resp(len(X), 10)
    kw = dict(n_components=10, covariance_type="tied", weight_concentration_prior=1e-3,
              weight_concentration_prior_type=prior_type, tol=0, max_iter=60)
    ref = sklearn_from_resp(kw, X, resp)
    ours = ours_from_resp(kw, X, resp)
    assert_rel(ours.weights_, ref.weights_)
    assert_rel(ours.means_, ref.means_)
    assert np.sum(ours.weights_ > 0.01) == np.sum(ref.weights_ > 0.01)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    st.integers(0, 2**31 - 1), st.sampled_from(COV_TYPES), st.sampled_from(PRIOR_TYPES),
    st.integers(1, 4),
)
@pytest.mark.slow
def test_lower_bound_never_decreases(seed, cov_type, prior_type, k):
    rng = np.random.RandomState(seed)
    X = rng.randn(40, 2) + rng.randint(0, 3, size=(40, 1)) * 4.0
    model = BayesianGaussianMixture(
        k, covariance_type=cov_type, weight_concentration_prior_type=prior_type,
        tol=0, max_iter=15, random_state=seed, init_params="random",
    )
    model._block_size = 16
    fit_quiet(model, X)
    lb = np.asarray(model.lower_bounds_)
    assert np.all(np.isfinite(lb))
    assert np.all(np.diff(lb) >= -1e-7 * np.maximum(1.0, np.abs(lb[1:])))
    np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1.0, rtol=1e-12)


def test_integer_weights_equal_repeated_rows():
    X = three_clusters(n_per=30)
    w = np.random.RandomState(0).randint(0, 3, size=len(X))
    kw = dict(n_components=3, tol=0, max_iter=8, init_params="random")
    resp = random_resp(len(X), 3)
    weighted = FromResp(**kw)
    weighted.init_resp = resp
    weighted._block_size = 25
    fit_quiet(weighted, X, sample_weight=w)
    repeated = ours_from_resp(kw, np.repeat(X, w, axis=0), np.repeat(resp, w, axis=0))
    for name in ["weights_", "means_", "covariances_", "covariance_prior_", "mean_prior_"]:
        assert_rel(getattr(weighted, name), getattr(repeated, name), 1e-9)
    assert weighted.lower_bound_ == pytest.approx(repeated.lower_bound_, rel=1e-9)


def test_float32_matches_float64():
    X = three_clusters(n_per=80)
    resp = random_resp(len(X), 3)
    kw = dict(n_components=3, tol=0, max_iter=10)
    m64 = ours_from_resp(kw, X, resp)
    m32 = ours_from_resp(dict(kw, dtype=np.float32), X.astype(np.float32), resp)
    for name in ["weights_", "means_", "covariances_"]:
        assert_rel(getattr(m32, name), getattr(m64, name), 1e-4)
    assert m32.lower_bound_ == pytest.approx(m64.lower_bound_, rel=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_to_dict_round_trip(prior_type):
    X = three_clusters(n_per=30)
    model = BayesianGaussianMixture(
        4, covariance_type="tied", weight_concentration_prior_type=prior_type,
        random_state=0,
    ).fit(X)
    buf = io.BytesIO()
    np.savez(buf, **model.to_dict())
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as data:
        loaded = BayesianGaussianMixture.from_dict(data)
    assert np.array_equal(loaded.weights_, model.weights_)
    assert np.array_equal(loaded.score_samples(X), model.score_samples(X))
    assert loaded.degrees_of_freedom_ == model.degrees_of_freedom_


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"weight_concentration_prior_type": "pitman_yor"}, "weight_concentration_prior_type"),
        ({"weight_concentration_prior": -1.0}, "weight_concentration_prior"),
        ({"degrees_of_freedom_prior": 1.0}, "degrees_of_freedom_prior"),
        ({"mean_prior": [0.0]}, "mean_prior"),
        ({"covariance_prior": np.ones(2)}, "covariance_prior"),
        ({"covariance_type": "diag", "covariance_prior": -np.ones(3)}, "covariance_prior"),
    ],
)
def test_bad_priors(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        BayesianGaussianMixture(2, **kwargs).fit(three_clusters(n_per=10))


def test_nan_rejected():
    X = three_clusters(n_per=10)
    X[3, 0] = np.nan
    with pytest.raises(FitError, match="NaN"):
        BayesianGaussianMixture(2).fit(X)
