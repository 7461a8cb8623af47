"""The ``diarize`` command.

``diarize AUDIO...`` diarizes files; subcommands (``eval``, ``batch``, ...) do the rest.
User errors become one line on stderr: exit status 1 for a failed input, 2 for usage.
"""

from __future__ import annotations

import errno
import os
import sys
import warnings
import zipfile
from pathlib import Path

import click

from . import __version__
from .errors import ConfigError, DiarizeError, NoSpeechWarning, StdoutError
from .writers import FORMATS, printable

#: The file names of the output formats, for help texts: ".rttm, .json, ... or .txt (...)".
_FORMAT_FILES = ", ".join(f"{f.extension} ({f.name})" for f in FORMATS.values())


class DefaultGroup(click.Group):
    """A group that runs its ``run`` command when the first argument is not a subcommand,
    so that ``diarize meeting.wav`` and ``diarize eval ...`` both work; and that reports
    every error, its own and click's, as one line on stderr (see :meth:`main`)."""

    default_command = "run"

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = [self.default_command, *args]
        elif not args:
            args = [self.default_command]
        return super().parse_args(ctx, args)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Run the command line; exit with its documented status.

        Exit status: 0 done, 1 an input or output failed, 2 a usage or configuration error,
        3 an internal error (a bug; ``DIARIZE_DEBUG=1`` shows its traceback), 130
        interrupted. Every error is one line on stderr, never click's usage block.
        """
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        status = 0
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            status = rv if isinstance(rv, int) else 0  # --help and --version: 0
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except _NO_ARGS_IS_HELP as exc:  # `diarize config`: a request for the command list
            click.echo(exc.ctx.get_help() if exc.ctx is not None else exc.format_message())
            status = 0
        except click.UsageError as exc:  # bad option, value or argument; missing argument
            echo_error(exc.format_message())
            status = 2
        except click.ClickException as exc:
            echo_error(exc.format_message())
            status = exc.exit_code
        except (click.Abort, KeyboardInterrupt):
            echo_error("interrupted")
            status = 130
        except StdoutError as exc:
            echo_error(str(exc))
            status = 1
        except ConfigError as exc:
            echo_error(str(exc))
            status = 2
        except DiarizeError as exc:
            echo_error(str(exc) or type(exc).__name__)
            status = 1
        except MemoryError:
            echo_error("out of memory")
            status = 1
        except OSError as exc:
            if exc.filename is not None:
                echo_error(f"{exc.filename}: {exc.strerror or exc}")
                status = 1
            elif exc.errno in _STDOUT_ERRNOS:  # a write to standard output, from click
                echo_error(str(StdoutError.from_os_error(exc)))
                _silence_stdout()
                status = 1
            else:
                echo_error(f"internal error ({type(exc).__name__}: {exc}); please report it "
                           "(DIARIZE_DEBUG=1 shows the traceback)")
                status = 3
        except Exception as exc:
            if os.environ.get("DIARIZE_DEBUG"):
                raise
            echo_error(f"internal error ({type(exc).__name__}: {exc}); please report it "
                       "(DIARIZE_DEBUG=1 shows the traceback)")
            status = 3
        try:
            sys.stdout.flush()
        except OSError as exc:
            echo_error(str(StdoutError.from_os_error(exc)))
            _silence_stdout()
            status = status or 1
        sys.exit(status)


_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())
_STDOUT_ERRNOS = frozenset({errno.EPIPE, errno.ENOSPC, errno.EIO, errno.EBADF, errno.EFBIG})


def echo_out(text: str) -> None:
    """Write `text` to standard output now.

    Raises
    ------
    StdoutError
        The write or the flush failed.
    """
    try:
        click.echo(text, nl=False)
        sys.stdout.flush()
    except OSError as exc:
        _silence_stdout()
        raise StdoutError.from_os_error(exc) from None


def _silence_stdout() -> None:
    """Point standard output at the null device, so that the interpreter's own flush at
    exit does not print a second report of the failed write."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no file descriptor (captured output)
        pass


