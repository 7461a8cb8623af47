"""The features stage (diarize.features): what mfcc and MfccStream return, block by block
as for the whole signal, and the speech-frame features the clustering stage is given."""

import numpy as np
import pytest

import diarize.features as features_mod
from diarize.config import FeatureConfig
from diarize.features import (FrameFeatures, MfccStream, mfcc, n_frames_for, speaker_features,
                              speech_features)

SR = 16000


def _signal(seconds=1.3, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    tone = 0.1 * np.sin(2 * np.pi * 180 * t) * (t < seconds / 2)
    return (tone + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.mark.parametrize("config", [FeatureConfig(), FeatureConfig(n_mfcc=13, hop_length=0.02,
                                                                   win_length=0.03)])
@pytest.mark.parametrize("voicing", [False, True])
def test_shapes_dtypes_and_type(config, voicing):
    y = _signal()
    out = mfcc(y, sample_rate=SR, config=config, voicing=voicing)
    assert isinstance(out, FrameFeatures)
    n = n_frames_for(len(y), sample_rate=SR, hop_length=config.hop_length)
    assert n == len(y) // int(round(config.hop_length * SR))
    assert out.mfcc.shape == (n, config.n_mfcc) and out.mfcc.dtype == np.float32
    assert out.energy.shape == (n,) and out.energy.dtype == np.float32
    if voicing:
        assert out.voicing.shape == (n,) and out.voicing.dtype == np.float32
    else:
        assert out.voicing is None
    assert np.isfinite(out.mfcc).all() and np.isfinite(out.energy).all()


@pytest.mark.parametrize("voicing", [False, True])
def test_an_empty_signal_gives_no_frames_of_the_right_width(voicing):
    out = MfccStream(sample_rate=SR, voicing=voicing).finish()
    assert isinstance(out, FrameFeatures)
    assert out.mfcc.shape == (0, FeatureConfig().n_mfcc) and out.energy.shape == (0,)
    assert (out.voicing is None) == (not voicing)


@pytest.mark.parametrize("block", [1, 97, 160, 3333, 100000])
@pytest.mark.parametrize("voicing", [False, True])
def test_stream_in_blocks_equals_the_whole_signal(monkeypatch, block, voicing):
    # small groups and storage chunks, so that a short signal crosses both boundaries
    monkeypatch.setattr(features_mod, "BLOCK_FRAMES", 23)
    monkeypatch.setattr(features_mod, "CHUNK_FRAMES", 50)
    y = _signal(seconds=1.7, seed=1)
    config = FeatureConfig(n_mfcc=13)
    whole = mfcc(y, sample_rate=SR, config=config, voicing=voicing)
    stream = MfccStream(sample_rate=SR, config=config, voicing=voicing)
    for a in range(0, len(y), block):
        stream.push(y[a:a + block])
    assert stream.n_samples == len(y)
    parts = stream.finish()
    assert parts._fields == ("mfcc", "energy", "voicing")
    for name in ("mfcc", "energy", "voicing"):
        w, p = getattr(whole, name), getattr(parts, name)
        if w is None:
            assert p is None
        else:
            np.testing.assert_array_equal(w, p)  # bit-identical


def test_louder_is_higher_energy():
    y = _signal()
    quiet = mfcc(y, sample_rate=SR).energy
    loud = mfcc(4 * y, sample_rate=SR).energy
    np.testing.assert_allclose(loud - quiet, 20 * np.log10(4), atol=0.05)


@pytest.mark.parametrize("deltas", [False, True])
@pytest.mark.parametrize("normalise", [False, True])
def test_speech_features_are_the_speech_rows_of_speaker_features(deltas, normalise):
    feats = mfcc(_signal(seconds=2.0, seed=2), sample_rate=SR).mfcc
    mask = np.zeros(len(feats), bool)
    mask[1:60] = mask[90:140] = mask[-3:] = True  # within both edges' delta context
    rows = np.flatnonzero(mask)
    got = speech_features(feats, rows, deltas=deltas, delta_width=5, normalise=normalise)
    want = speaker_features(feats, mask, deltas=deltas, delta_width=5,
                            normalise=normalise)[rows]
    assert got.dtype == np.float32
    assert got.shape == (len(rows), (feats.shape[1] - 1) * (2 if deltas else 1))
    np.testing.assert_array_equal(got, want)
    if normalise:  # CMVN over the speech rows themselves
        np.testing.assert_allclose(got.mean(0), 0, atol=1e-4)
        np.testing.assert_allclose(got.std(0), 1, atol=1e-3)
