"""Batch diarization: many recordings, all cores (or a Dask cluster), resumable.

:func:`run` resolves its inputs (audio files, folders, globs, CSV / JSON-lines
manifests) into recordings, skips those whose output already exists, diarizes the
rest longest-first on a process pool or a Dask cluster, and writes one
``<uri>.<ext>`` per recording atomically. Failures are collected in
``OUTDIR/errors.tsv`` instead of stopping the run.

Each worker diarizes with one BLAS thread (the pipeline limits its own calls with
threadpoolctl), and pool workers are started with the thread variables of the
environment set to 1, so that N workers use N cores and start no idle BLAS thread pools.
The workers are those of :class:`diarize.workers.Pool`: a dead worker fails only the
recording it held, and no worker outlives the batch process. The terminal progress
display is :class:`diarize.progress.ConsoleProgress`.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import glob
import io
import json
import os
import re
import signal
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Generator, Iterable, Iterator, Mapping, Protocol, Sequence

from .audio import AUDIO_SUFFIXES
from .errors import (AudioWarning, BatchInputError, DiarizeError, ForeignOutputError,
                     ManifestWarning, MissingDependencyError, NoSpeechWarning, OutputError,
                     OutputWriteError, SpeakerCountWarning, recording_warnings)
from .names import (clean_uri, file_key, name_text, os_name, output_name, printable,
                    special_file, temp_pattern, uri_for)
from .progress import stage_printer
from .workers import exit_text
from .workers import run_tasks as run_all
from .writers import (FORMATS, OUTPUT_LEDGER, atomic_write_text, check_replaceable,
                      check_writable_dir, format_diarization)

#: Input files with these extensions are manifests, not audio.
MANIFEST_EXTENSIONS = frozenset({".csv", ".jsonl"})
#: Output formats and the extension of their files (without the dot), from the one registry.
FORMAT_EXTENSIONS = {name: f.extension.lstrip(".") for name, f in FORMATS.items()}
#: Per-file hints a manifest may give; each overrides the configuration key of that name.
MANIFEST_HINTS = ("num_speakers", "min_speakers", "max_speakers")
MANIFEST_FIELDS = ("path", "uri", *MANIFEST_HINTS)
"""What a manifest row is read for; other columns get a :class:`ManifestWarning`."""
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
#: Header of the CSV output format: a ``.csv`` input that starts with it is an output of
#: ``diarize batch --format csv``, never a manifest (a manifest needs a ``path`` column).
OUTPUT_CSV_HEADER = "uri,start,end,duration,speaker"
#: Modules the pool's fork server imports once for all workers (import errors are
#: ignored by the fork server; librosa.filters is imported lazily by the MFCC front end).
FORKSERVER_PRELOAD = ("diarize.batch", "diarize.pipeline")
#: Duplicate uris listed in the error message before "...".
MAX_LISTED_DUPLICATES = 5
#: Temporary files left by :func:`diarize.writers.atomic_write_text`: ``.<name>.<random>.tmp``.
_STALE_TMP = temp_pattern([*FORMAT_EXTENSIONS.values(), "tsv", "npz"])
_GLOB_CHARS = re.compile(r"[*?\[]")
#: A failed write with one of these errors means no later write can succeed either (a
#: full or read-only device, a quota): the batch stops there instead of diarizing
#: recordings it cannot write.
STOP_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EIO})
# --- speaker linking (batch --link-speakers) ---
#: Hidden folder of the output folder where each recording's kept voices are stored
#: (``<uri>.npz``): its speakers' UBM statistics and its result with its own labels.
VOICES_DIR = ".diarize-voices"
#: The linked speakers of a ``--link-speakers`` batch: recordings and seconds per label.
SPEAKERS_FILE = "speakers.json"
#: Version of the kept-voices files; a file of another version is diarized again.
VOICES_FILE_VERSION = 1


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
    reference : dict of FileKey to list of Turn, optional
        Its reference turns (``diarize tune`` scores against them), under the keys of the
        reference file.
    """

    path: Path
    uri: str
    hints: tuple[tuple[str, int], ...] = ()
    source: str = ""
    reference: Mapping[Any, Sequence[Any]] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Task:
    """Everything a worker needs for one recording (picklable).

    Attributes
    ----------
    path, uri : str
        The audio file (absolute in a batch) and its file id.
    output : str
        The file to write; ``""``: return the text in :attr:`Record.text` instead.
    fmt : str
        A name in :data:`diarize.writers.FORMATS`.
    config : Config
    exclusive : bool
        Write the result without overlapping turns (:meth:`Diarization.exclusive`).
    verbose : bool
        Print each pipeline stage on stderr (:func:`diarize.progress.stage_printer`).
    index : int
        Its place among the tasks, handed back in :attr:`Record.index`.
    more : tuple of (str, str)
        More ``(format, file)`` pairs written from the same result after `output`
        (several formats, one diarization); ignored when `output` is empty.
    kept_voices : str
        ``batch --link-speakers``: keep the speakers' voices and store them, with the
        result, in this file (:func:`save_voices`); ``""``: keep none (and remove a kept
        file of an older result for this output, which no longer matches it).
    voices : str
        Folder of voiceprints whose names go on matching speakers (``--voices``);
        ``""``: none.

    An existing output is replaced only if it is ours
    (:func:`diarize.writers.check_replaceable`, checked just before the write).
    """

    path: str
    uri: str
    output: str
    fmt: str
    config: Any
    exclusive: bool = False
    verbose: bool = False
    index: int = 0
    more: tuple[tuple[str, str], ...] = ()
    kept_voices: str = ""
    voices: str = ""

    @property
    def outputs(self) -> tuple[tuple[str, str], ...]:
        """Every ``(format, file)`` this task writes: `fmt` to `output`, then `more`
        (none when `output` is empty: the text is handed back instead)."""
        return ((self.fmt, self.output), *self.more) if self.output else ()


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
    text : str
        The output, when the task wrote no file (``Task.output`` empty).
    speakers, turns : int
        Speakers and turns of the result.
    index : int
        The task's :attr:`Task.index`.
    talk_time : tuple of SpeakerTime
        Talk time of each speaker of the result (:meth:`Diarization.talk_time`).
    stop : bool
        The output could not be written for a reason no other output escapes (a full or
        read-only device, :data:`STOP_ERRNOS`): the batch stops.
    warnings : tuple of str
        The warnings diarizing it raised (no speech found, a speaker count it could not
        give, ...), one line each, in order, each once: the command line prints them in
        its own format, and not with ``--quiet``. Empty where they were not kept (a
        worker thread other than its process's main one, as a Dask worker's, shows them
        as Python does: the warnings filters belong to the process, not the thread).
    """

    path: str
    uri: str
    output: str
    status: str
    error: str = ""
    message: str = ""
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    text: str = ""
    speakers: int = 0
    turns: int = 0
    index: int = 0
    talk_time: tuple[Any, ...] = ()
    stop: bool = False
    warnings: tuple[str, ...] = ()


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
        The failure report, if any recording failed and it could be written.
    errors_text : str
        The failure report's text when it could not be written (else ``""``): the
        command line prints it.
    left : int
        Recordings not diarized because the run stopped (interrupted, or a full or
        read-only output device).
    stopped : str
        Why the run stopped early (``""``: it did not).
    skipped_files : list of Path
        Files a folder or glob listed that are not audio (a reference ``.rttm``, say),
        left out: the progress lists them at the end.
    """

    succeeded: int = 0
    skipped: int = 0
    failed: int = 0
    elapsed: float = 0.0
    records: list[Record] = field(default_factory=list)
    errors_file: Path | None = None
    errors_text: str = ""
    left: int = 0
    stopped: str = ""
    skipped_files: list[Path] = field(default_factory=list)
    linked: "LinkSummary | None" = None

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

    def start(self, *, total: int, skipped: int) -> None:
        """Before any work: `total` recordings will be reported, `skipped` are done."""

    def update(self, record: Record) -> None:
        """One recording is done (succeeded or failed)."""

    def finish(self, summary: BatchSummary) -> None:
        """The run is over (finished, stopped or interrupted): its summary."""


