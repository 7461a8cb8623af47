"""The ``diarize`` command.

``diarize AUDIO...`` diarizes files; subcommands (``eval``, ``batch``, ...) do the rest.
Errors keep their type up to :meth:`DefaultGroup.main`, where one table
(:data:`EXIT_STATUSES`) makes each one line on stderr and an exit status: 1 for a failed
input or output, 2 for usage, 3 for a bug, 130 for an interrupt.
"""

from __future__ import annotations

import contextlib
import errno
import io
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import (AudioError, BatchInputError, ConfigError, DiarizeError, ManifestWarning,
                     MissingDependencyError, ModelError,
                     OutputError, StdoutError, VoiceError)
from .names import (clean_uri, message_line, name_text, output_name, printable, same_file,
                    typed_text, uri_for)
from .writers import FORMATS, TRANSCRIPT_FORMATS, TRANSCRIPT_SUFFIXES

#: The file names of the output formats, for help texts: ".rttm, .json, ... or .txt (...)".
_FORMAT_FILES = ", ".join(f"{f.extension} ({f.name})" for f in FORMATS.values())


class DefaultGroup(click.Group):
    """A group that runs its ``run`` command when the first argument is not a subcommand,
    so that ``diarize meeting.wav`` and ``diarize eval ...`` both work; and that reports
    every error, its own and click's, as one line on stderr (see :meth:`main`)."""

    default_command = "run"

    def parse_args(self, ctx, args):
        """The help for a bare ``diarize``; ``run`` put in front of what is no command."""
        if not args:  # bare `diarize`: the help, as `diarize --help` prints it (exit 0)
            click.echo(ctx.get_help())
            ctx.exit(0)
        if args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            _refuse_misspelt_command(args[0], self.commands)
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        """Run the command; Ctrl-C becomes our one-line stop."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            # click's main would print an empty line before its Abort: the one line, ours
            raise _Stopped(str(exc) or "interrupted") from None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Run the command line; exit with its documented status (:func:`exit_status`).

        Every error is one line on stderr, never click's usage block; so is every warning.
        """
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        if sys.stdout is None:
            # Started with standard output closed (`>&-`): what is written there fails as
            # a write to a closed descriptor does, in one line, and files are written.
            sys.stdout = _ClosedStream()
        status = 0
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            try:
                rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
                status = rv if isinstance(rv, int) else 0  # --help and --version: 0
            except SystemExit as exc:
                status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except _NO_ARGS_IS_HELP as exc:  # `diarize config`: a request for the command list
                click.echo(exc.ctx.get_help() if exc.ctx is not None else exc.format_message())
                status = 0
            except (Exception, KeyboardInterrupt, click.Abort) as exc:
                status = exit_status(exc)
                if status == INTERNAL_ERROR and os.environ.get("DIARIZE_DEBUG", "0") not in (
                        "", "0"):
                    raise
                echo_error(error_message(exc))
                if isinstance(exc, OSError) and exc.filename is None \
                        and exc.errno in _STDOUT_ERRNOS:
                    _silence_stdout()
        try:
            sys.stdout.flush()
        except OSError as exc:
            echo_error(str(StdoutError.from_os_error(exc)))
            _silence_stdout()
            status = status or 1
        sys.exit(status)


def _cwd_gone(exc: BaseException) -> bool:
    """Whether `exc` is a "no such file" without a file name, and the current folder is
    gone: what os.getcwd() raises wherever a relative path is made absolute."""
    if not (isinstance(exc, FileNotFoundError) and exc.filename is None):
        return False
    try:
        os.getcwd()
    except FileNotFoundError:
        return True
    return False


class _Stopped(Exception):
    """Ctrl-C on its way out of the command line: an Exception, not a KeyboardInterrupt,
    so that click reports nothing of its own."""


INTERNAL_ERROR = 3
"""Exit status of an error that is a bug."""

EXIT_STATUSES: tuple[tuple[tuple[type[BaseException], ...], int], ...] = (
    ((KeyboardInterrupt, click.Abort, _Stopped), 130),
    # voiceprints cannot be used or made: no such folder or none in it, a corrupt or
    # foreign voiceprint, an unsafe name, too little enrolment speech
    ((VoiceError,), 4),
    # what the user asked for cannot be done: a bad option, configuration or model file,
    # unusable batch inputs, a missing optional package
    ((click.UsageError, ConfigError, ModelError, BatchInputError, MissingDependencyError), 2),
    # an input or output failed (a file, standard output, memory)
    ((DiarizeError, MemoryError, click.ClickException), 1),
)
"""The exit status of each kind of error that reaches the command line, the first match
winning: the one place that decides them. An ``OSError`` naming a file, or failing a
write to standard output, is 1; anything else is a bug: :data:`INTERNAL_ERROR`."""


def exit_status(exc: BaseException) -> int:
    """The exit status of the command line for `exc` (see :data:`EXIT_STATUSES`)."""
    for types, status in EXIT_STATUSES:
        if isinstance(exc, types):
            return status
    if _cwd_gone(exc):
        return 1
    if isinstance(exc, OSError) and (exc.filename is not None or exc.errno in _STDOUT_ERRNOS):
        return 1
    return INTERNAL_ERROR


def error_message(exc: BaseException) -> str:
    """The one-line message of `exc` on stderr (after ``diarize: error: ``)."""
    if isinstance(exc, _Stopped):
        return str(exc)
    if isinstance(exc, (KeyboardInterrupt, click.Abort)):
        # click turns a KeyboardInterrupt into Abort: the message is on its cause
        return str(exc) or str(exc.__cause__ or "") or "interrupted"
    if isinstance(exc, click.ClickException):
        return exc.format_message()
    if isinstance(exc, MemoryError):
        return "out of memory"
    if isinstance(exc, DiarizeError):
        return str(exc) or type(exc).__name__
    if _cwd_gone(exc):
        return ("the current folder no longer exists (it was deleted or moved): cd to an "
                "existing folder")
    if isinstance(exc, OSError) and exit_status(exc) == 1:
        if exc.filename is not None:
            return f"{exc.filename}: {exc.strerror or exc}"
        return str(StdoutError.from_os_error(exc))  # a write to standard output, from click
    return (f"internal error ({type(exc).__name__}: {exc}); please report it "
            "(DIARIZE_DEBUG=1 shows the traceback)")


class _Interrupted(KeyboardInterrupt):
    """Ctrl-C, with what the user can do about it as the message."""


def _refuse_misspelt_command(word: str, commands) -> None:
    """Refuse a first argument that is no file but reads as a misspelt command name
    (``diarize evl ...``), which would otherwise be diarized as an audio file."""
    import difflib

    if word.startswith("-") or os.path.lexists(word):
        return
    close = difflib.get_close_matches(word, sorted(commands), n=1, cutoff=MISSPELT_COMMAND)
    if close:
        raise click.UsageError(f"no such command or file {printable(word)!r}; did you mean "
                               f"'diarize {close[0]}'?")


