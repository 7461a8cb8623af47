#!/usr/bin/env python
"""Does the recording's level change the result? Every sim recording diarized at several
peak levels (and, with ``--noise``, with faint white noise added), scored and compared
with the run as recorded.

Each recording of ``../shared/eval/sim`` is decoded to float32 and diarized through the
Python API as it is (the reference run) and scaled by one constant per level so that its
peak reads LEVEL dBFS (default 0, -20, -40, -60 and -80). Per level it prints the fair DER
of the set (collar 0.25 s per side, overlap skipped, over ``<stem>.uem`` where there is one;
total error over total scored time)
and how many recordings give an RTTM byte-identical to the unscaled run's. With ``--noise
-70,-60`` each recording is also diarized at its own level with white noise of that RMS
(dBFS, seeded per recording) added: a perturbation nobody hears, which must not regroup
the speakers. With ``--channel tilt,lowpass2500`` each recording is also diarized through
another channel, at its own peak level: ``tilt`` a first-order pre-emphasis (1 - 0.95
z^-1, about +6 dB per octave: a thin, close microphone), ``lowpassF`` a 4th-order
Butterworth low-pass at F Hz (a muffled one), ``msadpcm``, ``imaadpcm`` or ``ulaw`` the
recording written as a WAV of that codec and read back (a dictaphone's, a telephone's). ``--save DIR`` also writes every
condition's signals as float WAV files, with the references beside them
(``DIR/level-40/``, ``DIR/noise-70/``, ...), for ``scripts/benchmark.py --stages`` to split
the damage between the stages.

Usage::

    python scripts/check_level.py [--levels 0,-20,-40,-60,-80] [--noise -70,-60]
        [--channel tilt,lowpass2500] [--jobs 2] [--dir DIR] [--set KEY=VALUE ...] [--save DIR]

Prints a Markdown table; exits 1 if any level's fair DER is more than TOLERANCE points
(default 0.5) from the unscaled run's.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))
SIM = REPO.parent / "shared" / "eval" / "sim"


def _condition_name(level: float | None, noise: float | None, channel: str | None = None
                    ) -> str:
    """The folder ``--save`` writes a condition's signals into."""
    if channel is not None:
        return f"channel-{channel}"
    return f"level{level:g}" if level is not None else f"noise{noise:g}"


#: Channels that are a codec: the recording written as a WAV of that libsndfile subtype
#: and read back (what a dictaphone's ADPCM or a telephone's mu-law does to it).
CODECS = {"msadpcm": "MS_ADPCM", "imaadpcm": "IMA_ADPCM", "ulaw": "ULAW"}


def _lowpass_hz(channel: str) -> float | None:
    """The cut-off of a ``lowpassF`` channel, None for ``tilt`` or a codec; ValueError
    otherwise."""
    if channel == "tilt" or channel in CODECS:
        return None
    try:
        if channel.startswith("lowpass"):
            hz = float(channel[len("lowpass"):])
            if math.isfinite(hz) and hz > 0:
                return hz
    except ValueError:
        pass
    raise ValueError(f"unknown channel {channel!r}: tilt, lowpassF (F in Hz) or a codec "
                     f"({', '.join(CODECS)})")


def _through_channel(x, rate: int, channel: str):
    """`x` (float32) through `channel` (``tilt`` or ``lowpassF``), at its own peak level."""
    import io

    import numpy as np
    import soundfile as sf
    from scipy.signal import butter, lfilter, sosfilt

    if channel in CODECS:
        coded = io.BytesIO()
        sf.write(coded, x, rate, format="WAV", subtype=CODECS[channel])
        coded.seek(0)
        return sf.read(coded, dtype="float32")[0][:len(x)]  # ADPCM pads its last block
    cutoff = _lowpass_hz(channel)
    if cutoff is None:
        y = lfilter([1.0, -0.95], [1.0], x.astype(np.float64))
    else:
        y = sosfilt(butter(4, cutoff, fs=rate, btype="low", output="sos"),
                    x.astype(np.float64))
    peak = float(np.max(np.abs(y)))
    if peak > 0:
        y *= float(np.max(np.abs(x))) / peak
    return y.astype(np.float32)


