"""scripts/train_sad.py's examples (the training itself is measured by the scripts, not here)."""

from pathlib import Path

import numpy as np

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