MISSPELT_COMMAND = 0.7
"""How close (difflib's ratio) a first argument that names no file must be to a command's
name to be read as that command misspelt (``evl``, ``bacth`` and ``tnue`` are)."""


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line on stderr (:func:`echo_warning`)."""
    echo_warning(str(message))


_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())
_STDOUT_ERRNOS = frozenset({errno.EPIPE, errno.ENOSPC, errno.EIO, errno.EBADF, errno.EFBIG})


def echo_out(text: str) -> None:
    """Write `text` to standard output now.

    Raises
    ------
    StdoutError
        The write or the flush failed.
    """
    stream = sys.stdout
    buffer = getattr(stream, "buffer", None)
    try:
        if buffer is None:  # a text-only stream (closed at start, or a caller's StringIO)
            click.echo(text, nl=False)
            stream.flush()
            return
        try:
            data = text.encode("utf-8", "surrogateescape")  # a name's own bytes
        except UnicodeEncodeError:
            data = text.encode("utf-8", "backslashreplace")
        # UTF-8 bytes whatever the locale, and every byte accounted for: under
        # PYTHONUNBUFFERED (python -u) the text layer ignores a short write, and a
        # full disk left a cut file and exit status 0
        stream.flush()
        view = memoryview(data)
        while view:
            written = buffer.write(view)
            if not written:
                raise OSError(errno.EAGAIN if written is None else errno.EIO,
                              "standard output took no more bytes")
            view = view[written:]
        buffer.flush()
    except OSError as exc:
        _silence_stdout()
        raise StdoutError.from_os_error(exc) from None


class _ClosedStream(io.TextIOBase):
    """Standard output when the process started without one: every write fails with
    EBADF, as a write to a closed descriptor does; flushing nothing succeeds."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not text:
            return 0
        raise OSError(errno.EBADF, "standard output is closed")

    def flush(self) -> None:
        pass


def _refuse_overwriting(output: Any, *inputs: Any) -> None:
    """Refuse an output file (``-o``) that is one of the command's own input files, or
    that a folder given as an input would read as one of its files (an ``.rttm`` in the
    ``--hyp`` folder, a ``.uem`` in the ``--uem`` one, audio in the audio folder)."""
    if output is None or str(output) == "-":
        return
    for source in inputs:
        if source is None or str(source) == "-":
            continue
        if os.path.isdir(source):
            target = Path(os.path.realpath(output))  # a link's target, in its folder
            if (target.suffix.lower() in _folder_input_suffixes()
                    and same_file(target.parent, source)):
                raise click.UsageError(
                    f"{printable(str(output))}: the output would replace or join the "
                    f"files read from the input folder {printable(str(source))}; choose "
                    "another output file")
        elif same_file(output, source):
            raise click.UsageError(
                f"{printable(str(output))}: the output would overwrite the input "
                f"{printable(str(source))}; choose another output file")


def _folder_input_suffixes() -> frozenset[str]:
    """The file suffixes a command reads from a folder given as an input."""
    from .audio import AUDIO_SUFFIXES
    from .rttm import RTTM_EXTENSIONS, UEM_EXTENSIONS

    return frozenset(AUDIO_SUFFIXES) | set(RTTM_EXTENSIONS) | set(UEM_EXTENSIONS)


def _silence_stdout() -> None:
    """Point standard output at the null device, so that the interpreter's own flush at
    exit does not print a second report of the failed write."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no file descriptor (captured output)
        pass


class _TypedText(click.ParamType):
    """A command-line value that names something (a voiceprint, a recording, a speaker,
    a configuration value): its bytes read as UTF-8 where they are UTF-8, whatever the
    locale (:func:`diarize.names.typed_text`), so that it names the same thing as in
    the package's UTF-8 files and file names."""

    name = "text"

    def convert(self, value, param, ctx):
        return typed_text(value) if isinstance(value, str) else value


TYPED_TEXT = _TypedText()


def _settings_option(func):
    """``--set KEY=VALUE`` (repeatable): one configuration key from the command line."""
    return click.option(
        "--set", "settings", multiple=True, metavar="KEY=VALUE", type=TYPED_TEXT,
        help="Set one configuration key (dotted, as `diarize config show` prints them: "
             "--set cluster.link_level_db=20); the value is a TOML literal, or else a "
             "string. Repeatable; applied after --preset and --config.")(func)


def build_config(config_file, preset, overrides, speakers=None, settings=()):
    """Load the configuration from a preset and/or file, then apply the ``--set KEY=VALUE``
    `settings` (:func:`diarize.config.with_settings`), the options named for one key
    (`overrides`: ``--seed``) and speaker-count hints (see :meth:`Config.with_speakers`),
    each later one winning; check the model files it names.

    Raises
    ------
    ConfigError
        Naming the key, or the option the value came from.
    ModelError
        A model file it names cannot be loaded (:func:`diarize.models.check_model_files`).
    """
    from .config import load_config, with_settings
    from .models import check_model_files

    cfg = with_settings(load_config(config_file, preset=preset), settings)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides:
        cfg = cfg.replace(**overrides)
    given = {k: v for k, v in (speakers or {}).items() if v is not None}
    if given:
        try:
            cfg = cfg.with_speakers(**given)
        except ConfigError as exc:  # name the options the values came from
            message = str(exc).removeprefix("overrides: ")
            for key in given:
                message = message.replace(key, "--" + key.replace("_", "-"))
            raise ConfigError(message) from None
    check_model_files(cfg)
    return cfg


def echo_warning(message: str) -> None:
    """One line on stderr: ``diarize: warning: MESSAGE`` (:func:`~diarize.names.message_line`:
    whitespace runs made one space, file names' undecodable bytes as ``\\xNN``); a warning
    that cannot be written is dropped."""
    try:
        click.echo(f"diarize: warning: {message_line(message)}", err=True)
    except OSError:
        pass


def echo_error(message: str) -> None:
    """One line on stderr: ``diarize: error: MESSAGE`` (as :func:`echo_warning`)."""
    try:
        click.echo(f"diarize: error: {message_line(message)}", err=True)
    except OSError:  # stderr gone too: the exit status still tells
        pass


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="diarize")
def main() -> None:
    """Who spoke when: GMM speaker diarization, offline on a CPU.

    \b
    diarize meeting.wav                  write meeting.rttm
    diarize eval --ref REF --hyp HYP     score against a reference
    """


def run(prog_name: str | None = None) -> None:
    """The ``diarize`` command (its script and ``python -m diarize``): :data:`main`, in a
    process whose BLAS and OpenMP pools start with the pipeline's one thread.

    The pipeline limits BLAS to one thread in its own calls anyway; a BLAS loaded with
    more threads only costs start-up time (OpenBLAS starts its pool with numpy, ~50 ms
    here with two threads). So each thread variable the environment leaves unset is set
    before anything imports numpy (``import diarize.cli`` does not); a value the user
    set is kept.
    """
    # Only BLAS / OpenMP: the pipeline's own threads (DIARIZE_THREADS) keep their default,
    # one recording's stages on up to two cores.
    from ._threads import BLAS_ENV_VARS, PIPELINE_THREADS

    for var in BLAS_ENV_VARS:
        os.environ.setdefault(var, str(PIPELINE_THREADS))
    main(prog_name=prog_name)


def _within(lo: float, hi: float):
    """An option callback refusing values outside ``[lo, hi]`` (and NaN, infinities)."""
    # no upper bound but finiteness: the message then says ">= lo", not "in [lo, inf]"
    return _check_range({"min": lo} if hi == float("inf") else {"min": lo, "max": hi})


def _like_key(key: str):
    """An option callback refusing values outside the range of configuration `key`."""
    from .config import config_fields

    return _check_range(next(f.metadata for k, f, _ in config_fields() if k == key))


