"""Gaussian mixture fitted by variational Bayes (Dirichlet-process or Dirichlet prior)."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from diarize.errors import ParameterError

from ._base import BaseMixture, _Resp
from ._kernels import (_PassResult, _gaussian_from_stats, _log_det_cholesky,
                       _precision_cholesky, _precisions_from_cholesky)


# scipy.special is imported on first use: importing it takes a quarter of a second, and
# `import diarize` (which imports this module through diarize.gmm) never fits this model.
def gammaln(x: Any) -> Any:
    """:func:`scipy.special.gammaln`, imported when first called."""
    from scipy.special import gammaln as f

    return f(x)


def digamma(x: Any) -> Any:
    """:func:`scipy.special.digamma`, imported when first called."""
    from scipy.special import digamma as f

    return f(x)


def betaln(a: Any, b: Any) -> Any:
    """:func:`scipy.special.betaln`, imported when first called."""
    from scipy.special import betaln as f

    return f(a, b)


def _data_moments(X: NDArray[np.floating], sample_weight: NDArray[np.float64] | None,
                  covariance_type: str, block: int
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Weighted mean and unbiased covariance of X (full for 'full'/'tied', else the
    diagonal), two blockwise passes; frequency weights, ddof=1 like ``np.cov``."""
    n_samples, n_features = X.shape
    w_sum = float(n_samples if sample_weight is None else sample_weight.sum())
    total = np.zeros(n_features)
    for start in range(0, n_samples, block):
        xb = X[start : start + block].astype(np.float64)
        total += xb.sum(axis=0) if sample_weight is None else sample_weight[start : start + block] @ xb
    mean = total / w_sum
    full = covariance_type in ("full", "tied")
    scatter = np.zeros((n_features, n_features) if full else n_features)
    for start in range(0, n_samples, block):
        xc = X[start : start + block] - mean
        wxc = xc if sample_weight is None else xc * sample_weight[start : start + block, None]
        scatter += wxc.T @ xc if full else np.einsum("ij,ij->j", wxc, xc)
    denom = w_sum - 1.0 if w_sum > 1.0 else w_sum
    return mean, scatter / denom


def _log_dirichlet_norm(concentration: NDArray[np.float64]) -> float:
    return gammaln(np.sum(concentration)) - np.sum(gammaln(concentration))


def _log_wishart_norm(dof: NDArray[np.float64] | float, log_det_prec_chol: NDArray[np.float64],
                      n_features: int) -> NDArray[np.float64]:
    # The log(pi) term is a constant and is left out, as in scikit-learn.
    return -(
        dof * log_det_prec_chol
        + dof * n_features * 0.5 * math.log(2.0)
        + np.sum(gammaln(0.5 * (dof - np.arange(n_features)[:, None])), axis=0)
    )


