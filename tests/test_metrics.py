"""DER (NIST md-eval v22 semantics) and JER (dscore) on worked examples.

Every expected value below is worked out by hand from md-eval's rules, the arithmetic in
the comments: the timeline is cut at every boundary; per piece missed = max(nref - nsys, 0),
false alarm = max(nsys - nref, 0), confusion = min(nref, nsys) - mapped pairs talking; the
mapping maximises overlap over the UEM before collars; DER = errors / reference speaker time.
"""

from __future__ import annotations

import random
import re
import warnings

import numpy as np
import pytest

from diarize.rttm import FileKey, read_rttm, read_uem
from diarize.metrics import DiarizationScore, ScoringWarning, evaluate, evaluate_file
from diarize.segments import Turn as T
from conftest import EVAL

SHARED = EVAL
SCORING = SHARED / "scoring"
EXACT = 1e-9


def der(ref, hyp, **kw):
    return evaluate_file(ref, hyp, **kw).der


# --------------------------------------------------------------- the reference bar

@pytest.mark.skipif(not (SCORING / "ref.rttm").exists(), reason="shared/eval/scoring not present")
def test_dscore_fixture_matches_md_eval_and_dscore():
    # dscore's test suite: FILE1, UEM 0-43 s, collar 0, overlap scored.
    # md-eval-22.pl gives DER 26.39309 %, dscore gives JER 33.24631 % (EXPECTED.txt).
    ref = read_rttm(SCORING / "ref.rttm")
    hyp = read_rttm(SCORING / "sys.rttm")
    result = evaluate(ref, hyp, uem={"FILE1": [(0.0, 43.0)]})
    assert result.total.der == pytest.approx(26.39309, abs=1e-4)
    assert result.total.jer == pytest.approx(33.24631, abs=1e-4)
    assert result.files[FileKey("FILE1", "1")].der == pytest.approx(26.39309, abs=1e-4)


# ---------------------------------------------------------------------- basics

def test_perfect_hypothesis_scores_zero():
    ref = [T(0, 4, "A"), T(4, 10, "B")]
    hyp = [T(0, 4, "x"), T(4, 10, "y")]          # labels differ, mapping fixes that
    s = evaluate_file(ref, hyp)
    assert (s.der, s.jer, s.scored) == (0.0, 0.0, 10.0)
    assert (s.ref_speakers, s.hyp_speakers) == (2, 2)


def test_overlap_counts_once_per_speaker():
    # ref A [0,10], B [5,15]; hyp x [0,10], y [10,15]; region [0,15]
    # pieces  [0,5]: A|x   [5,10]: A,B|x   [10,15]: B|y
    # overlap A-x 10, B-x 5, B-y 5 -> map A->x, B->y
    # scored = 5 + 2*5 + 5 = 20; missed [5,10]: 2-1 = 1 speaker * 5 s = 5
    # confusion: [5,10] min(2,1) - 1 (A,x) = 0 -> DER = 5/20 = 25 %
    ref = [T(0, 10, "A"), T(5, 15, "B")]
    hyp = [T(0, 10, "x"), T(10, 15, "y")]
    s = evaluate_file(ref, hyp)
    assert s.scored == pytest.approx(20)
    assert (s.missed, s.false_alarm, s.confusion) == pytest.approx((5, 0, 0))
    assert s.der == pytest.approx(25.0)
    # JER (10 ms frames): A-x 1000/1000 -> 0; B-y 500 in common / 1000 in union -> 0.5
    assert s.jer == pytest.approx(25.0)


def test_skip_overlap_drops_overlapped_reference():
    # same as above with -1: [5,10] (A and B) is not scored -> scored 10, no error
    ref = [T(0, 10, "A"), T(5, 15, "B")]
    hyp = [T(0, 10, "x"), T(10, 15, "y")]
    s = evaluate_file(ref, hyp, skip_overlap=True)
    assert s.scored == pytest.approx(10)
    assert s.der == 0.0
    assert s.jer == pytest.approx(25.0)            # JER ignores collars and -1, like dscore


