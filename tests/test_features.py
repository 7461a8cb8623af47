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
@pytest.mark.parametrize("floor_db", [0.0, 40.0])
@pytest.mark.parametrize("band_floor", [False, True])
def test_stream_in_blocks_equals_the_whole_signal(monkeypatch, block, voicing, floor_db,
                                                  band_floor):
    # small groups and storage chunks, so that a short signal crosses both boundaries
    monkeypatch.setattr(features_mod, "BLOCK_FRAMES", 23)
    monkeypatch.setattr(features_mod, "CHUNK_FRAMES", 50)
    y = _signal(seconds=1.7, seed=1)
    # every band floored: the floored path, whatever the signal's bands hold
    config = FeatureConfig(n_mfcc=13, floor_db=floor_db, band_floor=band_floor,
                           band_floor_range_db=1000.0)
    whole = mfcc(y, sample_rate=SR, config=config, voicing=voicing)
    stream = MfccStream(sample_rate=SR, config=config, voicing=voicing)
    for a in range(0, len(y), block):
        stream.push(y[a:a + block])
    assert stream.n_samples == len(y)
    parts = stream.finish()
    assert parts._fields == ("mfcc", "energy", "voicing")
    assert (stream.speaker_mfcc is None) == (not band_floor)
    whole_stream = MfccStream(sample_rate=SR, config=config, voicing=voicing)
    whole_stream.push(y)
    whole_stream.finish()
    for name in parts._fields + ("speaker_mfcc",):
        w, p = (getattr(whole_stream, name), getattr(stream, name)) if name == "speaker_mfcc" \
            else (getattr(whole, name), getattr(parts, name))
        if w is None:
            assert p is None
        else:
            np.testing.assert_array_equal(w, p)  # bit-identical


