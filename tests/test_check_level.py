"""scripts/check_level.py: the channels it passes the audio through."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import script_module


def _band_power(x, rate, lo, hi):
    spec = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1.0 / rate)
    return spec[(freqs >= lo) & (freqs < hi)].sum()


@pytest.mark.parametrize("channel", ["tilt", "lowpass2500"])
def test_channels_keep_the_peak_and_reshape_the_spectrum(channel):
    rate = 16000
    x = np.random.default_rng(0).standard_normal(rate).astype(np.float32) * 0.1
    with script_module("check_level.py", "check_level_under_test") as cl:
        y = cl._through_channel(x, rate, channel)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.max(np.abs(y)) == pytest.approx(np.max(np.abs(x)), rel=1e-6)
    # high band (4-8 kHz) against low band (0-1 kHz), relative to the input's balance
    def tilt(s):
        return _band_power(s, rate, 4000, 8000) / _band_power(s, rate, 0, 1000)
    if channel == "tilt":
        assert tilt(y) > 10 * tilt(x)
    else:
        assert tilt(y) < 0.01 * tilt(x)


def test_unknown_channel_is_refused():
    with script_module("check_level.py", "check_level_under_test") as cl:
        with pytest.raises(ValueError, match="unknown channel"):
            cl._through_channel(np.zeros(100, dtype=np.float32), 16000, "radio")


def test_channel_names_are_parsed_in_one_place():
    with script_module("check_level.py", "check_level_under_test") as cl:
        assert cl._lowpass_hz("tilt") is None
        assert cl._lowpass_hz("lowpass2500") == 2500.0
        for bad in ("lowpass", "lowpassinf", "lowpass-3", "radio"):
            with pytest.raises(ValueError, match="unknown channel"):
                cl._lowpass_hz(bad)


@pytest.mark.parametrize("codec", ["msadpcm", "imaadpcm", "ulaw"])
def test_a_codec_channel_writes_and_reads_the_recording_back(codec):
    rng = np.random.default_rng(0)
    x = (0.3 * np.sin(np.arange(16000) * 0.05) + 0.01 * rng.standard_normal(16000)
         ).astype(np.float32)
    with script_module("check_level.py", "check_level_under_test") as cl:
        assert cl._lowpass_hz(codec) is None  # a known channel
        y = cl._through_channel(x, 16000, codec)
    assert y.dtype == np.float32 and y.shape == x.shape
    noise = float(np.sqrt(np.mean((y - x) ** 2)))
    assert 0 < noise < 0.1 * float(np.sqrt(np.mean(x ** 2)))  # coded: changed, not lost