def test_confusion_with_overlapped_hypothesis():
    # ref A [0,10]; hyp x [0,10], y [2,4]
    # [2,4]: nref 1, nsys 2 -> false alarm 1 * 2 s; map A->x (10 s) -> no confusion
    # DER = 2/10 = 20 %; JER: A-x perfect, y unpaired and not penalised -> 0 %
    s = evaluate_file([T(0, 10, "A")], [T(0, 10, "x"), T(2, 4, "y")])
    assert (s.missed, s.false_alarm, s.confusion) == pytest.approx((0, 2, 0))
    assert s.der == pytest.approx(20.0)
    assert s.jer == pytest.approx(0.0)
    assert (s.ref_speakers, s.hyp_speakers) == (1, 2)


def test_mapping_is_one_to_one_and_maximises_total_overlap():
    # ref A [0,6], B [6,10]; hyp x [0,10]: x can be mapped to A only (6 s > 4 s)
    # [6,10]: B|x, x not B's -> confusion 4; DER = 4/10 = 40 %
    s = evaluate_file([T(0, 6, "A"), T(6, 10, "B")], [T(0, 10, "x")])
    assert (s.missed, s.false_alarm, s.confusion) == pytest.approx((0, 0, 4))
    # JER: A-x: 600/1000 -> 0.4; B unpaired -> 1; mean 70 %
    assert s.jer == pytest.approx(70.0)


def test_self_overlapping_turns_count_once():
    # A [0,6] and A [4,10] are one speaker talking [0,10]: scored 10 s, not 12
    s = evaluate_file([T(0, 6, "A"), T(4, 10, "A")], [T(0, 10, "x")])
    assert s.scored == pytest.approx(10)
    assert s.der == 0.0
    # same in the hypothesis: no false alarm on [4,6]
    s = evaluate_file([T(0, 10, "A")], [T(0, 6, "x"), T(4, 10, "x")])
    assert s.der == 0.0
    # and one speaker overlapping themself is not overlapped speech (md-eval's -1 would
    # drop [4,6]; documented departure)
    s = evaluate_file([T(0, 6, "A"), T(4, 10, "A")], [T(0, 10, "x")], skip_overlap=True)
    assert s.scored == pytest.approx(10)


def test_unsorted_input_gives_the_same_score():
    ref = [T(0, 10, "A"), T(5, 15, "B"), T(20, 22, "A"), T(16, 18, "C")]
    hyp = [T(0, 9, "x"), T(9, 15, "y"), T(15, 19, "z"), T(19, 23, "x")]
    expected = evaluate_file(ref, hyp, collar=0.25)
    rng = random.Random(0)
    for _ in range(5):
        rng.shuffle(ref)
        rng.shuffle(hyp)
        got = evaluate_file(ref, hyp, collar=0.25)
        assert got.der == pytest.approx(expected.der, abs=EXACT)
        assert got.jer == pytest.approx(expected.jer, abs=EXACT)


def test_unsorted_rttm_file(tmp_path):
    lines = ["SPEAKER f 1 5.0 10.0 <NA> <NA> B <NA> <NA>",
             "SPEAKER f 1 0.0 10.0 <NA> <NA> A <NA> <NA>"]
    (tmp_path / "r.rttm").write_text("\n".join(lines) + "\n")
    (tmp_path / "h.rttm").write_text("SPEAKER f 1 10 5 <NA> <NA> y <NA> <NA>\n"
                                     "SPEAKER f 1 0 10 <NA> <NA> x <NA> <NA>\n")
    r = evaluate(read_rttm(tmp_path / "r.rttm"), read_rttm(tmp_path / "h.rttm"))
    assert r.total.der == pytest.approx(25.0)       # the overlap example above


# ------------------------------------------------------------ zero-length turns

