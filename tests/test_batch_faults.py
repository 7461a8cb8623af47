"""Batch under faults: a dead worker, SIGTERM with pipes, file names that are not UTF-8,
outputs next to inputs, bad options."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from batch_audio import make_recording
from diarize.batch import run
from diarize.errors import BatchInputError

# Whole recordings, subprocesses or worker pools: deselected by -m "not slow".
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
#: Seconds the terminated batch (and its workers) may take to release its pipes.
RELEASE_TIMEOUT = 30
#: Test-only hook, loaded by every Python process of the batch through PYTHONPATH: a worker
#: that starts on a recording whose path contains $DIARIZE_TEST_KILL kills itself with
#: SIGKILL, as the kernel's OOM killer would.
KILL_HOOK = textwrap.dedent('''
    import os, signal
    if os.environ.get("DIARIZE_TEST_KILL"):
        import diarize.batch as _batch
        _process_one = _batch.process_one
        def process_one(task):
            if os.environ["DIARIZE_TEST_KILL"] in task.path:
                os.kill(os.getpid(), signal.SIGKILL)
            return _process_one(task)
        _batch.process_one = process_one
''')


def cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "diarize", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_a_killed_worker_fails_only_the_recording_it_held(tmp_path):
    audio = tmp_path / "in"
    names = [f"rec{i}" for i in range(5)] + ["victim"]
    for i, name in enumerate(names):
        make_recording(audio / f"{name}.wav", seconds=6.0 + i, seed=i)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(KILL_HOOK)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "diarize", "batch", str(audio), "-o", str(out), "-j", "2"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": f"{hook}{os.pathsep}{REPO}",
             "DIARIZE_TEST_KILL": "victim"})
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert sorted(p.stem for p in out.glob("*.rttm")) == names[:-1]
    rows = (out / "errors.tsv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 2, rows
    path, error, message = rows[1].split("\t")
    assert path == str(audio / "victim.wav") and error == "WorkerDied"
    assert "killed by SIGKILL" in message
    assert "5 succeeded, 0 skipped, 1 failed" in stderr


def test_sigterm_releases_the_callers_pipes(tmp_path):
    audio = tmp_path / "in"
    for i in range(6):
        make_recording(audio / f"long{i}.wav", seconds=300.0, seed=i)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "diarize", "batch", str(audio), "-o", str(out), "-j", "2"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 240
    try:
        while not list(out.glob("*.rttm")) if out.is_dir() else True:  # workers are busy
            assert proc.poll() is None, "batch finished before it could be terminated"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        proc.communicate(timeout=RELEASE_TIMEOUT)   # hangs if a worker keeps the pipes
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert time.monotonic() - t0 < RELEASE_TIMEOUT
    assert proc.returncode == -signal.SIGTERM
    assert len(list(out.glob("*.rttm"))) < 6
    assert run([audio], out, jobs=1).failed == 0   # a rerun resumes


def _bytes_name(folder: Path, raw: bytes) -> Path:
    try:
        target = os.path.join(os.fsencode(folder), raw)
        with open(target, "wb"):
            pass
        os.unlink(target)
    except (OSError, UnicodeError):
        pytest.skip("this file system does not take names that are not UTF-8")
    return Path(os.fsdecode(target))


def test_file_names_that_are_not_utf8(tmp_path):
    audio = tmp_path / "in"
    make_recording(audio / "good.wav")
    bad = _bytes_name(audio, b"bad\xff name.wav")
    os.rename(make_recording(tmp_path / "plain.wav", seed=3), bad)
    broken = _bytes_name(audio, b"broken\xfe.wav")
    broken.write_text("not audio")
    out = tmp_path / "out"
    summary = run([audio], out, jobs=1)
    assert summary.succeeded == 2 and summary.failed == 1
    rttm = out / "bad\\xff_name.rttm"
    assert rttm.read_text(encoding="utf-8").split()[1] == "bad\\xff_name"
    report = (out / "errors.tsv").read_bytes().decode("utf-8")  # valid UTF-8
    path, error, message = report.splitlines()[1].split("\t")
    assert path == str(audio / "broken\\xfe.wav") and error == "AudioError"
    assert "broken\\xfe.wav" in message and "diarize-batch-" not in message

    proc = cli("batch", str(audio), "-o", str(tmp_path / "out2"), "-j", "2")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "2 succeeded, 0 skipped, 1 failed" in proc.stderr
    assert (tmp_path / "out2" / "bad\\xff_name.rttm").exists()


def test_outputs_are_never_inputs_and_inputs_never_overwritten(tmp_path):
    data = tmp_path / "data"
    make_recording(data / "a.wav", seed=1)
    make_recording(data / "b.wav", seed=2)
    assert run([data], data, jobs=1, fmt="csv").succeeded == 2
    assert run([data], data, jobs=1, fmt="rttm").succeeded == 2
    # a rerun over everything in the folder (as a shell's data/* lists it) reads no output
    everything = sorted(str(p) for p in data.iterdir())
    assert any(p.endswith(".csv") for p in everything)
    summary = run(everything, data, jobs=1, fmt="csv")
    assert summary.skipped == 2 and summary.failed == 0 and len(summary.records) == 2
    assert run([str(data / "*")], data, jobs=1, fmt="rttm").skipped == 2

    # a manifest next to its audio, named like the output of the recording it lists
    manifest = data / "talk.csv"
    make_recording(data / "talk.wav", seed=3)
    manifest.write_text("path,num_speakers\ntalk.wav,2\n")
    before = manifest.read_bytes()
    with pytest.raises(BatchInputError, match="would overwrite the input"):
        run([manifest], data, jobs=1, fmt="csv", overwrite=True)
    proc = cli("batch", str(manifest), "-o", str(data), "--format", "csv", "--overwrite")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "would overwrite the input" in proc.stderr
    assert manifest.read_bytes() == before
    rows = list(csv.reader(before.decode().splitlines()))
    assert rows[0] == ["path", "num_speakers"]


@pytest.mark.parametrize("jobs", [0, -1, "2", 1.5, True])
def test_bad_jobs_is_a_batch_input_error(tmp_path, jobs):
    make_recording(tmp_path / "one.wav")
    with pytest.raises(BatchInputError, match="jobs must be a positive integer"):
        run([tmp_path / "one.wav"], tmp_path / "out", jobs=jobs)
    assert not (tmp_path / "out").exists()


def test_bad_jobs_on_the_command_line_is_one_line(tmp_path):
    make_recording(tmp_path / "one.wav")
    proc = cli("batch", str(tmp_path / "one.wav"), "-o", str(tmp_path / "out"), "--jobs", "0")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def _close_stderr() -> None:  # in the child, before exec: `diarize batch ... 2>&-`
    os.close(2)


@pytest.mark.parametrize("stderr", ["closed", "full"])
def test_a_closed_or_full_stderr_never_stops_the_work(tmp_path, stderr):
    audio = tmp_path / "in"
    for i in range(2):
        make_recording(audio / f"rec{i}.wav", seconds=4.0, seed=i)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "diarize", "batch", str(audio), "-o", str(out), "-j", "1"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if stderr == "closed":
        proc = subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                              preexec_fn=_close_stderr, timeout=300)
    else:
        if not os.path.exists("/dev/full"):
            pytest.skip("no /dev/full")
        with open("/dev/full", "w") as full:
            proc = subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                  stderr=full, timeout=300)
    assert proc.returncode == 0
    assert sorted(p.name for p in out.glob("*.rttm")) == ["rec0.rttm", "rec1.rttm"]


def test_workers_exit_quietly_when_the_batch_is_killed(tmp_path):
    audio = tmp_path / "in"
    for i in range(4):
        make_recording(audio / f"long{i}.wav", seconds=120.0, seed=i)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "diarize", "batch", str(audio), "-o", str(out), "-j", "2"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        # The workers hold the stderr pipe too: once both have started, kill the parent.
        line = proc.stderr.readline()
        assert "recordings to diarize" in line, line
        time.sleep(5)
        proc.kill()
        proc.wait(timeout=RELEASE_TIMEOUT)
        # EOF once every worker has gone; whatever they printed on the way is here.
        rest = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert "Traceback" not in rest and "Error" not in rest, rest
