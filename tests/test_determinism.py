"""Same input, same configuration, same seed: byte-identical RTTM.

Covered here: two separate processes (with different hash seeds, so set/dict ordering
cannot leak into the output, and different BLAS thread counts), the Python API against the
command line, and a batch with one and with two worker processes against a single run.
"""

from __future__ import annotations

import json
import shutil

import pytest
import soundfile as sf

from hostile_helpers import EVAL, run_cli, voices

# Whole recordings, subprocesses or worker pools: deselected by -m "not slow".
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """A real 2-speaker conversation from ../shared/eval/sim if present, else a
    generated multi-voice signal. Copied to a temp folder under a fixed name."""
    base = tmp_path_factory.mktemp("det")
    sim = EVAL / "sim" / "dev000.flac"
    if sim.exists():
        dst = base / "conv.flac"
        shutil.copy(sim, dst)
    else:
        dst = base / "conv.wav"
        sf.write(dst, voices(20.0, 16000, seed=11, n_speakers=3), 16000, subtype="PCM_16")
    return dst


def _cli_rttm(path, out, *args, env=None) -> bytes:
    out.mkdir(parents=True, exist_ok=True)
    p = run_cli(path, "-o", out, *args, env=env)
    assert p.returncode == 0, p.stderr.decode()
    # The turns, after the provenance record the file starts with (tests/test_provenance.py).
    first, rest = (out / f"{path.stem}.rttm").read_bytes().split(b"\n", 1)
    assert first.startswith(b"SPKR-INFO ")
    return rest


@pytest.fixture(scope="module")
def cli_seed3(recording, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli_a")
    return _cli_rttm(recording, out, "--seed", "3", env={"PYTHONHASHSEED": "1"})


def test_two_processes_byte_identical(recording, cli_seed3, tmp_path):
    # Another hash seed and single-threaded BLAS (as a batch worker may run).
    one_thread = {"PYTHONHASHSEED": "2", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                  "MKL_NUM_THREADS": "1"}
    again = _cli_rttm(recording, tmp_path / "b", "--seed", "3", env=one_thread)
    assert cli_seed3, "expected a non-empty diarization of a conversation"
    assert again == cli_seed3


def test_api_matches_cli(recording, cli_seed3):
    from diarize.config import config_from_dict
    from diarize.pipeline import Diarizer

    result = Diarizer(config_from_dict({"seed": 3}))(recording)
    assert result.to_rttm().encode("utf-8") == cli_seed3
    # The same object called twice in one process gives the same turns again.
    assert Diarizer(config_from_dict({"seed": 3}))(recording).to_rttm() == result.to_rttm()


def test_api_samples_match_path(recording, cli_seed3):
    """Diarizer()((samples, sr)) on the decoded file equals Diarizer()(path)."""
    from diarize.config import config_from_dict
    from diarize.pipeline import Diarizer

    y, sr = sf.read(str(recording), dtype="float32")
    d = Diarizer(config_from_dict({"seed": 3}))
    assert d((y, sr), uri=recording.stem).to_rttm().encode("utf-8") == cli_seed3


def test_config_file_seed_equals_option(recording, cli_seed3, tmp_path):
    cfg = tmp_path / "seed.toml"
    cfg.write_text("seed = 3\n")
    assert _cli_rttm(recording, tmp_path / "c", "--config", cfg) == cli_seed3



@pytest.mark.parametrize("jobs", [1, 2])
def test_batch_matches_single_run(recording, cli_seed3, tmp_path, jobs):
    from diarize.batch import run
    from diarize.config import config_from_dict

    # the recording twice under two names, so that two workers have work
    twin = tmp_path / f"twin{recording.suffix}"
    shutil.copy(recording, twin)
    summary = run([recording, twin], tmp_path / "out", jobs=jobs,
                  config=config_from_dict({"seed": 3}))
    assert summary.failed == 0
    assert _turn_lines((tmp_path / "out" / f"{recording.stem}.rttm").read_bytes()) == cli_seed3
    twin_text = _turn_lines((tmp_path / "out" / "twin.rttm").read_bytes())
    assert twin_text == cli_seed3.replace(recording.stem.encode(), b"twin")


# ---------------------------------------------------------------- BLAS threads
#: Environment variables that size the BLAS / OpenMP thread pools.
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: Dev recordings whose RTTM changes with two BLAS threads when the pipeline does not limit
#: its own calls (the 2 of the 24 sim/ RTTMs that do on the 2-core dev machine, found by
#: scripts/check_determinism.py ../shared/eval/sim). test_thread_sensitive_recordings_are_sensitive
#: checks that they still are, so that the byte-identity test below keeps its power.
THREAD_SENSITIVE = ("sim/dev001.flac", "sim/dev017.flac")

needs_sim = pytest.mark.skipif(not (EVAL / "sim").is_dir(), reason="../shared/eval/sim not present")

#: Diarize the files of argv[2:] into argv[1] (<uri>.rttm each) through the Python API,
#: after importing numpy (which loads OpenBLAS with the environment's thread setting);
#: exit 3 if the pipeline left the host's BLAS thread setting changed. With THREADS set,
#: the pipeline's own limit is replaced by that many threads (the control run).
API_PROGRAM = r"""
import json
import os
import sys
from pathlib import Path

import numpy  # noqa: F401  -- first, as a host application may
from threadpoolctl import threadpool_info

import diarize._threads
from diarize import Diarizer
from diarize.names import uri_for

if os.environ.get("THREADS"):
    diarize._threads.PIPELINE_THREADS = int(os.environ["THREADS"])
# by library: one that loads during the run (scipy's own OpenBLAS, with scipy.fft) is new,
# not a change of the host's settings
before = {i["filepath"]: i["num_threads"] for i in threadpool_info()}
out, d = Path(sys.argv[1]), Diarizer()
for path in sys.argv[2:]:
    (out / f"{uri_for(path)}.rttm").write_bytes(d(path).to_rttm().encode("utf-8"))
after = {i["filepath"]: i["num_threads"] for i in threadpool_info()}
print(json.dumps({"before": before, "after": after}))
sys.exit(0 if all(after.get(k) == v for k, v in before.items()) else 3)
"""


def _env(threads: int | None, **extra: str) -> dict[str, str]:
    """The test process's environment with the thread variables set to `threads`
    (removed if None), the worktree first on PYTHONPATH."""
    import os

    from hostile_helpers import REPO

    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS and k != "THREADS"}
    if threads is not None:
        env.update({k: str(threads) for k in THREAD_VARS})
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra)
    return env