def test_zero_length_reference_turn_extends_default_region_but_has_no_speech():
    # ref A [2,5], B [8,8] (zero length); md-eval's default region: [2, 8]
    # hyp x [2,5], y [6,7] (inside the region: false alarm 1 s), z [9,10] (outside)
    # scored = 3 (A only; B never talks); DER = 1/3
    ref = [T(2, 5, "A"), T(8, 8, "B")]
    hyp = [T(2, 5, "x"), T(6, 7, "y"), T(9, 10, "z")]
    s = evaluate_file(ref, hyp)
    assert s.scored == pytest.approx(3)
    assert s.false_alarm == pytest.approx(1)
    assert s.der == pytest.approx(100 / 3)
    assert (s.ref_speakers, s.hyp_speakers) == (1, 2)


def test_zero_length_reference_turn_gets_a_collar():
    # ref A [0,10], B [5,5]; collar 0.5 per side around 0, 10 and (B) 5
    # scored: [0.5,4.5] + [5.5,9.5] = 8 s of A
    # hyp x [0,5.4], y [5.4,10]; map A->x (5.4 s > 4.6 s)
    # confusion: [5.5,9.5] = 4 s -> DER = 4/8 = 50 %
    # (without B's collar: scored 9, confusion 4.1 -> 45.6 %)
    s = evaluate_file([T(0, 10, "A"), T(5, 5, "B")], [T(0, 5.4, "x"), T(5.4, 10, "y")], collar=0.5)
    assert s.scored == pytest.approx(8)
    assert s.confusion == pytest.approx(4)
    assert s.der == pytest.approx(50.0)


def test_zero_length_hypothesis_turn_is_nothing():
    s = evaluate_file([T(0, 10, "A")], [T(0, 10, "x"), T(3, 3, "y")])
    assert s.der == 0.0
    assert s.hyp_speakers == 1


# ------------------------------------------------------------------- collars

def test_collar_is_per_side():
    # ref A [0,10], B [10,20]; hyp x [0,10.5], y [10.5,20]: 0.5 s wrong after 10
    # collar 0.25: no-score zones [-.25,.25], [9.75,10.25], [19.75,20.25]
    #   scored = 20 - 0.25 - 0.5 - 0.25 = 19; confusion [10.25,10.5] = 0.25
    ref = [T(0, 10, "A"), T(10, 20, "B")]
    hyp = [T(0, 10.5, "x"), T(10.5, 20, "y")]
    s = evaluate_file(ref, hyp, collar=0.25)
    assert s.scored == pytest.approx(19)
    assert s.confusion == pytest.approx(0.25)
    assert s.der == pytest.approx(100 * 0.25 / 19)
    # collar 0.5 per side covers [9.5,10.5]: no error left
    assert evaluate_file(ref, hyp, collar=0.5).der == pytest.approx(0.0, abs=EXACT)


def test_collars_longer_than_turns():
    # ref A [0,1], B [1,1.5], A [1.5,4]; collar 1 s:
    # zones around 0, 1, 1, 1.5, 1.5, 4 -> [-1,2.5] U [3,5]; region [0,4] -> scored [2.5,3]
    # hyp x [0,2.7], y [2.7,4]: mapping before collars: A-x 2.2, A-y 1.3, B-x 0.5 -> A->x
    # scored [2.5,2.7] A|x correct, [2.7,3] A|y confusion 0.3 -> DER = 0.3/0.5 = 60 %
    ref = [T(0, 1, "A"), T(1, 1.5, "B"), T(1.5, 4, "A")]
    hyp = [T(0, 2.7, "x"), T(2.7, 4, "y")]
    s = evaluate_file(ref, hyp, collar=1.0)
    assert s.scored == pytest.approx(0.5)
    assert s.confusion == pytest.approx(0.3)
    assert s.der == pytest.approx(60.0)
    # a collar swallowing everything: nothing scored, nothing wrong
    s = evaluate_file(ref, hyp, collar=10.0)
    assert (s.scored, s.der) == (0.0, 0.0)


