"""Short synthetic recordings for the batch tests (two alternating 'voices' and pauses)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16000
#: Fundamental frequencies (Hz) of the synthetic voices.
VOICES = (110.0, 190.0, 300.0)
TURN_SECONDS = 0.8
PAUSE_SECONDS = 0.25


def make_recording(path: Path, *, seconds: float = 4.0, seed: int = 0, voices: int = 2) -> Path:
    """Write a mono 16 kHz WAV/FLAC of alternating harmonic 'voices' separated by pauses."""
    rng = np.random.default_rng(seed)
    n_turn, n_pause = int(TURN_SECONDS * RATE), int(PAUSE_SECONDS * RATE)
    parts, k = [], 0
    while sum(map(len, parts)) < seconds * RATE:
        f0 = VOICES[k % voices] * (1 + 0.03 * rng.standard_normal())
        t = np.arange(n_turn) / RATE
        tone = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 8))
        env = np.sin(np.pi * t / TURN_SECONDS) ** 0.5
        parts.append(0.2 * env * tone + 0.01 * rng.standard_normal(n_turn))
        parts.append(0.001 * rng.standard_normal(n_pause))
        k += 1
    y = np.concatenate(parts)[: int(seconds * RATE)].astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y, RATE)
    return path
