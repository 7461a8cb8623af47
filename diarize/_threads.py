"""BLAS / OpenMP thread limit for the pipeline's own calls.

The pipeline runs with one BLAS thread, whatever the host application set: its matrix
products are small and many, so one thread is faster than several (OpenBLAS threads
busy-wait between calls), batch workers must not oversubscribe the cores, and a
multi-threaded BLAS splits its products differently, which changes the last bits of the
results and, through them, the output. The limit is set on entry with threadpoolctl and
the previous settings are restored on exit, so the rest of the host program keeps its own
thread settings, and the output depends neither on ``OPENBLAS_NUM_THREADS`` nor on what
was imported first.

Most BLAS builds (OpenBLAS with pthreads, as in the numpy and scipy wheels; MKL; BLIS)
have one thread pool per process, so their limit is process-wide: it is set when the
first of any concurrent pipeline calls (from several threads of one program, e.g. Dask
worker threads) starts and restored when the last one ends. threadpoolctl lets only one
thread at a time change an OpenBLAS-pthreads limit (others are silently ignored); the
pipeline takes that control for the duration of its calls, so that a host thread holding
it cannot leave the pipeline on several threads, and gives it back afterwards. Libraries
whose limit is per thread (OpenMP runtimes, OpenBLAS built with OpenMP) are limited and
restored by each calling thread for itself.

A few stages split their own work over a small pool of Python threads
(:func:`worker_pool`): numpy and the audio decoder release the GIL in their loops, so two
threads use two cores. The work is cut into the same pieces whatever the number of
threads, so the output does not depend on it either. Batch and tuning workers (one
recording per core already) get one thread, through :data:`WORKERS_ENV_VAR` in their
environment.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generator, Iterable, Iterator, TypeVar

T = TypeVar("T")

from threadpoolctl import ThreadpoolController

#: BLAS / OpenMP threads while the pipeline runs.
PIPELINE_THREADS = 1
#: Most Python threads the pipeline's own parallel stages use (:func:`worker_pool`):
#: their work is two streams at most (decoding beside feature computation) or splits
#: into few large pieces, and a recording at a time should leave cores to the host.
MAX_PIPELINE_WORKERS = 2
#: Environment variable that sets those threads (an integer >= 1); unset, they are
#: ``min(MAX_PIPELINE_WORKERS, usable cores)``.
WORKERS_ENV_VAR = "DIARIZE_THREADS"
#: Environment variables that size the BLAS / OpenMP thread pools of a new process.
BLAS_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                 "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
#: ...and with them the pipeline's own (what a batch worker process is started with).
THREAD_ENV_VARS = BLAS_ENV_VARS + (WORKERS_ENV_VAR,)

_lock = threading.Lock()
_depth = 0  # pipeline calls running now, in all threads
_shared_limiter: Any = None  # the process-wide limit set by the first of them


def _per_thread(lib: Any) -> bool:
    """Whether the thread limit of a threadpoolctl library controller is per thread."""
    return lib.user_api == "openmp" or getattr(lib, "threading_layer", None) == "openmp"


def _controllers() -> tuple[Any, Any]:
    """(process-wide, per-thread) controllers of the thread pools loaded now, or None."""
    controller = ThreadpoolController()
    shared = [lib.filepath for lib in controller.lib_controllers if not _per_thread(lib)]
    local = [lib.filepath for lib in controller.lib_controllers if _per_thread(lib)]
    return (controller.select(filepath=shared) if shared else None,
            controller.select(filepath=local) if local else None)


def _free_openblas_control() -> None:
    """Let this thread change OpenBLAS-pthreads limits (threadpoolctl >= 3.8 gives that
    to one thread at a time; earlier versions have no such rule)."""
    from threadpoolctl import OpenBLASController

    clear = getattr(OpenBLASController, "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)


NUMPY_ERRORS: dict[str, Any] = {"divide": "warn", "over": "warn", "under": "ignore",
                                "invalid": "warn"}
"""numpy's own default error handling (``np.seterr``), which the pipeline is written for
and runs under whatever its host set."""


@contextlib.contextmanager
def pipeline_threads() -> Iterator[None]:
    """Limit the BLAS and OpenMP thread pools to :data:`PIPELINE_THREADS` for a block,
    and hold numpy's floating-point error handling at numpy's defaults there
    (:data:`NUMPY_ERRORS`): a host's ``np.seterr(all="raise")`` made the GMM's harmless
    underflows a FloatingPointError, and ``all="warn"`` printed them.

    Re-entrant and safe to use from several threads at once (see the module docstring):
    process-wide limits hold from the first block entered to the last one exited, then
    the settings found by the first are restored.

    Examples
    --------
    >>> from diarize._threads import pipeline_threads
    >>> with pipeline_threads():
    ...     pass
    """
    global _depth, _shared_limiter
    shared, local = _controllers()
    with _lock:
        if _depth == 0 and shared is not None:
            _free_openblas_control()
            _shared_limiter = shared.limit(limits=PIPELINE_THREADS)
        _depth += 1
    local_limiter = local.limit(limits=PIPELINE_THREADS) if local is not None else None
    try:
        import numpy as np

        with np.errstate(**NUMPY_ERRORS):  # per thread (numpy 2: per context)
            yield
    finally:
        if local_limiter is not None:
            local_limiter.restore_original_limits()
        with _lock:
            _depth -= 1
            if _depth == 0 and _shared_limiter is not None:
                limiter, _shared_limiter = _shared_limiter, None
                _free_openblas_control()
                limiter.restore_original_limits()
                _free_openblas_control()


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


def pipeline_workers() -> int:
    """Python threads the pipeline's parallel stages use: :data:`WORKERS_ENV_VAR` when it
    holds a positive integer, else ``min(MAX_PIPELINE_WORKERS, usable cores)``."""
    value = os.environ.get(WORKERS_ENV_VAR, "").strip()
    if value.isdigit() and int(value) >= 1:
        return int(value)
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_PIPELINE_WORKERS, cores))


def _limit_this_thread() -> None:
    """Pool-thread initializer: per-thread (OpenMP) limits as :func:`pipeline_threads`
    sets them; process-wide ones are already set by the calling pipeline."""
    _, local = _controllers()
    if local is not None:
        local.limit(limits=PIPELINE_THREADS)  # the thread ends with the pool


@contextlib.contextmanager
def worker_pool(workers: int | None = None) -> Iterator[ThreadPoolExecutor | None]:
    """A pool of `workers` threads (default :func:`pipeline_workers`) for a block, shut
    down on exit; None when one thread is all there is (run the work in the caller).

    Examples
    --------
    >>> from diarize._threads import worker_pool
    >>> with worker_pool(2) as pool:
    ...     list(pool.map(abs, [-1, 2]))
    [1, 2]
    """
    n = pipeline_workers() if workers is None else workers
    if n <= 1:
        yield None
        return
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="diarize",
                            initializer=_limit_this_thread) as pool:
        yield pool


#: Items :func:`read_ahead` holds ready beyond the one in use: one is enough for the
#: consumer never to wait on a producer as fast as it is; each is a block of audio.
READ_AHEAD_ITEMS = 2
_POLL_SECONDS = 0.1  # how often a blocked producer looks whether it should stop


def read_ahead(items: Iterable[T], *, workers: int | None = None
               ) -> Generator[T, None, None]:
    """The items of `items`, produced on a thread of their own while the caller works on
    the previous ones (at most :data:`READ_AHEAD_ITEMS` ahead).

    For decoding audio while features are computed: the items and their order are the
    same as without it, and an exception raised producing an item is raised here, in
    its place. With one worker (:func:`pipeline_workers`) `items` is iterated in the
    caller's thread. Closing the generator early stops and closes the producer.
    """
    n = pipeline_workers() if workers is None else workers
    if n <= 1:
        yield from items
        return
    ready: queue.Queue = queue.Queue(maxsize=READ_AHEAD_ITEMS)
    stop = threading.Event()

    def put(entry: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                ready.put(entry, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        it = iter(items)
        try:
            for item in it:
                if not put(("item", item)):
                    return
            put(("end", None))
        except BaseException as exc:  # handed to the consumer, raised there
            put(("error", exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="diarize-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = ready.get()
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        thread.join()
