"""scripts/diagnose_voices.py: where never-enrolled time that took a name comes from (a
voice of its own scoring like an enrolled one, or turns inside another voice's speaker),
and the scores of pure speakers it reports."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest

from conftest import script_module

Turn = namedtuple("Turn", "start end speaker")


class _Result:
    def __init__(self, turns):
        self.turns = [Turn(*t) for t in turns]

    def exclusive(self):
        return self.turns


def test_never_enrolled_time_named_is_told_apart_by_purity(tmp_path):
    with script_module("diagnose_voices.py", "diagnose_voices_under_test") as dv:
        import bench_voices  # on the path while the script is loaded
        conv = bench_voices.Conversation(uri="c", enrolled=["A"], unenrolled=["X", "Y"],
                               turns=[(0.0, 10.0, "A"), (10.0, 14.0, "X"), (14.0, 24.0, "Y")])
        # the diarization merges X's turn into A's speaker and keeps Y apart
        kept = _Result([(0.0, 14.0, "SPEAKER_00"), (14.0, 24.0, "SPEAKER_01")])
        named = _Result([(0.0, 14.0, "A"), (14.0, 24.0, "B")])
        scores = {("SPEAKER_00", "A"): 5.1, ("SPEAKER_00", "B"): 1.0,
                  ("SPEAKER_01", "A"): 2.0, ("SPEAKER_01", "B"): 4.7}
        lost, _, _, wrong, rows = dv.diagnose(conv, kept, named, scores, np.zeros(2500),
                                              purity=0.8, pause_db=30.0)
    # scored frames leave out 0.25 s on each side of every turn edge
    assert wrong["merged"] == pytest.approx(3.5)
    assert wrong["alike"] == pytest.approx(9.5)
    # only Y's speaker is pure (A holds 9.5 of SPEAKER_00's 13 scored seconds): its best score
    assert rows == [(False, pytest.approx(9.5), 4.7)]
    assert sum(lost.values()) == 0.0  # A's time is all named A


def test_a_pure_enrolled_speaker_reports_its_score_against_its_own_voiceprint(tmp_path):
    with script_module("diagnose_voices.py", "diagnose_voices_under_test") as dv:
        import bench_voices  # on the path while the script is loaded
        conv = bench_voices.Conversation(uri="c", enrolled=["A"], unenrolled=[],
                               turns=[(0.0, 6.0, "A")])
        kept = _Result([(0.0, 6.0, "SPEAKER_00")])
        scores = {("SPEAKER_00", "A"): 4.2, ("SPEAKER_00", "B"): 4.4}
        lost, _, _, wrong, rows = dv.diagnose(conv, kept, kept, scores, np.zeros(700),
                                              purity=0.8, pause_db=30.0)
    assert rows == [(True, pytest.approx(5.5), 4.2)]
    assert lost["low score"] == pytest.approx(5.5) and wrong == {"alike": 0.0, "merged": 0.0}
