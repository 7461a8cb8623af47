"""scripts/bench_eval_memory.py: the RTTMs it writes and the figures it reads back."""

from __future__ import annotations

import sys

from conftest import script_module
from diarize.metrics import evaluate
from diarize.rttm import read_rttm


def test_the_rttms_are_what_the_figure_says(tmp_path):
    with script_module("bench_eval_memory.py", "bench_eval_memory_under_test") as bench:
        n = bench.write_rttms(tmp_path / "r.rttm", tmp_path / "h.rttm", files=3, turns=40,
                              seed=1)
        again = bench.write_rttms(tmp_path / "r2.rttm", tmp_path / "h2.rttm", files=3,
                                  turns=40, seed=1)
        peak, wall = bench.run_eval(sys.executable, tmp_path / "r.rttm", tmp_path / "h.rttm",
                                    tmp_path / "s.json")
    assert n == again == 120
    assert (tmp_path / "r.rttm").read_bytes() == (tmp_path / "r2.rttm").read_bytes()
    ref, hyp = read_rttm(tmp_path / "r.rttm"), read_rttm(tmp_path / "h.rttm")
    assert len(ref) == len(hyp) == 3
    assert sum(len(t) for t in ref.values()) == sum(len(t) for t in hyp.values()) == 120
    # the hypothesis is the reference, moved and partly mislabelled: an error, not a wreck
    der = evaluate(ref, hyp).total.der
    assert 0.5 < der < 40
    assert (tmp_path / "s.json").stat().st_size > 0
    assert peak > 10 and wall > 0
