"""The estimator machinery shared by the mixtures: validation, initialisation, the
EM / variational-Bayes loop, prediction and persistence."""

from __future__ import annotations

import inspect
import math
import numbers
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from diarize.errors import ConvergenceWarning, FitError, ModelError, NotFittedError, ParameterError

from ._blocks import (_Accumulator, _Blocks, _EStep, _GaussianStats, _LabelsOut,
                      _LogLikelihoodOut, _LogLikelihoodSum, _NegEntropySum, _RespOut,
                      _WeightedLogProbOut, _walk)
from ._kernels import _block_rows, _LogDensityPlan, _PassResult
from ._kmeans import _OneHot, _kmeans_labels, _kmeans_plusplus

_COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
_INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
_FORMAT_VERSION = 1

if TYPE_CHECKING:  # pragma: no cover
    from typing_extensions import Self

# Initial responsibilities: a dense (n_samples, K) array or one-hot rows built lazily.
_Resp = Union[NDArray[np.float64], _OneHot]


def _check_random_state(seed: int | np.random.RandomState | None) -> np.random.RandomState:
    if seed is None:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return np.random.RandomState(int(seed))
    if isinstance(seed, np.random.RandomState):
        return seed
    raise ParameterError(
        f"random_state must be None, an int or a numpy RandomState, got {seed!r}; "
        "pass an int seed for reproducible results."
    )


def _as_float_array(X: ArrayLike, name: str = "X") -> NDArray[np.floating]:
    X = np.asarray(X)
    if X.dtype.kind not in "fiub":
        raise FitError(f"{name} must be numeric, got an array of dtype {X.dtype}.")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    return X


def _assert_finite(X: NDArray[np.floating], name: str = "X") -> None:
    # A NaN or inf anywhere makes the sum non-finite; only then look for the row
    # (blockwise, to avoid an N x D boolean temporary).
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.sum(X, dtype=np.float64)
    if np.isfinite(total):
        return
    step = 65536
    for start in range(0, X.shape[0], step):
        bad = ~np.isfinite(X[start : start + step]).all(axis=1)
        if bad.any():
            row = start + int(np.flatnonzero(bad)[0])
            raise FitError(
                f"{name} contains NaN or infinity (first at row {row}). Remove or "
                "impute those frames (e.g. drop silent frames before computing "
                "log-features) before fitting."
            )