def _check_range(metadata):
    from .config import in_range, range_text

    def check(ctx, param, value):
        if value is not None and not in_range(value, metadata):
            if isinstance(value, float) and not math.isfinite(value):
                raise click.BadParameter(f"must be a finite number {range_text(metadata)}, "
                                         f"got {value!r}")
            raise click.BadParameter(f"must be {range_text(metadata)}, got {value!r}")
        return value

    return check


def _formats(ctx, param, values) -> tuple[str, ...]:
    """``-f rttm -f json`` and ``-f rttm,json``: the formats asked for, in order, each once."""
    names: dict[str, None] = {}
    for value in values or ():
        for name in value.split(","):
            name = name.strip().lower()
            if name not in FORMATS:
                raise click.BadParameter(f"unknown format {name!r} (choose from "
                                         f"{', '.join(FORMATS)}; several: -f rttm,json)")
            names.setdefault(name, None)
    return tuple(names) or ("rttm",)


_FORMAT_HELP = ("Output format, or several (repeated or comma-separated: -f rttm,json), "
                "written from one diarization; files are <stem>" + _FORMAT_FILES + ". "
                "Default: rttm.")

MAX_JOBS = 1024
"""Most worker processes ``--jobs`` may ask for."""
MAX_COLLAR = 60.0
"""Largest scoring collar (seconds on each side of a reference boundary)."""
MAX_TRIALS = 10000
"""Most configurations ``tune --trials`` may try."""


_VOICES_HELP = ("Folder of voiceprints (diarize enroll): speakers whose voice matches an "
                "enrolled one are named after it; the others keep SPEAKER_xx.")


@main.command("run")
@click.argument("audio", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output-dir", type=click.Path(path_type=Path), default=None,
              help="Folder for <stem>.rttm files, created if missing (default: current folder).")
@click.option("--stdout", "to_stdout", is_flag=True, help="Print the output instead of writing files.")
@click.option("-f", "--format", "formats", multiple=True, callback=_formats,
              metavar="FORMAT[,FORMAT...]", help=_FORMAT_HELP)
@click.option("--exclusive", is_flag=True,
              help="No overlapping turns: in an overlap the turn that started first wins.")
@click.option("--num-speakers", type=int, callback=_like_key("num_speakers"), help="Known number of speakers.")
@click.option("--min-speakers", type=int, callback=_like_key("min_speakers"), help="Smallest speaker count to consider.")
@click.option("--max-speakers", type=int, callback=_like_key("max_speakers"), help="Largest speaker count to consider.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML configuration file.")
@click.option("--preset", help="Shipped configuration preset (default, meeting, telephone, broadcast, noisy).")
@_settings_option
@click.option("--seed", type=int, callback=_like_key("seed"), help="Random seed (same seed, same output).")
@click.option("-j", "--jobs", type=int, callback=_within(1, MAX_JOBS), default=1, show_default=True,
              help="Worker processes (1: in this process; more: a worker that dies fails "
                   "only its recording).")
@click.option("--uri", default=None, type=TYPED_TEXT,
              help="File id of the recording (RTTM field 2, the output's name) instead of "
                   "the file name; one AUDIO only.")
@click.option("--summary", is_flag=True,
              help="Print talk time per speaker on stderr (even with -q).")
@click.option("--voices", "voices_dir", type=click.Path(path_type=Path), default=None,
              help=_VOICES_HELP)
@click.option("-v", "--verbose", is_flag=True,
              help="Report progress and each file written on stderr.")
@click.option("-q", "--quiet", is_flag=True,
              help="Print nothing but errors (not with -v).")
def run_command(audio, output_dir, to_stdout, formats, exclusive, num_speakers, min_speakers,
                max_speakers, config_file, preset, settings, seed, jobs, uri, summary, voices_dir,
                verbose, quiet):
    """Diarize AUDIO files; write <stem>.rttm (or each --format) for each.

    AUDIO - reads one recording from standard input (file id stdin, or --uri).

    \b
    diarize meeting.wav --preset meeting
    diarize call.wav --preset telephone --num-speakers 2 -f rttm,json -o out/
    diarize converted.wav --uri meeting01 --summary
    ffmpeg -i talk.mp4 -f wav - | diarize - --stdout
    """
    if quiet and verbose:
        raise click.UsageError("-q/--quiet and -v/--verbose cannot be used together")
    audio = _stdin_for_dash(audio)
    if to_stdout and output_dir is not None:
        raise click.UsageError("--stdout prints the output instead of writing files; drop "
                               "-o/--output-dir or --stdout")
    if to_stdout and len(formats) > 1:
        raise click.UsageError(f"--stdout prints one format, {len(formats)} were asked for "
                               f"({', '.join(formats)}): drop --stdout to write them as files")
    if to_stdout and len(audio) > 1 and formats and formats[0] != "rttm":
        # one stream of several JSON documents, CSV headers or TextGrids is none of them
        raise click.UsageError(f"--stdout with several AUDIO inputs prints RTTM only (each "
                               f"line names its recording); for {formats[0]}, drop --stdout "
                               "to write one file each (-o DIR)")
    if uri is not None:
        if len(audio) > 1:
            raise click.UsageError(f"--uri names one recording; {len(audio)} AUDIO inputs "
                                   "were given")
        given, uri = uri, clean_uri(uri)
        if not uri:  # the uri names the output file, as a manifest's uri column does
            raise click.BadParameter(f"cannot name an output file: {given!r} (no path "
                                     "separators, no leading dot)", param_hint="--uri")
    cfg = build_config(config_file, preset, {"seed": seed},
                       speakers={"num_speakers": num_speakers, "min_speakers": min_speakers,
                                 "max_speakers": max_speakers}, settings=settings)
    from .batch import Record, Task, run_tasks
    from .errors import ForeignOutputError
    from .writers import check_replaceable, check_writable_dir

    voices = ""
    if voices_dir is not None:  # refused before any work: no folder, none in it, foreign
        _check_voices(voices_dir, cfg)
        voices = os.path.abspath(voices_dir)

    out_dir = output_dir if output_dir is not None else Path(".")
    if not to_stdout:
        if uri is None:
            _refuse_shared_outputs(audio)
        # Created (with its parents) if missing, as `diarize batch` does; writable.
        check_writable_dir(out_dir)
    uris = [uri if uri is not None else uri_for(path) for path in audio]
    outputs = [[] if to_stdout else [str(out_dir / output_name(u, FORMATS[f].extension))
                                     for f in formats] for u in uris]
    tasks = [Task(path=str(path), uri=u, fmt=formats[0], config=cfg, exclusive=exclusive,
                  verbose=verbose, index=i, output=files[0] if files else "",
                  more=tuple(zip(formats[1:], files[1:])), voices=voices)
             for i, (path, u, files) in enumerate(zip(audio, uris, outputs))]
    failed = 0
    finished: dict[int, Record] = {}
    reported = 0
    # A file there that is not ours (a shipped reference RTTM) fails its recording
    # before any work, and is never replaced.
    for task in list(tasks):
        try:
            for fmt, output in task.outputs:
                check_replaceable(output, fmt=fmt, uri=task.uri)
        except ForeignOutputError as exc:
            finished[task.index] = Record(path=task.path, uri=task.uri, output=task.output,
                                          status="failed", error=type(exc).__name__,
                                          message=str(exc), index=task.index)
            tasks.remove(task)
    # closing: a failed write to standard output or Ctrl-C stops the workers at once
    def report_ready() -> None:
        nonlocal reported, failed
        # Reported in input order, whatever order the workers finish in.
        while reported in finished:
            ok = _report_recording(finished.pop(reported), audio[reported],
                                   outputs[reported], verbose=verbose, quiet=quiet,
                                   summary=summary, named=uri is not None)
            failed += not ok
            reported += 1

    report_ready()
    with contextlib.closing(run_tasks(tasks, jobs)) as results:
        for record in results:
            finished[record.index] = record
            report_ready()
    report_ready()
    return 1 if failed else 0


