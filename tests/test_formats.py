"""Output formats (rttm, json, csv, audacity, textgrid) and the `run` command's --format/--exclusive/-v."""

from __future__ import annotations

import csv
import io
import json
import math
import stat
from pathlib import Path

import pytest

from diarize.cli import main
from diarize.errors import OutputError
from diarize.writers import (FILE_MODE, OUTPUT_FORMATS, format_audacity, format_csv,
                             format_diarization, format_json, format_textgrid)
from diarize.segments import Diarization, Turn
from conftest import EVAL, cli_runner

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "diarize" / "schemas" / "diarization.schema.json"
SAMPLE_WAV = EVAL / "real" / "sample.wav"


def _overlapping() -> Diarization:
    return Diarization(
        [Turn(0.1, 2.0004999, "alice"), Turn(1.5, 3.25, "bob"), Turn(4.0, 5.0, "alice")],
        uri="demo file", duration=6.0, bic={2: -12.34567, 1: -10.0, 3: float("nan")})


# --------------------------------------------------------------------------- JSON
def test_json_layout_and_rounding():
    doc = json.loads(_overlapping().to_json())
    assert list(doc) == ["version", "uri", "duration", "speakers", "turns", "bic"]
    assert doc["uri"] == "demo file" and doc["duration"] == 6.0
    assert doc["speakers"] == ["alice", "bob"]
    assert doc["turns"][0] == {"start": 0.1, "end": 2.0, "speaker": "alice"}
    assert doc["bic"] == [{"num_speakers": 1, "bic": -10.0},
                          {"num_speakers": 2, "bic": -12.346},
                          {"num_speakers": 3, "bic": None}]  # NaN is not JSON


def test_json_is_deterministic():
    d = _overlapping()
    assert d.to_json() == Diarization(list(reversed(d.turns)), uri=d.uri, duration=d.duration,
                                      bic=dict(reversed(list(d.bic.items())))).to_json()


def test_json_validates_against_the_shipped_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for d in (_overlapping(), Diarization([]), _overlapping().exclusive()):
        validator.validate(json.loads(d.to_json()))
    bad = json.loads(_overlapping().to_json())
    bad["turns"][0]["start"] = "0.1"
    assert not validator.is_valid(bad)


def test_json_with_unknown_duration():
    assert json.loads(format_json([], "x"))["duration"] is None


# --------------------------------------------------------------------------- CSV, Audacity
def test_csv_round_trips_through_the_csv_module():
    d = Diarization([Turn(0.0, 1.5, 'say "hi", bob')], uri="a,b")
    rows = list(csv.DictReader(io.StringIO(d.to_csv())))
    assert rows == [{"uri": "a,b", "start": "0.000", "end": "1.500", "duration": "1.500",
                     "speaker": 'say "hi", bob'}]
    assert format_csv([], "x") == "uri,start,end,duration,speaker\n"


def test_audacity_label_track():
    text = format_audacity([Turn(1.0, 2.0, "B"), Turn(0.0, 0.5, "tab\there")])
    assert text == "0.000\t0.500\ttab here\n1.000\t2.000\tB\n"
    for line in text.splitlines():
        start, end, label = line.split("\t")
        assert float(start) <= float(end) and label


# --------------------------------------------------------------------------- TextGrid
def _read_textgrid(text: str) -> tuple[float, list[tuple[str, list[tuple[float, float, str]]]]]:
    """(xmax, [(tier name, [(xmin, xmax, text), ...]), ...]) of a long-format TextGrid,
    read the way Praat reads it: numbers and quoted strings in order, labels ignored."""
    import re

    tokens = re.findall(r'"((?:[^"]|"")*)"|(?<![\w\[])(-?\d+(?:\.\d+)?)(?![\w\]])|<(\w+)>', text)
    values: list = [(s.replace('""', '"') if n == "" and f == "" else
                     float(n) if n else f) for s, n, f in tokens]
    assert values[:2] == ["ooTextFile", "TextGrid"]
    xmin, xmax, flag, n_tiers = values[2:6]
    assert xmin == 0 and flag == "exists"
    at, tiers = 6, []
    for _ in range(int(n_tiers)):
        kind, name, t0, t1, n = values[at:at + 5]
        assert kind == "IntervalTier" and (t0, t1) == (0, xmax)
        at += 5
        intervals = [tuple(values[at + 3 * i:at + 3 * i + 3]) for i in range(int(n))]
        at += 3 * int(n)
        tiers.append((name, intervals))
    assert at == len(values)
    return xmax, tiers


def test_textgrid_has_a_tier_per_speaker_covering_the_recording():
    d = _overlapping()
    xmax, tiers = _read_textgrid(d.to_textgrid())
    assert xmax == 6.0
    assert [name for name, _ in tiers] == ["alice", "bob"]
    for name, intervals in tiers:
        # Praat's rule: intervals tile the tier's time domain, none empty
        assert intervals[0][0] == 0 and intervals[-1][1] == xmax
        assert all(a[1] == b[0] for a, b in zip(intervals, intervals[1:]))
        assert all(a < b for a, b, _ in intervals)
        labelled = [(a, b) for a, b, text in intervals if text]
        assert all(text in ("", name) for _, _, text in intervals)
        assert labelled == [(round(t.start, 3), round(t.end, 3)) for t in d.turns
                            if t.speaker == name]


