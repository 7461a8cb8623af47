"""diarize._scipy_ext: scipy's compiled kernels loaded alone."""

from __future__ import annotations

from diarize._scipy_ext import load_extension


def test_a_kernel_loads_and_a_missing_or_foreign_one_does_not():
    lsap = load_extension("scipy.optimize._lsap", needs=("linear_sum_assignment",))
    assert lsap is not None
    assert load_extension("scipy.optimize._no_such_module", needs=()) is None
    assert load_extension("no_such_package._x", needs=()) is None
    # a module without what the caller needs is not used
    assert load_extension("scipy.optimize._lsap", needs=("something_else",)) is None
