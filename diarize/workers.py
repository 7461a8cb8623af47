"""Worker processes that survive their own deaths and do not outlive their parent.

:class:`Pool` runs tasks on ``jobs`` processes, one task per worker at a time. A worker
tells the parent when it starts a task, so that when a worker dies (killed by the
kernel's out-of-memory killer, say) the parent knows the one task it held: that task is
reported through a callback, a fresh worker takes the worker's place, and the other
tasks go on. A worker exits when its parent does, so no worker keeps the parent's
output pipes open after it has gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Generator, Iterator, Sequence

from ._threads import worker_environment
from .errors import WorkerStartError

if TYPE_CHECKING:
    import multiprocessing.context

#: Seconds between checks, in a worker, that the parent is still alive.
PARENT_POLL_SECONDS = 1.0
#: Seconds idle workers get to exit on their own at the end of a run before they are killed.
WORKER_STOP_SECONDS = 5.0
#: Times a task is handed to a fresh worker when its worker died before starting it.
MAX_HANDOVERS = 3


def _set_parent_death_signal() -> None:
    """Ask Linux to SIGKILL this process when its parent exits (``PR_SET_PDEATHSIG``).

    Best effort: elsewhere, or if the call is unavailable, the watcher thread of
    :func:`_exit_with_parent` alone does the job, within :data:`PARENT_POLL_SECONDS`.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1  # from <linux/prctl.h>
        libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - no libc / no prctl
        pass


def _exit_with_parent(batch_pid: int) -> None:
    """In a pool worker: exit when the batch process dies.

    A worker blocks on its task pipe forever if the batch process is killed (SIGKILL
    runs no clean-up), and it would keep the batch's stdout and stderr open, so that a
    program waiting for them would wait forever. Its parent (the batch process, or the
    fork server, which exits with it) asks the kernel to kill it when that parent goes
    (Linux), and a thread checks every :data:`PARENT_POLL_SECONDS` that the parent is
    still its parent and the batch process still exists.
    """
    _set_parent_death_signal()
    parent = os.getppid()

    def alive() -> bool:
        if os.getppid() != parent:
            return False
        try:
            os.kill(batch_pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # exists, owned by someone else: pid reused
            return False
        return True

    def watch() -> None:
        while alive():
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)  # mid-task: the tasks' writes must be atomic

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _worker_main(conn: Any, batch_pid: int, work: Callable[[Any], Any]) -> None:
    """Body of a pool worker: run `work` on the tasks the parent sends, one at a time.

    Each task arrives as ``(index, task)``; the worker answers ``("started", index)``
    before working on it and ``("done", index, work(task))`` after, so that the parent
    knows which task a worker held if it dies (killed, out of memory). ``None`` or a
    closed pipe ends the worker. `work` must not raise.

    A pipe that breaks (the batch process was killed, with SIGKILL say, while this
    worker diarized) ends the worker at once and quietly: nobody is left to read a
    result or a traceback, and the batch's stderr may be someone else's terminal.
    """
    # The batch process decides what Ctrl-C (sent to the whole process group) stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _exit_with_parent(batch_pid)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        if message is None:
            return
        index, task = message
        try:
            conn.send(("started", index))
            result = work(task)
            conn.send(("done", index, result))
        except OSError:  # BrokenPipeError, ConnectionResetError: the parent is gone
            os._exit(0)  # no flush of std streams whose reader may be gone too


def pool_context(preload: Sequence[str] = ()
                 ) -> multiprocessing.context.ForkServerContext | multiprocessing.context.SpawnContext:
    """A fresh-interpreter start method, so BLAS reads the thread limit at import.

    'forkserver' where available: one server process imports the pipeline once and
    forks the workers from it, instead of every 'spawn'ed worker importing numpy, scipy
    and librosa again (seconds of CPU each). The server is started, with the thread
    limit in its environment, by the first pool of this process, and imports the
    modules `preload`.
    """
    # here, not at the top: a run on one process never needs it (a few ms at start-up)
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(preload))
        return ctx
    return multiprocessing.get_context("spawn")