def build_config(config_file, preset, overrides, speakers=None):
    """Load the configuration from a preset and/or file, then apply CLI overrides and
    speaker-count hints (see :meth:`Config.with_speakers`).

    Raises click.UsageError (exit status 2) for any configuration problem."""
    from .config import load_config

    try:
        cfg = load_config(config_file, preset=preset)
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
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def check_model_files(cfg) -> None:
    """Load the model files a configuration names, so that a path that is not a model is
    refused before any work.

    Raises
    ------
    ConfigError
        Naming the key and the file.
    """
    from .sad import load_model
    from .speakers import load_ubm

    for key, used, path, load in (
            ("sad.model_path", cfg.sad.method == "model", cfg.sad.model_path, load_model),
            ("cluster.ubm_path", cfg.cluster.link_method == "ubm", cfg.cluster.ubm_path, load_ubm)):
        if used and path:
            if not Path(path).is_file():
                raise ConfigError(f"{key}: {path}: no such model file")
            if not zipfile.is_zipfile(path):
                raise ConfigError(f"{key}: {path}: not a model file (an .npz archive)")
            try:
                load(path)
            except DiarizeError as exc:
                raise ConfigError(f"{key}: {' '.join(str(exc).split())}") from None


def echo_error(message: str) -> None:
    """One line on stderr: ``diarize: error: MESSAGE`` (whitespace runs made one space)."""
    try:
        click.echo(f"diarize: error: {' '.join(message.split())}", err=True)
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


def _within(lo: float, hi: float):
    """An option callback refusing values outside ``[lo, hi]`` (and NaN, infinities)."""
    return _check_range({"min": lo, "max": hi})


def _like_key(key: str):
    """An option callback refusing values outside the range of configuration `key`."""
    from .config import config_fields

    return _check_range(next(f.metadata for k, f, _ in config_fields() if k == key))


def _check_range(metadata):
    from .config import in_range, range_text

    def check(ctx, param, value):
        if value is not None and not in_range(value, metadata):
            raise click.BadParameter(f"must be {range_text(metadata)}, got {value!r}")
        return value

    return check


MAX_JOBS = 1024
"""Most worker processes ``--jobs`` may ask for."""
MAX_COLLAR = 60.0
"""Largest scoring collar (seconds on each side of a reference boundary)."""
MAX_TRIALS = 10000
"""Most configurations ``tune --trials`` may try."""


@main.command("run")
@click.argument("audio", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output-dir", type=click.Path(path_type=Path), default=None,
              help="Folder for <stem>.rttm files, created if missing (default: current folder).")
@click.option("--stdout", "to_stdout", is_flag=True, help="Print the output instead of writing files.")
@click.option("-f", "--format", "fmt", type=click.Choice(list(FORMATS)),
              default="rttm", show_default=True,
              help="Output format; files are <stem>" + _FORMAT_FILES + ".")
@click.option("--exclusive", is_flag=True,
              help="No overlapping turns: in an overlap the turn that started first wins.")
@click.option("--num-speakers", type=int, callback=_like_key("num_speakers"), help="Known number of speakers.")
@click.option("--min-speakers", type=int, callback=_like_key("min_speakers"), help="Smallest speaker count to consider.")
@click.option("--max-speakers", type=int, callback=_like_key("max_speakers"), help="Largest speaker count to consider.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML configuration file.")
@click.option("--preset", help="Shipped configuration preset (default, meeting, telephone, broadcast).")
@click.option("--seed", type=int, callback=_like_key("seed"), help="Random seed (same seed, same output).")
@click.option("--count-method", type=click.Choice(["bic", "dp"]),
              help="How the number of speakers is found: BIC merging (default) or a "
                   "Dirichlet-process mixture (cluster.count_method).")
