#!/usr/bin/env python
"""Long-recording benchmark: wall time, peak memory and fair DER on 30 min, 1 h, 3 h and 6 h.

The recordings are built by repeating one of the longer 2-3 speaker conversations of
``../shared/eval/sim`` (by default the longest one; same speakers throughout) end to end
and cutting at the target length; the reference is repeated with it, shifted by the
offsets and clipped at the cut, so it stays exact. Each recording is written as FLAC to a
temporary folder and diarized as a user would: ``python -m diarize FILE -o OUT`` under
``/usr/bin/time -v`` (peak RSS and wall time parsed from its report; without
``/usr/bin/time`` the script falls back to ``resource.getrusage(RUSAGE_CHILDREN)``).

Usage::

    python scripts/bench_long.py                       # original + 30 min, 1 h, 3 h, 6 h
    python scripts/bench_long.py --lengths 600 1800    # other lengths (seconds)
    python scripts/bench_long.py --stages --lengths 10800   # in-process, RSS per stage
    python scripts/bench_long.py --lengths 3600 --preset noisy   # the CLI with a preset

Prints a Markdown table; the targets: 6 h peak RSS < 500 MiB, 1 h wall time < 12 s, 3 h and
6 h wall times at most 3.3 x and 6.6 x the 1 h time, every long recording's fair DER
within 5 points of the original's.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))
EVAL = REPO.parent / "shared" / "eval"


# ----------------------------------------------------------------------------- RTTM
def read_rttm(path: Path) -> list[tuple[float, float, str]]:
    """(start, end, speaker) of every SPEAKER line (of every file id), read by the
    package's own RTTM reader (a malformed line is refused, naming the file and line)."""
    from diarize import rttm

    return [(t.start, t.end, t.speaker)
            for turns in rttm.read_rttm(path).values() for t in turns]


def write_rttm(path: Path, uri: str, turns) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for a, b, s in turns:
            f.write(f"SPEAKER {uri} 1 {a:.3f} {b - a:.3f} <NA> <NA> {s} <NA> <NA>\n")


# ----------------------------------------------------------------------------- DER
def fair_der(ref, hyp, duration: float, *, collar: float = 0.25,
             skip_overlap: bool = True) -> float:
    """Fair DER (%) of `hyp` against `ref` over [0, duration], scored by diarize.metrics."""
    from diarize.metrics import evaluate
    from diarize.segments import Turn

    def as_turns(turns):
        return {"rec": [Turn(a, b, s) for a, b, s in turns]}

    result = evaluate(as_turns(ref), as_turns(hyp), uem={"rec": [(0.0, duration)]},
                      collar=collar, skip_overlap=skip_overlap)
    return result.total.der


# ----------------------------------------------------------------------------- data
def pick_source(sim: Path) -> Path:
    """The longest conversation of `sim` with 2 or 3 speakers."""
    best, best_dur = None, -1.0
    for rttm in sorted(sim.glob("*.rttm")):
        spk = {s for _, _, s in read_rttm(rttm)}
        audio = next((p for p in (rttm.with_suffix(".flac"), rttm.with_suffix(".wav")) if p.exists()), None)
        if audio is None or len(spk) not in (2, 3):
            continue
        dur = sf.info(str(audio)).duration
        if dur > best_dur:
            best, best_dur = audio, dur
    if best is None:
        sys.exit(f"bench_long: no 2-3 speaker recording in {sim}")
    return best


def build_long(src: Path, seconds: float, out: Path) -> list[tuple[float, float, str]]:
    """Write `src` repeated and cut at `seconds` to `out` (FLAC/WAV by suffix), block by
    block; return the reference repeated, shifted and clipped the same way."""
    info = sf.info(str(src))
    sr = info.samplerate
    data, _ = sf.read(str(src), dtype="int16", always_2d=True)
    n_src = len(data)
    n_total = int(round(seconds * sr))
    ref = read_rttm(src.with_suffix(".rttm"))
    turns = []
    with sf.SoundFile(str(out), "w", samplerate=sr, channels=data.shape[1],
                      subtype="PCM_16") as f:
        pos = 0
        while pos < n_total:
            take = min(n_src, n_total - pos)
            f.write(data[:take])
            off = pos / sr
            end = (pos + take) / sr
            for a, b, s in ref:
                a2, b2 = a + off, min(b + off, end)
                if a2 < end and b2 > a2:
                    turns.append((round(a2, 3), round(b2, 3), s))
            pos += take
    return turns


