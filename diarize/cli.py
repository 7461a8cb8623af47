"""The ``diarize`` command.

``diarize AUDIO...`` diarizes files; subcommands (``eval``, ``batch``, ...) do the rest.
User errors become one line on stderr: exit status 1 for a failed input, 2 for usage.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__
from .errors import ConfigError, DiarizeError


class DefaultGroup(click.Group):
    """A group that runs its ``run`` command when the first argument is not a subcommand,
    so that ``diarize meeting.wav`` and ``diarize eval ...`` both work."""

    default_command = "run"

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = [self.default_command, *args]
        elif not args:
            args = [self.default_command]
        return super().parse_args(ctx, args)


def build_config(config_file, preset, overrides):
    """Load the configuration from a preset and/or file, then apply CLI overrides.

    Raises click.UsageError (exit status 2) for any configuration problem."""
    from .config import load_config

    try:
        cfg = load_config(config_file, preset=preset)
        overrides = {k: v for k, v in overrides.items() if v is not None}
        if overrides:
            cfg = cfg.replace(**overrides)
        return cfg
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def echo_error(message: str) -> None:
    click.echo(f"diarize: error: {message}", err=True)


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="diarize")
def main() -> None:
    """Who spoke when: GMM speaker diarization, offline on a CPU.

    \b
    diarize meeting.wav                  write meeting.rttm
    diarize eval --ref REF --hyp HYP     score against a reference
    """


class OneLineUsageError(click.UsageError):
    """A usage error shown as one line on stderr (exit status 2), without click's usage block."""

    def show(self, file=None) -> None:
        echo_error(self.format_message())


class RunCommand(click.Command):
    """``run``: every usage error (bad option value, bad config) is one line, exit status 2."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            if isinstance(exc, OneLineUsageError):
                raise
            raise OneLineUsageError(exc.format_message()) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            if isinstance(exc, OneLineUsageError):
                raise
            raise OneLineUsageError(exc.format_message()) from None


def _positive_int(ctx, param, value):
    if value is not None and value <= 0:
        raise click.BadParameter(f"must be a positive integer, got {value}")
    return value


@main.command("run", cls=RunCommand)
@click.argument("audio", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output-dir", type=click.Path(path_type=Path), default=None,
              help="Folder for <stem>.rttm files (default: current folder).")
@click.option("--stdout", "to_stdout", is_flag=True, help="Print the RTTM instead of writing files.")
@click.option("--num-speakers", type=int, callback=_positive_int, help="Known number of speakers.")
@click.option("--min-speakers", type=int, callback=_positive_int, help="Smallest speaker count to consider.")
@click.option("--max-speakers", type=int, callback=_positive_int, help="Largest speaker count to consider.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML configuration file.")
@click.option("--preset", help="Shipped configuration preset (default, meeting, telephone, broadcast).")
@click.option("--seed", type=int, help="Random seed (same seed, same output).")
@click.option("-v", "--verbose", is_flag=True, help="Report progress on stderr.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def run_command(audio, output_dir, to_stdout, num_speakers, min_speakers, max_speakers,
                config_file, preset, seed, verbose, quiet):
    """Diarize AUDIO files; write <stem>.rttm for each."""
    if min_speakers is not None and max_speakers is not None and min_speakers > max_speakers:
        raise click.UsageError(f"--min-speakers ({min_speakers}) is greater than --max-speakers ({max_speakers})")
    cfg = build_config(config_file, preset, {
        "num_speakers": num_speakers, "min_speakers": min_speakers,
        "max_speakers": max_speakers, "seed": seed,
    })
    if num_speakers is not None and max_speakers is None and num_speakers > cfg.max_speakers:
        cfg = cfg.replace(max_speakers=num_speakers)
    from .pipeline import Diarizer, uri_for
    from .io import atomic_write_text

    out_dir = output_dir if output_dir is not None else Path(".")
    if not to_stdout:
        if not out_dir.is_dir():
            problem = "is not a directory" if out_dir.exists() else "output directory does not exist"
            echo_error(f"{out_dir}: {problem}")
            sys.exit(1)
    diarizer = Diarizer(cfg)
    failed = 0
    for path in audio:
        try:
            result = diarizer(path)
            text = result.to_rttm()
            if to_stdout:
                click.echo(text, nl=False)
            else:
                target = out_dir / f"{uri_for(path)}.rttm"
                atomic_write_text(target, text)
                if verbose:
                    click.echo(f"{path}: {len(result.speakers)} speakers, {len(result)} turns -> {target}", err=True)
            if uri_for(path) != path.stem and not quiet:
                click.echo(f"diarize: note: {path.name}: spaces in the file id replaced by '_'", err=True)
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
