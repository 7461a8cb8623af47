"""Batch diarization: many recordings, all cores (or a Dask cluster), resumable.

:func:`run` resolves its inputs (audio files, folders, globs, CSV / JSON-lines
manifests) into recordings, skips those whose output already exists, diarizes the
rest longest-first on a process pool or a Dask cluster, and writes one
``<uri>.<ext>`` per recording atomically. Failures are collected in
``OUTDIR/errors.tsv`` instead of stopping the run.

Each worker diarizes with one BLAS thread (the pipeline limits its own calls with
threadpoolctl), and pool workers are started with the thread variables of the
environment set to 1, so that N workers use N cores and start no idle BLAS thread pools.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import json
import multiprocessing
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol, Sequence, TextIO

from ._threads import worker_environment
from .audio import AUDIO_SUFFIXES
from .errors import DiarizeError, OutputError
from .io import uri_for

#: File extensions searched for in input folders: the formats libsndfile reads
#: (:data:`diarize.audio.AUDIO_SUFFIXES`, the one list; .m4a / AAC is not among them).
AUDIO_EXTENSIONS = AUDIO_SUFFIXES
#: Input files with these extensions are manifests, not audio.
MANIFEST_EXTENSIONS = frozenset({".csv", ".jsonl"})
#: Output formats and the extension of their files.
FORMAT_EXTENSIONS = {"rttm": "rttm", "json": "json", "csv": "csv"}
#: Per-file hints a manifest may give; each overrides the configuration key of that name.
MANIFEST_HINTS = ("num_speakers", "min_speakers", "max_speakers")
#: Name of the failure report in the output folder.
ERRORS_FILE = "errors.tsv"
#: Header line of the failure report.
ERRORS_HEADER = ("path", "error", "message")
#: BLAS threads of a pool worker (set in its environment when it starts). The parallelism
#: is across recordings, and with one thread per worker ``jobs`` workers use ``jobs``
#: cores; the pipeline itself always runs its BLAS calls on one thread. Its matrices are
#: small: on the (busy, shared) 2-core dev machine one 197 s recording took 5.4 s with one
#: OpenBLAS thread and 9.0 s with two.
BLAS_THREADS_PER_WORKER = 1
#: Seconds between checks, in a pool worker, that the batch process is still alive.
PARENT_POLL_SECONDS = 1.0
#: Modules the pool's fork server imports once for all workers (import errors are
#: ignored by multiprocessing; librosa.filters is imported lazily by the MFCC front end).
FORKSERVER_PRELOAD = ("diarize.batch", "diarize.pipeline")
#: Duplicate uris listed in the error message before "...".
MAX_LISTED_DUPLICATES = 5
#: Temporary files left by :func:`diarize.io.atomic_write_text`: ``.<name>.<random>.tmp``.
_STALE_TMP = re.compile(
    r"^\..+\.(?:%s|tsv)\.[A-Za-z0-9_]+\.tmp$" % "|".join(sorted(set(FORMAT_EXTENSIONS.values()))))
_GLOB_CHARS = re.compile(r"[*?\[]")


class BatchInputError(DiarizeError, ValueError):
    """The batch inputs are unusable: no such input, bad manifest, duplicate uris, ...

    Raised before any recording is diarized (the command line exits with status 2).
    """


class MissingDependencyError(DiarizeError, ImportError):
    """An optional dependency needed for the requested feature is not installed."""


# ---------------------------------------------------------------------- data records
@dataclass(frozen=True)
class Recording:
    """One recording to diarize, as resolved from the inputs.

    Attributes
    ----------
    path : Path
        Absolute path of the audio file.
    uri : str
        File id: the output is ``<uri>.<ext>``.
    hints : tuple of (str, int)
        Per-file configuration overrides from a manifest (``num_speakers``, ...).
    source : str
        Where it was listed (input argument or ``manifest:line``), for error messages.
    """

    path: Path
    uri: str
    hints: tuple[tuple[str, int], ...] = ()
    source: str = ""


@dataclass(frozen=True)
class Task:
    """Everything a worker needs for one recording (picklable, paths absolute)."""

    path: str
    uri: str
    output: str
    fmt: str
    config: Any


@dataclass
class Record:
    """Outcome of one recording.

    Attributes
    ----------
    path : str
        The audio file.
    uri : str
    output : str
        The output file (written only if ``status == "ok"``).
    status : str
        ``"ok"``, ``"skipped"`` (output already existed) or ``"failed"``.
    error : str
        Exception class name of a failure, else ``""``.
    message : str
        One-line error message of a failure, else ``""``.
    seconds : float
        Wall time spent on it by the worker.
    cpu_seconds : float
        CPU time the worker process spent on it.
    """

    path: str
    uri: str
    output: str
    status: str
    error: str = ""
    message: str = ""
    seconds: float = 0.0
    cpu_seconds: float = 0.0


@dataclass
class BatchSummary:
    """What a batch run did.

    Attributes
    ----------
    succeeded, skipped, failed : int
        Number of recordings diarized, skipped (output existed) and failed.
    elapsed : float
        Wall time of the run in seconds.
    records : list of Record
        One per recording, in input order.
    errors_file : Path or None
        The failure report, if any recording failed.
    """

    succeeded: int = 0
    skipped: int = 0
    failed: int = 0
    elapsed: float = 0.0
    records: list[Record] = field(default_factory=list)
    errors_file: Path | None = None

    @property
    def failures(self) -> list[Record]:
        """The failed records, in input order."""
        return [r for r in self.records if r.status == "failed"]

    @property
    def exit_status(self) -> int:
        """0 when nothing failed, 1 otherwise."""
        return 1 if self.failed else 0


class Progress(Protocol):
    """Receiver of progress events (see :class:`ConsoleProgress`)."""

    def start(self, *, total: int, skipped: int) -> None: ...

    def update(self, record: Record) -> None: ...

    def finish(self, summary: BatchSummary) -> None: ...


# ---------------------------------------------------------------------- input resolution
def resolve_inputs(inputs: Iterable[str | os.PathLike], *,
                   cwd: Path | None = None) -> list[Recording]:
    """Expand inputs into recordings, in input order.

    Parameters
    ----------
    inputs : iterable of path-like
        Audio files, folders (searched recursively for :data:`AUDIO_EXTENSIONS`), glob
        patterns, and ``.csv`` / ``.jsonl`` manifests with a ``path`` column and optional
        ``uri``, ``num_speakers``, ``min_speakers``, ``max_speakers``.
    cwd : Path, optional, keyword-only
        Folder relative inputs are resolved against (default: the current folder).

    Returns
    -------
    list of Recording
        The same file listed twice with the same uri and hints appears once.

    Raises
    ------
    BatchInputError
        An input that does not exist, a glob that matches nothing, a malformed manifest,
        or two different recordings with the same uri.
    """
    base = Path.cwd() if cwd is None else cwd
    found: list[Recording] = []
    for raw in inputs:
        text = os.fspath(raw)
        p = Path(text)
        p = p if p.is_absolute() else base / p
        if p.is_dir():
            found.extend(_recording(f, source=text) for f in _audio_files_in(p))
        elif p.is_file():
            if p.suffix.lower() in MANIFEST_EXTENSIONS:
                found.extend(read_manifest(p))
            else:
                found.append(_recording(p, source=text))
        elif _GLOB_CHARS.search(text):
            matches = sorted(glob.glob(str(p), recursive=True))
            if not matches:
                raise BatchInputError(f"{text}: no files match")
            for m in map(Path, matches):
                if m.is_dir():
                    found.extend(_recording(f, source=text) for f in _audio_files_in(m))
                elif m.suffix.lower() in MANIFEST_EXTENSIONS:
                    found.extend(read_manifest(m))
                elif m.suffix.lower() in AUDIO_EXTENSIONS:
                    found.append(_recording(m, source=text))
        else:
            raise BatchInputError(f"{text}: no such file or directory")
    return _check_unique(found)


def _audio_files_in(folder: Path) -> list[Path]:
    # Sorted so that input order (and the order of records) is reproducible.
    return sorted(f for f in folder.rglob("*")
                  if f.suffix.lower() in AUDIO_EXTENSIONS and f.is_file())


def _recording(path: Path, *, source: str, uri: str | None = None,
               hints: tuple[tuple[str, int], ...] = ()) -> Recording:
    return Recording(path=Path(os.path.abspath(path)), uri=uri or uri_for(path),
                     hints=hints, source=source)


def _check_unique(found: list[Recording]) -> list[Recording]:
    """Drop exact repeats; raise if one uri names two different recordings."""
    by_uri: dict[str, Recording] = {}
    out: list[Recording] = []
    clashes: list[str] = []
    for rec in found:
        prev = by_uri.get(rec.uri)
        if prev is None:
            by_uri[rec.uri] = rec
            out.append(rec)
        elif (prev.path, prev.hints) != (rec.path, rec.hints):
            clashes.append(f"{rec.uri!r} ({prev.path} and {rec.path})")
    if clashes:
        more = len(clashes) - MAX_LISTED_DUPLICATES
        listed = "; ".join(clashes[:MAX_LISTED_DUPLICATES]) + (f"; and {more} more" if more > 0 else "")
        raise BatchInputError(f"duplicate output names (uri): {listed}")
    return out


def read_manifest(path: str | os.PathLike) -> list[Recording]:
    """Read a ``.csv`` or ``.jsonl`` manifest.

    Relative audio paths are relative to the manifest's folder. Empty hint fields mean
    "not set".

    Raises
    ------
    BatchInputError
        Unreadable file, no ``path`` column, invalid JSON, bad hint value, bad uri.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchInputError(f"{path}: cannot read manifest ({exc})") from None
    rows: list[tuple[int, dict[str, Any]]] = []
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        names = [n.strip() for n in (reader.fieldnames or [])]
        if "path" not in names:
            raise BatchInputError(f"{path}: manifest has no 'path' column")
        for row in reader:
            clean = {(k or "").strip(): (v.strip() if isinstance(v, str) else v)
                     for k, v in row.items()}
            rows.append((reader.line_num, clean))
    else:
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BatchInputError(f"{path}:{n}: invalid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise BatchInputError(f"{path}:{n}: expected a JSON object")
            rows.append((n, obj))
    out = []
    for n, row in rows:
        where = f"{path}:{n}"
        audio = row.get("path")
        if not isinstance(audio, str) or not audio.strip():
            raise BatchInputError(f"{where}: missing 'path'")
        audio_path = Path(audio.strip())
        if not audio_path.is_absolute():
            audio_path = path.parent / audio_path
        uri = _manifest_uri(row.get("uri"), where)
        hints = tuple((k, _manifest_int(row.get(k), k, where)) for k in MANIFEST_HINTS
                      if row.get(k) not in (None, ""))
        out.append(_recording(audio_path, source=where, uri=uri, hints=hints))
    return out


def _manifest_uri(value: Any, where: str) -> str | None:
    if value in (None, ""):
        return None
    uri = re.sub(r"\s+", "_", str(value).strip())
    # The uri becomes a file name in OUTDIR: it must stay there and not look like a temp file.
    if uri in (".", "..") or uri.startswith(".") or any(c in uri for c in "/\\\0"):
        raise BatchInputError(f"{where}: uri {value!r} is not usable as a file name")
    return uri


def _manifest_int(value: Any, key: str, where: str) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
        if not number.is_integer() or number <= 0:
            raise ValueError
    except (TypeError, ValueError):
        raise BatchInputError(f"{where}: {key} must be a positive integer, got {value!r}") from None
    return int(number)


def config_for(recording: Recording, base: Any) -> Any:
    """The configuration for one recording: `base` with the manifest's hints applied.

    A known ``num_speakers`` above ``max_speakers`` raises ``max_speakers`` to match,
    as ``diarize run --num-speakers`` does.

    Raises
    ------
    BatchInputError
        If the hints are inconsistent (e.g. ``min_speakers > max_speakers``).
    """
    from .errors import ConfigError

    if not recording.hints:
        return base
    try:
        return base.with_speakers(**dict(recording.hints))
    except ConfigError as exc:
        raise BatchInputError(f"{recording.source}: {exc}") from None


# ---------------------------------------------------------------------- the work
def render(result: Any, fmt: str) -> str:
    """Text of a diarization in format `fmt` (``rttm``, ``json``, ``csv`` or ``audacity``)."""
    from .io import format_diarization

    return format_diarization(result, fmt)


def process_one(task: Task) -> Record:
    """Diarize one recording and write its output atomically.

    Runs in a worker process (pool or Dask). Never raises for a bad recording: the
    failure is returned in the record so that it cannot stop the other recordings.

    Returns
    -------
    Record
        Status ``"ok"`` or ``"failed"``.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    rec = Record(path=task.path, uri=task.uri, output=task.output, status="ok")
    try:
        from .io import atomic_write_text
        from .pipeline import Diarizer

        # The pipeline runs with one BLAS thread and restores the setting on return.
        result = Diarizer(task.config)(task.path, uri=task.uri)
        text = render(result, task.fmt)
        atomic_write_text(task.output, text)
    except DiarizeError as exc:
        rec.status, rec.error, rec.message = "failed", type(exc).__name__, str(exc)
    except MemoryError:
        rec.status, rec.error, rec.message = "failed", "MemoryError", f"{task.path}: out of memory"
    except Exception as exc:  # noqa: BLE001 - a bug on one file must not stop the batch
        rec.status, rec.error = "failed", type(exc).__name__
        rec.message = f"{task.path}: {exc}"
    rec.seconds = time.perf_counter() - t0
    rec.cpu_seconds = time.process_time() - c0
    return rec


def _exit_with_parent(batch_pid: int) -> None:
    """Pool-worker initializer: exit when the batch process dies.

    A pool worker blocks on its task queue forever if the batch process is killed
    (SIGKILL runs no clean-up), so it watches it instead: the batch process itself, and
    its own parent (the batch process, or the fork server, which exits with it).
    """
    import threading

    parent = os.getppid()

    def alive() -> bool:
        try:
            os.kill(batch_pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # exists, owned by someone else: pid reused
            return False
        return os.getppid() == parent

    def watch() -> None:
        while alive():
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)  # mid-task is fine: outputs are written atomically

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _pool_context() -> multiprocessing.context.BaseContext:
    """A fresh-interpreter start method, so BLAS reads the thread limit at import.

    'forkserver' where available: one server process imports the pipeline once and
    forks the workers from it, instead of every 'spawn'ed worker importing numpy, scipy
    and librosa again (seconds of CPU each). The server is started, with the thread
    limit in its environment, by the first pool of this process.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(FORKSERVER_PRELOAD))
        return ctx
    return multiprocessing.get_context("spawn")


