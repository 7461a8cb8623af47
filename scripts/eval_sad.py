"""Score speech activity detection alone (no clustering) on the shared evaluation folders.

For each recording: load audio, compute features, run :func:`diarize.sad.detect_speech`,
and count, on a 10 ms grid, missed speech and false alarm the way NIST md-eval does for a
single-speaker collapse in the 'fair' condition (collar 0.25 s each side of every
reference boundary, overlapped reference speech excluded, scored region from the UEM or
first onset .. last offset). Totals are total error / total scored speech, not means.

    python scripts/eval_sad.py [--eval-dir ../shared/eval] [--folders real sim]
                               [--method model] [--set sad.key=value ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from diarize.audio import load_audio  # noqa: E402
from diarize.config import Config, parse_settings  # noqa: E402
from diarize.errors import ConfigError  # noqa: E402
from diarize.features import mfcc  # noqa: E402
from diarize.sad import detect_speech  # noqa: E402

STEP = 0.01
COLLAR = 0.25


def read_turns(path: Path) -> list[tuple[float, float, str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        f = line.split()
        if len(f) >= 8 and f[0] == "SPEAKER":
            out.append((float(f[3]), float(f[3]) + float(f[4]), f[7]))
    return out


def read_uem(path: Path) -> list[tuple[float, float]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        f = line.split()
        if len(f) >= 4 and not line.lstrip().startswith((";", "#")):
            out.append((float(f[2]), float(f[3])))
    return out


def fr(t: float) -> int:
    return int(round(t / STEP))


def score(sys_mask: np.ndarray, turns, uem) -> tuple[float, float, float]:
    """(scored speech s, missed s, false alarm s) in the fair condition."""
    end = max([b for _, b, _ in turns] + [b for _, b in uem] + [len(sys_mask) * STEP])
    n = fr(end) + 1
    count = np.zeros(n, dtype=np.int32)
    scored = np.zeros(n, dtype=bool)
    for a, b in uem:
        scored[fr(a):fr(b)] = True
    for a, b, _ in turns:
        count[fr(a):fr(b)] += 1
    for a, b, _ in turns:
        for t in (a, b):
            scored[max(0, fr(t - COLLAR)):fr(t + COLLAR)] = False
    scored &= count <= 1
    hyp = np.zeros(n, dtype=bool)
    m = min(n, len(sys_mask))
    hyp[:m] = sys_mask[:m]
    ref = count == 1
    speech = (scored & ref).sum() * STEP
    missed = (scored & ref & ~hyp).sum() * STEP
    fa = (scored & ~ref & hyp).sum() * STEP
    return speech, missed, fa


def audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in (".wav", ".flac")
                  and p.with_suffix(".rttm").exists())


def features(path: Path, cfg: Config, cache: Path | None):
    if cache is not None:
        c = cache / path.parent.name / (path.stem + ".npz")
        if c.exists():
            d = np.load(c, allow_pickle=False)
            if "voicing" in d.files:  # caches written before the voicing are recomputed
                return d["feats"], d["energy"], d["voicing"], float(d["seconds"])
    y = load_audio(path, config=cfg.audio)
    feats, energy, voicing = mfcc(y, sample_rate=cfg.audio.sample_rate, config=cfg.features,
                                  voicing=True)
    seconds = len(y) / cfg.audio.sample_rate
    if cache is not None:
        c.parent.mkdir(parents=True, exist_ok=True)
        np.savez(c, feats=feats, energy=energy, voicing=voicing, seconds=seconds)
    return feats, energy, voicing, seconds


def run_one(args):
    path, cfg, cache = args
    t0 = time.perf_counter()
    feats, energy, voicing, seconds = features(path, cfg, cache)
    t1 = time.perf_counter()
    mask = detect_speech(feats, energy, voicing, config=cfg.sad, frame_step=cfg.features.hop_length,
                         seed=cfg.seed)
    t2 = time.perf_counter()
    turns = read_turns(path.with_suffix(".rttm"))
    uem_path = path.with_suffix(".uem")
    if uem_path.exists():
        uem = read_uem(uem_path)
    else:
        uem = [(min(a for a, _, _ in turns), max(b for _, b, _ in turns))]
    speech, missed, fa = score(mask, turns, uem)
    return path.stem, seconds, speech, missed, fa, t1 - t0, t2 - t1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eval-dir", default=str(ROOT.parent / "shared" / "eval"))
    ap.add_argument("--folders", nargs="+", default=["real", "sim"])
    ap.add_argument("--method", default=None, help="sad.method ('model' or 'energy')")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="SadConfig overrides, e.g. threshold=0.5")
    ap.add_argument("--cache", default=None, help="folder caching features between runs")
    ap.add_argument("--quiet", action="store_true", help="totals only")
    a = ap.parse_args(argv)
    over = {}
    if a.method:
        over["sad.method"] = a.method
    try:
        settings = parse_settings(a.set)
    except ConfigError as exc:
        ap.error(str(exc))
    over.update({"sad." + k.removeprefix("sad."): v for k, v in settings.items()})
    cfg = Config().replace(**over) if over else Config()
    cache = Path(a.cache) if a.cache else None
    print(f"sad.method = {cfg.sad.method}")
    rc = 0
    with Pool(2) as pool:
        for name in a.folders:
            folder = Path(a.eval_dir) / name
            if not folder.is_dir():
                print(f"{folder}: missing, skipped")
                rc = 1
                continue
            res = pool.map(run_one, [(p, cfg, cache) for p in audio_files(folder)])
            tot = np.zeros(3)
            audio_s = sad_s = 0.0
            if not a.quiet:
                print(f"\n{name}/  {'file':<22}{'speech s':>9}{'miss %':>8}{'FA %':>8}{'sum %':>8}")
            for stem, seconds, speech, missed, fa, tf, ts in res:
                tot += (speech, missed, fa)
                audio_s += seconds
                sad_s += ts
                if not a.quiet:
                    d = max(speech, 1e-9)
                    print(f"       {stem:<22}{speech:9.1f}{100 * missed / d:8.1f}{100 * fa / d:8.1f}"
                          f"{100 * (missed + fa) / d:8.1f}")
            sp, mi, fa = tot
            print(f"{name + '/':<6} TOTAL  scored speech {sp:7.1f} s  missed {100 * mi / sp:5.1f} %  "
                  f"false alarm {100 * fa / sp:5.1f} %  sum {100 * (mi + fa) / sp:5.1f} %   "
                  f"(SAD {sad_s:.2f} s for {audio_s / 60:.1f} min audio)")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