@click.option("-v", "--verbose", is_flag=True, help="Report progress on stderr.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def run_command(audio, output_dir, to_stdout, fmt, exclusive, num_speakers, min_speakers,
                max_speakers, config_file, preset, seed, count_method, verbose, quiet):
    """Diarize AUDIO files; write <stem>.rttm (or --format) for each.

    \b
    diarize meeting.wav --preset meeting
    diarize call.wav --preset telephone --num-speakers 2 --format json -o out/
    """
    cfg = _config_or_exit(config_file, preset, {"seed": seed, "cluster.count_method": count_method},
                          speakers={"num_speakers": num_speakers, "min_speakers": min_speakers,
                                    "max_speakers": max_speakers})
    from .pipeline import Diarizer, uri_for
    from .writers import atomic_write_text, format_diarization

    out_dir = output_dir if output_dir is not None else Path(".")
    if not to_stdout:
        _refuse_shared_outputs(audio)
        # Created (with its parents) if missing, as `diarize batch` does.
        if out_dir.exists() and not out_dir.is_dir():
            echo_error(f"{out_dir}: is not a directory")
            sys.exit(1)
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            echo_error(f"{out_dir}: cannot create output directory ({exc.strerror or exc})")
            sys.exit(1)
    diarizer = Diarizer(cfg)
    failed = 0
    for path in audio:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", NoSpeechWarning)
                result = diarizer(path, hook=_progress_hook(path) if verbose else None)
            for w in caught:  # one line each ("no speech found in X")
                click.echo(f"diarize: warning: {' '.join(str(w.message).split())}", err=True)
            if exclusive:
                result = result.exclusive()
            text = format_diarization(result, fmt)
            if to_stdout:
                echo_out(text)
            else:
                target = out_dir / f"{uri_for(path)}{FORMATS[fmt].extension}"
                atomic_write_text(target, text)
                if verbose:
                    click.echo(f"{path}: {len(result.speakers)} speakers, {len(result)} turns -> {target}", err=True)
            if uri_for(path) != path.stem and not quiet:
                click.echo(f"diarize: note: {printable(path.name)}: file id {uri_for(path)} "
                           "(whitespace as '_', bytes that are not UTF-8 as \\xNN)", err=True)
        except StdoutError:
            raise
        except DiarizeError as exc:
            message = " ".join(str(exc).split()) or type(exc).__name__
            if str(path) not in message:  # errors from inside the pipeline do not name the file
                message = f"{path}: {message}"
            echo_error(message)
            failed += 1
        except MemoryError:
            echo_error(f"{path}: out of memory")
            failed += 1
    sys.exit(1 if failed else 0)


def _refuse_shared_outputs(audio) -> None:
    """Exit 2, naming both, if two different inputs would write the same output file
    (``x/a.wav`` and ``y/a.wav`` both give ``a.rttm``), as ``diarize batch`` refuses them."""
    from .batch import BatchInputError, check_unique, recording

    try:
        check_unique([recording(Path(p), source=str(p)) for p in audio])
    except BatchInputError as exc:
        echo_error(f"{exc}: each would overwrite the other's output; "
                   "diarize them into different folders (-o) or rename one")
        sys.exit(2)


# ------------------------------------------------------------------------- eval

EVAL_FORMATS = ("table", "json", "csv")
EVAL_COLUMNS = ("der", "jer", "missed", "false_alarm", "confusion", "scored", "ref_speakers", "hyp_speakers")
EVAL_DECIMALS = 2
"""Decimals of the table; JSON and CSV carry full precision."""


def _eval_table(evaluation) -> str:
    """Fixed-width table: one row per file, then the total."""
    header = ("File", "DER%", "Miss%", "FA%", "Conf%", "Scored(s)", "Ref", "Hyp", "JER%")
    labels = evaluation.labels()
    rows = [(labels[k], s) for k, s in evaluation.files.items()]
    rows.append(("TOTAL", evaluation.total))
    cells = [header]
    for name, s in rows:
        cells.append((name, *(f"{v:.{EVAL_DECIMALS}f}" for v in (
            s.der, s.missed_rate, s.false_alarm_rate, s.confusion_rate, s.scored)),
            str(s.ref_speakers), str(s.hyp_speakers), f"{s.jer:.{EVAL_DECIMALS}f}"))
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for i, r in enumerate(cells):
        lines.append("  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]))
        if i == 0 or i == len(cells) - 2:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def _eval_csv(evaluation) -> str:
    import csv
    import io as _io

    from .writers import spreadsheet_text

    buf = _io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("file", *EVAL_COLUMNS))
    labels = evaluation.labels()
    for key, s in [*evaluation.files.items(), (None, evaluation.total)]:
        d = s.as_dict()
        writer.writerow((spreadsheet_text(labels[key]) if key is not None else "TOTAL", *(repr(d[c]) if isinstance(d[c], float) else d[c] for c in EVAL_COLUMNS)))
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
@click.option("--format", "fmt", type=click.Choice(EVAL_FORMATS), default="table", show_default=True,
              help="Output format.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Write the report to this file (atomically) instead of standard output.")
