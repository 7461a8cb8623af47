#!/usr/bin/env python3
"""Measure ``diarize batch --link-speakers``: per-file DER next to whole-batch DER.

For each set (``sim``: ../shared/eval/sim, 24 conversations whose LibriSpeech speakers
recur across files; ``real``: the AMI clips of ../shared/eval/real, whose meeting
participants recur across clips) the script runs ``diarize batch --link-speakers`` once
(into ``--work/<set>``; a rerun resumes, so a second call only links again), then links
the kept voices at each threshold and linkage asked and scores, fair condition (md-eval
collar 0.25 s per side, overlap skipped, the ``.uem`` regions):

* **per-file DER**: each file scored with its own speaker mapping, under the
  recording's own labels and under the linked labels (linking only renames: the two must
  be equal, and the script asserts it);
* **batch DER**: all files on one timeline (each file's scored region shifted past the
  previous file's), scored with ONE speaker mapping, so a global label maps to one
  reference speaker over the whole batch;
* the number of distinct voices found and in the reference.

The rows of the threshold the configuration names are also checked against the files
``diarize batch`` wrote. Usage::

    python scripts/bench_link.py --jobs 1
    python scripts/bench_link.py --sets sim --thresholds 0,1,2,3,4,5 --linkage pooled,average
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from diarize import batch  # noqa: E402
from diarize.cluster import speaker_ubm  # noqa: E402
from diarize.config import Config, load_config  # noqa: E402
from diarize.link import Voice, label_groups, link_voices, ubm_fingerprint  # noqa: E402
from diarize.metrics import ScoringWarning, evaluate  # noqa: E402
from diarize.names import output_name  # noqa: E402
from diarize.rttm import FileKey, read_rttm, read_uem  # noqa: E402
from diarize.segments import Turn  # noqa: E402

SHARED = REPO.parent / "shared" / "eval"
SETS = {"sim": SHARED / "sim", "real": SHARED / "real"}
#: real/ files kept: the AMI clips (their participants recur across clips; the other
#: files' labels, speakerA..., name different people in different files).
REAL_FILES = re.compile(r"^(dev|tst|trn|trñ)\d\d$")
COLLAR, SKIP_OVERLAP = 0.25, True
#: Seconds of gap between files on the whole-batch timeline (nothing is scored there).
GAP = 10.0


def reference_of(folder: Path, uri: str) -> tuple[list[Turn], list[tuple[float, float]]]:
    """A file's reference turns and scored regions (its .uem, else its reference extent)."""
    ref = read_rttm(folder / f"{uri}.rttm")
    turns = [t for ts in ref.values() for t in ts]
    uem_path = folder / f"{uri}.uem"
    if uem_path.exists():
        regions = [r for rs in read_uem(uem_path).values() for r in rs]
    else:
        regions = [(min(t.start for t in turns), max(t.end for t in turns))] if turns else []
    return turns, regions


def score(refs: dict, hyps: dict, regions: dict, *, one_timeline: bool) -> float:
    """Fair DER (%) of the set: per file, or all files on one timeline with one mapping."""
    if one_timeline:
        ref_all: list[Turn] = []
        hyp_all: list[Turn] = []
        reg_all: list[tuple[float, float]] = []
        offset = 0.0
        for uri in sorted(refs):
            ref_all += [Turn(t.start + offset, t.end + offset, t.speaker) for t in refs[uri]]
            hyp_all += [Turn(t.start + offset, t.end + offset, t.speaker) for t in hyps[uri]]
            reg_all += [(a + offset, b + offset) for a, b in regions[uri]]
            end = max([b for _, b in regions[uri]] + [t.end for t in refs[uri]]
                      + [t.end for t in hyps[uri]] + [0.0])
            offset += end + GAP
        refs, hyps, regions = {"batch": ref_all}, {"batch": hyp_all}, {"batch": reg_all}
    key = {u: FileKey(u) for u in refs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScoringWarning)
        ev = evaluate({key[u]: refs[u] for u in refs}, {key[u]: hyps[u] for u in hyps},
                      uem={key[u]: regions[u] for u in regions}, collar=COLLAR,
                      skip_overlap=SKIP_OVERLAP)
    return ev.total.der


