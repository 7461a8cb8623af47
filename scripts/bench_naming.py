#!/usr/bin/env python
"""Named speakers over two sets of runs in one command: the training voices and the
voices the UBM never heard.

Usage::

    python scripts/bench_naming.py [--runs both|training|never-heard] [--jobs 2]
        [--workdir /tmp/bench_naming] [--seeds 0,1,2] [--set KEY=VALUE ...]

It runs ``scripts/bench_voices.py --no-link --no-batch`` (the API's naming) on:

* **training**: the voices of ``../shared/train``, on which the shipped UBM and its
  cohort were trained (this flatters): short design seeds 0-3 and long design seeds
  0-1 (``--training-runs``);
* **never-heard**: each half of those voices (``scripts/split_train.py``) scored with a
  UBM and cohort trained without it (``scripts/train_ubm.py --exclude-speakers-of``, about
  a minute each, made once in the work folder and reused), short design, ``--seeds``
  of each half. This is the measure closest to voices never shared; ``voices.threshold``
  was chosen on it. ``--parts N``: N parts instead of halves, each scored with a UBM
  trained on the others (a UBM that heard more of the voices, as the shipped one heard
  them all; the folders then carry N in their names).

and prints each run's enrolled time named right, named time right and never-enrolled time
named (all, then the clean and the degraded conversations), and each set's mean over its
runs. ``--set`` goes to every run (on the never-heard runs ``cluster.ubm_path`` is the
half's UBM). Runs are independent processes, ``--jobs`` at a time, each building its
conversations (deterministic for its seed) in its own folder under the work folder; the
halves and their UBMs are made once and reused by later calls.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

# the three rates from bench_voices.py's six counts, as it prints them
from bench_voices import shares  # noqa: E402

#: The training-voice runs by default: s = short design, l = long design, and the seed.
TRAINING_RUNS = ("s0", "s1", "s2", "s3", "l0", "l1")


def _design(name: str) -> list[str]:
    """bench_voices.py's options for the training-voice run `name` (``s3``, ``l1``)."""
    return (["--design", "long"] if name[0] == "l" else []) + ["--seed", name[1:]]


@dataclass
class Run:
    """One bench_voices.py run: its set, its name and its command line."""

    group: str
    name: str
    argv: list[str]
    counts: Path


def plan(a: argparse.Namespace) -> tuple[list[Run], list[list[str]]]:
    """The runs asked for, and the commands that make the never-heard UBMs first."""
    bench = [sys.executable, str(HERE / "bench_voices.py"), "--no-link", "--no-batch",
             "--thresholds", "", "--margins", ""]
    sets = [x for s in a.overrides for x in ("--set", s)]
    runs: list[Run] = []
    prepare: list[list[str]] = []
    work = a.workdir
    if a.runs in ("both", "training"):
        for name in [x for x in a.training_runs.split(",") if x]:
            if not re.fullmatch(r"[sl]\d+", name):
                raise SystemExit(f"bench_naming: error: unknown training run {name!r} "
                                 "(s or l and a seed: s0, l1, ...)")
            w = work / "runs" / f"training_{name}"
            runs.append(Run("training", name, bench + ["--train", str(a.train), "--workdir", str(w),
                                                       "--json", str(w / "counts.json"),
                                                       *_design(name), *sets],
                            w / "counts.json"))
    if a.runs in ("both", "never-heard"):
        tag = part_tag(a.parts)
        split = work / f"split{tag}"
        parts = [chr(ord("A") + k) for k in range(a.parts)]
        if not all((split / f"{p}.json").exists() for p in parts):
            prepare.append([sys.executable, str(HERE / "split_train.py"), "--train",
                            str(a.train), "--out", str(split), "--parts", str(a.parts)])
        for half in parts:
            ubm = work / f"ubm{tag}_without_{half}.npz"
            if not ubm.exists():
                prepare.append([sys.executable, str(HERE / "train_ubm.py"), "--train-dir",
                                str(a.train), "--out", str(ubm), "--exclude-speakers-of",
                                str(split / f"{half}.json")])
            for seed in [x for x in a.seeds.split(",") if x]:
                w = work / "runs" / f"never_heard{tag}_{half}{seed}"
                # the half's UBM comes after the caller's --set, so that it holds
                runs.append(Run("never-heard", f"{half}{seed}",
                                bench + ["--train", str(split / half), "--workdir", str(w),
                                         "--json", str(w / "counts.json"), "--seed", seed,
                                         *sets, "--set",
                                         f"cluster.ubm_path={json.dumps(str(ubm))}"],
                                w / "counts.json"))
    return runs, prepare


