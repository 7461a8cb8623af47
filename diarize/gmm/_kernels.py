"""Numeric kernels of the mixture estimators: Cholesky factors, log-densities, products.

Everything here is a pure function of its arguments (or a small object built once
per pass); the estimators in ``_base``, ``_gaussian`` and ``_bayesian`` own the state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import numpy as np
from numpy.typing import DTypeLike, NDArray

from diarize.errors import FitError

_LOG_2PI = math.log(2.0 * math.pi)
# Frames per partial product when a float32 product is summed in float64.
_F32_CHUNK = 256

_ILL_DEFINED = (
    "Fitting the mixture model failed because some components have an ill-defined "
    "covariance (for instance caused by singleton or collapsed samples). Decrease "
    "n_components, increase reg_covar, or scale the input data."
)


def _block_rows(n_features: int, n_components: int, itemsize: int) -> int:
    # About 1 MiB of working set per block: big enough for efficient BLAS calls,
    # small enough to stay in the L2 cache between the matmul, the exp and the
    # statistics product that reuse the same block.
    row_bytes = itemsize * (2 * n_features + 2 * n_components)
    return int(min(16384, max(1024, (1 << 20) // row_bytes)))


def _log_det_cholesky(prec_chol: NDArray[np.float64], covariance_type: str,
                      n_features: int) -> NDArray[np.float64]:
    """Log-determinant of the precision Cholesky factors, shape (n_components,)."""
    if covariance_type == "full":
        return np.sum(np.log(np.diagonal(prec_chol, axis1=1, axis2=2)), axis=1)
    if covariance_type == "tied":
        return np.sum(np.log(np.diag(prec_chol)))
    if covariance_type == "diag":
        return np.sum(np.log(prec_chol), axis=1)
    return n_features * np.log(prec_chol)


def _precision_cholesky(covariances: NDArray[np.float64],
                        covariance_type: str) -> NDArray[np.float64]:
    """Upper-triangular U with precision = U @ U.T, from covariances (float64)."""
    if covariance_type in ("diag", "spherical"):
        if np.any(covariances <= 0.0):
            raise FitError(_ILL_DEFINED)
        return 1.0 / np.sqrt(covariances)
    # Only full and tied covariances need scipy.linalg (~0.1 s to import): not the run path.
    from scipy import linalg

    mats = covariances[None] if covariance_type == "tied" else covariances
    n_features = mats.shape[-1]
    out = np.empty_like(mats)
    eye = np.eye(n_features)
    for k, cov in enumerate(mats):
        try:
            chol = linalg.cholesky(cov, lower=True)
        except linalg.LinAlgError:
            raise FitError(_ILL_DEFINED) from None
        out[k] = linalg.solve_triangular(chol, eye, lower=True).T
    return out[0] if covariance_type == "tied" else out


def _precision_cholesky_from_precisions(precisions: NDArray[np.float64],
                                        covariance_type: str) -> NDArray[np.float64]:
    if covariance_type in ("diag", "spherical"):
        return np.sqrt(precisions)
    # Reversing rows and columns turns the lower Cholesky factor of the reversed
    # matrix into the upper factor U with precision = U @ U.T (scikit-learn #26415).
    mats = precisions[None] if covariance_type == "tied" else precisions
    out = np.stack([np.linalg.cholesky(p[::-1, ::-1])[::-1, ::-1] for p in mats])
    return out[0] if covariance_type == "tied" else out


def _precisions_from_cholesky(prec_chol: NDArray[np.float64],
                              covariance_type: str) -> NDArray[np.float64]:
    if covariance_type == "full":
        return np.matmul(prec_chol, np.swapaxes(prec_chol, 1, 2))
    if covariance_type == "tied":
        return prec_chol @ prec_chol.T
    return prec_chol**2


def _covariances_from_precisions(precisions: NDArray[np.float64],
                                 covariance_type: str) -> NDArray[np.float64]:
    # numpy's stubs type the inverse of any float array as floating[Any]; float64 in,
    # float64 out.
    if covariance_type == "full":
        return cast("NDArray[np.float64]", np.linalg.inv(precisions))
    if covariance_type == "tied":
        return cast("NDArray[np.float64]", np.linalg.inv(precisions))
    return 1.0 / precisions


class _LogDensityPlan:
    """Per-pass coefficients that turn a centred block into log N(x | mu_k, S_k).

    Built once per pass from the float64 parameters (cheap: K x D or K x D x D) and
    cast to the working dtype, so the per-block work is one or two BLAS calls.
    ``offset`` (n_components,) is added to every row: the Gaussian normaliser plus
    whatever the estimator adds (log weights, variational corrections).
    """

    def __init__(self, means: NDArray[np.float64], prec_chol: NDArray[np.float64],
                 covariance_type: str, shift: NDArray[np.float64],
                 offset: NDArray[np.float64] | float, dtype: DTypeLike) -> None:
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

    def __call__(self, z: NDArray[np.floating], xc: NDArray[np.floating],
                 out: NDArray[np.floating], tmp: NDArray[np.floating] | None) -> None:
        """Fill ``out`` (K, rows) from ``z`` = [xc, xc**2] (diag) or ``xc`` (rows, D).

        Components run along the first axis so that the per-frame reductions of the
        log-sum-exp (max and sum over components) are contiguous vector operations
        rather than many tiny reductions over K-long rows.
        """
        if self.kind in ("diag", "spherical"):
            np.matmul(self.weights_t, z.T, out=out)
            out += self.bias[:, None]
        elif self.kind == "tied":
            assert tmp is not None  # the blocks give 'tied' and 'full' a scratch buffer
            np.matmul(xc, self.chol, out=tmp)
            np.matmul(self.weights_t, tmp.T, out=out)
            sq = np.einsum("ij,ij->i", tmp, tmp)
            sq *= -0.5
            out += sq
            out += self.bias[:, None]
        else:
            assert tmp is not None
            for k in range(self.bias.shape[0]):
                np.matmul(xc, self.chol[k], out=tmp)
                tmp -= self.centres[k]
                np.einsum("ij,ij->i", tmp, tmp, out=out[k])
            out *= -0.5
            out += self.bias[:, None]


def _accumulate_product(out: NDArray[np.float64], a: NDArray[np.floating],
                        b: NDArray[np.floating]) -> None:
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


@dataclass(kw_only=True)
class _PassResult:
    """What one blockwise pass over the data produced (statistics are float64).

    ``nk`` (K,), ``s1`` (K, D) and ``s2`` ((K, D) diag/spherical, (D, D) tied,
    (K, D, D) full) are the zeroth, first and second moments of the responsibilities
    about ``shift`` (D,).
    """

    lse_sum: float = 0.0
    weight_sum: float = 0.0
    nk: NDArray[np.float64]
    s1: NDArray[np.float64]
    s2: NDArray[np.float64]
    neg_entropy: float = 0.0
    shift: NDArray[np.float64]


def _gaussian_from_stats(
    res: _PassResult, reg_covar: float, covariance_type: str, eps: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
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
