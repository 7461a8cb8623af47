"""scripts/make_long_turns.py: meeting-excerpt-like recordings with their references."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from diarize.rttm import read_rttm

from conftest import REPO, script_module

TRAIN = REPO.parent / "shared" / "train" / "speech"


@pytest.mark.skipif(not TRAIN.is_dir(), reason="../shared/train not present")
def test_long_turns_have_three_long_turns_backchannels_and_are_deterministic(tmp_path):
    with script_module("make_long_turns.py", "make_long_turns_under_test") as mlt:
        for out in (tmp_path / "a", tmp_path / "b"):
            assert mlt.main(["--out", str(out), "--conversations", "2", "--seed", "3",
                             "--train-dir", str(TRAIN)]) == 0
        backchannel_hi = mlt.BACKCHANNEL[1]
    for uri in ("long00", "long01"):
        a, b = tmp_path / "a", tmp_path / "b"
        for suffix in (".wav", ".rttm", ".json"):
            assert (a / f"{uri}{suffix}").read_bytes() == (b / f"{uri}{suffix}").read_bytes()
        y, sr = sf.read(a / f"{uri}.wav")
        info = json.loads((a / f"{uri}.json").read_text())
        assert len(y) / sr == pytest.approx(info["duration"], abs=1e-3)
        assert np.max(np.abs(y)) == pytest.approx(10 ** (-20 / 20), rel=1e-3)
        (turns,) = read_rttm(a / f"{uri}.rttm").values()
        assert all(0 <= t.start < t.end <= len(y) / sr for t in turns)
        talk: dict[str, float] = {}
        for t in turns:
            talk[t.speaker] = talk.get(t.speaker, 0.0) + t.end - t.start
        # the three voices in turn hold most of the speech; backchannels are short
        main = info["voices"]
        assert set(main) <= set(talk) <= set(main) | {info["backchannel_voice"]}
        # in turn: each voice's longest stretch of speech (in its turn; a backchannel it
        # gives in another's turn is under a second) comes after the previous voice's
        longest = {v: max((t for t in turns if t.speaker == v), key=lambda t: t.end - t.start)
                   for v in main}
        assert sorted(main, key=lambda v: longest[v].start) == main
        assert sum(talk[v] for v in main) > 0.8 * sum(talk.values())
        # a main voice's turn (pauses left out) is longer than any backchannel
        assert all(talk[v] > backchannel_hi for v in main)
