#!/usr/bin/env python
"""Write the naming bench's conversations as a scored diarization corpus.

    python scripts/make_voice_conversations.py --out DIR [--runs s0,s1,s2,s3,l0,l1]
        [--conversations 12] [--train ../shared/train]
    python scripts/benchmark.py DIR/clean DIR/degraded --jobs 2 [--stages --per-file]

``scripts/bench_voices.py`` (and ``scripts/bench_naming.py``, which runs it) builds
conversations of 2-6 voices of ``../shared/train``, every second one degraded (a room,
white or pink noise at 10-30 dB SNR, or both), and scores naming on them. Their
diarization is the first thing naming depends on, and the degraded half is the one noisy
corpus the dev sets lack (``../shared/eval/sim`` has a room and faint noise in a few
recordings). A run is ``sN`` (the short design, seed N) or ``lN`` (the long design, seed
N), exactly the conversations of ``bench_voices.py [--design long] --seed N`` (and so of
``bench_naming.py``'s training runs). Each conversation is written as ``RUN_convXX.wav``
with ``RUN_convXX.rttm`` (its reference: the speech inside each turn, as in sim/) and
``RUN_convXX.json`` (its voices and degradation) in ``DIR/clean`` or ``DIR/degraded``.
The voices are the UBM's training voices, which flatters linking as sim/ does.
Deterministic for the same runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import bench_voices  # noqa: E402
from diarize.segments import Turn  # noqa: E402
from diarize.writers import format_rttm  # noqa: E402

DESIGNS = {"s": "short", "l": "long"}


def parse_run(text: str) -> tuple[str, int]:
    """``"s0"`` -> ``("short", 0)``; raises ValueError on anything else."""
    design, seed = text[:1], text[1:]
    if design not in DESIGNS or not seed.isdigit():
        raise ValueError(f"a run is s<seed> or l<seed>, not {text!r}")
    return DESIGNS[design], int(seed)


def write_run(run: str, out: Path, *, train: Path, conversations: int,
              enroll_seconds: float) -> int:
    """Build one run's conversations and write them under `out`; return how many."""
    design, seed = parse_run(run)
    with tempfile.TemporaryDirectory() as tmp:
        convs, _ = bench_voices.build(train, Path(tmp), n_conv=conversations, seed=seed,
                                      enroll_seconds=enroll_seconds, design=design)
        for c in convs:
            folder = out / ("degraded" if c.degraded else "clean")
            folder.mkdir(parents=True, exist_ok=True)
            uri = f"{run}_{c.uri}"
            shutil.copyfile(Path(tmp) / "conv" / f"{c.uri}.wav", folder / f"{uri}.wav")
            rttm = format_rttm([Turn(a, b, str(v)) for a, b, v in c.turns], uri)
            (folder / f"{uri}.rttm").write_text(rttm, encoding="utf-8")
            info = {"run": run, "design": design, "seed": seed,
                    "enrolled": c.enrolled, "unenrolled": c.unenrolled,
                    "degraded": c.degraded}
            (folder / f"{uri}.json").write_text(json.dumps(info, indent=1) + "\n",
                                                encoding="utf-8")
    return len(convs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--runs", default="s0,s1,s2,s3,l0,l1",
                    help="comma-separated runs: s<seed> (short design) or l<seed> (long)")
    ap.add_argument("--conversations", type=int, default=12,
                    help="conversations per run (as bench_voices.py --conversations)")
    ap.add_argument("--enroll-seconds", type=float, default=10.0)
    ap.add_argument("--train", type=Path, default=REPO.parent / "shared" / "train")
    a = ap.parse_args(argv)
    try:
        runs = [r.strip() for r in a.runs.split(",") if r.strip()]
        for r in runs:
            parse_run(r)
    except ValueError as e:
        ap.error(str(e))
    for r in runs:
        n = write_run(r, a.out, train=a.train, conversations=a.conversations,
                      enroll_seconds=a.enroll_seconds)
        print(f"{r}: {n} conversations", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
