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

* linking's mistakes, counted on each output speaker's main reference voice: **wrong**
  merges (a speaker put with another voice) and **missed** links (a voice left in more
  groups than its files force), each as all / those in degraded files (where known).

The rows of the configured linkage, chance level and threshold are also checked against
the files ``diarize batch`` wrote. ``--fdr`` sweeps ``voices.link_fdr`` too (0: the
threshold alone). Usage::

    python scripts/bench_link.py --jobs 1
    python scripts/bench_link.py --sets sim --thresholds 0,1,2,3,4,5 --linkage pooled,average
    python scripts/bench_link.py --linkage pooled --fdr 0,0.1 --thresholds 2.5,3
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


def kept_voices(out: Path, uris: list[str], *, ubm) -> dict[str, "batch.KeptVoices"]:
    """The voices and own results a ``--link-speakers`` batch kept in `out`, by uri."""
    fp = ubm_fingerprint(ubm)
    return {uri: batch.load_voices(batch.voices_path(out, uri), fingerprint=fp)
            for uri in uris}


def written_turns(out: Path, uris: list[str]) -> dict[str, list[Turn]]:
    """The turns of the RTTM files a batch wrote in `out`, by uri."""
    written = {}
    for uri in uris:
        ts = read_rttm(out / output_name(uri, ".rttm"))
        written[uri] = [t for v in ts.values() for t in v]
    return written


def dominant_speakers(refs: dict, hyps: dict) -> dict[tuple[str, str], str]:
    """Each hypothesis speaker's reference speaker: the one it overlaps most, by
    ``(uri, hypothesis label)`` (speakers overlapping no reference speech left out)."""
    out = {}
    for uri, hyp in hyps.items():
        time: dict[tuple[str, str], float] = {}
        for h in hyp:
            for r in refs[uri]:
                d = min(h.end, r.end) - max(h.start, r.start)
                if d > 0:
                    time[(h.speaker, r.speaker)] = time.get((h.speaker, r.speaker), 0.0) + d
        for (hs, rs), d in sorted(time.items(), key=lambda kv: -kv[1]):
            out.setdefault((uri, hs), rs)
    return out


def link_errors(refs: dict, local: dict, mapping: dict[tuple[str, str], str],
                tags: dict[str, str] | None = None) -> dict[str, int]:
    """Linking's mistakes, counted on each local speaker's dominant reference speaker.

    ``wrong``: local speakers put in a global group whose other members are mostly
    another voice (a merge of distinct voices; per group, its members minus those of its
    most common voice); ``missed``: for each voice, the global groups its local speakers
    were spread over, minus the fewest they could be (one, or more where the diarization
    split the voice within a file): links not made. With `tags` (uri -> "clean" /
    "degraded"), each count is also split by whether a degraded file took part
    (``wrong_degraded``: the wrongly merged member is in a degraded file;
    ``missed_degraded``: the missed links of voices heard in a degraded file)."""
    dom = dominant_speakers(refs, local)
    groups: dict[str, list[tuple[str, str]]] = {}
    for key, label in mapping.items():
        if key in dom:
            groups.setdefault(label, []).append(key)
    out = {"wrong": 0, "missed": 0, "wrong_degraded": 0, "missed_degraded": 0}
    for members in groups.values():
        voices = [dom[k] for k in members]
        top = max(sorted(set(voices)), key=voices.count)
        bad = [k for k in members if dom[k] != top]
        out["wrong"] += len(bad)
        out["wrong_degraded"] += sum(1 for k in bad if tags and tags.get(k[0]) == "degraded")
    by_voice: dict[str, set[str]] = {}
    files: dict[str, list[str]] = {}
    for key, voice in dom.items():
        by_voice.setdefault(voice, set()).add(mapping[key])
        files.setdefault(voice, []).append(key[0])
    for voice, labels in by_voice.items():
        # a voice the diarization split in one file is in that many groups at least
        n = len(labels) - max(files[voice].count(u) for u in files[voice])
        out["missed"] += n
        if n and tags and any(tags.get(u) == "degraded" for u in files[voice]):
            out["missed_degraded"] += n
    return out


