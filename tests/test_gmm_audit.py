"""What an audit of the GMM engine against scikit-learn found, kept fixed: weights scaled
alike fit alike in float32 too; non-finite settings are refused; a fit whose likelihood
overflows the working dtype is an error, not a NaN model; score of no rows is a clear
error; a damaged saved model is refused; MAP statistics of the wrong shape are refused."""

from __future__ import annotations

import numpy as np
import pytest

from diarize.errors import FitError, ModelError, ParameterError
from diarize.gmm import BayesianGaussianMixture, GaussianMixture


def _data(n=4000, seed=0):
    rng = np.random.RandomState(seed)
    return rng.randn(n, 4) + rng.randint(0, 4, size=(n, 1)) * 3.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weights_scaled_alike_give_the_same_fit(dtype):
    X = _data()
    rng = np.random.RandomState(1)
    init = dict(means_init=X[rng.choice(len(X), 8, replace=False)], weights_init=np.ones(8) / 8,
                precisions_init=np.ones((8, 4)), max_iter=15, tol=0, dtype=dtype)
    with pytest.warns(Warning):  # tol=0 never converges
        a = GaussianMixture(8, **init).fit(X)
    for w in (1.0 / len(X), 1e-8):
        with pytest.warns(Warning):  # tol=0 never converges
            b = GaussianMixture(8, **init).fit(X, sample_weight=np.full(len(X), w))
        tol = 1e-9 if dtype is np.float64 else 1e-3
        np.testing.assert_allclose(b.means_, a.means_, atol=tol)
        np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=tol)


@pytest.mark.parametrize("make", [
    lambda X: GaussianMixture(3, means_init=np.where(np.eye(3, 4) > 0, np.nan, X[:3])),
    lambda X: GaussianMixture(3, precisions_init=np.full((3, 4), np.inf)),
    lambda X: GaussianMixture(3, reg_covar=np.inf),
    lambda X: BayesianGaussianMixture(3, weight_concentration_prior=np.inf),
    lambda X: BayesianGaussianMixture(3, mean_precision_prior=np.inf),
    lambda X: BayesianGaussianMixture(3, mean_prior=[np.inf, 0, 0, 0]),
    lambda X: BayesianGaussianMixture(3, covariance_type="diag", covariance_prior=[np.inf, 1, 1, 1]),
])
def test_non_finite_settings_are_refused(make):
    X = _data(300)
    with pytest.raises(ParameterError):
        make(X).fit(X)


# numpy's overflow warnings come before the error, as the float32 arithmetic overflows
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_likelihood_the_working_dtype_cannot_hold_is_an_error():
    X = _data(500) * 3e17
    with pytest.raises(FitError, match="not finite"):
        GaussianMixture(3, random_state=0, dtype=np.float32, reg_covar=1e-6 * 9e34).fit(X)
    ok = GaussianMixture(3, random_state=0, dtype=np.float64, reg_covar=1e-6 * 9e34).fit(X)
    assert np.isfinite(ok.lower_bound_)


def test_score_of_no_rows_is_a_clear_error():
    m = GaussianMixture(2, random_state=0).fit(_data(200))
    for f in (m.score, m.bic, m.aic):
        with pytest.raises(ParameterError, match="at least one sample"):
            f(np.zeros((0, 4)))


@pytest.mark.parametrize("damage", [
    lambda s: s.update({"attr:means_": np.float64(1.0)}),
    lambda s: s.update({"attr:weights_": np.ones(3) / 3}),
    lambda s: s.update({"attr:precisions_cholesky_": -np.abs(s["attr:precisions_cholesky_"])}),
    lambda s: s.update({"attr:means_": np.full_like(s["attr:means_"], np.nan)}),
    lambda s: s.update({"param:n_components": np.int64(5)}),
])
def test_a_damaged_saved_model_is_refused(damage):
    m = GaussianMixture(2, random_state=0).fit(_data(200))
    state = dict(m.to_dict())
    GaussianMixture.from_dict(dict(state))  # as saved: fine
    damage(state)
    with pytest.raises(ModelError, match="damaged"):
        GaussianMixture.from_dict(state)


def test_map_statistics_of_the_wrong_shape_are_refused():
    m = GaussianMixture(2, random_state=0).fit(_data(200))
    stats = m.sufficient_statistics(_data(50, seed=3))
    bad = type(stats)(n=stats.n, first=stats.first[:, :2], second=stats.second)
    with pytest.raises(ParameterError, match="stats.first"):
        m.map_adapt_stats(bad)