# ---------------------------------------------------------------------- input resolution
def resolve_inputs(inputs: Iterable[str | os.PathLike], *,
                   cwd: Path | None = None) -> list[Recording]:
    """Expand inputs into recordings, in input order.

    Parameters
    ----------
    inputs : iterable of path-like
        Audio files, folders (searched recursively for :data:`diarize.audio.AUDIO_SUFFIXES`), glob
        patterns, and ``.csv`` / ``.jsonl`` manifests with a ``path`` column and optional
        ``uri``, ``num_speakers``, ``min_speakers``, ``max_speakers``. A ``.csv`` file
        that is an output of ``--format csv`` (it starts with :data:`OUTPUT_CSV_HEADER`)
        is not a manifest and is left out.
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
    return _resolve(inputs, cwd=cwd)[0]


def _resolve(inputs: Iterable[str | os.PathLike], *, cwd: Path | None = None,
             output_dir: Path | None = None
             ) -> tuple[list[Recording], list[Path], list[Path]]:
    """:func:`resolve_inputs`, also returning the manifests read and the files a folder
    or glob listed that were left out (not audio, not a manifest).

    Files in `output_dir` named like outputs (``*.rttm``, ``*.json``, ``*.txt``, the
    failure report) are outputs of an earlier run, never inputs: a glob or a shell
    expansion that lists them leaves them out. A file named directly is always a
    recording (or a manifest): if it cannot be read, its recording fails and says why.
    """
    found: list[Recording] = []
    manifests: list[Path] = []
    skipped: list[Path] = []

    def add_listed(files: tuple[list[Path], list[Path]], source: str) -> None:
        audio, other = files
        found.extend(recording(f, source=source) for f in audio)
        skipped.extend(f for f in other if not _is_output(f, output_dir))

    def add_file(f: Path, source: str) -> None:
        if _is_output(f, output_dir):
            return
        if f.suffix.lower() in MANIFEST_EXTENSIONS:
            manifests.append(Path(os.path.abspath(f)))
            found.extend(read_manifest(f))
        else:
            found.append(recording(f, source=source))

    for raw in inputs:
        text = os.fspath(raw)
        if isinstance(text, bytes):
            text = os.fsdecode(text)
        p = Path(text)
        if not p.is_absolute():
            # the current folder is asked for only here: absolute inputs need none
            p = (cwd if cwd is not None else Path.cwd()) / p
        if p.is_dir():
            add_listed(_listed_files_in(p), text)
        elif os.path.lexists(p):
            # A file (or something that is not one: a FIFO, a dangling link) named
            # directly: its recording fails with the reason if it cannot be read.
            add_file(p, text)
        elif _GLOB_CHARS.search(text):
            matches = sorted(glob.glob(str(p), recursive=True))
            if not matches:
                raise BatchInputError(f"{printable(text)}: no files match")
            for m in map(Path, matches):
                if m.is_dir():
                    add_listed(_listed_files_in(m), text)
                elif m.suffix.lower() in MANIFEST_EXTENSIONS or m.suffix.lower() in AUDIO_SUFFIXES:
                    add_file(m, text)
                elif not _is_output(m, output_dir):
                    skipped.append(m)
        else:
            raise BatchInputError(f"{printable(text)}: no such file or directory")
    return check_unique(found), manifests, skipped


def _is_output(path: Path, output_dir: Path | None) -> bool:
    """Whether `path` is an output of a batch run: a CSV that starts with the output
    header anywhere, or a file named like an output in the output folder."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
                first = f.readline().strip()
        except OSError:
            return False
        if first == OUTPUT_CSV_HEADER:
            return True
    if output_dir is not None and Path(os.path.abspath(path)).parent == output_dir / VOICES_DIR:
        return True  # kept voices of a --link-speakers batch
    if output_dir is None or Path(os.path.abspath(path)).parent != output_dir:
        return False
    return (path.name in (ERRORS_FILE, OUTPUT_LEDGER)
            or suffix in {f.extension for f in FORMATS.values()} - MANIFEST_EXTENSIONS)


def _audio_files_in(folder: Path) -> list[Path]:
    """The audio files under `folder` (see :func:`_listed_files_in`)."""
    return _listed_files_in(folder)[0]


def _listed_files_in(folder: Path) -> tuple[list[Path], list[Path]]:
    """The files under `folder`, recursively: (audio, other), each sorted.

    Symbolic links to folders are followed, each real folder once (a link to a folder
    above it would otherwise loop). Every entry that is not a folder and has an audio
    suffix is audio, readable or not (an unreadable one fails with its reason), except a
    named pipe, device or socket, which no folder of recordings holds and whose reading
    could wait forever (it is listed with the other files); hidden files (ours: the
    ledger, temporary files) are neither.
    """
    audio: list[Path] = []
    other: list[Path] = []
    seen: set[str] = set()

    def walk(d: Path) -> None:
        real = os.path.realpath(d)
        if real in seen:
            return
        seen.add(real)
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError:
            other.append(d)  # a folder we cannot list: named at the end of the run
            return
        for entry in entries:
            f = d / entry.name
            try:
                is_dir = entry.is_dir()  # follows links
            except OSError:
                is_dir = False
            if is_dir:
                walk(f)
            elif entry.name.startswith("."):
                continue  # hidden: ours (the ledger, temporary files), or macOS's ._x.wav
            elif f.suffix.lower() in AUDIO_SUFFIXES and not special_file(f):
                audio.append(f)
            else:
                other.append(f)

    walk(folder)
    # Sorted so that input order (and the order of records) is reproducible.
    return sorted(audio), sorted(other)