def test_mapping_is_computed_before_collars():
    # ref A: [0,1] [2,3] [4,5] [6,7] (4 s), B [8,11] (3 s); hyp x [0,11]
    # before collars A-x 4 > B-x 3 -> x is A's (md-eval); after 0.4 s collars A keeps
    # 4 * 0.2 = 0.8 s and B 2.2 s, which would map x to B.
    # scored: A 0.8 (correct), B 2.2 (confusion); gaps [1.4,1.6] [3.4,3.6] [5.4,5.6]
    # [7.4,7.6]: x alone -> false alarm 0.8. DER = (0.8 + 2.2) / 3.0 = 100 %
    # (mapping after collars would give (0.8 + 0.8) / 3 = 53.3 %)
    ref = [T(0, 1, "A"), T(2, 3, "A"), T(4, 5, "A"), T(6, 7, "A"), T(8, 11, "B")]
    s = evaluate_file(ref, [T(0, 11, "x")], collar=0.4)
    assert s.scored == pytest.approx(3.0)
    assert s.false_alarm == pytest.approx(0.8)
    assert s.confusion == pytest.approx(2.2)
    assert s.der == pytest.approx(100.0)


@pytest.mark.parametrize("collar", [-0.1, float("nan"), float("inf"), "a", None, True])
def test_a_bad_collar_is_a_scoring_error(collar):
    from diarize.errors import ConfigError, ScoringError

    for score in (lambda: evaluate_file([T(0, 1, "A")], [], collar=collar),
                  lambda: evaluate({"f": [T(0, 1, "A")]}, {}, collar=collar)):
        with pytest.raises(ScoringError, match="collar must be") as caught:
            score()
        assert isinstance(caught.value, ConfigError)
        assert isinstance(caught.value, ValueError)  # what callers caught before


# ------------------------------------------------------------------- UEM

@pytest.mark.parametrize("regions, message", [([(30.0, 0.0)], "ends before it starts"),
                                              ([(0, 20, 1)], "(start, end) pairs"),
                                              (["ab"], "(start, end) pairs")])
def test_a_bad_scored_region_is_a_scoring_error(regions, message):
    # read_uem refuses them in a file; by hand they scored 0 s at DER 0 %
    from diarize.errors import ScoringError

    with pytest.raises(ScoringError, match=re.escape(message)):
        evaluate({"f": [T(0, 10, "A")]}, {"f": [T(0, 10, "B")]}, uem={"f": regions})

def test_multi_region_uem():
    # ref A [0,10], B [10,20]; hyp x [0,20]; UEM [0,5] and [12,15]
    # mapping over the UEM: A-x 5, B-x 3 -> A->x
    # scored [0,5] A correct; [12,15] B|x confusion 3 -> DER = 3/8 = 37.5 %
    ref = [T(0, 10, "A"), T(10, 20, "B")]
    s = evaluate_file(ref, [T(0, 20, "x")], regions=[(0, 5), (12, 15)])
    assert s.scored == pytest.approx(8)
    assert s.confusion == pytest.approx(3)
    assert s.der == pytest.approx(37.5)
    # JER over the UEM frames: A-x 500/800 -> 0.375, B unpaired -> 1: 68.75 %
    assert s.jer == pytest.approx(68.75)


def test_uem_region_counts_false_alarm_outside_reference_extent():
    # ref A [2,4]; hyp x [0,6]. Default region [2,4]: no error.
    # UEM [0,6]: false alarm 4 s over 2 s scored -> 200 %
    ref, hyp = [T(2, 4, "A")], [T(0, 6, "x")]
    assert der(ref, hyp) == 0.0
    assert der(ref, hyp, regions=[(0, 6)]) == pytest.approx(200.0)


def test_uem_id_with_a_dot_is_applied():
    # md-eval cuts UEM ids at the first dot ("rec.1" -> "rec") and silently ignores this
    # UEM. Here it applies: scored [0,5], so the false alarm at [6,8] is not counted.
    ref = {"rec.1": [T(0, 10, "A")]}
    hyp = {"rec.1": [T(0, 10, "x"), T(6, 8, "y")]}
    r = evaluate(ref, hyp, uem={"rec.1": [(0, 5)]})
    assert r.total.scored == pytest.approx(5)
    assert r.total.der == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert evaluate(ref, hyp).total.der == pytest.approx(20.0)   # without UEM: FA 2/10


