#!/usr/bin/env python
"""Check that the output does not depend on BLAS threads, import order or CLI vs API.

Usage::

    python scripts/check_determinism.py [DIR ...] [--keep OUT]

Every ``*.wav`` / ``*.flac`` (:data:`diarize.audio.AUDIO_SUFFIXES`) of the folders
(default ``../shared/eval/real`` and ``../shared/eval/sim``) is diarized with the default
configuration in four passes, each in its own subprocess, started together:

* ``cli-1``: the command line with ``OPENBLAS_NUM_THREADS=1`` (and OMP / MKL = 1, and
  ``DIARIZE_THREADS=1``: the pipeline's own stages on one thread);
* ``cli-2``: the command line with ``OPENBLAS_NUM_THREADS=2`` (and OMP / MKL / DIARIZE = 2);
* ``api-2``: the Python API in a program that imports numpy (and so loads OpenBLAS)
  first, with ``OPENBLAS_NUM_THREADS=2``; it also checks that its own BLAS thread
  setting is the same after the calls as before (the pipeline must restore it);
* ``api-default``: the same with the thread variables unset (BLAS picks its default).

The RTTM files of every pass must be byte-identical to those of ``cli-1``. A fifth pass,
``control-2``, shows that the check can see a difference: the API with the pipeline's own
limit raised to 2 threads (what the pipeline did before it limited its calls, with
``OPENBLAS_NUM_THREADS=2``). Some of its files are expected to differ; it is reported and
not counted (``--no-control`` leaves it out). The passes
run on a copy of the package taken when the script starts, so that edits made to the
working tree while it runs cannot make two passes run different code.

Prints one line per pass and per difference; exit status 0 if everything is identical,
1 on any difference, failure or missing output.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from diarize.audio import AUDIO_SUFFIXES  # noqa: E402

DEFAULT_DIRS = (REPO / ".." / "shared" / "eval" / "real", REPO / ".." / "shared" / "eval" / "sim")
#: Environment variables that size the BLAS / OpenMP thread pools and the pipeline's own
#: (diarize._threads.WORKERS_ENV_VAR).
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "DIARIZE_THREADS")
#: The pass every other is compared with.
REFERENCE_PASS = "cli-1"
#: The pass expected to differ (not counted).
CONTROL_PASS = "control-2"
#: Seconds a pass may take (the 42 dev recordings take about 2 minutes per pass).
PASS_TIMEOUT = 3600

#: The API pass: numpy first (as a host application may import it), then the pipeline.
API_PROGRAM = r"""
import numpy  # noqa: F401  -- loads OpenBLAS with the environment's thread setting
import os
import sys
from pathlib import Path

from threadpoolctl import threadpool_info

import diarize._threads
from diarize import Diarizer
from diarize.names import uri_for
from diarize.writers import format_diarization

if os.environ.get("CHECK_PIPELINE_THREADS"):  # the control pass
    diarize._threads.PIPELINE_THREADS = int(os.environ["CHECK_PIPELINE_THREADS"])


def blas_threads():
    return sorted((i["filepath"], i["num_threads"]) for i in threadpool_info())


before = blas_threads()
out = Path(sys.argv[1])
diarizer = Diarizer()
failed = 0
for path in sys.argv[2:]:
    try:
        result = diarizer(path)
    except Exception as exc:  # reported like the CLI does, the other files go on
        print(f"{path}: {type(exc).__name__}: {exc}", file=sys.stderr)
        failed += 1
        continue
    # with its provenance line, as the command line writes it: the files compare whole
    text = format_diarization(result, "rttm", source=path)
    (out / f"{uri_for(path)}.rttm").write_bytes(text.encode("utf-8"))
after = blas_threads()
if after != before:
    print(f"BLAS thread settings changed by the pipeline: {before} -> {after}", file=sys.stderr)
    sys.exit(3)
print(f"host BLAS threads kept: {[n for _, n in before]}", file=sys.stderr)
sys.exit(1 if failed else 0)
"""


def find_audio(dirs: list[Path]) -> list[Path]:
    files = []
    for d in dirs:
        files += sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    return files


def snapshot(target: Path) -> Path:
    """Copy the package (and the preset folder it reads) to `target`; return it."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "diarize", target / "diarize", ignore=ignore)
    shutil.copytree(REPO / "configs", target / "configs", ignore=ignore)
    return target


