"""scripts/own_ratio_probe.py: the reference labels, corpora and ROC areas it reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import script_module


def test_reference_frames_keep_frames_of_exactly_one_speaker(tmp_path):
    rttm = tmp_path / "r.rttm"
    rttm.write_text("SPEAKER r 1 0.00 0.10 <NA> <NA> A <NA> <NA>\n"
                    "SPEAKER r 1 0.05 0.10 <NA> <NA> B <NA> <NA>\n", encoding="utf-8")
    with script_module("own_ratio_probe.py", "own_ratio_probe_under_test") as probe:
        label = probe.reference_frames(rttm, 20)
    # A alone for 5 frames, both for 5 (overlap: none), B alone for 5, then silence
    assert label.tolist() == [0] * 5 + [-1] * 5 + [1] * 5 + [-1] * 5


def test_corpora_and_roc_area():
    with script_module("own_ratio_probe.py", "own_ratio_probe_under_test") as probe:
        assert probe.corpus(Path("eval/sim/dev003.flac")) == "sim/"
        assert probe.corpus(Path("eval/real/trn05.wav")) == "AMI"
        assert probe.corpus(Path("eval/real/tst00.wav")) == "AMI"
        assert probe.corpus(Path("eval/real/sample.wav")) == "other real"
        assert probe.auc([3.0, 4.0], [1.0, 2.0]) == 1.0
        assert probe.auc([1.0], [2.0]) == 0.0
        assert probe.auc([2.0], [2.0]) == 0.5
        assert np.isnan(probe.auc([], [1.0]))


@pytest.mark.slow
def test_pairs_of_a_recording_are_labelled_and_scored():
    eval_dir = Path(__file__).resolve().parents[2] / "shared" / "eval" / "sim"
    audio = eval_dir / "dev000.flac"
    if not audio.exists():
        pytest.skip("../shared/eval/sim not present")
    with script_module("own_ratio_probe.py", "own_ratio_probe_under_test") as probe:
        rows, own_mean = probe.pairs_of(audio)
    assert rows and own_mean is not None and np.isfinite(own_mean)
    assert all(np.isfinite([r["ratio"], r["own_i"], r["own_j"]]).all() for r in rows)
    assert any(r["one"] for r in rows) and any(not r["one"] for r in rows)
