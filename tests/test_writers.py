"""The one registry of output formats, used by the API, `diarize` and `diarize batch`."""

from __future__ import annotations

import doctest

import pytest
from click.testing import CliRunner

import diarize.writers as writers
from diarize import batch
from diarize.cli import main
from diarize.errors import OutputError
from diarize.segments import Diarization, Turn

RESULT = Diarization([Turn(0.5, 2.25, "A"), Turn(2.0, 3.0, "B b")], uri="demo", duration=3.0,
                     bic={1: -1.0, 2: -2.5})


def test_doctests():
    failures, tried = doctest.testmod(writers, optionflags=doctest.ELLIPSIS)
    assert tried >= 3 and failures == 0


def test_registry_names_extensions_and_writers():
    assert {n: f.extension for n, f in writers.FORMATS.items()} == {
        "rttm": ".rttm", "json": ".json", "csv": ".csv", "audacity": ".txt",
        "textgrid": ".TextGrid"}
    assert writers.OUTPUT_FORMATS == {n: f.extension for n, f in writers.FORMATS.items()}


@pytest.mark.parametrize("name", sorted(writers.FORMATS))
def test_diarization_methods_render_through_the_registry(name):
    text = writers.FORMATS[name].render(RESULT)
    assert getattr(RESULT, f"to_{name}")() == text
    assert RESULT.to_format(name) == text
    assert writers.format_diarization(RESULT, name) == text


def test_unknown_format_is_an_output_error():
    with pytest.raises(OutputError, match="unknown output format 'xml'.*rttm, json, csv, audacity, textgrid"):
        writers.format_diarization(RESULT, "xml")


def test_batch_and_cli_offer_every_registered_format():
    assert set(batch.FORMAT_EXTENSIONS) == set(writers.FORMATS)
    assert all("." + ext == writers.FORMATS[n].extension
               for n, ext in batch.FORMAT_EXTENSIONS.items())
    for command in ("run", "batch"):
        out = CliRunner().invoke(main, [command, "--help"]).output
        for name, fmt in writers.FORMATS.items():
            assert name in out and fmt.extension in out


# ------------------------------------------------ found by an audit of the run command
def test_every_format_ends_a_turn_where_the_others_do():
    # times off the millisecond grid (crop, hand-made turns): RTTM and CSV durations are
    # those of the written start and end, not of the raw difference
    d = Diarization([Turn(0.0, 5.0, "A")], uri="u", duration=6.0).crop(1.0006, 2.0004)
    onset, duration = (float(x) for x in d.to_rttm().split()[3:5])
    assert round(onset + duration, 3) == 2.0
    import json
    assert json.loads(d.to_json())["turns"][0]["end"] == 2.0
    row = d.to_csv().splitlines()[1].split(",")
    assert (row[1], row[2], row[3]) == ("1.001", "2.000", "0.999")


def test_a_speaker_of_zero_length_turns_only_still_gets_a_tier():
    d = Diarization([Turn(1.0, 2.0, "A"), Turn(3.0, 3.0, "B")], uri="u", duration=4.0)
    text = d.to_textgrid()
    assert "size = 2" in text and 'name = "B"' in text
    assert d.speakers == ["A", "B"]


def test_several_recordings_on_stdout_are_rttm_only(tmp_path):
    from conftest import FIXTURES

    two = [str(FIXTURES / "two_speakers.wav"), str(FIXTURES / "three_speakers.wav")]
    for fmt in ("json", "csv", "textgrid", "audacity"):
        result = CliRunner().invoke(main, [*two, "--stdout", "-f", fmt])
        assert result.exit_code == 2 and "prints RTTM only" in result.output, result.output