def test_uem_id_written_as_a_path_matches_the_file():
    ref = {"rec": [T(0, 10, "A")]}
    hyp = {"rec": [T(0, 10, "x"), T(6, 8, "y")]}
    r = evaluate(ref, hyp, uem={"audio/rec.wav": [(0, 5)]})
    assert r.total.scored == pytest.approx(5)
    assert r.uem_unused == []


def test_file_missing_from_uem_uses_reference_extent_with_warning():
    ref = {"a": [T(0, 10, "A")], "b": [T(1, 3, "A")]}
    hyp = {"a": [T(0, 10, "x")], "b": [T(0, 4, "x")]}
    with pytest.warns(ScoringWarning, match="not in the UEM"):
        r = evaluate(ref, hyp, uem={"a": [(0, 10)]})
    assert r.files[FileKey("b")].der == 0.0        # [1,3] only, like md-eval


# ------------------------------------------------------------- files and sets

def test_empty_hypothesis_is_all_missed():
    s = evaluate_file([T(0, 4, "A"), T(4, 10, "B")], [])
    assert s.missed == pytest.approx(10)
    assert s.der == pytest.approx(100.0)
    assert s.jer == pytest.approx(100.0)
    assert s.hyp_speakers == 0


def test_missing_hypothesis_file_is_all_missed_and_total_is_time_weighted():
    # f1: A [0,10] perfect; f2: A [0,5] has no hypothesis -> missed 5
    # total DER = 5 / (10 + 5) = 33.3 % (the mean of file DERs would be 50 %)
    # total JER = mean over reference speakers (0 and 100) = 50 %
    ref = {"f1": [T(0, 10, "A")], "f2": [T(0, 5, "A")]}
    hyp = {"f1": [T(0, 10, "x")]}
    with pytest.warns(ScoringWarning, match="no hypothesis"):
        r = evaluate(ref, hyp)
    assert r.files[FileKey("f2")].der == pytest.approx(100.0)
    assert r.total.der == pytest.approx(100 / 3)
    assert r.total.scored == pytest.approx(15)
    assert r.total.jer == pytest.approx(50.0)


def test_hypothesis_only_file_is_ignored_with_warning():
    ref = {"f1": [T(0, 10, "A")]}
    hyp = {"f1": [T(0, 10, "x")], "extra": [T(0, 10, "x")]}
    with pytest.warns(ScoringWarning, match="extra"):
        r = evaluate(ref, hyp)
    assert r.hypothesis_only == [FileKey("extra")]
    assert list(r.files) == [FileKey("f1")]
    assert r.total.der == 0.0


def test_files_are_matched_by_channel():
    # the hypothesis is on channel 2, the reference on channel 1: nothing matches, so
    # the reference is all missed and the channel-2 file is ignored
    ref = {FileKey("f", "1"): [T(0, 10, "A")]}
    hyp = {FileKey("f", "2"): [T(0, 10, "x")]}
    with pytest.warns(ScoringWarning):
        r = evaluate(ref, hyp)
    assert r.total.der == pytest.approx(100.0)
    assert r.hypothesis_only == [FileKey("f", "2")]


def test_every_file_has_its_own_label():
    # a file id "rec:1" is not file "rec" on channel 1: each keeps its row and JSON entry
    ref = {FileKey("rec", "1"): [T(0, 2, "A")], FileKey("rec", "2"): [T(0, 2, "A")],
           FileKey("rec:1", "1"): [T(0, 4, "A")], FileKey("solo"): [T(0, 1, "A")]}
    hyp = {k: v for k, v in ref.items() if k.uri != "rec:1"}
    with pytest.warns(ScoringWarning):
        r = evaluate(ref, hyp)
    labels = r.labels()
    assert len(set(labels.values())) == 4 and labels[FileKey("solo")] == "solo"
    assert labels[FileKey("rec", "2")] == "rec:2"
    files = r.as_dict()["files"]
    assert sorted(v["der"] for v in files.values()) == [0.0, 0.0, 0.0, 100.0]


