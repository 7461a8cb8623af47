#!/usr/bin/env python3
"""Generate the small synthetic recordings in ``audio_fixtures/`` with their reference RTTM.

Each "voice" is a source-filter synthesiser: a glottal pulse train (its own pitch range,
jitter and shimmer) through a cascade of formant resonators whose frequencies follow a
random sequence of vowels, scaled by the speaker's vocal-tract length. Turns of 1.5-4 s
alternate between voices, separated by short pauses of low-level noise. Deterministic:
rerunning the script rewrites byte-identical files.

Usage: python scripts/make_fixtures.py [OUTDIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile as sf

SR = 16000
# (F1, F2, F3) of a few vowels for an adult male vocal tract, Hz.
VOWELS = np.array([[730, 1090, 2440], [270, 2290, 3010], [530, 1840, 2480],
                   [570, 840, 2410], [300, 870, 2240], [660, 1720, 2410]], dtype=float)
BANDWIDTHS = np.array([80.0, 100.0, 140.0])

# name: (mean F0 Hz, F0 spread, formant scale = inverse relative vocal-tract length, level)
VOICES = {
    "alice": (215.0, 25.0, 1.18, 0.30),
    "bob": (105.0, 12.0, 0.95, 0.35),
    "carol": (165.0, 20.0, 1.08, 0.25),
}


def synth_voice(duration: float, voice: tuple, rng: np.random.Generator) -> np.ndarray:
    f0_mean, f0_spread, scale, level = voice
    n = int(duration * SR)
    # syllable-rate pitch contour
    knots = max(2, int(duration * 4))
    f0 = np.interp(np.arange(n), np.linspace(0, n, knots), f0_mean + f0_spread * rng.standard_normal(knots))
    f0 *= 1 + 0.01 * rng.standard_normal(n).cumsum() / np.sqrt(np.arange(1, n + 1))
    phase = np.cumsum(f0 / SR)
    pulses = np.diff(np.floor(phase), prepend=0.0)
    source = scipy.signal.lfilter([1.0], [1.0, -0.97], pulses)  # glottal roll-off
    source += 0.02 * rng.standard_normal(n)  # aspiration
    out = np.zeros(n)
    seg = int(0.18 * SR)  # one vowel per ~180 ms syllable
    for a in range(0, n, seg):
        b = min(n, a + seg)
        formants = VOWELS[rng.integers(len(VOWELS))] * scale
        x = source[a:b]
        for f, bw in zip(formants, BANDWIDTHS):
            r = np.exp(-np.pi * bw / SR)
            x = scipy.signal.lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / SR), r * r], x)
        env = np.sin(np.linspace(0, np.pi, b - a)) ** 0.5  # syllable envelope
        out[a:b] = x * env
    out /= np.max(np.abs(out)) + 1e-9
    return level * out


def make(name: str, speakers: list[str], n_turns: int, seed: int, outdir: Path) -> None:
    rng = np.random.default_rng(seed)
    pieces, lines, t = [], [], 0.0
    pause = lambda d: 0.002 * rng.standard_normal(int(d * SR))  # noqa: E731
    lead = pause(0.5)
    pieces.append(lead)
    t += len(lead) / SR
    prev = None
    for i in range(n_turns):
        spk = speakers[i % len(speakers)] if prev is None or len(speakers) == 2 else \
            rng.choice([s for s in speakers if s != prev])
        dur = float(rng.uniform(1.5, 4.0))
        x = synth_voice(dur, VOICES[spk], rng)
        pieces.append(x)
        lines.append(f"SPEAKER {name} 1 {t:.3f} {len(x) / SR:.3f} <NA> <NA> {spk} <NA> <NA>\n")
        t += len(x) / SR
        gap = pause(float(rng.uniform(0.3, 0.8)))
        pieces.append(gap)
        t += len(gap) / SR
        prev = spk
    y = np.concatenate(pieces).astype(np.float32)
    sf.write(outdir / f"{name}.wav", y, SR, subtype="PCM_16")
    (outdir / f"{name}.rttm").write_text("".join(lines), encoding="utf-8")


def main() -> None:
    outdir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "audio_fixtures"
    outdir.mkdir(parents=True, exist_ok=True)
    make("two_speakers", ["alice", "bob"], 10, seed=1, outdir=outdir)
    make("three_speakers", ["alice", "bob", "carol"], 12, seed=2, outdir=outdir)
    print(f"wrote fixtures to {outdir}")


if __name__ == "__main__":
    main()