# ----------------------------------------------------------------------------- running
def _parse_elapsed(text: str) -> float:
    m = re.search(r"Elapsed \(wall clock\) time.*?: ([\d:.]+)", text)
    if not m:
        return float("nan")
    parts = [float(p) for p in m.group(1).split(":")]
    sec = 0.0
    for p in parts:
        sec = sec * 60 + p
    return sec


def diarize_cli(audio: Path, outdir: Path, preset: str | None = None
                ) -> tuple[float, float, float, str]:
    """Run the CLI on `audio` (with ``--preset``, given); return (wall seconds, CPU
    seconds, peak RSS MiB, stderr).

    CPU time (user + system) is reported next to wall time because on a shared machine
    wall time also measures the other processes."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "diarize", str(audio), "-o", str(outdir), "-q",
           *(["--preset", preset] if preset else [])]
    timer = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
    if timer:
        t0 = time.perf_counter()
        p = subprocess.run([timer, "-v", *cmd], cwd=REPO, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            sys.exit(f"bench_long: diarize failed on {audio}:\n{p.stderr}")
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
        rss = int(m.group(1)) / 1024 if m else float("nan")
        wall = _parse_elapsed(p.stderr) if m else wall
        cpu = sum(float(x) for x in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", p.stderr))
        return wall, cpu, rss, p.stderr
    # Fallback: getrusage of children (ru_maxrss is the largest child so far, in KiB).
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"bench_long: diarize failed on {audio}:\n{p.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    rss = after.ru_maxrss / 1024  # the largest child so far (KiB on Linux)
    return wall, cpu, rss, p.stderr


def _fmt_len(sec: float) -> str:
    sec = int(round(sec))
    h, rem = divmod(sec, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}"


# ----------------------------------------------------------------------------- stages
def stage_profile(audio: Path) -> None:
    """Run the pipeline in-process and print time, RSS and peak RSS after each stage."""
    sys.path.insert(0, str(REPO))
    from diarize.pipeline import Diarizer

    def mem() -> tuple[float, float]:
        vals = {}
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(("VmRSS", "VmHWM")):
                k, v = line.split(":")
                vals[k] = int(v.split()[0]) / 1024
        return vals.get("VmRSS", float("nan")), vals.get("VmHWM", float("nan"))

    t0 = time.perf_counter()
    last = [t0, time.process_time()]

    def hook(stage: str, done: int, total: int) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        rss, hwm = mem()
        what = "start" if done == 0 else "end"
        print(f"| {stage} {what} | {now - last[0]:.1f} | {cpu - last[1]:.1f} | {rss:.0f} | {hwm:.0f} |",
              flush=True)
        last[:] = [now, cpu]

    print(f"\nStages on {audio.name} ({_fmt_len(sf.info(str(audio)).duration)}), in-process:\n")
    print("| point | wall s since previous point | CPU s since previous point | RSS MiB | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|")
    rss, hwm = mem()
    print(f"| imports done | 0.0 | 0.0 | {rss:.0f} | {hwm:.0f} |")
    d = Diarizer()
    # Loading happens inside __call__ before the first hook, so the first row covers it.
    d(audio, hook=hook)
    rss, hwm = mem()
    print(f"| returned | {time.perf_counter() - last[0]:.1f} | {time.process_time() - last[1]:.1f} | "
          f"{rss:.0f} | {hwm:.0f} |")
    print(f"\ntotal {time.perf_counter() - t0:.1f} s wall, {time.process_time():.1f} s CPU")


# ----------------------------------------------------------------------------- main
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", type=Path, help="conversation to repeat (default: longest 2-3 speaker one in sim/)")
    ap.add_argument("--lengths", type=float, nargs="+", default=[1800, 3600, 10800, 21600],
                    help="recording lengths in seconds (default: 1800 3600 10800 21600)")
    ap.add_argument("--format", choices=["flac", "wav"], default="flac")
    ap.add_argument("--workdir", type=Path, help="keep generated files here (default: a temp dir, removed)")
    ap.add_argument("--preset", help="shipped preset the CLI runs with (default: none)")
    ap.add_argument("--stages", action="store_true",
                    help="instead of the CLI runs, profile the pipeline stages in-process on the longest length")
    args = ap.parse_args(argv)

    src = args.source or pick_source(EVAL / "sim")
    if not src.exists():
        sys.exit(f"bench_long: {src}: no such file (is ../shared/eval there?)")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_long_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.stages:
            length = max(args.lengths)
            path = work / f"long_{int(length)}.{args.format}"
            build_long(src, length, path)
            stage_profile(path)
            return
        ref0 = read_rttm(src.with_suffix(".rttm"))
        dur0 = sf.info(str(src)).duration
        print(f"Source: {src.name}, {_fmt_len(dur0)}, {len({s for *_, s in ref0})} speakers; "
              f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs", flush=True)
        rows = []
        out = work / "out"
        out.mkdir(exist_ok=True)
        jobs = [("original", src, ref0, dur0)]
        for length in args.lengths:
            path = work / f"long_{int(length)}.{args.format}"
            ref = build_long(src, length, path)
            jobs.append((_fmt_len(length), path, ref, sf.info(str(path)).duration))
        for label, path, ref, dur in jobs:
            wall, cpu, rss, _ = diarize_cli(path, out, args.preset)
            hyp = read_rttm(out / f"{path.stem}.rttm")
            der = fair_der(ref, hyp, dur)
            n_spk = len({s for *_, s in hyp})
            rows.append((label, dur, wall, cpu, rss, der, n_spk))
            print(f"  {label}: {wall:.1f} s wall, {cpu:.1f} s CPU, {rss:.0f} MiB, fair DER {der:.2f} %, "
                  f"{n_spk} speakers", flush=True)
            if path != src:
                path.unlink()
        print(f"\nLoad average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
        print("| recording | length | wall time | CPU time | peak RSS | fair DER | speakers found |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for label, dur, wall, cpu, rss, der, n_spk in rows:
            print(f"| {label} | {_fmt_len(dur)} | {wall:.1f} s | {cpu:.1f} s | "
                  f"{rss:.0f} MiB | {der:.2f} % | {n_spk} |")
        by = {r[0]: r for r in rows}
        base_der = rows[0][5]
        print()
        if "1:00:00" in by and "3:00:00" in by:
            ratio = by["3:00:00"][2] / by["1:00:00"][2]
            cratio = by["3:00:00"][3] / by["1:00:00"][3]
            rss3 = by["3:00:00"][4]
            wall1 = by["1:00:00"][2]
            print(f"- 1 h wall time {wall1:.1f} s (bar < 12 s): {'PASS' if wall1 < 12 else 'FAIL'}")
            print(f"- 3 h peak RSS {rss3:.0f} MiB")
            print(f"- 3 h / 1 h wall time {ratio:.2f} (bar <= 3.3): {'PASS' if ratio <= 3.3 else 'FAIL'}"
                  f" (CPU time ratio {cratio:.2f})")
        if "1:00:00" in by and "6:00:00" in by:
            ratio = by["6:00:00"][2] / by["1:00:00"][2]
            rss6 = by["6:00:00"][4]
            print(f"- 6 h peak RSS {rss6:.0f} MiB (bar < 500 MiB): {'PASS' if rss6 < 500 else 'FAIL'}")
            print(f"- 6 h / 1 h wall time {ratio:.2f} (bar <= 6.6): {'PASS' if ratio <= 6.6 else 'FAIL'}")
        worst = max((abs(r[5] - base_der) for r in rows[1:]), default=0.0)
        print(f"- largest fair-DER change vs original {worst:.2f} points (bar <= 5): "
              f"{'PASS' if worst <= 5 else 'FAIL'}")
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
