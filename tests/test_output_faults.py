"""Output faults without subprocesses: fail before work when the output cannot be
written, stop at a full or read-only device, keep the failures, never let stderr stop
the work; batch inputs (symlinked folders, non-audio files); bounded temporary names.

Faults are simulated by monkeypatching (tests run as root, which ignores chmod, and
mounting a tiny tmpfs needs privileges): ``tempfile.mkstemp`` raising ``EROFS`` stands
for a read-only folder, ``os.replace`` raising ``ENOSPC`` for a full device. The
subprocess tests (closed or full stderr, SIGKILL of the batch) are in
test_batch_faults.py.
"""

from __future__ import annotations

import errno
import io
import os
import tempfile
from pathlib import Path

import pytest

from conftest import cli_runner
from diarize import batch
from diarize.cli import main
from diarize.errors import OutputError
from diarize.names import TEMP_PREFIX_MAX_BYTES, temp_pattern, temp_prefix
from diarize.progress import ConsoleProgress
from diarize.segments import Diarization, Turn
from diarize.writers import atomic_write_text


@pytest.fixture
def fake_pipeline(monkeypatch):
    """Diarizer returns a fixed result at once; the list holds the files it was given."""
    from diarize.names import uri_for
    from diarize.pipeline import Diarizer

    calls: list[str] = []

    def call(self, audio, *, uri=None, hook=None):
        calls.append(Path(audio).name)
        if "interrupt" in Path(audio).name:
            raise KeyboardInterrupt
        return Diarization([Turn(0.0, 1.0, "A")], uri=uri or uri_for(audio), duration=2.0)

    monkeypatch.setattr(Diarizer, "__call__", call)
    return calls


def _audio(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x" * (100 - len(name)))  # sizes set the order
    return [folder / n for n in names]


def _read_only(monkeypatch, folder: Path) -> None:
    """Creating a file in `folder` fails with EROFS, as on a read-only mount."""
    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).resolve() == folder.resolve():
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


# ---------------------------------------------------------------------- fail before work
def test_batch_checks_the_output_folder_before_any_work(tmp_path, fake_pipeline, monkeypatch):
    _audio(tmp_path / "in", "a.wav")
    out = tmp_path / "out"
    out.mkdir()
    _read_only(monkeypatch, out)
    result = cli_runner().invoke(main, ["batch", str(tmp_path / "in"), "-o", str(out)])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "read-only" in result.stderr.lower()
    assert fake_pipeline == []
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = cli_runner().invoke(main, ["batch", str(tmp_path / "in"), "-o", str(blocker / "x")])
    assert result.exit_code == 1 and fake_pipeline == []


