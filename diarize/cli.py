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


def _positive_int(ctx, param, value):
    if value is not None and value <= 0:
        raise click.BadParameter(f"must be a positive integer, got {value}")
    return value


@main.command("run")
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
            echo_error(f"{out_dir}: output directory does not exist")
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
            echo_error(str(exc))
            failed += 1
        except MemoryError:
            echo_error(f"{path}: out of memory")
            failed += 1
    sys.exit(1 if failed else 0)


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

    buf = _io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("file", *EVAL_COLUMNS))
    labels = evaluation.labels()
    for key, s in [*evaluation.files.items(), (None, evaluation.total)]:
        d = s.as_dict()
        writer.writerow((labels[key] if key is not None else "TOTAL", *(repr(d[c]) if isinstance(d[c], float) else d[c] for c in EVAL_COLUMNS)))
    return buf.getvalue()


def _non_negative(ctx, param, value):
    if value is not None and not value >= 0:
        raise click.BadParameter(f"must be a non-negative number of seconds, got {value}")
    return value


@main.command("eval")
@click.option("--ref", "ref_path", required=True, type=click.Path(path_type=Path),
              help="Reference RTTM file, or a folder of .rttm files.")
@click.option("--hyp", "hyp_path", required=True, type=click.Path(path_type=Path),
              help="Hypothesis (system) RTTM file, or a folder of .rttm files.")
@click.option("--uem", "uem_path", type=click.Path(path_type=Path), default=None,
              help="UEM file (or folder of .uem files): the regions to score. "
                   "Default: each file from its first to its last reference turn.")
@click.option("--collar", type=float, default=0.0, show_default=True, callback=_non_negative,
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
            click.echo(text, nl=False)
    except DiarizeError as exc:
        echo_error(str(exc))
        sys.exit(1)
