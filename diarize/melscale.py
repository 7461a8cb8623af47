"""Slaney's mel scale (librosa's default, ``htk=False``) and the band edges of a mel
filterbank: shared by the front end, which builds the filterbank, and the configuration,
which refuses band limits that leave a band without any FFT bin."""

from __future__ import annotations

import numpy as np

_MEL_LINEAR_HZ = 200.0 / 3  # Hz per mel below the break
_MEL_BREAK_HZ = 1000.0
_MEL_LOG_STEP = np.log(6.4) / 27.0


def hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, log above.

    Parameters
    ----------
    f : ndarray, shape (n,)
        Frequencies (Hz).

    Returns
    -------
    ndarray, shape (n,), float64
    """
    f = np.asarray(f, dtype=np.float64)
    mel = f / _MEL_LINEAR_HZ
    log = f >= _MEL_BREAK_HZ
    mel[log] = _MEL_BREAK_HZ / _MEL_LINEAR_HZ + np.log(f[log] / _MEL_BREAK_HZ) / _MEL_LOG_STEP
    return mel


def mel_to_hz(m: np.ndarray) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`; shape (n,) to (n,), float64."""
    m = np.asarray(m, dtype=np.float64)
    f = m * _MEL_LINEAR_HZ
    brk = _MEL_BREAK_HZ / _MEL_LINEAR_HZ
    log = m >= brk
    f[log] = _MEL_BREAK_HZ * np.exp(_MEL_LOG_STEP * (m[log] - brk))
    return f


def band_edges(*, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Corner frequencies of the triangular mel bands: band ``i`` rises from edge ``i``
    to edge ``i + 1`` and falls to edge ``i + 2``.

    Returns
    -------
    ndarray, shape (n_mels + 2,), float64 (Hz)
    """
    return mel_to_hz(np.linspace(hz_to_mel(np.array([fmin]))[0],
                                 hz_to_mel(np.array([fmax]))[0], n_mels + 2))


def empty_bands(*, sample_rate: int, n_fft: int, n_mels: int, fmin: float,
                fmax: float) -> np.ndarray:
    """Indices of the mel bands that no FFT bin falls strictly inside (all-zero rows of
    the filterbank).

    Returns
    -------
    ndarray, shape (n_empty,), int
    """
    edges = band_edges(n_mels=n_mels, fmin=fmin, fmax=fmax)
    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    # bins strictly between the outer corners of each band
    inside = np.searchsorted(bins, edges[2:], side="left") - \
        np.searchsorted(bins, edges[:-2], side="right")
    return np.flatnonzero(inside <= 0)
