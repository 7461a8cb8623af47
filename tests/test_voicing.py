"""The front end's voicing measure."""

from __future__ import annotations

import numpy as np
import pytest

from diarize import features as features_mod
from diarize.config import FeatureConfig, config_from_dict
from diarize.errors import ConfigError
from diarize.features import MfccStream, mfcc

SR = 16000


def _harmonic(f0, seconds=2.0, n_harmonics=20):
    """A steady voiced-like sound: harmonics of `f0` with falling amplitudes."""
    t = np.arange(int(seconds * SR)) / SR
    y = sum(np.sin(2 * np.pi * k * f0 * t + k) / k for k in range(1, n_harmonics + 1)
            if k * f0 < SR / 2)
    return (0.05 * y).astype(np.float32)


def test_voicing_is_optional_and_shaped_like_the_energy():
    y = np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 0.1
    two = mfcc(y, sample_rate=SR)
    three = mfcc(y, sample_rate=SR, voicing=True)
    assert len(two) == 2 and len(three) == 3
    np.testing.assert_array_equal(two[0], three[0])
    np.testing.assert_array_equal(two[1], three[1])
    assert three[2].shape == three[1].shape and three[2].dtype == np.float32
    assert mfcc(np.zeros(0, np.float32), voicing=True)[2].shape == (0,)


@pytest.mark.parametrize("f0", [85.0, 120.0, 220.0, 380.0])
def test_periodic_frames_score_high_and_noise_low(f0):
    voiced = mfcc(_harmonic(f0), sample_rate=SR, voicing=True)[2][5:-5]
    assert np.median(voiced) > 0.85
    noise = np.random.default_rng(1).standard_normal(2 * SR).astype(np.float32) * 0.05
    unvoiced = mfcc(noise, sample_rate=SR, voicing=True)[2]
    assert np.median(unvoiced) < 0.4
    assert np.all((unvoiced >= 0) & (unvoiced <= 1))


def test_pitch_outside_the_range_is_not_voicing():
    """The range of pitches is the configuration's: one of 300..400 Hz misses a 120 Hz
    voice."""
    narrow = FeatureConfig(voicing_fmin=300.0, voicing_fmax=400.0)
    at_120 = mfcc(_harmonic(120.0), sample_rate=SR, config=narrow, voicing=True)[2][5:-5]
    assert np.median(at_120) < np.median(
        mfcc(_harmonic(120.0), sample_rate=SR, voicing=True)[2][5:-5]) - 0.3


def test_digital_silence_scores_zero():
    assert not mfcc(np.zeros(SR, np.float32), voicing=True)[2].any()


@pytest.mark.parametrize("block", [1, 159, 160, 4001, 48000])
def test_blockwise_stream_is_bit_identical(monkeypatch, block):
    # small groups and chunks, so that a short signal crosses both boundaries
    monkeypatch.setattr(features_mod, "BLOCK_FRAMES", 37)
    monkeypatch.setattr(features_mod, "CHUNK_FRAMES", 64)
    rng = np.random.default_rng(2)
    y = np.concatenate([_harmonic(150.0, 0.7), rng.standard_normal(SR).astype(np.float32)
                        * 0.01, np.zeros(3000, np.float32)])
    whole = mfcc(y, sample_rate=SR, voicing=True)
    stream = MfccStream(sample_rate=SR, voicing=True)
    for a in range(0, len(y), block):
        stream.push(y[a:a + block])
    parts = stream.finish()
    assert len(parts) == 3
    for w, p in zip(whole, parts):
        assert w.shape == p.shape
        np.testing.assert_array_equal(w, p)


def test_voicing_range_must_be_ordered():
    with pytest.raises(ConfigError, match="voicing_fmin"):
        config_from_dict({"features": {"voicing_fmin": 400.0, "voicing_fmax": 300.0}})
