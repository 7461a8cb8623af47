"""CSV cells from file names, uris and labels never start a spreadsheet formula."""

from __future__ import annotations

import csv
import io

import pytest

from conftest import cli_runner
from diarize.cli import main
from diarize.segments import Turn
from diarize.writers import format_csv, spreadsheet_text

HOSTILE = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1:A2)", "\tx", "\rx"]


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_starts_get_a_leading_quote(text):
    assert spreadsheet_text(text) == "'" + text


@pytest.mark.parametrize("text", ["alice", "spk 1", "a=b", "x-1", "'quoted", "", "1.5"])
def test_plain_text_is_unchanged(text):
    assert spreadsheet_text(text) == text


def test_csv_output_escapes_uri_and_speakers_but_not_times():
    turns = [Turn(0.5, 2.25, "=cmd|' /C calc'!A0"), Turn(3.0, 4.0, "@SUM(1+1)"),
             Turn(5.0, 6.0, "bob")]
    rows = list(csv.reader(io.StringIO(format_csv(turns, "-x=1+2"))))
    assert rows[0] == ["uri", "start", "end", "duration", "speaker"]
    assert [r[0] for r in rows[1:]] == ["'-x=1+2"] * 3
    assert [r[4] for r in rows[1:]] == ["'=cmd|' /C calc'!A0", "'@SUM(1+1)", "bob"]
    # numbers stay numbers: no quote, parseable
    assert [float(r[1]) for r in rows[1:]] == [0.5, 3.0, 5.0]
    assert [r[3] for r in rows[1:]] == ["1.750", "1.000", "1.000"]


def test_eval_csv_escapes_file_ids(tmp_path):
    ref = tmp_path / "ref.rttm"
    ref.write_text("SPEAKER =HYPERLINK(\"x\") 1 0 5 <NA> <NA> a <NA> <NA>\n"
                   "SPEAKER plain 1 0 5 <NA> <NA> a <NA> <NA>\n")
    result = cli_runner().invoke(main, ["eval", "--ref", str(ref), "--hyp", str(ref),
                                        "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["file"] for r in rows] == ["'=HYPERLINK(\"x\")", "plain", "TOTAL"]
    assert float(rows[0]["der"]) == 0.0
