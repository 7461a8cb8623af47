"""scripts/train_sad.py's examples (the training itself is measured by the scripts, not here)."""

from pathlib import Path

import numpy as np
import pytest

from conftest import script_module

FIXTURE = Path(__file__).resolve().parents[1] / "audio_fixtures" / "two_speakers.wav"


def test_high_voice_examples_keep_the_timing_and_change_the_voice():
    with script_module("train_sad.py", "train_sad_under_test") as ts:
        x, lab = ts.speech_example((0, str(FIXTURE), 0, 0))
        xh, labh = ts.speech_example((0, str(FIXTURE), 0, 0, True))
        again, _ = ts.speech_example((0, str(FIXTURE), 0, 0, True))
    # the shift keeps the duration, so the frames and their speech labels line up
    assert abs(len(xh) - len(x)) <= 1
    n = min(len(lab), len(labh))
    assert np.mean(lab[:n] == labh[:n]) > 0.8
    # but not the voice, and the same arguments give the same example
    assert not np.allclose(xh[:n], x[:n])
    np.testing.assert_array_equal(again, xh)


def test_channel_examples_change_only_when_asked():
    with script_module("train_sad.py", "train_sad_under_test") as ts:
        plain, lab = ts.speech_example((0, str(FIXTURE), 0, 0))
        chan, lab_c = ts.speech_example((0, str(FIXTURE), 0, 0), channel_prob=1.0)
        again, _ = ts.speech_example((0, str(FIXTURE), 0, 0), channel_prob=1.0)
        off, _ = ts.speech_example((0, str(FIXTURE), 0, 0), channel_prob=0.0)
    # the channel changes the features, not the timing or the labels
    np.testing.assert_array_equal(lab_c, lab)
    assert not np.allclose(chan, plain)
    np.testing.assert_array_equal(again, chan)
    # and without it the example is the one it was
    np.testing.assert_array_equal(off, plain)


def test_channel_keeps_the_rms():
    with script_module("train_sad.py", "train_sad_under_test") as ts:
        y = np.random.default_rng(1).standard_normal(16000)
        for seed in range(6):  # both kinds of channel
            out = ts.channel(np.random.default_rng(seed), y)
            assert np.sqrt(np.mean(out ** 2)) == pytest.approx(np.sqrt(np.mean(y ** 2)))
