"""Helpers for the shell-level tests: run ``python -m diarize`` as a user would, check RTTM."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import EVAL  # noqa: F401  (re-exported to the tests that use these helpers)

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd: Path | None = None, env: dict | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m diarize ARGS`` in a subprocess, with the worktree on PYTHONPATH."""
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    e.setdefault("PYTHONIOENCODING", "utf-8")
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-m", "diarize", *map(str, args)],
                          cwd=str(cwd or REPO), env=e, capture_output=True, timeout=timeout)


def stderr_lines(p: subprocess.CompletedProcess) -> list[str]:
    return p.stderr.decode("utf-8", "replace").splitlines()


def assert_one_line_error(p: subprocess.CompletedProcess, code: int, *names: str) -> str:
    """Exit status `code`, stderr exactly one non-empty line naming each of `names`."""
    err = p.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert p.returncode == code, (p.returncode, err)
    assert len(lines) == 1 and lines[0].strip(), f"stderr is not one line: {err!r}"
    for name in names:
        assert str(name) in lines[0], f"{name!r} not named in {lines[0]!r}"
    assert p.stdout == b"", p.stdout
    return lines[0]


def rttm_lines(path: Path) -> list[list[str]]:
    """The SPEAKER lines of `path`, after the provenance record every file we write starts
    with (checked here)."""
    first, *lines = path.read_text(encoding="utf-8").splitlines()
    assert first.split(" ")[0] == "SPKR-INFO" and first.split(" ")[7] == "gmm-diarize", first
    return [line.split(" ") for line in lines]


def assert_valid_rttm(path: Path, duration: float, uri: str | None = None) -> list[tuple[float, float, str]]:
    """`path` is a well-formed RTTM: ten fields, turns of positive length inside
    [0, duration], no speaker overlapping itself. Returns (start, end, speaker)."""
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n")
    turns = []
    for fields in rttm_lines(path):
        assert len(fields) == 10, fields
        assert fields[0] == "SPEAKER"
        if uri is not None:
            assert fields[1] == uri
        start, dur = float(fields[3]), float(fields[4])
        assert np.isfinite(start) and np.isfinite(dur)
        assert start >= 0 and dur > 0, fields
        assert start + dur <= duration + 1e-3, (fields, duration)
        turns.append((start, start + dur, fields[7]))
    assert_no_self_overlap(turns)
    return turns


def assert_no_self_overlap(turns) -> None:
    by: dict[str, list] = {}
    for a, b, s in turns:
        by.setdefault(s, []).append((a, b))
    for s, ts in by.items():
        ts.sort()
        for (a0, b0), (a1, b1) in zip(ts, ts[1:]):
            assert a1 >= b0 - 1e-9, f"speaker {s} overlaps itself: {(a0, b0)} {(a1, b1)}"


def voices(seconds: float, sr: int, *, seed: int = 0, n_speakers: int = 2) -> np.ndarray:
    """A crude multi-'speaker' signal: alternating harmonic sources with different pitch
    and spectral tilt, syllable-rate amplitude modulation, short pauses, a little noise."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    y = np.zeros(n, dtype=np.float64)
    pos, k = int(0.2 * sr), 0
    while pos < n:
        turn = int(rng.uniform(1.0, 2.5) * sr)
        m = min(turn, n - pos)
        t = np.arange(m) / sr
        f0 = (110.0, 210.0, 160.0, 290.0)[k % 4] * (1 + 0.05 * np.sin(2 * np.pi * 0.7 * t))
        phase = 2 * np.pi * np.cumsum(f0) / sr
        tilt = (1.0, 0.5, 0.8, 0.3)[k % 4]
        src = sum(np.sin(h * phase) * (tilt ** h) / h for h in range(1, 12) if h * f0.max() < sr / 2)
        env = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t) ** 2
        y[pos:pos + m] = 0.2 * src * env
        pos += m + int(rng.uniform(0.2, 0.6) * sr)
        k = (k + 1) % n_speakers
    y += 0.002 * rng.standard_normal(n)
    return y.astype(np.float32)