def test_tune_checks_its_output_before_any_trial(tmp_path, monkeypatch):
    from diarize import tune

    def no_work(*args, **kwargs):
        raise AssertionError("tune ran before its output was checked")

    monkeypatch.setattr(tune, "tune", no_work)
    blocker = tmp_path / "file"
    blocker.write_text("")
    for target in (blocker / "t.toml", tmp_path):  # parent is a file; a folder given
        result = cli_runner().invoke(main, ["tune", str(tmp_path), "--ref", str(tmp_path),
                                            "-o", str(target)])
        assert result.exit_code == 1, result.output
        assert result.stderr.count("\n") == 1 and str(target) in result.stderr
    ro = tmp_path / "ro"
    ro.mkdir()
    _read_only(monkeypatch, ro)
    result = cli_runner().invoke(main, ["tune", str(tmp_path), "--ref", str(tmp_path),
                                        "-o", str(ro / "t.toml")])
    assert result.exit_code == 1 and "read-only" in result.stderr.lower()
    # A missing folder is made, as for batch -o.
    monkeypatch.setattr(tune, "tune", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    result = cli_runner().invoke(main, ["tune", str(tmp_path), "--ref", str(tmp_path),
                                        "-o", str(tmp_path / "new" / "dir" / "t.toml")])
    assert (tmp_path / "new" / "dir").is_dir() and result.exit_code == 130


def test_plot_checks_its_output_before_diarizing(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import diarize.audio

    def no_work(*args, **kwargs):
        raise AssertionError("plot read the audio before its output was checked")

    monkeypatch.setattr(diarize.audio, "load_audio", no_work)
    blocker = tmp_path / "file"
    blocker.write_text("")
    (wav,) = _audio(tmp_path, "a.wav")
    result = cli_runner().invoke(main, ["plot", str(wav), "-o", str(blocker / "p.png")])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1


# ---------------------------------------------------------------------- full device
def _full_after(monkeypatch, folder: Path, ok: int) -> None:
    """After `ok` successful renames into `folder`, every one fails with ENOSPC."""
    real = os.replace
    done = [0]

    def replace(src, dst, *args, **kwargs):
        if Path(dst).parent.resolve() == folder.resolve():
            if done[0] >= ok:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            done[0] += 1
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


def test_a_full_device_stops_the_batch_and_prints_the_failures(tmp_path, fake_pipeline,
                                                               monkeypatch):
    _audio(tmp_path / "in", "a.wav", "bb.wav", "ccc.wav", "dddd.wav")
    out = tmp_path / "out"
    out.mkdir()
    _full_after(monkeypatch, out, ok=1)
    result = cli_runner().invoke(main, ["batch", str(tmp_path / "in"), "-o", str(out), "-j", "1"])
    assert result.exit_code == 1
    assert fake_pipeline == ["a.wav", "bb.wav"]  # nothing diarized after the failed write
    assert "1 succeeded, 1 failed), 2 left" in result.stderr
    # errors.tsv could not be written either: the failures are on stderr instead.
    assert not (out / "errors.tsv").exists()
    assert "cannot write" in result.stderr and "bb.wav\tOutputWriteError" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.rttm"]  # no temporary file left


def test_a_full_device_keeps_errors_tsv_when_it_can(tmp_path, fake_pipeline, monkeypatch):
    _audio(tmp_path / "in", "a.wav", "bb.wav", "ccc.wav")
    out = tmp_path / "out"
    out.mkdir()
    real = os.replace

    def replace(src, dst, *args, **kwargs):  # only the outputs fail, not errors.tsv
        if Path(dst).suffix == ".rttm":
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    summary = batch.run([tmp_path / "in"], out, jobs=1)
    assert (summary.succeeded, summary.failed, summary.left) == (0, 1, 2)
    assert summary.stopped.startswith("stopped") and summary.exit_status == 1
    lines = (out / "errors.tsv").read_text().splitlines()
    assert len(lines) == 2 and "a.wav\tOutputWriteError" in lines[1]


def test_an_ordinary_write_failure_does_not_stop_the_batch(tmp_path, fake_pipeline,
                                                          monkeypatch):
    _audio(tmp_path / "in", "a.wav", "bb.wav", "ccc.wav")
    real = os.replace

    def replace(src, dst, *args, **kwargs):  # one name the file system refuses
        if Path(dst).name == "bb.rttm":
            raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    summary = batch.run([tmp_path / "in"], tmp_path / "out", jobs=1)
    assert (summary.succeeded, summary.failed, summary.left, summary.stopped) == (2, 1, 0, "")


# ---------------------------------------------------------------------- interrupts, stderr
def test_an_interrupted_batch_keeps_the_failures_shown_and_says_what_is_left(
        tmp_path, fake_pipeline, monkeypatch):
    _audio(tmp_path / "in", "a.wav", "bb.wav", "c_interrupt.wav", "dddddd.wav", "eeeeeee.wav")
    out = tmp_path / "out"
    out.mkdir()
    (out / "bb.rttm").write_text("SPEAKER bb 1 0 1 <NA> <NA> x <NA> <NA>\n")  # not ours
    stream = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        batch.run([tmp_path / "in"], out, jobs=1, progress=ConsoleProgress(stream=stream, tty=False))
    errors = (out / "errors.tsv").read_text()
    assert "bb.rttm" in errors  # the failure shown before Ctrl-C is kept
    text = stream.getvalue()
    # Largest first: a, dddddd and eeeeeee are done, c_interrupt is where Ctrl-C came.
    assert "interrupted: 4 done (3 succeeded, 1 failed), 1 left" in text, text
    result = cli_runner().invoke(main, ["batch", str(tmp_path / "in"), "-o", str(out), "-j", "1"])
    assert result.exit_code == 130 and "rerun the same command" in result.stderr


def test_an_interrupted_batch_leaves_no_half_written_file(tmp_path, fake_pipeline, monkeypatch):
    # A worker process killed by Ctrl-C mid-write leaves its temporary file behind (it
    # cannot clean up); the batch process removes it once the workers are stopped.
    from diarize.names import temp_prefix
    from diarize.pipeline import Diarizer

    _audio(tmp_path / "in", "a.wav", "b_interrupt.wav")
    out = tmp_path / "out"
    left = out / f"{temp_prefix('b.rttm')}x1y2z3.tmp"
    real = Diarizer.__call__

    def call(self, audio, *, uri=None, hook=None):
        if "interrupt" in Path(audio).name:
            left.write_text("SPEAKER b 1 0.000")  # half a line: what the kill left
        return real(self, audio, uri=uri, hook=hook)

    monkeypatch.setattr(Diarizer, "__call__", call)
    assert batch._STALE_TMP.match(left.name)
    with pytest.raises(KeyboardInterrupt):
        batch.run([tmp_path / "in"], out, jobs=1)
    assert sorted(p.name for p in out.iterdir()) == ["a.rttm"]


class _BrokenStream(io.StringIO):
    def write(self, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    def isatty(self):
        raise ValueError("I/O operation on closed file")


@pytest.mark.parametrize("stream", [_BrokenStream(), None])
def test_a_full_or_missing_stderr_never_stops_the_work(tmp_path, fake_pipeline, monkeypatch,
                                                        stream):
    import sys

    _audio(tmp_path / "in", "a.wav", "bb.wav")
    monkeypatch.setattr(sys, "stderr", stream)  # None: how Python starts with fd 2 closed
    summary = batch.run([tmp_path / "in"], tmp_path / "out", jobs=1,
                        progress=ConsoleProgress())
    assert summary.succeeded == 2


def test_progress_counts_are_singular_when_they_are_one(tmp_path, fake_pipeline):
    _audio(tmp_path / "in", "a.wav")
    stream = io.StringIO()
    batch.run([tmp_path / "in"], tmp_path / "out", jobs=1,
              progress=ConsoleProgress(stream=stream, tty=False))
    batch.run([tmp_path / "in"], tmp_path / "out", jobs=1,
              progress=ConsoleProgress(stream=stream, tty=False))
    text = stream.getvalue()
    assert "batch: 1 recording to diarize" in text
    assert "batch: 1 recording already done, skipped" in text
    assert "1 recordings" not in text and "(s)" not in text


# ---------------------------------------------------------------------- inputs
def test_symlinked_folders_are_followed_once(tmp_path):
    _audio(tmp_path / "data" / "sub", "a.wav")
    _audio(tmp_path / "elsewhere", "b.wav")
    (tmp_path / "data" / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "data" / "sub" / "loop").symlink_to(tmp_path / "data", target_is_directory=True)
    (tmp_path / "data" / "again").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    found = batch.resolve_inputs([tmp_path / "data"])
    assert sorted(r.uri for r in found) == ["a", "b"]  # b once, and no endless loop


def test_nothing_listed_is_dropped_without_a_word(tmp_path, fake_pipeline):
    _audio(tmp_path / "in", "a.wav", "clip.m4a", "talk.webm")
    (tmp_path / "in" / "a.rttm").write_text("")
    (tmp_path / "in" / "notes.txt").write_text("")
    (tmp_path / "in" / "dangling.wav").symlink_to(tmp_path / "nowhere.wav")
    stream = io.StringIO()
    summary = batch.run([str(tmp_path / "in" / "*")], tmp_path / "out", jobs=1,
                        progress=ConsoleProgress(stream=stream, tty=False))
    assert sorted(r.uri for r in summary.records) == ["a", "clip", "dangling", "talk"]
    assert sorted(p.name for p in summary.skipped_files) == ["a.rttm", "notes.txt"]
    assert "skipped 2 files that are not audio" in stream.getvalue()
    folder = batch.run([tmp_path / "in"], tmp_path / "out2", jobs=1)
    assert sorted(r.uri for r in folder.records) == ["a", "clip", "dangling", "talk"]
    assert len(folder.skipped_files) == 2
    (tmp_path / "in" / "a.rttm").unlink()
    stream = io.StringIO()
    batch.run([tmp_path / "in"], tmp_path / "out3", jobs=1,
              progress=ConsoleProgress(stream=stream, tty=False))
    assert "skipped 1 file that is not audio: " in stream.getvalue()


def test_a_file_named_directly_is_a_recording_whatever_its_suffix(tmp_path):
    odd = tmp_path / "notes.xyz"
    odd.write_text("not audio at all\n")
    summary = batch.run([odd], tmp_path / "out", jobs=1)
    assert summary.failed == 1
    (failure,) = summary.failures
    assert "notes.xyz" in failure.message and "\n" not in failure.message


# ---------------------------------------------------------------------- long names
def test_temporary_names_fit_the_file_system_however_long_the_target(tmp_path):
    name = "n" * 240 + ".rttm"
    prefix = temp_prefix(name)
    assert len(prefix.encode()) <= TEMP_PREFIX_MAX_BYTES and prefix.endswith(".rttm.")
    assert temp_prefix("m" * 240 + ".rttm") != prefix  # different targets stay apart
    assert temp_pattern(["rttm"]).match(prefix + "abcd1234.tmp")
    accented = temp_prefix("é" * 120 + ".json")  # cut on a character boundary
    accented.encode("utf-8")
    atomic_write_text(tmp_path / name, "text\n")
    assert (tmp_path / name).read_text() == "text\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_a_240_character_file_name_is_diarized(tmp_path, fake_pipeline):
    (wav,) = _audio(tmp_path / "in", "x" * 236 + ".wav")
    summary = batch.run([wav], tmp_path / "out", jobs=1)
    assert summary.succeeded == 1
    assert (tmp_path / "out" / ("x" * 236 + ".rttm")).is_file()
    result = cli_runner().invoke(main, [str(wav), "-o", str(tmp_path / "run"), "-f", "json"])
    assert result.exit_code == 0, result.stderr


# ---------------------------------------------------------------------- workers
class _GoneParent:
    """A worker's end of the task pipe after the batch process was killed mid-task."""

    def __init__(self):
        self.messages = [(0, "task")]

    def recv(self):
        if not self.messages:
            raise EOFError
        return self.messages.pop()

    def send(self, message):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


@pytest.mark.parametrize("conn", [_GoneParent, type("Closed", (_GoneParent,), {
    "__init__": lambda self: setattr(self, "messages", [])})])
def test_a_worker_whose_parent_is_gone_exits_quietly(monkeypatch, capfd, conn):
    from diarize import workers

    exits = []

    def fake_exit(code):
        exits.append(code)
        raise SystemExit(code)

    # Not in this (pytest) process: the parent-death signal, the watcher, the signal set-up.
    monkeypatch.setattr(workers, "_exit_with_parent", lambda pid: None)
    monkeypatch.setattr(workers.signal, "signal", lambda *a: None)
    monkeypatch.setattr(workers.os, "_exit", fake_exit)
    with pytest.raises(SystemExit):
        workers._worker_main(conn(), os.getpid(), lambda task: "result")
    assert exits == [0]
    out, err = capfd.readouterr()
    assert out == err == ""
