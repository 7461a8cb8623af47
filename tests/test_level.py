"""The speech detector reads levels relative to the recording: a constant gain changes
(almost) nothing, quiet recordings keep their speech, and no speech is said out loud."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import soundfile as sf

from conftest import FIXTURES
from diarize import Diarizer
from diarize.errors import NoSpeechWarning
from diarize.features import MEL_FLOOR
from diarize.sad import (DIGITAL_SILENCE, REFERENCE_LEVEL, SILENCE_LEVEL, detect_speech,
                         normalised_levels)


def _front_end_levels(power: np.ndarray) -> np.ndarray:
    """Frame levels as the front end writes them: float32 dBFS with its floor added."""
    return (10.0 * np.log10(power + MEL_FLOOR)).astype(np.float32)


def test_normalised_levels_do_not_depend_on_the_gain():
    rng = np.random.default_rng(0)
    power = 10.0 ** rng.uniform(-5.5, -1.0, 2000)  # frames from -55 to -10 dBFS
    power[:50] = 0.0  # digital silence
    ref = normalised_levels(_front_end_levels(power))
    assert np.all(ref[:50] == SILENCE_LEVEL)
    assert np.isclose(np.percentile(ref[50:], 95), REFERENCE_LEVEL, atol=1e-3)
    for gain_db in (-20.0, -40.0, -60.0, -80.0):
        got = normalised_levels(_front_end_levels(power * 10.0 ** (gain_db / 10.0)))
        assert np.all(got[:50] == SILENCE_LEVEL)
        # the front end's floor (-100 dBFS) is taken off: frames down to -135 dBFS keep
        # their level to a small fraction of a dB
        np.testing.assert_allclose(got[50:], ref[50:], atol=0.1)


def test_only_digital_silence_is_silence():
    e = _front_end_levels(np.array([0.0, DIGITAL_SILENCE / 10, DIGITAL_SILENCE * 10, 1e-3]))
    out = normalised_levels(e)
    assert list(out[:2] == SILENCE_LEVEL) == [True, True]
    assert np.all(out[2:] > SILENCE_LEVEL)


def _speech_mask(diarizer: Diarizer, samples: np.ndarray, sr: int) -> np.ndarray:
    f = diarizer.extract((samples, sr))
    return detect_speech(f.sad_mfcc, f.energy, f.voicing, config=diarizer.config.sad,
                         frame_step=diarizer.config.features.hop_length)


def test_the_speech_mask_follows_the_recording_not_its_gain():
    samples, sr = sf.read(FIXTURES / "two_speakers.wav", dtype="float32")
    peak = float(np.max(np.abs(samples)))
    diarizer = Diarizer()
    native = _speech_mask(diarizer, samples, sr)
    assert native.mean() > 0.5
    for level, agree in ((0.0, 0.999), (-20.0, 0.999), (-40.0, 0.95)):
        scaled = (samples * np.float32(10.0 ** (level / 20.0) / peak)).astype(np.float32)
        mask = _speech_mask(diarizer, scaled, sr)
        assert np.mean(mask == native) >= agree, level
    # the case: speech at -76 dBFS peak (a quiet 24-bit file) gave no speech at
    # all; the front end's own floor still loses its quietest frames (see docs)
    quiet = (samples * np.float32(10.0 ** (-76.0 / 20.0) / peak)).astype(np.float32)
    assert _speech_mask(diarizer, quiet, sr).sum() > 0.2 * native.sum()


def test_a_recording_with_no_speech_says_so():
    with pytest.warns(NoSpeechWarning, match="no speech found in hush"):
        result = Diarizer()((np.zeros(3 * 16000, np.float32), 16000), uri="hush")
    assert result.turns == []


def test_a_recording_with_speech_does_not_warn():
    samples, sr = sf.read(FIXTURES / "two_speakers.wav", dtype="float32")
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoSpeechWarning)
        assert Diarizer()((samples, sr)).turns