class BayesianGaussianMixture(BaseMixture):
    """Gaussian mixture fitted by variational Bayes (blockwise, fast 'diag').

    Parameters and their meanings mirror
    :class:`sklearn.mixture.BayesianGaussianMixture`; the default covariance type
    here is 'diag'.  Superfluous components get weights near zero, so the number of
    clusters can be read off a fit with generous ``n_components``.

    Parameters
    ----------
    n_components : int, default=1
        Upper bound on the number of components.
    covariance_type : {'diag', 'spherical', 'tied', 'full'}, default='diag'
    tol, reg_covar, max_iter, n_init, init_params, random_state, warm_start
        As for :class:`GaussianMixture`.
    weight_concentration_prior_type : {'dirichlet_process', 'dirichlet_distribution'}
    weight_concentration_prior : float, optional
        Default ``1 / n_components``; small values favour few active components.
    mean_precision_prior : float, optional
        Default 1.
    mean_prior : array of shape (n_features,), optional
        Default: the (weighted) mean of X.
    degrees_of_freedom_prior : float, optional
        Default n_features; must exceed n_features - 1.
    covariance_prior : float or array, optional
        Default: the empirical covariance of X (shape as for the covariance type).
    dtype : {np.float64, np.float32}, default=np.float64

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_
        As for :class:`GaussianMixture`.
    weight_concentration_ : tuple of two (n_components,) arrays or array
        Beta parameters (dirichlet_process) or Dirichlet parameters.
    mean_precision_ : ndarray of shape (n_components,)
    degrees_of_freedom_ : ndarray of shape (n_components,) or float ('tied')
    covariance_prior_, mean_prior_, degrees_of_freedom_prior_,
    weight_concentration_prior_, mean_precision_prior_ : the priors used.
    converged_, n_iter_ : as for :class:`GaussianMixture`.
    lower_bound_ : float
        Variational lower bound (up to constants) after the last iteration.
    lower_bounds_ : list of float
    """

    _needs_entropy = True
    _fitted_names = (
        "weight_concentration_", "mean_precision_", "means_", "degrees_of_freedom_",
        "covariances_", "precisions_cholesky_", "converged_", "n_iter_",
        "lower_bound_", "lower_bounds_", "weight_concentration_prior_",
        "mean_precision_prior_", "mean_prior_", "degrees_of_freedom_prior_",
        "covariance_prior_",
    )

    # Fitted attributes besides BaseMixture's (declared for the type checker only).
    weight_concentration_: (NDArray[np.float64]
                            | tuple[NDArray[np.float64], NDArray[np.float64]])
    mean_precision_: NDArray[np.float64]
    degrees_of_freedom_: NDArray[np.float64] | float
    weight_concentration_prior_: float
    mean_precision_prior_: float
    mean_prior_: NDArray[np.float64]
    degrees_of_freedom_prior_: float
    covariance_prior_: NDArray[np.float64] | float

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
        weight_concentration_prior_type: str = "dirichlet_process",
        weight_concentration_prior: float | None = None,
        mean_precision_prior: float | None = None,
        mean_prior: ArrayLike | None = None,
        degrees_of_freedom_prior: float | None = None,
        covariance_prior: float | ArrayLike | None = None,
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
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior

    # -- priors --------------------------------------------------------------

    def _check_parameters(self, X: NDArray[np.floating],
                          sample_weight: NDArray[np.float64] | None) -> None:
        n_features = X.shape[1]
        k = self.n_components
        ctype = self.covariance_type
        if self.weight_concentration_prior_type not in (
            "dirichlet_process", "dirichlet_distribution"
        ):
            raise ParameterError(
                "weight_concentration_prior_type must be 'dirichlet_process' or "
                f"'dirichlet_distribution', got {self.weight_concentration_prior_type!r}."
            )
        for name in ("weight_concentration_prior", "mean_precision_prior"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, numbers.Real) and float(value) > 0
                                          and math.isfinite(float(value))):
                raise ParameterError(f"{name} must be a finite float > 0 or None, got {value!r}.")
        self.weight_concentration_prior_ = (
            1.0 / k if self.weight_concentration_prior is None
            else float(self.weight_concentration_prior)
        )
        self.mean_precision_prior_ = (
            1.0 if self.mean_precision_prior is None else float(self.mean_precision_prior)
        )
        need_data = self.mean_prior is None or self.covariance_prior is None
        if need_data:
            data_mean, data_cov = _data_moments(
                X, sample_weight, ctype, self._block(n_features)
            )
        if self.mean_prior is None:
            self.mean_prior_ = data_mean
        else:
            self.mean_prior_ = np.asarray(self.mean_prior, dtype=np.float64)
            if self.mean_prior_.shape != (n_features,):
                raise ParameterError(
                    f"mean_prior must have shape ({n_features},), got "
                    f"{self.mean_prior_.shape}."
                )
            if not np.all(np.isfinite(self.mean_prior_)):
                raise ParameterError("mean_prior must be finite (it holds NaN or infinity).")
        if self.degrees_of_freedom_prior is None:
            self.degrees_of_freedom_prior_ = float(n_features)
        elif self.degrees_of_freedom_prior > n_features - 1.0:
            self.degrees_of_freedom_prior_ = float(self.degrees_of_freedom_prior)
        else:
            raise ParameterError(
                f"degrees_of_freedom_prior must be greater than {n_features - 1} "
                f"(n_features - 1), got {self.degrees_of_freedom_prior!r}."
            )
        if self.covariance_prior is None:
            if ctype == "spherical":
                self.covariance_prior_ = float(np.mean(data_cov))
            else:
                self.covariance_prior_ = np.atleast_2d(data_cov) if ctype in (
                    "full", "tied") else data_cov
        else:
            prior = np.asarray(self.covariance_prior, dtype=np.float64)
            shape = {"full": (n_features, n_features), "tied": (n_features, n_features),
                     "diag": (n_features,), "spherical": ()}[ctype]
            if prior.shape != shape:
                raise ParameterError(
                    f"covariance_prior for covariance_type={ctype!r} must have shape "
                    f"{shape}, got {prior.shape}."
                )
            if not np.all(np.isfinite(prior)):
                ok = False
            elif ctype in ("full", "tied"):
                ok = bool(np.allclose(prior, prior.T) and np.all(np.linalg.eigvalsh(prior) > 0))
            else:
                ok = bool(np.all(prior > 0))
            if not ok:
                raise ParameterError(
                    "covariance_prior must be finite and positive (positive-definite for "
                    "'full'/'tied')."
                )
            self.covariance_prior_ = float(prior) if ctype == "spherical" else prior

    # -- hooks ---------------------------------------------------------------

    def _initialize(self, X: NDArray[np.floating], resp: _Resp | None,
                    sample_weight: NDArray[np.float64] | None = None) -> None:
        """Set the variational parameters from initial responsibilities.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
        resp : array of shape (n_samples, n_components)
        sample_weight : array of shape (n_samples,), optional
        """
        assert resp is not None  # only GaussianMixture starts from *_init alone
        shift = X.mean(axis=0, dtype=np.float64)
        res = self._stats_from_resp(X, resp, sample_weight, shift)
        self._update_from_stats(res)

    def _m_step(self, res: _PassResult) -> None:
        self._update_from_stats(res)

    def _update_from_stats(self, res: _PassResult) -> None:
        eps = self._count_eps()
        nk, xk, sk, _ = _gaussian_from_stats(res, self.reg_covar, self.covariance_type, eps)
        self._estimate_weights(nk)
        self._estimate_means(nk, xk)
        self._estimate_precisions(nk, xk, sk)

    def _estimate_weights(self, nk: NDArray[np.float64]) -> None:
        if self.weight_concentration_prior_type == "dirichlet_process":
            tail = np.hstack((np.cumsum(nk[::-1])[-2::-1], 0.0))
            self.weight_concentration_ = (1.0 + nk, self.weight_concentration_prior_ + tail)
        else:
            self.weight_concentration_ = self.weight_concentration_prior_ + nk

    def _estimate_means(self, nk: NDArray[np.float64], xk: NDArray[np.float64]) -> None:
        self.mean_precision_ = self.mean_precision_prior_ + nk
        self.means_ = (
            self.mean_precision_prior_ * self.mean_prior_ + nk[:, None] * xk
        ) / self.mean_precision_[:, None]

    def _estimate_precisions(self, nk: NDArray[np.float64], xk: NDArray[np.float64],
                             sk: NDArray[np.float64]) -> None:
        # Normal-Wishart posterior (Bishop 10.60-10.63, with dof_k = dof_0 + N_k);
        # covariances_ are normalised by the degrees of freedom, as in scikit-learn.
        ctype = self.covariance_type
        k = self.n_components
        diff = xk - self.mean_prior_
        beta0 = self.mean_precision_prior_
        if ctype == "tied":
            self.degrees_of_freedom_ = self.degrees_of_freedom_prior_ + nk.sum() / k
            cov = (
                self.covariance_prior_
                + sk * nk.sum() / k
                + beta0 / k * ((nk / self.mean_precision_) * diff.T) @ diff
            )
            self.covariances_ = cov / self.degrees_of_freedom_
        else:
            self.degrees_of_freedom_ = self.degrees_of_freedom_prior_ + nk
            shrink = nk * beta0 / self.mean_precision_
            if ctype == "full":
                cov = (
                    self.covariance_prior_
                    + nk[:, None, None] * sk
                    + shrink[:, None, None] * diff[:, :, None] * diff[:, None, :]
                )
                self.covariances_ = cov / self.degrees_of_freedom_[:, None, None]
            elif ctype == "diag":
                cov = self.covariance_prior_ + nk[:, None] * (
                    sk + (beta0 / self.mean_precision_)[:, None] * diff**2
                )
                self.covariances_ = cov / self.degrees_of_freedom_[:, None]
            else:
                cov = self.covariance_prior_ + nk * (
                    sk + beta0 / self.mean_precision_ * np.mean(diff**2, axis=1)
                )
                self.covariances_ = cov / self.degrees_of_freedom_
        self.precisions_cholesky_ = _precision_cholesky(self.covariances_, ctype)

    def _estimate_log_weights(self) -> NDArray[np.float64]:
        wc = self.weight_concentration_
        if self.weight_concentration_prior_type == "dirichlet_process":
            digamma_sum = digamma(wc[0] + wc[1])
            digamma_b = digamma(wc[1])
            return (
                digamma(wc[0]) - digamma_sum
                + np.hstack((0.0, np.cumsum(digamma_b - digamma_sum)[:-1]))
            )
        return digamma(wc) - digamma(np.sum(wc))

    def _log_prob_correction(self) -> NDArray[np.float64]:
        # E[log |Lambda_k|] and E[(x - mu_k)' Lambda_k (x - mu_k)] corrections of the
        # variational E-step; n_features * log(dof) is removed because covariances_
        # are normalised by the degrees of freedom.
        n_features = self.means_.shape[1]
        dof = self.degrees_of_freedom_
        log_lambda = n_features * math.log(2.0) + np.sum(
            digamma(0.5 * (dof - np.arange(n_features)[:, None])), axis=0
        )
        return (
            -0.5 * n_features * np.log(dof)
            + 0.5 * (log_lambda - n_features / self.mean_precision_)
        )

    def _compute_lower_bound(self, res: _PassResult) -> float:
        n_features = self.means_.shape[1]
        log_det_prec_chol = _log_det_cholesky(
            self.precisions_cholesky_, self.covariance_type, n_features
        ) - 0.5 * n_features * np.log(self.degrees_of_freedom_)
        log_wishart = _log_wishart_norm(
            self.degrees_of_freedom_, log_det_prec_chol, n_features
        )
        if self.covariance_type == "tied":
            log_wishart_sum = self.n_components * float(np.sum(log_wishart))
        else:
            log_wishart_sum = float(np.sum(log_wishart))
        wc = self.weight_concentration_
        if self.weight_concentration_prior_type == "dirichlet_process":
            log_norm_weight = -float(np.sum(betaln(wc[0], wc[1])))
        else:
            assert not isinstance(wc, tuple)  # one array for dirichlet_distribution
            log_norm_weight = float(_log_dirichlet_norm(wc))
        return (
            -res.neg_entropy
            - log_wishart_sum
            - log_norm_weight
            - 0.5 * n_features * float(np.sum(np.log(self.mean_precision_)))
        )

    def _get_parameters(self) -> tuple[Any, ...]:
        wc = self.weight_concentration_
        wc_copy = tuple(np.array(a) for a in wc) if isinstance(wc, tuple) else np.array(wc)
        return (
            wc_copy,
            np.array(self.mean_precision_),
            np.array(self.means_),
            np.array(self.degrees_of_freedom_) if np.ndim(self.degrees_of_freedom_)
            else float(self.degrees_of_freedom_),
            np.array(self.covariances_),
            np.array(self.precisions_cholesky_),
        )

    def _set_parameters(self, params: tuple[Any, ...]) -> None:
        (
            self.weight_concentration_,
            self.mean_precision_,
            self.means_,
            self.degrees_of_freedom_,
            self.covariances_,
            self.precisions_cholesky_,
        ) = params
        wc = self.weight_concentration_
        if self.weight_concentration_prior_type == "dirichlet_process":
            total = wc[0] + wc[1]
            weights = wc[0] / total * np.hstack((1.0, np.cumprod(wc[1] / total)[:-1]))
            self.weights_ = weights / np.sum(weights)
        else:
            assert not isinstance(wc, tuple)  # one array for dirichlet_distribution
            self.weights_ = wc / np.sum(wc)
        self.precisions_ = _precisions_from_cholesky(
            self.precisions_cholesky_, self.covariance_type
        )

    def _after_load(self) -> None:
        wc = np.asarray(self.weight_concentration_)
        if self.weight_concentration_prior_type == "dirichlet_process":
            self.weight_concentration_ = (wc[0], wc[1])
        super()._after_load()
