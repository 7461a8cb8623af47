#!/usr/bin/env python
"""Memory and time of ``diarize eval`` on large RTTMs: the figure docs/eval.md quotes.

Writes a reference and a hypothesis RTTM of ``--files`` recordings with ``--turns`` turns
each (random turns of 0.5-5 s by four speakers, the hypothesis the reference with moved
boundaries and some labels swapped; the same files for the same ``--seed``), then runs
``python -m diarize eval --ref REF --hyp HYP --format json -o OUT`` in a child process
``--repeat`` times and prints the RTTM sizes, the child's peak resident memory (its
``ru_maxrss``) and its wall time.

Usage::

    python scripts/bench_eval_memory.py                      # 2000 files x 500 turns a side
    python scripts/bench_eval_memory.py --files 200 --turns 100 --repeat 3
    PYTHONPATH=OLD_TREE python scripts/bench_eval_memory.py  # another checkout's diarize

(the child process inherits the environment, so ``PYTHONPATH`` picks the package it runs;
``--python`` another interpreter with its own install).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from script_args import whole  # noqa: E402

SPEAKERS = ("spk_a", "spk_b", "spk_c", "spk_d")


def write_rttms(ref: Path, hyp: Path, *, files: int, turns: int, seed: int) -> int:
    """Write the two RTTMs; return the number of turns on each side."""
    rng = np.random.default_rng(seed)
    with open(ref, "w", encoding="utf-8") as r, open(hyp, "w", encoding="utf-8") as h:
        for f in range(files):
            uri = f"rec{f:05d}"
            durations = rng.uniform(0.5, 5.0, turns)
            gaps = rng.uniform(0.0, 1.0, turns)
            starts = np.cumsum(gaps + np.concatenate(([0.0], durations[:-1])))
            who = rng.integers(0, len(SPEAKERS), turns)
            moved = rng.normal(0.0, 0.1, (turns, 2))
            swapped = np.where(rng.random(turns) < 0.1, (who + 1) % len(SPEAKERS), who)
            for t in range(turns):
                r.write(f"SPEAKER {uri} 1 {starts[t]:.3f} {durations[t]:.3f} <NA> <NA> "
                        f"{SPEAKERS[who[t]]} <NA> <NA>\n")
                start = max(starts[t] + moved[t, 0], 0.0)
                length = max(durations[t] + moved[t, 1], 0.05)
                h.write(f"SPEAKER {uri} 1 {start:.3f} {length:.3f} <NA> <NA> "
                        f"SPEAKER_{swapped[t]:02d} <NA> <NA>\n")
    return files * turns


def run_eval(python: str, ref: Path, hyp: Path, out: Path) -> tuple[float, float]:
    """Peak resident memory (MiB) and wall time (s) of one ``diarize eval`` process."""
    code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
            "rc = subprocess.call(sys.argv[1:]); w = time.perf_counter() - t; "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, w, rc)")
    # A fresh parent per run: RUSAGE_CHILDREN is the largest child the parent waited for.
    done = subprocess.run([sys.executable, "-c", code, python, "-m", "diarize", "eval",
                           "--ref", str(ref), "--hyp", str(hyp), "--format", "json",
                           "-o", str(out)], capture_output=True, text=True, check=True)
    kib, wall, rc = done.stdout.split()
    if rc != "0":
        raise SystemExit(f"diarize eval failed (exit {rc}): {done.stderr.strip()}")
    return int(kib) / 1024, float(wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=whole(1), default=2000)
    parser.add_argument("--turns", type=whole(1), default=500, help="turns per file and side")
    parser.add_argument("--seed", type=whole(0), default=0)
    parser.add_argument("--repeat", type=whole(1), default=1)
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter whose diarize is measured")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the RTTMs here (default: a temporary folder)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        ref, hyp = work / "ref.rttm", work / "hyp.rttm"
        n = write_rttms(ref, hyp, files=args.files, turns=args.turns, seed=args.seed)
        size = (os.path.getsize(ref) + os.path.getsize(hyp)) / 2 ** 20
        print(f"{args.files} files x {args.turns} turns a side: {2 * n} turns, "
              f"{size:.0f} MiB of RTTM")
        for i in range(args.repeat):
            peak, wall = run_eval(args.python, ref, hyp, work / "score.json")
            print(f"run {i + 1}: peak {peak:.0f} MiB, {wall:.1f} s wall")


if __name__ == "__main__":
    main()