STDIN_PATH = "/dev/stdin"
"""What ``-`` reads: standard input, streamed as any pipe is (through FFmpeg, which reads
a stream to its end); its file id is then ``stdin``."""


def _stdin_for_dash(audio: tuple[Path, ...]) -> tuple[Path, ...]:
    """`audio` with ``-`` as :data:`STDIN_PATH`; ``-`` is one recording, given alone, so
    it is read in this process (a worker process's standard input is not this one's)."""
    if not any(str(p) == "-" for p in audio):
        return audio
    if len(audio) > 1:
        raise click.UsageError("- (standard input) is one recording: give it as the only "
                               "AUDIO")
    try:
        os.fstat(0)
    except OSError:  # started with `<&-`: /dev/stdin is then a dangling link
        raise AudioError("- (standard input): standard input is closed") from None
    if not os.path.exists(STDIN_PATH):
        raise click.UsageError(f"- (standard input) needs {STDIN_PATH}, which this system "
                               "lacks: save the audio to a file and give its name")
    return (Path(STDIN_PATH),)


def _report_recording(record, path: Path, outputs: list[str], *, verbose: bool, quiet: bool,
                      summary: bool, named: bool) -> bool:
    """Print what became of one recording of the ``run`` command; whether it succeeded."""
    if record.status != "ok":
        message = message_line(record.message) or record.error
        if message_line(str(path)) not in message:  # errors from inside the pipeline do not
            message = f"{path}: {message}"           # name the file
        if path.is_dir():  # a failed input like any other, with the command meant
            message += f"; to diarize every recording in it: diarize batch {path} -o OUTPUT_DIR"
        echo_error(message)
        return False
    if not quiet:
        for line in record.warnings:
            echo_warning(line)
    if not record.output:
        echo_out(record.text)
    written = f" -> {', '.join(outputs)}" if outputs else ""
    if verbose or summary:
        click.echo(f"{path}: {_count(record.speakers, 'speaker')}, "
                   f"{_count(record.turns, 'turn')}{written}", err=True)
    if summary:
        for line in talk_time_lines(record.talk_time):
            click.echo(f"  {line}", err=True)
    if not named and uri_for(path) != typed_text(path.stem) and not quiet:
        click.echo(message_line(f"diarize: note: {path.name}: file id {uri_for(path)} "
                                "(whitespace as '_', bytes that are not UTF-8 as \\xNN)"),
                   err=True)
    return True


