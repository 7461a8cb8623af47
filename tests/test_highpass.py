"""The numpy high-pass and 1-D window filters against the scipy functions they replace."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import scipy.signal

from diarize.config import AudioConfig
from diarize.frames import (dilate, erode, majority_filter, moving_average, moving_max,
                            nearest_label)
from diarize.highpass import ButterworthHighpass, butterworth_highpass_poles, highpass_filter

SCIPY_115 = scipy.__version__.startswith("1.15.")


@pytest.mark.parametrize("order, cutoff, rate", [(2, 10.0, 16000), (1, 10.0, 16000),
                                                 (3, 50.0, 16000), (4, 300.0, 8000),
                                                 (8, 1000.0, 4000), (8, 10.0, 16000),
                                                 (2, 10.0, 192000)])
def test_design_matches_scipy_butter(order, cutoff, rate):
    poles, gain = butterworth_highpass_poles(order=order, cutoff_hz=cutoff, sample_rate=rate)
    z, p, k = scipy.signal.butter(order, cutoff, btype="highpass", fs=rate, output="zpk")
    np.testing.assert_allclose(np.sort_complex(poles), np.sort_complex(p), rtol=0, atol=1e-12)
    np.testing.assert_allclose(gain, k, rtol=1e-12)
    np.testing.assert_allclose(z, 1.0)


@pytest.mark.parametrize("order, cutoff, rate", [(2, 10.0, 16000), (1, 10.0, 16000),
                                                 (3, 50.0, 16000), (8, 1000.0, 4000),
                                                 (5, 10.0, 16000)])
def test_streamed_filter_matches_sosfilt_with_steady_start(order, cutoff, rate):
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(50_001) + 0.3).astype(np.float32)  # with a DC offset
    sos = scipy.signal.butter(order, cutoff, btype="highpass", fs=rate, output="sos")
    ref, _ = scipy.signal.sosfilt(sos, x, zi=scipy.signal.sosfilt_zi(sos) * float(x[0]))
    f = ButterworthHighpass(order=order, cutoff_hz=cutoff, sample_rate=rate)
    out = np.concatenate([f(x[a:a + 7_777]) for a in range(0, len(x), 7_777)])
    assert out.dtype == np.float32 and out.shape == x.shape
    # float32 output: within one unit in the last place of sosfilt's, cast alike
    np.testing.assert_allclose(out, ref.astype(np.float32), rtol=0, atol=1e-7)


def test_block_boundaries_do_not_change_the_output():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(20_000).astype(np.float32)
    whole = ButterworthHighpass(order=2, cutoff_hz=10.0, sample_rate=16000)(x)
    f = ButterworthHighpass(order=2, cutoff_hz=10.0, sample_rate=16000)
    parts = np.concatenate([f(x[:1]), f(x[1:4096]), f(x[4096:4097]), f(x[4097:])])
    np.testing.assert_allclose(parts, whole, rtol=0, atol=1e-7)


def test_off_when_cutoff_is_zero():
    assert highpass_filter(AudioConfig(highpass_hz=0.0)) is None
    assert highpass_filter(AudioConfig()) is not None


def test_window_filters_equal_scipy_ndimage_bit_for_bit():
    rng = np.random.default_rng(2)
    for _ in range(400):
        n = int(rng.integers(1, 50))
        size = int(rng.integers(1, 60))
        reach = int(rng.integers(1, 8))
        x = (rng.standard_normal(n) * 1e3).astype(rng.choice([np.float32, np.float64]))
        got = moving_average(x, size=size)
        want = scipy.ndimage.uniform_filter1d(x, size=size, mode="nearest")
        assert got.dtype == want.dtype and np.array_equal(got, want)
        got = moving_max(x, size=size)
        want = scipy.ndimage.maximum_filter1d(x, size=size, mode="nearest")
        assert got.dtype == want.dtype and np.array_equal(got, want)
        assert len(moving_max(x[:0], size=size)) == 0
        m = rng.random(n) < rng.random()
        assert np.array_equal(dilate(m, reach=reach),
                              scipy.ndimage.binary_dilation(m, iterations=reach))
        ones = np.ones(2 * reach + 1, bool)
        assert np.array_equal(erode(m, reach=reach),
                              scipy.ndimage.binary_erosion(m, ones, border_value=1))
        if SCIPY_115 and n < size % 12 + 2:
            continue  # scipy 1.15's median_filter of an array shorter than its window is
            # garbage (scipy issues 22250, 22333; fixed after 1.15.3, Python 3.10's last)
        want_med = scipy.ndimage.median_filter(m.astype(np.uint8), size=size % 12 + 2,
                                               mode="nearest").astype(bool)
        assert np.array_equal(majority_filter(m, size=size % 12 + 2), want_med)


def test_nearest_label_takes_the_nearest_and_the_earlier_on_a_tie():
    labels = np.array([-1, 0, -1, -1, -1, 1, -1, -1, 2, -1])
    got = nearest_label(labels, np.ones(len(labels), bool))
    assert got.tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    rng = np.random.default_rng(3)
    for _ in range(300):
        n = int(rng.integers(2, 40))
        labels = np.where(rng.random(n) < 0.4, rng.integers(0, 3, n), -1)
        where = rng.random(n) < 0.7
        hole = labels < 0
        if not hole.any() or hole.all():
            continue
        idx = scipy.ndimage.distance_transform_edt(hole, return_distances=False,
                                                   return_indices=True)[0]
        want = labels.copy()
        want[hole & where] = labels[idx[hole & where]]
        assert np.array_equal(nearest_label(labels, where), want)
