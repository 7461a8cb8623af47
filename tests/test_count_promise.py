"""A speaker count asked for is kept: ``num_speakers`` exactly, ``min_speakers`` at least,
whenever there is ``cluster.speech_per_speaker`` seconds of speech per speaker; otherwise a
SpeakerCountWarning and ``speaker_count`` in the result and its JSON say why."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from diarize import SpeakerCountWarning
from diarize.cluster import cluster_speakers, count_floor, equal_chunks
from diarize.config import Config, ResegConfig
from diarize.resegment import absorb_short_turns, resegment, shape_turns
from diarize.segments import SpeakerCount, Turn
from diarize.writers import format_json

from conftest import EVAL, FIXTURES, needs_eval

STEP = 0.01  # seconds per frame
SCHEMA = Path(__file__).resolve().parents[1] / "diarize" / "schemas" / "diarization.schema.json"


def voices(seconds: list[float], *, seed: int = 0, dim: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """One turn per entry of `seconds`, voice i a Gaussian 3 apart from the others.

    Returns features (n_frames, dim) and the true voice of each frame.
    """
    rng = np.random.default_rng(seed)
    parts, truth = [], []
    for i, s in enumerate(seconds):
        n = int(round(s / STEP))
        centre = np.zeros(dim)
        centre[i % dim] = 3.0 * (1 + i // dim)
        parts.append(rng.standard_normal((n, dim)) + centre)
        truth.append(np.full(n, i))
    return np.concatenate(parts).astype(np.float32), np.concatenate(truth).astype(np.int64)


def bic_config(**top) -> Config:
    # BIC alone (no UBM): synthetic features are not in the UBM's front end.
    return Config(**top).replace(**{"cluster.link_method": "none"})


# ------------------------------------------------------------------ clustering

@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_clustering_returns_the_number_asked(n):
    # One voice, 20 s: BIC alone finds 1; a fixed count splits it (linear pass included).
    X, _ = voices([20.0])
    cfg = bic_config(num_speakers=n)
    out = cluster_speakers(X, speech=np.ones(len(X), bool), config=cfg)
    assert out.n_clusters == n


def test_clustering_honours_a_minimum_above_what_bic_finds():
    X, _ = voices([10.0, 10.0])
    cfg = bic_config(min_speakers=4)
    out = cluster_speakers(X, speech=np.ones(len(X), bool), config=cfg)
    assert out.n_clusters == 4


def test_fewer_chunks_than_speakers_are_cut_into_equal_pieces():
    # 1.4 s of speech is one 1-s chunk (a tail under 1.5 chunks is not cut), but speech
    # for two speakers at 0.5 s each.
    X, _ = voices([0.7, 0.7])
    cfg = bic_config(num_speakers=2)
    out = cluster_speakers(X, speech=np.ones(len(X), bool), config=cfg)
    assert out.n_clusters == 2
    assert equal_chunks(140, 2).tolist() == [[0, 70], [70, 140]]


def test_too_little_speech_caps_the_count():
    cfg = bic_config(num_speakers=4)
    assert cfg.cluster.speech_per_speaker == 0.5
    assert count_floor(cfg, n_speech_frames=80) == 1    # 0.8 s: speech for 1
    assert count_floor(cfg, n_speech_frames=150) == 3   # 1.5 s: for 3
    assert count_floor(cfg, n_speech_frames=1000) == 4  # the count asked, no more
    X, _ = voices([0.8])
    out = cluster_speakers(X, speech=np.ones(len(X), bool), config=cfg)
    assert out.n_clusters == 1


def test_default_bounds_are_unchanged():
    # No count asked: nothing is forced (BIC finds one voice).
    X, _ = voices([20.0])
    out = cluster_speakers(X, speech=np.ones(len(X), bool), config=bic_config())
    assert out.n_clusters == 1


# ------------------------------------------------------------------ resegmentation

def test_resegmentation_keeps_a_small_speaker_when_the_count_is_asked():
    # 0.8 s of a second voice is under reseg.min_speaker (2 s): dropped by default,
    # kept when two speakers are asked for.
    X, truth = voices([10.0, 0.8, 10.0])
    labels = np.minimum(truth, 1) * (truth == 1)
    cfg = ResegConfig()
    assert len(np.unique(resegment(X, labels, config=cfg, frame_step=STEP).labels)) == 1
    out = resegment(X, labels, config=cfg, frame_step=STEP, min_speakers=2)
    assert len(np.unique(out.labels)) == 2
    assert out.posteriors.shape[1] == 2 and len(out.models) == 2


def test_resegmentation_gives_back_a_speaker_the_decoder_emptied():
    # Three clusters of one voice: the decoder's switch penalty leaves one speaker; a
    # fixed count of 3 gives the others back their frames.
    X, _ = voices([12.0])
    labels = np.repeat([0, 1, 2], 400)
    cfg = ResegConfig(switch_penalty=1e5, min_speaker=0.0)
    assert len(np.unique(resegment(X, labels, config=cfg, frame_step=STEP).labels)) < 3
    out = resegment(X, labels, config=cfg, frame_step=STEP, min_speakers=3)
    assert len(np.unique(out.labels)) == 3


# ------------------------------------------------------------------ turns

def test_short_last_run_is_kept_for_the_count():
    labels = np.array([0] * 100 + [-1] * 10 + [1] * 10 + [-1] * 10 + [0] * 100)
    assert set(absorb_short_turns(labels, min_frames=25).tolist()) == {-1, 0}
    kept = absorb_short_turns(labels, min_frames=25, min_speakers=2)
    assert set(kept.tolist()) == {-1, 0, 1}


def test_turns_give_a_speaker_without_speech_a_turn():
    # Speaker 1 was modelled only where the refined speech has a pause.
    modelled = np.ones(300, bool)
    speech = np.ones(300, bool)
    speech[100:150] = False
    labels = np.zeros(300, dtype=np.int64)
    labels[100:150] = 1
    cfg = ResegConfig()
    plain = shape_turns(labels, modelled=modelled, speech=speech, config=cfg, frame_step=STEP)
    assert set(plain.tolist()) == {-1, 0}
    out = shape_turns(labels, modelled=modelled, speech=speech, config=cfg, frame_step=STEP,
                      min_speakers=2)
    assert set(out[speech].tolist()) == {0, 1}


# ------------------------------------------------------------------ result and JSON

def test_json_says_what_was_asked_and_found():
    count = SpeakerCount(4, True, 1, "x: asked for 4 speakers, found speech for 1: 0.8 s")
    doc = json.loads(format_json([Turn(0.0, 1.0, "A")], "x", duration=2.0,
                                 speaker_count=count.as_dict()))
    assert doc["speaker_count"] == {"asked": 4, "exact": True, "found": 1,
                                    "note": "x: asked for 4 speakers, found speech for 1: 0.8 s"}
    assert "speaker_count" not in json.loads(format_json([], "x"))
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))


@pytest.mark.slow
def test_min_speakers_three_on_two_speakers_gives_three():
    from diarize import Diarizer

    with warnings.catch_warnings():
        warnings.simplefilter("error", SpeakerCountWarning)
        result = Diarizer(min_speakers=3)(str(FIXTURES / "two_speakers.wav"))
    assert len(result.speakers) == 3
    assert result.speaker_count == SpeakerCount(3, False, 3, None)
    assert json.loads(result.to_json())["speaker_count"]["found"] == 3


@pytest.mark.slow
def test_too_many_speakers_warns_once_and_json_says_why():
    from diarize import Diarizer

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = Diarizer(num_speakers=60)(str(FIXTURES / "two_speakers.wav"))
    counts = [w for w in caught if issubclass(w.category, SpeakerCountWarning)]
    assert len(counts) == 1
    message = str(counts[0].message)
    assert "\n" not in message
    assert message.startswith("two_speakers: asked for 60 speakers, found speech for ")
    doc = json.loads(result.to_json())
    assert doc["speaker_count"]["note"] == message
    assert doc["speaker_count"]["found"] == len(result.speakers) < 60


def test_default_run_has_no_speaker_count():
    from diarize.pipeline import _count_asked

    assert not _count_asked(Config())
    assert _count_asked(Config(min_speakers=2)) and _count_asked(Config(num_speakers=1))


# ------------------------------------------------------------------ every recording

def reference_count(rttm: Path) -> int:
    """Speakers the reference RTTM names."""
    return len({line.split()[7] for line in rttm.read_text(encoding="utf-8").splitlines()
                if line.startswith("SPEAKER")})


def eval_recordings() -> list:
    out = []
    for folder in ("real", "sim"):
        d = EVAL / folder
        if d.is_dir():
            out += [pytest.param(p, id=f"{folder}/{p.stem}") for p in sorted(d.iterdir())
                    if p.suffix in (".wav", ".flac") and p.with_suffix(".rttm").exists()]
    return out or [pytest.param(None, marks=pytest.mark.skip(reason=f"{EVAL} not present"))]


@pytest.fixture(scope="module")
def diarizer():
    from diarize import Diarizer

    return Diarizer()


@pytest.mark.slow
@needs_eval()
@pytest.mark.parametrize("path", eval_recordings())
def test_every_recording_gets_its_reference_count(path, diarizer):
    n = reference_count(path.with_suffix(".rttm"))
    cfg = diarizer.config.with_speakers(num_speakers=n)
    from diarize import Diarizer

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SpeakerCountWarning)
        result = Diarizer(cfg)(str(path))
    found = len(result.speakers)
    short = [str(w.message) for w in caught if issubclass(w.category, SpeakerCountWarning)]
    assert result.speaker_count is not None and result.speaker_count.found == found
    if found == n:
        assert not short and result.speaker_count.note is None
    else:  # only where there is too little speech, and then it says so
        assert found < n and len(short) == 1 and "found speech for" in short[0]
        assert result.speaker_count.note == short[0]