def recording(path: str | os.PathLike, *, source: str, uri: str | None = None,
              hints: tuple[tuple[str, int], ...] = (),
              reference: Mapping[Any, Sequence[Any]] | None = None) -> Recording:
    """The recording at `path`, named `uri` (default: from the file name), found via `source`."""
    return Recording(path=Path(os.path.abspath(path)), uri=uri or uri_for(path),
                     hints=hints, source=source, reference=reference)


def check_unique(found: list[Recording]) -> list[Recording]:
    """Drop exact repeats; raise if one uri names two different recordings."""
    by_uri: dict[str, Recording] = {}
    out: list[Recording] = []
    clashes: list[str] = []
    for rec in found:
        prev = by_uri.get(rec.uri)
        if prev is None:
            by_uri[rec.uri] = rec
            out.append(rec)
        elif ((os.path.realpath(prev.path), prev.hints)
              != (os.path.realpath(rec.path), rec.hints)):
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
        # as csv reads a file: a quoted field may hold a line break
        reader = csv.DictReader(io.StringIO(text, newline=""))
        names = [n.strip() for n in (reader.fieldnames or [])]
        if "path" not in names:
            raise BatchInputError(f"{path}: manifest has no 'path' column")
        for row in reader:
            clean = {(k or "").strip(): (v.strip() if isinstance(v, str) else v)
                     for k, v in row.items()}
            rows.append((reader.line_num, clean))
    else:
        # JSON Lines are split at "\n" only: U+2028 and the like may sit inside a string
        for n, line in enumerate(text.split("\n"), start=1):
            line = line.removesuffix("\r")
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BatchInputError(f"{path}:{n}: invalid JSON ({exc.msg})") from None
            except RecursionError:
                raise BatchInputError(f"{path}:{n}: not a manifest line (JSON nested too "
                                      "deeply)") from None
            if not isinstance(obj, dict):
                raise BatchInputError(f"{path}:{n}: expected a JSON object")
            rows.append((n, obj))
    unread = list(dict.fromkeys(k for _, row in rows for k in row
                                if k not in MANIFEST_FIELDS and k))
    if unread:
        listed = ", ".join(repr(k) for k in unread[:MAX_LISTED_DUPLICATES])
        warnings.warn(f"{path}: {'field' if path.suffix.lower() == '.jsonl' else 'column'}"
                      f"{'s' if len(unread) > 1 else ''} {listed}"
                      f"{', ...' if len(unread) > MAX_LISTED_DUPLICATES else ''} not read "
                      f"(a manifest reads {', '.join(MANIFEST_FIELDS)})",
                      ManifestWarning, stacklevel=2)
    out = []
    for n, row in rows:
        where = f"{path}:{n}"
        audio = row.get("path")
        if not isinstance(audio, str) or not audio.strip():
            raise BatchInputError(f"{where}: missing 'path'")
        # A manifest is UTF-8 text: its paths are the files whose names are those bytes,
        # in every locale.
        on_disk = os_name(audio.strip())
        if on_disk is None:
            raise BatchInputError(f"{where}: path {audio!r} is not usable as a file name")
        audio_path = Path(on_disk)
        if not audio_path.is_absolute():
            audio_path = path.parent / audio_path
        uri = _manifest_uri(row.get("uri"), where)
        hints = tuple((k, _manifest_int(row.get(k), k, where)) for k in MANIFEST_HINTS
                      if row.get(k) not in (None, ""))
        out.append(recording(audio_path, source=where, uri=uri, hints=hints))
    return out


def _manifest_uri(value: Any, where: str) -> str | None:
    if value in (None, ""):
        return None
    uri = clean_uri(str(value))
    if uri is None:
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
#: The package's own warnings about a recording: kept for each recording that raises
#: them (the default filter would show each once per process, for its first recording).
_RECORDING_WARNINGS = (AudioWarning, NoSpeechWarning, SpeakerCountWarning)


@contextlib.contextmanager
def kept_warnings() -> Iterator[list[str]]:
    """Keep the warnings raised inside instead of showing them: the list yielded holds
    them when the block ends, one line each, in order, each once.

    A worker process would show them in Python's format (the source line included) on
    its stderr, past the command line's one-line format and its ``--quiet``; the command
    line prints what was kept. The package's own warnings about a recording are kept
    each time (the default filter shows one once per process). In a thread other than
    the main one (a Dask worker's) catching warnings would change the filters of the
    whole process: the package's warnings about the recording
    (:func:`diarize.errors.warn_recording`) are kept through this thread's own list
    instead, and no others.
    """
    kept: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        with recording_warnings() as collected:
            try:
                yield kept
            finally:
                kept.extend(dict.fromkeys(" ".join(m.split()) for m in collected))
        return
    with warnings.catch_warnings(record=True) as caught:
        for category in _RECORDING_WARNINGS:
            warnings.simplefilter("always", category)
        try:
            yield kept
        finally:
            lines: dict[str, None] = {}
            for w in caught:
                lines.setdefault(" ".join(str(w.message).split()), None)
            kept.extend(lines)


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
    rec = Record(path=task.path, uri=task.uri, output=task.output, status="ok", index=task.index)
    try:
        from .pipeline import Diarizer

        # The pipeline runs with one BLAS thread and restores the setting on return.
        # No output format holds the speakers' models and posteriors: not kept.
        with kept_warnings() as warned:
            result = Diarizer(task.config, keep_voices=bool(task.kept_voices),
                              voices=task.voices or None, keep_models=False)(
                task.path, uri=task.uri,
                hook=stage_printer(task.path) if task.verbose else None)
        rec.warnings = tuple(warned)
        if task.exclusive:
            result = result.exclusive()
        rec.speakers, rec.turns = len(result.speakers), len(result)
        rec.talk_time = tuple(result.talk_time().values())
        if task.output:
            # Checked (again) now: a file not ours may have appeared since the batch looked.
            for fmt, output in task.outputs:
                check_replaceable(output, fmt=fmt, uri=task.uri)
            for fmt, output in task.outputs:
                atomic_write_text(output, format_diarization(result, fmt, source=task.path),
                                  ledger=FORMATS[fmt].render_marked is None)
            # --- speaker linking: kept voices, or none that no longer match the output
            if task.kept_voices:
                save_voices(task.kept_voices, result, fingerprint=_fingerprint(task.config))
            else:
                with contextlib.suppress(OSError):
                    voices_path(Path(task.output).parent, task.uri).unlink()
        else:
            rec.text = format_diarization(result, task.fmt)
    except OutputWriteError as exc:
        rec.status, rec.error, rec.message = "failed", type(exc).__name__, str(exc)
        rec.stop = exc.errno in STOP_ERRNOS
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