def add_run_args(ap: argparse.ArgumentParser) -> None:
    """The options that choose the runs (:func:`plan`'s), for this script and those that
    reuse its runs (scripts/naming_probe.py)."""
    ap.add_argument("--runs", choices=("both", "training", "never-heard"), default="both")
    ap.add_argument("--train", type=Path, default=REPO.parent / "shared" / "train")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench_naming"))
    ap.add_argument("--seeds", default="0,1,2", help="never-heard runs: seeds of each half")
    ap.add_argument("--training-runs", default=",".join(TRAINING_RUNS),
                    help="training-voice runs (s: short design, l: long; the seed)")
    ap.add_argument("--parts", type=int, default=2,
                    help="never-heard runs: the voices split into this many parts, each "
                         "scored with a UBM trained on the others (2: halves)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="to every run (never-heard runs keep their part's UBM)")


def check_run_args(ap: argparse.ArgumentParser, a: argparse.Namespace, *, prog: str) -> bool:
    """:func:`add_run_args`' options checked: an out-of-range ``--parts`` is a usage error;
    False (after one line on stderr) when the training folder has no speakers.csv."""
    if not 2 <= a.parts <= 26:
        ap.error("--parts: 2 to 26")
    if not (a.train / "speakers.csv").exists():
        print(f"{prog}: error: no {a.train / 'speakers.csv'}", file=sys.stderr)
        return False
    return True


def part_tag(parts: int) -> str:
    """What the never-heard runs' folder names carry for `parts` parts: nothing for two
    (the halves kept the names they had before there were more)."""
    return "" if parts == 2 else str(parts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_args(ap)
    ap.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    a = ap.parse_args(argv)
    if not check_run_args(ap, a, prog="bench_naming"):
        return 1
    runs, prepare = plan(a)
    if a.dry_run:
        for cmd in prepare + [r.argv for r in runs]:
            print(" ".join(repr(x) if x == "" or " " in x else x for x in cmd))
        return 0
    a.workdir.mkdir(parents=True, exist_ok=True)
    for cmd in prepare:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    for r in runs:
        r.counts.parent.mkdir(parents=True, exist_ok=True)
        r.counts.unlink(missing_ok=True)

    def go(r: Run) -> tuple[Run, str]:
        p = subprocess.run(r.argv, capture_output=True, text=True)
        return r, p.stderr if p.returncode else ""

    with ThreadPoolExecutor(max(1, a.jobs)) as pool:
        done = list(pool.map(go, runs))
    failed = [(r, err) for r, err in done if err or not r.counts.exists()]
    for r, err in failed:
        print(f"bench_naming: run {r.group} {r.name} failed: {err.strip().splitlines()[-1:]}",
              file=sys.stderr)
    print("enrolled time named right / named time right / never-enrolled time named; then "
          "enrolled time named right in the clean and the degraded conversations")
    for group in ("training", "never-heard"):
        rows = [r for r, _ in done if r.group == group and r.counts.exists()]
        if not rows:
            continue
        means = []
        for r in rows:
            c = json.loads(r.counts.read_text(encoding="utf-8"))
            s = shares(np.asarray(c["api"]))
            means.append(s)
            print(f"{group + ' ' + r.name:<16} {s[0]:6.2f} / {s[1]:6.2f} / {s[2]:5.2f} %   "
                  f"clean {shares(np.asarray(c['clean']))[0]:6.2f}   "
                  f"degraded {shares(np.asarray(c['degraded']))[0]:6.2f}")
        m = np.mean(means, axis=0)
        print(f"{group + ' mean':<16} {m[0]:6.1f} / {m[1]:6.1f} / {m[2]:5.1f} %   "
              f"({len(rows)} runs)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
