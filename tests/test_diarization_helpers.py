"""Diarization's helpers for users: crop, speaker_at, talk_time, rename, to_annotation and
assign (words to speakers)."""

from __future__ import annotations

import sys
from dataclasses import replace
from collections import namedtuple

import numpy as np
import pytest

from diarize.errors import MissingDependencyError, ParameterError, TranscriptError
from diarize.segments import OVERLAP_FLAG_SHARE, AssignedWord, Diarization, SpeakerTime, Turn


def _d(*turns, **kw):
    return Diarization([Turn(*t) for t in turns], uri="demo", duration=10.0, **kw)


def _spans(d):
    return [(t.start, t.end, t.speaker) for t in d]


# --------------------------------------------------------------------------- crop
def test_crop_clips_turns_and_drops_those_outside():
    d = _d((0.0, 4.0, "A"), (5.0, 9.0, "B"), (9.5, 10.0, "A"))
    assert _spans(d.crop(3.0, 6.0)) == [(3.0, 4.0, "A"), (5.0, 6.0, "B")]
    assert _spans(d.crop(4.0, 5.0)) == []  # touching a window is not being in it


def test_crop_keeps_times_uri_duration_and_evidence():
    mask = np.ones(10, dtype=bool)
    d = _d((0.0, 4.0, "A"), speech_mask=mask, frame_step=0.01, bic={2: 1.0})
    c = d.crop(1.0, 2.0)
    assert c.uri == "demo" and c.duration == 10.0 and c.bic == {2: 1.0}
    assert c.speech_mask is mask
    assert _spans(d) == [(0.0, 4.0, "A")]  # the original is untouched


def test_crop_keeps_a_zero_length_turn_inside():
    d = _d((2.0, 2.0, "A"), (7.0, 7.0, "B"))
    assert _spans(d.crop(1.0, 3.0)) == [(2.0, 2.0, "A")]


@pytest.mark.parametrize("start, end", [(3.0, 1.0), (float("nan"), 1.0), (0.0, float("inf")), ("a", 1)])
def test_crop_refuses_a_bad_window(start, end):
    with pytest.raises(ParameterError):
        _d((0.0, 4.0, "A")).crop(start, end)


# --------------------------------------------------------------------------- speaker_at
def test_speaker_at_pause_boundaries_and_overlap():
    d = _d((0.0, 4.0, "A"), (3.0, 6.0, "B"), (7.0, 8.0, "C"))
    assert d.speaker_at(0.0) == "A"
    assert d.speaker_at(3.5) == "A"  # overlap: the turn that started first
    assert d.speaker_at(4.0) == "B"  # turns are [start, end)
    assert d.speaker_at(6.5) is None
    assert d.speaker_at(8.0) is None
    assert d.speaker_at(-1.0) is None


def test_speakers_at_lists_everyone_talking_first_as_speaker_at():
    d = _d((0.0, 4.0, "A"), (3.0, 6.0, "B"), (3.2, 3.8, "A"), (7.0, 8.0, "C"))
    assert d.speakers_at(3.5) == ["A", "B"]  # A once, though two of its turns cover 3.5
    assert d.speakers_at(4.0) == ["B"]
    assert d.speakers_at(6.5) == []
    for t in np.arange(-1, 9, 0.25):
        talking = d.speakers_at(float(t))
        assert (talking[0] if talking else None) == d.speaker_at(float(t))


def test_speaker_at_agrees_with_exclusive():
    rng = np.random.default_rng(3)
    turns = []
    for _ in range(40):
        a = float(rng.uniform(0, 50))
        turns.append((round(a, 2), round(a + float(rng.uniform(0.1, 5)), 2), f"S{rng.integers(4)}"))
    d = _d(*turns)
    ex = d.exclusive()
    for t in np.arange(0, 56, 0.173):
        assert d.speaker_at(float(t)) == ex.speaker_at(float(t))