def _failed_record(task: Task, error: str, message: str) -> Record:
    """The record of `task` failed outside :func:`process_one` (its worker died, the
    cluster failed it): `error` names the kind, `message` says why."""
    return Record(path=task.path, uri=task.uri, output=task.output, status="failed",
                  index=task.index, error=error, message=message)


def _died_record(task: Task, exitcode: int | None) -> Record:
    return _failed_record(task, "WorkerDied", f"{task.path}: worker process died while "
                          f"diarizing ({exit_text(exitcode)})")


def run_tasks(tasks: Sequence[Task], jobs: int) -> Generator[Record, None, None]:
    """Yield records in completion order, running `tasks` (already ordered) on `jobs`
    processes (:func:`diarize.workers.run_tasks`: one job runs in this process)."""
    return run_all(tasks, jobs, work=process_one, died=_died_record,
                   preload=FORKSERVER_PRELOAD, threads=BLAS_THREADS_PER_WORKER)


DASK_CONNECT_SECONDS = 60.0
"""How long a Dask scheduler may take to connect and answer: an address that is not a
scheduler's (an HTTP dashboard, a server that speaks first) may never answer."""
DASK_NO_WORKERS_SECONDS = 120.0
"""How long a run may wait on a cluster with no workers (none started, or all gone: one
without the package shuts itself down) before the recordings left fail."""
DASK_POLL_SECONDS = 5.0
"""How often a run waiting for results looks at the cluster's workers."""
DASK_WAIT_STEP = 0.05
"""How often (seconds) a run looks whether a recording on the cluster has finished."""


def _dask_client(scheduler: str) -> Any:
    """A Client of `scheduler`, or BatchInputError: refused, unreachable, no answer within
    :data:`DASK_CONNECT_SECONDS`, or an answer that is not a Dask scheduler's."""
    from distributed import Client

    if not scheduler.strip():
        raise BatchInputError("--scheduler: an empty address (give tcp://HOST:PORT)")
    box: dict[str, Any] = {}

    def connect() -> None:
        try:
            box["client"] = Client(scheduler, timeout=DASK_CONNECT_SECONDS)
        except BaseException as exc:  # noqa: BLE001 - reported below, in one line
            box["error"] = exc

    # In a thread of its own: after the connection, Dask waits for the scheduler's
    # answer without a limit, and an HTTP server never gives one.
    thread = threading.Thread(target=connect, name="diarize-dask-connect", daemon=True)
    thread.start()
    thread.join(DASK_CONNECT_SECONDS + 5.0)
    if thread.is_alive():
        raise BatchInputError(f"cannot connect to Dask scheduler {scheduler}: no answer in "
                              f"{DASK_CONNECT_SECONDS:g} s (is it a scheduler's address?)")
    error = box.get("error")
    if isinstance(error, (OSError, TimeoutError, ValueError)):
        raise BatchInputError(f"cannot connect to Dask scheduler {scheduler}: {error}")
    if error is not None:  # a worker's or another server's answer, read as a scheduler's
        raise BatchInputError(f"cannot connect to Dask scheduler {scheduler}: it did not "
                              f"answer as a Dask scheduler ({type(error).__name__})")
    return box["client"]


def _run_dask(tasks: Sequence[Task], scheduler: str) -> Generator[Record, None, None]:
    """Yield records in completion order, running `tasks` on a Dask cluster.

    A recording that a worker is running when the batch stops (Ctrl-C) runs to its end
    there: Dask cannot stop a running task. The others are cancelled.
    """
    import logging
    import uuid

    try:
        import distributed  # noqa: F401  (the client is made in _dask_client)
    except ImportError:
        raise MissingDependencyError(
            "--scheduler needs dask: pip install 'gmm-diarize[dask]'") from None
    client = _dask_client(scheduler)
    # The client's own log (a scheduler lost mid-run: tracebacks) is not ours to print;
    # what it means reaches every recording's record.
    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        # Keys unique to this run: Dask takes tasks of one key from two clients for one
        # task, and a second batch on the cluster was handed the first one's.
        run = uuid.uuid4().hex[:12]
        # Higher priority runs first: keep the longest-first order on the cluster too.
        futures = [client.submit(process_one, t, pure=False, priority=len(tasks) - i,
                                 key=f"diarize-{run}-{i}-{t.uri}")
                   for i, t in enumerate(tasks)]
        index = {f.key: i for i, f in enumerate(futures)}
        pending = set(futures)
        no_workers_since: float | None = None
        looked = time.monotonic()
        while pending:
            # Each future's own state, not distributed.wait: that one works through the
            # process's default client, the wrong one when a program holds two
            done = {f for f in pending if f.done()}
            if not done and time.monotonic() - looked < DASK_POLL_SECONDS:
                time.sleep(DASK_WAIT_STEP)
                continue
            looked = time.monotonic()
            pending -= done
            for fut in sorted(done, key=lambda f: index[f.key]):
                t = tasks[index[fut.key]]
                try:
                    yield fut.result()
                except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker: report, go on
                    yield _failed_record(t, type(exc).__name__, f"{t.path}: {exc}")
            if done or not pending:
                no_workers_since = None
                continue
            try:
                workers = client.scheduler_info().get("workers", {})
            except Exception:  # noqa: BLE001 - a scheduler gone: its futures fail on their own
                workers = {"?": None}
            if workers:
                no_workers_since = None
                continue
            no_workers_since = no_workers_since or time.monotonic()
            if time.monotonic() - no_workers_since < DASK_NO_WORKERS_SECONDS:
                continue
            for fut in sorted(pending, key=lambda f: index[f.key]):
                t = tasks[index[fut.key]]
                yield _failed_record(t, "NoDaskWorkers",
                                     f"{t.path}: the Dask cluster has had no workers for "
                                     f"{DASK_NO_WORKERS_SECONDS:g} s (a worker without "
                                     "gmm-diarize installed stops)")
            pending = set()
    finally:
        client.close()  # releases the futures: those not started are dropped
        quiet.setLevel(level)


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