def _run_local(tasks: Sequence[Task], jobs: int) -> Iterator[Record]:
    """Yield records in completion order, running `tasks` (already ordered) on `jobs` processes."""
    if min(jobs, len(tasks)) <= 1:
        # In-process: no pool start-up (seconds of imports per worker), and a killed run
        # leaves no orphaned worker.
        for task in tasks:
            yield process_one(task)
        return
    ctx = _pool_context()
    with worker_environment(threads=BLAS_THREADS_PER_WORKER):
        # The environment must stay set while workers are spawned (on demand, at submit).
        pool = ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=ctx,
                                   initializer=_exit_with_parent, initargs=(os.getpid(),))
        try:
            futures = {pool.submit(process_one, t): t for t in tasks}
            for fut in as_completed(futures):
                try:
                    yield fut.result()
                except BrokenProcessPool:
                    # A worker died (killed, out of memory): its recordings are reported
                    # as failed and retried by the next run.
                    t = futures[fut]
                    yield Record(path=t.path, uri=t.uri, output=t.output, status="failed",
                                 error="WorkerDied",
                                 message=f"{t.path}: worker process died while diarizing")
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _run_dask(tasks: Sequence[Task], scheduler: str) -> Iterator[Record]:
    """Yield records in completion order, running `tasks` on a Dask cluster."""
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise MissingDependencyError(
            "--scheduler needs dask: pip install 'gmm-diarize[dask]'") from None
    try:
        # The default client for the duration of the run: distributed.as_completed needs one.
        client = Client(scheduler)
    except (OSError, TimeoutError, ValueError) as exc:
        raise BatchInputError(f"cannot connect to Dask scheduler {scheduler}: {exc}") from None
    try:
        # Higher priority runs first: keep the longest-first order on the cluster too.
        futures = [client.submit(process_one, t, pure=False, priority=len(tasks) - i,
                                 key=f"diarize-{i}-{t.uri}")
                   for i, t in enumerate(tasks)]
        tasks_by_key = {f.key: t for f, t in zip(futures, tasks)}
        for fut in dask_completed(futures):
            try:
                yield fut.result()
            except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker: report, go on
                t = tasks_by_key[fut.key]
                yield Record(path=t.path, uri=t.uri, output=t.output, status="failed",
                             error=type(exc).__name__, message=f"{t.path}: {exc}")
    finally:
        client.close()