# --------------------------------------------------------------------------- talk_time
def test_talk_time_counts_seconds_share_turns_and_longest():
    d = _d((0.0, 3.0, "A"), (3.0, 4.0, "B"), (5.0, 6.0, "A"), (5.5, 7.5, "A"))
    tt = d.talk_time()
    assert list(tt) == ["A", "B"]
    assert tt["A"] == SpeakerTime("A", seconds=5.5, share=5.5 / 6.5, turns=2, longest=3.0)
    assert tt["B"] == SpeakerTime("B", seconds=1.0, share=1.0 / 6.5, turns=1, longest=1.0)
    assert sum(s.share for s in tt.values()) == pytest.approx(1.0)


def test_talk_time_joins_touching_turns_and_handles_silence():
    assert _d((0.0, 1.0, "A"), (1.0, 2.0, "A")).talk_time()["A"].turns == 1
    assert _d().talk_time() == {}
    silent = _d((1.0, 1.0, "A")).talk_time()["A"]
    assert (silent.seconds, silent.share, silent.turns, silent.longest) == (0.0, 0.0, 0, 0.0)


def test_talk_time_result_is_frozen():
    tt = _d((0.0, 1.0, "A")).talk_time()["A"]
    with pytest.raises(AttributeError):
        tt.seconds = 2.0  # type: ignore[misc]


# --------------------------------------------------------------------------- rename
def test_rename_maps_labels_and_leaves_others():
    d = _d((0.0, 1.0, "SPEAKER_00"), (1.0, 2.0, "SPEAKER_01"), speaker_models={"SPEAKER_00": 1})
    r = d.rename({"SPEAKER_00": "Alice"})
    assert _spans(r) == [(0.0, 1.0, "Alice"), (1.0, 2.0, "SPEAKER_01")]
    assert r.speaker_models == {"Alice": 1}
    assert d.speakers == ["SPEAKER_00", "SPEAKER_01"]


def test_rename_to_one_name_merges_speakers():
    d = _d((0.0, 2.0, "A"), (1.0, 3.0, "B"), speaker_models={"A": 1, "B": 2})
    r = d.rename({"A": "X", "B": "X"})
    assert r.speakers == ["X"] and r.talk_time()["X"].seconds == 3.0
    assert r.speaker_models == {}


def test_rename_refuses_unknown_speakers_and_bad_names():
    d = _d((0.0, 1.0, "A"))
    with pytest.raises(ParameterError, match="'Z'.*speakers: A"):
        d.rename({"Z": "Zoe"})
    with pytest.raises(ParameterError, match="non-empty"):
        d.rename({"A": ""})


# --------------------------------------------------------------------------- to_annotation
def test_to_annotation_without_pyannote_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyannote.core", None)  # import fails as if absent
    with pytest.raises(MissingDependencyError, match="pip install pyannote.core"):
        _d((0.0, 1.0, "A")).to_annotation()


def test_to_annotation_with_pyannote():
    core = pytest.importorskip("pyannote.core")
    d = _d((0.0, 2.0, "A"), (1.0, 3.0, "B"), (1.0, 3.0, "B"))
    ann = d.to_annotation()
    assert isinstance(ann, core.Annotation) and ann.uri == "demo"
    assert sorted(ann.labels()) == ["A", "B"]
    assert len(list(ann.itertracks())) == 3  # identical turns stay apart
    assert ann.label_duration("A") == 2.0


# --------------------------------------------------------------------------- assign
def test_assign_overlap_nearest_and_order():
    d = _d((0.0, 2.0, "A"), (3.0, 5.0, "B"))
    words = [(3.2, 3.5, "later"), (0.5, 0.9, "hi"), (2.1, 2.4, "um"), (2.7, 2.9, "er"),
             (1.8, 3.4, "straddle")]
    got = d.assign(words)
    assert [(w.text, w.speaker, w.method) for w in got] == [
        ("later", "B", "overlap"), ("hi", "A", "overlap"), ("um", "A", "nearest"),
        ("er", "B", "nearest"), ("straddle", "B", "overlap")]
    assert not got[4].overlap  # A covers 0.2 s of its 1.6 s: 12.5 %, under the 25 % share
    assert all(isinstance(w, AssignedWord) for w in got)