def pass_env(code: Path, threads: int | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in THREAD_VARS and k != "CHECK_PIPELINE_THREADS"}
    env.update(extra)
    env["PYTHONPATH"] = str(code)
    env["PYTHONIOENCODING"] = "utf-8"
    if threads is not None:
        env.update({k: str(threads) for k in THREAD_VARS})
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="*", type=Path, help="Folders of recordings.")
    parser.add_argument("--keep", type=Path, default=None,
                        help="Write the passes' outputs under this folder (default: a temporary one).")
    parser.add_argument("--no-control", dest="control", action="store_false",
                        help="Leave out the control pass.")
    args = parser.parse_args(argv)
    dirs = [d.resolve() for d in (args.dirs or DEFAULT_DIRS)]
    for d in dirs:
        if not d.is_dir():
            parser.error(f"{d}: no such folder")
    files = find_audio(dirs)
    if not files:
        parser.error("no recordings found")
    stems = [p.stem for p in files]
    if len(set(stems)) != len(stems):
        parser.error("two recordings share a file id")

    with tempfile.TemporaryDirectory(prefix="check_determinism.") as tmp:
        code = snapshot(Path(tmp) / "code")
        root = args.keep.resolve() if args.keep is not None else Path(tmp) / "out"
        cli = [sys.executable, "-m", "diarize", "-q"]
        api = [sys.executable, "-c", API_PROGRAM]
        passes = {
            "cli-1": (cli, 1, {}),
            "cli-2": (cli, 2, {}),
            "api-2": (api, 2, {}),
            "api-default": (api, None, {}),
        }
        if args.control:
            passes[CONTROL_PASS] = (api, 2, {"CHECK_PIPELINE_THREADS": "2"})
        procs = {}
        t0 = time.perf_counter()
        for name, (command, threads, extra) in passes.items():
            out = root / name
            if out.exists():
                shutil.rmtree(out)
            out.mkdir(parents=True)
            argv_ = [*command, "-o", str(out)] if command is cli else [*command, str(out)]
            log = open(root / f"{name}.log", "wb")
            procs[name] = (subprocess.Popen([*argv_, *map(str, files)], cwd=tmp,
                                            env=pass_env(code, threads, **extra), stdout=log,
                                            stderr=subprocess.STDOUT), log, out)
        ok = True
        for name, (proc, log, out) in procs.items():
            try:
                rc = proc.wait(timeout=PASS_TIMEOUT)
            finally:
                log.close()
            text = (root / f"{name}.log").read_text("utf-8", "replace").strip()
            print(f"{name}: exit status {rc}, {len(list(out.glob('*.rttm')))} RTTM files"
                  f"{' | ' + text.replace(chr(10), ' | ') if text else ''}")
            if rc != 0:
                ok = False
        print(f"{len(files)} recordings in {', '.join(str(d) for d in dirs)}; "
              f"passes took {time.perf_counter() - t0:.0f} s")

        expected = sorted(f"{p.stem}.rttm" for p in files)
        ref_dir = procs[REFERENCE_PASS][2]
        for name, (_, _, out) in procs.items():
            produced = sorted(p.name for p in out.glob("*.rttm"))
            if produced != expected:
                missing = sorted(set(expected) - set(produced))
                print(f"{name}: missing outputs: {' '.join(missing) or '-'}; "
                      f"extra: {' '.join(sorted(set(produced) - set(expected))) or '-'}")
                ok = False
            if name == REFERENCE_PASS:
                continue
            same, mismatch, errors = filecmp.cmpfiles(ref_dir, out, expected, shallow=False)
            if name == CONTROL_PASS:
                print(f"{name} (pipeline limit raised to 2 threads; expected to differ, not "
                      f"counted): {len(mismatch)} different: {' '.join(mismatch) or '-'}"
                      + ("" if mismatch else " -- no difference: this check may not be able "
                         "to tell 1 thread from 2 on this machine"))
                continue
            for f in mismatch:
                print(f"DIFFERENT: {name}/{f} vs {REFERENCE_PASS}/{f}")
            print(f"{name} vs {REFERENCE_PASS}: {len(same)} identical, {len(mismatch)} different, "
                  f"{len(errors)} not comparable (missing)")
            if mismatch or errors:
                ok = False
    print("OK: byte-identical" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