def errors_text(failures: Sequence[Record]) -> str:
    """The text of ``errors.tsv``: a header, then one line per failure."""
    def clean(s: str) -> str:  # one record per line, fields tab-separated, valid UTF-8
        return re.sub(r"[\t\r\n]+", " ", printable(s))

    lines = ["\t".join(ERRORS_HEADER)]
    # the path as a name's bytes read as UTF-8, in every locale (the messages show the
    # paths they name as the locale reads them)
    lines += ["\t".join(clean(x) for x in (name_text(r.path), r.error, r.message))
              for r in failures]
    return "\n".join(lines) + "\n"


def write_errors(output_dir: Path, failures: Sequence[Record]) -> Path | None:
    """Rewrite ``errors.tsv`` with `failures` (atomically); remove it if there are none.

    Raises
    ------
    OutputWriteError
        It cannot be written (a full or read-only device).
    """
    target = output_dir / ERRORS_FILE
    if not failures:
        with contextlib.suppress(OSError):
            target.unlink()
        return None
    atomic_write_text(target, errors_text(failures))
    return target


def _check_errors_file(target: Path) -> None:
    """Refuse a failure report that is not ours (its first line is not our header)."""
    if not os.path.lexists(target):
        return
    try:
        with open(target, encoding="utf-8", errors="replace") as f:
            first = f.readline().rstrip("\n")
    except OSError:
        first = ""
    if first != "\t".join(ERRORS_HEADER):
        raise ForeignOutputError(
            f"{printable(str(target))}: exists and was not written by diarize; it is never "
            "replaced: write to another folder (-o DIR), or move it away")