def test_textgrid_rounding_quotes_and_no_speech():
    turns = [Turn(0.0, 1.0004, 'say "hi"\tthere'), Turn(1.0001, 2.0, 'say "hi"\tthere'),
             Turn(2.5, 2.5004, "gone"), Turn(3.0, 7.5, "late")]
    xmax, tiers = _read_textgrid(format_textgrid(turns, duration=5.0))
    # turns that touch once rounded are one interval; one that rounds to nothing is
    # no interval, but its speaker keeps a tier (JSON lists it); the last turn's end
    # extends the time domain
    assert xmax == 7.5
    assert tiers == [('say "hi" there', [(0.0, 2.0, 'say "hi" there'), (2.0, 7.5, "")]),
                     ("gone", [(0.0, 7.5, "")]),
                     ("late", [(0.0, 3.0, ""), (3.0, 7.5, "late")])]
    assert _read_textgrid(format_textgrid([], duration=4.0)) == (4.0, [("speech", [(0.0, 4.0, "")])])
    assert _read_textgrid(format_textgrid([])) == (0.001, [("speech", [(0.0, 0.001, "")])])


def test_textgrid_is_utf8_text_praat_reads(tmp_path):
    d = Diarization([Turn(0.25, 1.5, "Dr. Itō")], uri="x", duration=2.0)
    path = tmp_path / "x.TextGrid"
    path.write_text(d.to_textgrid(), encoding="utf-8")
    assert _read_textgrid(path.read_text(encoding="utf-8"))[1][0][0] == "Dr. Itō"
    assert d.to_textgrid().startswith('File type = "ooTextFile"\nObject class = "TextGrid"\n')


def test_format_dispatch():
    d = _overlapping()
    assert format_diarization(d, "rttm") == d.to_rttm()
    assert format_diarization(d, "audacity") == d.to_audacity()
    assert set(OUTPUT_FORMATS) == {"rttm", "json", "csv", "audacity", "textgrid"}
    with pytest.raises(OutputError, match="unknown output format"):
        format_diarization(d, "xml")


# --------------------------------------------------------------------------- CLI
@pytest.fixture
def fake_pipeline(monkeypatch):
    """Make Diarizer return a fixed overlapping result instantly (the CLI is under test)."""
    from diarize.names import uri_for
    from diarize.pipeline import Diarizer

    def call(self, audio, *, uri=None, hook=None):
        for stage in ("features", "speech", "clustering", "resegmentation"):
            if hook:
                hook(stage, 0, 1)
                hook(stage, 1, 1)
        d = _overlapping()
        d.uri = uri or uri_for(audio)
        return d

    monkeypatch.setattr(Diarizer, "__call__", call)


@pytest.mark.parametrize("fmt", sorted(OUTPUT_FORMATS))
def test_run_writes_each_format(tmp_path, fake_pipeline, fmt):
    wav = tmp_path / "in.wav"
    wav.write_bytes(b"")  # never read: the pipeline is faked
    result = cli_runner().invoke(main, [str(wav), "-o", str(tmp_path), "--format", fmt])
    assert result.exit_code == 0, result.output
    out = tmp_path / f"in{OUTPUT_FORMATS[fmt]}"
    assert out.is_file()
    d = _overlapping()
    d.uri = "in"
    assert out.read_text() == format_diarization(d, fmt, source=wav)
    # not mkstemp's owner-only 0o600: the mode open() would give a new file
    assert stat.S_IMODE(out.stat().st_mode) == FILE_MODE


def test_run_exclusive_and_stdout(tmp_path, fake_pipeline):
    wav = tmp_path / "in.wav"
    wav.write_bytes(b"")
    result = cli_runner().invoke(main, [str(wav), "--stdout", "--exclusive", "--format", "audacity"])
    assert result.exit_code == 0
    spans = [tuple(map(float, line.split("\t")[:2])) for line in result.stdout.splitlines()]
    assert spans == [(0.1, 2.0), (2.0, 3.25), (4.0, 5.0)]
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


def test_run_verbose_reports_progress_on_stderr(tmp_path, fake_pipeline):
    wav = tmp_path / "in.wav"
    wav.write_bytes(b"")
    result = cli_runner().invoke(main, [str(wav), "-o", str(tmp_path), "-v"])
    assert result.exit_code == 0
    assert result.stdout == ""
    for stage in ("features", "speech", "clustering", "resegmentation"):
        assert f"{stage}..." in result.stderr
    assert "2 speakers, 3 turns" in result.stderr


def test_run_rejects_unknown_format(tmp_path):
    result = cli_runner().invoke(main, ["x.wav", "--format", "xml"])
    assert result.exit_code == 2


@pytest.mark.slow
@pytest.mark.skipif(not SAMPLE_WAV.is_file(), reason="shared evaluation data not present")
def test_run_json_on_real_audio_validates(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    result = cli_runner().invoke(main, [str(SAMPLE_WAV), "-o", str(tmp_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "sample.json").read_text())
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
    assert doc["uri"] == "sample" and doc["bic"] and doc["turns"]
    assert all(math.isclose(t["start"], round(t["start"], 3)) for t in doc["turns"])
