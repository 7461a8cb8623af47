"""The shipped example recordings: what audio_fixtures/README.md says they are, and rebuildable.

Accuracy on them is checked (as loose floors) in test_pipeline.py; here only the files.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

# Whole recordings, subprocesses or worker pools: deselected by -m "not slow".
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "audio_fixtures"
TRAIN = REPO.parent / "shared" / "train"
SCRIPT = REPO / "scripts" / "make_fixtures.py"
# name: (duration in seconds, speakers), as the README of audio_fixtures/ describes them
SHIPPED = {"two_speakers": (30.0, 2), "three_speakers": (40.0, 3)}


def _turns(path: Path) -> list[tuple[float, float, str]]:
    turns = []
    for line in path.read_text(encoding="utf-8").splitlines():
        f = line.split()
        assert f[0] == "SPEAKER" and f[1] == path.stem and f[2] == "1", line
        turns.append((float(f[3]), float(f[3]) + float(f[4]), f[7]))
    return turns


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_fixture_is_what_the_readme_says(name):
    seconds, n_speakers = SHIPPED[name]
    wav = FIXTURES / f"{name}.wav"
    info = sf.info(wav)
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert info.frames == int(seconds * 16000)
    assert wav.stat().st_size <= 1_300_000
    turns = sorted(_turns(wav.with_suffix(".rttm")))
    assert len({s for _, _, s in turns}) == n_speakers
    assert turns[0][0] >= 0.4 and turns[-1][1] <= seconds - 0.5
    for (a0, b0, s0), (a1, b1, s1) in zip(turns, turns[1:]):
        assert b0 > a0 and a1 >= b0, "no overlap, no empty turn"
        # pauses inside a turn are at least 0.25 s (shorter ones are closed), between
        # turns at least 0.2 s
        assert a1 - b0 >= (0.25 if s0 == s1 else 0.2) - 1e-9
        assert round(a0 * 100, 6).is_integer() and round(b0 * 100, 6).is_integer()  # 10 ms grid
    assert sum(1 for (_, _, s0), (_, _, s1) in zip(turns, turns[1:]) if s0 != s1) >= 2 * n_speakers - 1


@pytest.mark.skipif(not (TRAIN / "speakers.csv").is_file(), reason="../shared/train not present")
def test_the_script_rebuilds_the_shipped_bytes(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for name in SHIPPED:
        for suffix in (".wav", ".rttm"):
            built, shipped = tmp_path / f"{name}{suffix}", FIXTURES / f"{name}{suffix}"
            assert built.read_bytes() == shipped.read_bytes(), f"{shipped.name} is not what the script makes"


def test_the_script_says_what_is_missing(tmp_path):
    missing = tmp_path / "no_such_train"
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "out"), "--source", str(missing)],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert str(missing) in proc.stderr and "../shared/train" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()