def run(inputs: Iterable[str | os.PathLike] | str | os.PathLike, output_dir: str | os.PathLike,
        *, jobs: int | None = None, fmt: str | Sequence[str] = "rttm", overwrite: bool = False,
        scheduler: str | None = None, config: Any = None,
        progress: Progress | None = None, link_speakers: bool = False,
        voices: str | os.PathLike | None = None) -> BatchSummary:
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
    fmt : str or sequence of str, keyword-only
        A name in :data:`diarize.writers.FORMATS` (``rttm``, ``json``, ``csv``,
        ``audacity``, ``textgrid``), or several: each recording is diarized once and
        written in each, and is skipped only when all its outputs exist.
    overwrite : bool, keyword-only
        Diarize again recordings whose output of ours exists (default: skip them, so
        that a rerun resumes an interrupted batch). An existing output that is not ours
        (:func:`diarize.writers.is_ours`) is never replaced: its recording fails, before
        any work, with a message naming the file.
    scheduler : str, optional, keyword-only
        Address of a Dask distributed scheduler (``tcp://host:port``); its workers must
        see the inputs and `output_dir` at the same absolute paths.
    config : Config, optional, keyword-only
        Base configuration (default ``Config()``); manifest hints override it per file.
    progress : Progress, optional, keyword-only
        Receives start / per-recording / finish events.
    link_speakers : bool, keyword-only
        One label per distinct voice over the whole batch: each recording's speakers'
        voices are kept in ``output_dir/.diarize-voices``, and after the last recording
        the speakers of every recording among `inputs`, diarized now or by an earlier
        run, are linked
        (:mod:`diarize.link`), their outputs rewritten with the global labels and
        ``output_dir/speakers.json`` written (:attr:`BatchSummary.linked`). A recording
        whose output exists without kept voices (a batch run without linking) is
        diarized again. Failed recordings are left out; nothing is linked when the run
        stops early.
    voices : path-like, optional, keyword-only
        A folder of voiceprints (``diarize enroll``): speakers whose voice matches an
        enrolled one are named after it (checked before any work).

    Returns
    -------
    BatchSummary
        Failed recordings are reported here and in ``output_dir/errors.tsv`` (in
        :attr:`BatchSummary.errors_text` when that cannot be written). A write that
        fails for a full or read-only device (:data:`STOP_ERRNOS`) stops the run there
        (:attr:`BatchSummary.stopped`, :attr:`BatchSummary.left`).

    Raises
    ------
    BatchInputError
        Bad inputs or duplicate uris (before any work), bad `fmt` or `jobs`, or an output
        path that is an input file (an input is never overwritten).
    MissingDependencyError
        `scheduler` given but dask is not installed.
    VoiceError
        `voices` is not a folder of voiceprints usable with `config` (before any work).
    ModelError
        A model file the configuration names cannot be loaded.
    OutputError
        `output_dir` cannot be created or written (checked before any work), or its
        ``errors.tsv`` (or, linking, ``speakers.json``) is not ours, or ``speakers.json``
        cannot be written (after the failures are reported).
    KeyboardInterrupt
        Ctrl-C: the failures so far are written to ``errors.tsv`` and the progress
        gets its ``finish`` (with :attr:`BatchSummary.stopped` ``"interrupted"``) first.
    """
    from .config import Config
    from .models import check_model_files

    t0 = time.perf_counter()
    formats, jobs = _checked_formats(fmt), _checked_jobs(jobs)
    if isinstance(inputs, (str, bytes, os.PathLike)):
        inputs = [inputs]
    base = config if config is not None else Config()
    check_model_files(base)  # once, before any work: not once per recording
    fingerprint = _fingerprint(base) if link_speakers else ""
    voices_dir = ""
    library = None
    if voices is not None:
        # Refused before any work (no such folder, no voiceprints, a foreign one); the
        # workers read the folder again by its absolute path.
        from .pipeline import Diarizer

        library = Diarizer(base, voices=voices).voices
        voices_dir = os.path.abspath(voices)
    out_dir = Path(os.path.abspath(output_dir))
    recordings, manifests, skipped_files = _resolve(inputs, output_dir=out_dir)
    configs = [config_for(r, base) for r in recordings]  # inconsistent hints fail up front

    outputs = [[out_dir / output_name(rec.uri, FORMATS[f].extension) for f in formats]
               for rec in recordings]
    _check_output_folder(out_dir, outputs, [r.path for r in recordings] + manifests,
                         link_speakers=link_speakers)

    def remove_temps() -> None:
        # What a killed run (or a worker stopped mid-write) left half-written.
        for folder in (out_dir / VOICES_DIR, out_dir) if link_speakers else (out_dir,):
            with contextlib.suppress(OSError):
                remove_stale_temps(folder)

    remove_temps()

    records, todo = _plan(recordings, configs, outputs, formats, out_dir,
                          overwrite=overwrite, link_speakers=link_speakers,
                          fingerprint=fingerprint, voices_dir=voices_dir)
    refused = sum(r is not None and r.status == "failed" for r in records)
    # Longest first (file size as the proxy): the big ones do not end up alone at the end.
    todo.sort(key=lambda it: (-_size(it[1].path), it[0]))
    tasks = [task for _, task in todo]
    by_output = {task.output: i for i, task in todo}  # outputs are unique, as uris are

    summary = BatchSummary(skipped=len(recordings) - len(tasks) - refused, failed=refused,
                           skipped_files=skipped_files)
    if progress is not None:
        progress.start(total=len(tasks) + refused, skipped=summary.skipped)
        for r in records:
            if r is not None and r.status == "failed":
                progress.update(r)
    interrupted = _execute(tasks, records, by_output, summary, jobs=jobs, scheduler=scheduler,
                           progress=progress, remove_temps=remove_temps)
    summary.records = [r for r in records if r is not None]
    summary.left = len(tasks) + refused - summary.succeeded - summary.failed
    link_error: OutputError | None = None
    # --- speaker linking: a final step over the kept voices of every recording done
    if link_speakers and interrupted is None and not summary.stopped:
        try:
            summary.linked = link_outputs(out_dir, recordings,
                                          [r for r in records if r is not None],
                                          formats=formats, config=base,
                                          matcher=None if library is None else
                                          library.matcher(config=base))
        except KeyboardInterrupt as exc:
            interrupted = exc
            summary.stopped = "interrupted"
        except OutputError as exc:
            # speakers.json cannot be written: raised once the failures are reported
            link_error = exc
        failed_now = sum(r.status == "failed" for r in summary.records) - summary.failed
        if failed_now:  # outputs that linking could not rewrite
            summary.failed += failed_now
            summary.succeeded = sum(r.status == "ok" for r in summary.records)
            summary.skipped = sum(r.status == "skipped" for r in summary.records)
    elif not link_speakers and summary.succeeded:
        # Outputs rewritten without linking: a speakers.json of an earlier linked run
        # no longer describes them.
        with contextlib.suppress(ForeignOutputError, OSError):
            _check_speakers_file(out_dir / SPEAKERS_FILE)
            (out_dir / SPEAKERS_FILE).unlink()
    try:
        summary.errors_file = write_errors(out_dir, summary.failures)
    except OutputError:
        # The failures must not be lost with the device: the command line prints them.
        summary.errors_text = errors_text(summary.failures)
    summary.elapsed = time.perf_counter() - t0
    if progress is not None:
        progress.finish(summary)
    if interrupted is not None:
        raise interrupted
    if link_error is not None:
        raise link_error
    return summary


def _checked_formats(fmt: str | Sequence[str]) -> tuple[str, ...]:
    """`fmt` as a tuple of known format names without repeats, or BatchInputError."""
    formats = (fmt,) if isinstance(fmt, str) else tuple(dict.fromkeys(fmt))
    for name in formats or (None,):
        if not isinstance(name, str) or name not in FORMAT_EXTENSIONS:
            raise BatchInputError(
                f"unknown format {name!r} (choose from {', '.join(FORMAT_EXTENSIONS)})")
    return formats


def _checked_jobs(jobs: int | None) -> int:
    """`jobs` (default :func:`default_jobs`) if it is a positive integer, or BatchInputError."""
    if jobs is None:
        jobs = default_jobs()
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise BatchInputError(f"jobs must be a positive integer, got {jobs!r}")
    return jobs


def _check_output_folder(out_dir: Path, outputs: list[list[Path]], inputs: list[Path], *,
                         link_speakers: bool) -> None:
    """Before any work: no output is an input, and the folder (and the files a run
    rewrites in it) can be written; a folder we cannot write must not cost hours of
    diarization."""
    _refuse_overwriting_inputs([p for paths in outputs for p in paths]
                               + ([out_dir / SPEAKERS_FILE] if link_speakers else []),
                               inputs, out_dir / ERRORS_FILE)
    check_writable_dir(out_dir)
    _check_errors_file(out_dir / ERRORS_FILE)
    if link_speakers:
        _check_speakers_file(out_dir / SPEAKERS_FILE)
        check_writable_dir(out_dir / VOICES_DIR)


def _plan(recordings: list[Recording], configs: list, outputs: list[list[Path]],
          formats: tuple[str, ...], out_dir: Path, *, overwrite: bool, link_speakers: bool,
          fingerprint: str, voices_dir: str
          ) -> tuple[list[Record | None], list[tuple[int, Task]]]:
    """What each recording needs: its record where it needs no work (skipped: done; or
    failed: an output there that is not ours), and the tasks of the others with their
    recording's index."""
    records: list[Record | None] = [None] * len(recordings)
    todo: list[tuple[int, Task]] = []
    for i, (rec, cfg, paths) in enumerate(zip(recordings, configs, outputs)):
        target = paths[0]
        try:
            if link_speakers and any(p.name.lower() == SPEAKERS_FILE for p in paths):
                raise ForeignOutputError(
                    f"{printable(str(out_dir / SPEAKERS_FILE))}: the JSON output of "
                    f"{printable(str(rec.path))} would be the linking report: give the "
                    "recording another uri (a manifest's uri column)")
            ours = [check_replaceable(p, fmt=f, uri=rec.uri) for f, p in zip(formats, paths)]
        except ForeignOutputError as exc:
            # Never replaced, and not diarized for nothing: a failure, before any work.
            records[i] = Record(path=str(rec.path), uri=rec.uri, output=str(target),
                                status="failed", error=type(exc).__name__, message=str(exc))
            continue
        # Linking needs each recording's kept voices: an output without them (from a
        # batch run without --link-speakers) is diarized again.
        kept = str(voices_path(out_dir, rec.uri)) if link_speakers else ""
        if all(ours) and not overwrite and (not kept or voices_ok(Path(kept), fingerprint)):
            records[i] = Record(path=str(rec.path), uri=rec.uri, output=str(target),
                                status="skipped")
        else:
            todo.append((i, Task(path=str(rec.path), uri=rec.uri, output=str(target),
                                 fmt=formats[0], config=cfg, kept_voices=kept,
                                 more=tuple(zip(formats[1:], map(str, paths[1:]))),
                                 # Linked voices are named once, over the batch, from
                                 # their pooled speech (below), not per recording.
                                 voices="" if link_speakers else voices_dir)))
    return records, todo


def _execute(tasks: list[Task], records: list[Record | None], by_output: dict[str, int],
             summary: BatchSummary, *, jobs: int, scheduler: str | None,
             progress: Progress | None, remove_temps: Callable[[], None]
             ) -> KeyboardInterrupt | None:
    """Run `tasks` (on the pool or the Dask scheduler), putting each record in its place
    of `records` and counting it in `summary`; the Ctrl-C that stopped the run, if one
    did. A full or read-only device stops the run at the first record that says so."""
    try:
        with _sigterm_stops_the_run(), contextlib.closing(
                _run_dask(tasks, scheduler) if scheduler is not None
                else run_tasks(tasks, jobs)) as stream:
            for record in stream:
                records[by_output[record.output]] = record
                if record.status == "ok":
                    summary.succeeded += 1
                else:
                    summary.failed += 1
                if progress is not None:
                    progress.update(record)
                if record.stop:
                    # The device is full or read-only: no later output could be written.
                    summary.stopped = f"stopped: {record.message}"
                    break
    except BatchTerminated:
        # The workers are stopped (the stream is closed), some perhaps mid-write; now go
        # as SIGTERM means.
        remove_temps()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        raise
    except KeyboardInterrupt as exc:
        summary.stopped = "interrupted"
        remove_temps()  # the workers are stopped, some perhaps mid-write
        return exc
    return None


class BatchTerminated(BaseException):
    """SIGTERM arrived while a batch ran in the main thread (see :func:`run`)."""


@contextlib.contextmanager
def _sigterm_stops_the_run() -> Iterator[None]:
    """While the run lasts, SIGTERM raises :class:`BatchTerminated` in the main thread.

    Without this, SIGTERM would end the batch process at once and leave the workers to
    notice on their own; with it, the workers are killed first. Only where SIGTERM has
    its default action: a program that handles SIGTERM itself keeps its handler.
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise BatchTerminated(signum)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _refuse_overwriting_inputs(targets: Sequence[Path], inputs: Sequence[Path],
                               errors_file: Path) -> None:
    """Raise if an output (or the failure report) would be written over an input file."""
    input_keys = {file_key(p): p for p in inputs}
    for target in [*targets, errors_file]:
        source = input_keys.get(file_key(target))
        if source is not None:
            raise BatchInputError(
                f"{printable(str(target))}: the output would overwrite the input "
                f"{printable(str(source))}; choose another output folder")


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


# ---------------------------------------------------------------------- speaker linking
# ``diarize batch --link-speakers``: each worker stores its recording's voices (UBM
# statistics of each output speaker) and its result under its own labels in
# OUTDIR/.diarize-voices/<uri>.npz; after the last task, :func:`link_outputs` links the
# speakers of every recording done (diarized now or before) and rewrites their outputs
# with the global labels. The outputs are always rendered from the stored result, so a
# rerun links again from scratch (new recordings included) whatever labels the files hold.
@dataclass
class LinkSummary:
    """What the linking step of a ``--link-speakers`` batch did.

    Attributes
    ----------
    recordings : int
        Recordings linked.
    speakers : int
        Their output speakers (each recording's own).
    voices : int
        Distinct voices (global labels) they were linked into.
    speakers_file : Path
        ``OUTDIR/speakers.json``.
    not_linked : list of str
        The uris of recordings whose voices an earlier run kept in OUTDIR but that were
        not among this run's inputs: they are not linked now, and keep the labels of the
        run that linked them (which may now name other voices).
    """

    recordings: int
    speakers: int
    voices: int
    speakers_file: Path
    not_linked: list[str] = field(default_factory=list)


def voices_path(output_dir: Path, uri: str) -> Path:
    """Where recording `uri`'s kept voices are stored in `output_dir`."""
    return output_dir / VOICES_DIR / output_name(uri, ".npz")


def _fingerprint(config: Any) -> str:
    """The :func:`diarize.link.ubm_fingerprint` of the UBM `config` links speakers with."""
    from .cluster import speaker_ubm
    from .link import ubm_fingerprint

    ubm = speaker_ubm(config.cluster)
    if ubm is None:
        raise BatchInputError("--link-speakers needs cluster.link_method = 'ubm' (speakers "
                              "are linked with models adapted from its UBM)")
    return ubm_fingerprint(ubm)


def save_voices(path: str | os.PathLike, result: Any, *, fingerprint: str) -> None:
    """Store a result's speakers' voices and the result itself (plain arrays, no pickle,
    atomic).

    Parameters
    ----------
    path : path-like
    result : Diarization
        With :attr:`~diarize.segments.Diarization.voice_stats` (``keep_voices``).
    fingerprint : str, keyword-only
        The UBM's :func:`diarize.link.ubm_fingerprint`.
    """
    import io

    import numpy as np

    from .writers import atomic_write

    names = list(result.speakers)  # speakers with turns: the ones the outputs name
    stats = [result.voice_stats.get(n) for n in names]
    c, d = next(((s.first.shape) for s in stats if s is not None), (0, 0))
    n = np.zeros((len(names), c))
    first = np.zeros((len(names), c, d))
    for k, st in enumerate(stats):
        if st is not None:
            n[k], first[k] = st.n, st.first
    talk = result.talk_time()
    doc = {"uri": result.uri, "duration": result.duration,
           "bic": {str(k): v for k, v in result.bic.items()},
           "speaker_count": None if result.speaker_count is None else result.speaker_count.as_dict(),
           "turns": [[t.start, t.end, t.speaker] for t in result.turns]}
    buf = io.BytesIO()
    np.savez(buf, version=np.array(VOICES_FILE_VERSION), ubm=np.array(fingerprint),
             names=np.array(names, dtype=str), n=n, first=first,
             seconds=np.array([talk[x].seconds for x in names], dtype=np.float64),
             result=np.array(json.dumps(doc)))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    def write(f: Any) -> None:
        f.write(buf.getvalue())

    atomic_write(path, write, binary=True)


@dataclass
class KeptVoices:
    """A recording's stored voices and result (:func:`load_voices`)."""

    names: list[str]
    stats: list[Any]
    seconds: list[float]
    result: Any


def voices_ok(path: Path, fingerprint: str) -> bool:
    """Whether `path` holds kept voices of this version made under the UBM `fingerprint`."""
    from .gmm import load_arrays

    try:
        arrays = load_arrays(path, what="kept voices", names=("version", "ubm"))
        return (int(arrays["version"]) == VOICES_FILE_VERSION
                and str(arrays["ubm"]) == fingerprint)
    except (DiarizeError, KeyError, TypeError, ValueError):
        return False


def load_voices(path: Path, *, fingerprint: str) -> KeptVoices:
    """The voices and result stored by :func:`save_voices`.

    Raises
    ------
    OutputError
        The file is missing, unreadable, of another version or made under another UBM.
    """
    import numpy as np

    from .gmm import load_arrays
    from .segments import Diarization, SpeakerCount, Turn
    from .speakers import VoiceStats

    where = printable(str(path))
    try:
        a = load_arrays(path, what="kept voices",
                        names=("version", "ubm", "names", "n", "first", "seconds", "result"))
        if int(a["version"]) != VOICES_FILE_VERSION or str(a["ubm"]) != fingerprint:
            raise OutputError(f"{where}: kept voices of another version or UBM")
        names = [str(x) for x in a["names"]]
        doc = json.loads(str(a["result"]))
        count = doc["speaker_count"]
        result = Diarization(
            turns=[Turn(float(s), float(e), str(k)) for s, e, k in doc["turns"]],
            uri=str(doc["uri"]), duration=float(doc["duration"]),
            bic={int(k): float(v) for k, v in doc["bic"].items()},
            speaker_count=None if count is None else SpeakerCount(**count))
        stats = [VoiceStats(np.asarray(a["n"][k], dtype=np.float64),
                            np.asarray(a["first"][k], dtype=np.float64))
                 for k in range(len(names))]
        seconds = [float(x) for x in a["seconds"]]
        if len(seconds) != len(names) or set(result.speakers) - set(names):
            raise OutputError(f"{where}: kept voices do not match their result")
    except OutputError:
        raise
    except (DiarizeError, KeyError, TypeError, ValueError, IndexError, RecursionError) as exc:
        raise OutputError(f"{where}: cannot read kept voices ({exc})") from None
    return KeptVoices(names, stats, seconds, result)


def _check_speakers_file(target: Path) -> None:
    """Refuse a ``speakers.json`` that is not ours."""
    from .writers import TOOL_NAME

    if not os.path.lexists(target):
        return
    try:
        doc = json.loads(target.read_text(encoding="utf-8"))
        # the linking report's keys (a diarization's JSON output has "speakers" too)
        ours = (isinstance(doc, dict) and isinstance(doc.get("generator"), dict)
                and doc["generator"].get("name") == TOOL_NAME
                and {"speakers", "link", "recordings"} <= set(doc))
    except (OSError, ValueError, RecursionError):
        ours = False
    if not ours:
        raise ForeignOutputError(
            f"{printable(str(target))}: exists and is not a linking report of diarize; it is "
            "never replaced: write to another folder (-o DIR), or move it away")


def link_outputs(out_dir: Path, recordings: Sequence[Recording], records: Sequence[Record],
                 *, formats: Sequence[str], config: Any, namer: Any = None,
                 matcher: Any = None) -> LinkSummary:
    """Link the speakers of every recording done and rewrite its outputs with the
    global labels; write ``speakers.json``.

    Parameters
    ----------
    out_dir : Path
    recordings, records : sequence
        Every recording of the batch and its record (same order); those ``"ok"`` or
        ``"skipped"`` are linked. A record whose stored voices cannot be read, or whose
        output can no longer be replaced, becomes ``"failed"`` and is left out.
    formats : sequence of str, keyword-only
    config : Config, keyword-only
        Its ``voices`` section and UBM.
    namer : callable, optional, keyword-only
        A naming step for the linked voices (:func:`diarize.link.label_groups`).
    matcher : callable, optional, keyword-only
        Instead of `namer`: the pooled statistics of each linked voice -> its
        :class:`diarize.voices.VoiceMatch` (:meth:`diarize.voices.VoiceLibrary.matcher`).
        The voices are named by the matches, and each output and ``speakers.json`` get
        their evidence, as a run with voices does.

    Raises
    ------
    OutputWriteError
        ``speakers.json`` cannot be written.
    """
    from .cluster import speaker_ubm
    from .link import Voice, label_groups, link_voices, speakers_report, ubm_fingerprint
    from .writers import TOOL_NAME, provenance

    ubm = speaker_ubm(config.cluster)
    assert ubm is not None  # checked by run() before any work
    fp = ubm_fingerprint(ubm)
    kept: dict[str, tuple[Recording, Record, KeptVoices]] = {}
    for rec, record in zip(recordings, records):
        if record.status not in ("ok", "skipped"):
            continue
        try:
            paths = [out_dir / output_name(rec.uri, FORMATS[f].extension) for f in formats]
            for f, p in zip(formats, paths):
                check_replaceable(p, fmt=f, uri=rec.uri)
            kept[rec.uri] = (rec, record, load_voices(voices_path(out_dir, rec.uri),
                                                      fingerprint=fp))
        except OutputError as exc:
            record.status, record.error, record.message = "failed", type(exc).__name__, str(exc)
    voices = [Voice(uri, name, st, sec) for uri, (_, _, kv) in kept.items()
              for name, st, sec in zip(kv.names, kv.stats, kv.seconds)]
    groups = link_voices(voices, ubm=ubm, config=config.voices)
    matches = None if matcher is None else list(matcher([g.stats for g in groups]))
    if matches is not None:
        namer = lambda _: [m.name for m in matches]  # noqa: E731
    labels = label_groups(groups, namer=namer)
    mapping = {(v.uri, v.local): label for g, label in zip(groups, labels) for v in g.members}
    evidence = (None if matches is None
                else {label: m for label, m in zip(labels, matches)})
    for uri, (rec, record, kv) in kept.items():
        result = kv.result.rename({k: mapping[(uri, k)] for k in kv.names})
        if evidence is not None:
            result.voice_matches = {mapping[(uri, k)]: evidence[mapping[(uri, k)]]
                                    for k in kv.names}
        try:
            for f in formats:
                path = out_dir / output_name(uri, FORMATS[f].extension)
                text = format_diarization(result, f, source=rec.path)
                with contextlib.suppress(OSError):
                    if path.read_text(encoding="utf-8") == text:
                        continue  # already linked so: no new write, no new ledger line
                check_replaceable(path, fmt=f, uri=uri)
                atomic_write_text(path, text, ledger=FORMATS[f].render_marked is None)
        except OutputError as exc:
            record.status, record.error, record.message = "failed", type(exc).__name__, str(exc)
    mark = provenance(out_dir)
    doc = {"generator": {"name": TOOL_NAME, "version": mark.version},
           "link": {"threshold": config.voices.link_threshold,
                    "fdr": config.voices.link_fdr,
                    "linkage": config.voices.link_linkage},
           "recordings": sorted(kept),
           "speakers": speakers_report(groups, labels, matches=matches)}
    target = out_dir / SPEAKERS_FILE
    atomic_write_text(target, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    given = {output_name(rec.uri, ".npz") for rec in recordings}
    not_linked: list[str] = []
    with contextlib.suppress(OSError):
        not_linked = sorted(name_text(p.name[:-len(".npz")]) for p in (out_dir / VOICES_DIR).iterdir()
                            if p.name.endswith(".npz") and not p.name.startswith(".")
                            and p.name not in given)
    return LinkSummary(recordings=len(kept), speakers=len(voices), voices=len(groups),
                       speakers_file=target, not_linked=not_linked)