def eval_command(ref_path, hyp_path, uem_path, collar, skip_overlap, fmt, output):
    """Score hypothesis RTTM against a reference: DER as NIST md-eval computes it, and JER.

    \b
    diarize eval --ref ref/ --hyp out/                       collar 0, overlap scored
    diarize eval --ref ref/ --hyp out/ --collar 0.25 --skip-overlap --format json
    """
    import json
    import warnings

    from .io import atomic_write_text, read_rttm, read_uem
    from .metrics import ScoringWarning, evaluate

    try:
        reference = read_rttm(ref_path)
        hypothesis = read_rttm(hyp_path)
        uem = read_uem(uem_path) if uem_path is not None else None
        if not reference:
            click.echo(f"diarize: warning: {ref_path}: no SPEAKER turns in the reference", err=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ScoringWarning)
            evaluation = evaluate(reference, hypothesis, uem=uem, collar=collar, skip_overlap=skip_overlap)
        for w in caught:
            click.echo(f"diarize: warning: {w.message}", err=True)
        if fmt == "json":
            text = json.dumps(evaluation.as_dict(), indent=2, ensure_ascii=False) + "\n"
        elif fmt == "csv":
            text = _eval_csv(evaluation)
        else:
            text = _eval_table(evaluation)
        if output is not None:
            atomic_write_text(output, text)
        else:
            echo_out(text)
    except StdoutError:
        raise
    except DiarizeError as exc:
        echo_error(str(exc))
        sys.exit(1)

# --------------------------------------------------------------------------- user's side
def _config_or_exit(config_file, preset, overrides, speakers=None):
    """:func:`build_config`, with a configuration problem as one line on stderr, exit 2."""
    try:
        return build_config(config_file, preset, overrides, speakers)
    except click.UsageError as exc:
        echo_error(exc.format_message())
        sys.exit(2)


def _progress_hook(path):
    """A pipeline progress hook printing one line per stage on stderr (``-v``)."""
    import time

    started = time.monotonic()

    def hook(stage: str, completed: int, total: int) -> None:
        elapsed = time.monotonic() - started
        if completed == 0:
            click.echo(f"{path}: {stage}... ({elapsed:.1f}s)", err=True)
        elif completed < total:
            click.echo(f"{path}: {stage} {completed}/{total} ({elapsed:.1f}s)", err=True)

    return hook


@main.command("plot")
@click.argument("audio", type=click.Path(path_type=Path))
@click.option("--rttm", "hyp_file", type=click.Path(path_type=Path),
              help="Plot this system output instead of diarizing AUDIO (no BIC curve then).")
@click.option("--ref", "ref_file", type=click.Path(path_type=Path),
              help="Reference RTTM, drawn above the system; matching speakers share a colour.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Picture file; the extension picks the format (default: <stem>.png).")
@click.option("--num-speakers", type=int, callback=_like_key("num_speakers"), help="Known number of speakers.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML configuration file.")
@click.option("--preset", help="Shipped configuration preset (default, meeting, telephone, broadcast).")
def plot_command(audio, hyp_file, ref_file, output, num_speakers, config_file, preset):
    """Draw AUDIO's waveform, the speaker turns and the BIC curve in one picture.

    Without --rttm, AUDIO is diarized first. With --rttm the turns come from that file
    and the BIC curve is shown as not available: it belongs to the run that wrote the
    file, and a fresh run could choose differently.

    \b
    diarize plot meeting.wav --ref meeting.ref.rttm -o timeline.png
    """
    try:
        import matplotlib  # noqa: F401  (checked before any slow work)
    except ImportError:
        echo_error("diarize plot needs matplotlib: pip install 'gmm-diarize[plot]'")
        sys.exit(2)
    cfg = _config_or_exit(config_file, preset, {}, speakers={"num_speakers": num_speakers})
    from .audio import load_audio
    from .pipeline import Diarizer, uri_for
    from .plot import load_turns, plot_timeline, save_figure
    from .segments import Diarization

    uri = uri_for(audio)
    target = output if output is not None else Path(f"{uri}.png")
    try:
        y = load_audio(audio, config=cfg.audio)
        duration = len(y) / cfg.audio.sample_rate
        reference = load_turns(ref_file, uri=uri) if ref_file is not None else None
        note = None
        if hyp_file is not None:
            result = Diarization(load_turns(hyp_file, uri=uri), uri=uri, duration=duration)
            note = f"turns read from {hyp_file.name}"
        else:
            result = Diarizer(cfg).diarize_signal(y, uri=uri)
        fig = plot_timeline(result, signal=y, sample_rate=cfg.audio.sample_rate,
                            reference=reference, bic_note=note)
        save_figure(fig, target)
    except DiarizeError as exc:
        echo_error(str(exc))
        sys.exit(1)
    click.echo(f"{target}", err=True)


@main.group("config")
def config_group():
    """Inspect configurations."""


@config_group.command("show")
@click.option("--preset", help="Shipped configuration preset (default, meeting, telephone, broadcast).")
@click.option("--config", "config_file", type=click.Path(path_type=Path),
              help="TOML configuration file (its keys override the preset).")
