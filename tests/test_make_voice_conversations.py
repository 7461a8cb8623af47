"""scripts/make_voice_conversations.py: the naming bench's conversations as a corpus."""

from __future__ import annotations

import json

import pytest
import soundfile as sf

from diarize.rttm import read_rttm

from conftest import REPO, script_module

TRAIN = REPO.parent / "shared" / "train"


def test_a_run_is_a_design_and_a_seed():
    with script_module("make_voice_conversations.py", "mvc_under_test") as mvc:
        assert mvc.parse_run("s0") == ("short", 0)
        assert mvc.parse_run("l12") == ("long", 12)
        for bad in ("x0", "s", "sx", "", "l-1"):
            with pytest.raises(ValueError):
                mvc.parse_run(bad)
        with pytest.raises(SystemExit):
            mvc.main(["--out", "unused", "--runs", "s0,q1"])


@pytest.mark.skipif(not (TRAIN / "speech").is_dir(), reason="../shared/train not present")
def test_conversations_are_written_with_references_and_are_deterministic(tmp_path):
    with script_module("make_voice_conversations.py", "mvc_under_test") as mvc:
        for out in (tmp_path / "a", tmp_path / "b"):
            assert mvc.main(["--out", str(out), "--runs", "s1", "--conversations", "2",
                             "--train", str(TRAIN)]) == 0
    a, b = tmp_path / "a", tmp_path / "b"
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    # every second conversation is degraded, and sits in its own folder
    for half in ("clean", "degraded"):
        (wav,) = (a / half).glob("*.wav")
        info = json.loads(wav.with_suffix(".json").read_text())
        assert bool(info["degraded"]) == (half == "degraded")
        assert info["run"] == "s1" and info["seed"] == 1 and info["design"] == "short"
        (turns,) = read_rttm(wav.with_suffix(".rttm")).values()
        duration = sf.info(wav).duration
        assert turns and all(0 <= t.start < t.end <= duration + 1e-3 for t in turns)
        # the speakers are the conversation's voices, each of them heard
        assert {t.speaker for t in turns} == set(info["enrolled"]) | set(info["unenrolled"])