def bench_set(name: str, folder: Path, work: Path, *, config: Config, jobs: int,
              thresholds: list[float], linkages: list[str]) -> list[dict]:
    audio = sorted(p for p in folder.iterdir() if p.suffix in (".wav", ".flac")
                   and (name != "real" or REAL_FILES.match(p.stem)))
    out = work / name
    summary = batch.run([str(p) for p in audio], out, jobs=jobs, config=config,
                        link_speakers=True)
    if summary.failed:
        raise SystemExit(f"{name}: {summary.failed} recordings failed: see {out}/errors.tsv")
    ubm = speaker_ubm(config.cluster)
    assert ubm is not None
    fp = ubm_fingerprint(ubm)
    kept = {p.stem: batch.load_voices(batch.voices_path(out, p.stem), fingerprint=fp)
            for p in audio}
    refs, regions = {}, {}
    for uri in kept:
        refs[uri], regions[uri] = reference_of(folder, uri)
    local = {uri: list(kv.result.turns) for uri, kv in kept.items()}
    per_file_local = score(refs, local, regions, one_timeline=False)
    ref_voices = len({t.speaker for ts in refs.values() for t in ts})
    voices = [Voice(uri, n, st, sec) for uri, kv in kept.items()
              for n, st, sec in zip(kv.names, kv.stats, kv.seconds)]
    rows = []
    for linkage in linkages:
        for threshold in thresholds:
            vcfg = replace(config.voices, link_threshold=threshold, link_linkage=linkage)
            groups = link_voices(voices, ubm=ubm, config=vcfg)
            labels = label_groups(groups)
            mapping = {(v.uri, v.local): lab for g, lab in zip(groups, labels)
                       for v in g.members}
            linked = {uri: [Turn(t.start, t.end, mapping[(uri, t.speaker)]) for t in ts]
                      for uri, ts in local.items()}
            per_file = score(refs, linked, regions, one_timeline=False)
            # Linking only renames: each file's own-mapping DER cannot change.
            assert abs(per_file - per_file_local) < 1e-9, (per_file, per_file_local)
            whole = score(refs, linked, regions, one_timeline=True)
            rows.append({"set": name, "linkage": linkage, "threshold": threshold,
                         "per_file": per_file, "batch": whole, "voices": len(groups),
                         "ref_voices": ref_voices, "speakers": len(voices)})
            if (linkage, threshold) == (config.voices.link_linkage, config.voices.link_threshold):
                written = {}
                for uri in kept:
                    ts = read_rttm(out / output_name(uri, ".rttm"))
                    written[uri] = [t for v in ts.values() for t in v]
                assert abs(score(refs, written, regions, one_timeline=True) - whole) < 1e-9
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default="sim,real", help="comma-separated: sim, real")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_link"),
                    help="output folders of the batch runs (kept: a rerun only links again)")
    ap.add_argument("--thresholds", default="0,1,2,3,4,5,6")
    ap.add_argument("--linkage", default="pooled,average,complete")
    ap.add_argument("--config", type=Path, help="TOML configuration file")
    args = ap.parse_args(argv)
    config = load_config(path=args.config) if args.config else Config()
    thresholds = [float(x) for x in args.thresholds.split(",")]
    linkages = args.linkage.split(",")
    print(f"fair DER % (collar {COLLAR} s, overlap skipped); batch: all files on one "
          f"timeline, one mapping; configured: {config.voices.link_linkage} "
          f"{config.voices.link_threshold:g}")
    print(f"{'set':5} {'linkage':9} {'thr':>5} {'per-file':>9} {'batch':>7} {'+pts':>6} "
          f"{'voices':>7} {'ref':>4} {'spk':>4}")
    for name in args.sets.split(","):
        folder = SETS[name]
        if not folder.is_dir():
            print(f"{name}: {folder} not found, skipped")
            continue
        for r in bench_set(name, folder, args.work, config=config, jobs=args.jobs,
                           thresholds=thresholds, linkages=linkages):
            print(f"{r['set']:5} {r['linkage']:9} {r['threshold']:5g} {r['per_file']:9.2f} "
                  f"{r['batch']:7.2f} {r['batch'] - r['per_file']:6.2f} {r['voices']:7d} "
                  f"{r['ref_voices']:4d} {r['speakers']:4d}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
