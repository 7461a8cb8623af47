"""Maximum-likelihood Gaussian mixture, with MAP adaptation from a prior model (a UBM)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from diarize.errors import FitError, ParameterError

from ._base import BaseMixture, _Resp
from ._kernels import (_PassResult, _covariances_from_precisions, _gaussian_from_stats,
                       _precision_cholesky, _precision_cholesky_from_precisions,
                       _precisions_from_cholesky)


class GaussianMixture(BaseMixture):
    """Gaussian mixture fitted by maximum-likelihood EM (blockwise, fast 'diag').

    Parameters mirror :class:`sklearn.mixture.GaussianMixture`.

    Parameters
    ----------
    n_components : int, default=1
    covariance_type : {'diag', 'spherical', 'tied', 'full'}, default='diag'
    tol : float, default=1e-3
        Convergence threshold on the change of the mean log-likelihood.
    reg_covar : float, default=1e-6
        Added to every variance (diagonal of every covariance).
    max_iter : int, default=100
    n_init : int, default=1
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
    weights_init : array of shape (n_components,), optional
    means_init : array of shape (n_components, n_features), optional
    precisions_init : array, optional
        Shape (K,) spherical, (K, D) diag, (D, D) tied, (K, D, D) full.
    random_state : int, RandomState or None
    warm_start : bool, default=False
    dtype : {np.float64, np.float32}, default=np.float64
        Precision of the per-frame arithmetic.  Parameters and statistics are
        always kept in float64.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_, precisions_, precisions_cholesky_ : ndarray
        Shapes as for ``precisions_init``.
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Weighted mean log-likelihood of the training data at the start of the
        last iteration (scikit-learn's convention).
    lower_bounds_ : list of float
        ``lower_bound_`` after each iteration of the best run.
    """

    _fitted_names = (
        "weights_", "means_", "covariances_", "precisions_cholesky_", "converged_",
        "n_iter_", "lower_bound_", "lower_bounds_",
    )

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "diag",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        weights_init: ArrayLike | None = None,
        means_init: ArrayLike | None = None,
        precisions_init: ArrayLike | None = None,
        random_state: int | np.random.RandomState | None = None,
        warm_start: bool = False,
        dtype: DTypeLike = np.float64,
    ) -> None:
        super().__init__(
            n_components,
            covariance_type=covariance_type,
            tol=tol,
            reg_covar=reg_covar,
            max_iter=max_iter,
            n_init=n_init,
            init_params=init_params,
            random_state=random_state,
            warm_start=warm_start,
            dtype=dtype,
        )
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init

    def _check_parameters(self, X: NDArray[np.floating],
                          sample_weight: NDArray[np.float64] | None) -> None:
        n_features = X.shape[1]
        k = self.n_components
        if self.weights_init is not None:
            w = np.asarray(self.weights_init, dtype=np.float64)
            if w.shape != (k,):
                raise ParameterError(f"weights_init must have shape ({k},), got {w.shape}.")
            if np.any(w < 0) or np.any(w > 1) or not np.isclose(w.sum(), 1.0, rtol=0, atol=1e-6):
                raise ParameterError(
                    "weights_init must be in [0, 1] and sum to 1; normalise it with "
                    "w / w.sum()."
                )
        if self.means_init is not None:
            m = np.asarray(self.means_init, dtype=np.float64)
            if m.shape != (k, n_features):
                raise ParameterError(
                    f"means_init must have shape ({k}, {n_features}), got {m.shape}."
                )
            if not np.all(np.isfinite(m)):
                raise ParameterError("means_init must be finite (it holds NaN or infinity).")
        if self.precisions_init is not None:
            p = np.asarray(self.precisions_init, dtype=np.float64)
            shape = {
                "spherical": (k,),
                "diag": (k, n_features),
                "tied": (n_features, n_features),
                "full": (k, n_features, n_features),
            }[self.covariance_type]
            if p.shape != shape:
                raise ParameterError(
                    f"precisions_init for covariance_type={self.covariance_type!r} must "
                    f"have shape {shape}, got {p.shape}."
                )
            if not np.all(np.isfinite(p)):
                raise ParameterError("precisions_init must be finite (it holds NaN or infinity).")
            if self.covariance_type in ("diag", "spherical"):
                if np.any(p <= 0):
                    raise ParameterError("precisions_init must be strictly positive.")
            else:
                mats = p[None] if p.ndim == 2 else p
                for mat in mats:
                    if not np.allclose(mat, mat.T) or np.any(np.linalg.eigvalsh(mat) <= 0):
                        raise ParameterError(
                            "precisions_init must be symmetric positive-definite."
                        )

    def _initialize_parameters(self, X: NDArray[np.floating], random_state: np.random.RandomState,
                               sample_weight: NDArray[np.float64] | None) -> None:
        if (
            self.weights_init is not None
            and self.means_init is not None
            and self.precisions_init is not None
        ):
            self._initialize(X, None, sample_weight)
        else:
            super()._initialize_parameters(X, random_state, sample_weight)

    def _initialize(self, X: NDArray[np.floating], resp: _Resp | None,
                    sample_weight: NDArray[np.float64] | None = None) -> None:
        """Set the initial parameters from responsibilities and the *_init arrays.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
        resp : array of shape (n_samples, n_components), or None when all of
            weights_init, means_init and precisions_init are given.
        sample_weight : array of shape (n_samples,), optional
        """
        eps = self._count_eps()
        weights: NDArray[np.float64] | None = None
        means: NDArray[np.float64] | None = None
        covariances: NDArray[np.float64] | None = None
        if resp is not None:
            shift = X.mean(axis=0, dtype=np.float64)
            res = self._stats_from_resp(X, resp, sample_weight, shift)
            nk, means, covariances, _ = _gaussian_from_stats(
                res, self.reg_covar, self.covariance_type, eps
            )
            weights = nk / nk.sum()
        if self.weights_init is not None:
            weights = np.asarray(self.weights_init, dtype=np.float64)
        if self.means_init is not None:
            means = np.asarray(self.means_init, dtype=np.float64)
        self.weights_ = np.array(weights, dtype=np.float64)
        self.means_ = np.array(means, dtype=np.float64)
        if self.precisions_init is None:
            # resp is None only when every *_init is given (_initialize_parameters).
            assert covariances is not None
            self.covariances_ = covariances
            self.precisions_cholesky_ = _precision_cholesky(
                covariances, self.covariance_type
            )
        else:
            prec = np.asarray(self.precisions_init, dtype=np.float64)
            self.precisions_cholesky_ = _precision_cholesky_from_precisions(
                prec, self.covariance_type
            )
            self.covariances_ = _covariances_from_precisions(prec, self.covariance_type)

    def _estimate_log_weights(self) -> NDArray[np.float64]:
        with np.errstate(divide="ignore"):
            return np.log(self.weights_)

    def _m_step(self, res: _PassResult) -> None:
        eps = self._count_eps()
        nk, means, cov, nk_raw = _gaussian_from_stats(
            res, self.reg_covar, self.covariance_type, eps
        )
        dead = ~(nk_raw >= 10.0 * eps * max(res.weight_sum, 1e-300))
        ctype = self.covariance_type
        if ctype == "full":
            # A covariance that rounding made indefinite counts as dead too.
            prec_chol = np.empty_like(cov)
            for k in range(self.n_components):
                if dead[k]:
                    continue
                try:
                    prec_chol[k] = _precision_cholesky(cov[k : k + 1], "full")[0]
                except FitError:
                    dead[k] = True
        if dead.any():
            means[dead] = self.means_[dead]
            if ctype != "tied":
                cov[dead] = self.covariances_[dead]
        self.weights_ = nk / nk.sum()
        self.means_ = means
        self.covariances_ = cov
        if ctype == "full":
            if dead.any():
                prec_chol[dead] = self.precisions_cholesky_[dead]
            self.precisions_cholesky_ = prec_chol
        else:
            self.precisions_cholesky_ = _precision_cholesky(cov, ctype)

    def _compute_lower_bound(self, res: _PassResult) -> float:
        return res.lse_sum / res.weight_sum

    def _get_parameters(self) -> tuple[NDArray[np.float64], ...]:
        return (
            self.weights_.copy(),
            self.means_.copy(),
            self.covariances_.copy(),
            self.precisions_cholesky_.copy(),
        )

    def _set_parameters(self, params: tuple[Any, ...]) -> None:
        self.weights_, self.means_, self.covariances_, self.precisions_cholesky_ = params
        self.precisions_ = _precisions_from_cholesky(
            self.precisions_cholesky_, self.covariance_type
        )

    def _n_parameters(self) -> int:
        """Number of free parameters of the model (for BIC / AIC)."""
        n_features = self.means_.shape[1]
        k = self.n_components
        cov_params = {
            "full": k * n_features * (n_features + 1) / 2.0,
            "diag": k * n_features,
            "tied": n_features * (n_features + 1) / 2.0,
            "spherical": k,
        }[self.covariance_type]
        return int(cov_params + n_features * k + k - 1)

    def bic(self, X: ArrayLike) -> float:
        """Bayesian information criterion of the model on X (lower is better).

        Parameters
        ----------
        X : array of shape (n_samples, n_features)

        Returns
        -------
        bic : float
        """
        n = np.shape(X)[0]
        return -2.0 * self.score(X) * n + self._n_parameters() * math.log(n)

    # -- MAP adaptation (Reynolds, Quatieri and Dunn, 2000) -------------------

    def sufficient_statistics(self, X: ArrayLike, *,
                              sample_weight: ArrayLike | None = None) -> MixtureStats:
        """Zeroth, first and second-order statistics of X under this model's posteriors.

        These are what MAP adaptation needs, and they add up: the statistics of two
        sets of frames are the sums of their statistics, so a caller can accumulate
        them per segment and combine segments freely.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        sample_weight : array-like of shape (n_samples,), optional, keyword-only

        Returns
        -------
        MixtureStats
            ``n`` (n_components,), ``first`` (n_components, n_features) = sum of
            gamma_k(x) x, ``second`` (n_components, n_features) = sum of
            gamma_k(x) x**2, for 'diag' and 'spherical' models; None otherwise.
        """
        X = self._validate_X(X, fitting=False)
        w = self._validate_sample_weight(sample_weight, X.shape[0])
        res = self._statistics_pass(X, w)
        shift = res.shift
        first = res.s1 + res.nk[:, None] * shift
        second = None
        if self.covariance_type in ("diag", "spherical"):
            # sum g (x - s)^2 + 2 s sum g (x - s) + s^2 sum g = sum g x^2
            second = res.s2 + 2.0 * shift * res.s1 + res.nk[:, None] * shift ** 2
        return MixtureStats(res.nk.copy(), first, second)

    def map_adapt(self, X: ArrayLike, *, relevance_factor: float = 16.0, params: str = "m",
                  sample_weight: ArrayLike | None = None) -> GaussianMixture:
        """A copy of this model MAP-adapted to X, this model being the prior (a UBM).

        One step of Reynolds et al. (2000): posteriors under this model, then each
        component's parameters move towards the data's by ``alpha_k = n_k / (n_k + r)``,
        so components that see little data stay close to the prior.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        relevance_factor : float, default=16.0, keyword-only
            ``r`` above: how many frames a component must see before the data weigh
            as much as the prior. 0 gives the maximum-likelihood update of one EM step.
        params : str, default='m', keyword-only
            Which parameters to adapt: any of 'w' (weights), 'm' (means), 'v'
            (variances, 'diag' models only).
        sample_weight : array-like of shape (n_samples,), optional, keyword-only

        Returns
        -------
        GaussianMixture
            A new fitted model; this one is not changed.
        """
        stats = self.sufficient_statistics(X, sample_weight=sample_weight)
        return self.map_adapt_stats(stats, relevance_factor=relevance_factor, params=params)

    def map_adapt_stats(self, stats: MixtureStats, *, relevance_factor: float = 16.0,
                        params: str = "m") -> GaussianMixture:
        """:meth:`map_adapt` from statistics already accumulated (:meth:`sufficient_statistics`).

        Parameters
        ----------
        stats : MixtureStats
        relevance_factor : float, keyword-only
        params : str, keyword-only

        Returns
        -------
        GaussianMixture
        """
        self._check_is_fitted()
        r = float(relevance_factor)
        if not r >= 0.0 or not math.isfinite(r):
            raise ParameterError(f"relevance_factor must be a finite number >= 0, got {relevance_factor!r}.")
        if not params or set(params) - set("wmv"):
            raise ParameterError(f"params must be made of 'w', 'm' and 'v', got {params!r}.")
        if "v" in params and "m" not in params:
            raise ParameterError(
                "Variance adaptation needs the means adapted too (Reynolds' update is about "
                "the adapted means): use params='mv' or 'wmv'."
            )
        if "v" in params and self.covariance_type != "diag":
            raise ParameterError(
                "Variance adaptation needs covariance_type='diag'; adapt means and weights "
                f"(params='wm') of a {self.covariance_type!r} model instead."
            )
        n = np.asarray(stats.n, dtype=np.float64)
        if n.shape != (self.n_components,):
            raise ParameterError(f"stats.n must have shape ({self.n_components},), got {n.shape}.")
        first_shape = np.shape(stats.first)
        if first_shape != np.shape(self.means_):
            raise ParameterError(f"stats.first must have shape {np.shape(self.means_)} (the "
                                 f"means'), got {first_shape}.")
        tiny = np.finfo(np.float64).tiny
        alpha = n / np.maximum(n + r, tiny)
        means = self.means_
        if "m" in params:
            means = map_adapted_means(self.means_, n, stats.first, relevance_factor=r)
        weights = self.weights_
        if "w" in params:
            total = max(float(n.sum()), tiny)
            weights = alpha * n / total + (1.0 - alpha) * self.weights_
            weights = weights / weights.sum()
        covariances = self.covariances_
        if "v" in params:
            if stats.second is None:
                raise ParameterError("stats.second is needed to adapt variances.")
            ex2 = stats.second / np.maximum(n, tiny)[:, None]
            a = alpha[:, None]
            # reg_covar goes with the data part only: the prior's variances already have it.
            covariances = (a * (ex2 + self.reg_covar)
                           + (1.0 - a) * (self.covariances_ + self.means_ ** 2) - means ** 2)
            covariances = np.maximum(covariances, self.reg_covar)
        model = GaussianMixture(**self.get_params())
        model._set_parameters((
            np.array(weights, dtype=np.float64),
            np.array(means, dtype=np.float64),
            np.array(covariances, dtype=np.float64),
            _precision_cholesky(np.asarray(covariances, dtype=np.float64), self.covariance_type)
            if covariances is not self.covariances_ else self.precisions_cholesky_.copy(),
        ))
        model.converged_ = True
        model.n_iter_ = 0
        model.lower_bound_ = getattr(self, "lower_bound_", -np.inf)
        model.lower_bounds_ = []
        model.n_features_in_ = self.means_.shape[1]
        return model

    def aic(self, X: ArrayLike) -> float:
        """Akaike information criterion of the model on X (lower is better).

        Parameters
        ----------
        X : array of shape (n_samples, n_features)

        Returns
        -------
        aic : float
        """
        n = np.shape(X)[0]
        return -2.0 * self.score(X) * n + 2.0 * self._n_parameters()


class MixtureStats:
    """Sufficient statistics of frames under a mixture's posteriors (they add up).

    Attributes
    ----------
    n : ndarray of shape (n_components,)
        Soft counts, sum of gamma_k(x).
    first : ndarray of shape (n_components, n_features)
        Sum of gamma_k(x) x.
    second : ndarray of shape (n_components, n_features) or None
        Sum of gamma_k(x) x**2 ('diag' and 'spherical' models).
    """

    __slots__ = ("n", "first", "second")

    def __init__(self, n: NDArray[np.float64], first: NDArray[np.float64],
                 second: NDArray[np.float64] | None = None) -> None:
        self.n = n
        self.first = first
        self.second = second

    def __add__(self, other: MixtureStats) -> MixtureStats:
        second = None if self.second is None or other.second is None else self.second + other.second
        return MixtureStats(self.n + other.n, self.first + other.first, second)


def map_adapted_means(means: NDArray[np.float64], n: ArrayLike, first: ArrayLike, *,
                      relevance_factor: float) -> NDArray[np.float64]:
    """MAP means of one or many adapted models, vectorised over leading axes.

    ``(first_k + r mu_k) / (n_k + r)``: the data mean of component k pulled towards the
    prior mean by ``r`` pseudo-frames.

    Parameters
    ----------
    means : ndarray of shape (n_components, n_features)
        Prior (UBM) means.
    n : ndarray of shape (..., n_components)
        Soft counts.
    first : ndarray of shape (..., n_components, n_features)
        First-order statistics.
    relevance_factor : float, keyword-only

    Returns
    -------
    ndarray of shape (..., n_components, n_features)
    """
    r = float(relevance_factor)
    n = np.asarray(n, dtype=np.float64)
    denom = np.maximum(n + r, np.finfo(np.float64).tiny)
    out = (np.asarray(first, dtype=np.float64) + r * means) / denom[..., None]
    # A component that saw no data keeps its prior mean (only possible with r = 0).
    return np.where((n + r > 0)[..., None], out, np.broadcast_to(means, out.shape))

