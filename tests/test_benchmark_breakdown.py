"""scripts/benchmark.py: the frame-level split of the full-condition DER."""

from __future__ import annotations

from pathlib import Path

import pytest

from diarize.metrics import evaluate_file
from diarize.segments import Turn

REPO = Path(__file__).resolve().parents[1]




REF = [Turn(0.0, 4.0, "A"), Turn(3.0, 5.0, "B"), Turn(6.0, 9.0, "A")]


def test_each_kind_of_error_lands_in_its_column(bench):
    # A: 0-4 and 6-9; B: 3-5 (1 s of overlap with A at 3-4).
    hyp = [Turn(0.5, 3.5, "x"),          # misses A 0-0.5 (alone) and 3.5-4 (overlap)
           Turn(3.0, 5.0, "y"),          # B exactly
           Turn(5.5, 8.0, "z")]          # 0.5 s false alarm, A as z, then A missed 8-9
    b = bench.breakdown_file(REF, hyp)
    assert b.scored == pytest.approx(9.0)                 # 4 + 2 + 3 speaker seconds
    assert b.overlap == pytest.approx(2.0)                # 1 s, two speakers
    assert b.missed_overlap == pytest.approx(0.5)
    assert b.missed_other == pytest.approx(1.5)
    assert b.false_alarm == pytest.approx(0.5)
    assert b.confusion == pytest.approx(2.0)              # x is mapped to A, so z is wrong
    exact = evaluate_file(REF, hyp)
    assert b.der == pytest.approx(exact.der, abs=0.01)


def test_regions_limit_what_is_scored(bench):
    b = bench.breakdown_file(REF, [Turn(0.0, 9.0, "x")], [(5.0, 9.0)])
    assert b.scored == pytest.approx(3.0)
    assert b.false_alarm == pytest.approx(1.0)            # 5-6, nobody talks
    assert b.missed_overlap == b.missed_other == b.confusion == 0.0


def test_empty_hypothesis_is_all_missed(bench):
    b = bench.breakdown_file(REF, [])
    assert b.rate("missed_overlap") + b.rate("missed_other") == pytest.approx(100.0)
    assert b.rate("overlap") == pytest.approx(100.0 * 2.0 / 9.0)
    assert bench.breakdown_file([], []) == bench.Breakdown()


def test_sums_and_table(bench):
    one = bench.breakdown_file(REF, [Turn(0.0, 9.0, "x")])
    two = one + one
    assert two.scored == pytest.approx(2 * one.scored) and two.der == pytest.approx(one.der)
    assert set(two.as_dict()) == {"scored", "overlap", "missed_overlap", "missed_other",
                                  "false_alarm", "confusion", "der"}
