#!/usr/bin/env python
"""Startup benchmark: the whole-process wall time of ``diarize FILE --stdout``, and its parts.

For each checkout (this one, and optionally others given with ``--compare``, e.g. a
``git archive`` of main unpacked in /tmp, or /work/main itself), runs alternately,
``--repeat`` times (5 by default):

- ``python -m diarize FILE --stdout`` (the whole process, what a user times), its wall
  time and its CPU time (user + system, which a busy shared machine inflates less);
- ``python -c "import diarize.cli, diarize.pipeline"`` (the imports alone);
- in one fresh process, the diarization itself: ``Diarizer()(FILE)`` timed inside the
  process after the imports, so the report can say what the imports leave.

and prints the median of each (seconds). Runs alternate between the checkouts, so a busy
shared machine slows them alike; compare only numbers printed by the same run.

Bytecode: an installed package runs from cached bytecode (``__pycache__``), but with
``PYTHONDONTWRITEBYTECODE`` set (as on some shared machines) nothing is ever cached and
every run compiles the package's ~40 modules again, about 0.1 s. By default the runs use
a bytecode cache of their own (``PYTHONPYCACHEPREFIX`` in a temporary folder, so no
checkout is written to), filled by one discarded warm-up run per checkout; with
``--no-bytecode-cache`` they compile every time, as that environment does.

Usage::

    python scripts/bench_startup.py
    python scripts/bench_startup.py --compare /work/main --repeat 7
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FILE = REPO / "audio_fixtures" / "two_speakers.wav"

_INSIDE = (
    "import sys, time\n"
    "from diarize.pipeline import Diarizer\n"
    "t = time.perf_counter()\n"
    "Diarizer()(sys.argv[1])\n"
    "print(time.perf_counter() - t)\n"
)


def _timed(cmd: list[str], tree: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of `cmd` in checkout `tree` (its output discarded)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _env(tree: Path, pycache: Path | None) -> dict[str, str]:
    """The environment that imports ``diarize`` from `tree` (``-m`` and ``-c`` also put the
    working folder first on the path: the runs are started in `tree`), with a bytecode
    cache of its own under `pycache`, or none."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    if pycache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def _inside(tree: Path, audio: Path, env: dict[str, str]) -> float:
    """Seconds the diarization takes inside a process that has done its imports."""
    out = subprocess.run([sys.executable, "-c", _INSIDE, str(audio)], cwd=tree, env=env,
                         check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", nargs="?", type=Path, default=DEFAULT_FILE)
    ap.add_argument("--repeat", type=int, default=5, help="runs of each measurement (median)")
    ap.add_argument("--compare", type=Path, nargs="*", default=[],
                    help="other checkouts (their roots) to time alongside this one")
    ap.add_argument("--no-bytecode-cache", action="store_true",
                    help="compile every module in every run (PYTHONDONTWRITEBYTECODE=1)")
    args = ap.parse_args()
    trees = [REPO] + [p.resolve() for p in args.compare]
    audio = args.file.resolve()
    whole_cmd = [sys.executable, "-m", "diarize", str(audio), "--stdout"]
    with tempfile.TemporaryDirectory(prefix="bench_startup_") as tmp:
        envs = [_env(tree, None if args.no_bytecode_cache else Path(tmp) / str(i))
                for i, tree in enumerate(trees)]
        for tree, env in zip(trees, envs):  # warm-up: fills the bytecode and disk caches
            _timed(whole_cmd, tree, env)
        times: dict[tuple[int, str], list[float]] = {}
        for _ in range(args.repeat):
            for i, (tree, env) in enumerate(zip(trees, envs)):
                wall, cpu = _timed(whole_cmd, tree, env)
                imports, _ = _timed([sys.executable, "-c", "import diarize.cli, diarize.pipeline"],
                                    tree, env)
                for key, value in (("whole", wall), ("cpu", cpu), ("imports", imports),
                                   ("inside", _inside(tree, audio, env))):
                    times.setdefault((i, key), []).append(value)
    cache = "no bytecode cache" if args.no_bytecode_cache else "bytecode cached"
    print(f"{args.file.name}, median of {args.repeat} ({cache}; seconds)")
    print("| checkout | whole process (wall) | whole process (CPU) | imports only | "
          "diarization in-process |")
    print("|---|---|---|---|---|")
    for i, tree in enumerate(trees):
        row = [f"{statistics.median(times[(i, k)]):.3f}"
               for k in ("whole", "cpu", "imports", "inside")]
        print(f"| {tree} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