def test_assign_overlap_flag_follows_the_share():
    d = _d((0.0, 2.0, "A"), (1.0, 3.0, "B"))
    # word 0.8-1.8: A covers 1.0 s, B covers 0.8 s -> A, flagged
    (w,) = d.assign([(0.8, 1.8, "x")])
    assert (w.speaker, w.overlap, w.method) == ("A", True, "overlap")
    # word 0.0-1.1: B covers 0.1 s of 1.1 s (9 %) -> not flagged by default
    (w,) = d.assign([(0.0, 1.1, "x")])
    assert (w.speaker, w.overlap) == ("A", False)
    (w,) = d.assign([(0.0, 1.1, "x")], overlap_share=0.05)
    assert w.overlap
    assert 0 < OVERLAP_FLAG_SHARE <= 1


def test_assign_ties_go_to_the_first_speaker():
    d = _d((0.0, 2.0, "A"), (0.0, 2.0, "B"))
    (w,) = d.assign([(0.5, 1.0, "x")])
    assert (w.speaker, w.overlap) == ("A", True)


def test_assign_exact_ties_of_written_times_go_to_the_first_speaker():
    # 1.0 - 0.9 and 1.1 - 1.0 differ in their last bits; as written, they tie
    d = _d((0.0, 1.0, "A"), (1.0, 2.0, "B"))
    assert [(w.speaker, w.method) for w in d.assign([(0.9, 1.1, "tie")])] == [("A", "overlap")]
    d = _d((0.0, 0.2, "A"), (1.2, 2.2, "B"))
    assert [(w.speaker, w.method) for w in d.assign([(0.6, 0.8, "mid")])] == [("A", "nearest")]
    for k in range(1, 300):
        b = round(0.1 * k, 1)
        d = _d((0.0, b, "A"), (b, b + 5.0, "B"))
        (w,) = d.assign([(round(b - 0.1, 1), round(b + 0.1, 1), "w")])
        assert w.speaker == "A", b


def test_assign_zero_length_word_and_max_gap():
    d = _d((0.0, 2.0, "A"), (5.0, 6.0, "B"))
    a, b, c = d.assign([(1.0, 1.0, "p"), (3.0, 3.2, "q"), (9.0, 9.5, "r")], max_gap=2.0)
    assert (a.speaker, a.method) == ("A", "overlap")
    assert (b.speaker, b.method) == ("A", "nearest")  # 1.0 s from A, 1.8 s from B
    assert (c.speaker, c.method) == (None, "none")  # 3 s from B
    assert d.assign([(9.0, 9.5, "r")])[0].speaker == "B"  # no limit by default


def test_assign_with_no_speech_and_no_words():
    assert _d().assign([(0.0, 1.0, "x")]) == [AssignedWord(0.0, 1.0, "x", None, False, "none")]
    assert _d((0.0, 1.0, "A")).assign([]) == []


def test_assign_reads_dicts_whisper_words_and_objects():
    Word = namedtuple("Word", "start end word probability")  # faster-whisper's shape
    d = _d((0.0, 2.0, "A"))
    got = d.assign([{"start": 0.1, "end": 0.2, "text": "a"},
                    {"start": 0.3, "end": 0.4, "word": " b", "probability": 0.9},
                    Word(0.5, 0.6, " c", 0.8), [0.7, 0.8, "d"]])
    assert [w.text for w in got] == ["a", " b", " c", "d"]
    assert {w.speaker for w in got} == {"A"}


