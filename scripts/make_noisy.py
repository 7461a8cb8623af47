#!/usr/bin/env python
"""Copies of a scored corpus with steady noise added at a signal-to-noise ratio.

Usage::

    python scripts/make_noisy.py ../shared/eval/sim --out DIR [--snr 12,18] [--colour white]

For every recording ``X.wav``/``X.flac`` with a reference ``X.rttm`` in the folder, writes
``DIR/<colour><snr>/X.wav`` (16-bit PCM, the recording's own sample rate) with Gaussian
noise added, and copies its ``.rttm`` (and ``.uem``, if any). The SNR is read against the
recording's speech: the RMS of the samples inside the reference's turns, so that a
recording with long pauses gets the same noise relative to its voices as one without.
Colours: ``white``; ``pink`` (-3 dB/octave); ``brown`` (-6 dB/octave). The noise of each
recording comes from a generator seeded with ``--seed`` and the file's name: the same
corpus every time. A corpus to check that a change for noisy recordings holds on voices
and conversations it was not chosen on (docs/stability.md, session 16).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from diarize.rttm import read_rttm  # noqa: E402
# the noise of the voiceprints' degraded enrolment copies
from diarize.voices import coloured_noise  # noqa: E402


def speech_rms(y: np.ndarray, sr: int, rttm: Path) -> float:
    """RMS of the samples inside the reference's turns (all of them if none)."""
    inside = np.zeros(len(y), dtype=bool)
    for turns in read_rttm(rttm).values():
        for t in turns:
            # the RTTM's own duration field: end - start can be an ulp under it, and the
            # sample count (so the noise level) would move
            a = int(t.start * sr)
            inside[a:a + int(round(t.duration, 6) * sr)] = True
    x = y[inside] if inside.any() else y
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if len(x) else 0.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--snr", default="12,18", help="dB, comma-separated")
    ap.add_argument("--colour", choices=("white", "pink", "brown"), default="white")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    audio = sorted(p for p in a.folder.iterdir()
                   if p.suffix in (".wav", ".flac") and p.with_suffix(".rttm").exists())
    if not audio:
        ap.error(f"{a.folder}: no recording with a reference .rttm beside it")
    for snr in (float(s) for s in a.snr.split(",") if s):
        out = a.out / f"{a.colour}{snr:g}"
        out.mkdir(parents=True, exist_ok=True)
        for p in audio:
            y, sr = sf.read(p, dtype="float64", always_2d=True)
            y = y.mean(axis=1)
            rng = np.random.default_rng([a.seed, zlib.crc32(p.stem.encode("utf-8"))])
            level = speech_rms(y, sr, p.with_suffix(".rttm"))
            z = y + coloured_noise(rng, len(y), a.colour, sr) * level * 10 ** (-snr / 20)
            peak = float(np.max(np.abs(z))) if len(z) else 0.0
            if peak > 0.999:  # keep the mix inside 16 bits: a gain changes no SNR
                z *= 0.999 / peak
            tmp = out / f".{p.stem}.wav.part"
            sf.write(tmp, z, sr, subtype="PCM_16", format="WAV")
            tmp.replace(out / f"{p.stem}.wav")
            for ext in (".rttm", ".uem"):
                if p.with_suffix(ext).exists():
                    shutil.copyfile(p.with_suffix(ext), out / f"{p.stem}{ext}")
        print(f"{out}: {len(audio)} recordings, {a.colour} noise at {snr:g} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