def _speech_and_silence(seconds=3.0, seed=2):
    """A voiced tone with noise, then digital silence (the second half)."""
    y = _signal(seconds=seconds, seed=seed)
    y[len(y) // 2:] = 0.0
    return y


@pytest.mark.parametrize("gain_db", [-30.0, -60.0, -80.0])
def test_floored_features_do_not_depend_on_the_gain(gain_db):
    config = FeatureConfig(floor_db=60.0)
    y = _speech_and_silence()
    ref = mfcc(y, sample_rate=SR, config=config, voicing=True)
    gain = np.float32(10.0 ** (gain_db / 20.0))
    got = mfcc(y * gain, sample_rate=SR, config=config, voicing=True)
    # the floor scales with the signal: the cepstra move by c0 alone, the voicing not at all
    np.testing.assert_allclose(got.mfcc[:, 1:], ref.mfcc[:, 1:], atol=1e-3)
    shift = got.mfcc[:, 0] - ref.mfcc[:, 0]
    np.testing.assert_allclose(shift, gain_db / 10 * np.log(10) * np.sqrt(config.n_mels),
                               atol=1e-2)
    np.testing.assert_allclose(got.voicing, ref.voicing, atol=1e-4)
    if gain_db <= -60.0:
        # without the floor, the quietest bands of a quiet copy sink to the absolute floor
        plain = mfcc(y * gain, sample_rate=SR, voicing=True)
        plain_ref = mfcc(y, sample_rate=SR, voicing=True)
        assert np.abs(plain.mfcc[:, 1:] - plain_ref.mfcc[:, 1:]).max() > 0.1


def test_floor_hides_digital_silence_and_noise_far_below_it():
    config = FeatureConfig(floor_db=40.0)
    y = _speech_and_silence()
    frames = mfcc(y, sample_rate=SR, config=config, voicing=True)
    stream = MfccStream(sample_rate=SR, config=config)
    floor = stream.noise_floor(np.array([np.mean(y[:SR] ** 2)], dtype=np.float32))
    # white noise 30 dB below the floor, where the signal was digital silence
    rng = np.random.default_rng(5)
    noisy = y + np.float32(np.sqrt(floor) * 10 ** (-30 / 20)) * rng.standard_normal(
        len(y)).astype(np.float32)
    got = mfcc(noisy, sample_rate=SR, config=config, voicing=True)
    quiet = slice(len(frames.energy) // 2 + 5, None)
    assert np.isfinite(frames.mfcc).all()
    np.testing.assert_allclose(got.mfcc[quiet], frames.mfcc[quiet], atol=0.1)
    np.testing.assert_allclose(got.energy[quiet], frames.energy[quiet], atol=0.05)
    assert np.all(got.voicing[quiet] < 0.05) and np.all(frames.voicing[quiet] == 0.0)
    # without the floor the same noise reads as a spectrum of its own
    bare = mfcc(noisy, sample_rate=SR, voicing=True).mfcc[quiet]
    assert np.abs(bare - mfcc(y, sample_rate=SR, voicing=True).mfcc[quiet]).max() > 1.0


def test_floor_is_the_expected_spectrum_of_white_noise_at_its_level():
    # white noise, floored at its own loud frames' level (floor_db ~ 0): its mel energies,
    # averaged over frames, grow by that level over the noise's own
    rng = np.random.default_rng(3)
    x = (0.01 * rng.standard_normal(SR * 3)).astype(np.float32)
    level = MfccStream(sample_rate=SR, config=FeatureConfig(floor_db=1e-9)).noise_floor(
        10.0 ** (mfcc(x, sample_rate=SR).energy / 10.0) - features_mod.MEL_FLOOR)
    assert level == pytest.approx(1e-4, rel=0.2)  # the 95th percentile of the frames
    full = dict(n_mfcc=40, n_mels=40)  # every cepstrum kept: the log mel energies come back
    dct = features_mod._fft.dct(np.eye(40), type=2, norm="ortho")

    def mel(config):
        return np.exp(mfcc(x, sample_rate=SR, config=config).mfcc @ dct.T).mean(axis=0)

    ratio = mel(FeatureConfig(floor_db=1e-9, **full)) / mel(FeatureConfig(**full))
    np.testing.assert_allclose(ratio, 1.0 + level / 1e-4, rtol=0.1)
    energy = (mfcc(x, sample_rate=SR, config=FeatureConfig(floor_db=1e-9)).energy
              - mfcc(x, sample_rate=SR).energy)
    assert np.median(energy) == pytest.approx(10 * np.log10(1.0 + level / 1e-4), abs=0.1)


def test_all_digital_silence_is_finite_with_a_floor():
    out = mfcc(np.zeros(SR, np.float32), sample_rate=SR, config=FeatureConfig(floor_db=50.0),
               voicing=True)
    assert np.isfinite(out.mfcc).all() and np.isfinite(out.energy).all()
    assert np.all(out.voicing == 0.0)


@pytest.mark.parametrize("floor_db", [80.0, 150.0])
def test_a_floor_below_float32_stays_finite(floor_db):
    # digital silence and noise at RMS 1e-18: the floor would underflow to 0 in float32
    y = np.zeros(SR, np.float32)
    y[SR // 2:] = np.random.default_rng(0).standard_normal(SR // 2).astype(np.float32) * 1e-18
    out = mfcc(y, sample_rate=SR, config=FeatureConfig(floor_db=floor_db), voicing=True)
    assert np.isfinite(out.mfcc).all() and np.isfinite(out.energy).all()


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


# ------------------------------------------------------------------ band floor
def _voice_in_noise(seconds=4.0, seed=7, snr_db=10.0):
    """A voiced tone in the first half, white noise throughout."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    tone = 0.1 * np.sin(2 * np.pi * 180 * t) * (t < seconds / 2)
    noise = 0.1 / np.sqrt(2) * 10 ** (-snr_db / 20) * rng.standard_normal(len(t))
    return (tone + noise).astype(np.float32)


def _speaker(y, config, voicing=False):
    """(the stream's frames, its band-floored cepstra) of a whole signal."""
    stream = MfccStream(sample_rate=SR, config=config, voicing=voicing)
    stream.push(y)
    return stream.finish(), stream.speaker_mfcc


def _log_mel(cepstra):
    """Log mel energies back from all the cepstra (n_mfcc == n_mels)."""
    n = cepstra.shape[1]
    return cepstra @ features_mod._fft.dct(np.eye(n), type=2, norm="ortho").T


@pytest.mark.parametrize("floor_db", [0.0, 30.0])
def test_band_floor_leaves_the_other_outputs_as_they_are(floor_db):
    y = _voice_in_noise()
    plain, none = _speaker(y, FeatureConfig(floor_db=floor_db), voicing=True)
    both, floored = _speaker(y, FeatureConfig(floor_db=floor_db, band_floor=True), voicing=True)
    assert none is None
    for got, want in zip(both, plain):
        np.testing.assert_array_equal(got, want)
    assert floored.shape == plain.mfcc.shape and floored.dtype == np.float32
    assert np.abs(floored - plain.mfcc).max() > 0.5


def test_band_floor_is_each_bands_noise_quantile_raised_by_its_margin():
    full = dict(n_mfcc=40, n_mels=40)
    config = FeatureConfig(band_floor=True, band_floor_quantile=0.2, band_floor_db=3.0,
                           band_floor_range_db=1000.0, **full)
    y = _voice_in_noise()
    _, out = _speaker(y, config)
    bare = np.exp(_log_mel(mfcc(y, sample_rate=SR, config=FeatureConfig(**full)).mfcc))
    floor = np.quantile(bare, 0.2, axis=0) * 10 ** 0.3
    got = _log_mel(out)
    np.testing.assert_allclose(got, np.log(np.maximum(bare, floor)), atol=2e-3)
    # the noise-only half reads as the floor itself in the bands the tone does not reach
    high = slice(25, 40)
    noise_only = got[len(got) // 2 + 5:, high]
    assert noise_only.std(axis=0).max() < 0.6 * np.log(bare[len(got) // 2 + 5:, high]).std(
        axis=0).min()


def test_band_floor_floors_only_the_bands_the_noise_outweighs():
    full = dict(n_mfcc=40, n_mels=40)
    config = FeatureConfig(band_floor=True, **full)
    y = _voice_in_noise(snr_db=25.0)
    _, out = _speaker(y, config)
    bare = np.exp(_log_mel(mfcc(y, sample_rate=SR, config=FeatureConfig(**full)).mfcc))
    noise, loud = np.quantile(bare, [0.1, 0.9], axis=0)
    noisy = loud < noise * 10 ** 0.8
    # the tone's bands stand far above the noise, the others hold noise alone
    assert 0 < noisy.sum() < 40 and not noisy[:5].any() and noisy[-10:].all()
    floor = np.where(noisy, noise * 10 ** 0.3, 0.0)
    got = _log_mel(out)
    np.testing.assert_allclose(got, np.log(np.maximum(bare, floor)), atol=2e-3)
    np.testing.assert_allclose(got[:, ~noisy], np.log(bare[:, ~noisy]), atol=2e-3)
    # a band is floored below its range, kept at or above it
    wider = FeatureConfig(band_floor=True, band_floor_range_db=200.0, **full)
    assert np.abs(_log_mel(_speaker(y, wider)[1])[:, :5] - got[:, :5]).max() > 0.1


def test_band_floor_keeps_the_plain_cepstra_where_no_band_is_noise():
    # the voice stands well above the noise in every band: nothing to floor, the
    # speaker stages read the cepstra bit for bit as without the option
    rng = np.random.default_rng(3)
    voice = rng.standard_normal(2 * SR).astype(np.float32) * np.float32(0.1)
    y = np.concatenate([voice, np.float32(1e-4) * rng.standard_normal(SR).astype(np.float32)])
    plain, _ = _speaker(y, FeatureConfig())
    frames, floored = _speaker(y, FeatureConfig(band_floor=True))
    assert floored is None
    np.testing.assert_array_equal(frames.mfcc, plain.mfcc)
    # floored everywhere (the range above any band's), it is not
    _, every = _speaker(y, FeatureConfig(band_floor=True, band_floor_range_db=1000.0))
    assert every is not None and np.abs(every - plain.mfcc).max() > 0.1


def test_band_floor_does_not_depend_on_the_gain_and_streams_like_the_whole():
    config = FeatureConfig(band_floor=True)
    y = _voice_in_noise()
    _, whole = _speaker(y, config)
    _, louder = _speaker(y * np.float32(4.0), config)
    # a gain moves c0 alone (the front end's own floor, far below this noise, aside)
    np.testing.assert_allclose(louder[:, 1:], whole[:, 1:], atol=1e-3)
    assert np.abs(louder[:, 0] - whole[:, 0]).min() > 1.0
    stream = MfccStream(sample_rate=SR, config=config)
    for a in range(0, len(y), 2999):
        stream.push(y[a:a + 2999])
    stream.finish()
    np.testing.assert_array_equal(stream.speaker_mfcc, whole)


def test_band_floor_of_digital_silence_and_of_nothing():
    config = FeatureConfig(band_floor=True)
    silent, floored = _speaker(np.zeros(SR, np.float32), config)
    assert np.isfinite(floored).all()
    np.testing.assert_array_equal(floored, silent.mfcc)
    _, empty = _speaker(np.zeros(0, np.float32), config)
    assert empty.shape == (0, config.n_mfcc)