def _run(task: tuple[str, list[float], list[float], list[str], dict, str]
         ) -> tuple[str, list[tuple[str, float, float]]]:
    """(uri, [(rttm, error seconds, scored seconds) for the unscaled run, each level, each
    noise level and each channel])"""
    import warnings

    import numpy as np
    import soundfile as sf

    from diarize import Diarizer
    from diarize.rttm import read_rttm, read_uem
    from diarize.metrics import ScoringWarning, evaluate

    import shutil

    path, levels, noises, channels, overrides, save = task
    samples, rate = sf.read(path, dtype="float32")
    peak = float(np.max(np.abs(samples)))
    diarizer = Diarizer(**{k.replace(".", "__"): v for k, v in overrides.items()})
    uri = Path(path).stem
    reference = read_rttm(Path(path).with_suffix(".rttm"))
    uem_path = Path(path).with_suffix(".uem")
    uem = read_uem(uem_path) if uem_path.exists() else None  # as scripts/benchmark.py
    rows = []
    # The noise is seeded by the file's name: the same for every run and every level.
    rng = np.random.default_rng(sum(uri.encode()))
    white = rng.standard_normal(samples.shape).astype(np.float32)
    conditions = [(None, None, None), *((lv, None, None) for lv in levels),
                  *((None, nz, None) for nz in noises), *((None, None, c) for c in channels)]
    for level, noise, channel in conditions:
        x = samples if level is None else (
            samples * np.float32(10.0 ** (level / 20.0) / peak)).astype(np.float32)
        if noise is not None:
            x = (x + white * np.float32(10.0 ** (noise / 20.0))).astype(np.float32)
        if channel is not None:
            x = _through_channel(x, rate, channel)
        if save and (level, noise, channel) != (None, None, None):
            out = Path(save) / _condition_name(level, noise, channel)
            out.mkdir(parents=True, exist_ok=True)
            sf.write(out / f"{uri}.wav", x, rate, subtype="FLOAT")
            for ref in (Path(path).with_suffix(".rttm"), uem_path):
                if ref.exists():
                    shutil.copyfile(ref, out / ref.name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "no speech found" is counted, not printed
            hyp = diarizer((x, rate), uri=uri)
        hypothesis = {key: list(hyp.turns) for key in reference}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ScoringWarning)
            total = evaluate(reference, hypothesis, uem=uem, collar=0.25,
                             skip_overlap=True).total
        rows.append((hyp.to_rttm(), total.error, total.scored))
    return uri, rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--levels", default="0,-20,-40,-60,-80",
                    help="peak levels in dBFS, comma-separated")
    ap.add_argument("--noise", default="",
                    help="RMS levels in dBFS of white noise added, comma-separated")
    ap.add_argument("--channel", default="",
                    help="channels to pass the audio through, comma-separated: tilt, "
                         "lowpassF (F in Hz), msadpcm, imaadpcm, ulaw")
    ap.add_argument("--tolerance", type=float, default=0.5, help="points of fair DER")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--dir", type=Path, default=SIM)
    ap.add_argument("--save", type=Path, default=None, metavar="DIR",
                    help="also write each condition's signals and references here")
    args = ap.parse_args(argv)
    levels = [float(v) for v in args.levels.split(",") if v]
    noises = [float(v) for v in args.noise.split(",") if v]
    channels = [c for c in args.channel.split(",") if c]
    for c in channels:
        try:
            _lowpass_hz(c)
        except ValueError as exc:
            ap.error(f"--channel: {exc}")
    files = sorted(p for p in args.dir.iterdir()
                   if p.suffix in (".wav", ".flac") and p.with_suffix(".rttm").exists())
    if not files:
        print(f"no recordings with references in {args.dir}", file=sys.stderr)
        return 2
    from benchmark import UsageError, parse_set  # the benchmark's --set, as it reads it

    try:
        overrides = parse_set(args.overrides)
    except UsageError as exc:
        ap.error(str(exc))
    tasks = [(str(p), levels, noises, channels, overrides, str(args.save or ""))
             for p in files]
    if args.jobs > 1:
        with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
            results = pool.map(_run, tasks, chunksize=1)
    else:
        results = [_run(t) for t in tasks]

    def der(i: int) -> float:
        err = sum(rows[i][1] for _, rows in results)
        tot = sum(rows[i][2] for _, rows in results)
        return 100.0 * err / tot if tot else 0.0

    base = der(0)
    print(f"{len(results)} recordings of {args.dir}\n")
    print("| condition | fair DER | change | RTTMs identical to the unscaled run | "
          "recordings with no turns |")
    print("|---|---|---|---|---|")
    print(f"| as recorded | {base:.2f} | | | "
          f"{sum(not rows[0][0] for _, rows in results)} |")
    worst = 0.0
    names = ([f"{lv:g} dBFS" for lv in levels] + [f"noise {nz:g} dBFS RMS" for nz in noises]
             + [f"channel {c}" for c in channels])
    for i, name in enumerate(names, start=1):
        same = sum(rows[i][0] == rows[0][0] for _, rows in results)
        empty = sum(not rows[i][0] for _, rows in results)
        worst = max(worst, abs(der(i) - base))
        print(f"| {name} | {der(i):.2f} | {der(i) - base:+.2f} | "
              f"{same}/{len(results)} | {empty} |")
    differ = sorted({uri for uri, rows in results for r in rows[1:] if r[0] != rows[0][0]})
    if differ:
        print(f"\nrecordings that differ in some condition: {', '.join(differ)}")
    print(f"\nlargest change {worst:.2f} points (tolerance {args.tolerance:g})")
    return 1 if worst > args.tolerance else 0


if __name__ == "__main__":
    sys.exit(main())
