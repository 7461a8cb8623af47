"""Times no recording has (1e308 s, an onset plus duration past 1e7 s) are refused as
malformed RTTM/UEM lines, and the scorer never prints or returns NaN."""

from __future__ import annotations

import math

import pytest

from conftest import cli_runner
from diarize.cli import main
from diarize.errors import ParameterError, RTTMError, ScoringError
from diarize.rttm import MAX_TIME, read_rttm, read_uem
from diarize.metrics import evaluate_file
from diarize.segments import Turn

OK = "SPEAKER f 1 0 5 <NA> <NA> a <NA> <NA>\n"


@pytest.mark.parametrize("line, words", [
    ("SPEAKER f 1 0 1e308 <NA> <NA> a <NA> <NA>", "duration is out of range"),
    ("SPEAKER f 1 1e308 1 <NA> <NA> a <NA> <NA>", "onset is out of range"),
    ("SPEAKER f 1 1e8 1 <NA> <NA> a <NA> <NA>", "onset is out of range"),
    ("SPEAKER f 1 9999999 2 <NA> <NA> a <NA> <NA>", "turn ends after"),
])
def test_absurd_rttm_times_name_the_file_and_line(tmp_path, line, words):
    path = tmp_path / "big.rttm"
    path.write_text(OK + line + "\n")
    with pytest.raises(RTTMError, match=rf"big\.rttm:2: {words}"):
        read_rttm(path)


def test_longest_allowed_turn_is_read(tmp_path):
    path = tmp_path / "long.rttm"
    path.write_text(f"SPEAKER f 1 0 {MAX_TIME:.0f} <NA> <NA> a <NA> <NA>\n")
    (turns,) = read_rttm(path).values()
    assert turns == [Turn(0.0, MAX_TIME, "a")]


def test_absurd_uem_times_are_refused(tmp_path):
    path = tmp_path / "u.uem"
    path.write_text("f 1 0 1e308\n")
    with pytest.raises(RTTMError, match=r"u\.uem:1: end is out of range"):
        read_uem(path)


@pytest.mark.parametrize("big", ["ref", "hyp"])
def test_eval_refuses_a_1e308_turn_in_one_line(tmp_path, big):
    ok, bad = tmp_path / "ok.rttm", tmp_path / "big.rttm"
    ok.write_text(OK)
    bad.write_text("SPEAKER f 1 0 1e308 <NA> <NA> a <NA> <NA>\n"
                   "SPEAKER f 1 1e308 1e308 <NA> <NA> b <NA> <NA>\n")
    ref, hyp = (bad, ok) if big == "ref" else (ok, bad)
    result = cli_runner().invoke(main, ["eval", "--ref", str(ref), "--hyp", str(hyp)])
    assert result.exit_code == 1
    assert "nan" not in result.stdout.lower()
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "big.rttm:1" in lines[0] and "out of range" in lines[0]
    assert "Traceback" not in result.stderr


def test_eval_of_long_but_valid_turns_prints_finite_numbers(tmp_path):
    ref, hyp = tmp_path / "ref.rttm", tmp_path / "hyp.rttm"
    ref.write_text("SPEAKER f 1 0 9000000 <NA> <NA> a <NA> <NA>\n"
                   "SPEAKER f 1 9000000 999999.5 <NA> <NA> b <NA> <NA>\n")
    hyp.write_text("SPEAKER f 1 0 9999999 <NA> <NA> x <NA> <NA>\n")
    result = cli_runner().invoke(main, ["eval", "--ref", str(ref), "--hyp", str(hyp)])
    assert result.exit_code == 0, result.stderr
    assert "nan" not in result.stdout.lower() and "inf" not in result.stdout.lower()
    total = next(line for line in result.stdout.splitlines() if line.startswith("TOTAL")).split()
    assert total[0] == "TOTAL" and math.isclose(float(total[1]), 10.0, abs_tol=0.01)


@pytest.mark.parametrize("start, end", [(0.0, math.inf), (math.nan, 1.0), (-2e7, 1.0)])
def test_a_turn_refuses_times_no_recording_has(start, end):
    # NaN, infinity and negative times never reach a scorer or a writer.
    with pytest.raises(ParameterError):
        Turn(start, end, "a")


@pytest.mark.parametrize("turn", [Turn(0.0, 1e308, "a"), Turn(1e7, 2e7, "a")])
def test_the_scorer_refuses_times_it_cannot_score(turn):
    with pytest.raises(ScoringError, match="within 1e\\+07 s of 0"):
        evaluate_file([Turn(0.0, 5.0, "a")], [turn])
    with pytest.raises(ScoringError):
        evaluate_file([turn], [Turn(0.0, 5.0, "a")])


def test_the_scorer_refuses_absurd_regions():
    with pytest.raises(ScoringError, match="scored region"):
        evaluate_file([Turn(0.0, 5.0, "a")], [Turn(0.0, 5.0, "a")], regions=[(0.0, 1e308)])
