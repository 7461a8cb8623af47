"""Resegmentation keeps the speakers the linking stage found, down to reseg.min_speaker."""

import numpy as np
import pytest

from diarize.config import Config, ResegConfig
from diarize.resegment import resegment

STEP = 0.01  # seconds per frame


def two_voices(minor_seconds: float, *, seed: int = 0):
    """20 s of one synthetic voice with a single turn of another in the middle.

    Returns features (n_frames, 6) and the clustering's labels (0 major, 1 minor).
    """
    rng = np.random.default_rng(seed)
    major = int(20 / STEP)
    minor = int(round(minor_seconds / STEP))
    a = rng.standard_normal((major, 6))
    b = rng.standard_normal((minor, 6)) + 3.0  # a clearly different voice
    half = major // 2
    X = np.concatenate([a[:half], b, a[half:]]).astype(np.float32)
    labels = np.concatenate([np.zeros(half), np.ones(minor), np.zeros(major - half)]).astype(np.int64)
    return X, labels


def kept_speakers(X, labels, config: ResegConfig) -> int:
    out = resegment(X, labels, config=config, frame_step=STEP, seed=0)
    return len(np.unique(out.labels))


def test_default_keeps_a_speaker_with_two_and_a_half_seconds():
    # Short meeting clips have real speakers with 2-3 s of speech; dropping them was the
    # largest cause of under-counting on real recordings.
    X, labels = two_voices(2.5)
    assert kept_speakers(X, labels, Config().reseg) == 2


@pytest.mark.parametrize("seconds", [0.8, 1.5])
def test_default_drops_a_cluster_under_min_speaker(seconds):
    X, labels = two_voices(seconds)
    assert seconds < Config().reseg.min_speaker
    assert kept_speakers(X, labels, Config().reseg) == 1


def test_min_speaker_is_the_rule_not_the_decoder():
    # The same 2.5 s voice is dropped when min_speaker asks for more speech.
    X, labels = two_voices(2.5)
    assert kept_speakers(X, labels, ResegConfig(min_speaker=3.0)) == 1
