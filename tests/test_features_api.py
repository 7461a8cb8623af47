"""The "features once, many configurations" API: Diarizer.extract and diarize_features."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from diarize import Diarizer
from diarize.errors import ConfigError
from diarize.pipeline import Features

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "audio_fixtures" / "two_speakers.wav"


def _rows(result):
    return [(t.start, t.end, t.speaker) for t in result.turns]


def test_features_record_their_front_end_and_are_read_only():
    d = Diarizer()
    f = d.extract(FIXTURE)
    assert isinstance(f, Features)
    assert f.uri == "two_speakers"
    assert f.front_end == d.front_end
    assert f.front_end.features == d.config.features
    assert f.duration == pytest.approx(len(f.mfcc) * d.config.features.hop_length, abs=0.011)
    with pytest.raises(ValueError):
        f.mfcc[0, 0] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.duration = 1.0  # type: ignore[misc]


def test_features_reused_across_configs_equal_fresh_runs():
    features = Diarizer().extract(FIXTURE)
    for overrides in ({}, {"reseg__decoder_min_turn": 0.3, "cluster__link_threshold": 4.0},
                      {"num_speakers": 3, "sad__method": "energy"}):
        d = Diarizer(**overrides)
        assert d.front_end == features.front_end
        reused = d.diarize_features(features)
        fresh = d(FIXTURE)
        assert reused.uri == fresh.uri == "two_speakers"
        assert _rows(reused) == _rows(fresh)
        np.testing.assert_array_equal(reused.speech_mask, fresh.speech_mask)


def test_array_input_gives_the_same_features_as_the_file():
    import soundfile as sf

    samples, rate = sf.read(FIXTURE, dtype="float32")
    d = Diarizer()
    a, b = d.extract(FIXTURE), d.extract((samples, rate))
    assert b.uri is None
    np.testing.assert_array_equal(a.mfcc, b.mfcc)
    assert d.diarize_features(b, uri="x").uri == "x"


@pytest.mark.parametrize("overrides", [
    {"features__n_mfcc": 13},
    {"features__fmin": 300.0},
    {"audio__sample_rate": 8000, "features__fmax": 3800.0},
])
def test_features_of_another_front_end_are_refused(overrides):
    features = Diarizer().extract(FIXTURE)
    with pytest.raises(ConfigError, match="front-end configuration"):
        Diarizer(**overrides).diarize_features(features)


def test_refuses_what_is_not_features():
    with pytest.raises(ConfigError):
        Diarizer().diarize_features(np.zeros((10, 20), dtype=np.float32))  # type: ignore[arg-type]


def test_no_module_calls_private_diarizer_methods():
    """Only pipeline.py may use the Diarizer's underscore methods."""
    private = [name for name in vars(Diarizer) if name.startswith("_") and not name.startswith("__")]
    assert private
    offenders = []
    for root in ("diarize", "scripts"):
        for path in sorted((REPO / root).rglob("*.py")):
            if path.name == "pipeline.py":
                continue
            text = path.read_text(encoding="utf-8")
            offenders += [f"{path.name}: {name}" for name in private if f".{name}(" in text]
    assert offenders == []