# ---------------------------------------------------------------------- orchestration
def remove_stale_temps(output_dir: Path) -> list[Path]:
    """Delete temporary files left in `output_dir` by a killed run; return them."""
    removed = []
    for p in output_dir.iterdir():
        if _STALE_TMP.match(p.name) and p.is_file():
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed.append(p)
    return removed


def write_errors(output_dir: Path, failures: Sequence[Record]) -> Path | None:
    """Rewrite ``errors.tsv`` with `failures` (atomically); remove it if there are none."""
    from .io import atomic_write_text

    target = output_dir / ERRORS_FILE
    if not failures:
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        return None

    def clean(s: str) -> str:  # one record per line, fields tab-separated
        return re.sub(r"[\t\r\n]+", " ", s)

    lines = ["\t".join(ERRORS_HEADER)]
    lines += ["\t".join(clean(x) for x in (r.path, r.error, r.message)) for r in failures]
    atomic_write_text(target, "\n".join(lines) + "\n")
    return target


def run(inputs: Iterable[str | os.PathLike] | str | os.PathLike, output_dir: str | os.PathLike,
        *, jobs: int | None = None, fmt: str = "rttm", overwrite: bool = False,
        scheduler: str | None = None, config: Any = None,
        progress: Progress | None = None) -> BatchSummary:
    """Diarize many recordings into `output_dir`, one ``<uri>.<fmt>`` file each.

    Parameters
    ----------
    inputs : path-like or iterable of path-like
        Audio files, folders, globs and ``.csv`` / ``.jsonl`` manifests
        (see :func:`resolve_inputs`).
    output_dir : path-like
        Created if missing. Only one batch should write to a folder at a time.
    jobs : int, optional, keyword-only
        Worker processes (default :func:`default_jobs`: all cores); ignored with `scheduler`.
    fmt : {'rttm', 'json', 'csv'}, keyword-only
    overwrite : bool, keyword-only
        Diarize again recordings whose output exists (default: skip them, so that a
        rerun resumes an interrupted batch).
    scheduler : str, optional, keyword-only
        Address of a Dask distributed scheduler (``tcp://host:port``); its workers must
        see the inputs and `output_dir` at the same absolute paths.
    config : Config, optional, keyword-only
        Base configuration (default ``Config()``); manifest hints override it per file.
    progress : Progress, optional, keyword-only
        Receives start / per-recording / finish events.

    Returns
    -------
    BatchSummary
        Failed recordings are reported here and in ``output_dir/errors.tsv``.

    Raises
    ------
    BatchInputError
        Bad inputs or duplicate uris (before any work), bad `fmt` or `jobs`.
    MissingDependencyError
        `scheduler` given but dask is not installed.
    OutputError
        `output_dir` cannot be created.
    """
    from .config import Config

    t0 = time.perf_counter()
    if fmt not in FORMAT_EXTENSIONS:
        raise BatchInputError(f"unknown format {fmt!r} (choose from {', '.join(FORMAT_EXTENSIONS)})")
    if jobs is None:
        jobs = default_jobs()
    if jobs < 1:
        raise BatchInputError(f"jobs must be a positive integer, got {jobs}")
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    base = config if config is not None else Config()
    recordings = resolve_inputs(inputs)
    configs = [config_for(r, base) for r in recordings]  # inconsistent hints fail up front

    out_dir = Path(os.path.abspath(output_dir))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot create output directory ({exc.strerror or exc})") from None
    remove_stale_temps(out_dir)

    ext = FORMAT_EXTENSIONS[fmt]
    records: list[Record | None] = [None] * len(recordings)
    todo: list[tuple[int, Task]] = []
    for i, (rec, cfg) in enumerate(zip(recordings, configs)):
        target = out_dir / f"{rec.uri}.{ext}"
        if target.exists() and not overwrite:
            records[i] = Record(path=str(rec.path), uri=rec.uri, output=str(target),
                                status="skipped")
        else:
            todo.append((i, Task(path=str(rec.path), uri=rec.uri, output=str(target),
                                 fmt=fmt, config=cfg)))
    # Longest first (file size as the proxy): the big ones do not end up alone at the end.
    todo.sort(key=lambda it: (-_size(it[1].path), it[0]))
    tasks = [task for _, task in todo]
    by_output = {task.output: i for i, task in todo}  # outputs are unique, as uris are

    summary = BatchSummary(skipped=len(recordings) - len(tasks))
    if progress is not None:
        progress.start(total=len(tasks), skipped=summary.skipped)
    stream = _run_dask(tasks, scheduler) if scheduler else _run_local(tasks, jobs)
    for record in stream:
        records[by_output[record.output]] = record
        if record.status == "ok":
            summary.succeeded += 1
        else:
            summary.failed += 1
        if progress is not None:
            progress.update(record)
    summary.records = [r for r in records if r is not None]
    summary.errors_file = write_errors(out_dir, summary.failures)
    summary.elapsed = time.perf_counter() - t0
    if progress is not None:
        progress.finish(summary)
    return summary