def _count(n: int, noun: str) -> str:
    """``1 speaker``, ``2 speakers``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def talk_time_lines(times) -> list[str]:
    """One aligned line per speaker of :meth:`Diarization.talk_time` values: seconds,
    share, turns and longest turn; speakers by decreasing talk time."""
    rows = sorted(times, key=lambda t: (-t.seconds, t.speaker))
    width = max((len(t.speaker) for t in rows), default=0)
    return [f"{t.speaker.ljust(width)}  {t.seconds:8.1f} s  {100 * t.share:5.1f} %  "
            f"{_count(t.turns, 'turn'):>10}  longest {t.longest:.1f} s" for t in rows]


def _refuse_shared_outputs(audio) -> None:
    """Raise :class:`BatchInputError`, naming both, if two different inputs would write the
    same output file (``x/a.wav`` and ``y/a.wav`` both give ``a.rttm``), as ``diarize
    batch`` refuses them."""
    from .batch import check_unique, recording

    try:
        check_unique([recording(Path(p), source=str(p)) for p in audio])
    except BatchInputError as exc:
        raise BatchInputError(f"{exc}: each would overwrite the other's output; "
                              "diarize them into different folders (-o) or rename one") from None




# ------------------------------------------------------------------------- voices

def _check_voices(voices_dir: Path, cfg) -> None:
    """Raise :class:`VoiceError` unless `voices_dir` holds voiceprints usable with `cfg`."""
    from .pipeline import Diarizer

    Diarizer(cfg, voices=voices_dir)


@main.command("enroll")
@click.option("--voices", "voices_dir", type=click.Path(path_type=Path), required=True,
              help="Folder of voiceprints (created if missing); NAME is DIR/NAME.npz.")
@click.argument("name", type=TYPED_TEXT)
@click.argument("audio", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--rttm", "rttm_files", multiple=True, type=click.Path(path_type=Path),
              help="Diarization or reference RTTM of the AUDIO files (repeatable): with "
                   "--speaker, enrol only the time that speaker talks alone in each.")
@click.option("--speaker", default=None, type=TYPED_TEXT,
              help="The speaker label, in the --rttm turns, whose voice NAME is.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML configuration file.")
@click.option("--preset", help="Shipped configuration preset (default, meeting, telephone, broadcast, noisy).")
@_settings_option
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def enroll_command(voices_dir, name, audio, rttm_files, speaker, config_file, preset, settings,
                   quiet):
    """Make the voiceprint NAME from the speech of AUDIO files (one voice in each), or
    add them to it: a voiceprint is only ever extended, never replaced. With --rttm and
    --speaker, from one speaker's turns in recordings of several voices.

    \b
    diarize enroll --voices voices/ "Dr. Ito" ito_intro.wav ito_call.m4a
    diarize run interview.wav --voices voices/ -f rttm,json
    diarize enroll --voices voices/ "Dr. Ito" interview.wav --rttm interview.rttm --speaker SPEAKER_01
    """
    from .batch import kept_warnings
    from .pipeline import enroll
    from .voices import check_name

    check_name(name)
    audio = _stdin_for_dash(audio)
    if bool(rttm_files) != (speaker is not None):
        raise click.UsageError("--rttm and --speaker go together: the turns, and whose "
                               "they are")
    cfg = build_config(config_file, preset, {}, settings=settings)
    # every file's turns found before any work (and before the folder is made)
    spans = ([None] * len(audio) if speaker is None
             else _speaker_spans(audio, rttm_files, speaker))
    if not voices_dir.exists():
        try:
            voices_dir.mkdir(parents=True, exist_ok=True)  # another enrol may make it too
        except OSError as exc:
            raise OutputError(f"{printable(str(voices_dir))}: cannot create the voiceprint "
                              f"folder ({exc.strerror or exc})") from None
    for path, where in zip(audio, spans):
        before = _voice_seconds(voices_dir, name)
        with kept_warnings() as warned:  # -q: errors only
            voice = enroll(name, path, voices_dir, config=cfg, spans=where)
        if not quiet:
            for line in warned:
                echo_warning(line)
            added = voice.seconds - (before or 0.0)
            what = ("added to" if before is not None else "new voiceprint")
            click.echo(f"{printable(str(path))}: {added:.1f} s of speech, {what} "
                       f"{name!r}: {voice.seconds:.1f} s from "
                       f"{_count(voice.enrolments, 'enrolment')}", err=True)
    return 0


def _speaker_spans(audio: tuple[Path, ...], rttm_files: tuple[Path, ...], speaker: str
                   ) -> list[list[tuple[float, float]]]:
    """For each AUDIO file, the stretches `speaker` talks alone in the turns of
    `rttm_files` for its file id (its stem, as ``diarize`` names it); the RTTM's only
    file id for a single AUDIO whose stem is not one.

    Raises
    ------
    RTTMError
        An RTTM file cannot be read or is malformed.
    EnrollmentError
        No turns for a file, or none of `speaker` there, or none where they talk alone.
    """
    from .errors import EnrollmentError
    from .rttm import read_rttm
    from .segments import solo_spans

    by_uri: dict[str, list] = {}
    for f in rttm_files:
        for key, file_turns in read_rttm(f).items():
            by_uri.setdefault(key.uri, []).extend(file_turns)
    shown = ", ".join(printable(str(f)) for f in rttm_files)
    out = []
    for path in audio:
        uri = uri_for(path)
        turns: list | None = by_uri.get(uri)
        if turns is None and len(audio) == 1 and len(by_uri) == 1:
            turns = next(iter(by_uri.values()))
        if turns is None:
            ids = ", ".join(sorted(by_uri)[:MAX_LISTED_FILES]) or "none"
            raise EnrollmentError(f"{printable(str(path))}: no turns for file id {uri!r} in "
                                  f"{shown} (file ids there: {ids})")
        spans = solo_spans(turns, speaker)
        if not spans:
            labels = sorted({t.speaker for t in turns})
            what = ("talks only over other speakers" if speaker in labels else
                    "has no turns")
            raise EnrollmentError(
                f"{printable(str(path))}: {speaker!r} {what} in {shown} (speakers there: "
                f"{', '.join(labels[:MAX_LISTED_SPEAKERS])}"
                f"{', ...' if len(labels) > MAX_LISTED_SPEAKERS else ''})")
        out.append(spans)
    return out


MAX_LISTED_SPEAKERS = 10
"""Speaker labels named in an enrolment error before "..."."""


def _voice_seconds(voices_dir: Path, name: str) -> float | None:
    """Seconds of the voiceprint `name` already in `voices_dir`, None if it has none."""
    from .voices import Voiceprint, voiceprint_path

    path = voiceprint_path(voices_dir, name)
    return Voiceprint.load(path).seconds if path.exists() else None


@main.command("voices")
@click.argument("voices_dir", metavar="DIR", type=click.Path(path_type=Path))
def voices_command(voices_dir):
    """List the voiceprints of DIR: name, seconds of speech, enrolments."""
    from .voices import list_voices

    voices = list_voices(voices_dir)
    if not voices:
        raise VoiceError(f"{printable(str(voices_dir))}: no voiceprints in this folder")
    width = max(len(v.name) for v in voices)
    echo_out("".join(f"{v.name.ljust(width)}  {v.seconds:7.1f} s  "
                     f"{_count(v.enrolments, 'enrolment')}\n" for v in voices))
    return 0


# ------------------------------------------------------------------------- eval

EVAL_FORMATS = ("table", "json", "csv")
EVAL_COLUMNS = ("der", "jer", "missed", "false_alarm", "confusion", "scored", "ref_speakers", "hyp_speakers")
EVAL_DECIMALS = 2
"""Decimals of the table; JSON and CSV carry full precision."""


EVAL_LEGEND = ("Ref/Hyp: speakers in the file, files in TOTAL. JER: Jaccard error rate, the "
               "mean over reference speakers of 1 - overlap/union with their output speaker.")
"""The line under the eval table."""
MAX_LISTED_FILES = 5
"""Files named in a note before "..."."""


def _eval_table(evaluation, *, hyp_files: int) -> str:
    """Fixed-width table: one row per file, then the total (with file counts), then the
    legend."""
    header = ("File", "DER%", "Miss%", "FA%", "Conf%", "Scored(s)", "Ref", "Hyp", "JER%")
    labels = evaluation.labels()
    rows = [(labels[k], s, str(s.ref_speakers), str(s.hyp_speakers))
            for k, s in evaluation.files.items()]
    # Speaker counts of different files do not add up: the total counts files.
    rows.append(("TOTAL", evaluation.total, str(len(evaluation.files)), str(hyp_files)))
    cells = [header]
    for name, s, ref, hyp in rows:
        cells.append((name, *(f"{v:.{EVAL_DECIMALS}f}" for v in (
            s.der, s.missed_rate, s.false_alarm_rate, s.confusion_rate, s.scored)),
            ref, hyp, f"{s.jer:.{EVAL_DECIMALS}f}"))
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for i, r in enumerate(cells):
        lines.append("  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]))
        if i == 0 or i == len(cells) - 2:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(EVAL_LEGEND)
    return "\n".join(lines) + "\n"


def _speaker_mappings(evaluation, reference, hypothesis) -> dict:
    """Per file label: the (reference, output) speaker pairs DER was scored with, then the
    speakers of either side left without a partner (``None`` on the other side)."""
    out = {}
    labels = evaluation.labels()
    for key, score in evaluation.files.items():
        pairs = list(score.mapping)
        ref_names = sorted({t.speaker for t in reference.get(key, ())})
        hyp_names = sorted({t.speaker for t in hypothesis.get(key, ())})
        paired_ref = {r for r, _ in pairs}
        paired_hyp = {h for _, h in pairs}
        pairs += [(r, None) for r in ref_names if r not in paired_ref]
        pairs += [(None, h) for h in hyp_names if h not in paired_hyp]
        out[labels[key]] = pairs
    return out


def _mapping_text(mappings: dict) -> str:
    """``speaker mapping (reference = output):`` and one line per file."""
    def pair(r, h):
        return f"{r if r is not None else '-'} = {h if h is not None else '-'}"

    lines = ["speaker mapping (reference = output; -: none):"]
    for label, pairs in mappings.items():
        lines.append(f"  {label}: " + (", ".join(pair(r, h) for r, h in pairs) or "no speakers"))
    return "\n".join(lines) + "\n"


def _eval_csv(evaluation, mappings: dict | None = None) -> str:
    import csv
    import io as _io

    from .writers import spreadsheet_text

    buf = _io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("file", *EVAL_COLUMNS, *(("mapping",) if mappings is not None else ())))
    labels = evaluation.labels()
    for key, s in [*evaluation.files.items(), (None, evaluation.total)]:
        d = s.as_dict()
        label = labels[key] if key is not None else "TOTAL"
        extra: tuple[str, ...] = ()
        if mappings is not None:
            extra = (spreadsheet_text(" ".join(f"{r or ''}={h or ''}"
                                               for r, h in mappings.get(label, ()))),)
        cells = (repr(d[c]) if isinstance(d[c], float) else d[c] for c in EVAL_COLUMNS)
        writer.writerow((spreadsheet_text(label) if key is not None else label, *cells, *extra))
    return buf.getvalue()


@main.command("eval")
@click.option("--ref", "ref_path", required=True, type=click.Path(path_type=Path),
              help="Reference RTTM file, or a folder of .rttm files.")
@click.option("--hyp", "hyp_path", required=True, type=click.Path(path_type=Path),
              help="Hypothesis (system) RTTM file, or a folder of .rttm files.")
@click.option("--uem", "uem_path", type=click.Path(path_type=Path), default=None,
              help="UEM file (or folder of .uem files): the regions to score. "
                   "Default: each file from its first to its last reference turn.")
@click.option("--collar", type=float, default=0.0, show_default=True, callback=_within(0.0, MAX_COLLAR),
              help="Seconds left unscored on EACH side of every reference boundary "
                   "(md-eval's -c; pyannote.metrics' collar is twice this).")
@click.option("--skip-overlap", is_flag=True, help="Do not score overlapped reference speech (md-eval's -1).")
@click.option("--only-scored", is_flag=True,
              help="Score only the references that have an output (default: a reference "
                   "without one counts as all missed); the left-out files are named on stderr.")
@click.option("--show-mapping", is_flag=True,
              help="Show the reference = output speaker mapping of each file (the one DER "
                   "is scored with): after the table, or a 'mapping' key (json) or column (csv).")
@click.option("--format", "fmt", type=click.Choice(EVAL_FORMATS), default="table", show_default=True,
              help="Output format.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Write the report to this file (atomically) instead of standard output.")
def eval_command(ref_path, hyp_path, uem_path, collar, skip_overlap, only_scored, show_mapping,
                 fmt, output):
    """Score hypothesis RTTM against a reference: DER as NIST md-eval computes it, and JER.

    \b
    diarize eval --ref ref/ --hyp out/                       collar 0, overlap scored
    diarize eval --ref ref/ --hyp out/ --collar 0.25 --skip-overlap --format json
    diarize eval --ref ref/ --hyp out/ --only-scored --show-mapping
    """
    import json
    import warnings

    from .metrics import ScoringWarning, evaluate
    from .rttm import read_rttm, read_uem
    from .writers import atomic_write_text

    _refuse_overwriting(output, ref_path, hyp_path, uem_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ScoringWarning)
        reference = read_rttm(ref_path, reference=True)
    hypothesis = read_rttm(hyp_path)
    uem = read_uem(uem_path) if uem_path is not None else None
    if not reference:
        click.echo(f"diarize: warning: {ref_path}: no SPEAKER turns in the reference", err=True)
    with warnings.catch_warnings(record=True) as more:
        warnings.simplefilter("always", ScoringWarning)
        evaluation = evaluate(reference, hypothesis, uem=uem, collar=collar,
                              skip_overlap=skip_overlap, only_scored=only_scored)
    for w in caught + more:
        click.echo(f"diarize: warning: {w.message}", err=True)
    if evaluation.not_scored:
        left = evaluation.not_scored
        names = ", ".join(k.uri for k in left[:MAX_LISTED_FILES])
        click.echo(f"diarize: note: --only-scored: {len(left)} of "
                   f"{len(left) + len(evaluation.files)} reference files have no output and "
                   f"are not scored ({names}{', ...' if len(left) > MAX_LISTED_FILES else ''})",
                   err=True)
    mappings = _speaker_mappings(evaluation, reference, hypothesis) if show_mapping else None
    if fmt == "json":
        data = evaluation.as_dict()
        if mappings is not None:
            for label, pairs in mappings.items():
                data["files"][label]["mapping"] = [{"reference": r, "output": h}
                                                   for r, h in pairs]
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    elif fmt == "csv":
        text = _eval_csv(evaluation, mappings)
    else:
        text = _eval_table(evaluation, hyp_files=sum(k in hypothesis for k in evaluation.files))
        if mappings is not None:
            text += _mapping_text(mappings)
    if output is not None:
        atomic_write_text(output, text)
    else:
        echo_out(text)


# --------------------------------------------------------------------------- user's side
def _refuse_diarizing_options(num_speakers, config_file, preset, settings, why: str) -> None:
    """Refuse the options that only diarizing reads where turns are read from an RTTM
    instead (`plot --rttm`, `words` of an RTTM): they would do nothing."""
    if num_speakers is not None or config_file is not None or preset is not None or settings:
        raise click.UsageError(f"--num-speakers, --config, --preset and --set are for {why}")


def _matplotlib_warnings_as_ours() -> None:
    """matplotlib's logged warnings (an unwritable HOME for its cache, say) as one
    ``diarize: warning:`` line each, as every warning of the command line is."""
    import logging

    logger = logging.getLogger("matplotlib")
    if not any(getattr(h, "diarize_warnings", False) for h in logger.handlers):
        handler = logging.Handler(logging.WARNING)
        handler.emit = lambda record: echo_warning(  # type: ignore[method-assign]
            f"matplotlib: {record.getMessage()}")
        handler.diarize_warnings = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False


@main.command("plot")
@click.argument("audio", type=click.Path(path_type=Path))
@click.option("--rttm", "hyp_file", type=click.Path(path_type=Path),
              help="Plot this system output instead of diarizing AUDIO (no speaker-count "
                   "evidence then).")
@click.option("--ref", "ref_file", type=click.Path(path_type=Path),
              help="Reference RTTM, drawn above the system; matching speakers share a colour.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Picture file; the extension picks the format (default: <stem>.png).")
@click.option("--start", type=float, default=None, callback=_within(0.0, float("inf")),
              help="Zoom: first second shown (default: 0).")
@click.option("--end", type=float, default=None, callback=_within(0.0, float("inf")),
              help="Zoom: last second shown (default: the end of the recording).")
@click.option("--num-speakers", type=int, callback=_like_key("num_speakers"), help="Known number of speakers.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML configuration file.")
@click.option("--preset", help="Shipped configuration preset (default, meeting, telephone, broadcast, noisy).")
@_settings_option
def plot_command(audio, hyp_file, ref_file, output, start, end, num_speakers, config_file,
                 preset, settings):
    """Draw AUDIO's waveform, the speaker turns and the speaker-count evidence in one picture.

    Without --rttm, AUDIO is diarized first, as `diarize AUDIO` does. The bottom panel
    shows the stage that decided the number of speakers and its evidence: linking's merge
    scores against its threshold, or the BIC curve. With --rttm the turns come from that
    file and the evidence is shown as not available: it belongs to the run that wrote the
    file, and a fresh run could choose differently.

    \b
    diarize plot meeting.wav --ref meeting.ref.rttm -o timeline.png
    diarize plot meeting.wav --start 60 --end 90
    """
    _matplotlib_warnings_as_ours()  # before its import, which may already log
    try:
        import matplotlib  # noqa: F401  (checked before any slow work)
    except ImportError:
        raise MissingDependencyError(
            "diarize plot needs matplotlib: pip install 'gmm-diarize[plot]'") from None
    if end is not None and end <= (start or 0.0):
        raise click.UsageError(f"--end ({end:g}) must be after --start ({start or 0.0:g})")
    if hyp_file is not None:
        _refuse_diarizing_options(num_speakers, config_file, preset, settings,
                                  f"diarizing {printable(str(audio))}; with --rttm the "
                                  "turns are read")
    cfg = build_config(config_file, preset, {}, speakers={"num_speakers": num_speakers},
                       settings=settings)
    from .audio import audio_blocks
    from .pipeline import Diarizer
    from .plot import block_envelope, load_turns, plot_timeline, save_figure
    from .segments import Diarization

    from .writers import check_writable_file

    uri = uri_for(audio)
    target = output if output is not None else Path(output_name(uri, ".png"))
    _refuse_overwriting(target, audio, hyp_file, ref_file, config_file)
    check_writable_file(target)  # before the diarization, not after it
    # The envelope is taken while the audio streams past: the samples are never held.
    waveform = block_envelope(audio_blocks(audio, config=cfg.audio),
                              sample_rate=cfg.audio.sample_rate)
    if start is not None and start >= waveform.duration:
        raise click.UsageError(f"--start ({start:g}) is not before the end of {audio} "
                               f"({waveform.duration:.1f} s)")
    reference = load_turns(ref_file, uri=uri) if ref_file is not None else None
    note = None
    if hyp_file is not None:
        result = Diarization(load_turns(hyp_file, uri=uri), uri=uri, duration=waveform.duration)
        note = f"turns read from {name_text(hyp_file.name)}"  # drawn: valid text
    else:
        result = Diarizer(cfg, keep_models=False)(audio, uri=uri)  # turns and evidence only
    fig = plot_timeline(result, waveform=waveform, reference=reference, bic_note=note,
                        start=start, end=end)
    save_figure(fig, target)
    click.echo(message_line(str(target)), err=True)


@main.group("config")
def config_group():
    """Inspect configurations."""


@config_group.command("show")
@click.option("--preset", help="Shipped configuration preset (default, meeting, telephone, broadcast, noisy).")
@_settings_option
@click.option("--config", "config_file", type=click.Path(path_type=Path),
              help="TOML configuration file (its keys override the preset).")
def config_show_command(preset, settings, config_file):
    """Print the effective configuration as TOML (defaults, then preset, file and --set).

    The output is a complete configuration file: save it, edit it, pass it to --config.
    """
    cfg = build_config(config_file, preset, {}, settings=settings)
    echo_out(cfg.to_toml())


@main.command("batch")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("-o", "--output-dir", type=click.Path(path_type=Path), required=True,
              help="Folder for <uri>.<ext> files and errors.tsv (created if missing).")
@click.option("-j", "--jobs", type=int, callback=_within(1, MAX_JOBS), default=None,
              help="Worker processes (default: all cores).")
@click.option("-f", "--format", "formats", multiple=True, callback=_formats,
              metavar="FORMAT[,FORMAT...]", help=_FORMAT_HELP.replace("<stem>", "<uri>"))
@click.option("--overwrite", is_flag=True, help="Diarize again recordings whose output exists.")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run on a Dask distributed cluster (tcp://HOST:PORT); needs a shared filesystem.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML configuration file.")
@click.option("--preset", help="Shipped configuration preset (default, meeting, telephone, broadcast, noisy).")
@_settings_option
@click.option("--voices", "voices_dir", type=click.Path(path_type=Path), default=None,
              help=_VOICES_HELP)
@click.option("-q", "--quiet", is_flag=True, help="No progress and no summary; only errors.")
# --- speaker linking
@click.option("--link-speakers", is_flag=True,
              help="One label per distinct voice over the whole batch (SPEAKER_00 in one "
                   "file is SPEAKER_00 in every file); writes OUTPUT_DIR/speakers.json.")
def batch_command(inputs, output_dir, jobs, formats, overwrite, scheduler, config_file, preset,
                  settings, voices_dir, quiet, link_speakers):
    """Diarize many recordings: INPUT is an audio file, a folder, a glob, or a
    .csv / .jsonl manifest (columns path, and optionally uri, num_speakers,
    min_speakers, max_speakers).

    A rerun skips recordings whose output exists; failures go to OUTPUT_DIR/errors.tsv.
    Exit status: 0 all done, 1 some recordings failed, 2 unusable inputs or options.
    """
    from . import batch
    from .progress import ConsoleProgress

    cfg = build_config(config_file, preset, {}, settings=settings)
    progress = None if quiet else ConsoleProgress(stream=sys.stderr)
    try:
        with warnings.catch_warnings():
            if quiet:  # errors only: a manifest's unread columns are a warning
                warnings.simplefilter("ignore", ManifestWarning)
            summary = batch.run(list(inputs), output_dir, jobs=jobs, fmt=formats,
                                overwrite=overwrite, scheduler=scheduler, config=cfg,
                                progress=progress, link_speakers=link_speakers,
                                voices=voices_dir)
    except KeyboardInterrupt:
        raise _Interrupted("interrupted; rerun the same command to resume") from None
    if summary.errors_text:
        # errors.tsv could not be written (the device is full): the failures go to stderr.
        echo_error(f"cannot write {printable(str(Path(output_dir) / batch.ERRORS_FILE))}; "
                   "the failures follow")
        with contextlib.suppress(OSError, ValueError, AttributeError):
            sys.stderr.write(summary.errors_text)
            sys.stderr.flush()
    elif quiet and summary.failed:
        from .progress import plural

        echo_error(f"{plural(summary.failed, 'recording')} failed (see {summary.errors_file})")
    # --- speaker linking
    if summary.linked is not None and not quiet:
        from .progress import plural

        linked = summary.linked
        with contextlib.suppress(OSError):
            click.echo(f"linked {plural(linked.speakers, 'speaker')} of "
                       f"{plural(linked.recordings, 'recording')} into "
                       f"{plural(linked.voices, 'voice')}: "
                       f"{printable(str(linked.speakers_file))}", err=True)
        if linked.not_linked:
            shown = ", ".join(linked.not_linked[:5]) + (", ..." if len(linked.not_linked) > 5
                                                         else "")
            echo_warning(f"recordings linked by an earlier run in this folder are not among "
                         f"the inputs ({len(linked.not_linked)}: {shown}): they keep "
                         "their old labels, which may now name other voices; give every "
                         "input again to link them all")
    return summary.exit_status


# ------------------------------------------------------------------------- tune

@main.command("tune")
@click.argument("audio_dir", type=click.Path(path_type=Path))
@click.option("--ref", "ref_path", required=True, type=click.Path(path_type=Path),
              help="Folder of reference <uri>.rttm files (may be AUDIO_DIR), or one RTTM file.")
@click.option("--uem", "uem_path", type=click.Path(path_type=Path), default=None,
              help="UEM file (or folder of .uem files): the regions to score.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("tuned.toml"),
              show_default=True, help="TOML file to write (only the changed keys).")
@click.option("--config", "config_file", type=click.Path(path_type=Path),
              help="Base TOML configuration (its keys override the preset).")
@click.option("--preset", help="Base preset (default, meeting, telephone, broadcast, noisy).")
@click.option("--params", default=None, metavar="KEY,KEY,...",
              help="Comma-separated dotted keys to search (default: cluster.link_threshold, "
                   "reseg.switch_penalty, reseg.decoder_min_turn, sad.threshold).")
@click.option("--trials", type=int, default=None, callback=_within(0, MAX_TRIALS), help="Configurations tried on the tuning half (default 16).")
@click.option("-j", "--jobs", type=int, callback=_within(1, MAX_JOBS), default=None,
              help="Worker processes (default: all cores).")
@click.option("--collar", type=float, default=0.25, show_default=True, callback=_within(0.0, MAX_COLLAR),
              help="Seconds left unscored on each side of every reference boundary.")
@click.option("--skip-overlap/--no-skip-overlap", default=True, show_default=True,
              help="Leave overlapped reference speech unscored.")
@click.option("--seed", type=int, default=0, show_default=True, callback=_like_key("seed"),
              help="Seed of the tuning/held-out split.")
@click.option("-q", "--quiet", is_flag=True, help="Nothing on stderr but errors (no progress, no 'wrote' line).")
def tune_command(audio_dir, ref_path, uem_path, output, config_file, preset, params, trials,
                 jobs, collar, skip_overlap, seed, quiet):
    """Search configuration values against reference RTTMs; write them as TOML.

    The recordings are split (by --seed) into a tuning half, on which every trial is
    scored and the best values are chosen, and a held-out half, scored only for the
    base and the tuned values: its DER is the honest estimate. See docs/tune.md.

    \b
    diarize tune data/ --ref data/ --uem data/ -o mine.toml
    diarize data/meeting.wav --config mine.toml
    """
    from . import tune as tuning
    from .writers import atomic_write_text

    from .writers import check_writable_file

    _refuse_overwriting(output, audio_dir, ref_path, uem_path, config_file)
    cfg = build_config(config_file, preset, {})
    check_writable_file(output)  # an hours-long search must not end in an unwritable file
    keys = [k for k in params.split(",")] if params is not None else list(tuning.DEFAULT_PARAMS)
    log = None if quiet else (lambda line: click.echo(f"diarize tune: {line}", err=True))
    try:
        result = tuning.tune(audio_dir, ref_path, params=keys,
                             trials=tuning.DEFAULT_TRIALS if trials is None else trials,
                             jobs=jobs, base=cfg, seed=seed, collar=collar,
                             skip_overlap=skip_overlap, uem=uem_path, log=log)
    except ConfigError as exc:  # name the option: params -> --params
        message = str(exc)
        if message.startswith("params: "):
            raise ConfigError("--" + message) from None
        raise
    atomic_write_text(output, tuning.format_toml(result))
    echo_out(tuning.format_report(result))
    if not quiet:
        click.echo(f"wrote {output}", err=True)


# ------------------------------------------------------------------------- words
_RTTM_MAGIC = (b"SPEAKER", b"SPKR-INFO")
"""An input whose first bytes are one of these is read as RTTM whatever its suffix (our
RTTM files start with a ``SPKR-INFO`` record naming the tool)."""


def _is_rttm(path: Path) -> bool:
    """Whether DIARIZATION names RTTM text (by suffix, or by its first record) or audio."""
    if path.suffix.lower() == ".rttm":
        return True
    try:
        with open(path, "rb") as f:
            return f.read(16).lstrip(b"\xef\xbb\xbf").startswith(_RTTM_MAGIC)
    except OSError:
        return False  # the audio reader reports a missing or unreadable file


def _rttm_diarization(path: Path, uri):
    """The turns of one recording of an RTTM file: the only one, or the one `uri` names."""
    from .rttm import read_rttm
    from .segments import Diarization

    by_key = read_rttm(path)
    uris = list(dict.fromkeys(key.uri for key in by_key))
    if uri is None and len(uris) > 1:
        shown = ", ".join(uris[:5]) + (", ..." if len(uris) > 5 else "")
        raise click.UsageError(f"{path} holds {len(uris)} recordings ({shown}): "
                               "choose one with --uri")
    if uri is not None and uri not in uris:
        raise click.UsageError(f"--uri: {path} has no recording {uri!r} "
                               f"(it has: {', '.join(uris[:5]) or 'none'})")
    chosen = uri if uri is not None else (uris[0] if uris else uri_for(path))
    turns = [t for key, ts in by_key.items() if key.uri == chosen for t in ts]
    return Diarization(turns, uri=chosen, duration=max((t.end for t in turns), default=0.0))


@main.command("words")
@click.argument("diarization", type=click.Path(path_type=Path))
@click.argument("transcript", type=click.Path(path_type=Path))
@click.option("-f", "--format", "fmt", type=click.Choice(TRANSCRIPT_FORMATS), default=None,
              help="Output format (default: from the suffix of -o, else srt).")
@click.option("-o", "--output", type=click.Path(path_type=Path, allow_dash=True), default=None,
              help="Output file, written atomically; '-' or none: standard output.")
@click.option("--uri", default=None, type=TYPED_TEXT,
              help="The recording to use when the RTTM holds several (its file id).")
@click.option("--num-speakers", type=int, callback=_like_key("num_speakers"),
              help="Known number of speakers (when DIARIZATION is audio).")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML configuration file.")
@click.option("--preset", help="Shipped configuration preset (default, meeting, telephone, broadcast, noisy).")
@_settings_option
@click.option("-q", "--quiet", is_flag=True, help="No summary on stderr.")
def words_command(diarization, transcript, fmt, output, uri, num_speakers, config_file, preset,
                  settings, quiet):
    """Label a transcript with speakers: write SRT, VTT or JSON.

    DIARIZATION is an audio file (diarized first) or an RTTM file (a .rttm suffix, or
    SPEAKER records). TRANSCRIPT is Whisper JSON (segments with words), SRT or WebVTT.
    Each word gets the speaker it overlaps most, or the nearest one in a pause. From
    words, SRT and VTT get one cue per speaker run; JSON lists every word with its
    speaker, whether another speaker overlaps it, and how it was chosen.

    \b
    whisper talk.wav --word_timestamps True --output_format json
    diarize words talk.wav talk.json -o talk.srt
    diarize words talk.rttm talk.vtt -f json -o talk.words.json
    """
    from .transcript import format_transcript, read_transcript
    from .writers import atomic_write_text

    to_stdout = output is None or str(output) == "-"
    _refuse_overwriting(output, diarization, transcript, config_file)
    if fmt is None:
        suffix = "" if to_stdout else output.suffix.lower()
        fmt = TRANSCRIPT_SUFFIXES.get(suffix, "srt")
    rttm = _is_rttm(diarization)
    if uri is not None and not rttm:
        raise click.UsageError("--uri chooses a recording of an RTTM file; "
                               f"{diarization} is read as audio")
    if rttm:
        _refuse_diarizing_options(num_speakers, config_file, preset, settings,
                                  f"audio; {diarization} is read as RTTM")
        cfg = None
    else:
        cfg = build_config(config_file, preset, {}, speakers={"num_speakers": num_speakers},
                           settings=settings)
    text = read_transcript(transcript)  # before diarizing: a bad transcript fails fast
    if rttm:
        result = _rttm_diarization(diarization, uri)
    else:
        from .pipeline import Diarizer

        try:
            result = Diarizer(cfg, keep_models=False)(diarization)  # the turns only
        except DiarizeError as exc:  # the message names the file, as run's do
            message = " ".join(str(exc).split()) or type(exc).__name__
            if str(diarization) not in message:
                exc.args = (f"{diarization}: {message}",)
            raise
    assigned = result.assign(text.items)
    rendered = format_transcript(assigned, fmt, words=text.words)
    if to_stdout:
        echo_out(rendered)
    else:
        atomic_write_text(output, rendered)
    if not quiet:
        unit = "words" if text.words else "segments"
        paused = sum(w.method == "nearest" for w in assigned)
        flagged = sum(w.overlap for w in assigned)
        unlabelled = sum(w.speaker is None for w in assigned)
        target = "standard output" if to_stdout else str(output)
        click.echo(f"diarize words: {len(assigned)} {unit}, {len(result.speakers)} speakers "
                   f"-> {target} ({fmt}); {paused} in pauses given the nearest speaker, "
                   f"{flagged} overlapping two speakers"
                   + (f", {unlabelled} with no speaker" if unlabelled else ""), err=True)
