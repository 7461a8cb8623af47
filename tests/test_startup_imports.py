"""Diarizing a file does not import the modules that make startup slow.

``scipy.signal`` (with ``scipy.stats``, which it pulls in) and ``scipy.ndimage`` cost most
of a second to import, longer than diarizing a short recording; ``librosa`` costs seconds;
any scipy submodule (``scipy.fft``, ``scipy.special``) loads scipy's array-API layer, a
quarter of a second. The run path uses numpy versions of the few filters it needs
(:mod:`diarize.highpass`, :mod:`diarize.frames`) and scipy's FFT kernels without
``scipy.fft`` (:mod:`diarize._fft`); PyAV (FFmpeg) is loaded only for files libsndfile
cannot read, soxr only for input that needs resampling. These tests look at
``sys.modules`` in a fresh interpreter after the work is done: they check what is
imported, not how long anything takes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "audio_fixtures" / "two_speakers.wav"
#: Modules the run path must not import.
HEAVY = ("scipy", "scipy.signal", "scipy.stats", "scipy.ndimage", "scipy.sparse",
         "scipy.optimize", "scipy.linalg", "scipy.fft", "scipy.special", "sklearn", "librosa",
         "av", "soxr", "matplotlib", "pandas", "numba")
#: ...nor, for ``import diarize`` alone, these: reading RTTM or a config needs no audio.
AUDIO = ("soundfile", "threadpoolctl")

_REPORT = (
    "import json, sys\n"
    "with open({path!r}, 'w') as f:\n"
    "    json.dump(sorted(m for m in {heavy!r} if m in sys.modules), f)\n"
)


#: Diarizing the fixture through the command, in a fresh interpreter.
_RUN_COMMAND = (
    "from diarize.cli import main\n"
    "try:\n"
    f"    main([{str(FIXTURE)!r}, '--stdout'])\n"
    "except SystemExit as exc:\n"
    "    assert not exc.code, exc.code\n"
)


def _scipy_version() -> tuple[int, ...]:
    import scipy

    return tuple(int(p) for p in scipy.__version__.split(".")[:2])


def _own_fft_kernels() -> bool:
    from diarize import _fft

    return bool(_fft._pocketfft())


def _loaded_after(code: str, tmp_path: Path, modules: tuple[str, ...] = HEAVY) -> list[str]:
    """The `modules` (default HEAVY) loaded after running `code` in a fresh interpreter."""
    report = tmp_path / "modules.json"
    script = code + "\n" + _REPORT.format(path=str(report), heavy=modules)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(report.read_text())


def test_the_check_sees_a_heavy_import(tmp_path):
    assert "scipy.ndimage" in _loaded_after("import scipy.ndimage", tmp_path)
    assert _loaded_after("import soxr", tmp_path) == ["soxr"]


def test_importing_the_package_and_command_imports_no_heavy_module(tmp_path):
    assert _loaded_after("import diarize, diarize.cli, diarize.pipeline", tmp_path) == []


def test_importing_the_package_loads_no_audio_library(tmp_path):
    report = tmp_path / "modules.json"
    code = ("import json, sys\n"
            "import diarize\n"
            "diarize.read_rttm, diarize.load_config\n"
            f"json.dump(sorted(m for m in {AUDIO + HEAVY!r} if m in sys.modules), "
            f"open({str(report)!r}, 'w'))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(report.read_text()) == []


@pytest.mark.skipif(not FIXTURE.exists(), reason="needs audio_fixtures/two_speakers.wav")
@pytest.mark.skipif(not _own_fft_kernels(), reason="this scipy has no pypocketfft of its "
                    "own (scipy 1.18 moved it): diarize imports scipy.fft instead")
def test_diarizing_a_file_from_the_command_imports_no_heavy_module(tmp_path):
    assert _loaded_after(_RUN_COMMAND, tmp_path) == []


@pytest.mark.skipif(not FIXTURE.exists(), reason="needs audio_fixtures/two_speakers.wav")
def test_a_run_without_voices_does_not_load_named_speakers(tmp_path):
    # diarize.voices (named speakers, enrolment) is some 15 ms of a short run's start-up
    code = _RUN_COMMAND + f"from diarize import Diarizer\nDiarizer()({str(FIXTURE)!r})\n"
    assert _loaded_after(code, tmp_path, ("diarize.voices",)) == []


@pytest.mark.skipif(not FIXTURE.exists(), reason="needs audio_fixtures/two_speakers.wav")
def test_the_command_run_writes_a_diarization(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "diarize", str(FIXTURE), "--stdout"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("SPEAKER ")


def test_the_package_and_command_load_no_numpy_before_the_command_runs(tmp_path):
    # cli.run sets the BLAS thread variables before numpy (and with it OpenBLAS's thread
    # pool) loads: that needs `import diarize.cli` to load no numpy
    report = tmp_path / "numpy.json"
    code = ("import json, sys\n"
            "import diarize, diarize.cli\n"
            f"json.dump('numpy' in sys.modules, open({str(report)!r}, 'w'))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(report.read_text()) is False


def test_the_command_starts_blas_with_one_thread_unless_told_otherwise(monkeypatch):
    import os

    import diarize.cli as cli
    from diarize._threads import BLAS_ENV_VARS, THREAD_ENV_VARS, WORKERS_ENV_VAR

    seen = {}
    monkeypatch.setattr(cli, "main", lambda prog_name=None: seen.update(
        {v: os.environ.get(v) for v in THREAD_ENV_VARS}))
    for var in THREAD_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's choice is kept
    cli.run()
    assert {v: seen[v] for v in BLAS_ENV_VARS} == {
        v: "3" if v == "OMP_NUM_THREADS" else "1" for v in BLAS_ENV_VARS}
    # the pipeline's own threads are left to their default (two where there are cores)
    assert seen[WORKERS_ENV_VAR] is None


@pytest.mark.skipif(_scipy_version() < (1, 16), reason="scipy before 1.16 imports "
                    "csgraph with scipy.sparse itself")
def test_scoring_a_file_imports_neither_scipy_optimize_nor_csgraph(tmp_path):
    # diarize eval: scipy.optimize took a third of a second of every scoring command, for
    # one compiled solver (diarize.metrics loads it alone)
    ref = ROOT / "audio_fixtures" / "two_speakers.rttm"
    code = ("from diarize.cli import main\n"
            "try:\n"
            f"    main(['eval', '--ref', {str(ref)!r}, '--hyp', {str(ref)!r}])\n"
            "except SystemExit as exc:\n"
            "    assert not exc.code, exc.code\n")
    loaded = _loaded_after(code, tmp_path, ("scipy.optimize", "scipy.sparse.csgraph",
                                            "scipy.optimize._lsap"))
    # the solver itself is loaded (under its own name, where the extension registers
    # itself, as scipy's single-phase builds do), not the package around it
    assert loaded in ([], ["scipy.optimize._lsap"])
