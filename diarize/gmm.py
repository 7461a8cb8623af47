"""Gaussian mixture models: maximum-likelihood EM and variational Bayes.

The engine follows scikit-learn's ``sklearn.mixture`` API and numerics (the same
parameter names and meanings, the same update formulas, the same lower bound), but
is organised around one blockwise pass over the data:

* The data are never copied.  Each pass walks through X in row blocks of a few
  thousand frames; for each block it centres the rows, computes the weighted
  log-probabilities of all components, normalises them in place into
  responsibilities (log-space, max-shifted, so nothing overflows) and immediately
  accumulates the sufficient statistics the M-step needs.  Memory for ``fit`` is
  therefore a fixed-size block plus O(K * D) accumulators (plus O(N * K) only where
  an API asks for the full responsibility matrix, e.g. ``predict_proba`` or the
  'random' initialisation), never N x K x D temporaries.
* For the 'diag' and 'spherical' types the block log-density and the statistics are
  each one matrix product: ``[Xc, Xc**2] @ W`` and ``resp.T @ [Xc, Xc**2]``.
* Rows are centred on the mean of the current component means before any
  arithmetic, which keeps the E[x^2] - E[x]^2 variance formula (the one
  scikit-learn uses) accurate, and makes the float32 mode usable.
* Statistics are accumulated block by block in float64 and all parameters are kept
  in float64 (they are tiny); ``dtype`` only selects the precision of the per-frame
  arithmetic, which is where all the time goes.

Components that lose their mass
-------------------------------
With maximum likelihood EM a component can end up with (numerically) no
responsibility.  scikit-learn then divides by ~1e-15 and can produce garbage or a
singular covariance.  Here a component whose total responsibility falls below
``10 * eps * total weight`` (or whose full covariance is not positive definite)
keeps its previous mean and covariance; its weight is re-estimated normally, so it
becomes tiny but stays finite.  Keeping old parameters for one component is a
partial M-step, so the likelihood still never decreases.  Variances are floored at
0 before ``reg_covar`` is added, so rounding can never make them negative.
"""

from __future__ import annotations

import math
import numbers
import warnings
import zipfile

import numpy as np
from scipy import linalg
from scipy.special import betaln, digamma, gammaln

from diarize.errors import ConfigError, NotFittedError

__all__ = [
    "BayesianGaussianMixture",
    "ConvergenceWarning",
    "GaussianMixture",
    "MixtureStats",
    "load_arrays",
    "map_adapted_means",
]

_COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
_INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
_LOG_2PI = math.log(2.0 * math.pi)
_FORMAT_VERSION = 1


class ConvergenceWarning(UserWarning):
    """The best of the ``n_init`` EM runs stopped at ``max_iter`` before converging."""


# ---------------------------------------------------------------------------
# Small numeric helpers shared by both estimators
# ---------------------------------------------------------------------------


def _check_random_state(seed):
    if seed is None:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return np.random.RandomState(int(seed))
    if isinstance(seed, np.random.RandomState):
        return seed
    raise ConfigError(
        f"random_state must be None, an int or a numpy RandomState, got {seed!r}; "
        "pass an int seed for reproducible results."
    )


