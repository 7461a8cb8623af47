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
import threading
from typing import Any, Iterator

from threadpoolctl import threadpool_limits

#: BLAS / OpenMP threads while the pipeline runs.
PIPELINE_THREADS = 1

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
