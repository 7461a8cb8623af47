#!/usr/bin/env python
"""Startup benchmark: the whole-process wall time of ``diarize FILE --stdout``, and its parts.

For each checkout (this one, and optionally others given with ``--compare``, e.g. a
``git archive`` of main unpacked in /tmp), runs alternately, ``--repeat`` times:

- ``python -m diarize FILE --stdout`` (the whole process, what a user times);
- ``python -c "import diarize.cli, diarize.pipeline"`` (the imports alone);
- in one fresh process, the diarization itself: ``Diarizer()(FILE)`` timed inside the
  process after the imports, so the report can say what the imports leave.

and prints the median of each (seconds). Runs alternate between the checkouts, so a busy
shared machine slows them alike; compare only numbers printed by the same run.

Usage::

    python scripts/bench_startup.py
    python scripts/bench_startup.py --compare /tmp/main_tree --repeat 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
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


def _wall(cmd: list[str], tree: Path) -> float:
    """Wall seconds of one run of `cmd` in checkout `tree` (its output discarded)."""
    t = time.perf_counter()
    subprocess.run(cmd, cwd=tree, env=_env(tree), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def _env(tree: Path) -> dict[str, str]:
    """The environment that imports ``diarize`` from `tree` (``-m`` and ``-c`` also put the
    working folder first on the path: the runs are started in `tree`)."""
    return {**os.environ, "PYTHONPATH": str(tree)}


def _inside(tree: Path, audio: Path) -> float:
    """Seconds the diarization takes inside a process that has done its imports."""
    out = subprocess.run([sys.executable, "-c", _INSIDE, str(audio)], cwd=tree, env=_env(tree),
                         check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", nargs="?", type=Path, default=DEFAULT_FILE)
    ap.add_argument("--repeat", type=int, default=5, help="runs of each measurement (median)")
    ap.add_argument("--compare", type=Path, nargs="*", default=[],
                    help="other checkouts (their roots) to time alongside this one")
    args = ap.parse_args()
    trees = [REPO] + [p.resolve() for p in args.compare]
    audio = args.file.resolve()
    times: dict[tuple[int, str], list[float]] = {}
    for _ in range(args.repeat):
        for i, tree in enumerate(trees):
            whole = _wall([sys.executable, "-m", "diarize", str(audio), "--stdout"], tree)
            imports = _wall([sys.executable, "-c", "import diarize.cli, diarize.pipeline"], tree)
            times.setdefault((i, "whole"), []).append(whole)
            times.setdefault((i, "imports"), []).append(imports)
            times.setdefault((i, "inside"), []).append(_inside(tree, audio))
    print(f"{args.file.name}, median of {args.repeat} (seconds)")
    print("| checkout | whole process | imports only | diarization in-process |")
    print("|---|---|---|---|")
    for i, tree in enumerate(trees):
        row = [f"{statistics.median(times[(i, k)]):.3f}" for k in ("whole", "imports", "inside")]
        print(f"| {tree} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
