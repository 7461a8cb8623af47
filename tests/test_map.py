"""Sufficient statistics and MAP adaptation of diarize.gmm.GaussianMixture.

Every expected value is computed in the test from first principles (posteriors from
predict_proba, the formulas of Reynolds, Quatieri and Dunn 2000, one EM step) or by
scikit-learn, never copied from the implementation's output.
"""

import warnings

import numpy as np
import pytest

from diarize.errors import NotFittedError, ParameterError
from diarize.gmm import GaussianMixture, MixtureStats, map_adapted_means

COV_TYPES = ["diag", "spherical", "tied", "full"]


def blobs(n_per=150, n_features=3, seed=0, shift=0.0):
    rng = np.random.RandomState(seed)
    centres = np.array([[0.0, 0.0, 0.0], [5.0, 5.0, 0.0], [0.0, 5.0, 5.0]])[:, :n_features]
    scales = [1.0, 0.6, 1.4]
    return np.vstack([c + shift + s * rng.randn(n_per, n_features)
                      for c, s in zip(centres, scales)])


def fitted(cov_type="diag", n_components=3, seed=0, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(n_components, covariance_type=cov_type, random_state=seed,
                               **kw).fit(blobs(seed=seed))


def prior_model(weights, means, variances):
    """A 'diag' model with exactly these parameters (fit with max_iter=0 = the init)."""
    weights, means, variances = (np.asarray(a, dtype=float) for a in (weights, means, variances))
    m = GaussianMixture(len(weights), covariance_type="diag", max_iter=0,
                        weights_init=weights, means_init=means, precisions_init=1.0 / variances)
    m.fit(np.vstack([means, means + 1.0]))  # data ignored: all three inits given
    np.testing.assert_array_equal(m.means_, means)
    return m


def expected_stats(model, X, w=None):
    R = model.predict_proba(X)
    if w is not None:
        R = R * np.asarray(w, dtype=float)[:, None]
    X = np.asarray(X, dtype=float)
    return R.sum(0), R.T @ X, R.T @ X ** 2


# --- sufficient statistics ----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("block", [None, 7])
def test_statistics_are_posterior_weighted_sums(cov_type, block):
    model = fitted(cov_type)
    model._block_size = block  # 7 rows: many blocks, the last one partial
    X = blobs(n_per=40, seed=5, shift=0.3)
    stats = model.sufficient_statistics(X)
    n, first, second = expected_stats(model, X)
    assert isinstance(stats, MixtureStats)
    np.testing.assert_allclose(stats.n, n, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(stats.first, first, rtol=1e-10, atol=1e-8)
    assert stats.n.sum() == pytest.approx(len(X), rel=1e-12)
    if cov_type in ("diag", "spherical"):
        assert stats.second.shape == first.shape
        np.testing.assert_allclose(stats.second, second, rtol=1e-10, atol=1e-8)
    else:
        assert stats.second is None


@pytest.mark.parametrize("cov_type", ["diag", "spherical", "full"])
def test_statistics_with_sample_weight(cov_type):
    model = fitted(cov_type)
    model._block_size = 7
    X = blobs(n_per=30, seed=6)
    rng = np.random.RandomState(1)
    w = rng.uniform(0.0, 3.0, len(X))
    stats = model.sufficient_statistics(X, sample_weight=w)
    n, first, second = expected_stats(model, X, w)
    np.testing.assert_allclose(stats.n, n, rtol=1e-10)
    np.testing.assert_allclose(stats.first, first, rtol=1e-10, atol=1e-8)
    if stats.second is not None:
        np.testing.assert_allclose(stats.second, second, rtol=1e-10, atol=1e-8)

    # Integer weights are repetitions of rows.
    k = rng.randint(0, 4, len(X))
    k[0] = 1
    a = model.sufficient_statistics(X, sample_weight=k)
    b = model.sufficient_statistics(np.repeat(X, k, axis=0))
    np.testing.assert_allclose(a.n, b.n, rtol=1e-10)
    np.testing.assert_allclose(a.first, b.first, rtol=1e-10, atol=1e-8)


def test_statistics_float32_model():
    model = fitted("diag", dtype=np.float32)
    model._block_size = 7
    X = blobs(n_per=40, seed=7).astype(np.float32)
    stats = model.sufficient_statistics(X)
    assert stats.n.dtype == np.float64 and stats.first.dtype == np.float64
    n, first, second = expected_stats(model, X)
    np.testing.assert_allclose(stats.n, n, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(stats.first, first, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(stats.second, second, rtol=1e-4, atol=1e-3)
    # And against the same model in float64 arithmetic.
    m64 = GaussianMixture.from_dict({**model.to_dict(), "param:dtype": "float64"})
    ref = m64.sufficient_statistics(X.astype(np.float64))
    np.testing.assert_allclose(stats.first, ref.first, rtol=1e-4, atol=1e-3)


def test_statistics_add_up_over_a_split():
    model = fitted("diag")
    X = blobs(n_per=50, seed=8)
    whole = model.sufficient_statistics(X)
    parts = [model.sufficient_statistics(X[a:b]) for a, b in [(0, 17), (17, 90), (90, len(X))]]
    total = parts[0] + parts[1] + parts[2]
    assert isinstance(total, MixtureStats)
    np.testing.assert_allclose(total.n, whole.n, rtol=1e-10)
    np.testing.assert_allclose(total.first, whole.first, rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(total.second, whole.second, rtol=1e-10, atol=1e-8)


def test_stats_addition_without_second_order():
    a = MixtureStats(np.array([1.0, 2.0]), np.ones((2, 3)), np.ones((2, 3)))
    b = MixtureStats(np.array([0.5, 0.0]), np.full((2, 3), 2.0), None)
    c = a + b
    np.testing.assert_array_equal(c.n, [1.5, 2.0])
    np.testing.assert_array_equal(c.first, np.full((2, 3), 3.0))
    assert c.second is None
    assert (b + a).second is None
    # the operands are not changed
    np.testing.assert_array_equal(a.n, [1.0, 2.0])
    np.testing.assert_array_equal(b.first, np.full((2, 3), 2.0))


def test_statistics_unfitted_raises():
    with pytest.raises(NotFittedError):
        GaussianMixture(2).sufficient_statistics(np.zeros((4, 2)))


# --- MAP means: the formula ---------------------------------------------------------


def test_map_means_hand_example():
    # Two far-apart 1-D components: posteriors are one-hot to within 1e-40.
    prior = prior_model([0.5, 0.5], [[-10.0], [10.0]], [[1.0], [1.0]])
    X = np.array([[-9.0], [-11.0], [-10.5], [10.0], [12.0]])
    r = 2.0
    adapted = prior.map_adapt(X, relevance_factor=r)
    # Reynolds et al. (2000): alpha = n / (n + r); mu' = alpha E[x] + (1 - alpha) mu.
    a0, a1 = 3 / (3 + r), 2 / (2 + r)
    e0, e1 = (-9.0 - 11.0 - 10.5) / 3, (10.0 + 12.0) / 2
    expected = [[a0 * e0 + (1 - a0) * -10.0], [a1 * e1 + (1 - a1) * 10.0]]
    np.testing.assert_allclose(adapted.means_, expected, rtol=1e-12)
    np.testing.assert_allclose(adapted.means_, [[-10.1], [10.5]], rtol=1e-12)  # by hand


def test_map_adapted_means_vectorised_over_leading_axes():
    rng = np.random.RandomState(0)
    means = rng.randn(4, 3)
    n = rng.uniform(0, 20, (2, 5, 4))
    n[0, 0] = 0.0  # no data at all: the prior
    first = rng.randn(2, 5, 4, 3) * n[..., None]
    r = 3.5
    out = map_adapted_means(means, n, first, relevance_factor=r)
    assert out.shape == (2, 5, 4, 3)
    for i in range(2):
        for j in range(5):
            for c in range(4):
                alpha = n[i, j, c] / (n[i, j, c] + r)
                ex = first[i, j, c] / n[i, j, c] if n[i, j, c] > 0 else 0.0
                np.testing.assert_allclose(out[i, j, c], alpha * ex + (1 - alpha) * means[c],
                                           rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out[0, 0], means, rtol=1e-15)
    # r = 0: the data means (maximum likelihood).
    out0 = map_adapted_means(means, n[1], first[1], relevance_factor=0.0)
    np.testing.assert_allclose(out0, first[1] / n[1][..., None], rtol=1e-12)


# --- MAP adaptation against EM ------------------------------------------------------


def em_step_from(prior, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(prior.n_components, covariance_type=prior.covariance_type,
                               weights_init=prior.weights_, means_init=prior.means_,
                               precisions_init=prior.precisions_, max_iter=1,
                               reg_covar=prior.reg_covar, **kw).fit(X)


@pytest.mark.parametrize("block", [None, 7])
def test_zero_relevance_is_one_em_step(block):
    prior = fitted("diag")
    prior._block_size = block
    X = blobs(n_per=60, seed=3, shift=0.7)
    adapted = prior.map_adapt(X, relevance_factor=0.0, params="wmv")
    em = em_step_from(prior, X)
    np.testing.assert_allclose(adapted.weights_, em.weights_, rtol=1e-9)
    np.testing.assert_allclose(adapted.means_, em.means_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(adapted.covariances_, em.covariances_, rtol=1e-8)
    np.testing.assert_allclose(adapted.score_samples(X), em.score_samples(X), rtol=1e-8)


def test_zero_relevance_matches_sklearn_em_step():
    sk_mixture = pytest.importorskip("sklearn.mixture")
    prior = fitted("diag")
    X = blobs(n_per=60, seed=4, shift=-0.5)
    w = np.random.RandomState(2).uniform(0.5, 2.0, len(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sk_mixture.GaussianMixture(
            3, covariance_type="diag", weights_init=prior.weights_, means_init=prior.means_,
            precisions_init=prior.precisions_, max_iter=1, reg_covar=prior.reg_covar).fit(X)
    adapted = prior.map_adapt(X, relevance_factor=0, params="wmv")
    np.testing.assert_allclose(adapted.weights_, ref.weights_, rtol=1e-9)
    np.testing.assert_allclose(adapted.means_, ref.means_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(adapted.covariances_, ref.covariances_, rtol=1e-8)
    # Weighted frames: integer weights are repeated rows, so compare with repetition.
    k = np.maximum(1, np.round(w).astype(int))
    a = prior.map_adapt(X, relevance_factor=0, params="wmv", sample_weight=k)
    b = em_step_from(prior, np.repeat(X, k, axis=0))
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=1e-9)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-8)


@pytest.mark.parametrize("cov_type", ["full", "tied", "spherical"])
def test_zero_relevance_means_and_weights_other_covariances(cov_type):
    prior = fitted(cov_type)
    X = blobs(n_per=50, seed=9, shift=0.4)
    adapted = prior.map_adapt(X, relevance_factor=0.0, params="wm")
    em = em_step_from(prior, X)
    np.testing.assert_allclose(adapted.weights_, em.weights_, rtol=1e-9)
    np.testing.assert_allclose(adapted.means_, em.means_, rtol=1e-9, atol=1e-9)
    # covariances are the prior's
    np.testing.assert_array_equal(adapted.covariances_, prior.covariances_)
    np.testing.assert_array_equal(adapted.precisions_cholesky_, prior.precisions_cholesky_)


def test_weights_and_variances_by_hand():
    prior = prior_model([0.25, 0.75], [[-10.0, 0.0], [10.0, 0.0]], [[1.0, 2.0], [1.0, 4.0]])
    X = np.array([[-9.0, 1.0], [-11.0, -1.0], [-10.5, 2.0], [10.0, 0.5], [12.0, -0.5]])
    r = 2.0
    adapted = prior.map_adapt(X, relevance_factor=r, params="wmv")
    groups = [X[:3], X[3:]]
    n = np.array([3.0, 2.0])
    alpha = n / (n + r)
    w = alpha * n / n.sum() + (1 - alpha) * prior.weights_
    np.testing.assert_allclose(adapted.weights_, w / w.sum(), rtol=1e-10)
    for c, x in enumerate(groups):
        a = alpha[c]
        mu = a * x.mean(0) + (1 - a) * prior.means_[c]
        ex2 = (x ** 2).mean(0) + prior.reg_covar
        var = a * ex2 + (1 - a) * (prior.covariances_[c] + prior.means_[c] ** 2) - mu ** 2
        np.testing.assert_allclose(adapted.means_[c], mu, rtol=1e-10)
        np.testing.assert_allclose(adapted.covariances_[c], var, rtol=1e-9)
    # the adapted model's precisions agree with its covariances
    np.testing.assert_allclose(adapted.precisions_, 1.0 / adapted.covariances_, rtol=1e-10)


def test_variance_only_adaptation_is_refused():
    # Reynolds' variance update is about the adapted means; alone it could collapse.
    prior = prior_model([1.0], [[5.0]], [[1.0]])
    X = 3.0 + 0.1 * np.random.RandomState(0).randn(200, 1)
    with pytest.raises(ParameterError):
        prior.map_adapt(X, relevance_factor=0.0, params="v")


def test_zero_relevance_component_without_data_keeps_the_prior():
    prior = prior_model([0.5, 0.5], [[-100.0], [100.0]], [[1.0], [1.0]])
    X = np.array([[99.0], [101.0]])
    assert prior.sufficient_statistics(X).n[0] == 0.0  # exp(-5000) underflows
    em = em_step_from(prior, X)
    np.testing.assert_allclose(em.means_[0], [-100.0])  # EM keeps a dead component
    adapted = prior.map_adapt(X, relevance_factor=0.0, params="mv")
    np.testing.assert_allclose(adapted.means_, em.means_, rtol=1e-9)
    np.testing.assert_allclose(adapted.covariances_, em.covariances_, rtol=1e-6)


@pytest.mark.parametrize("params", ["m", "wm", "wmv", "mv", "w"])
def test_huge_relevance_keeps_the_prior(params):
    prior = fitted("diag")
    X = blobs(n_per=40, seed=11, shift=2.0)
    adapted = prior.map_adapt(X, relevance_factor=1e12, params=params)
    np.testing.assert_allclose(adapted.weights_, prior.weights_, rtol=1e-8)
    np.testing.assert_allclose(adapted.means_, prior.means_, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(adapted.covariances_, prior.covariances_, rtol=1e-6)


def test_relevance_interpolates_between_prior_and_data():
    prior = fitted("diag")
    X = blobs(n_per=40, seed=12, shift=1.5)
    ml = prior.map_adapt(X, relevance_factor=0.0).means_
    dist = [np.abs(prior.map_adapt(X, relevance_factor=r).means_ - ml).sum()
            for r in [0.0, 1.0, 10.0, 100.0, 1000.0]]
    assert dist[0] == pytest.approx(0.0, abs=1e-9)
    assert all(a < b for a, b in zip(dist, dist[1:]))


# --- MAP adaptation: what it must not do --------------------------------------------


def test_original_model_is_not_modified_and_not_aliased():
    prior = fitted("diag")
    before = {k: np.copy(getattr(prior, k)) for k in
              ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_")}
    X = blobs(n_per=40, seed=13, shift=1.0)
    for params in ["m", "w", "mv", "wmv"]:
        adapted = prior.map_adapt(X, params=params, relevance_factor=4.0)
        assert adapted is not prior
        for k in before:  # writing into the copy must not reach the prior
            getattr(adapted, k)[...] = 123.0
        for k, v in before.items():
            np.testing.assert_array_equal(getattr(prior, k), v)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_means_only_adaptation_keeps_weights_and_covariances(cov_type):
    prior = fitted(cov_type)
    X = blobs(n_per=40, seed=14, shift=1.0)
    adapted = prior.map_adapt(X, params="m")
    np.testing.assert_array_equal(adapted.weights_, prior.weights_)
    np.testing.assert_array_equal(adapted.covariances_, prior.covariances_)
    np.testing.assert_array_equal(adapted.precisions_cholesky_, prior.precisions_cholesky_)
    assert not np.allclose(adapted.means_, prior.means_)
    # exactly the formula from the statistics
    stats = prior.sufficient_statistics(X)
    expected = (stats.first + 16.0 * prior.means_) / (stats.n + 16.0)[:, None]
    np.testing.assert_allclose(adapted.means_, expected, rtol=1e-10)


def test_map_adapt_equals_map_adapt_stats_of_accumulated_parts():
    prior = fitted("diag")
    X = blobs(n_per=40, seed=15, shift=0.5)
    stats = prior.sufficient_statistics(X[:50]) + prior.sufficient_statistics(X[50:])
    a = prior.map_adapt(X, relevance_factor=8.0, params="wmv")
    b = prior.map_adapt_stats(stats, relevance_factor=8.0, params="wmv")
    for k in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(a, k), getattr(b, k), rtol=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_adapted_model_is_usable_and_round_trips(cov_type):
    prior = fitted(cov_type)
    X = blobs(n_per=30, seed=16, shift=0.8)
    params = "wmv" if cov_type == "diag" else "wm"
    adapted = prior.map_adapt(X, params=params)
    assert adapted.covariance_type == cov_type
    ll = adapted.score_samples(X)
    assert ll.shape == (len(X),) and np.all(np.isfinite(ll))
    labels = adapted.predict(X)
    assert labels.shape == (len(X),) and labels.min() >= 0 and labels.max() < 3
    proba = adapted.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-12)
    # the log density agrees with a direct evaluation of the adapted parameters
    from scipy.stats import multivariate_normal
    cov = adapted.covariances_
    d = X.shape[1]
    dens = np.zeros(len(X))
    for c in range(3):
        C = {"diag": lambda: np.diag(cov[c]), "spherical": lambda: np.eye(d) * cov[c],
             "tied": lambda: cov, "full": lambda: cov[c]}[cov_type]()
        dens += adapted.weights_[c] * multivariate_normal(adapted.means_[c], C).pdf(X)
    np.testing.assert_allclose(ll, np.log(dens), rtol=1e-8)
    again = GaussianMixture.from_dict(adapted.to_dict())
    for k in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(again, k), getattr(adapted, k))
    np.testing.assert_allclose(again.score_samples(X), ll, rtol=1e-12)
    # saved through npz (no pickle) as well
    import io
    buf = io.BytesIO()
    np.savez(buf, **adapted.to_dict())
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as f:
        loaded = GaussianMixture.from_dict(f)
    np.testing.assert_array_equal(loaded.means_, adapted.means_)


def test_adaptation_moves_towards_shifted_data():
    prior = fitted("diag")
    X = blobs(n_per=80, seed=17, shift=np.array([1.0, -0.8, 0.6]))
    adapted = prior.map_adapt(X, relevance_factor=16.0, params="m")
    stats = prior.sufficient_statistics(X)
    data_means = stats.first / stats.n[:, None]
    for c in range(3):
        assert stats.n[c] > 20  # every component sees data
        assert (np.linalg.norm(adapted.means_[c] - data_means[c])
                < np.linalg.norm(prior.means_[c] - data_means[c]))
    assert adapted.score(X) > prior.score(X) + 0.1
    assert prior.map_adapt(X, params="wmv").score(X) > prior.score(X) + 0.1


# --- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("params", ["x", "", "mx", "M"])
def test_bad_params_raise(params):
    prior = fitted("diag")
    with pytest.raises(ParameterError):
        prior.map_adapt(blobs(n_per=5), params=params)


@pytest.mark.parametrize("r", [-1.0, -1e-9, float("nan"), float("inf")])
def test_bad_relevance_raises(r):
    prior = fitted("diag")
    with pytest.raises(ParameterError):
        prior.map_adapt(blobs(n_per=5), relevance_factor=r)


@pytest.mark.parametrize("cov_type", ["full", "tied", "spherical"])
def test_variance_adaptation_needs_diag(cov_type):
    prior = fitted(cov_type)
    with pytest.raises(ParameterError):
        prior.map_adapt(blobs(n_per=5), params="mv")
    prior.map_adapt(blobs(n_per=5), params="wm")  # but means and weights are fine


def test_unfitted_model_raises():
    stats = MixtureStats(np.ones(2), np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(NotFittedError):
        GaussianMixture(2).map_adapt_stats(stats)
    with pytest.raises(NotFittedError):
        GaussianMixture(2).map_adapt(np.zeros((5, 3)))


def test_stats_of_wrong_shape_raise():
    prior = fitted("diag")
    with pytest.raises(ParameterError):
        prior.map_adapt_stats(MixtureStats(np.ones(4), np.zeros((4, 3)), np.zeros((4, 3))))
    full = fitted("full")
    stats = full.sufficient_statistics(blobs(n_per=5))
    assert stats.second is None
    with pytest.raises(ParameterError):  # no second-order statistics for variances
        prior.map_adapt_stats(stats, params="mv")
