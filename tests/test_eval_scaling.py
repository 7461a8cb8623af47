"""Scoring cost grows with the turns, not with reference labels x hypothesis labels."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from diarize import metrics
from diarize.metrics import evaluate_file, optimal_mapping, speaker_mapping
from diarize.segments import Turn


def _dense_der(ref, hyp, collar):
    """DER by dense per-piece activity arrays and the Hungarian algorithm on the full
    overlap matrix: the straightforward computation, for comparison."""
    rn = sorted({t.speaker for t in ref})
    hn = sorted({t.speaker for t in hyp})
    bounds = sorted({x for t in [*ref, *hyp] for x in (t.start, t.end)}
                    | {x for t in ref for e in (t.start, t.end) for x in (e - collar, e + collar)})
    bounds = np.array(bounds)
    lo, hi = min(t.start for t in ref), max(t.end for t in ref)
    mids, dur = (bounds[:-1] + bounds[1:]) / 2, np.diff(bounds)

    def act(turns, names):
        a = np.zeros((len(mids), len(names)), dtype=bool)
        for t in turns:
            a[:, names.index(t.speaker)] |= (mids > t.start) & (mids < t.end)
        return a

    R, H = act(ref, rn), act(hyp, hn)
    w_eval = dur * ((mids > lo) & (mids < hi))
    overlap = (R * w_eval[:, None]).T @ H
    rows, cols = linear_sum_assignment(overlap, maximize=True)
    keep = overlap[rows, cols] > 0
    rows, cols = rows[keep], cols[keep]
    near = np.zeros(len(mids), dtype=bool)
    for t in ref:
        for e in (t.start, t.end):
            near |= (mids > e - collar) & (mids < e + collar)
    w = w_eval * ~near
    nref, nsys = R.sum(1), H.sum(1)
    nmap = (R[:, rows] & H[:, cols]).sum(1)
    err = w @ (np.maximum(nref - nsys, 0) + np.maximum(nsys - nref, 0)
               + np.minimum(nref, nsys) - nmap)
    scored = w @ nref
    return 100 * err / scored if scored > 0 else (100.0 if err > 0 else 0.0)


def _random_turns(rng, n, k, prefix):
    out = []
    for _ in range(n):
        s = round(float(rng.uniform(0, 60)) * 4) / 4  # quarter seconds: many exact ties
        out.append(Turn(s, s + round(float(rng.exponential(3)) * 4) / 4 + 0.25,
                        f"{prefix}{rng.integers(k)}"))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_der_matches_the_dense_computation(seed):
    rng = np.random.default_rng(seed)
    ref = _random_turns(rng, int(rng.integers(1, 25)), int(rng.integers(1, 5)), "r")
    hyp = _random_turns(rng, int(rng.integers(1, 30)), int(rng.integers(1, 8)), "h")
    collar = [0.0, 0.25][seed % 2]
    got = evaluate_file(ref, hyp, collar=collar).der
    assert got == pytest.approx(_dense_der(ref, hyp, collar), abs=1e-9)


def test_sparse_matching_finds_the_same_total_as_the_hungarian_algorithm(monkeypatch):
    rng = np.random.default_rng(3)
    for _ in range(30):
        w = rng.random((12, 17)) * (rng.random((12, 17)) < 0.3)
        rows, cols = optimal_mapping(w)
        dense_total = w[rows, cols].sum()
        r, c = linear_sum_assignment(w, maximize=True)
        assert dense_total == pytest.approx(w[r, c].sum())
        monkeypatch.setattr(metrics, "MAX_DENSE_MAPPING", 4)   # force the sparse matcher
        from scipy import sparse

        rows2, cols2 = optimal_mapping(sparse.coo_matrix(w))
        monkeypatch.undo()
        assert len(set(rows2.tolist())) == len(rows2) and len(set(cols2.tolist())) == len(cols2)
        assert (w[rows2, cols2] > 0).all()
        assert w[rows2, cols2].sum() == pytest.approx(dense_total)


def test_speaker_mapping_is_the_der_mapping_on_turns():
    ref = [Turn(0, 10, "r1"), Turn(10, 20, "r2"), Turn(20, 30, "r3")]
    hyp = [Turn(0, 9, "h2"), Turn(9, 21, "h3"), Turn(21, 30, "h1"), Turn(40, 41, "h4")]
    assert speaker_mapping(hyp, ref) == {"h1": "r3", "h2": "r1", "h3": "r2"}


@pytest.mark.slow
def test_twenty_thousand_hypothesis_labels_in_bounded_memory():
    # two hours: 240 reference turns of 4 speakers; 20,000 hypothesis turns, each its own label
    n = 20_000
    step = 7200.0 / n
    ref = [Turn(i * 30.0, i * 30.0 + 29.0, f"r{i % 4}") for i in range(240)]
    hyp = [Turn(i * step, i * step + 0.9 * step, f"h{i}") for i in range(n)]
    tracemalloc.start()
    try:
        score = evaluate_file(ref, hyp, collar=0.25)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 500 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    assert score.hyp_speakers > 19_000 and score.ref_speakers == 4
    # four hypothesis labels are mapped; the rest of their speech is confusion
    assert score.confusion > 0.9 * score.scored


@pytest.mark.slow
def test_many_labels_on_both_sides_use_the_sparse_matcher():
    # 5,000 x 5,000 labels: a dense matrix would take 200 MB; the diagonal pairing is optimal
    n = 5_000
    ref = [Turn(float(i), i + 0.9, f"r{i}") for i in range(n)]
    hyp = [Turn(float(i), i + 0.9, f"h{i}") for i in range(n)]
    tracemalloc.start()
    try:
        score = evaluate_file(ref, hyp)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 150 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    assert score.der == pytest.approx(0.0, abs=1e-9)
    assert score.jer == pytest.approx(0.0, abs=1e-9)


def test_reading_an_rttm_holds_one_line_at_a_time(tmp_path):
    # 16 MiB of comments and one turn: a reader that loads the whole file peaks at its
    # size; one that reads line by line holds a line
    from diarize.rttm import read_rttm

    path = tmp_path / "big.rttm"
    comment = b";; " + b"x" * 125 + b"\n"
    with open(path, "wb") as f:
        for _ in range(16):
            f.write(comment * (2**20 // len(comment)))
        f.write(b"SPEAKER rec 1 0.0 1.0 <NA> <NA> A <NA> <NA>\n")
    tracemalloc.start()
    try:
        turns = read_rttm(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(turns) == 1
    assert peak < 2**20, f"peak {peak / 2**20:.1f} MiB"


def test_turns_read_from_an_rttm_are_compact(tmp_path):
    # a million turns of a few speakers: each Turn holds no per-instance dict and the
    # speakers' labels are one object each, not one string per line
    from diarize.rttm import read_rttm

    path = tmp_path / "few.rttm"
    path.write_text("".join(f"SPEAKER rec 1 {i}.0 0.5 <NA> <NA> spk{i % 2} <NA> <NA>\n"
                            for i in range(6)))
    turns = read_rttm(path)[next(iter(read_rttm(path)))]
    assert not hasattr(turns[0], "__dict__")
    assert turns[0].speaker is turns[2].speaker is turns[4].speaker
