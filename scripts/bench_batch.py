#!/usr/bin/env python
"""Benchmark ``diarize batch``: wall time with --jobs 1 and --jobs 2, and the speed-up.

Copies the shared evaluation recordings (``../shared/eval/sim``) into a temporary folder,
adding renamed copies until there are ``--count`` recordings, runs the ``diarize batch``
command on them with each job count (end to end, process start-up included), checks the
outputs are byte-identical, and prints the times. Exit status 1 if the outputs differ or
the speed-up is below ``--min-speedup``.

Usage::

    python scripts/bench_batch.py [--count 40] [--jobs 1 2] [--rounds 1] [--min-speedup 1.7]

With ``--rounds R`` the job counts are run alternately R times and the best (smallest)
wall time of each is used: on a machine shared with other work, the minimum is the
measurement least disturbed by it.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "eval" / "sim"
DEFAULT_COUNT = 40
DEFAULT_MIN_SPEEDUP = 1.7


def stage(data: Path, dest: Path, count: int) -> list[Path]:
    """Copy the recordings of `data` into `dest`, cycling with new names up to `count`."""
    sources = sorted(data.glob("*.flac"))
    if not sources:
        raise SystemExit(f"bench_batch: no .flac recordings in {data}")
    dest.mkdir(parents=True)
    out = []
    for i in range(count):
        src = sources[i % len(sources)]
        rep = i // len(sources)
        target = dest / (src.name if rep == 0 else f"{src.stem}_copy{rep}{src.suffix}")
        shutil.copyfile(src, target)
        out.append(target)
    return out


def run_batch(inputs: Path, output: Path, jobs: int) -> tuple[float, float]:
    """Wall time of ``diarize batch inputs -o output --jobs N`` (in a fresh process), and
    the CPU time its workers spent in recordings (from its summary line).

    Wall time depends on what else the machine runs, so the load average is printed
    alongside; CPU time in recordings does not. (getrusage would miss the fork
    server's workers, which this process does not wait for.)
    """
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "diarize", "batch", str(inputs), "-o", str(output),
                           "--jobs", str(jobs)], cwd=REPO, env=env,
                          stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"bench_batch: diarize batch --jobs {jobs} exited with {proc.returncode}")
    found = re.search(r"\(([0-9.]+) s CPU in recordings\)", proc.stderr)
    return elapsed, float(found.group(1)) if found else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--count", type=int, default=DEFAULT_COUNT)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--min-speedup", type=float, default=DEFAULT_MIN_SPEEDUP)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        audio = Path(tmp) / "audio"
        files = stage(args.data, audio, args.count)
        total_mb = sum(f.stat().st_size for f in files) / 1e6
        import soundfile as sf
        hours = sum(sf.info(str(f)).duration for f in files) / 3600
        print(f"{len(files)} recordings, {hours:.2f} h of audio ({total_mb:.0f} MB), "
              f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
        times: dict[int, float] = {}
        for r in range(args.rounds):
            for jobs in args.jobs:
                out = Path(tmp) / f"out{jobs}"
                shutil.rmtree(out, ignore_errors=True)
                load = os.getloadavg()[0]
                wall, cpu = run_batch(audio, out, jobs)
                times[jobs] = min(wall, times.get(jobs, wall))
                print(f"round {r + 1} --jobs {jobs}: {wall:7.1f} s wall, {cpu:6.1f} s CPU in recordings "
                      f"({hours * 3600 / wall:.0f}x real time; 1-min load average "
                      f"{load:.1f} before, {os.getloadavg()[0]:.1f} after)", flush=True)
        for jobs in args.jobs:
            print(f"best --jobs {jobs}: {times[jobs]:.1f} s wall")
        base, ok = args.jobs[0], True
        ref = Path(tmp) / f"out{base}"
        names = sorted(p.name for p in ref.iterdir())
        for jobs in args.jobs[1:]:
            other = Path(tmp) / f"out{jobs}"
            same = names == sorted(p.name for p in other.iterdir()) and all(
                filecmp.cmp(ref / n, other / n, shallow=False) for n in names)
            speedup = times[base] / times[jobs]
            print(f"speed-up --jobs {jobs} vs --jobs {base}: {speedup:.2f}x; "
                  f"outputs {'identical' if same else 'DIFFER'} ({len(names)} files)")
            ok = ok and same and speedup >= args.min_speedup
    print("PASS" if ok else f"FAIL (need identical outputs and >= {args.min_speedup}x)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
