#!/usr/bin/env python
"""Accuracy on voices the UBM never heard: sim/ scored with UBMs trained without its speakers.

    python scripts/bench_unseen.py [--sim ../shared/eval/sim] [--workdir /tmp/unseen]
        [--set KEY=VALUE ...] [--jobs 2] [--train-args "--copies 4"]

The conversations of ``../shared/eval/sim`` were built from the voices of
``../shared/train``, on which the shipped UBM is trained, so sim/ flatters the speaker
linking stage (or, as measured, misleads it: a voice the UBM knows well gains little from
adaptation). This script splits sim/ into two halves (the first and second half of the
recordings in name order), trains one UBM per half with ``scripts/train_ubm.py
--exclude-speakers-of`` leaving out every speaker of that half (the first half's UBM
also leaves out the second half's first eight conversations' speakers, as in the
measurement quoted in the README), diarizes each half with its UBM through
``scripts/benchmark.py``, and prints the fair DER (total error over total scored time),
speaker count exact and count MAE over both halves. UBMs are cached in ``--workdir``, keyed
on the training script, its arguments and the excluded speakers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Files a fold UBM depends on besides its arguments (its cache key hashes them).
UBM_INPUTS = [REPO / "scripts" / "train_ubm.py", REPO / "scripts" / "train_sad.py",
              REPO / "diarize" / "data" / "sad_model.npz", REPO / "diarize" / "sad.py",
              REPO / "diarize" / "features.py", REPO / "diarize" / "boundaries.py"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim", type=Path, default=REPO.parent / "shared" / "eval" / "sim")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/gmm-diarize-unseen"))
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--train-args", default="",
                    help="extra arguments for scripts/train_ubm.py (e.g. \"--copies 4\")")
    a = ap.parse_args(argv)
    audio = sorted(p for p in a.sim.iterdir() if p.suffix in (".flac", ".wav")
                   and (a.sim / f"{p.stem}.rttm").exists())
    if not audio:
        print(f"bench_unseen: error: no recordings with references in {a.sim}", file=sys.stderr)
        return 1
    half = len(audio) // 2
    # (recordings scored, conversations whose speakers the UBM must not have heard)
    folds = [(audio[:half], audio[:half + 8]), (audio[half:], audio[half:])]
    err = scored = 0.0
    exact = mae = n = 0
    for k, (scored_files, excluded) in enumerate(folds):
        fold = a.workdir / f"fold{k}"
        fold.mkdir(parents=True, exist_ok=True)
        for p in scored_files:
            for suffix in (p.suffix, ".rttm", ".uem"):
                src = a.sim / f"{p.stem}{suffix}"
                dst = fold / src.name
                if src.exists() and not dst.exists():
                    dst.symlink_to(src.resolve())
        # The cache key covers everything the UBM depends on (training script, its
        # arguments, the excluded speakers, the speech detector's model and code that pick
        # its frames and the front end), so a changed script or detector never reuses a
        # stale model.
        key = hashlib.sha1(b"".join(f.read_bytes() for f in UBM_INPUTS)
                           + a.train_args.encode()
                           + "\n".join(p.name for p in excluded).encode()).hexdigest()[:12]
        ubm = a.workdir / f"ubm{k}-{key}.npz"
        if not ubm.exists():
            jsons = [str(a.sim / f"{p.stem}.json") for p in excluded]
            subprocess.run([sys.executable, str(REPO / "scripts" / "train_ubm.py"), "--out", str(ubm),
                            "--jobs", str(a.jobs), *a.train_args.split(),
                            "--exclude-speakers-of", *jsons], check=True)
        out = a.workdir / f"fold{k}.json"
        cmd = [sys.executable, str(REPO / "scripts" / "benchmark.py"), str(fold), "--jobs", str(a.jobs),
               "--set", f'cluster.ubm_path="{ubm}"', "--json", str(out)]
        for o in a.overrides:
            cmd += ["--set", o]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        result = next(iter(json.loads(out.read_text())[fold.name].values()))
        for f in result["files"].values():
            fair, full = f["fair"], f["full"]
            err += fair["der"] * fair["scored"] / 100.0
            scored += fair["scored"]
            n += 1
            exact += full["ref_speakers"] == full["hyp_speakers"]
            mae += abs(full["ref_speakers"] - full["hyp_speakers"])
    print(f"sim/ unseen voices ({n} recordings): fair DER {100 * err / scored:.2f} %, "
          f"speaker count exact {100 * exact / n:.1f} %, count MAE {mae / n:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
