"""What an audit of batch inputs and enrolled voices found, kept fixed: manifests read as
CSV and JSON Lines are (a quoted line break, U+2028); a uri or path no file name can hold
is a bad input; hidden files in a folder are not recordings; one file through a linked
folder is one recording; a recording named ``speakers`` keeps its JSON output; voiceprint
names RTTM would write alike are refused; a named pipe among voiceprints is not waited
on; progress lines stay one line; a linking rerun says which recordings it left out."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import FIXTURES, cli_runner
from diarize import batch
from diarize.cli import main
from diarize.errors import BatchInputError, VoiceError, VoiceNameError
from diarize.progress import ConsoleProgress
from diarize.segments import Diarization, Turn

WAV = FIXTURES / "two_speakers.wav"


@pytest.fixture
def fake_pipeline(monkeypatch):
    """Diarizer returns a fixed result at once, naming the file it was given."""
    from diarize.names import uri_for
    from diarize.pipeline import Diarizer

    def call(self, audio, *, uri=None, hook=None):
        return Diarization([Turn(0.0, 1.0, Path(audio).name.replace(" ", "_"))],
                           uri=uri or uri_for(audio), duration=2.0)

    monkeypatch.setattr(Diarizer, "__call__", call)


# ------------------------------------------------------------------ manifests
def test_a_quoted_line_break_in_a_csv_path_is_kept(tmp_path, fake_pipeline):
    (tmp_path / "ab.wav").write_bytes(b"x")          # what splitting the line would read
    (tmp_path / "a\nb.wav").write_bytes(b"x")
    manifest = tmp_path / "m.csv"
    manifest.write_text('path,uri\n"a\nb.wav",wanted\n')
    (rec,) = batch.read_manifest(manifest)
    assert rec.path.name == "a\nb.wav" and rec.uri == "wanted"


def test_a_jsonl_string_may_hold_u2028(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"path": "a\u2028b.wav"}, ensure_ascii=False) + "\r\n",
                        encoding="utf-8")
    (rec,) = batch.read_manifest(manifest)
    assert rec.path.name == "a\u2028b.wav"


@pytest.mark.parametrize("row", ['{"path": "x.wav", "uri": "\\ud800"}', '{"path": "\\ud800.wav"}'])
def test_a_uri_or_path_no_file_name_holds_is_a_bad_input(tmp_path, row):
    manifest = tmp_path / "s.jsonl"
    manifest.write_text(row + "\n")
    with pytest.raises(BatchInputError, match="not usable as a file name"):
        batch.read_manifest(manifest)
    result = cli_runner().invoke(main, ["batch", str(manifest), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr


# ------------------------------------------------------------------ folders
def test_hidden_audio_files_in_a_folder_are_not_recordings(tmp_path):
    for name in ("rec.wav", "._rec.wav", ".hidden.flac"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in batch._audio_files_in(tmp_path)] == ["rec.wav"]


def test_one_file_through_a_linked_folder_is_one_recording(tmp_path):
    real = tmp_path / "d2"
    real.mkdir()
    (real / "z.wav").write_bytes(b"x")
    (tmp_path / "d2link").symlink_to(real)
    recs = batch.resolve_inputs([real, tmp_path / "d2link"])
    assert len(recs) == 1 and recs[0].uri == "z"


# ------------------------------------------------------------------ speakers.json
def test_a_recording_named_speakers_keeps_its_json_output(tmp_path, fake_pipeline):
    src = tmp_path / "speakers.wav"
    src.write_bytes(b"x")
    out = tmp_path / "out"
    batch.run([src], out, jobs=1, fmt="json")
    batch.run([src], out, jobs=1, fmt="json")  # a rerun skips it: still there
    doc = json.loads((out / "speakers.json").read_text())
    assert doc["uri"] == "speakers" and doc["turns"]


@pytest.mark.slow
def test_with_linking_a_recording_named_speakers_fails_alone(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(WAV, src / "speakers.wav")
    shutil.copy(WAV, src / "other.wav")
    out = tmp_path / "out"
    summary = batch.run([src], out, jobs=1, fmt=["rttm", "json"], link_speakers=True)
    (failed,) = summary.failures
    assert failed.uri == "speakers" and "linking report" in failed.message
    report = json.loads((out / "speakers.json").read_text())
    assert report["recordings"] == ["other"]


# ------------------------------------------------------------------ voiceprints
def test_a_name_rttm_would_write_as_an_output_label_is_refused():
    from diarize.voices import check_name

    for name in ("SPEAKER 00", "SPEAKER\u00a012"):
        with pytest.raises(VoiceNameError, match="unnamed output speakers"):
            check_name(name)


@pytest.mark.slow
def test_two_voiceprints_rttm_would_label_alike_are_refused(tmp_path):
    voices = tmp_path / "v"
    for name in ("x y", "x_y"):
        result = cli_runner().invoke(main, ["enroll", "-q", "--voices", str(voices), name,
                                            str(WAV)])
        assert result.exit_code == 0, result.stderr
    result = cli_runner().invoke(main, [str(WAV), "--voices", str(voices), "--stdout"])
    assert result.exit_code == 4 and result.stderr.count("\n") == 1
    assert "'x y'" in result.stderr and "'x_y'" in result.stderr and "rename one" in result.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_among_voiceprints_is_not_waited_on(tmp_path):
    from diarize.voices import list_voices

    os.mkfifo(tmp_path / "pipe.npz")
    with pytest.raises(VoiceError, match="not a regular file"):
        list_voices(tmp_path)


# ------------------------------------------------------------------ progress
def test_a_progress_line_stays_one_line_whatever_the_file_name(tmp_path, fake_pipeline):
    src = tmp_path / "in"
    src.mkdir()
    (src / "two\nlines.wav").write_bytes(b"x")
    stream = io.StringIO()
    batch.run([src], tmp_path / "out", jobs=1,
              progress=ConsoleProgress(stream=stream, tty=False))
    line = next(x for x in stream.getvalue().splitlines() if x.startswith("[1/1]"))
    assert "two lines.wav: ok" in line


# ------------------------------------------------------------------ linking reruns
@pytest.mark.slow
def test_a_linking_rerun_names_the_recordings_it_leaves_out(tmp_path):
    out = tmp_path / "out"
    run = cli_runner().invoke
    assert run(main, ["batch", str(WAV), "-o", str(out), "--link-speakers", "-q"]).exit_code == 0
    result = run(main, ["batch", str(FIXTURES / "three_speakers.wav"), "-o", str(out),
                        "--link-speakers"])
    assert result.exit_code == 0, result.stderr
    warned = [x for x in result.stderr.splitlines() if x.startswith("diarize: warning:")]
    assert len(warned) == 1 and "(1: two_speakers)" in warned[0]