def _start_failure(exc: BaseException) -> str:
    """What stopped a worker process from starting, and what the user can do."""
    import errno
    import tempfile

    text = str(exc) or type(exc).__name__
    if "AF_UNIX path too long" in text:
        return (f"cannot start worker processes: the temporary folder's path "
                f"({tempfile.gettempdir()}) is too long for their socket; set TMPDIR to a "
                "short folder (e.g. /tmp), or use --jobs 1")
    if getattr(exc, "errno", None) in (errno.EMFILE, errno.ENFILE) or isinstance(exc, EOFError):
        return ("cannot start worker processes: too many open files; raise the limit "
                "(ulimit -n) or use fewer --jobs")
    if "No usable temporary directory" in text:
        return ("cannot start worker processes: no writable temporary folder; set TMPDIR "
                "to one, or use --jobs 1")
    return f"cannot start worker processes ({text}); use --jobs 1 to diarize in this process"


@dataclass(eq=False)
class _Worker:
    """A pool worker process, its end of the task pipe, and the task it holds."""

    process: Any
    conn: Any
    held: tuple[int, Any] | None = None
    started: bool = False


class Pool:
    """`jobs` worker processes fed one task at a time; a dead worker is replaced.

    Parameters
    ----------
    tasks : sequence
        Picklable tasks, run in this order by :meth:`run`.
    jobs : int
        Worker processes.
    work : callable
        ``work(task) -> result``, run in a worker; importable by name, must not raise.
    died : callable
        ``died(task, exitcode) -> result``: the result of a task whose worker died
        while on it (`exitcode` negative: killed by that signal).
    preload : sequence of str
        Modules the fork server imports once for all workers.

    Notes
    -----
    Only the task a dead worker had started fails; one it had been sent but not yet
    started goes to another worker (at most :data:`MAX_HANDOVERS` times).

    :meth:`run` runs `tasks` and stops the workers; :meth:`map` runs more tasks on the
    same workers and leaves them running for the next call (what a worker keeps in
    memory, such as a cache, lives on), until :meth:`close`.
    """

    def __init__(self, tasks: Sequence[Any] = (), jobs: int = 1, *,
                 work: Callable[[Any], Any], died: Callable[[Any, int | None], Any],
                 preload: Sequence[str] = ()) -> None:
        self.ctx = pool_context(preload)
        self.work, self.died = work, died
        self.queue: deque[tuple[int, Any]] = deque(enumerate(tasks))
        self.handovers = [0] * len(tasks)
        self.jobs = jobs
        self.workers: list[_Worker] = []
        self.batch_pid = os.getpid()

    def _start_worker(self) -> _Worker:
        try:
            ours, theirs = self.ctx.Pipe(duplex=True)
            process = self.ctx.Process(target=_worker_main,
                                       args=(theirs, self.batch_pid, self.work),
                                       name="diarize-batch-worker", daemon=True)
            process.start()
        except (OSError, EOFError) as exc:
            raise WorkerStartError(_start_failure(exc)) from None
        theirs.close()
        worker = _Worker(process=process, conn=ours)
        self.workers.append(worker)
        return worker

    def _feed(self, worker: _Worker) -> None:
        worker.held, worker.started = None, False
        if not self.queue:
            return
        item = self.queue.popleft()
        worker.held = item
        try:
            worker.conn.send(item)
        except (BrokenPipeError, OSError):
            pass  # it died: seen at the next wait, and the task is handed on

    def _drain(self, worker: _Worker) -> tuple[list[tuple[int, Any]], bool]:
        """(index, result) of the tasks `worker` finished, and whether it is gone."""
        records = []
        try:
            while worker.conn.poll():
                message = worker.conn.recv()
                if message[0] == "started":
                    worker.started = True
                else:
                    records.append((message[1], message[2]))
                    self._feed(worker)
        except (EOFError, OSError):
            return records, True
        return records, not worker.process.is_alive()

    def _bury(self, worker: _Worker) -> Iterator[tuple[int, Any]]:
        """Account for a dead worker's task and put a fresh worker in its place."""
        worker.process.join()
        worker.conn.close()
        self.workers.remove(worker)
        if worker.held is not None:
            index, task = worker.held
            self.handovers[index] += 1
            if worker.started or self.handovers[index] > MAX_HANDOVERS:
                yield index, self.died(task, worker.process.exitcode)
            else:
                self.queue.appendleft((index, task))
        if self.queue and len(self.workers) < self.jobs:
            self._feed(self._start_worker())

    def _results(self) -> Iterator[tuple[int, Any]]:
        """(index, result) of every queued task, in completion order; workers stay."""
        from multiprocessing.connection import wait

        for worker in self.workers:
            if worker.held is None:
                self._feed(worker)
        while self.queue and len(self.workers) < self.jobs:
            self._feed(self._start_worker())
        while any(w.held is not None for w in self.workers):
            busy = [w for w in self.workers if w.held is not None]
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
            for worker in busy:
                if worker.conn not in ready and worker.process.sentinel not in ready:
                    continue
                records, gone = self._drain(worker)
                yield from records
                if gone:
                    yield from self._bury(worker)

    def run(self) -> Iterator[Any]:
        """Yield results in completion order; stop (kill) every worker on the way out."""
        finished = False
        try:
            for _, result in self._results():
                yield result
            finished = True
        finally:
            self._stop(graceful=finished)

    def map(self, tasks: Sequence[Any]) -> list[Any]:
        """Run `tasks` on the pool's workers; their results, in the order of `tasks`.

        The workers are kept for the next call (see :meth:`close`); an exception (an
        interrupt) kills them.
        """
        first = len(self.handovers)
        self.handovers += [0] * len(tasks)
        self.queue.extend(enumerate(tasks, start=first))
        out: list[Any] = [None] * len(tasks)
        try:
            for index, result in self._results():
                out[index - first] = result
        except BaseException:
            self._stop(graceful=False)
            raise
        return out

    def close(self) -> None:
        """Stop the workers (idle ones exit on their own, within a few seconds)."""
        self._stop(graceful=True)

    def _stop(self, *, graceful: bool) -> None:
        """End every worker: ask idle ones to exit after a finished run, else kill them."""
        for worker in self.workers:
            if graceful:
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
            else:
                with contextlib.suppress(OSError):
                    worker.process.kill()  # mid-task: the tasks' writes must be atomic
        deadline = time.monotonic() + (WORKER_STOP_SECONDS if graceful else 0.0)
        for worker in self.workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self.workers.clear()


def exit_text(exitcode: int | None) -> str:
    """How a worker process ended, for messages: "killed by SIGKILL", "exit status 1"."""
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit status {exitcode}"


def run_tasks(tasks: Sequence[Any], jobs: int, *, work: Callable[[Any], Any],
              died: Callable[[Any, int | None], Any], preload: Sequence[str] = (),
              threads: int = 1) -> Generator[Any, None, None]:
    """Yield ``work(task)`` for every task, in completion order, on `jobs` processes.

    One job (or one task) runs in this process: no pool start-up (seconds of imports per
    worker), and a killed run leaves no orphaned worker; then a crash of the process is a
    crash of the run. More run on a :class:`Pool` whose workers start with `threads`
    BLAS threads in their environment.
    """
    if min(jobs, len(tasks)) <= 1:
        for task in tasks:
            yield work(task)
        return
    with worker_environment(threads=threads):
        # The environment must stay set while workers are started (also replacements).
        yield from Pool(tasks, jobs, work=work, died=died, preload=preload).run()