def _block_rows(n_features, n_components, itemsize):
    # About 1 MiB of working set per block: big enough for efficient BLAS calls,
    # small enough to stay in the L2 cache between the matmul, the exp and the
    # statistics product that reuse the same block.
    row_bytes = itemsize * (2 * n_features + 2 * n_components)
    return int(min(16384, max(1024, (1 << 20) // row_bytes)))


def _log_det_cholesky(prec_chol, covariance_type, n_features):
    """Log-determinant of the precision Cholesky factors, shape (n_components,)."""
    if covariance_type == "full":
        return np.sum(np.log(np.diagonal(prec_chol, axis1=1, axis2=2)), axis=1)
    if covariance_type == "tied":
        return np.sum(np.log(np.diag(prec_chol)))
    if covariance_type == "diag":
        return np.sum(np.log(prec_chol), axis=1)
    return n_features * np.log(prec_chol)


_ILL_DEFINED = (
    "Fitting the mixture model failed because some components have an ill-defined "
    "covariance (for instance caused by singleton or collapsed samples). Decrease "
    "n_components, increase reg_covar, or scale the input data."
)


def _precision_cholesky(covariances, covariance_type):
    """Upper-triangular U with precision = U @ U.T, from covariances (float64)."""
    if covariance_type in ("diag", "spherical"):
        if np.any(covariances <= 0.0):
            raise ConfigError(_ILL_DEFINED)
        return 1.0 / np.sqrt(covariances)
    mats = covariances[None] if covariance_type == "tied" else covariances
    n_features = mats.shape[-1]
    out = np.empty_like(mats)
    eye = np.eye(n_features)
    for k, cov in enumerate(mats):
        try:
            chol = linalg.cholesky(cov, lower=True)
        except linalg.LinAlgError:
            raise ConfigError(_ILL_DEFINED) from None
        out[k] = linalg.solve_triangular(chol, eye, lower=True).T
    return out[0] if covariance_type == "tied" else out


def _precision_cholesky_from_precisions(precisions, covariance_type):
    if covariance_type in ("diag", "spherical"):
        return np.sqrt(precisions)
    # Reversing rows and columns turns the lower Cholesky factor of the reversed
    # matrix into the upper factor U with precision = U @ U.T (scikit-learn #26415).
    mats = precisions[None] if covariance_type == "tied" else precisions
    out = np.stack([np.linalg.cholesky(p[::-1, ::-1])[::-1, ::-1] for p in mats])
    return out[0] if covariance_type == "tied" else out


def _precisions_from_cholesky(prec_chol, covariance_type):
    if covariance_type == "full":
        return np.matmul(prec_chol, np.swapaxes(prec_chol, 1, 2))
    if covariance_type == "tied":
        return prec_chol @ prec_chol.T
    return prec_chol**2


def _covariances_from_precisions(precisions, covariance_type):
    if covariance_type == "full":
        return np.linalg.inv(precisions)
    if covariance_type == "tied":
        return np.linalg.inv(precisions)
    return 1.0 / precisions


class _LogDensityPlan:
    """Per-pass coefficients that turn a centred block into log N(x | mu_k, S_k).

    Built once per pass from the float64 parameters (cheap: K x D or K x D x D) and
    cast to the working dtype, so the per-block work is one or two BLAS calls.
    ``offset`` (n_components,) is added to every row: the Gaussian normaliser plus
    whatever the estimator adds (log weights, variational corrections).
    """

    def __init__(self, means, prec_chol, covariance_type, shift, offset, dtype):
        n_components, n_features = means.shape
        mc = means - shift
        const = -0.5 * n_features * _LOG_2PI + _log_det_cholesky(
            prec_chol, covariance_type, n_features
        )
        const = const + offset
        self.kind = covariance_type
        if covariance_type in ("diag", "spherical"):
            prec = prec_chol**2
            if covariance_type == "spherical":
                prec = np.repeat(prec[:, None], n_features, axis=1)
            # log N = x.(mu*p) - 0.5 x^2.p - 0.5 mu^2.p + const: one product with [x, x^2].
            self.weights_t = np.ascontiguousarray(
                np.hstack([mc * prec, -0.5 * prec]), dtype=dtype
            )
            self.bias = (const - 0.5 * np.sum(mc * mc * prec, axis=1)).astype(dtype)
        elif covariance_type == "tied":
            m_l = mc @ prec_chol
            self.chol = np.ascontiguousarray(prec_chol, dtype=dtype)
            self.weights_t = np.ascontiguousarray(m_l, dtype=dtype)
            self.bias = (const - 0.5 * np.sum(m_l * m_l, axis=1)).astype(dtype)
        else:
            self.chol = np.ascontiguousarray(prec_chol, dtype=dtype)
            self.centres = np.einsum("kd,kde->ke", mc, prec_chol).astype(dtype)
            self.bias = const.astype(dtype)

    def __call__(self, z, xc, out, tmp):
        """Fill ``out`` (K, rows) from ``z`` = [xc, xc**2] (diag) or ``xc`` (rows, D).

        Components run along the first axis so that the per-frame reductions of the
        log-sum-exp (max and sum over components) are contiguous vector operations
        rather than many tiny reductions over K-long rows.
        """
        if self.kind in ("diag", "spherical"):
            np.matmul(self.weights_t, z.T, out=out)
            out += self.bias[:, None]
        elif self.kind == "tied":
            np.matmul(xc, self.chol, out=tmp)
            np.matmul(self.weights_t, tmp.T, out=out)
            sq = np.einsum("ij,ij->i", tmp, tmp)
            sq *= -0.5
            out += sq
            out += self.bias[:, None]
        else:
            for k in range(self.bias.shape[0]):
                np.matmul(xc, self.chol[k], out=tmp)
                tmp -= self.centres[k]
                np.einsum("ij,ij->i", tmp, tmp, out=out[k])
            out *= -0.5
            out += self.bias[:, None]


def _accumulate_product(out, a, b):
    """``out += a @ b`` with float64 ``out``; a (M, n), b (n, P).

    In float32 the product's inner sum over n (thousands of frames) would be
    accumulated in float32, and its rounding error grows with n.  So float32
    products are split into 256-frame partial products (one batched BLAS call)
    whose sum is taken in float64.
    """
    if a.dtype == np.float64:
        out += a @ b
        return
    n = a.shape[1]
    q = n // _F32_CHUNK
    if q > 1:
        m = q * _F32_CHUNK
        parts = np.matmul(
            a[:, :m].reshape(a.shape[0], q, _F32_CHUNK).swapaxes(0, 1),
            b[:m].reshape(q, _F32_CHUNK, b.shape[1]),
        )
        out += parts.sum(axis=0, dtype=np.float64)
        a, b = a[:, m:], b[m:]
    if a.shape[1]:
        out += a @ b


_F32_CHUNK = 256


class _PassResult:
    """What one blockwise pass over the data produced (statistics are float64)."""

    __slots__ = ("lse_sum", "weight_sum", "nk", "s1", "s2", "neg_entropy", "shift")

    def __init__(self):
        self.lse_sum = 0.0
        self.weight_sum = 0.0
        self.nk = self.s1 = self.s2 = None
        self.neg_entropy = 0.0
        self.shift = None


def _gaussian_from_stats(res, reg_covar, covariance_type, eps):
    """Turn pass statistics into (nk, means, covariances) exactly as scikit-learn's
    ``_estimate_gaussian_parameters`` does, but from centred sums.

    Returns nk (with scikit-learn's ``10 * eps`` added), means, covariances and the
    raw (unregularised) nk.
    """
    nk_raw = res.nk
    nk = nk_raw + 10.0 * eps
    mc = res.s1 / nk[:, None]
    means = mc + res.shift
    n_features = mc.shape[1]
    if covariance_type in ("diag", "spherical"):
        var = res.s2 / nk[:, None] - mc * mc
        np.maximum(var, 0.0, out=var)
        var += reg_covar
        cov = var if covariance_type == "diag" else var.mean(axis=1)
    elif covariance_type == "tied":
        cov = (res.s2 - (nk * mc.T) @ mc) / nk.sum()
        cov.flat[:: n_features + 1] += reg_covar
    else:
        cov = res.s2 / nk[:, None, None] - mc[:, :, None] * mc[:, None, :]
        idx = np.arange(n_features)
        cov[:, idx, idx] += reg_covar
    return nk, means, cov, nk_raw


def _as_float_array(X, name="X"):
    X = np.asarray(X)
    if X.dtype.kind not in "fiub":
        raise ConfigError(f"{name} must be numeric, got an array of dtype {X.dtype}.")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    return X


def _assert_finite(X, name="X"):
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
            raise ConfigError(
                f"{name} contains NaN or infinity (first at row {row}). Remove or "
                "impute those frames (e.g. drop silent frames before computing "
                "log-features) before fitting."
            )


# ---------------------------------------------------------------------------
# k-means initialisation (blockwise, memory O(N) + block)
# ---------------------------------------------------------------------------


def _min_sqdist(X, centres, shift, block, sq_out=None, arg_out=None):
    """Blockwise min squared distance of each row to ``centres`` (and the argmin)."""
    n = X.shape[0]
    c = centres - shift
    c_sq = np.einsum("ij,ij->i", c, c)
    best = np.empty(n) if sq_out is None else sq_out
    for start in range(0, n, block):
        xb = X[start : start + block] - shift
        d = xb @ (-2.0 * c.T)
        d += c_sq
        d += np.einsum("ij,ij->i", xb, xb)[:, None]
        if arg_out is not None:
            arg = np.argmin(d, axis=1)
            arg_out[start : start + block] = arg
            best[start : start + block] = d[np.arange(d.shape[0]), arg]
        else:
            best[start : start + block] = d.min(axis=1)
    np.maximum(best, 0.0, out=best)
    return best


def _kmeans_plusplus(X, n_clusters, rng, sample_weight, shift, block):
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007); returns row indices.

    Each new centre is the best, in potential reduction, of ``2 + log(k)`` candidates
    drawn with probability proportional to weight * D(x)^2.  All candidates are
    scored in one blockwise pass.
    """
    n = X.shape[0]
    w = np.ones(n) if sample_weight is None else sample_weight
    n_trials = 2 + int(np.log(n_clusters))
    first = rng.choice(n, p=w / w.sum())
    indices = [int(first)]
    closest = _min_sqdist(X, X[[first]].astype(np.float64), shift, block)
    for _ in range(1, n_clusters):
        cum = np.cumsum(closest * w)
        if cum[-1] <= 0.0:
            # Every point coincides with a centre: pick any unused row.
            free = np.setdiff1d(np.arange(n), indices)
            indices.append(int(free[0]) if free.size else indices[-1])
            continue
        cand = np.searchsorted(cum, rng.uniform(size=n_trials) * cum[-1])
        np.clip(cand, 0, n - 1, out=cand)
        c = X[cand].astype(np.float64) - shift
        c_sq = np.einsum("ij,ij->i", c, c)
        pots = np.zeros(n_trials)
        for start in range(0, n, block):
            xb = X[start : start + block] - shift
            d = xb @ (-2.0 * c.T)
            d += c_sq
            d += np.einsum("ij,ij->i", xb, xb)[:, None]
            np.maximum(d, 0.0, out=d)
            np.minimum(d, closest[start : start + block, None], out=d)
            pots += w[start : start + block] @ d
        best = int(cand[int(np.argmin(pots))])
        indices.append(best)
        d_best = _min_sqdist(X, X[[best]].astype(np.float64), shift, block)
        np.minimum(closest, d_best, out=closest)
    return np.asarray(indices)


def _kmeans_labels(X, n_clusters, rng, sample_weight, block, max_iter=30, tol=1e-4):
    """Lloyd's k-means with k-means++ seeding; returns (n_samples,) labels.

    Only an initialisation for EM, so it stops after ``max_iter`` = 30 Lloyd steps
    even if the centres still move slightly; EM refines them anyway.

    One blockwise pass per iteration (assign, and accumulate the new centres);
    memory is O(N) for labels and distances plus one block.  Empty clusters are
    re-seeded on the points farthest from their centre.
    """
    n, n_features = X.shape
    w = np.ones(n) if sample_weight is None else sample_weight
    shift = np.average(X, axis=0, weights=w).astype(np.float64)
    var = 0.0
    for start in range(0, n, block):
        xb = X[start : start + block] - shift
        var += float(w[start : start + block] @ np.einsum("ij,ij->i", xb, xb))
    tol_abs = tol * var / (w.sum() * n_features)
    seeds = _kmeans_plusplus(X, n_clusters, rng, sample_weight, shift, block)
    centres = X[seeds].astype(np.float64)
    labels = np.empty(n, dtype=np.intp)
    dist = np.empty(n)
    for _ in range(max_iter):
        c = centres - shift
        c_sq = np.einsum("ij,ij->i", c, c)
        sums = np.zeros((n_clusters, n_features))
        for start in range(0, n, block):
            xb = X[start : start + block] - shift
            d = xb @ (-2.0 * c.T)
            d += c_sq
            lab = np.argmin(d, axis=1)
            rows = np.arange(lab.shape[0])
            labels[start : start + block] = lab
            dist[start : start + block] = d[rows, lab] + np.einsum("ij,ij->i", xb, xb)
            onehot = np.zeros((lab.shape[0], n_clusters))
            onehot[rows, lab] = w[start : start + block]
            sums += onehot.T @ xb
        counts = np.bincount(labels, weights=w, minlength=n_clusters)
        new = centres.copy()
        filled = counts > 0
        new[filled] = sums[filled] / counts[filled, None] + shift
        empty = np.flatnonzero(~filled)
        if empty.size:
            far = np.argpartition(dist, n - empty.size)[n - empty.size :]
            new[empty] = X[far]
        moved = float(np.sum((new - centres) ** 2))
        centres = new
        if moved <= tol_abs and not empty.size:
            break
    _min_sqdist(X, centres, shift, block, sq_out=dist, arg_out=labels)
    return labels


# ---------------------------------------------------------------------------
# The shared estimator machinery
# ---------------------------------------------------------------------------


class BaseMixture:
    """EM / variational-Bayes loop shared by the mixture estimators.

    Subclasses provide the model in small hooks: ``_check_parameters``,
    ``_initialize``, ``_estimate_log_weights``, ``_log_prob_correction``,
    ``_m_step``, ``_compute_lower_bound``, ``_get_parameters``,
    ``_set_parameters`` and ``_n_parameters``.  This class owns validation, the
    initialisation strategies, the blockwise E-step and the loop itself.
    """

    # Set to an int (rows) on an instance to force a block size (tests use this to
    # exercise the multi-block code paths on small data).
    _block_size = None
    # Whether the lower bound needs sum(resp * log resp) from the E-step.
    _needs_entropy = False
    _param_names = ()
    _fitted_names = ()

    def __init__(
        self,
        n_components,
        *,
        covariance_type,
        tol,
        reg_covar,
        max_iter,
        n_init,
        init_params,
        random_state,
        warm_start,
        dtype,
    ):
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

    # -- validation -------------------------------------------------------

    def _check_common_parameters(self):
        def bad(name, expected):
            raise ConfigError(
                f"{type(self).__name__}: invalid {name}={getattr(self, name)!r}; "
                f"expected {expected}."
            )

        def is_int(v):
            return isinstance(v, numbers.Integral) and not isinstance(v, bool)

        if not is_int(self.n_components) or self.n_components < 1:
            bad("n_components", "an int >= 1")
        if self.covariance_type not in _COVARIANCE_TYPES:
            bad("covariance_type", f"one of {_COVARIANCE_TYPES}")
        if not isinstance(self.tol, numbers.Real) or not self.tol >= 0:
            bad("tol", "a float >= 0")
        if not isinstance(self.reg_covar, numbers.Real) or not self.reg_covar >= 0:
            bad("reg_covar", "a float >= 0")
        if not is_int(self.max_iter) or self.max_iter < 0:
            bad("max_iter", "an int >= 0")
        if not is_int(self.n_init) or self.n_init < 1:
            bad("n_init", "an int >= 1")
        if self.init_params not in _INIT_PARAMS:
            bad("init_params", f"one of {_INIT_PARAMS}")
        if np.dtype(self.dtype) not in (np.float32, np.float64):
            bad("dtype", "np.float64 or np.float32")

    def _validate_X(self, X, *, fitting):
        X = _as_float_array(X)
        if X.ndim != 2:
            raise ConfigError(
                f"X must be a 2-D array of shape (n_samples, n_features), got shape "
                f"{X.shape}; reshape a single feature with X.reshape(-1, 1)."
            )
        if fitting:
            if X.shape[0] < max(2, self.n_components):
                raise ConfigError(
                    f"Expected n_samples >= n_components (and >= 2) but got "
                    f"n_components={self.n_components}, n_samples={X.shape[0]}. Use "
                    "fewer components or more frames."
                )
        else:
            self._check_is_fitted()
            n_features = self.means_.shape[1]
            if X.shape[1] != n_features:
                raise ConfigError(
                    f"X has {X.shape[1]} features but the model was fitted with "
                    f"{n_features}."
                )
        if X.shape[1] < 1:
            raise ConfigError("X has no features (n_features = 0).")
        _assert_finite(X)
        return X

    def _validate_sample_weight(self, sample_weight, n_samples):
        if sample_weight is None:
            return None
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.shape != (n_samples,):
            raise ConfigError(
                f"sample_weight must have shape (n_samples,) = ({n_samples},), got "
                f"{w.shape}."
            )
        if not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
            raise ConfigError(
                "sample_weight must be finite, non-negative and not all zero."
            )
        return w

    def _check_is_fitted(self):
        if not hasattr(self, "precisions_cholesky_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit(X) "
                "first (or load a fitted model with from_dict)."
            )

    # -- the blockwise pass -----------------------------------------------

    def _block(self, n_features):
        if self._block_size is not None:
            return int(self._block_size)
        return _block_rows(n_features, self.n_components, np.dtype(self.dtype).itemsize)

    def _plan(self, shift):
        offset = self._estimate_log_weights() + self._log_prob_correction()
        return _LogDensityPlan(
            self.means_,
            self.precisions_cholesky_,
            self.covariance_type,
            shift,
            offset,
            np.dtype(self.dtype),
        )

    def _pass(
        self,
        X,
        sample_weight=None,
        *,
        resp_in=None,
        stats=False,
        entropy=False,
        lse_out=None,
        resp_out=None,
        wlp_out=None,
        labels_out=None,
        shift=None,
    ):
        """One walk over X in row blocks.

        Without ``resp_in`` this is the E-step: per block, weighted log-probabilities
        of the current parameters, normalised in place (log-sum-exp) into
        responsibilities.  With ``resp_in`` (a callable ``(start, stop) -> resp
        block``) the given responsibilities are used instead (initialisation).

        Depending on the flags it accumulates the M-step statistics (float64: nk,
        first and second moments about ``shift``), the weighted sum of per-frame
        log-likelihoods and sum(resp * log resp), and fills the requested per-frame
        outputs.
        """
        n_samples, n_features = X.shape
        n_comp = self.n_components
        dt = np.dtype(self.dtype)
        cov = self.covariance_type
        block = self._block(n_features)
        rows = min(block, n_samples)
        res = _PassResult()
        if shift is None:
            shift = np.mean(self.means_, axis=0)
        res.shift = shift
        shift_dt = shift.astype(dt)
        plan = None if resp_in is not None else self._plan(shift)
        fused = cov in ("diag", "spherical")
        z = np.empty((rows, 2 * n_features if fused else n_features), dtype=dt)
        wlp = np.empty(rows * n_comp, dtype=dt)
        tmp = None if fused else np.empty((rows, n_features), dtype=dt)
        m_buf = np.empty(rows, dtype=dt)
        s_buf = np.empty(rows, dtype=dt)
        a_buf = np.empty(rows * n_comp, dtype=dt) if entropy else None
        if stats:
            res.nk = np.zeros(n_comp)
            if fused:
                s12 = np.zeros((n_comp, 2 * n_features))
            else:
                res.s1 = np.zeros((n_comp, n_features))
                shape = (n_features, n_features) if cov == "tied" else (
                    n_comp, n_features, n_features)
                res.s2 = np.zeros(shape)
        lse_sum = 0.0
        neg_ent = 0.0

        for start in range(0, n_samples, block):
            stop = min(n_samples, start + block)
            b = stop - start
            zb = z[:b]
            xc = zb[:, :n_features]
            np.subtract(X[start:stop], shift_dt, out=xc, casting="same_kind")
            if fused:
                np.multiply(xc, xc, out=zb[:, n_features:])
            w = None if sample_weight is None else sample_weight[start:stop]
            # (K, b) view of the flat buffer, contiguous for every block length.
            r = wlp[: n_comp * b].reshape(n_comp, b)
            if resp_in is None:
                plan(zb, xc, r, None if tmp is None else tmp[:b])
                if wlp_out is not None:
                    wlp_out[start:stop] = r.T
                if labels_out is not None:
                    labels_out[start:stop] = np.argmax(r, axis=0)
                m = np.max(r, axis=0, out=m_buf[:b])
                r -= m
                if entropy:
                    a = a_buf[: n_comp * b].reshape(n_comp, b)
                    np.copyto(a, r)
                np.exp(r, out=r)
                s = np.sum(r, axis=0, out=s_buf[:b])
                log_s = np.log(s)
                lse = log_s + m
                s = np.reciprocal(s, out=s)
                r *= s
                if lse_out is not None:
                    lse_out[start:stop] = lse
                if resp_out is not None:
                    resp_out[start:stop] = r.T
                if w is None:
                    lse_sum += float(np.sum(lse, dtype=np.float64))
                else:
                    lse_sum += float(w @ lse)
                if entropy:
                    ent = np.einsum("kb,kb->b", r, a)
                    ent -= log_s
                    neg_ent += float(np.sum(ent, dtype=np.float64) if w is None else w @ ent)
            else:
                r[...] = resp_in(start, stop).T
            if not stats:
                continue
            if w is not None:
                r *= w.astype(dt)
            res.nk += np.sum(r, axis=1, dtype=np.float64)
            if fused:
                _accumulate_product(s12, r, zb)
            else:
                _accumulate_product(res.s1, r, xc)
                if cov == "tied":
                    wxc = xc if w is None else xc * w[:, None].astype(dt)
                    _accumulate_product(res.s2, wxc.T, xc)
                else:
                    t = tmp[:b]
                    for k in range(n_comp):
                        np.multiply(xc, r[k][:, None], out=t)
                        _accumulate_product(res.s2[k], t.T, xc)
        if stats and fused:
            res.s1 = s12[:, :n_features].copy()
            res.s2 = s12[:, n_features:].copy()
        res.lse_sum = lse_sum
        res.weight_sum = float(n_samples if sample_weight is None else sample_weight.sum())
        res.neg_entropy = neg_ent
        return res

    def _stats_from_resp(self, X, resp, sample_weight, shift):
        return self._pass(
            X, sample_weight, resp_in=lambda a, b: resp[a:b], stats=True, shift=shift
        )

    # -- initialisation -----------------------------------------------------

    def _initial_resp(self, X, random_state, sample_weight):
        """Responsibilities (or rows with one-hot responsibilities) from init_params.

        Returns ``(X_used, resp, sample_weight_used)``.  For the seeding strategies
        only the K seed rows carry responsibility, so only those rows are passed.
        """
        n_samples = X.shape[0]
        k = self.n_components
        block = self._block(X.shape[1])
        if self.init_params == "kmeans":
            labels = _kmeans_labels(X, k, random_state, sample_weight, block)
            resp = _OneHot(labels, k)
            return X, resp, sample_weight
        if self.init_params == "random":
            resp = random_state.uniform(size=(n_samples, k))
            resp /= resp.sum(axis=1)[:, None]
            return X, resp, sample_weight
        if self.init_params == "random_from_data":
            idx = random_state.choice(n_samples, size=k, replace=False)
        else:
            shift = np.mean(X, axis=0, dtype=np.float64)
            idx = _kmeans_plusplus(X, k, random_state, sample_weight, shift, block)
        sw = None if sample_weight is None else sample_weight[idx]
        return X[idx], np.eye(k), sw

    def _initialize_parameters(self, X, random_state, sample_weight):
        X_used, resp, sw = self._initial_resp(X, random_state, sample_weight)
        self._initialize(X_used, resp, sw)

    # -- the loop -----------------------------------------------------------

    def fit(self, X, sample_weight=None):
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

    def fit_predict(self, X, sample_weight=None):
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

    def _fit(self, X, sample_weight):
        self._check_common_parameters()
        X = self._validate_X(X, fitting=True)
        sample_weight = self._validate_sample_weight(sample_weight, X.shape[0])
        self._check_parameters(X, sample_weight)

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
                res = self._pass(
                    X, sample_weight, stats=True, entropy=self._needs_entropy
                )
                self._m_step(res)
                lower_bound = self._compute_lower_bound(res)
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

        if not best_converged and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Increase max_iter "
                "or tol, try different init parameters, or check for degenerate data.",
                ConvergenceWarning,
                stacklevel=3,
            )
        self._set_parameters(best)
        self.converged_ = best_converged
        self.n_iter_ = best_n_iter
        self.lower_bound_ = max_lower_bound
        self.lower_bounds_ = best_history
        self.n_features_in_ = X.shape[1]
        return X

    # -- prediction ---------------------------------------------------------

    def log_likelihoods(self, X):
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
        self._pass(X, lse_out=out)
        return out

    def score_samples(self, X):
        """Log density of each sample, log p(x); same as :meth:`log_likelihoods`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        return self.log_likelihoods(X)

    def score(self, X, y=None):
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
        return self._pass(X).lse_sum / X.shape[0]

    def predict(self, X):
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
        self._pass(X, labels_out=labels)
        return labels

    def predict_proba(self, X):
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
        self._pass(X, resp_out=out)
        return out

    def _estimate_weighted_log_prob(self, X):
        """log p(x | k) + log weight_k (E[log pi_k] for VB), shape (n_samples, K)."""
        X = self._validate_X(X, fitting=False)
        out = np.empty((X.shape[0], self.n_components))
        self._pass(X, wlp_out=out)
        return out

    def estimate_weighted_log_prob(self, X):
        """Public alias of :meth:`_estimate_weighted_log_prob`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        weighted_log_prob : ndarray of shape (n_samples, n_components)
        """
        return self._estimate_weighted_log_prob(X)

    def _estimate_log_prob(self, X):
        """log p(x | k) (plus the VB correction for BayesianGaussianMixture)."""
        return self._estimate_weighted_log_prob(X) - self._estimate_log_weights()

    def _log_prob_correction(self):
        return 0.0

    def sample(self, n_samples=1):
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
            raise ConfigError(f"sample needs n_samples >= 1, got {n_samples!r}.")
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

    def to_dict(self):
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
    def from_dict(cls, state):
        """Rebuild a fitted model from :meth:`to_dict` output (or its loaded npz).

        Parameters
        ----------
        state : mapping
            The dict from ``to_dict`` or ``np.load`` of a file written from it.

        Returns
        -------
        model : estimator
        """
        def scalar(v):
            v = np.asarray(v)
            return v.item() if v.ndim == 0 else v

        try:
            kind = str(scalar(state["class"]))
            version = int(scalar(state["format"]))
        except KeyError as exc:
            raise ConfigError(f"Not a saved mixture model: missing key {exc}.") from None
        if kind != cls.__name__ or version != _FORMAT_VERSION:
            raise ConfigError(
                f"Saved model is a {kind} (format {version}); load it with "
                f"{kind}.from_dict (this version reads format {_FORMAT_VERSION})."
            )
        params = {}
        for key in state.keys():
            if key.startswith("param:"):
                value = scalar(state[key])
                name = key[len("param:"):]
                if name == "dtype":
                    value = np.dtype(value).type
                params[name] = value
        model = cls(**params)
        for name in cls._fitted_names:
            value = np.asarray(state["attr:" + name])
            if value.ndim == 0:
                value = value.item()
            setattr(model, name, value)
        model._after_load()
        return model

    def _after_load(self):
        if isinstance(self.lower_bounds_, float):
            self.lower_bounds_ = [self.lower_bounds_]
        else:
            self.lower_bounds_ = list(np.asarray(self.lower_bounds_, dtype=float))
        self._set_parameters(self._get_parameters())
        self.n_features_in_ = self.means_.shape[1]

    def get_params(self, deep=True):
        """Constructor parameters as a dict (scikit-learn convention)."""
        return {name: getattr(self, name) for name in self._param_names}

    def set_params(self, **params):
        """Set constructor parameters (scikit-learn convention); returns self."""
        for name, value in params.items():
            if name not in self._param_names:
                raise ConfigError(f"{type(self).__name__} has no parameter {name!r}.")
            setattr(self, name, value)
        return self

    def __repr__(self):
        return f"{type(self).__name__}(n_components={self.n_components}, covariance_type={self.covariance_type!r})"


class _OneHot:
    """Lazily sliced one-hot responsibilities from labels (no N x K array)."""

    def __init__(self, labels, n_components):
        self.labels = labels
        self.n_components = n_components

    def __getitem__(self, sl):
        lab = self.labels[sl]
        out = np.zeros((lab.shape[0], self.n_components))
        out[np.arange(lab.shape[0]), lab] = 1.0
        return out


# ---------------------------------------------------------------------------
# Maximum-likelihood Gaussian mixture
# ---------------------------------------------------------------------------


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

    _param_names = (
        "n_components", "covariance_type", "tol", "reg_covar", "max_iter", "n_init",
        "init_params", "weights_init", "means_init", "precisions_init",
        "random_state", "warm_start", "dtype",
    )
    _fitted_names = (
        "weights_", "means_", "covariances_", "precisions_cholesky_", "converged_",
        "n_iter_", "lower_bound_", "lower_bounds_",
    )

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="diag",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        dtype=np.float64,
    ):
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

    def _check_parameters(self, X, sample_weight):
        n_features = X.shape[1]
        k = self.n_components
        if self.weights_init is not None:
            w = np.asarray(self.weights_init, dtype=np.float64)
            if w.shape != (k,):
                raise ConfigError(f"weights_init must have shape ({k},), got {w.shape}.")
            if np.any(w < 0) or np.any(w > 1) or not np.isclose(w.sum(), 1.0, rtol=0, atol=1e-6):
                raise ConfigError(
                    "weights_init must be in [0, 1] and sum to 1; normalise it with "
                    "w / w.sum()."
                )
        if self.means_init is not None:
            m = np.asarray(self.means_init, dtype=np.float64)
            if m.shape != (k, n_features):
                raise ConfigError(
                    f"means_init must have shape ({k}, {n_features}), got {m.shape}."
                )
        if self.precisions_init is not None:
            p = np.asarray(self.precisions_init, dtype=np.float64)
            shape = {
                "spherical": (k,),
                "diag": (k, n_features),
                "tied": (n_features, n_features),
                "full": (k, n_features, n_features),
            }[self.covariance_type]
            if p.shape != shape:
                raise ConfigError(
                    f"precisions_init for covariance_type={self.covariance_type!r} must "
                    f"have shape {shape}, got {p.shape}."
                )
            if self.covariance_type in ("diag", "spherical"):
                if np.any(p <= 0):
                    raise ConfigError("precisions_init must be strictly positive.")
            else:
                mats = p[None] if p.ndim == 2 else p
                for mat in mats:
                    if not np.allclose(mat, mat.T) or np.any(np.linalg.eigvalsh(mat) <= 0):
                        raise ConfigError(
                            "precisions_init must be symmetric positive-definite."
                        )

    def _initialize_parameters(self, X, random_state, sample_weight):
        if (
            self.weights_init is not None
            and self.means_init is not None
            and self.precisions_init is not None
        ):
            self._initialize(X, None, sample_weight)
        else:
            super()._initialize_parameters(X, random_state, sample_weight)

    def _initialize(self, X, resp, sample_weight=None):
        """Set the initial parameters from responsibilities and the *_init arrays.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
        resp : array of shape (n_samples, n_components), or None when all of
            weights_init, means_init and precisions_init are given.
        sample_weight : array of shape (n_samples,), optional
        """
        eps = np.finfo(np.dtype(self.dtype)).eps
        weights = means = covariances = None
        if resp is not None:
            shift = np.mean(X, axis=0, dtype=np.float64)
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

    def _estimate_log_weights(self):
        with np.errstate(divide="ignore"):
            return np.log(self.weights_)

    def _m_step(self, res):
        eps = np.finfo(np.dtype(self.dtype)).eps
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
                except ConfigError:
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

    def _compute_lower_bound(self, res):
        return res.lse_sum / res.weight_sum

    def _get_parameters(self):
        return (
            self.weights_.copy(),
            self.means_.copy(),
            self.covariances_.copy(),
            self.precisions_cholesky_.copy(),
        )

    def _set_parameters(self, params):
        self.weights_, self.means_, self.covariances_, self.precisions_cholesky_ = params
        self.precisions_ = _precisions_from_cholesky(
            self.precisions_cholesky_, self.covariance_type
        )

    def _n_parameters(self):
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

    def bic(self, X):
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

    def sufficient_statistics(self, X, *, sample_weight=None):
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
        res = self._pass(X, w, stats=True)
        shift = res.shift
        first = res.s1 + res.nk[:, None] * shift
        second = None
        if self.covariance_type in ("diag", "spherical"):
            # sum g (x - s)^2 + 2 s sum g (x - s) + s^2 sum g = sum g x^2
            second = res.s2 + 2.0 * shift * res.s1 + res.nk[:, None] * shift ** 2
        return MixtureStats(res.nk.copy(), first, second)

    def map_adapt(self, X, *, relevance_factor=16.0, params="m", sample_weight=None):
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

    def map_adapt_stats(self, stats, *, relevance_factor=16.0, params="m"):
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
            raise ConfigError(f"relevance_factor must be a finite number >= 0, got {relevance_factor!r}.")
        if not params or set(params) - set("wmv"):
            raise ConfigError(f"params must be made of 'w', 'm' and 'v', got {params!r}.")
        if "v" in params and "m" not in params:
            raise ConfigError(
                "Variance adaptation needs the means adapted too (Reynolds' update is about "
                "the adapted means): use params='mv' or 'wmv'."
            )
        if "v" in params and self.covariance_type != "diag":
            raise ConfigError(
                "Variance adaptation needs covariance_type='diag'; adapt means and weights "
                f"(params='wm') of a {self.covariance_type!r} model instead."
            )
        n = np.asarray(stats.n, dtype=np.float64)
        if n.shape != (self.n_components,):
            raise ConfigError(f"stats.n must have shape ({self.n_components},), got {n.shape}.")
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
                raise ConfigError("stats.second is needed to adapt variances.")
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

    def aic(self, X):
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


def load_arrays(path, *, what):
    """The arrays of an ``.npz`` model file (read without pickle), as a dict.

    Parameters
    ----------
    path : path-like
    what : str, keyword-only
        What the file should hold, for the error message ("SAD model", "UBM").

    Raises
    ------
    ConfigError
        The file is missing, unreadable, truncated or not an ``.npz`` archive.
    """
    try:
        with np.load(path, allow_pickle=False) as d:
            return {k: d[k] for k in d.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from None


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

    def __init__(self, n, first, second=None):
        self.n = n
        self.first = first
        self.second = second

    def __add__(self, other):
        second = None if self.second is None or other.second is None else self.second + other.second
        return MixtureStats(self.n + other.n, self.first + other.first, second)


def map_adapted_means(means, n, first, *, relevance_factor):
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


# ---------------------------------------------------------------------------
# Variational Bayesian Gaussian mixture
# ---------------------------------------------------------------------------


def _data_moments(X, sample_weight, covariance_type, block):
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


def _log_dirichlet_norm(concentration):
    return gammaln(np.sum(concentration)) - np.sum(gammaln(concentration))


def _log_wishart_norm(dof, log_det_prec_chol, n_features):
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
    _param_names = (
        "n_components", "covariance_type", "tol", "reg_covar", "max_iter", "n_init",
        "init_params", "weight_concentration_prior_type", "weight_concentration_prior",
        "mean_precision_prior", "mean_prior", "degrees_of_freedom_prior",
        "covariance_prior", "random_state", "warm_start", "dtype",
    )
    _fitted_names = (
        "weight_concentration_", "mean_precision_", "means_", "degrees_of_freedom_",
        "covariances_", "precisions_cholesky_", "converged_", "n_iter_",
        "lower_bound_", "lower_bounds_", "weight_concentration_prior_",
        "mean_precision_prior_", "mean_prior_", "degrees_of_freedom_prior_",
        "covariance_prior_",
    )

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="diag",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=None,
        mean_precision_prior=None,
        mean_prior=None,
        degrees_of_freedom_prior=None,
        covariance_prior=None,
        random_state=None,
        warm_start=False,
        dtype=np.float64,
    ):
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

    def _check_parameters(self, X, sample_weight):
        n_features = X.shape[1]
        k = self.n_components
        ctype = self.covariance_type
        if self.weight_concentration_prior_type not in (
            "dirichlet_process", "dirichlet_distribution"
        ):
            raise ConfigError(
                "weight_concentration_prior_type must be 'dirichlet_process' or "
                f"'dirichlet_distribution', got {self.weight_concentration_prior_type!r}."
            )
        for name in ("weight_concentration_prior", "mean_precision_prior"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, numbers.Real) and value > 0):
                raise ConfigError(f"{name} must be a float > 0 or None, got {value!r}.")
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
                raise ConfigError(
                    f"mean_prior must have shape ({n_features},), got "
                    f"{self.mean_prior_.shape}."
                )
        if self.degrees_of_freedom_prior is None:
            self.degrees_of_freedom_prior_ = float(n_features)
        elif self.degrees_of_freedom_prior > n_features - 1.0:
            self.degrees_of_freedom_prior_ = float(self.degrees_of_freedom_prior)
        else:
            raise ConfigError(
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
                raise ConfigError(
                    f"covariance_prior for covariance_type={ctype!r} must have shape "
                    f"{shape}, got {prior.shape}."
                )
            if ctype in ("full", "tied"):
                ok = np.allclose(prior, prior.T) and np.all(np.linalg.eigvalsh(prior) > 0)
            else:
                ok = np.all(prior > 0)
            if not ok:
                raise ConfigError(
                    "covariance_prior must be positive (positive-definite for "
                    "'full'/'tied')."
                )
            self.covariance_prior_ = float(prior) if ctype == "spherical" else prior

    # -- hooks ---------------------------------------------------------------

    def _initialize(self, X, resp, sample_weight=None):
        """Set the variational parameters from initial responsibilities.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
        resp : array of shape (n_samples, n_components)
        sample_weight : array of shape (n_samples,), optional
        """
        shift = np.mean(X, axis=0, dtype=np.float64)
        res = self._stats_from_resp(X, resp, sample_weight, shift)
        self._update_from_stats(res)

    def _m_step(self, res):
        self._update_from_stats(res)

    def _update_from_stats(self, res):
        eps = np.finfo(np.dtype(self.dtype)).eps
        nk, xk, sk, _ = _gaussian_from_stats(res, self.reg_covar, self.covariance_type, eps)
        self._estimate_weights(nk)
        self._estimate_means(nk, xk)
        self._estimate_precisions(nk, xk, sk)

    def _estimate_weights(self, nk):
        if self.weight_concentration_prior_type == "dirichlet_process":
            tail = np.hstack((np.cumsum(nk[::-1])[-2::-1], 0.0))
            self.weight_concentration_ = (1.0 + nk, self.weight_concentration_prior_ + tail)
        else:
            self.weight_concentration_ = self.weight_concentration_prior_ + nk

    def _estimate_means(self, nk, xk):
        self.mean_precision_ = self.mean_precision_prior_ + nk
        self.means_ = (
            self.mean_precision_prior_ * self.mean_prior_ + nk[:, None] * xk
        ) / self.mean_precision_[:, None]

    def _estimate_precisions(self, nk, xk, sk):
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

    def _estimate_log_weights(self):
        wc = self.weight_concentration_
        if self.weight_concentration_prior_type == "dirichlet_process":
            digamma_sum = digamma(wc[0] + wc[1])
            digamma_b = digamma(wc[1])
            return (
                digamma(wc[0]) - digamma_sum
                + np.hstack((0.0, np.cumsum(digamma_b - digamma_sum)[:-1]))
            )
        return digamma(wc) - digamma(np.sum(wc))

    def _log_prob_correction(self):
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

    def _compute_lower_bound(self, res):
        n_features = self.means_.shape[1]
        log_det_prec_chol = _log_det_cholesky(
            self.precisions_cholesky_, self.covariance_type, n_features
        ) - 0.5 * n_features * np.log(self.degrees_of_freedom_)
        log_wishart = _log_wishart_norm(
            self.degrees_of_freedom_, log_det_prec_chol, n_features
        )
        if self.covariance_type == "tied":
            log_wishart = self.n_components * float(np.sum(log_wishart))
        else:
            log_wishart = float(np.sum(log_wishart))
        if self.weight_concentration_prior_type == "dirichlet_process":
            wc = self.weight_concentration_
            log_norm_weight = -float(np.sum(betaln(wc[0], wc[1])))
        else:
            log_norm_weight = float(_log_dirichlet_norm(self.weight_concentration_))
        return (
            -res.neg_entropy
            - log_wishart
            - log_norm_weight
            - 0.5 * n_features * float(np.sum(np.log(self.mean_precision_)))
        )

    def _get_parameters(self):
        wc = self.weight_concentration_
        wc = tuple(np.array(a) for a in wc) if isinstance(wc, tuple) else np.array(wc)
        return (
            wc,
            np.array(self.mean_precision_),
            np.array(self.means_),
            np.array(self.degrees_of_freedom_) if np.ndim(self.degrees_of_freedom_)
            else float(self.degrees_of_freedom_),
            np.array(self.covariances_),
            np.array(self.precisions_cholesky_),
        )

    def _set_parameters(self, params):
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
            self.weights_ = wc / np.sum(wc)
        self.precisions_ = _precisions_from_cholesky(
            self.precisions_cholesky_, self.covariance_type
        )

    def _after_load(self):
        wc = np.asarray(self.weight_concentration_)
        if self.weight_concentration_prior_type == "dirichlet_process":
            self.weight_concentration_ = (wc[0], wc[1])
        super()._after_load()
