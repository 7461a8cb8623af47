"""The numpy filters of enrolment's degraded copies against scipy.signal's (test-only)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import signal

from diarize import _iir
from diarize.voices import _PINK_A, _PINK_B, degrade

RNG = np.random.default_rng(7)
X = RNG.standard_normal(50_000)


def _close(got, ref, rtol=1e-10):
    np.testing.assert_allclose(got, ref, rtol=0, atol=rtol * np.max(np.abs(ref)))


@pytest.mark.parametrize("b, a", [(_PINK_B, _PINK_A), ([1.0], [1.0, -0.995]),
                                  ([0.4], [1.0, -0.6]),
                                  # complex poles and zeros, as many as the poles
                                  ([0.2, -0.1, 0.3], [1.0, -1.2, 0.72]),
                                  ([2.0, 0.5], [2.0, -1.0, 0.3])])
def test_lfilter_is_scipys(b, a):
    _close(_iir.lfilter(b, a, X), signal.lfilter(b, a, X))


@pytest.mark.parametrize("band, rate", [((300.0, 3400.0), 16000), ((100.0, 1000.0), 8000)])
def test_butterworth_bandpass_is_scipys(band, rate):
    z, p, k = _iir.butter_bandpass(4, *band, rate)
    z0, p0, k0 = signal.butter(4, list(band), btype="bandpass", fs=rate, output="zpk")
    np.testing.assert_allclose(np.sort_complex(p), np.sort_complex(p0), atol=1e-12)
    np.testing.assert_allclose(np.sort_complex(z), np.sort_complex(z0), atol=1e-12)
    assert k == pytest.approx(k0, rel=1e-12)
    sos = signal.butter(4, list(band), btype="bandpass", fs=rate, output="sos")
    _close(_iir.zpk_filter(X, z, p, k), signal.sosfilt(sos, X))


def test_fft_convolution_head_is_scipys():
    h = RNG.standard_normal(3001)
    _close(_iir.fftconvolve_head(X, h), signal.fftconvolve(X, h)[:len(X)])
    assert len(_iir.fftconvolve_head(X[:10], h)) == 10


def test_a_pole_at_zero_and_an_empty_signal():
    # a pole at the origin: 1 / (1 - 0 u) passes the input as it is
    np.testing.assert_array_equal(_iir.zpk_filter(X[:5], np.zeros(0), np.zeros(1), 1.0), X[:5])
    _close(_iir.zpk_filter(X, np.array([0.5]), np.zeros(1), 2.0),
           signal.lfilter([2.0, -1.0], [1.0], X))
    assert _iir.lfilter([1.0], [1.0, -0.5], np.zeros(0)).shape == (0,)
    with pytest.raises(ValueError):
        _iir.zpk_filter(X, np.ones(3), np.array([0.5]), 1.0)


@pytest.mark.parametrize("kind", ["noise", "reverb", "telephone"])
def test_degraded_copies_are_those_scipy_made(kind):
    """The copies as degrade made them with scipy.signal, to float32 rounding."""
    sr = 16000
    y = (0.1 * RNG.standard_normal(2 * sr)).astype(np.float32)
    kw = dict(snr_db=(5.0, 25.0), rt60=(0.2, 0.6), band=(300.0, 3400.0))
    got, what = degrade(y, sr, kind, np.random.default_rng(3), **kw)
    rng = np.random.default_rng(3)
    x = y.astype(np.float64)
    # scipy.signal's version of each step, on the same draws
    if kind == "noise":
        from diarize.voices import _NOISE_COLOURS, _speech_level

        colour = _NOISE_COLOURS[int(rng.integers(0, len(_NOISE_COLOURS)))]
        snr = float(rng.uniform(*kw["snr_db"]))
        w = rng.standard_normal(len(x) + sr)
        if colour == "pink":
            w = signal.lfilter(_PINK_B, _PINK_A, w)
        elif colour == "brown":
            w = signal.lfilter([1.0], [1.0, -0.995], w)
        w = w[sr:]
        w = w / max(float(np.std(w)), 1e-12)
        ref = x + w * _speech_level(x, sr) * 10 ** (-snr / 20)
    elif kind == "reverb":
        t60 = float(rng.uniform(*kw["rt60"]))
        n = max(int(t60 * sr), 2)
        h = np.zeros(n)
        at = np.flatnonzero(rng.random(n) < 2000.0 / sr)
        h[at] = rng.choice([-1.0, 1.0], size=len(at))
        h *= np.exp(-np.log(1000.0) * np.arange(n) / (t60 * sr))
        h = signal.lfilter([0.4], [1.0, -0.6], h)
        h[0] = 1.0
        h /= np.sqrt(np.sum(h * h))
        ref = signal.fftconvolve(x, h)[:len(x)]
    else:
        sos = signal.butter(4, [300.0, 3400.0], btype="bandpass", fs=sr, output="sos")
        z = signal.sosfilt(sos, x)
        peak = max(float(np.max(np.abs(z))), 1e-12)
        mu = 255.0
        c = np.sign(z / peak) * np.log1p(mu * np.abs(z / peak)) / np.log1p(mu)
        c = np.round(c * 127) / 127
        ref = peak * np.sign(c) * np.expm1(np.abs(c) * np.log1p(mu)) / mu
    assert kind.split()[0] in what or kind == "noise"
    np.testing.assert_allclose(got, ref.astype(np.float32), rtol=0,
                               atol=1e-6 * float(np.max(np.abs(ref))))


def test_enrolment_copies_do_not_import_scipy_signal():
    code = ("import sys, numpy as np\n"
            "from diarize.voices import degrade\n"
            "y = np.random.default_rng(0).standard_normal(16000).astype(np.float32)\n"
            "for k in ('noise', 'reverb', 'telephone'):\n"
            "    degrade(y, 16000, k, np.random.default_rng(1), snr_db=(5, 25),\n"
            "            rt60=(0.2, 0.6), band=(300, 3400))\n"
            "print('scipy.signal' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
