#!/usr/bin/env python
"""Split ``../shared/train`` into two halves (or ``--parts`` parts) of its voices, for
measuring naming on voices the UBM never heard.

Usage::

    python scripts/split_train.py --out /tmp/split
    python scripts/train_ubm.py --out /tmp/split/ubm_without_B.npz \\
        --exclude-speakers-of /tmp/split/B.json
    python scripts/bench_voices.py --no-link --no-batch --train /tmp/split/B \\
        --set cluster.ubm_path=/tmp/split/ubm_without_B.npz

The voices (sorted by name) go in turn to half A and half B (with ``--parts N``, to
parts A, B, C, ...: a UBM trained without one part has heard (N - 1) / N of the voices,
closer to the shipped UBM, which heard them all). For each half H it
writes ``OUT/H/`` (``speakers.csv`` of that half's utterances and a ``speech/`` folder of
links to the audio: a ``--train`` folder for scripts/bench_voices.py) and ``OUT/H.json``
(``{"speakers": [...]}``, for ``train_ubm.py --exclude-speakers-of``). The shipped UBM
and its cohort were trained on every voice; one trained without a half scores that half
as it scores voices never shared.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", type=Path, default=Path("../shared/train"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--parts", type=int, default=2,
                    help="how many parts (A, B, C, ...): a UBM trained without one part "
                         "hears the others, (parts - 1) / parts of the voices")
    a = ap.parse_args(argv)
    if not 2 <= a.parts <= 26:
        ap.error("--parts: 2 to 26")
    table = a.train / "speakers.csv"
    if not table.exists():
        print(f"split_train: error: no {table}", file=sys.stderr)
        return 1
    with open(table, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    voices = sorted({r["speaker"] for r in rows})
    halves = {chr(ord("A") + k): voices[k::a.parts] for k in range(a.parts)}
    for half, members in halves.items():
        keep = set(members)
        d = a.out / half
        (d / "speech").mkdir(parents=True, exist_ok=True)
        with open(d / "speakers.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            for r in rows:
                if r["speaker"] in keep:
                    w.writerow(r)
                    link = d / r["file"]
                    if not link.exists():
                        os.symlink((a.train / r["file"]).resolve(), link)
        (a.out / f"{half}.json").write_text(json.dumps({"speakers": members}), encoding="utf-8")
        print(f"{half}: {len(members)} voices in {d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
