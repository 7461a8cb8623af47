"""Batch processing mechanics: failures, resume, kill-safety, parallel determinism, manifests."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from batch_audio import make_recording
from diarize import batch
from diarize.batch import run
from diarize.errors import BatchInputError
from diarize.names import uri_for
from diarize.progress import ConsoleProgress
from diarize.config import Config
from diarize.pipeline import Diarizer
from conftest import EVAL

# Whole recordings, subprocesses or worker pools: deselected by -m "not slow".
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SHARED_EVAL = EVAL
#: Seconds to wait for the killed-run subprocess to get halfway.
KILL_TIMEOUT = 120.0


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "diarize", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def make_batch(folder: Path, n: int, *, seconds: float = 4.0, ext: str = "wav") -> list[Path]:
    return [make_recording(folder / f"rec{i:02d}.{ext}", seconds=seconds + i % 3, seed=i)
            for i in range(n)]


def mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.rttm")}


def parse_rttm(path: Path) -> list[tuple[float, float, str]]:
    """Strict RTTM check: our provenance record first, then ten fields, SPEAKER, uri = file
    stem, numbers, final newline."""
    text = path.read_text()
    assert text.endswith("\n"), f"{path} truncated"
    first, *lines = text.splitlines()
    assert first.split(" ")[:8] == ["SPKR-INFO", path.stem, "1", "<NA>", "<NA>", "<NA>",
                                    "unknown", "gmm-diarize"], first
    out = []
    for line in lines:
        f = line.split(" ")
        assert len(f) == 10 and f[0] == "SPEAKER" and f[1] == path.stem, line
        onset, dur = float(f[3]), float(f[4])
        assert onset >= 0 and dur >= 0
        out.append((onset, dur, f[7]))
    return out


def test_failures_recorded_and_rerun_skips_good_ones(tmp_path):
    audio = tmp_path / "in"
    make_batch(audio, 18)
    (audio / "notes.wav").write_text("this is not audio\n")
    good = (audio / "rec00.wav").read_bytes()
    (audio / "cut.flac").write_bytes(b"fLaC" + good[4:200])  # truncated garbage
    out = tmp_path / "out"

    proc = cli("batch", str(audio), "-o", str(out), "--jobs", "2")
    assert proc.returncode == 1, proc.stderr
    assert "18 succeeded, 0 skipped, 2 failed" in proc.stderr
    assert sorted(p.stem for p in out.glob("*.rttm")) == [f"rec{i:02d}" for i in range(18)]
    lines = (out / "errors.tsv").read_text().splitlines()
    assert lines[0] == "path\terror\tmessage"
    assert sorted(Path(line.split("\t")[0]).name for line in lines[1:]) == ["cut.flac", "notes.wav"]
    assert all(line.split("\t")[1] == "AudioError" for line in lines[1:])
    before = mtimes(out)

    summary = run([audio], out, jobs=2)
    assert (summary.succeeded, summary.skipped, summary.failed) == (0, 18, 2)
    assert summary.exit_status == 1
    assert mtimes(out) == before  # nothing diarized again
    assert len((out / "errors.tsv").read_text().splitlines()) == 3
    assert [Path(r.path).name for r in summary.failures] == ["cut.flac", "notes.wav"]  # input order


def test_killed_run_resumes_without_redoing_finished_work(tmp_path):
    audio = tmp_path / "in"
    n = 10
    make_batch(audio, n, seconds=40.0)  # long enough to catch the run halfway
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "diarize", "batch", str(audio), "-o", str(out),
                             "--jobs", "1", "--quiet"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + KILL_TIMEOUT
    try:
        while len(list(out.glob("*.rttm"))) < n // 2:
            assert proc.poll() is None, "batch finished before it could be killed"
            assert time.monotonic() < deadline, "batch too slow to reach halfway"
            time.sleep(0.005)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done_before = mtimes(out)
    assert n // 2 <= len(done_before) < n
    # What a write interrupted by the kill leaves behind (atomic_write_text's naming).
    (out / ".rec09.rttm.k1ll3d_x.tmp").write_text("SPEAKER rec09 1 0.0")

    summary = run([audio], out, jobs=1)
    assert summary.skipped == len(done_before)
    assert summary.succeeded == n - len(done_before) and summary.failed == 0
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    after = mtimes(out)
    assert {k: after[k] for k in done_before} == done_before
    reference = run([audio], tmp_path / "ref", jobs=1)
    assert reference.succeeded == n
    for p in sorted(out.glob("*.rttm")):
        assert parse_rttm(p)
        assert p.read_bytes() == (tmp_path / "ref" / p.name).read_bytes()


def test_jobs_do_not_change_the_output(tmp_path):
    audio = tmp_path / "in"
    make_batch(audio, 6, seconds=5.0, ext="flac")
    one = run([audio], tmp_path / "one", jobs=1)
    two = run([audio], tmp_path / "two", jobs=2)
    assert one.succeeded == two.succeeded == 6
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "two").iterdir())
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert [r.uri for r in one.records] == [r.uri for r in two.records] == [
        f"rec{i:02d}" for i in range(6)]


def test_duplicate_uri_is_an_error_before_any_work(tmp_path):
    make_recording(tmp_path / "a" / "talk.wav", seed=1)
    make_recording(tmp_path / "b" / "talk.flac", seed=2)
    out = tmp_path / "out"
    with pytest.raises(BatchInputError, match="talk"):
        run([tmp_path / "a", tmp_path / "b"], out)
    assert not out.exists()
    proc = cli("batch", str(tmp_path / "a"), str(tmp_path / "b" / "*.flac"), "-o", str(out))
    assert proc.returncode == 2
    assert "duplicate" in proc.stderr and not out.exists()
    # The same file listed twice is not a clash.
    assert run([tmp_path / "a", tmp_path / "a" / "talk.wav"], out, jobs=1).succeeded == 1


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_manifest_hints_are_honoured(tmp_path, kind):
    data = tmp_path / "data"
    make_recording(data / "sub" / "x.wav", seconds=8.0, seed=3, voices=3)
    make_recording(data / "y.wav", seconds=8.0, seed=4, voices=3)
    rows = [{"path": "sub/x.wav", "uri": "first call", "num_speakers": 1},
            {"path": str(data / "y.wav"), "num_speakers": 3, "min_speakers": ""}]
    manifest = data / f"list.{kind}"
    if kind == "csv":
        manifest.write_text("path,uri,num_speakers,min_speakers\n"
                            "sub/x.wav,first call,1,\n"
                            f"{data / 'y.wav'},,3,\n")
    else:
        manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "out"
    summary = run([manifest], out, jobs=2)
    assert summary.succeeded == 2, summary.failures
    assert sorted(p.name for p in out.iterdir()) == ["first_call.rttm", "y.rttm"]
    for name, wav, k in (("first_call", data / "sub" / "x.wav", 1), ("y", data / "y.wav", 3)):
        expected = Diarizer(Config().replace(num_speakers=k))(wav, uri=name).to_rttm()
        assert (out / f"{name}.rttm").read_text().split("\n", 1)[1] == expected
        assert len({t[2] for t in parse_rttm(out / f"{name}.rttm")}) <= k
    assert len({t[2] for t in parse_rttm(out / "first_call.rttm")}) == 1


def test_bad_manifest_is_an_error_before_any_work(tmp_path):
    bad = tmp_path / "m.csv"
    bad.write_text("file,num_speakers\na.wav,2\n")
    with pytest.raises(BatchInputError, match="'path' column"):
        run([bad], tmp_path / "out")
    bad.write_text("path,num_speakers\na.wav,two\n")
    with pytest.raises(BatchInputError, match=r"m.csv:2: num_speakers"):
        run([bad], tmp_path / "out")
    bad = tmp_path / "m.jsonl"
    bad.write_text('{"path": "a.wav", "min_speakers": 4, "max_speakers": 2}\n')
    with pytest.raises(BatchInputError, match="min_speakers"):
        run([bad], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_stale_temps_removed_and_overwrite(tmp_path):
    audio = make_recording(tmp_path / "one.wav")
    out = tmp_path / "out"
    out.mkdir()
    stale = [out / ".one.rttm.abc123_x.tmp", out / ".errors.tsv.zz99.tmp"]
    keep = [out / "notes.tmp", out / ".hidden"]
    for p in stale + keep:
        p.write_text("x")
    run([audio], out, jobs=1)
    assert not any(p.exists() for p in stale) and all(p.exists() for p in keep)
    target = out / "one.rttm"
    ours = target.read_text()
    # Ours: skipped, or redone with --overwrite.
    assert run([audio], out, jobs=1).skipped == 1 and target.read_text() == ours
    os.utime(target, ns=(0, 0))
    assert run([audio], out, jobs=1, overwrite=True).succeeded == 1
    assert parse_rttm(target) and target.stat().st_mtime_ns != 0
    # Not ours: never replaced, not even with --overwrite (tests/test_provenance.py).
    target.write_text("old\n")
    assert run([audio], out, jobs=1, overwrite=True).failed == 1
    assert target.read_text() == "old\n"


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_other_formats(tmp_path, fmt):
    audio = make_recording(tmp_path / "one.wav")
    run([audio], tmp_path / "out", jobs=1, fmt=fmt)
    text = (tmp_path / "out" / f"one.{fmt}").read_text()
    if fmt == "json":
        assert json.loads(text)["uri"] == "one"
    else:
        assert text.splitlines()[0].count(",") >= 2


def test_progress_lines_and_quiet(tmp_path):
    audio = tmp_path / "in"
    make_batch(audio, 2)
    (audio / "bad.wav").write_text("nope")
    stream = io.StringIO()
    summary = run([audio], tmp_path / "out", jobs=1, progress=ConsoleProgress(stream=stream))
    log = stream.getvalue()
    assert "[3/3]" in log and "FAILED AudioError" in log and "ETA" in log
    assert "2 succeeded, 0 skipped, 1 failed" in log and "\r" not in log
    assert "s CPU in recordings" in log and max(r.cpu_seconds for r in summary.records) > 0
    bar = io.StringIO()
    run([audio], tmp_path / "out2", jobs=1, progress=ConsoleProgress(stream=bar, tty=True))
    assert "\r[" in bar.getvalue() and "3/3" in bar.getvalue()
    assert summary.exit_status == 1

    proc = cli("batch", str(audio), "-o", str(tmp_path / "out3"), "-j", "1", "--quiet")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"diarize: error: 1 recording failed (see {tmp_path / 'out3' / 'errors.tsv'})"]


@pytest.mark.parametrize("tty", [False, True])
def test_records_keep_each_recordings_warnings(tmp_path, tty):
    # Two silent recordings in one process: each keeps its own warning (Python's default
    # filter would show one warning of a kind once per process), and the progress prints
    # them in the command line's one-line format, bar or no bar.
    import numpy as np
    import soundfile as sf

    audio = tmp_path / "in"
    audio.mkdir()
    for name in ("hush_a", "hush_b"):
        sf.write(audio / f"{name}.wav", np.zeros(3 * 16000, dtype=np.int16), 16000)
    make_recording(audio / "voices.wav", seconds=4.0, seed=1)
    stream = io.StringIO()
    summary = run([audio], tmp_path / "out", jobs=1,
                  progress=ConsoleProgress(stream=stream, tty=tty))
    warned = {Path(r.path).stem: r.warnings for r in summary.records}
    assert warned == {"hush_a": ("no speech found in hush_a",),
                      "hush_b": ("no speech found in hush_b",), "voices": ()}
    # a bar is redrawn (carriage return) and cleared (erase to end of line) around them
    lines = [line.split("\r")[-1].replace("\x1b[K", "")
             for line in stream.getvalue().splitlines()]
    assert sorted(line for line in lines if ": warning: " in line) == [
        "diarize: warning: no speech found in hush_a",
        "diarize: warning: no speech found in hush_b"]


def test_errors_file_removed_when_everything_succeeds(tmp_path):
    audio = tmp_path / "in"
    make_batch(audio, 1)
    (audio / "bad.wav").write_text("nope")
    out = tmp_path / "out"
    assert run([audio], out, jobs=1).failed == 1 and (out / "errors.tsv").exists()
    (audio / "bad.wav").unlink()
    summary = run([audio], out, jobs=1)
    assert summary.exit_status == 0 and summary.skipped == 1
    assert not (out / "errors.tsv").exists()


def test_missing_inputs_and_dask(tmp_path, monkeypatch):
    with pytest.raises(BatchInputError, match="no such file"):
        run([tmp_path / "nope.wav"], tmp_path / "out")
    with pytest.raises(BatchInputError, match="no files match"):
        run([str(tmp_path / "*.wav")], tmp_path / "out")
    audio = make_recording(tmp_path / "one.wav")
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if dask were not installed
    with pytest.raises(batch.MissingDependencyError, match=r"pip install 'gmm-diarize\[dask\]'"):
        run([audio], tmp_path / "out", scheduler="tcp://127.0.0.1:1")


@pytest.mark.skipif(not (SHARED_EVAL / "sim").is_dir(), reason="shared eval data not present")
def test_real_recording(tmp_path):
    src = min((SHARED_EVAL / "sim").glob("*.flac"), key=lambda p: p.stat().st_size)
    summary = run([src], tmp_path, jobs=1)
    assert summary.succeeded == 1
    assert parse_rttm(tmp_path / f"{src.stem}.rttm")


def test_killed_parallel_run_leaves_no_orphan_workers(tmp_path):
    psutil = pytest.importorskip("psutil")
    audio = tmp_path / "in"
    make_batch(audio, 8, seconds=40.0)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "diarize", "batch", str(audio), "-o", str(out),
                             "--jobs", "2", "--quiet"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + KILL_TIMEOUT
    try:
        while not list(out.glob("*.rttm")):  # workers are up and busy
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        children = psutil.Process(proc.pid).children(recursive=True)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert children
    gone, alive = psutil.wait_procs(children, timeout=15)
    for p in alive:  # clean up before failing
        p.kill()
    assert not alive, f"orphaned workers: {[p.pid for p in alive]}"
    summary = run([audio], out, jobs=2)
    assert summary.failed == 0 and summary.skipped + summary.succeeded == 8
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("name, uri", [("a.wav", "a"), ("x/meeting 01.flac", "meeting_01"),
                                       ("tab\there.mp3", "tab_here"),
                                       ("multi.dot.name.ogg", "multi.dot.name"),
                                       ("ünï cødé.wav", "ünï_cødé")])
def test_uri_is_the_stem_without_whitespace(name, uri):
    assert uri_for(name) == uri
