#!/usr/bin/env python
"""Does a DC offset change the result? Fair DER of every sim recording, as it is and with
a constant added to every sample.

Each recording of ``../shared/eval/sim`` is decoded, diarized as it is and with OFFSET
(default 0.05, full scale 1.0) added, both through the Python API (the same samples, the
same path), and scored in the fair condition (collar 0.25 s per side, overlap skipped).

Usage::

    python scripts/check_dc_offset.py [--offset 0.05] [--tolerance 2] [--jobs 2]
        [--set KEY=VALUE ...]

Prints a Markdown table; exits 1 if any recording's fair DER moves by more than
TOLERANCE points.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))
SIM = REPO.parent / "shared" / "eval" / "sim"


def _score(task: tuple[str, float, dict]) -> tuple[str, float, float]:
    import soundfile as sf

    from diarize import Diarizer
    from diarize.rttm import read_rttm
    from diarize.metrics import ScoringWarning, evaluate

    import warnings

    path, offset, overrides = task
    samples, rate = sf.read(path, dtype="float32")
    diarizer = Diarizer(**{k.replace(".", "__"): v for k, v in overrides.items()})
    uri = Path(path).stem
    reference = read_rttm(Path(path).with_suffix(".rttm"))
    ders = []
    for x in (samples, samples + offset):
        hyp = diarizer((x, rate), uri=uri)
        hypothesis = {key: list(hyp.turns) for key in reference}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ScoringWarning)
            ders.append(evaluate(reference, hypothesis, collar=0.25,
                                 skip_overlap=True).total.der)
    return uri, ders[0], ders[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--offset", type=float, default=0.05)
    ap.add_argument("--tolerance", type=float, default=2.0, help="points of fair DER")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--dir", type=Path, default=SIM)
    args = ap.parse_args(argv)
    files = sorted(p for p in args.dir.iterdir()
                   if p.suffix in (".wav", ".flac") and p.with_suffix(".rttm").exists())
    if not files:
        print(f"no recordings with references in {args.dir}", file=sys.stderr)
        return 2
    from diarize.config import parse_settings
    from diarize.errors import ConfigError

    try:
        overrides = parse_settings(args.overrides)
    except ConfigError as exc:
        ap.error(str(exc))
    tasks = [(str(p), args.offset, overrides) for p in files]
    if args.jobs > 1:
        with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
            rows = pool.map(_score, tasks, chunksize=1)
    else:
        rows = [_score(t) for t in tasks]
    print(f"| file | fair DER | fair DER, +{args.offset:g} DC | change |")
    print("|---|---|---|---|")
    worst = 0.0
    for uri, a, b in rows:
        worst = max(worst, abs(b - a))
        flag = " **over**" if abs(b - a) > args.tolerance else ""
        print(f"| {uri} | {a:.2f} | {b:.2f} | {b - a:+.2f}{flag} |")
    print(f"\nlargest change {worst:.2f} points (tolerance {args.tolerance:g})")
    return 1 if worst > args.tolerance else 0


if __name__ == "__main__":
    sys.exit(main())
