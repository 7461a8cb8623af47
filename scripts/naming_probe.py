#!/usr/bin/env python
"""Naming rules tried in seconds: bench_naming.py's runs diarized once, their output
speakers' kept statistics saved, then named again offline under other score rules and
thresholds.

Usage::

    python scripts/naming_probe.py [--workdir /tmp/bench_naming] [--runs both|training|never-heard]
        [--parts 2] [--seeds 0,1,2] [--training-runs s0,...] [--thresholds 4,4.25,4.5]
        [--rules base,recording-z,...] [--set KEY=VALUE ...] [--jobs 2]

The runs are bench_naming.py's (same options, same work folder: its splits and UBMs are
reused or made). Each run's conversations are built and enrolled as bench_voices.py does
and diarized once with its voiceprints (guided, as the pipeline names); the statistics of
every output speaker before naming, its turns and the voiceprints are saved in the run's
folder (``probe.pkl``: a cache of this script's own, never shipped, made again when the
run's options differ; ``--again`` makes it anew, as after a change to the code). Then
every rule is applied to each conversation's scores (:func:`diarize.voices.match_scores`, the default's), the
speakers named best pair first above each threshold (:func:`diarize.voices.assign`), and
scored as bench_voices.py scores. Printed: each set's mean over its runs of enrolled time
named right / named time right / never-enrolled time named (%), as bench_naming prints,
and the same pooled over the set's frames (runs of few conversations, as with many
``--parts``, weigh by their time there).

The rules (scores S of one conversation, speakers x voiceprints):

* ``base``: S (the default's decision, without its margin rule, which is off);
* ``recording-z``: (S - median(S)) / std(S), the conversation's own spread;
* ``recording-q90``: S - 0.5 quantile-90(S), a share of its high scores taken off;
* ``column``: each voiceprint's score less its mean over the conversation's other
  speakers (impostors in the same room), shrunk by k / (k + 2) for k others;
* ``row``: each score less the speaker's mean over the other voiceprints, in their spread
  (the folder's other voices as a cohort).

``--distractors`` puts into each never-heard run's folder the voiceprints of the other
parts' voices that have 15 s of audio or more (26-31 with four parts: a folder of dozens,
as a set of 12 conversations of 2-4 enrolled voices makes), enrolled from their first 10 s
with the run's UBM, which heard them; a speaker given one of their names is named, and
wrongly.
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import bench_naming  # noqa: E402
from bench_voices import score, shares  # noqa: E402


def _recording_z(s: np.ndarray) -> np.ndarray:
    return (s - np.median(s)) / max(float(np.std(s)), 1e-9)


def _recording_q90(s: np.ndarray) -> np.ndarray:
    return s - 0.5 * np.quantile(s, 0.9)


def _column(s: np.ndarray) -> np.ndarray:
    out = s.copy()
    if len(s) < 2:
        return out
    for i in range(len(s)):
        others = np.delete(s, i, axis=0)
        k = len(others)
        out[i] = s[i] - k / (k + 2) * others.mean(axis=0)
    return out


def _row(s: np.ndarray) -> np.ndarray:
    out = s.copy()
    if s.shape[1] < 3:
        return out
    for j in range(s.shape[1]):
        o = np.delete(s, j, axis=1)
        out[:, j] = (s[:, j] - o.mean(axis=1)) / np.maximum(o.std(axis=1), 1e-9)
    return out


RULES = {"base": lambda s: s, "recording-z": _recording_z, "recording-q90": _recording_q90,
         "column": _column, "row": _row}


def run_config(overrides: list[str]):
    """The configuration of a run: the default with its ``--set`` overrides."""
    from benchmark import parse_set

    from diarize import Config

    return Config().replace(**parse_set(overrides)).validate() if overrides else Config()


def capture(argv: list[str], out: Path) -> None:
    """Diarize one bench_voices.py run's conversations with its voiceprints (guided) and
    save what naming starts from to `out`. `argv`: that run's bench_voices.py options."""
    from bench_voices import add_conversation_args, build_from_args, check_conversation_args

    from diarize import Diarizer, enroll
    from diarize.cluster import speaker_ubm
    from diarize.voices import VoiceLibrary

    ap = argparse.ArgumentParser()
    add_conversation_args(ap, workdir="/tmp/bench_voices")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    a, _ = ap.parse_known_args(argv)
    check_conversation_args(ap, a)
    cfg = run_config(a.overrides)
    convs, enroll_files = build_from_args(a)
    folder = a.workdir / "voices_probe"
    folder.mkdir(parents=True, exist_ok=True)
    for p in folder.iterdir():
        p.unlink()
    for name, path in sorted(enroll_files.items()):
        enroll(name, path, folder, config=cfg)
    ubm = speaker_ubm(cfg.cluster)
    library = VoiceLibrary.open(folder, config=cfg, ubm=ubm)
    seen: dict = {}

    class Keeping(VoiceLibrary):
        def name_speakers(self, result, **kw):  # the result as naming receives it
            seen["result"] = result
            return super().name_speakers(result, **kw)

    keeping = Keeping(library.voices, library.directory)
    named = Diarizer(cfg, voices=keeping)
    kept = []
    for c in convs:
        named(a.workdir / "conv" / f"{c.uri}.wav")
        r = seen.pop("result")
        speakers = [s for s in r.speakers if s in r.voice_stats]
        kept.append({"conv": c, "speakers": speakers,
                     "stats": [r.voice_stats[s] for s in speakers],
                     "turns": [(t.start, t.end, t.speaker) for t in r.exclusive()]})
    part = out.with_name(out.name + ".part")  # renamed when whole: no half-written cache
    with open(part, "wb") as f:
        pickle.dump({"argv": list(argv), "overrides": list(a.overrides), "prints": library.voices,
                     "enrolled": sorted(enroll_files), "convs": kept}, f)
    os.replace(part, out)


