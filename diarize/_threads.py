"""BLAS / OpenMP thread limit for the pipeline's own calls.

The pipeline runs with one BLAS thread, whatever the host application set: its matrix
products are small and many, so one thread is faster than several (OpenBLAS threads
busy-wait between calls), batch workers must not oversubscribe the cores, and the
floating-point reductions of a multi-threaded BLAS may sum in another order and change
the output. The limit is set on entry with threadpoolctl and the previous settings are
restored on exit, so the rest of the host program keeps its own thread settings, and the
output does not depend on ``OPENBLAS_NUM_THREADS`` or on what was imported first.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any, Iterator

from threadpoolctl import threadpool_limits

#: BLAS / OpenMP threads while the pipeline runs.
PIPELINE_THREADS = 1
#: Environment variables that size the BLAS / OpenMP thread pools of a new process.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                   "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")

_lock = threading.Lock()
_depth = 0
_limiter: Any = None


@contextlib.contextmanager
def pipeline_threads() -> Iterator[None]:
    """Limit the BLAS and OpenMP thread pools to :data:`PIPELINE_THREADS` for a block.

    Re-entrant and safe to use from several threads at once: the limit is set when the
    first block is entered and the original settings are restored when the last one
    exits (threadpoolctl's limits are process-wide, so nested or overlapping blocks must
    not restore them while another still runs).

    Examples
    --------
    >>> from diarize._threads import pipeline_threads
    >>> with pipeline_threads():
    ...     pass
    """
    global _depth, _limiter
    with _lock:
        if _depth == 0:
            _limiter = threadpool_limits(limits=PIPELINE_THREADS)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                limiter, _limiter = _limiter, None
                limiter.restore_original_limits()


@contextlib.contextmanager
def worker_environment(*, threads: int = PIPELINE_THREADS) -> Iterator[None]:
    """Set :data:`THREAD_ENV_VARS` to `threads` for a block, restore them afterwards.

    For starting worker processes: a child started inside the block loads its BLAS with
    `threads` threads, so N single-threaded workers use N cores and never start thread
    pools they would not use. (The pipeline limits its own calls with
    :func:`pipeline_threads` whatever the environment says; this only sizes the pools.)
    """
    saved = {k: os.environ.get(k) for k in THREAD_ENV_VARS}
    os.environ.update({k: str(threads) for k in THREAD_ENV_VARS})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