def default_jobs() -> int:
    """Cores this process may run on (its CPU affinity where known, else ``os.cpu_count()``)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0  # missing files fail fast anyway


# ---------------------------------------------------------------------- progress display
#: Seconds between redraws of the terminal progress bar.
BAR_REFRESH_SECONDS = 0.1
#: Width of the bar in characters.
BAR_WIDTH = 30


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class ConsoleProgress:
    """Progress on a stream: a redrawn bar on a terminal, one line per recording otherwise.

    Parameters
    ----------
    stream : text stream, keyword-only
        Usually ``sys.stderr``.
    tty : bool, optional, keyword-only
        Draw a bar (default: whether `stream` is a terminal).
    """

    def __init__(self, *, stream: TextIO | None = None, tty: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.total = self.done = 0
        self.t0 = time.perf_counter()
        self._drawn = 0.0

    def start(self, *, total: int, skipped: int) -> None:
        self.total, self.done, self.t0 = total, 0, time.perf_counter()
        if skipped:
            self._line(f"batch: {skipped} recordings already done, skipped")
        if self.tty:
            self._draw(force=True)
        else:
            self._line(f"batch: {total} recordings to diarize")

    def _rate_eta(self) -> tuple[float, float | None]:
        elapsed = time.perf_counter() - self.t0
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else None
        return rate, eta

    def update(self, record: Record) -> None:
        self.done += 1
        rate, eta = self._rate_eta()
        if self.tty:
            if record.status == "failed":
                self._clear()
                self._line(f"failed: {record.message}")
            self._draw(force=self.done == self.total)
            return
        what = "ok" if record.status == "ok" else f"FAILED {record.error}: {record.message}"
        eta_text = _clock(eta) if eta is not None else "?"
        self._line(f"[{self.done}/{self.total}] {record.path}: {what} "
                   f"({record.seconds:.1f} s; {rate:.2f}/s, ETA {eta_text})")

    def finish(self, summary: BatchSummary) -> None:
        if self.tty:
            self._draw(force=True)
            self.stream.write("\n")
        cpu = sum(r.cpu_seconds for r in summary.records)
        text = (f"batch: {summary.succeeded} succeeded, {summary.skipped} skipped, "
                f"{summary.failed} failed in {summary.elapsed:.1f} s "
                f"({cpu:.1f} s CPU in recordings)")
        if summary.errors_file is not None:
            text += f" (see {summary.errors_file})"
        self._line(text)

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def _clear(self) -> None:
        self.stream.write("\r\x1b[K")

    def _draw(self, *, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._drawn < BAR_REFRESH_SECONDS:
            return
        self._drawn = now
        frac = self.done / self.total if self.total else 1.0
        filled = int(round(frac * BAR_WIDTH))
        rate, eta = self._rate_eta()
        eta_text = _clock(eta) if eta is not None else "--:--:--"
        self.stream.write(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
                          f"{self.done}/{self.total} {rate:.2f} rec/s ETA {eta_text}\x1b[K")
        self.stream.flush()
