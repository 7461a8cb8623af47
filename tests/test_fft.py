"""diarize._fft makes scipy.fft's own pocketfft calls: the same bits as scipy.fft, for the
arrays the features pass, without importing scipy.fft."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.fft

from diarize import _fft


OWN_KERNELS = pytest.mark.skipif(
    not _fft._pocketfft(), reason="this scipy has no scipy/fft/_pocketfft/pypocketfft "
    "(scipy 1.18 moved it): diarize uses the public scipy.fft, and start-up pays for it")


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(0)
    # frames of very different levels, as in a recording
    return (rng.standard_normal((64, 512)) * rng.uniform(1e-4, 10, (64, 1))).astype(np.float32)


@OWN_KERNELS
def test_the_kernels_are_scipys_own_module():
    # not the public scipy.fft fallback: otherwise the tests below would compare it to itself
    assert _fft._pocketfft()
    from scipy.fft._pocketfft import pypocketfft

    assert _fft._pocketfft() is pypocketfft


def test_rfft_is_scipys(rows):
    got = _fft.rfft(rows)
    assert got.dtype == np.complex64
    assert np.array_equal(got, scipy.fft.rfft(rows, axis=1))


def test_padded_rfft_and_irfft_are_scipys():
    w = np.hamming(401)[:-1]
    spec = _fft.rfft(w, 512)
    assert np.array_equal(spec, scipy.fft.rfft(w, n=512))
    power = np.abs(spec) ** 2
    assert np.array_equal(_fft.irfft(power, 512), scipy.fft.irfft(power, n=512))


def test_dcts_are_scipys(rows):
    eye = np.eye(40, dtype=np.float32)
    assert np.array_equal(_fft.dct(eye, type=2, norm="ortho"),
                          scipy.fft.dct(eye, type=2, norm="ortho", axis=1))
    power = np.abs(rows[:, :257])
    want = scipy.fft.dct(power.copy(), type=1, axis=1)
    inplace = power.copy()
    got = _fft.dct(inplace, type=1, overwrite_x=True)
    assert got.dtype == np.float32
    assert np.array_equal(got, want)
    assert np.shares_memory(got, inplace)


@OWN_KERNELS
def test_the_kernels_load_without_importing_scipy_fft():
    code = ("import sys, numpy as np\n"
            "from diarize import _fft\n"
            "_fft.rfft(np.ones((2, 8), np.float32))\n"
            "assert _fft._pocketfft()\n"
            "print(sorted(m for m in sys.modules if m.startswith('scipy.')\n"
            "             and m != 'scipy.fft._pocketfft.pypocketfft'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # the kernel module alone (scipy 1.15's single-phase build registers itself under its
    # name when loaded from its file), not the package around it
    assert out.stdout.strip() == "[]"
