#!/usr/bin/env python
"""Build broadcast-like test recordings: many voices, each speaking once, briefly.

    python scripts/split_train.py --out S
    python scripts/train_ubm.py --out S/ubm_without_A.npz --exclude-speakers-of S/A.json
    python scripts/make_many_voices.py --out MA --train-dir S/A/speech --seed 0
    python scripts/make_many_voices.py --out MAr --train-dir S/A/speech --seed 1 --room
    python scripts/benchmark.py MA MAr --jobs 2 --stages --per-file \\
        --variant "base:cluster.ubm_path='S/ubm_without_A.npz'"

Issue 21's held-out set holds a broadcast-news excerpt of 9 speakers, and
``../shared/eval/real/diarizationExample2`` is 6 voices of 3-5 s each; neither dev corpus
has many voices that each say little (sim/'s voices come back many times, the AMI clips
have 3-4 people). Each recording here is:

* 5-9 voices of ``--train-dir``, each speaking once, in turn: the first 2.5-6 s of one of
  its utterances (all of it when shorter), at +-4 dB, 0.1-0.5 s apart; the first voice (an
  anchor) comes back once or twice with its next utterances;
* pink noise 20-35 dB below the speech, and with ``--room`` first a synthetic room (RT60
  0.3-0.6 s, the direct sound 6 dB below the reverberation, as
  ``scripts/make_long_turns.py``); peak at -20 dBFS.

Every ``X.wav`` gets ``X.rttm`` (the speech of each turn, from the clean source: pauses of
0.25 s or more left out, as in ``../shared/eval/sim``) and ``X.json`` (the voices, in the
order they speak, and what was done). Deterministic for a seed. Take the voices from a
half that the UBM was trained without (above): the shipped UBM heard every voice of
``../shared/train``, which flatters linking.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from bench_voices import SR  # noqa: E402
# the noise, peak level, room and file writing of scripts/make_long_turns.py
from make_long_turns import (NOISE, _rms, _room, add_noise, mix_pieces,  # noqa: E402
                             voice_utterances, write_recording)

#: Voices per recording (drawn, inclusive), seconds of each turn, seconds between turns.
VOICES = (5, 9)
TURN = (2.5, 6.0)
GAP = (0.1, 0.5)
#: How many times the anchor (the first voice) comes back (drawn, inclusive).
RETURNS = (1, 2)
#: dB: the voices' level spread, and the noise below the speech.
LEVEL_SPREAD = 4.0
SNR_DB = (20.0, 35.0)
RT60 = (0.3, 0.6)
#: Seconds of silence before the first turn and after the last.
EDGE = 0.3


def build_one(rng: np.random.Generator, uri: str, utterances: dict[str, list[Path]],
              out: Path, *, room: bool) -> dict:
    """One recording and its reference in `out`; returns what was done to it."""
    voices = list(utterances)
    k = int(rng.integers(VOICES[0], VOICES[1] + 1))
    picked = [voices[i] for i in rng.choice(len(voices), k, replace=False)]
    order = list(range(k))
    for _ in range(int(rng.integers(RETURNS[0], RETURNS[1] + 1))):
        order.insert(int(rng.integers(2, len(order) + 1)), 0)
    t = EDGE
    pieces = []  # (start s, clean samples at their level, voice)
    used: dict[int, int] = {}
    for v in order:
        files = utterances[picked[v]]
        n = used.get(v, 0)
        used[v] = n + 1
        y, _ = sf.read(files[n % len(files)], dtype="float32")
        dur = min(len(y) / SR, float(rng.uniform(*TURN)))
        y = y[:int(dur * SR)].astype(np.float64)
        y *= 10 ** (rng.uniform(-LEVEL_SPREAD, LEVEL_SPREAD) / 20) / _rms(y)
        pieces.append((t, y, picked[v]))
        t += dur + float(rng.uniform(*GAP))
    mix, ref = mix_pieces(pieces, t + EDGE)
    info: dict = {"voices": picked, "order": order}
    if room:
        rt60 = float(rng.uniform(*RT60))
        mix = _room(rng, mix, rt60)
        info["rt60"] = round(rt60, 3)
    snr = float(rng.uniform(*SNR_DB))
    mix = add_noise(rng, mix, snr)
    info.update(noise=NOISE, snr_db=round(snr, 1), duration=round(len(mix) / SR, 3))
    write_recording(out, uri, mix, ref, info)
    return info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--recordings", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--room", action="store_true", help="a synthetic room before the noise")
    ap.add_argument("--train-dir", type=Path, default=REPO.parent / "shared" / "train" / "speech")
    a = ap.parse_args(argv)
    utterances = voice_utterances(a.train_dir)
    if len(utterances) < VOICES[1]:
        print(f"make_many_voices: error: fewer than {VOICES[1]} voices in {a.train_dir}",
              file=sys.stderr)
        return 1
    a.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    for c in range(a.recordings):
        uri = f"many{c:02d}"
        info = build_one(rng, uri, utterances, a.out, room=a.room)
        print(f"{uri}: {info['duration']:.1f} s, {len(info['voices'])} voices, "
              f"{info['noise']} noise at {info['snr_db']:.0f} dB"
              + (f", RT60 {info['rt60']:.2f} s" if "rt60" in info else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