class BaseMixture(ABC):
    """EM / variational-Bayes loop shared by the mixture estimators.

    Subclasses provide the model in small hooks: ``_check_parameters``,
    ``_initialize``, ``_estimate_log_weights``, ``_log_prob_correction``,
    ``_m_step``, ``_compute_lower_bound``, ``_get_parameters``,
    ``_set_parameters`` and ``_n_parameters``.  This class owns validation, the
    initialisation strategies, the blockwise E-step and the loop itself.
    """

    # Set to an int (rows) on an instance to force a block size (tests use this to
    # exercise the multi-block code paths on small data).
    _block_size: int | None = None
    # Whether the lower bound needs sum(resp * log resp) from the E-step.
    _needs_entropy = False
    # Fitted attributes that to_dict saves and from_dict restores.
    _fitted_names: tuple[str, ...] = ()

    # Fitted attributes: declared here for the type checker only (an unfitted model has
    # none of them, which is how _check_is_fitted tells).
    weights_: NDArray[np.float64]
    means_: NDArray[np.float64]
    covariances_: NDArray[np.float64]
    precisions_: NDArray[np.float64]
    precisions_cholesky_: NDArray[np.float64]
    converged_: bool
    n_iter_: int
    lower_bound_: float
    lower_bounds_: list[float]
    n_features_in_: int

    #: Whether :meth:`fit` warns (:class:`ConvergenceWarning`) when its best run stopped
    #: at ``max_iter``. A caller that runs a few EM rounds on purpose sets it to False on
    #: its instance: unlike a warnings filter, that leaves every other thread's warnings
    #: (and the process's filters) alone.
    warn_unconverged: bool = True

    def __init__(
        self,
        n_components: int,
        *,
        covariance_type: str,
        tol: float,
        reg_covar: float,
        max_iter: int,
        n_init: int,
        init_params: str,
        random_state: int | np.random.RandomState | None,
        warm_start: bool,
        dtype: DTypeLike,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.warm_start = warm_start
        self.dtype = dtype

    # -- the model's hooks --------------------------------------------------

    @abstractmethod
    def _check_parameters(self, X: NDArray[np.floating],
                          sample_weight: NDArray[np.float64] | None) -> None:
        """Validate the estimator-specific parameters against X (and set priors)."""

    @abstractmethod
    def _initialize(self, X: NDArray[np.floating], resp: _Resp | None,
                    sample_weight: NDArray[np.float64] | None = None) -> None:
        """Set the parameters from initial responsibilities (n_samples, K)."""

    @abstractmethod
    def _estimate_log_weights(self) -> NDArray[np.float64]:
        """log weight_k (E[log pi_k] for variational Bayes), shape (K,)."""

    @abstractmethod
    def _m_step(self, res: _PassResult) -> None:
        """Update the parameters from the statistics of one E-step pass."""

    @abstractmethod
    def _compute_lower_bound(self, res: _PassResult) -> float:
        """The quantity EM maximises, from the statistics of one E-step pass."""

    @abstractmethod
    def _get_parameters(self) -> tuple[Any, ...]:
        """A copy of the fitted parameters (what `_set_parameters` takes)."""

    @abstractmethod
    def _set_parameters(self, params: tuple[Any, ...]) -> None:
        """Set the fitted parameters and everything derived from them."""

    # -- validation -------------------------------------------------------

    def _check_common_parameters(self) -> None:
        def bad(name: str, expected: str) -> None:
            raise ParameterError(
                f"{type(self).__name__}: invalid {name}={getattr(self, name)!r}; "
                f"expected {expected}."
            )

        def is_int(v: Any) -> bool:
            return isinstance(v, numbers.Integral) and not isinstance(v, bool)

        if not is_int(self.n_components) or self.n_components < 1:
            bad("n_components", "an int >= 1")
        if self.covariance_type not in _COVARIANCE_TYPES:
            bad("covariance_type", f"one of {_COVARIANCE_TYPES}")
        if not isinstance(self.tol, numbers.Real) or not self.tol >= 0:
            bad("tol", "a float >= 0")
        if (not isinstance(self.reg_covar, numbers.Real) or not self.reg_covar >= 0
                or not math.isfinite(self.reg_covar)):
            bad("reg_covar", "a finite float >= 0")
        if not is_int(self.max_iter) or self.max_iter < 0:
            bad("max_iter", "an int >= 0")
        if not is_int(self.n_init) or self.n_init < 1:
            bad("n_init", "an int >= 1")
        if self.init_params not in _INIT_PARAMS:
            bad("init_params", f"one of {_INIT_PARAMS}")
        if np.dtype(self.dtype) not in (np.float32, np.float64):
            bad("dtype", "np.float64 or np.float32")

    def _validate_X(self, X: ArrayLike, *, fitting: bool) -> NDArray[np.floating]:
        X = _as_float_array(X)
        if X.ndim != 2:
            raise FitError(
                f"X must be a 2-D array of shape (n_samples, n_features), got shape "
                f"{X.shape}; reshape a single feature with X.reshape(-1, 1)."
            )
        if fitting:
            if X.shape[0] < max(2, self.n_components):
                raise FitError(
                    f"Expected n_samples >= n_components (and >= 2) but got "
                    f"n_components={self.n_components}, n_samples={X.shape[0]}. Use "
                    "fewer components or more frames."
                )
        else:
            self._check_is_fitted()
            n_features = self.means_.shape[1]
            if X.shape[1] != n_features:
                raise FitError(
                    f"X has {X.shape[1]} features but the model was fitted with "
                    f"{n_features}."
                )
        if X.shape[1] < 1:
            raise FitError("X has no features (n_features = 0).")
        _assert_finite(X)
        return X

    def _validate_sample_weight(self, sample_weight: ArrayLike | None,
                                n_samples: int) -> NDArray[np.float64] | None:
        if sample_weight is None:
            return None
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.shape != (n_samples,):
            raise FitError(
                f"sample_weight must have shape (n_samples,) = ({n_samples},), got "
                f"{w.shape}."
            )
        if not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
            raise FitError(
                "sample_weight must be finite, non-negative and not all zero."
            )
        return w

    def _check_is_fitted(self) -> None:
        if not hasattr(self, "precisions_cholesky_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit(X) "
                "first (or load a fitted model with from_dict)."
            )

    # -- the blockwise pass -----------------------------------------------

    def _block(self, n_features: int) -> int:
        if self._block_size is not None:
            return int(self._block_size)
        return _block_rows(n_features, self.n_components, np.dtype(self.dtype).itemsize)

    def _plan(self, shift: NDArray[np.float64]) -> _LogDensityPlan:
        offset = self._estimate_log_weights() + self._log_prob_correction()
        return _LogDensityPlan(
            self.means_,
            self.precisions_cholesky_,
            self.covariance_type,
            shift,
            offset,
            np.dtype(self.dtype),
        )

    def _blocks(self, X: NDArray[np.floating], sample_weight: NDArray[np.float64] | None,
                shift: NDArray[np.float64]) -> _Blocks:
        return _Blocks(X, sample_weight, shift=shift, n_components=self.n_components,
                       covariance_type=self.covariance_type, dtype=self.dtype,
                       block=self._block(X.shape[1]))

    def _e_step(self, X: NDArray[np.floating], sample_weight: NDArray[np.float64] | None,
                *accumulators: _Accumulator,
                shift: NDArray[np.float64] | None = None) -> _Blocks:
        """One E-step pass over X: responsibilities of the current parameters, block by
        block, fed to the accumulators.  Rows are centred on ``shift`` (default: the
        mean of the component means).  Returns the pass's blocks (for their shift and
        total weight)."""
        if shift is None:
            shift = np.mean(self.means_, axis=0)
        blocks = self._blocks(X, sample_weight, shift)
        e_step = _EStep(self._plan(shift), rows=blocks.rows, n_components=self.n_components,
                        dtype=self.dtype,
                        keep_shifted=any(acc.needs_shifted for acc in accumulators))
        _walk(blocks, accumulators, e_step=e_step)
        return blocks

    def _statistics_pass(self, X: NDArray[np.floating],
                         sample_weight: NDArray[np.float64] | None, *,
                         entropy: bool = False) -> _PassResult:
        """The E-step statistics the M-step and the lower bound need (float64)."""
        lse = _LogLikelihoodSum()
        stats = self._gaussian_stats(X)
        neg_entropy = _NegEntropySum() if entropy else None
        accumulators = [lse, stats] if neg_entropy is None else [lse, neg_entropy, stats]
        blocks = self._e_step(X, sample_weight, *accumulators)
        s1, s2 = stats.moments()
        return _PassResult(lse_sum=lse.total, weight_sum=blocks.weight_sum, nk=stats.nk,
                           s1=s1, s2=s2, shift=blocks.shift,
                           neg_entropy=0.0 if neg_entropy is None else neg_entropy.total)

    def _stats_from_resp(self, X: NDArray[np.floating], resp: _Resp,
                         sample_weight: NDArray[np.float64] | None,
                         shift: NDArray[np.float64]) -> _PassResult:
        """The M-step statistics of given responsibilities (n_samples, K)."""
        blocks = self._blocks(X, sample_weight, shift)
        stats = self._gaussian_stats(X)
        _walk(blocks, [stats], resp_in=lambda a, b: resp[a:b])
        s1, s2 = stats.moments()
        return _PassResult(weight_sum=blocks.weight_sum, nk=stats.nk, s1=s1, s2=s2, shift=shift)

    def _gaussian_stats(self, X: NDArray[np.floating]) -> _GaussianStats:
        return _GaussianStats(n_components=self.n_components, n_features=X.shape[1],
                              covariance_type=self.covariance_type)

    # -- initialisation -----------------------------------------------------

    def _initial_resp(
        self, X: NDArray[np.floating], random_state: np.random.RandomState,
        sample_weight: NDArray[np.float64] | None,
    ) -> tuple[NDArray[np.floating], _Resp, NDArray[np.float64] | None]:
        """Responsibilities (or rows with one-hot responsibilities) from init_params.

        Returns ``(X_used, resp, sample_weight_used)``.  For the seeding strategies
        only the K seed rows carry responsibility, so only those rows are passed.
        """
        n_samples = X.shape[0]
        k = self.n_components
        block = self._block(X.shape[1])
        if self.init_params == "kmeans":
            labels = _kmeans_labels(X, k, random_state, sample_weight, block)
            return X, _OneHot(labels, k), sample_weight
        if self.init_params == "random":
            resp = random_state.uniform(size=(n_samples, k))
            resp /= resp.sum(axis=1)[:, None]
            return X, resp, sample_weight
        if self.init_params == "random_from_data":
            idx = random_state.choice(n_samples, size=k, replace=False)
        else:
            shift = X.mean(axis=0, dtype=np.float64)
            idx = _kmeans_plusplus(X, k, random_state, sample_weight, shift, block)
        sw = None if sample_weight is None else sample_weight[idx]
        return X[idx], np.eye(k), sw

    def _count_eps(self) -> float:
        """scikit-learn's ``eps`` of the working dtype, whose ``10 * eps`` every soft count
        gets before it divides, in units of the fit's average row weight: with weights
        of 1 exactly scikit-learn's, and the same fit for weights scaled by any factor."""
        dtype: Any = np.dtype(self.dtype)  # an inexact dtype: fit refuses the others
        return float(np.finfo(dtype).eps) * getattr(self, "_row_weight", 1.0)

    def _initialize_parameters(self, X: NDArray[np.floating], random_state: np.random.RandomState,
                               sample_weight: NDArray[np.float64] | None) -> None:
        X_used, resp, sw = self._initial_resp(X, random_state, sample_weight)
        self._initialize(X_used, resp, sw)

    # -- the loop -----------------------------------------------------------

    def fit(self, X: ArrayLike, sample_weight: ArrayLike | None = None) -> Self:
        """Estimate the model parameters with EM (or variational Bayes).

        The model is fitted ``n_init`` times and the run with the largest lower
        bound is kept.  With ``warm_start=True`` the second and later calls continue
        from the current parameters (one run).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Feature frames, one per row.  Not copied.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative frequency weights: an integer weight w is equivalent to
            repeating the row w times.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._fit(X, sample_weight)
        return self

    def fit_predict(self, X: ArrayLike, sample_weight: ArrayLike | None = None) -> NDArray[np.intp]:
        """Fit the model on X, then return the most probable component of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        X = self._fit(X, sample_weight)
        return self.predict(X)

    def _fit(self, X: ArrayLike, sample_weight: ArrayLike | None) -> NDArray[np.floating]:
        self._check_common_parameters()
        X = self._validate_X(X, fitting=True)
        sample_weight = self._validate_sample_weight(sample_weight, X.shape[0])
        self._check_parameters(X, sample_weight)
        # the weight of one row on average: the pseudo-count every soft count gets
        # (_count_eps) is on that scale, so that weights scaled alike fit alike
        self._row_weight = (1.0 if sample_weight is None or not len(sample_weight)
                            else float(np.mean(sample_weight)))

        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        random_state = _check_random_state(self.random_state)

        best = None
        max_lower_bound = -np.inf
        best_history = []
        best_n_iter = 0
        best_converged = False
        for _ in range(n_init):
            if do_init:
                self._initialize_parameters(X, random_state, sample_weight)
            lower_bound = -np.inf if do_init else self.lower_bound_
            history = []
            converged = False
            n_iter = 0
            for n_iter in range(1, self.max_iter + 1):
                prev = lower_bound
                res = self._statistics_pass(X, sample_weight, entropy=self._needs_entropy)
                self._m_step(res)
                lower_bound = self._compute_lower_bound(res)
                if not math.isfinite(lower_bound):
                    raise FitError(
                        f"{type(self).__name__}: the fit's likelihood is not finite (data "
                        f"too large or too small for dtype {np.dtype(self.dtype).name}?); "
                        "scale the data or fit with dtype=np.float64."
                    )
                history.append(lower_bound)
                if abs(lower_bound - prev) < self.tol:
                    converged = True
                    break
            if best is None or lower_bound > max_lower_bound:
                max_lower_bound = lower_bound
                best = self._get_parameters()
                best_history = history
                best_n_iter = n_iter
                best_converged = converged

        if not best_converged and self.max_iter > 0 and self.warn_unconverged:
            warnings.warn(
                "Best performing initialization did not converge. Increase max_iter "
                "or tol, try different init parameters, or check for degenerate data.",
                ConvergenceWarning,
                stacklevel=3,
            )
        assert best is not None  # n_init >= 1 was checked
        self._set_parameters(best)
        self.converged_ = best_converged
        self.n_iter_ = best_n_iter
        self.lower_bound_ = max_lower_bound
        self.lower_bounds_ = best_history
        self.n_features_in_ = X.shape[1]
        return X

    # -- prediction ---------------------------------------------------------

    def log_likelihoods(self, X: ArrayLike) -> NDArray[np.float64]:
        """Per-frame log density log p(x) under the mixture, computed blockwise.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
        """
        X = self._validate_X(X, fitting=False)
        out = np.empty(X.shape[0])
        self._e_step(X, None, _LogLikelihoodOut(out))
        return out

    def score_samples(self, X: ArrayLike) -> NDArray[np.float64]:
        """Log density of each sample, log p(x); same as :meth:`log_likelihoods`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        return self.log_likelihoods(X)

    def score(self, X: ArrayLike, y: Any = None) -> float:
        """Mean per-sample log-likelihood of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        log_likelihood : float
        """
        X = self._validate_X(X, fitting=False)
        if X.shape[0] == 0:
            raise ParameterError(f"{type(self).__name__}.score needs at least one sample, "
                                 "got an array of 0 rows.")
        total = _LogLikelihoodSum()
        self._e_step(X, None, total)
        return total.total / X.shape[0]

    def predict(self, X: ArrayLike) -> NDArray[np.intp]:
        """Most probable component of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        X = self._validate_X(X, fitting=False)
        labels = np.empty(X.shape[0], dtype=np.intp)
        self._e_step(X, None, _LabelsOut(labels))
        return labels

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Posterior probability of each component for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Rows sum to 1.
        """
        X = self._validate_X(X, fitting=False)
        out = np.empty((X.shape[0], self.n_components))
        self._e_step(X, None, _RespOut(out))
        return out

    def _estimate_weighted_log_prob(self, X: ArrayLike) -> NDArray[np.float64]:
        """log p(x | k) + log weight_k (E[log pi_k] for VB), shape (n_samples, K)."""
        X = self._validate_X(X, fitting=False)
        out = np.empty((X.shape[0], self.n_components))
        self._e_step(X, None, _WeightedLogProbOut(out))
        return out

    def estimate_weighted_log_prob(self, X: ArrayLike) -> NDArray[np.float64]:
        """Public alias of :meth:`_estimate_weighted_log_prob`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        weighted_log_prob : ndarray of shape (n_samples, n_components)
        """
        return self._estimate_weighted_log_prob(X)

    def _estimate_log_prob(self, X: ArrayLike) -> NDArray[np.float64]:
        """log p(x | k) (plus the VB correction for BayesianGaussianMixture)."""
        return self._estimate_weighted_log_prob(X) - self._estimate_log_weights()

    def _log_prob_correction(self) -> NDArray[np.float64] | float:
        return 0.0

    def sample(self, n_samples: int = 1) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
        """Draw samples from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            Component of each sample (samples are grouped by component).
        """
        self._check_is_fitted()
        if not isinstance(n_samples, numbers.Integral) or n_samples < 1:
            raise ParameterError(f"sample needs n_samples >= 1, got {n_samples!r}.")
        rng = _check_random_state(self.random_state)
        n_features = self.means_.shape[1]
        counts = rng.multinomial(n_samples, self.weights_ / self.weights_.sum())
        parts = []
        for k, (mean, count) in enumerate(zip(self.means_, counts)):
            if self.covariance_type == "full":
                parts.append(rng.multivariate_normal(mean, self.covariances_[k], count))
            elif self.covariance_type == "tied":
                parts.append(rng.multivariate_normal(mean, self.covariances_, count))
            else:
                std = np.sqrt(self.covariances_[k])
                parts.append(mean + rng.standard_normal((count, n_features)) * std)
        y = np.repeat(np.arange(self.n_components), counts)
        return np.vstack(parts), y

    # -- persistence --------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain dict describing the fitted model (arrays, strings and numbers).

        Saveable with ``np.savez(path, **model.to_dict())`` and loadable without
        pickle: ``cls.from_dict(np.load(path))``.

        Returns
        -------
        state : dict
        """
        self._check_is_fitted()
        state = {"format": _FORMAT_VERSION, "class": type(self).__name__}
        for name, value in self.get_params().items():
            if value is None or (name == "random_state" and not isinstance(value, numbers.Integral)):
                continue
            if name == "dtype":
                value = np.dtype(value).name
            state["param:" + name] = value
        for name in self._fitted_names:
            value = getattr(self, name)
            if isinstance(value, tuple):
                value = np.vstack(value)
            state["attr:" + name] = np.asarray(value)
        return state

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild a fitted model from :meth:`to_dict` output (or its loaded npz).

        Parameters
        ----------
        state : mapping
            The dict from ``to_dict`` or ``np.load`` of a file written from it.

        Returns
        -------
        model : estimator
        """
        def scalar(v: Any) -> Any:
            v = np.asarray(v)
            return v.item() if v.ndim == 0 else v

        try:
            kind = str(scalar(state["class"]))
            version = int(scalar(state["format"]))
        except KeyError as exc:
            raise ModelError(f"Not a saved mixture model: missing key {exc}.") from None
        except (TypeError, ValueError) as exc:
            raise ModelError(f"Not a saved mixture model: bad class or format ({exc}).") from None
        if kind != cls.__name__ or version != _FORMAT_VERSION:
            raise ModelError(
                f"Saved model is a {kind} (format {version}); load it with "
                f"{kind}.from_dict (this version reads format {_FORMAT_VERSION})."
            )
        known = cls._get_param_names()
        params = {}
        for key in state.keys():
            if key.startswith("param:"):
                name = key[len("param:"):]
                if name not in known:
                    raise ModelError(f"Saved {kind} has an unknown parameter {name!r}.")
                params[name] = scalar(state[key])
        try:
            if "dtype" in params:
                params["dtype"] = np.dtype(params["dtype"]).type
            model = cls(**params)
            for name in cls._fitted_names:
                value = np.asarray(state["attr:" + name])
                if value.ndim == 0:
                    value = value.item()
                setattr(model, name, value)
            model._after_load()
            model._check_loaded()
        except KeyError as exc:
            raise ModelError(f"Saved {kind} is incomplete: missing key {exc}.") from None
        except (TypeError, ValueError, IndexError, AttributeError, ParameterError) as exc:
            raise ModelError(f"Saved {kind} is damaged: {exc}") from None
        return model

    def _check_loaded(self) -> None:
        """Refuse (ValueError) loaded parameters that are not a model of their own
        settings: shapes that disagree, values that are not finite, weights that are not
        a distribution, precisions that are not positive."""
        self._check_common_parameters()
        k = self.n_components
        w, m = np.asarray(self.weights_), np.asarray(self.means_)
        if w.shape != (k,) or m.ndim != 2 or m.shape[0] != k:
            raise ValueError(f"weights_ {w.shape} and means_ {m.shape} do not fit "
                             f"n_components={k}")
        pc = np.asarray(self.precisions_cholesky_)
        d = m.shape[1]
        shape = {"spherical": (k,), "diag": (k, d), "tied": (d, d),
                 "full": (k, d, d)}[self.covariance_type]
        if pc.shape != shape:
            raise ValueError(f"precisions_cholesky_ has shape {pc.shape}, not {shape}")
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(m)) and np.all(np.isfinite(pc))):
            raise ValueError("parameters that are not finite")
        if np.any(w < 0) or not math.isclose(float(w.sum()), 1.0, abs_tol=1e-6):
            raise ValueError("weights_ are not a distribution")
        diagonal = (pc if self.covariance_type in ("spherical", "diag")
                    else np.diagonal(pc, axis1=-2, axis2=-1))
        if np.any(diagonal <= 0):
            raise ValueError("precisions that are not positive")

    def _after_load(self) -> None:
        if isinstance(self.lower_bounds_, float):
            self.lower_bounds_ = [self.lower_bounds_]
        else:
            self.lower_bounds_ = list(np.asarray(self.lower_bounds_, dtype=float))
        self._set_parameters(self._get_parameters())
        self.n_features_in_ = self.means_.shape[1]

    @classmethod
    def _get_param_names(cls) -> tuple[str, ...]:
        """Names of the constructor parameters, read from ``__init__``'s signature.

        A subclass whose ``__init__`` passes ``**kwargs`` on to its parent's gets its
        own names followed by the parent's.
        """
        names: list[str] = []
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None:
                continue
            params = list(inspect.signature(init).parameters.values())[1:]
            names += [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                      and p.name not in names]
            if not any(p.kind == p.VAR_KEYWORD for p in params):
                break
        return tuple(names)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters as a dict (scikit-learn convention)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> Self:
        """Set constructor parameters (scikit-learn convention); returns self."""
        for name, value in params.items():
            if name not in self._get_param_names():
                raise ParameterError(f"{type(self).__name__} has no parameter {name!r}.")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_components={self.n_components}, covariance_type={self.covariance_type!r})"

