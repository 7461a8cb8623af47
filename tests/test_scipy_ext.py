"""diarize._scipy_ext: scipy's compiled kernels loaded alone, and the assignment solver
diarize.metrics takes from it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from diarize import metrics
from diarize._scipy_ext import load_extension


def test_a_kernel_loads_and_a_missing_or_foreign_one_does_not():
    lsap = load_extension("scipy.optimize._lsap", needs=("linear_sum_assignment",))
    assert lsap is not None
    assert load_extension("scipy.optimize._no_such_module", needs=()) is None
    assert load_extension("no_such_package._x", needs=()) is None
    # a module without what the caller needs is not used
    assert load_extension("scipy.optimize._lsap", needs=("something_else",)) is None


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (4, 7), (7, 4), (12, 12)])
def test_the_solver_loaded_alone_gives_scipys_assignment(shape):
    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    for _ in range(20):
        w = rng.integers(0, 4, size=shape).astype(float)  # small integers: many ties
        got = metrics._linear_sum_assignment(w, maximize=True)
        want = linear_sum_assignment(w, maximize=True)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_without_the_kernel_the_public_solver_is_used(monkeypatch):
    monkeypatch.setattr(metrics, "_lsap", lambda: None)
    w = np.array([[1.0, 5.0], [4.0, 1.0]])
    rows, cols = metrics.optimal_mapping(w)
    assert rows.tolist() == [0, 1] and cols.tolist() == [1, 0]
