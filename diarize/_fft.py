"""The real FFT and DCTs of :mod:`diarize.features`: scipy.fft's pocketfft kernels, without
the cost of ``import scipy.fft``.

``import scipy.fft`` takes about a quarter of a second (it imports ``scipy.special`` and
scipy's array-API layer, which loads ``numpy.f2py`` and ``numpy.testing``), longer than
the MFCCs of a short recording. The transforms themselves are one compiled module,
``scipy/fft/_pocketfft/pypocketfft``, which imports nothing of scipy: it is loaded from
its file, under its own name (:func:`diarize._scipy_ext.load_extension`); one already
imported by ``import scipy.fft`` is used as it is. The functions below make the same
kernel calls that :func:`scipy.fft.rfft` and :func:`scipy.fft.dct` make for the float32,
C-ordered arrays the features pass (one worker, scipy's default): the results are the same
bits. numpy's own FFT is not a substitute: its float32 transforms differ from scipy's in
the last bits, which would move the features. Should scipy ever move the module, the
public :mod:`scipy.fft` is used.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._scipy_ext import load_extension

#: The module's name inside scipy.
_NAME = "scipy.fft._pocketfft.pypocketfft"
#: pypocketfft's normalisation codes of forward transforms (scipy's ``_NORM_MAP``)...
_NORM = {None: 0, "ortho": 1}
#: ... and of an inverse one with the default ("backward") normalisation: 1/n.
_INORM_BACKWARD = 2

_kernels: Any = None  # pypocketfft once loaded; False when only scipy.fft will do


def _pocketfft() -> Any:
    """pypocketfft, loaded on first use; False if only the public scipy.fft will do."""
    global _kernels
    if _kernels is None:
        _kernels = load_extension(_NAME, needs=("r2c", "dct")) or False
    return _kernels


def _last(x: np.ndarray, n: int) -> np.ndarray:
    """`x` cut or zero-padded to `n` along its last axis (scipy's ``_fix_shape_1d``)."""
    if x.shape[-1] >= n:
        return x[..., :n]
    out = np.zeros(x.shape[:-1] + (n,), x.dtype)
    out[..., : x.shape[-1]] = x
    return out


def rfft(x: np.ndarray, n: int | None = None) -> np.ndarray:
    """``scipy.fft.rfft(x, n, axis=-1)``.

    Parameters
    ----------
    x : ndarray, shape (..., m), float32 or float64, C-ordered
    n : int, optional
        Transform length (`x` cut or zero-padded to it); `m` by default.

    Returns
    -------
    ndarray, shape (..., n // 2 + 1), complex64 or complex128
    """
    pf = _pocketfft()
    if not pf:
        import scipy.fft

        return scipy.fft.rfft(x, n, axis=-1)
    if n is not None:
        x = _last(x, n)
    return pf.r2c(x, (x.ndim - 1,), True, _NORM[None], None, 1)


def irfft(x: np.ndarray, n: int) -> np.ndarray:
    """``scipy.fft.irfft(x, n, axis=-1)`` of a real `x` (a power spectrum).

    Parameters
    ----------
    x : ndarray, shape (..., n // 2 + 1), float64
    n : int

    Returns
    -------
    ndarray, shape (..., n), float64
    """
    pf = _pocketfft()
    if not pf:
        import scipy.fft

        return scipy.fft.irfft(x, n, axis=-1)
    z = _last(x + 0.0j, n // 2 + 1)
    return pf.c2r(z, (z.ndim - 1,), n, False, _INORM_BACKWARD, None, 1)


def dct(x: np.ndarray, *, type: int, norm: str | None = None,
        overwrite_x: bool = False) -> np.ndarray:
    """``scipy.fft.dct(x, type=type, norm=norm, axis=-1, overwrite_x=overwrite_x)``.

    Parameters
    ----------
    x : ndarray, shape (..., m), float32 or float64, C-ordered
    type : int, keyword-only
        1, 2, 3 or 4.
    norm : None or "ortho", keyword-only
    overwrite_x : bool, keyword-only
        The result may be written into `x`.

    Returns
    -------
    ndarray, shape (..., m), the dtype of `x`
    """
    pf = _pocketfft()
    if not pf:
        import scipy.fft

        return scipy.fft.dct(x, type=type, norm=norm, axis=-1, overwrite_x=overwrite_x)
    # (ortho left at its default, None: orthogonalised exactly when norm is "ortho", as
    # scipy.fft.dct's orthogonalize=None; scipy < 1.11 has no such argument)
    return pf.dct(x, type, (x.ndim - 1,), _NORM[norm], x if overwrite_x else None, 1)
