"""Session 23's audit of the process environment: each test fails without its fix."""

from __future__ import annotations

import errno
import os
import resource
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from diarize import workers
from diarize.cli import main
from diarize.errors import WorkerStartError
from diarize.pipeline import Diarizer

REPO = Path(__file__).resolve().parents[1]
WAV = REPO / "audio_fixtures" / "two_speakers.wav"


def _diarize(args, *, cwd=None, env=None, shell_prefix="", **kwargs):
    """`python -m diarize ARGS` in a shell (for `<&-`, `umask`, `cd` and `rmdir`)."""
    command = " ".join([shell_prefix, f"{sys.executable!r} -m diarize",
                        *(f"'{a}'" for a in args)])
    return subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300, **kwargs)


def test_a_short_write_to_stdout_is_an_error_under_pythonunbuffered(tmp_path):
    # python -u: the text layer ignored the short write, and a cut file exited 0
    def one_kib():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    with open(tmp_path / "out.json", "wb") as out:
        done = subprocess.run([sys.executable, "-m", "diarize", str(WAV), "-f", "json",
                               "--stdout"], stdout=out, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"},
                              preexec_fn=one_kib, timeout=300)
    assert done.returncode == 1, done.stderr
    assert done.stderr == "diarize: error: cannot write to standard output (File too large)\n"


def test_a_deleted_current_folder_is_one_line(tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    cd_gone = f"cd '{gone}' && rmdir '{gone}' &&"
    # absolute names need no current folder (batch asked for it all the same: exit 3)
    done = _diarize(["batch", str(WAV), "-o", str(tmp_path / "out"), "-q"],
                    shell_prefix=cd_gone)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "two_speakers.rttm").exists()
    gone.mkdir()
    done = _diarize(["batch", "two_speakers.wav", "-o", str(tmp_path / "out2"), "-q"],
                    shell_prefix=cd_gone)
    assert done.returncode == 1, done.stderr
    assert done.stderr == ("diarize: error: the current folder no longer exists (it was "
                           "deleted or moved): cd to an existing folder\n")


def test_standard_input_closed_is_named(tmp_path):
    done = _diarize(["-", "--stdout"], shell_prefix="exec <&- &&", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == "diarize: error: - (standard input): standard input is closed\n"


def test_a_temporary_folder_too_long_for_the_workers_socket_is_named(tmp_path):
    long_tmp = tmp_path / ("t" * 110)
    long_tmp.mkdir()
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,uri\n" + "".join(f"{WAV},r{i}\n" for i in range(3)))
    done = _diarize(["batch", str(manifest), "-o", str(tmp_path / "out"), "--jobs", "2", "-q"],
                    env={"TMPDIR": str(long_tmp)})
    assert done.returncode == 1, done.stderr
    assert "cannot start worker processes" in done.stderr and "TMPDIR" in done.stderr
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize("exc, words", [
    (OSError(errno.EMFILE, "Too many open files"), "ulimit -n"),
    (EOFError(), "ulimit -n"),
    (OSError("AF_UNIX path too long"), "TMPDIR"),
    (FileNotFoundError("No usable temporary directory found in ['/tmp']"), "TMPDIR"),
])
def test_a_worker_that_cannot_start_says_what_to_change(monkeypatch, exc, words):
    pool = workers.Pool.__new__(workers.Pool)

    class Context:
        def Pipe(self, duplex):
            raise exc

    pool.ctx = Context()
    with pytest.raises(WorkerStartError, match=words):
        pool._start_worker()


def test_voiceprints_follow_the_umask(tmp_path):
    done = _diarize(["enroll", "--voices", str(tmp_path / "v"), "ann", str(WAV), "-q"],
                    shell_prefix="umask 077 &&")
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE((tmp_path / "v" / "ann.npz").stat().st_mode) == 0o600


def test_an_enrolment_that_cannot_be_written_is_status_1(runner, tmp_path, monkeypatch):
    from diarize import voices

    def read_only(path, write, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(voices, "replace_atomically", read_only)
    result = runner.invoke(main, ["enroll", "--voices", str(tmp_path / "v"), "ann", str(WAV)])
    assert result.exit_code == 1, result.stderr
    assert "cannot write the voiceprint (Read-only file system)" in result.stderr


def test_diarize_debug_0_keeps_the_one_line(runner, monkeypatch):
    import diarize.cli

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(diarize.cli, "build_config", broken)
    monkeypatch.setenv("DIARIZE_DEBUG", "0")
    result = runner.invoke(main, [str(WAV), "--stdout"])
    assert result.exit_code == 3
    assert "internal error (RuntimeError: a bug)" in result.stderr


def test_matplotlib_warnings_are_one_line_of_ours(capsys):
    import logging

    from diarize.cli import _matplotlib_warnings_as_ours

    _matplotlib_warnings_as_ours()
    _matplotlib_warnings_as_ours()  # a second plot in one process: still one line
    logging.getLogger("matplotlib.font_manager").warning("mkdir -p failed for path %s", "/x")
    assert capsys.readouterr().err == ("diarize: warning: matplotlib: mkdir -p failed for "
                                       "path /x\n")
