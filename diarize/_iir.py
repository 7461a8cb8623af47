"""The filters of enrolment's degraded copies, with numpy alone.

``scipy.signal`` (``lfilter``, ``butter``, ``sosfilt``, ``fftconvolve``) made them before,
but importing it costs about a second (scipy's docstring machinery and ``scipy.stats``,
which it pulls in): more than enrolling a voice, in every ``diarize enroll`` process. As
:mod:`diarize.highpass` does for the audio stage's high-pass, a rational filter here is
split into sections of one real pole or one conjugate pair, each section into partial
fractions, ``c0 + sum_i r_i / (1 - p_i z^-1)``, and each one-pole recursion ``w[n] = p
w[n-1] + x[n]`` is run a block at a time with numpy by :class:`diarize.highpass.Section`
(from rest). The outputs equal scipy's to float64 rounding (tests compare them).
"""

from __future__ import annotations

import math

import numpy as np

from .highpass import Section, butterworth_prototype, conjugate_groups


def zpk_filter(x: np.ndarray, zeros: np.ndarray, poles: np.ndarray, gain: float) -> np.ndarray:
    """`x` through ``gain * prod(1 - z_i u) / prod(1 - p_i u)`` (``u = z^-1``), from rest.

    A cascade of sections: each conjugate pair of poles, and each real pole, with as many
    of the zeros as it has poles (a conjugate pair of zeros, or two real ones, to a pair),
    the gain in the first. As many zeros as poles or fewer.

    Parameters
    ----------
    x : ndarray, shape (n,)
    zeros, poles : ndarray of complex
        Poles inside the unit circle; complex ones in conjugate pairs, as zeros.
    gain : float

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    pole_groups = conjugate_groups(np.asarray(poles, dtype=np.complex128))
    zero_groups = conjugate_groups(np.asarray(zeros, dtype=np.complex128))
    flat = [z for group in zero_groups for z in group]
    if len(flat) > sum(len(g) for g in pole_groups):
        raise ValueError("more zeros than poles")
    out = np.asarray(x, dtype=np.float64)
    for i, group in enumerate(pole_groups):
        mine = np.array(flat[:len(group)], dtype=np.complex128)
        flat = flat[len(group):]
        out = _section(out, group, mine, gain if i == 0 else 1.0)
    return out


def lfilter(b: tuple[float, ...] | list[float], a: tuple[float, ...] | list[float],
            x: np.ndarray) -> np.ndarray:
    """``scipy.signal.lfilter(b, a, x)`` from rest, for a stable `a` (``a[0]`` not 0)
    and no more zeros than poles.

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    bn = np.trim_zeros(np.asarray(b, dtype=np.float64), "b") / a[0]
    an = np.trim_zeros(np.asarray(a, dtype=np.float64), "b") / a[0]
    # b(u) = b0 prod(1 - z_i u): the z_i are the roots of b0 z^m + b1 z^(m-1) + ...
    zeros = np.roots(bn) if len(bn) > 1 else np.zeros(0)
    poles = np.roots(an) if len(an) > 1 else np.zeros(0)
    if not len(poles):
        x = np.asarray(x, dtype=np.float64)
        return np.convolve(x, bn)[:len(x)] if len(x) else x.copy()
    return zpk_filter(x, zeros, poles, float(bn[0]))


def butter_bandpass(order: int, low_hz: float, high_hz: float, sample_rate: float
                    ) -> tuple[np.ndarray, np.ndarray, float]:
    """Zeros, poles and gain of ``scipy.signal.butter(order, [low_hz, high_hz],
    btype="bandpass", fs=sample_rate, output="zpk")``: the analog prototype, pre-warped,
    the low-pass to band-pass transform, then the bilinear transform, as scipy does."""
    proto = butterworth_prototype(order)
    fs = 2.0
    w1, w2 = (2.0 * fs * math.tan(math.pi * f / (sample_rate / 2.0) / fs)
              for f in (low_hz, high_hz))
    bw, wo = w2 - w1, math.sqrt(w1 * w2)
    lp = proto * bw / 2.0
    root = np.sqrt(lp ** 2 - wo ** 2)
    analog = np.concatenate([lp + root, lp - root])
    k = bw ** order  # the prototype's gain is 1; `order` analog zeros at 0
    fs2 = 2.0 * fs
    poles = (fs2 + analog) / (fs2 - analog)
    zeros = np.concatenate([np.ones(order), -np.ones(order)]).astype(np.complex128)
    gain = float(np.real(k * fs2 ** order / np.prod(fs2 - analog)))
    return zeros, poles, gain


def fftconvolve_head(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The first ``len(x)`` samples of the full convolution of `x` and `h` (as
    ``scipy.signal.fftconvolve(x, h)[:len(x)]``), by FFT.

    Returns
    -------
    ndarray of float64, shape (len(x),)
    """
    x = np.asarray(x, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    if not len(x) or not len(h):
        return np.zeros(len(x))
    n = len(x) + len(h) - 1
    nfft = 1 << (n - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(x, nfft) * np.fft.rfft(h, nfft), nfft)[:len(x)]


def _section(x: np.ndarray, poles: np.ndarray, zeros: np.ndarray, gain: float) -> np.ndarray:
    """`x` through ``gain * prod(1 - z u) / prod(1 - p u)`` with one real pole or one
    conjugate pair, in partial fractions (`zeros` no more than `poles`)."""
    m = len(poles)
    x = np.asarray(x, dtype=np.float64)
    if not len(x):
        return x.copy()
    p = complex(poles[0])
    if p == 0:
        # a real pole at the origin: 1 / (1 - 0 u) is 1, the section its numerator alone
        return np.convolve(x, gain * np.real(np.poly(zeros)))[:len(x)]

    def numerator(u: complex) -> complex:
        return gain * complex(np.prod(1.0 - zeros * u)) if len(zeros) else gain

    # The direct term: the ratio's limit as u grows, where the numerator has degree m.
    direct = (gain * complex(np.prod(-zeros)) / complex(np.prod(-poles))
              if len(zeros) == m else 0.0)
    others = poles[1:]
    residue = numerator(1.0 / p) / complex(np.prod(1.0 - others / p))
    # a conjugate pair: only the upper pole is run, its partner's term is the conjugate
    return Section(p, residue * (2.0 if m == 2 else 1.0), float(np.real(direct)))(x)