def distractors(train: Path, part_train: Path, overrides: list[str], out: Path) -> list:
    """Voiceprints of the voices outside one never-heard part that have 15 s of audio or
    more (the first 10 s of their utterances joined, as bench_voices.py enrols), made
    with that part's UBM (`overrides`) in `out` once and read from there after."""
    import csv

    import soundfile as sf
    from bench_voices import SR, _read

    from diarize import enroll
    from diarize.voices import SUFFIX, Voiceprint

    folder = out / "voices"
    if not (out / "done").exists():
        with open(train / "speakers.csv", newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        with open(part_train / "speakers.csv", newline="", encoding="utf-8") as f:
            mine = {r["speaker"] for r in csv.DictReader(f)}
        files: dict[str, list[str]] = {}
        seconds: dict[str, float] = {}
        for r in rows:
            files.setdefault(r["speaker"], []).append(r["file"])
            seconds[r["speaker"]] = seconds.get(r["speaker"], 0.0) + float(r["duration_s"])
        cfg = run_config(overrides)
        folder.mkdir(parents=True, exist_ok=True)
        for p in folder.iterdir():
            p.unlink()
        for voice in sorted(v for v in files if v not in mine and seconds[v] >= 15.0):
            y = _read([train / f for f in sorted(files[voice])])[:10 * SR]
            wav = out / f"{voice}.wav"
            sf.write(wav, y, SR)
            enroll(f"other-{voice}", wav, folder, config=cfg)
        (out / "done").write_text("")
    return [Voiceprint.load(p) for p in sorted(folder.glob(f"*{SUFFIX}"))]


def rates(saved: dict, rule, threshold: float) -> np.ndarray:
    """bench_voices.py's six counts of one run named under `rule` at `threshold` (with
    its ``extra`` voiceprints, if any, in the folder too)."""
    from diarize.cluster import speaker_ubm
    from diarize.voices import assign, match_scores

    cfg = saved.get("_cfg")
    if cfg is None:
        cfg = saved["_cfg"] = run_config(saved["overrides"])
        saved["_ubm"] = speaker_ubm(cfg.cluster)
        saved["_scores"] = {}
    prints = saved["prints"] + saved.get("extra", [])
    names = [p.name for p in prints]
    enrolled = set(saved["enrolled"]) | {p.name for p in saved.get("extra", [])}
    total = np.zeros(6)
    for k, c in enumerate(saved["convs"]):
        if k not in saved["_scores"]:
            saved["_scores"][k] = match_scores(saved["_ubm"], c["stats"], prints, config=cfg)
        mapping = assign(rule(saved["_scores"][k]), threshold=threshold)
        rename = {c["speakers"][i]: names[j] for i, j in mapping.items()}
        total += score(c["conv"], [(a, b, rename.get(s, s)) for a, b, s in c["turns"]],
                       enrolled)
    return total


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bench_naming.add_run_args(ap)
    ap.add_argument("--thresholds", default="4,4.25,4.5")
    ap.add_argument("--rules", default="base", help=f"comma-separated, of {', '.join(RULES)}")
    ap.add_argument("--again", action="store_true", help="diarize the runs again")
    ap.add_argument("--distractors", action="store_true",
                    help="never-heard runs: also voiceprints of the other parts' voices "
                         "with 15 s or more of audio in the folder (heard by the run's "
                         "UBM), so that strangers meet as many voiceprints as in a folder "
                         "of dozens")
    a = ap.parse_args(argv)
    rules = [x for x in a.rules.split(",") if x]
    unknown = [r for r in rules if r not in RULES]
    if unknown:
        ap.error(f"unknown rule {unknown[0]!r} (one of {', '.join(RULES)})")
    if not bench_naming.check_run_args(ap, a, prog="naming_probe"):
        return 1
    runs, prepare = bench_naming.plan(a)
    for cmd in prepare:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)

    def probe(r) -> Path:
        return r.counts.parent / "probe.pkl"

    def cached(r) -> dict | None:
        """The run's saved capture if it exists and was made with the same options (a
        --set or a UBM of another call would otherwise be read as this one's)."""
        path = probe(r)
        if a.again or not path.exists():
            return None
        got = pickle.loads(path.read_bytes())
        return got if got.get("argv") == list(r.argv[2:]) else None

    saved = {r.name + r.group: cached(r) for r in runs}
    todo = [r for r in runs if saved[r.name + r.group] is None]

    def go(r) -> None:
        options = r.argv[2:]  # bench_voices.py's own options
        subprocess.run([sys.executable, __file__, "--capture", str(probe(r)), *options],
                       check=True)

    with ThreadPoolExecutor(max(1, a.jobs)) as pool:
        list(pool.map(go, todo))
    for r in todo:
        saved[r.name + r.group] = pickle.loads(probe(r).read_bytes())
    if a.distractors:
        made: dict[Path, list] = {}
        for r in runs:
            if r.group != "never-heard":
                continue
            part_train = Path(r.argv[r.argv.index("--train") + 1])
            run = saved[r.name + r.group]
            if part_train not in made:
                made[part_train] = distractors(
                    a.train, part_train, run["overrides"],
                    a.workdir / f"distractors{bench_naming.part_tag(a.parts)}_{r.name[0]}")
            run["extra"] = made[part_train]
    print("mean over each set's runs (and pooled): enrolled time named right / named time "
          "right / never-enrolled time named (%)")
    for rule in rules:
        for t in [float(x) for x in a.thresholds.split(",") if x]:
            cells = []
            for group in ("training", "never-heard"):
                counts = [rates(saved[r.name + r.group], RULES[rule], t)
                          for r in runs if r.group == group]
                if counts:
                    m = np.mean([shares(c) for c in counts], axis=0)
                    p = shares(np.sum(counts, axis=0))
                    cells.append(f"{group} {m[0]:5.1f} / {m[1]:5.1f} / {m[2]:4.1f} (pooled "
                                 f"{p[0]:.1f} / {p[1]:.1f} / {p[2]:.1f})")
            print(f"{rule:<14} {t:5.2f}   " + "   ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--capture":
        capture(sys.argv[3:], Path(sys.argv[2]))
        sys.exit(0)
    sys.exit(main())