def sweep(name: str, kept: dict, refs: dict, regions: dict, *, ubm, config: Config,
          thresholds: list[float], linkages: list[str], fdrs: list[float] | None = None,
          out: Path | None = None, tags: dict[str, str] | None = None) -> list[dict]:
    """Link the kept voices at each linkage, chance level (``voices.link_fdr``; default:
    the configured one) and threshold and score each linking: per-file and whole-batch
    fair DER, the voices found, the linking errors (:func:`link_errors`). With `out`, the
    row of the configured values is checked against the RTTM files the batch wrote there."""
    local = {uri: list(kv.result.turns) for uri, kv in kept.items()}
    per_file_local = score(refs, local, regions, one_timeline=False)
    ref_voices = len({t.speaker for ts in refs.values() for t in ts})
    voices = [Voice(uri, n, st, sec) for uri, kv in kept.items()
              for n, st, sec in zip(kv.names, kv.stats, kv.seconds)]
    rows = []
    grid = [(lk, f, t) for lk in linkages for f in (fdrs or [config.voices.link_fdr])
            for t in thresholds]
    for linkage, fdr, threshold in grid:
        vcfg = replace(config.voices, link_threshold=threshold, link_linkage=linkage,
                       link_fdr=fdr)
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
        rows.append({"set": name, "linkage": linkage, "fdr": fdr, "threshold": threshold,
                     "per_file": per_file, "batch": whole, "voices": len(groups),
                     "ref_voices": ref_voices, "speakers": len(voices),
                     **link_errors(refs, local, mapping, tags)})
        if out is not None and (linkage, fdr, threshold) == (
                config.voices.link_linkage, config.voices.link_fdr,
                config.voices.link_threshold):
            written = written_turns(out, list(kept))
            assert abs(score(refs, written, regions, one_timeline=True) - whole) < 1e-9
    return rows


HEADER = (f"{'set':9} {'linkage':8} {'fdr':>4} {'thr':>5} {'per-file':>9} {'batch':>7} "
          f"{'+pts':>6} {'voices':>7} {'ref':>4} {'spk':>4} {'wrong':>6} {'missed':>6}")


def row_line(r: dict) -> str:
    """One printed row of :func:`sweep` (wrong / missed: of them, in degraded files)."""
    return (f"{r['set']:9} {r['linkage']:8} {r['fdr']:4g} {r['threshold']:5g} "
            f"{r['per_file']:9.2f} {r['batch']:7.2f} {r['batch'] - r['per_file']:6.2f} "
            f"{r['voices']:7d} {r['ref_voices']:4d} {r['speakers']:4d} "
            f"{r['wrong']:3d}/{r['wrong_degraded']:<2d} {r['missed']:3d}/{r['missed_degraded']:<2d}")


def bench_set(name: str, folder: Path, work: Path, *, config: Config, jobs: int,
              thresholds: list[float], linkages: list[str], fdrs: list[float]) -> list[dict]:
    audio = sorted(p for p in folder.iterdir() if p.suffix in (".wav", ".flac")
                   and (name != "real" or REAL_FILES.match(p.stem)))
    out = work / name
    summary = batch.run([str(p) for p in audio], out, jobs=jobs, config=config,
                        link_speakers=True)
    if summary.failed:
        raise SystemExit(f"{name}: {summary.failed} recordings failed: see {out}/errors.tsv")
    ubm = speaker_ubm(config.cluster)
    assert ubm is not None
    kept = kept_voices(out, [p.stem for p in audio], ubm=ubm)
    refs, regions = {}, {}
    for uri in kept:
        refs[uri], regions[uri] = reference_of(folder, uri)
    return sweep(name, kept, refs, regions, ubm=ubm, config=config, thresholds=thresholds,
                 linkages=linkages, fdrs=fdrs, out=out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default="sim,real", help="comma-separated: sim, real")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_link"),
                    help="output folders of the batch runs (kept: a rerun only links again)")
    ap.add_argument("--thresholds", default="0,1,2,3,4,5,6")
    ap.add_argument("--linkage", default="pooled,average,complete")
    ap.add_argument("--fdr", default=None,
                    help="voices.link_fdr values (default: the configured one; 0: the "
                         "threshold alone)")
    ap.add_argument("--config", type=Path, help="TOML configuration file")
    args = ap.parse_args(argv)
    config = load_config(path=args.config) if args.config else Config()
    thresholds = [float(x) for x in args.thresholds.split(",")]
    linkages = args.linkage.split(",")
    fdrs = ([float(x) for x in args.fdr.split(",")] if args.fdr
            else [config.voices.link_fdr])
    print(f"fair DER % (collar {COLLAR} s, overlap skipped); batch: all files on one "
          f"timeline, one mapping; configured: {config.voices.link_linkage} "
          f"{config.voices.link_threshold:g}, link_fdr {config.voices.link_fdr:g}")
    print(HEADER + "   (wrong merges / missed links: all/in degraded files)")
    for name in args.sets.split(","):
        folder = SETS[name]
        if not folder.is_dir():
            print(f"{name}: {folder} not found, skipped")
            continue
        for r in bench_set(name, folder, args.work, config=config, jobs=args.jobs,
                           thresholds=thresholds, linkages=linkages, fdrs=fdrs):
            print(row_line(r), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