def test_channel_is_case_insensitive(tmp_path):
    (tmp_path / "r.rttm").write_text("SPEAKER f A 0 10 <NA> <NA> S <NA> <NA>\n")
    (tmp_path / "h.rttm").write_text("SPEAKER f a 0 10 <NA> <NA> x <NA> <NA>\n")
    r = evaluate(read_rttm(tmp_path / "r.rttm"), read_rttm(tmp_path / "h.rttm"))
    assert r.total.der == 0.0 and r.hypothesis_only == []


def test_zero_scored_time_has_a_defined_rate_and_keeps_total_exact():
    # f1: the reference has only a zero-length turn; UEM [0,10]; hyp talks [4,6]
    # -> scored 0 s, false alarm 2 s: md-eval divides by zero; here DER = 100 %
    # f2: A [0,10] perfect. Total = 2 / 10 = 20 %, not a mean of rates.
    ref = {"f1": [T(5, 5, "A")], "f2": [T(0, 10, "A")]}
    hyp = {"f1": [T(4, 6, "x")], "f2": [T(0, 10, "x")]}
    r = evaluate(ref, hyp, uem={"f1": [(0, 10)], "f2": [(0, 10)]})
    f1 = r.files[FileKey("f1")]
    assert (f1.scored, f1.false_alarm) == (0.0, pytest.approx(2))
    assert f1.der == 100.0 and f1.false_alarm_rate == 100.0
    assert f1.jer == 100.0            # no reference speaker, hypothesis speech (dscore)
    assert r.total.der == pytest.approx(20.0)
    assert r.total.jer == 0.0         # f1 has no reference speaker to average over
    # nothing scored and nothing wrong: 0 %
    s = evaluate_file([T(5, 5, "A")], [])
    assert (s.scored, s.der, s.jer) == (0.0, 0.0, 0.0)


def test_empty_reference_set():
    r = evaluate({}, {})
    assert r.total == DiarizationScore()
    assert r.total.der == 0.0


def test_scores_add_up():
    a = DiarizationScore(scored=10, missed=1, false_alarm=2, confusion=3, ref_speakers=2,
                         hyp_speakers=3, speaker_jer=(0.5, 0.0), hyp_has_speech=True)
    b = DiarizationScore(scored=30, missed=4, ref_speakers=1, speaker_jer=(1.0,))
    c = a + b
    assert (c.scored, c.error, c.ref_speakers, c.hyp_speakers) == (40, 10, 3, 3)
    assert c.der == pytest.approx(25.0)
    assert c.jer == pytest.approx(50.0)
    assert set(c.as_dict()) == {"der", "jer", "missed", "false_alarm", "confusion",
                                "scored", "ref_speakers", "hyp_speakers"}


def test_string_keys_mean_channel_one():
    r = evaluate({"f": [T(0, 1, "A")]}, {FileKey("f", "1"): [T(0, 1, "x")]})
    assert r.total.der == 0.0


# ------------------------------------------------------------------- JER

def test_jer_frames_follow_dscore():
    # dscore: frame i (time i*0.01) is in [on, off) when on <= i*0.01 < off.
    # ref A [0, 0.055]: frames 0..5 (6 frames); hyp x [0.005, 0.055]: frames 1..5 (5)
    # Jaccard = 5/6 -> JER = 16.67 %
    s = evaluate_file([T(0, 0.055, "A")], [T(0.005, 0.055, "x")], regions=[(0, 1)])
    assert s.jer == pytest.approx(100 / 6)


# ------------------------------------------------------------------- speed

