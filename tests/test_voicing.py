"""The front end's voicing measure and its use as speech-detector features."""

from __future__ import annotations

import numpy as np
import pytest

from diarize import features as features_mod
from diarize.config import FeatureConfig, config_from_dict
from diarize.errors import ConfigError, ModelError
from diarize.features import MfccStream, mfcc
from diarize.sad import (N_MODEL_FEATURES, VOICING_AVERAGE, _levels, _model_rows, load_model,
                         model_features)

SR = 16000


def _harmonic(f0, seconds=2.0, n_harmonics=20):
    """A steady voiced-like sound: harmonics of `f0` with falling amplitudes."""
    t = np.arange(int(seconds * SR)) / SR
    y = sum(np.sin(2 * np.pi * k * f0 * t + k) / k for k in range(1, n_harmonics + 1)
            if k * f0 < SR / 2)
    return (0.05 * y).astype(np.float32)


def test_voicing_is_optional_and_shaped_like_the_energy():
    y = np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 0.1
    without = mfcc(y, sample_rate=SR)
    both = mfcc(y, sample_rate=SR, voicing=True)
    assert without.voicing is None and both.voicing is not None
    np.testing.assert_array_equal(without.mfcc, both.mfcc)
    np.testing.assert_array_equal(without.energy, both.energy)
    assert both.voicing.shape == both.energy.shape and both.voicing.dtype == np.float32
    assert mfcc(np.zeros(0, np.float32), sample_rate=SR, voicing=True).voicing.shape == (0,)


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
    assert not mfcc(np.zeros(SR, np.float32), sample_rate=SR, voicing=True)[2].any()


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
    assert parts.voicing is not None
    for w, p in zip(whole, parts):
        assert w.shape == p.shape
        np.testing.assert_array_equal(w, p)


def test_model_rows_blockwise_equal_the_whole_recording():
    rng = np.random.default_rng(3)
    n = 200
    feats = rng.standard_normal((n, 20)).astype(np.float32)
    energy = rng.uniform(-70, -20, n).astype(np.float32)
    voicing = rng.uniform(0, 1, n).astype(np.float32)
    whole = model_features(feats, energy, voicing)
    assert whole.shape == (n, N_MODEL_FEATURES)
    levels = _levels(energy, -95.0)
    for b0, b1 in ((0, 1), (0, 7), (3, 50), (50, 199), (196, 200), (199, 200)):
        np.testing.assert_array_equal(_model_rows(feats, energy, voicing, b0, b1, levels),
                                      whole[b0:b1])
    np.testing.assert_array_equal(whole[:, -2], voicing)
    half = VOICING_AVERAGE // 2
    np.testing.assert_allclose(whole[50, -1], voicing[50 - half:50 + half + 1].mean(),
                               rtol=1e-5)
    # at the ends the edge frame is repeated
    expected = (voicing[0] * half + voicing[:half + 1].sum()) / VOICING_AVERAGE
    np.testing.assert_allclose(whole[0, -1], expected, rtol=1e-5)


def test_model_of_another_feature_set_is_refused(tmp_path):
    from diarize.gmm import GaussianMixture
    x = np.random.default_rng(4).standard_normal((200, N_MODEL_FEATURES - 2))
    g = GaussianMixture(2, covariance_type="diag", random_state=0).fit(x)
    out = {}
    for name in ("speech", "nonspeech"):
        out.update({f"{name}/{k}": np.asarray(v) for k, v in g.to_dict().items()})
    path = tmp_path / "old.npz"
    np.savez(path, **out)
    with pytest.raises(ModelError, match="retrain"):
        load_model(str(path))


def test_voicing_range_must_be_ordered():
    with pytest.raises(ConfigError, match="voicing_fmin"):
        config_from_dict({"features": {"voicing_fmin": 400.0, "voicing_fmax": 300.0}})


@pytest.mark.parametrize("preset", [None, "telephone"])
def test_extracted_features_carry_the_detectors_voicing(preset):
    """The voicing comes from the speech detector's front end, also where a preset gives
    the clustering its own one."""
    from pathlib import Path

    from diarize import Diarizer
    from diarize.audio import load_audio

    fixture = Path(__file__).resolve().parents[1] / "audio_fixtures" / "two_speakers.wav"
    d = Diarizer() if preset is None else Diarizer.from_preset(preset)
    f = d.extract(fixture)
    assert (d.front_end.sad_features is None) == (preset is None)
    y = load_audio(fixture, config=d.config.audio)
    sad_cfg = d.front_end.sad_features or d.config.features
    expected = mfcc(y, sample_rate=d.config.audio.sample_rate, config=sad_cfg, voicing=True)[2]
    np.testing.assert_array_equal(f.voicing, expected)
    assert not f.voicing.flags.writeable
    assert f.voicing.max() > 0.8  # the fixture's voices