@pytest.mark.parametrize("word, message", [
    ("hello", "word 0: expected"),
    ((1.0, 2.0), "word 0: expected"),
    ({"start": 1.0, "end": 2.0}, "no text"),
    ({"end": 2.0, "text": "x"}, "no start"),
    ({"start": "soon", "end": 2.0, "text": "x"}, "start is not a number"),
    ({"start": float("nan"), "end": 2.0, "text": "x"}, "not finite"),
    ((3.0, 2.0, "x"), "ends"),
])
def test_assign_refuses_malformed_words(word, message):
    with pytest.raises(TranscriptError, match=message):
        _d((0.0, 1.0, "A")).assign([word])


@pytest.mark.parametrize("kw", [{"overlap_share": 0.0}, {"overlap_share": 1.5}, {"max_gap": -1.0}])
def test_assign_refuses_bad_parameters(kw):
    with pytest.raises(ParameterError):
        _d((0.0, 1.0, "A")).assign([(0.0, 1.0, "x")], **kw)


def _brute_force(turns, word):
    """The rule of assign, written the slow way, for comparison."""
    start, end, _ = word
    speakers = list(dict.fromkeys(t[2] for t in sorted(turns)))
    grid = np.linspace(start, end, 2001)[:-1] + (end - start) / 4000
    cover = {s: 0.0 for s in speakers}
    for s in speakers:
        inside = np.zeros(len(grid), dtype=bool)
        for a, b, spk in turns:
            if spk == s:
                inside |= (grid >= a) & (grid < b)
        cover[s] = inside.mean() * (end - start)
    return cover


def test_assign_matches_a_brute_force_overlap_count():
    rng = np.random.default_rng(7)
    turns = []
    for _ in range(60):
        a = round(float(rng.uniform(0, 100)), 2)
        turns.append((a, round(a + float(rng.uniform(0.2, 6)), 2), f"S{rng.integers(3)}"))
    d = _d(*turns)
    words = [(round(float(a), 2), round(float(a) + float(rng.uniform(0.05, 2)), 2), "w")
             for a in rng.uniform(0, 105, 300)]
    for word, got in zip(words, d.assign(words)):
        cover = _brute_force(turns, word)
        best = max(cover.values())
        if got.method == "overlap":
            assert cover[got.speaker] == pytest.approx(best, abs=0.01 * (word[1] - word[0]) + 1e-9)
        else:
            assert best < 0.01 * (word[1] - word[0]) + 1e-9
            gaps = {s: min(max(a - word[1], word[0] - b, 0.0) for a, b, spk in turns if spk == s)
                    for s in cover}
            assert gaps[got.speaker] == pytest.approx(min(gaps.values()))


# ------------------------------------------------ found by an audit of the run command
def test_rename_crop_and_exclusive_keep_the_count_and_the_evidence_current():
    from diarize.segments import SpeakerCount
    from diarize.voices import VoiceMatch

    d = _d((0.0, 2.0, "SPEAKER_00"), (2.0, 4.0, "SPEAKER_01"), (5.0, 6.0, "ann"))
    d = replace(d, speaker_count=SpeakerCount(3, True, 3),
                voice_matches={"SPEAKER_00": VoiceMatch(None, "ann", 1.0, None, None),
                               "SPEAKER_01": VoiceMatch(None, "ann", 2.0, None, None),
                               "ann": VoiceMatch("ann", "ann", 9.0, None, None)})
    merged = d.rename({"SPEAKER_00": "X", "SPEAKER_01": "X"})
    assert merged.speakers == ["X", "ann"] and merged.speaker_count.found == 2
    assert set(merged.voice_matches) == {"X", "ann"}
    assert merged.voice_matches["X"].best_score == 2.0  # the best-scoring part's
    assert d.crop(0.0, 1.0).speaker_count.found == 1
    assert d.exclusive().speaker_count.found == 3
    assert d.speaker_count.found == 3  # the original is untouched
