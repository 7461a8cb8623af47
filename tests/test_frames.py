"""Frame helpers shared by the stages (diarize.frames)."""

import numpy as np
import pytest

from diarize.frames import (fill_short_runs, frame_count, frame_time, nearest_label, relabel,
                            runs, true_runs)


def test_runs_round_trip():
    x = np.array([3, 3, -1, -1, -1, 0, 3])
    s, e, v = runs(x)
    assert np.array_equal(np.repeat(v, e - s), x)
    assert list(zip(s, e, v)) == [(0, 2, 3), (2, 5, -1), (5, 6, 0), (6, 7, 3)]
    s, e, v = runs(np.zeros(0, dtype=bool))
    assert len(s) == len(e) == len(v) == 0


def test_true_runs_match_runs():
    rng = np.random.default_rng(0)
    mask = rng.random(200) < 0.6
    s, e, v = runs(mask)
    ts, te = true_runs(mask)
    assert np.array_equal(ts, s[v]) and np.array_equal(te, e[v])


def test_fill_short_runs_keeps_edge_silence():
    m = np.array([0, 0, 1, 1, 0, 1, 1, 1, 0, 0], dtype=bool)
    out = fill_short_runs(m, value=False, max_len=2)
    assert out.tolist() == [0, 0, 1, 1, 1, 1, 1, 1, 0, 0]
    out = fill_short_runs(m, value=True, max_len=3)
    assert out.tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 0, 0]


def test_relabel_orders_by_first_appearance():
    assert relabel(np.array([5, 5, 2, 9, 2])).tolist() == [0, 0, 1, 2, 1]
    assert relabel(np.zeros(0, dtype=int)).dtype == np.int64


def test_nearest_label_fills_only_where_asked():
    labels = np.array([-1, 0, 0, -1, -1, -1, 1, -1])
    where = np.array([1, 0, 0, 1, 1, 0, 0, 1], dtype=bool)
    assert nearest_label(labels, where).tolist() == [0, 0, 0, 0, 0, -1, 1, 1]
    none = np.full(4, -1)
    assert nearest_label(none, np.ones(4, dtype=bool)).tolist() == [-1] * 4


@pytest.mark.parametrize("seconds,minimum,expected", [(0.25, 0, 25), (0.004, 1, 1), (0.0, 0, 0)])
def test_frame_count(seconds, minimum, expected):
    assert frame_count(seconds, 0.01, minimum=minimum) == expected


def test_frame_time_is_millisecond_exact():
    assert frame_time(123, 0.01) == 1.23
    assert str(frame_time(7, 0.01)) == "0.07"