@pytest.mark.slow
def test_hundred_hours_score_in_seconds():
    # 100 files of one hour, 4 speakers, ~1200 turns each; the hypothesis is jittered
    rng = np.random.default_rng(0)
    ref, hyp = {}, {}
    for f in range(100):
        cuts = np.sort(rng.uniform(0, 3600, 1200))
        spk = rng.integers(0, 4, 1199)
        ref[f"f{f}"] = [T(float(a), float(b), f"S{s}") for a, b, s in zip(cuts[:-1], cuts[1:], spk)]
        jit = np.maximum(cuts + rng.normal(0, 0.2, cuts.shape), 0.0)  # no time before 0
        hyp[f"f{f}"] = [T(float(min(a, b)), float(max(a, b)), f"h{(s + (i % 7 == 0)) % 4}")
                        for i, (a, b, s) in enumerate(zip(jit[:-1], jit[1:], spk))]
    r = evaluate(ref, hyp, collar=0.25)
    assert 0 < r.total.der < 100
    assert len(r.files) == 100 and r.total.scored == pytest.approx(
        sum(s.scored for s in r.files.values()))


# ------------------------------------------------- random cases scored by md-eval

# Random cases (collars, -1, multi-region UEMs, zero-length turns, missing files, a
# channel mismatch) scored by md-eval-22.pl's speaker-diarization subroutines run under
# perl 5.36 (create_speaker_segs, add_collars_to_uem, exclude_overlapping_speech_from_uem,
# uem_from_rttm and the scoring arithmetic, with its bipartite matcher replaced by an
# exhaustive search for the same maximum). Expected: file -> (scored, missed, FA, confusion).
def _rttm(rows):
    return "".join(f"SPEAKER {f} {c} {s} {d} <NA> <NA> {spk} <NA> <NA>\n" for f, c, s, d, spk in
                   (r.split() for r in rows.strip().splitlines()))


