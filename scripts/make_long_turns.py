#!/usr/bin/env python
"""Build meeting-excerpt-like test recordings: a few long turns, short backchannels, far field.

    python scripts/make_long_turns.py --out DIR [--conversations 12] [--seed 0]
        [--train-dir ../shared/train/speech]
    python scripts/benchmark.py DIR --jobs 2 [--stages --per-file]

Issue 21's held-out AMI excerpt is three long turns (22, 15 and 15 s, three people) with
short backchannels between them, where the diarization gave one speaker, and splitting a
long turn between clusters is the other error it names. Neither ``../shared/eval/real``
(30 s AMI clips of short turns) nor ``../shared/eval/sim`` (1-12 s turns, every voice
back several times) has that shape. Each recording here is:

* three voices of ``../shared/train``, each speaking once, in turn: the first 10-15 s of
  one of its utterances (all of it when shorter), at +-4 dB, 0.1-0.6 s apart;
* inside each turn one or two backchannels (0.4-1.0 s cut from an utterance of a fourth
  voice or of another of the three, 2-8 dB below the turn, overlapping it);
* the mix through a synthetic room (exponential decay, RT60 0.3-0.6 s, the direct sound
  6 dB below the reverberation: a distant microphone) and pink noise 15-25 dB below the
  speech, peak at -20 dBFS.

Every ``X.wav`` gets ``X.rttm`` (the speech of each turn and backchannel, from the clean
source: pauses of 0.25 s or more inside them left out, as in ``../shared/eval/sim``,
:func:`bench_voices.speech_runs`) and ``X.json`` (what was done). The voices are the UBM's
training voices (``../shared/train``), which flatters linking as sim/ does; deterministic
for a seed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from bench_voices import SR, _loud_level, _noise, speech_runs  # noqa: E402

#: Seconds of each main turn (drawn), and of each backchannel.
TURN = (10.0, 15.0)
BACKCHANNEL = (0.4, 1.0)
#: dB: main voices' spread, backchannels below the turn, SNR of the noise.
LEVEL_SPREAD = 4.0
BACKCHANNEL_DB = (2.0, 8.0)
SNR_DB = (15.0, 25.0)
RT60 = (0.3, 0.6)
#: Direct sound against the reverberant tail (dB): a distant microphone.
DIRECT_DB = -6.0
#: The added noise's colour (:func:`bench_voices._noise`).
NOISE = "pink"
PEAK_DBFS = -20.0


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def _room(rng: np.random.Generator, y: np.ndarray, rt60: float) -> np.ndarray:
    """`y` through an exponentially decaying room response whose direct sound is
    :data:`DIRECT_DB` against its tail."""
    from scipy import signal

    n = max(int(rt60 * SR), 2)
    h = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
    h[0] = np.sqrt(np.sum(h[1:] ** 2)) * 10 ** (DIRECT_DB / 20)
    return signal.fftconvolve(y, h)[:len(y)] / np.sqrt(np.sum(h * h))


def voice_utterances(train_dir: Path) -> dict[str, list[Path]]:
    """The utterances (``.flac``) of `train_dir` by voice (the name's part before ``_``),
    in name order."""
    utterances: dict[str, list[Path]] = {}
    for p in sorted(train_dir.glob("*.flac")):
        utterances.setdefault(p.name.split("_")[0], []).append(p)
    return utterances


def mix_pieces(pieces: list, seconds: float) -> tuple[np.ndarray, list]:
    """`seconds` of `pieces` ((start s, samples, voice) each) added together, and the
    reference: (start, duration, voice) of each piece's speech (pauses of 0.25 s or more
    left out, :func:`bench_voices.speech_runs`)."""
    mix = np.zeros(int(seconds * SR))
    ref = []
    for start, y, who in pieces:
        i0 = int(round(start * SR))
        mix[i0:i0 + len(y)] += y
        ref += [(start + a, b - a, who) for a, b in speech_runs(y, _loud_level(y))]
    return mix, ref


def add_noise(rng: np.random.Generator, mix: np.ndarray, snr: float) -> np.ndarray:
    """`mix` with :data:`NOISE` noise `snr` dB under it, scaled to :data:`PEAK_DBFS` peak."""
    mix = mix + _noise(rng, len(mix), NOISE) * _rms(mix) * 10 ** (-snr / 20)
    return mix * (10 ** (PEAK_DBFS / 20) / max(float(np.max(np.abs(mix))), 1e-12))


def write_recording(out: Path, uri: str, mix: np.ndarray, ref: list, info: dict) -> None:
    """``uri.wav`` (16-bit), ``uri.rttm`` (`ref`) and ``uri.json`` (`info`) in `out`."""
    # 16-bit: a float WAV carries a PEAK chunk with the time it was written
    sf.write(out / f"{uri}.wav", mix.astype(np.float32), SR, subtype="PCM_16")
    lines = [f"SPEAKER {uri} 1 {s:.3f} {d:.3f} <NA> <NA> {who} <NA> <NA>\n"
             for s, d, who in sorted(ref)]
    (out / f"{uri}.rttm").write_text("".join(lines), encoding="utf-8")
    (out / f"{uri}.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")


def build_one(rng: np.random.Generator, uri: str, utterances: dict[str, list[Path]],
              out: Path) -> dict:
    """One recording and its reference in `out`; returns what was done to it."""
    voices = list(utterances)
    picked = [voices[i] for i in rng.choice(len(voices), 4, replace=False)]
    pieces = []  # (start s, clean samples at their level, voice)
    t = 0.5
    for k in range(3):
        y, _ = sf.read(utterances[picked[k]][0], dtype="float32")
        dur = min(len(y) / SR, float(rng.uniform(*TURN)))
        y = y[:int(dur * SR)].astype(np.float64)
        y *= 10 ** (rng.uniform(-LEVEL_SPREAD, LEVEL_SPREAD) / 20) / _rms(y)
        pieces.append((t, y, picked[k]))
        for _ in range(int(rng.integers(1, 3)) if dur > 3.0 else 0):
            who = picked[(k + 1 + int(rng.integers(0, 3))) % 4]
            z, _ = sf.read(utterances[who][0], dtype="float32")
            d = float(rng.uniform(*BACKCHANNEL))
            if len(z) / SR <= d:
                continue
            at = float(rng.uniform(0, len(z) / SR - d))
            z = z[int(at * SR):int((at + d) * SR)].astype(np.float64)
            z *= _rms(y) * 10 ** (-rng.uniform(*BACKCHANNEL_DB) / 20) / _rms(z)
            pieces.append((t + float(rng.uniform(1.0, dur - 1.0)), z, who))
        t += dur + float(rng.uniform(0.1, 0.6))
    mix, ref = mix_pieces(pieces, t + 0.5)
    rt60 = float(rng.uniform(*RT60))
    mix = _room(rng, mix, rt60)
    snr = float(rng.uniform(*SNR_DB))
    mix = add_noise(rng, mix, snr)
    info = {"voices": picked[:3], "backchannel_voice": picked[3], "rt60": round(rt60, 3),
            "direct_db": DIRECT_DB, "noise": NOISE, "snr_db": round(snr, 1),
            "duration": round(len(mix) / SR, 3)}
    write_recording(out, uri, mix, ref, info)
    return info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--conversations", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-dir", type=Path, default=REPO.parent / "shared" / "train" / "speech")
    a = ap.parse_args(argv)
    utterances = voice_utterances(a.train_dir)
    if len(utterances) < 4:
        print(f"make_long_turns: error: fewer than 4 voices in {a.train_dir}", file=sys.stderr)
        return 1
    a.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    for c in range(a.conversations):
        info = build_one(rng, f"long{c:02d}", utterances, a.out)
        print(f"long{c:02d}: {info['duration']:.1f} s, voices {', '.join(info['voices'])}, "
              f"RT60 {info['rt60']:.2f} s, {info['noise']} noise at {info['snr_db']:.0f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
