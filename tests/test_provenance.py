"""Provenance: every output file we write says it is ours, a rerun skips only outputs of
ours, and a file that is not ours is never replaced (not even with --overwrite).

The pipeline is faked (these are tests of the files, not of the diarization), so the
whole file runs in the fast set.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from conftest import cli_runner
from diarize import batch
from diarize.cli import _is_rttm, main
from diarize.errors import ForeignOutputError
from diarize.rttm import read_rttm
from diarize.segments import Diarization, Turn
from diarize.writers import (OUTPUT_FORMATS, OUTPUT_LEDGER, TOOL_NAME, check_replaceable,
                             format_diarization, is_ours, provenance, rttm_provenance_line)

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "diarize" / "schemas" / "diarization.schema.json"
REFERENCE = "SPEAKER rec 1 0.000 1.000 <NA> <NA> ref_A <NA> <NA>\n"


def _result(uri: str) -> Diarization:
    return Diarization([Turn(0.5, 1.5, "A"), Turn(2.0, 3.25, "B")], uri=uri, duration=4.0,
                       bic={1: -1.0, 2: -2.0})


@pytest.fixture
def fake_pipeline(monkeypatch):
    """Diarizer returns a fixed result at once, and counts its calls."""
    from diarize.names import uri_for
    from diarize.pipeline import Diarizer

    calls: list[str] = []

    def call(self, audio, *, uri=None, hook=None):
        calls.append(str(audio))
        return _result(uri or uri_for(audio))

    monkeypatch.setattr(Diarizer, "__call__", call)
    return calls


def _audio(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        (folder / name).write_bytes(b"")  # never read: the pipeline is faked
        out.append(folder / name)
    return out


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------- what the files hold
def _md_eval_records(text: str) -> list[list[str]]:
    """The records NIST md-eval (v22, get_rttm_file) keeps, with its checks: lines that
    start with # or ; and blank lines are skipped; every other needs 9 fields; SPKR-INFO
    needs a known speaker type."""
    kept = []
    for line in text.splitlines():
        if re.match(r"^\s*[#;]|^\s*$", line):
            continue
        fields = line.split()
        assert len(fields) >= 9, line
        if fields[0].upper() == "SPKR-INFO":
            assert fields[6].lower() in {"adult_male", "adult_female", "child", "unknown"}
            continue
        kept.append(fields)
    return kept


def _dscore_records(text: str) -> list[list[str]]:
    """The records dscore's load_rttm keeps: it skips lines starting with SPKR-INFO and
    nothing else (no comments), and needs 9 fields, a float onset and a positive duration."""
    kept = []
    for line in text.encode().split(b"\n"):
        if not line or line.startswith(b"SPKR-INFO"):
            continue
        fields = line.decode().split()
        assert len(fields) >= 9, line
        float(fields[3])
        assert float(fields[4]) > 0
        kept.append(fields)
    return kept


def test_rttm_carries_tool_version_and_input_and_every_reader_skips_it():
    d = _result("my rec")
    text = format_diarization(d, "rttm", source="/some/where/my rec.wav")
    first, rest = text.split("\n", 1)
    from diarize import __version__
    assert first == f"SPKR-INFO my_rec 1 <NA> <NA> <NA> unknown {TOOL_NAME} {__version__} my_rec.wav"
    # The turn lines are exactly those of the unmarked text: only the first line is added.
    assert rest == format_diarization(d, "rttm")
    speakers = [f for f in _md_eval_records(rest)]
    assert _md_eval_records(text) == speakers == _dscore_records(text)
    assert len(speakers) == 2


def test_eval_and_words_read_our_rttm(tmp_path, fake_pipeline):
    (wav,) = _audio(tmp_path, "rec.wav")
    assert cli_runner().invoke(main, [str(wav), "-o", str(tmp_path / "out")]).exit_code == 0
    ours = tmp_path / "out" / "rec.rttm"
    assert [(t.start, t.end, t.speaker) for t in read_rttm(ours)[("rec", "1")]] == [
        (0.5, 1.5, "A"), (2.0, 3.25, "B")]
    result = cli_runner().invoke(main, ["eval", "--ref", str(ours), "--hyp", str(ours)])
    assert result.exit_code == 0, result.output
    assert "0.00" in result.output
    no_suffix = tmp_path / "rec_turns"
    no_suffix.write_bytes(ours.read_bytes())
    assert _is_rttm(no_suffix)  # `diarize words` knows it for RTTM by its first record


def test_json_generator_field_validates_against_the_schema(tmp_path, fake_pipeline):
    (wav,) = _audio(tmp_path, "rec.wav")
    result = cli_runner().invoke(main, [str(wav), "-o", str(tmp_path), "-f", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "rec.json").read_text())
    assert list(doc)[:3] == ["version", "generator", "uri"]
    assert doc["generator"]["name"] == TOOL_NAME and doc["generator"]["input"] == "rec.wav"
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
    # Diarization.to_json() (no file) is unchanged, and valid too.
    jsonschema.validate(json.loads(_result("x").to_json()), json.loads(SCHEMA.read_text()))


def test_is_ours_needs_the_mark_the_uri_and_a_complete_file(tmp_path):
    mark = provenance("rec.wav")
    path = tmp_path / "rec.rttm"
    path.write_text(rttm_provenance_line("rec", mark) + REFERENCE)
    assert is_ours(path, fmt="rttm", uri="rec")
    assert not is_ours(path, fmt="rttm", uri="other")  # another recording's output
    path.write_text(rttm_provenance_line("rec", mark) + REFERENCE.rstrip("\n"))
    assert not is_ours(path, fmt="rttm", uri="rec")  # cut short
    path.write_text(REFERENCE + rttm_provenance_line("rec", mark))
    assert not is_ours(path, fmt="rttm", uri="rec")  # the mark must come first
    path.write_text(";; " + rttm_provenance_line("rec", mark) + REFERENCE)
    assert not is_ours(path, fmt="rttm", uri="rec")
    js = tmp_path / "rec.json"
    js.write_text(json.dumps({"uri": "rec", "generator": {"name": TOOL_NAME}}))
    assert is_ours(js, fmt="json", uri="rec")
    js.write_text(json.dumps({"uri": "rec", "generator": {"name": TOOL_NAME}})[:-1])
    assert not is_ours(js, fmt="json", uri="rec")
    assert not is_ours(tmp_path / "missing.rttm", fmt="rttm", uri="missing")
    with pytest.raises(ForeignOutputError, match="never replaced"):
        check_replaceable(tmp_path, fmt="rttm", uri="x")  # a folder in the way


# ---------------------------------------------------------------------- run
def test_run_never_replaces_a_reference_next_to_the_audio(tmp_path, fake_pipeline, monkeypatch):
    (wav, other) = _audio(tmp_path, "two_speakers.wav", "other.wav")
    reference = tmp_path / "two_speakers.rttm"
    reference.write_text(REFERENCE)
    before = _sha(reference)
    monkeypatch.chdir(tmp_path)  # `cd audio_fixtures && diarize two_speakers.wav`
    result = cli_runner().invoke(main, ["two_speakers.wav", "other.wav"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "two_speakers.rttm" in lines[0] and "-o" in lines[0]
    assert _sha(reference) == before
    assert fake_pipeline == [str(Path("other.wav"))]  # not diarized for nothing; others go on
    assert is_ours(tmp_path / "other.rttm", fmt="rttm", uri="other")
    # Our own output is replaced by a rerun, as `diarize` always did.
    assert cli_runner().invoke(main, ["other.wav"]).exit_code == 0


# ---------------------------------------------------------------------- batch
@pytest.mark.parametrize("overwrite", [False, True])
def test_batch_into_the_audio_folder_never_touches_the_references(tmp_path, fake_pipeline,
                                                                    overwrite):
    _audio(tmp_path, "a.wav", "b.wav", "c.wav")
    for stem in "ab":
        (tmp_path / f"{stem}.rttm").write_text(REFERENCE.replace("rec", stem))
    before = {p.name: _sha(p) for p in tmp_path.glob("*.rttm")}
    summary = batch.run([tmp_path], tmp_path, jobs=1, overwrite=overwrite)
    assert (summary.succeeded, summary.skipped, summary.failed) == (1, 0, 2)
    assert {p.name: _sha(p) for p in tmp_path.glob("[ab].rttm")} == before
    assert {r.error for r in summary.failures} == {"ForeignOutputError"}
    assert all("a.rttm" in r.message or "b.rttm" in r.message for r in summary.failures)
    assert len(fake_pipeline) == 1  # only c was diarized
    errors = (tmp_path / "errors.tsv").read_text()
    assert "a.rttm" in errors and "b.rttm" in errors


def test_batch_rerun_skips_ours_and_overwrite_redoes_only_ours(tmp_path, fake_pipeline):
    _audio(tmp_path / "in", "a.wav", "b.wav")
    out = tmp_path / "out"
    assert batch.run([tmp_path / "in"], out, jobs=1).succeeded == 2
    again = batch.run([tmp_path / "in"], out, jobs=1)
    assert (again.succeeded, again.skipped, again.failed) == (0, 2, 0)
    (out / "b.rttm").write_text(REFERENCE)  # someone put their own file there
    redo = batch.run([tmp_path / "in"], out, jobs=1, overwrite=True)
    assert (redo.succeeded, redo.skipped, redo.failed) == (1, 0, 1)
    assert (out / "b.rttm").read_text() == REFERENCE


def test_a_sim_style_json_next_to_the_audio_is_not_ours(tmp_path, fake_pipeline):
    _audio(tmp_path, "x.flac")
    (tmp_path / "x.json").write_text(json.dumps({"reverb": 0.3, "snr": 20}))
    summary = batch.run([tmp_path], tmp_path, jobs=1, fmt="json", overwrite=True)
    assert summary.failed == 1 and summary.skipped == 0
    assert json.loads((tmp_path / "x.json").read_text()) == {"reverb": 0.3, "snr": 20}


@pytest.mark.parametrize("fmt", ["csv", "audacity", "textgrid"])
def test_formats_without_comments_are_recorded_in_the_ledger(tmp_path, fake_pipeline, fmt):
    _audio(tmp_path / "in", "a.wav", "b.wav")
    out = tmp_path / "out"
    assert batch.run([tmp_path / "in"], out, jobs=1, fmt=fmt).succeeded == 2
    ext = OUTPUT_FORMATS[fmt]
    ledger = (out / OUTPUT_LEDGER).read_text().splitlines()
    assert sorted(line.split("\t")[0] for line in ledger) == sorted(
        _sha(out / f"{s}{ext}") for s in "ab")
    assert batch.run([tmp_path / "in"], out, jobs=1, fmt=fmt).skipped == 2
    # The same name, other bytes (edited, or a file of someone else's): not ours.
    target = out / f"b{ext}"
    target.write_text(target.read_text() + "edited\n")
    edited = target.read_text()
    summary = batch.run([tmp_path / "in"], out, jobs=1, fmt=fmt, overwrite=True)
    assert (summary.succeeded, summary.failed) == (1, 1)
    assert target.read_text() == edited


def test_an_errors_file_not_ours_is_refused_before_any_work(tmp_path, fake_pipeline):
    _audio(tmp_path / "in", "a.wav")
    out = tmp_path / "out"
    out.mkdir()
    (out / "errors.tsv").write_text("my own notes\n")
    with pytest.raises(ForeignOutputError, match="errors.tsv"):
        batch.run([tmp_path / "in"], out, jobs=1)
    assert fake_pipeline == []
    assert (out / "errors.tsv").read_text() == "my own notes\n"


def test_the_ledger_is_read_once_and_then_only_what_was_appended(tmp_path):
    # a rerun asks about every output: rereading the whole ledger each time was quadratic
    from diarize import writers

    for i in range(3):
        writers.atomic_write_text(tmp_path / f"r{i}.csv", f"uri,start\nr{i},0\n", ledger=True)
    assert all(writers.is_ours(tmp_path / f"r{i}.csv", fmt="csv", uri=f"r{i}") for i in range(3))
    ledger = tmp_path / writers.OUTPUT_LEDGER
    before = ledger.stat().st_size
    writers.atomic_write_text(tmp_path / "r3.csv", "uri,start\nr3,0\n", ledger=True)
    assert writers.is_ours(tmp_path / "r3.csv", fmt="csv", uri="r3")  # appended: seen
    key = str(ledger.resolve())
    assert writers._ledgers[key][1] == ledger.stat().st_size > before
    # a ledger replaced by another file (a new inode) is read again from its start
    ledger.unlink()
    writers.atomic_write_text(tmp_path / "r0.csv", "uri,start\nr0,1\n", ledger=True)
    assert writers.is_ours(tmp_path / "r0.csv", fmt="csv", uri="r0")
    assert not writers.is_ours(tmp_path / "r1.csv", fmt="csv", uri="r1")