def config_show_command(preset, config_file):
    """Print the effective configuration as TOML (defaults, then preset, then file).

    The output is a complete configuration file: save it, edit it, pass it to --config.
    """
    cfg = _config_or_exit(config_file, preset, {})
    echo_out(cfg.to_toml())

@main.command("batch")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("-o", "--output-dir", type=click.Path(path_type=Path), required=True,
              help="Folder for <uri>.<ext> files and errors.tsv (created if missing).")
@click.option("-j", "--jobs", type=int, callback=_within(1, MAX_JOBS), default=None,
              help="Worker processes (default: all cores).")
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), default="rttm",
              show_default=True, help="Output format; files are <uri>" + _FORMAT_FILES + ".")
@click.option("--overwrite", is_flag=True, help="Diarize again recordings whose output exists.")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run on a Dask distributed cluster (tcp://HOST:PORT); needs a shared filesystem.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML configuration file.")
@click.option("--preset", help="Shipped configuration preset (default, meeting, telephone, broadcast).")
@click.option("-q", "--quiet", is_flag=True, help="No progress and no summary; only errors.")
def batch_command(inputs, output_dir, jobs, fmt, overwrite, scheduler, config_file, preset, quiet):
    """Diarize many recordings: INPUT is an audio file, a folder, a glob, or a
    .csv / .jsonl manifest (columns path, and optionally uri, num_speakers,
    min_speakers, max_speakers).

    A rerun skips recordings whose output exists; failures go to OUTPUT_DIR/errors.tsv.
    Exit status: 0 all done, 1 some recordings failed, 2 unusable inputs or options.
    """
    from . import batch

    cfg = _config_or_exit(config_file, preset, {})
    progress = None if quiet else batch.ConsoleProgress(stream=sys.stderr)
    try:
        summary = batch.run(list(inputs), output_dir, jobs=jobs, fmt=fmt, overwrite=overwrite,
                            scheduler=scheduler, config=cfg, progress=progress)
    except DiarizeError as exc:
        echo_error(str(exc))
        sys.exit(2)
    except KeyboardInterrupt:
        echo_error("interrupted; rerun the same command to resume")
        sys.exit(130)
    if quiet and summary.failed:
        echo_error(f"{summary.failed} recordings failed (see {summary.errors_file})")
    sys.exit(summary.exit_status)


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
@click.option("--preset", help="Base preset (default, meeting, telephone, broadcast).")
@click.option("--params", default=None, metavar="KEY,KEY,...",
              help="Comma-separated dotted keys to search (default: cluster.link_threshold, "
                   "reseg.switch_penalty, reseg.min_turn, sad.threshold).")
@click.option("--trials", type=int, default=None, callback=_within(0, MAX_TRIALS), help="Configurations tried on the tuning half (default 16).")
@click.option("-j", "--jobs", type=int, callback=_within(1, MAX_JOBS), default=None,
              help="Worker processes (default: all cores).")
@click.option("--collar", type=float, default=0.25, show_default=True, callback=_within(0.0, MAX_COLLAR),
              help="Seconds left unscored on each side of every reference boundary.")
@click.option("--skip-overlap/--no-skip-overlap", default=True, show_default=True,
              help="Leave overlapped reference speech unscored.")
@click.option("--seed", type=int, default=0, show_default=True, callback=_like_key("seed"),
              help="Seed of the tuning/held-out split.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
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
    from .io import atomic_write_text

    cfg = _config_or_exit(config_file, preset, {})
    keys = [k for k in params.split(",")] if params is not None else list(tuning.DEFAULT_PARAMS)
    log = None if quiet else (lambda line: click.echo(f"diarize tune: {line}", err=True))
    try:
        result = tuning.tune(audio_dir, ref_path, params=keys,
                             trials=tuning.DEFAULT_TRIALS if trials is None else trials,
                             jobs=jobs, base=cfg, seed=seed, collar=collar,
                             skip_overlap=skip_overlap, uem=uem_path, log=log)
    except ConfigError as exc:
        echo_error(" ".join(str(exc).split()))
        sys.exit(2)
    except DiarizeError as exc:
        echo_error(" ".join(str(exc).split()))
        sys.exit(1)
    try:
        atomic_write_text(output, tuning.format_toml(result))
    except DiarizeError as exc:
        echo_error(str(exc))
        sys.exit(1)
    echo_out(tuning.format_report(result))
    click.echo(f"wrote {output}", err=True)
