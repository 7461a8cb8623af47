#!/usr/bin/env python
"""Diarize every recording of some folders, score it, and print a Markdown table per folder.

Usage::

    python scripts/benchmark.py [DIR ...] [--preset NAME] [--config FILE]
        [--set KEY=VALUE ...] [--jobs N] [--count-methods bic,dp]
        [--json OUT] [--save-rttm DIR]

Every ``*.wav`` / ``*.flac`` in a folder with a reference ``<stem>.rttm`` beside it is
diarized (a recording without one is skipped with a note) and scored in two conditions,
both with NIST md-eval semantics (see docs/eval.md):

* **full**: collar 0, overlapped speech scored;
* **fair**: collar 0.25 s on each side of every reference boundary, overlap skipped.

``<stem>.uem`` is used as the scored region when present. The default folders are
``../shared/eval/real`` and ``../shared/eval/sim`` relative to the repository root.

Reported per folder: DER and its parts in both conditions, JER (full condition),
speaker-count accuracy (hypothesis vs reference speakers with speech in the scored
region: exact match %, mean absolute error), the real-time factor (processing seconds
per audio second: wall-clock with ``--jobs 1``, CPU seconds with more jobs, since
parallel wall-clock time says little per file) and the peak resident memory of the
process, or of the largest worker with ``--jobs`` > 1 (``getrusage`` maxrss; it only
grows, so a later folder's figure includes the earlier folders').

A recording the pipeline fails on is scored with an empty hypothesis (all its speech
missed), listed on stderr, and makes the script exit with status 1.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from diarize.errors import DiarizeError  # noqa: E402
from diarize.io import FileKey, atomic_write_text, format_rttm, read_rttm, read_uem  # noqa: E402
from diarize.metrics import DiarizationScore, ScoringWarning, evaluate  # noqa: E402

from diarize.audio import AUDIO_SUFFIXES  # noqa: E402  (the one list: batch, tune, scripts)
DEFAULT_DIRS = (REPO / ".." / "shared" / "eval" / "real", REPO / ".." / "shared" / "eval" / "sim")
CONDITIONS = {
    # name: (collar in seconds per side, skip overlap)
    "full": (0.0, False),
    "fair": (0.25, True),
}
COUNT_METHOD_KEY = "cluster.count_method"
# ru_maxrss is in kilobytes on Linux, bytes on macOS
MAXRSS_TO_MB = 1.0 / (1024 * 1024) if sys.platform == "darwin" else 1.0 / 1024
SECONDS_PER_MINUTE = 60.0


# --------------------------------------------------------------------- running

@dataclass
class Run:
    """One recording diarized (or failed)."""

    folder: str
    path: str
    uri: str
    duration: float = 0.0          # audio seconds
    wall: float = 0.0              # processing seconds, wall-clock
    cpu: float = 0.0               # processing seconds, CPU of this process
    maxrss_mb: float = 0.0         # peak RSS of the process that ran it, so far
    turns: list = field(default_factory=list)
    rttm: str = ""
    error: str | None = None


_DIARIZER = None


def _init_worker(cfg) -> None:
    """Build one Diarizer per process (workers of a Pool, or this process)."""
    global _DIARIZER
    from diarize.pipeline import Diarizer

    _DIARIZER = Diarizer(cfg)


def _diarize(task: tuple[str, str]) -> Run:
    folder, path = task
    from diarize.pipeline import uri_for

    run = Run(folder=folder, path=path, uri=uri_for(path))
    wall0, cpu0 = time.perf_counter(), time.process_time()
    try:
        result = _DIARIZER(path)
        run.turns = list(result.turns)
        run.duration = float(result.duration)
        to_rttm = getattr(result, "to_rttm", None)
        run.rttm = to_rttm() if to_rttm else format_rttm(result.turns, result.uri)
    except (DiarizeError, MemoryError, ValueError, RuntimeError) as exc:
        # ValueError/RuntimeError too: a benchmark should report a crash, not stop at it
        run.error = f"{type(exc).__name__}: {exc}"
        run.duration = _audio_duration(path)
    run.wall = time.perf_counter() - wall0
    run.cpu = time.process_time() - cpu0
    run.maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * MAXRSS_TO_MB
    return run


def _audio_duration(path: str) -> float:
    try:
        import soundfile

        return float(soundfile.info(path).duration)
    except Exception:  # the file may be the reason the pipeline failed
        return 0.0


def run_all(tasks: list[tuple[str, str]], cfg, jobs: int) -> list[Run]:
    """Diarize every task; progress on stderr."""
    runs: list[Run] = []

    def report(run: Run) -> None:
        runs.append(run)
        status = (f"FAILED ({run.error})" if run.error else
                  f"{len({t.speaker for t in run.turns})} speakers, {run.wall:.1f} s")
        print(f"[{len(runs)}/{len(tasks)}] {run.folder}/{Path(run.path).name} "
              f"({run.duration:.1f} s): {status}", file=sys.stderr, flush=True)

    if jobs <= 1:
        _init_worker(cfg)
        for task in tasks:
            report(_diarize(task))
    else:
        with multiprocessing.get_context("spawn").Pool(jobs, _init_worker, (cfg,)) as pool:
            for run in pool.imap_unordered(_diarize, tasks):
                report(run)
    order = {task: i for i, task in enumerate(tasks)}
    return sorted(runs, key=lambda r: order[(r.folder, r.path)])


# --------------------------------------------------------------------- scoring

@dataclass
class FolderResult:
    name: str
    n_files: int
    audio_seconds: float
    scores: dict[str, DiarizationScore]     # condition -> total
    per_file: dict[str, dict]
    exact: float                            # % of files with the right speaker count
    mae: float                              # mean absolute speaker-count error
    rtf: float
    peak_mb: float
    failed: list[str]


def score_folder(name: str, folder: Path, runs: list[Run], jobs: int) -> FolderResult:
    reference: dict[FileKey, list] = {}
    hypothesis: dict[FileKey, list] = {}
    uem: dict[FileKey, list] = {}
    file_keys: dict[str, list[FileKey]] = {}
    for run in runs:
        stem = Path(run.path).stem
        ref = read_rttm(folder / f"{stem}.rttm")
        # the reference file id is the stem; score the hypothesis under the reference's
        # key(s) so that a uri the pipeline sanitised (spaces) still matches
        keys = list(ref) or [FileKey(stem)]
        file_keys[run.path] = keys
        for key in keys:
            reference[key] = ref.get(key, [])
            hypothesis[key] = run.turns
        uem_path = folder / f"{stem}.uem"
        if uem_path.exists():
            uem.update(read_uem(uem_path))
    scores, per_file = {}, {Path(r.path).name: {} for r in runs}
    for condition, (collar, skip_overlap) in CONDITIONS.items():
        with warnings.catch_warnings():
            # recordings without a .uem are scored over their reference extent on purpose
            warnings.simplefilter("ignore", ScoringWarning)
            evaluation = evaluate(reference, hypothesis, uem=uem or None, collar=collar,
                                  skip_overlap=skip_overlap)
        scores[condition] = evaluation.total
        for run in runs:
            total = sum((evaluation.files[k] for k in file_keys[run.path] if k in evaluation.files),
                        DiarizationScore())
            per_file[Path(run.path).name][condition] = total.as_dict()
    count_errors = []
    for run in runs:
        full = per_file[Path(run.path).name]["full"]
        count_errors.append(abs(full["hyp_speakers"] - full["ref_speakers"]))
        per_file[Path(run.path).name].update(
            uri=run.uri, duration=run.duration, wall_seconds=run.wall, cpu_seconds=run.cpu,
            maxrss_mb=run.maxrss_mb, error=run.error)
    audio = sum(r.duration for r in runs)
    busy = sum(r.cpu if jobs > 1 else r.wall for r in runs)
    n = len(runs)
    return FolderResult(
        name=name, n_files=n, audio_seconds=audio, scores=scores, per_file=per_file,
        exact=100.0 * sum(e == 0 for e in count_errors) / n if n else 0.0,
        mae=sum(count_errors) / n if n else 0.0,
        rtf=busy / audio if audio > 0 else float("nan"),
        peak_mb=max([r.maxrss_mb for r in runs] +
                    [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * MAXRSS_TO_MB if jobs <= 1 else 0.0]),
        failed=[r.path for r in runs if r.error],
    )


# ---------------------------------------------------------------------- output

def markdown(folder: str, rows: dict[str, FolderResult], jobs: int) -> str:
    """One table for a folder; one row per count method (or one row)."""
    first = next(iter(rows.values()))
    rtf_name = "RTF (CPU)" if jobs > 1 else "RTF"
    head = ["method", "full DER", "miss", "FA", "conf", "fair DER", "miss", "FA", "conf",
            "JER", "spk exact %", "spk MAE", rtf_name, "peak MB"]
    lines = [f"### {folder} ({first.n_files} recordings, "
             f"{first.audio_seconds / SECONDS_PER_MINUTE:.1f} min)", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for method, r in rows.items():
        full, fair = r.scores["full"], r.scores["fair"]
        cells = [method] + [f"{v:.2f}" for v in (
            full.der, full.missed_rate, full.false_alarm_rate, full.confusion_rate,
            fair.der, fair.missed_rate, fair.false_alarm_rate, fair.confusion_rate, full.jer)]
        cells += [f"{r.exact:.1f}", f"{r.mae:.2f}", f"{r.rtf:.3f}", f"{r.peak_mb:.0f}"]
        if r.failed:
            cells[0] += f" ({len(r.failed)} failed)"
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("DER and its parts in % of scored speaker time; full: collar 0, overlap scored; "
                 "fair: collar 0.25 s per side, overlap skipped. JER in % (full).")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------ main

def parse_set(items: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` pairs; values are TOML literals (``1.2``, ``true``, ``"dp"``), and a
    value that is not valid TOML is taken as a string (so ``--set cluster.count_method=dp``
    works without quotes)."""
    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"benchmark: error: --set expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="*", type=Path, help="Folders of recordings (default: shared real and sim).")
    parser.add_argument("--config", type=Path, help="TOML configuration file.")
    parser.add_argument("--preset", help="Configuration preset.")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="Override a configuration key (dotted), value as a TOML literal; repeatable.")
    parser.add_argument("--jobs", type=int, default=1, help="Recordings diarized in parallel (default 1).")
    parser.add_argument("--count-methods", help="Comma-separated cluster.count_method values, run one after the other.")
    parser.add_argument("--json", dest="json_out", type=Path, help="Also write per-file results here.")
    parser.add_argument("--save-rttm", type=Path, help="Write each hypothesis RTTM into this folder.")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")

    from diarize.config import load_config

    try:
        cfg = load_config(args.config, preset=args.preset)
        overrides = parse_set(args.overrides)
        if overrides:
            cfg = cfg.replace(**overrides)
        methods = [m.strip() for m in args.count_methods.split(",") if m.strip()] if args.count_methods else []
        configs = {m: cfg.replace(**{COUNT_METHOD_KEY: m}) for m in methods} or {"config": cfg}
        for c in configs.values():
            if hasattr(c, "validate"):
                c.validate()
    except DiarizeError as exc:
        parser.error(str(exc))

    dirs = [d.resolve() for d in (args.dirs or DEFAULT_DIRS)]
    for d in dirs:
        if not d.is_dir():
            parser.error(f"{d}: no such folder")
    tasks: list[tuple[str, str]] = []
    for d in dirs:
        for path in sorted(p for p in d.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES):
            if (d / f"{path.stem}.rttm").exists():
                tasks.append((d.name, str(path)))
            else:
                print(f"benchmark: note: {path}: no reference {path.stem}.rttm, skipped", file=sys.stderr)
    if not tasks:
        parser.error("no recordings with a reference found")
    if args.save_rttm is not None:
        args.save_rttm.mkdir(parents=True, exist_ok=True)

    results: dict[str, dict[str, FolderResult]] = {}    # folder -> method -> result
    failed = False
    try:
        for method, method_cfg in configs.items():
            if len(configs) > 1:
                print(f"benchmark: {COUNT_METHOD_KEY} = {method}", file=sys.stderr)
            runs = run_all(tasks, method_cfg, args.jobs)
            for d in dirs:
                folder_runs = [r for r in runs if Path(r.path).parent == d]
                if not folder_runs:
                    continue
                res = score_folder(d.name, d, folder_runs, args.jobs)
                results.setdefault(d.name, {})[method] = res
                for path in res.failed:
                    failed = True
                    print(f"benchmark: error: {path}: "
                          f"{next(r.error for r in folder_runs if r.path == path)}", file=sys.stderr)
            if args.save_rttm is not None:
                target = args.save_rttm / method if len(configs) > 1 else args.save_rttm
                target.mkdir(parents=True, exist_ok=True)
                for r in runs:
                    if not r.error:
                        atomic_write_text(target / f"{r.uri}.rttm", r.rttm)
    except DiarizeError as exc:
        print(f"benchmark: error: {exc}", file=sys.stderr)
        return 1

    for folder, rows in results.items():
        print(markdown(folder, rows, args.jobs))
    if args.json_out is not None:
        data = {
            folder: {method: {
                "files": r.per_file,
                "total": {cond: s.as_dict() for cond, s in r.scores.items()},
                "speaker_count_exact": r.exact, "speaker_count_mae": r.mae,
                "rtf": r.rtf, "rtf_kind": "cpu" if args.jobs > 1 else "wall",
                "peak_mb": r.peak_mb, "audio_seconds": r.audio_seconds,
            } for method, r in rows.items()}
            for folder, rows in results.items()
        }
        atomic_write_text(args.json_out, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