def _start_api(out, files, env):
    import subprocess
    import sys

    out.mkdir(parents=True)
    return subprocess.Popen([sys.executable, "-c", API_PROGRAM, str(out), *map(str, files)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _start_cli(out, files, env):
    import subprocess
    import sys

    out.mkdir(parents=True)
    return subprocess.Popen([sys.executable, "-m", "diarize", "-q", "-o", str(out), *map(str, files)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc) -> str:
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, (proc.returncode, stdout.decode(), stderr.decode())
    return stdout.decode()


def _turn_lines(data: bytes) -> bytes:
    """The turns of an RTTM: without the provenance record that files of ours start with."""
    return data.split(b"\n", 1)[1] if data.startswith(b"SPKR-INFO ") else data


def _outputs(folder) -> dict[str, bytes]:
    return {p.name: _turn_lines(p.read_bytes()) for p in sorted(folder.glob("*.rttm"))}


@pytest.fixture(scope="module")
def thread_runs(tmp_path_factory):
    """The thread-sensitive recordings diarized three ways, at the same time:
    the CLI with one BLAS thread, the API after `import numpy` with two, and the API
    with the pipeline's limit replaced by two threads (the control)."""
    files = [EVAL / name for name in THREAD_SENSITIVE]
    base = tmp_path_factory.mktemp("threads")
    procs = {
        "cli1": _start_cli(base / "cli1", files, _env(1)),
        "api2": _start_api(base / "api2", files, _env(2)),
        "control2": _start_api(base / "control2", files, _env(2, THREADS="2")),
    }
    logs = {name: _finish(p) for name, p in procs.items()}
    return {name: _outputs(base / name) for name in procs}, logs


@needs_sim
def test_api_after_numpy_with_two_blas_threads_matches_cli_with_one(thread_runs):
    """Byte-identical whatever was imported first and whatever the BLAS thread setting."""
    runs, logs = thread_runs
    expected = sorted(f"{(EVAL / n).stem}.rttm" for n in THREAD_SENSITIVE)
    assert sorted(runs["cli1"]) == expected and sorted(runs["api2"]) == expected
    assert all(runs["cli1"].values()), "expected non-empty diarizations"
    for name in expected:
        assert runs["api2"][name] == runs["cli1"][name], name
    # The host program's own setting (2 threads, from the environment) is left as it was.
    threads = json.loads(logs["api2"])
    assert threads["before"] and set(threads["before"].values()) == {2}
    assert {k: threads["after"][k] for k in threads["before"]} == threads["before"]


@needs_sim
def test_thread_sensitive_recordings_are_sensitive(thread_runs):
    """The control: with two BLAS threads inside the pipeline, at least one of these RTTMs
    changes. If this fails, the recordings no longer tell one thread from two (after a
    change to the pipeline): run scripts/check_determinism.py with the pipeline's limit
    raised to 2 threads and list recordings that do in THREAD_SENSITIVE."""
    runs, _ = thread_runs
    assert sorted(runs["control2"]) == sorted(runs["cli1"])
    assert any(runs["control2"][n] != runs["cli1"][n] for n in runs["cli1"])


def test_import_sets_no_thread_variables():
    """`import diarize` (and the pipeline, batch, tune) leaves the environment alone."""
    import subprocess
    import sys

    code = ("import os, diarize, diarize.pipeline, diarize.batch, diarize.tune; "
            f"print([v for v in {THREAD_VARS!r} if v in os.environ])")
    p = subprocess.run([sys.executable, "-c", code], env=_env(None), capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"


def _blas_threads() -> list[int]:
    """Thread limit of every loaded BLAS / OpenMP library, as this thread sees it."""
    from threadpoolctl import threadpool_info

    return [i["num_threads"] for i in threadpool_info()]


def _process_wide_threads() -> list[int]:
    """The same, for the libraries whose limit is process-wide (not per thread, as an
    OpenMP runtime's is: scikit-learn, imported by other tests, loads one)."""
    from threadpoolctl import ThreadpoolController

    from diarize._threads import _per_thread

    return [lib.num_threads for lib in ThreadpoolController().lib_controllers
            if not _per_thread(lib)]


def test_pipeline_runs_on_one_blas_thread_and_restores_the_host_setting():
    import numpy as np
    from threadpoolctl import threadpool_limits

    from diarize.pipeline import Diarizer
    from hostile_helpers import voices

    during: list[list[int]] = []

    def hook(stage, done, total):
        during.append(_blas_threads())

    y = voices(4.0, 16000, seed=2).astype(np.float32)
    with threadpool_limits(limits=2):  # the host program's choice
        host = _blas_threads()
        assert host and set(host) == {2}
        Diarizer().diarize_signal(y, hook=hook)
        assert _blas_threads() == host
        Diarizer()((y, 16000), hook=hook)
        assert _blas_threads() == host
    assert len(during) >= 8 and all(set(n) == {1} for n in during), during


def test_thread_limit_is_reentrant_and_thread_safe():
    import threading

    import sklearn.mixture  # noqa: F401  -- loads an OpenMP runtime: a per-thread limit
    from threadpoolctl import threadpool_limits

    from diarize._threads import pipeline_threads

    with threadpool_limits(limits=2):
        host = _blas_threads()
        host_shared = _process_wide_threads()
        assert len(host_shared) < len(host), "expected a per-thread (OpenMP) library too"
        with pipeline_threads():
            with pipeline_threads():
                assert set(_blas_threads()) == {1}
            assert set(_blas_threads()) == {1}  # the inner exit must not restore
        assert _blas_threads() == host

        # Overlapping blocks in two threads: the process-wide limit holds until the last
        # one exits; per-thread limits are set and restored by each thread for itself.
        inside, release, worker_seen = threading.Event(), threading.Event(), []

        def worker():
            with pipeline_threads():
                inside.set()
                release.wait(10)
                worker_seen.append(_blas_threads())

        t = threading.Thread(target=worker)
        t.start()
        inside.wait(10)
        with pipeline_threads():
            assert set(_blas_threads()) == {1}
        main_shared, main_all = _process_wide_threads(), _blas_threads()
        release.set()
        t.join(10)
        assert worker_seen and set(worker_seen[0]) == {1}, worker_seen
        assert set(main_shared) == {1}  # the worker is still inside
        assert sorted(main_all) == sorted(main_shared + [2] * (len(host) - len(host_shared)))
        assert _blas_threads() == host


def test_pipeline_in_a_thread_while_the_host_holds_the_blas_limit():
    """threadpoolctl (>= 3.8) lets one thread at a time change an OpenBLAS limit; a host
    thread inside its own threadpool_limits block must not leave the pipeline, running in
    another thread, on several BLAS threads, and the host's limits still work afterwards."""
    import threading

    from threadpoolctl import threadpool_limits

    from diarize._threads import pipeline_threads

    original = _blas_threads()
    seen: list[list[int]] = []

    def worker():
        with pipeline_threads():
            seen.append(_blas_threads())

    with threadpool_limits(limits=2):
        host = _blas_threads()
        t = threading.Thread(target=worker)
        t.start()
        t.join(10)
        assert seen and all(set(n) == {1} for n in seen), seen
        assert _blas_threads() == host
        with threadpool_limits(limits=3):  # the host can still change its own setting
            assert set(_blas_threads()) == {3}
        assert _blas_threads() == host
    assert _blas_threads() == original