MD_EVAL_CASES = [
    dict(collar=0.25, skip=False, uem="f0 1 4.97 16.91\n", ref=_rttm("""
        f0 1 2.795 0.817 Rs0
        f0 1 1.660 3.667 Rs1
        f0 1 6.748 2.929 Rs1
        f0 1 2.795 2.815 Rs0
        f1 1 0.240 1.684 Rs1
        f1 1 0.488 2.603 Rs2
        f1 1 5.384 4.763 Rs0
        f1 1 1.893 1.636 Rs0
        f1 1 9.756 3.496 Rs0
        f1 1 0.646 2.409 Rs0"""), hyp=_rttm("""
        f0 1 10.897 1.881 Hs0
        f0 1 5.130 2.905 Hs0
        f0 1 4.295 4.917 Hs3
        f0 1 16.559 4.567 Hs0
        f0 1 2.620 3.783 Hs2
        f0 1 2.936 0.043 Hs0
        f0 1 12.289 1.153 Hs3
        f0 1 0.773 4.794 Hs3
        f0 1 8.111 0.538 Hs0"""),
         expected={"f0": (2.643, 0.215, 6.779, 0.0), "f1": (9.98, 9.98, 0.0, 0.0)}),
    dict(collar=0.25, skip=False, uem=None, ref=_rttm("""
        f0 1 2.921 3.110 Rs1
        f0 1 0.082 0.897 Rs0
        f0 1 5.641 4.471 Rs1
        f0 1 2.623 4.468 Rs0
        f0 1 1.540 0.348 Rs1"""), hyp=_rttm("""
        f0 1 4.422 3.546 Hs0
        f0 1 10.805 1.329 Hs0
        f0 1 6.662 3.433 Hs0
        f0 1 1.441 1.106 Hs1
        f0 1 1.795 0.000 Hs1
        f0 1 2.398 3.150 Hs0"""),
         expected={"f0": (8.478, 3.177, 0.235, 0.0)}),
    dict(collar=0.5, skip=True, uem="f0 1 0.72 9.62\nf0 1 9.74 24.08\n", ref=_rttm("""
        f0 1 2.744 0.241 Rs0
        f0 1 20.005 2.207 Rs1
        f0 1 6.947 1.253 Rs1
        f0 1 15.716 1.965 Rs1
        f0 1 0.765 3.364 Rs2
        f0 1 2.058 1.941 Rs1
        f0 1 10.353 3.071 Rs1
        f0 1 5.481 1.083 Rs1"""), hyp=_rttm("""
        f0 2 2.379 0.233 Hs0
        f1 1 13.265 3.461 Hs1
        f1 1 1.040 0.363 Hs0"""),
         expected={"f0": (4.872, 4.872, 0.0, 0.0)}),
    dict(collar=0.25, skip=True, uem="f0 1 4.87 14.93\nf0 1 18.10 26.19\nf0 1 30.45 36.91\n", ref=_rttm("""
        f0 1 12.942 2.251 Rs0
        f0 1 2.418 0.499 Rs1
        f0 1 7.054 2.067 Rs0
        f0 1 3.506 0.607 Rs1
        f0 1 1.392 3.315 Rs0
        f0 1 15.772 0.000 Rs1
        f0 1 15.677 0.670 Rs0
        f0 1 13.135 1.075 Rs1
        f0 1 5.369 4.806 Rs1"""), hyp=_rttm("""
        f0 1 22.172 2.927 Hs1
        f0 1 14.407 4.785 Hs1
        f0 1 2.383 2.778 Hs1
        f0 1 15.236 0.000 Hs1
        f0 1 0.569 0.394 Hs0
        f0 1 8.013 4.558 Hs1
        f0 1 4.637 0.033 Hs1"""),
         expected={"f0": (2.209, 1.185, 6.327, 0.47)}),
    dict(collar=0.0, skip=True, uem="f0 1 2.66 14.24\n", ref=_rttm("""
        f0 1 0.888 2.529 Rs1
        f0 1 8.821 0.000 Rs3
        f0 1 15.102 0.433 Rs1
        f0 1 16.982 3.958 Rs1
        f0 1 4.217 1.276 Rs1
        f0 1 1.153 3.556 Rs2
        f0 1 16.570 0.000 Rs3
        f0 1 2.393 2.281 Rs3
        f0 1 6.851 1.413 Rs3
        f0 1 9.249 3.596 Rs1
        f0 1 10.294 1.108 Rs3
        f0 1 13.133 2.580 Rs3"""), hyp=_rttm("""
        f0 1 0.196 2.263 Hs2
        f0 1 0.000 2.910 Hs1
        f0 1 12.594 4.582 Hs3
        f0 1 6.925 0.000 Hs3
        f0 1 8.642 4.932 Hs3
        f0 1 6.817 0.391 Hs1
        f0 1 0.031 0.305 Hs1
        f0 1 1.082 2.913 Hs3"""),
         expected={"f0": (5.792, 1.84, 0.929, 1.107)}),
]


@pytest.mark.parametrize("case", MD_EVAL_CASES)
def test_random_cases_match_md_eval(case, tmp_path):
    (tmp_path / "ref.rttm").write_text(case["ref"])
    (tmp_path / "hyp.rttm").write_text(case["hyp"])
    uem = None
    if case["uem"]:
        (tmp_path / "x.uem").write_text(case["uem"])
        uem = read_uem(tmp_path / "x.uem")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScoringWarning)
        r = evaluate(read_rttm(tmp_path / "ref.rttm"), read_rttm(tmp_path / "hyp.rttm"), uem=uem,
                     collar=case["collar"], skip_overlap=case["skip"])
    assert {k.uri for k in r.files} == set(case["expected"])
    for uri, want in case["expected"].items():
        s = r.files[FileKey(uri)]
        assert (s.scored, s.missed, s.false_alarm, s.confusion) == pytest.approx(want, abs=1e-6)


def test_match_uem_is_how_evaluate_matches_uem_ids():
    from diarize.metrics import match_uem

    regions, unused = match_uem([FileKey("rec"), FileKey("b")],
                                {FileKey("dir/rec.wav"): [(0.0, 5.0)], FileKey("b"): [(1.0, 2.0)],
                                 FileKey("REC"): [(0.0, 1.0)]})
    assert regions == {FileKey("rec"): [(0.0, 5.0)], FileKey("b"): [(1.0, 2.0)]}
    assert unused == [FileKey("REC")]
