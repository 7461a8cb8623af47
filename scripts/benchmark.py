#!/usr/bin/env python
"""Diarize every recording of some folders, score it, and print Markdown tables per folder.

Usage::

    python scripts/benchmark.py [DIR ...] [--preset NAME] [--config FILE]
        [--set KEY=VALUE ...] [--jobs N]
        [--variant NAME:KEY=VALUE[;KEY=VALUE...] ...]
        [--oracle-count] [--json OUT] [--save-rttm DIR]

Every ``*.wav`` / ``*.flac`` in a folder with a reference ``<stem>.rttm`` beside it is
diarized (a recording without one is skipped with a note) and scored in two conditions,
both with NIST md-eval semantics (see docs/eval.md):

* **full**: collar 0, overlapped speech scored;
* **fair**: collar 0.25 s on each side of every reference boundary, overlap skipped.

``<stem>.uem`` is used as the scored region when present. The default folders are
``../shared/eval/real`` and ``../shared/eval/sim`` relative to the repository root.

Variants: ``--config``, ``--preset`` and ``--set`` make one configuration. Each
``--variant NAME:KEY=VALUE[;KEY=VALUE...]`` (repeatable) is that configuration with more
overrides (values parsed like ``--set``, applied after it; ``NAME:`` alone is the
configuration as it is), and the whole benchmark runs once per variant, e.g.::

    --variant "bic-only:cluster.link_method=none" --variant "ubm-link:cluster.link_method=ubm"

Every table has one row per variant.

Four tables per folder:

1. **Totals**: DER and its parts in both conditions, JER (full condition), speaker-count
   accuracy (hypothesis vs reference speakers with speech in the scored region: exact
   match %, mean absolute error), the real-time factor (processing seconds per audio
   second: wall-clock with ``--jobs 1``, CPU seconds with more jobs, since parallel
   wall-clock time says little per file) and the peak resident memory of the process, or
   of the largest worker with ``--jobs`` > 1 (``getrusage`` maxrss; it only grows, so a
   later folder's or variant's figure includes the earlier ones').
2. **Per reference speaker count** (buckets 1, 2, 3-4, 5+; only buckets with files are
   shown, and a file with no reference speech in its scored region falls in bucket 0):
   files, fair and full DER (total error over total scored time of the bucket's files),
   speaker count exact % and MAE.
3. **Speaker count per file**: reference speakers, then per variant the hypothesis
   speakers (a wrong count in **bold**) and the fair DER.
4. **Where the full-condition error is**: the full DER split, frame by frame on a 10 ms
   grid over the same scored region (speakers mapped one to one as md-eval does), into
   missed speech where two or more reference speakers talk, missed speech elsewhere,
   false alarm and confusion, in points of DER (% of scored speaker time), with the
   share of speaker time in overlap; their sum is shown beside the full DER (the 10 ms
   grid moves it by a few hundredths).

``--oracle-count`` gives every recording its reference speaker count (the speakers its
RTTM names) as ``num_speakers``: the DER with the count known.

``--json OUT`` writes, per folder and variant, the per-file scores, breakdowns and counts,
the totals, the buckets and the variant's overrides. ``--save-rttm DIR`` writes every
hypothesis (into ``DIR/<variant>/`` when there are several variants).

A recording the pipeline fails on is scored with an empty hypothesis (all its speech
missed), listed on stderr, and makes the script exit with status 1.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
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

import numpy as np  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402

from diarize.errors import DiarizeError  # noqa: E402
from diarize.names import uri_for  # noqa: E402
from diarize.rttm import FileKey, read_rttm, read_uem  # noqa: E402
from diarize.writers import atomic_write_text, format_rttm  # noqa: E402
from diarize.metrics import DiarizationScore, ScoringWarning, evaluate  # noqa: E402

from diarize.audio import AUDIO_SUFFIXES  # noqa: E402  (the one list: batch, tune, scripts)
DEFAULT_DIRS = (REPO / ".." / "shared" / "eval" / "real", REPO / ".." / "shared" / "eval" / "sim")
CONDITIONS = {
    # name: (collar in seconds per side, skip overlap)
    "full": (0.0, False),
    "fair": (0.25, True),
}
# ru_maxrss is in kilobytes on Linux, bytes on macOS
MAXRSS_TO_MB = 1.0 / (1024 * 1024) if sys.platform == "darwin" else 1.0 / 1024
SECONDS_PER_MINUTE = 60.0
BREAKDOWN_STEP = 0.01                      # seconds per frame of the full-DER breakdown


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
_ORACLE_COUNT = False


def _init_worker(cfg, oracle_count: bool = False) -> None:
    """Build one Diarizer per process (workers of a Pool, or this process)."""
    global _DIARIZER, _ORACLE_COUNT
    from diarize.pipeline import Diarizer

    _DIARIZER = Diarizer(cfg)
    _ORACLE_COUNT = oracle_count


def reference_count(path: str) -> int:
    """Speakers in the reference RTTM beside the audio `path` (every label it names)."""
    ref = read_rttm(Path(path).with_suffix(".rttm"))
    return len({t.speaker for turns in ref.values() for t in turns})


def _diarize(task: tuple[str, str]) -> Run:
    folder, path = task

    run = Run(folder=folder, path=path, uri=uri_for(path))
    wall0, cpu0 = time.perf_counter(), time.process_time()
    try:
        diarizer = _DIARIZER
        if _ORACLE_COUNT:  # --oracle-count: the reference's count is given as num_speakers
            from diarize.pipeline import Diarizer

            n_ref = reference_count(path)
            if n_ref:
                diarizer = Diarizer(_DIARIZER.config.with_speakers(num_speakers=n_ref))
        result = diarizer(path)
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


def run_all(tasks: list[tuple[str, str]], cfg, jobs: int, *,
            oracle_count: bool = False) -> list[Run]:
    """Diarize every task; progress on stderr."""
    runs: list[Run] = []

    def report(run: Run) -> None:
        runs.append(run)
        status = (f"FAILED ({run.error})" if run.error else
                  f"{len({t.speaker for t in run.turns})} speakers, {run.wall:.1f} s")
        print(f"[{len(runs)}/{len(tasks)}] {run.folder}/{Path(run.path).name} "
              f"({run.duration:.1f} s): {status}", file=sys.stderr, flush=True)

    if jobs <= 1:
        _init_worker(cfg, oracle_count)
        for task in tasks:
            report(_diarize(task))
    else:
        with multiprocessing.get_context("spawn").Pool(jobs, _init_worker, (cfg, oracle_count)) as pool:
            for run in pool.imap_unordered(_diarize, tasks):
                report(run)
    order = {task: i for i, task in enumerate(tasks)}
    return sorted(runs, key=lambda r: order[(r.folder, r.path)])


# --------------------------------------------------------------------- scoring

@dataclass
class FileScore:
    """One recording's scores (condition -> score, summed over its reference keys)."""

    name: str
    scores: dict[str, DiarizationScore]
    error: str | None = None

    @property
    def ref_speakers(self) -> int:
        """Reference speakers with speech in the scored region."""
        return self.scores["full"].ref_speakers

    @property
    def hyp_speakers(self) -> int:
        """Hypothesis speakers with speech in the scored region."""
        return self.scores["full"].hyp_speakers

    @property
    def count_correct(self) -> bool:
        return self.hyp_speakers == self.ref_speakers


@dataclass
class SetScore:
    """A set of recordings (a folder or a speaker-count bucket) scored as one."""

    n_files: int
    scores: dict[str, DiarizationScore]     # condition -> sum over the files
    exact: float                            # % of files with the right speaker count
    mae: float                              # mean absolute speaker-count error


def count_bucket(ref_speakers: int) -> str:
    """The speaker-count bucket of a recording with `ref_speakers` reference speakers."""
    if ref_speakers <= 0:
        return "0"
    if ref_speakers <= 2:
        return str(ref_speakers)
    return "3-4" if ref_speakers <= 4 else "5+"


BUCKETS = ("0", "1", "2", "3-4", "5+")     # table order of count_bucket's values


def aggregate(files: list[FileScore]) -> SetScore:
    """Sum the files' error and scored times per condition (so a DER is total error over
    total scored time, not a mean of per-file DERs) and measure their speaker counts."""
    n = len(files)
    count_errors = [abs(f.hyp_speakers - f.ref_speakers) for f in files]
    return SetScore(
        n_files=n,
        scores={cond: sum((f.scores[cond] for f in files), DiarizationScore()) for cond in CONDITIONS},
        exact=100.0 * sum(e == 0 for e in count_errors) / n if n else 0.0,
        mae=sum(count_errors) / n if n else 0.0,
    )


def bucket_scores(files: list[FileScore]) -> dict[str, SetScore]:
    """`aggregate` per reference speaker-count bucket, in BUCKETS order, non-empty only."""
    groups: dict[str, list[FileScore]] = {}
    for f in files:
        groups.setdefault(count_bucket(f.ref_speakers), []).append(f)
    return {b: aggregate(groups[b]) for b in BUCKETS if b in groups}


@dataclass(frozen=True)
class Breakdown:
    """Where the full-condition error is, in seconds (a set's is the sum of its files').

    Attributes
    ----------
    scored : float
        Reference speaker time (two speakers talking for 1 s make 2 s).
    overlap : float
        Reference speaker time where two or more reference speakers talk.
    missed_overlap, missed_other : float
        Missed speaker time where two or more reference speakers talk / elsewhere.
    false_alarm, confusion : float
    """

    scored: float = 0.0
    overlap: float = 0.0
    missed_overlap: float = 0.0
    missed_other: float = 0.0
    false_alarm: float = 0.0
    confusion: float = 0.0

    def __add__(self, other: "Breakdown") -> "Breakdown":
        return Breakdown(*(getattr(self, f) + getattr(other, f) for f in BREAKDOWN_FIELDS))

    def rate(self, name: str) -> float:
        """Field `name` in % of scored speaker time (points of DER)."""
        return 100.0 * getattr(self, name) / self.scored if self.scored > 0 else 0.0

    @property
    def der(self) -> float:
        """The parts' sum in % of scored speaker time."""
        return sum(self.rate(f) for f in BREAKDOWN_FIELDS[2:])

    def as_dict(self) -> dict[str, float]:
        """Seconds of `scored`; every other field in points of DER."""
        return {"scored": self.scored, **{f: self.rate(f) for f in BREAKDOWN_FIELDS[1:]},
                "der": self.der}


BREAKDOWN_FIELDS = ("scored", "overlap", "missed_overlap", "missed_other", "false_alarm",
                    "confusion")


def _frame_activity(turns: list, n_frames: int, step: float) -> tuple[np.ndarray, list[str]]:
    """(n_frames, n_speakers) bool: frame ``i`` (centre ``(i + 0.5) * step``) inside a turn."""
    names = sorted({t.speaker for t in turns})
    index = {name: k for k, name in enumerate(names)}
    counts = np.zeros((n_frames + 1, len(names)), dtype=np.int32)
    for t in turns:
        a = min(n_frames, max(0, int(np.ceil(t.start / step - 0.5))))
        b = min(n_frames, max(0, int(np.ceil(t.end / step - 0.5))))
        if b > a:
            counts[a, index[t.speaker]] += 1
            counts[b, index[t.speaker]] -= 1
    return np.cumsum(counts, axis=0)[:-1] > 0, names


def breakdown_file(reference: list, hypothesis: list, regions: list | None = None, *,
                   step: float = BREAKDOWN_STEP) -> Breakdown:
    """Split one file's full-condition error (collar 0, overlap scored) frame by frame.

    Parameters
    ----------
    reference, hypothesis : list of Turn
    regions : list of (start, end), optional
        Scored region (UEM); default: first reference onset to last reference offset,
        as md-eval does.
    step : float, keyword-only
        Frame length in seconds.

    Returns
    -------
    Breakdown
        Speakers are mapped one to one to maximise their co-occurring frames (md-eval's
        mapping); confusion is min(nref, nsys) minus the mapped pairs that both talk.
    """
    if regions is None:
        regions = ([(min(t.start for t in reference), max(t.end for t in reference))]
                   if reference else [])
    if not regions:
        return Breakdown()
    end = max([e for _, e in regions] + [t.end for t in reference] + [t.end for t in hypothesis])
    n = int(np.ceil(end / step)) + 1
    centres = (np.arange(n) + 0.5) * step
    scored = np.zeros(n, dtype=bool)
    for a, b in regions:
        scored |= (centres >= a) & (centres < b)
    R, _ = _frame_activity(reference, n, step)
    H, _ = _frame_activity(hypothesis, n, step)
    R, H = R[scored], H[scored]
    nref = R.sum(axis=1)
    nsys = H.sum(axis=1)
    nmap = np.zeros(len(R), dtype=np.int64)
    if R.shape[1] and H.shape[1]:
        co = R.T.astype(np.float64) @ H
        rows, cols = linear_sum_assignment(co, maximize=True)
        keep = co[rows, cols] > 0
        nmap = (R[:, rows[keep]] & H[:, cols[keep]]).sum(axis=1)
    missed = np.maximum(nref - nsys, 0)
    over = nref >= 2
    return Breakdown(
        scored=step * float(nref.sum()),
        overlap=step * float(nref[over].sum()),
        missed_overlap=step * float(missed[over].sum()),
        missed_other=step * float(missed[~over].sum()),
        false_alarm=step * float(np.maximum(nsys - nref, 0).sum()),
        confusion=step * float((np.minimum(nref, nsys) - nmap).sum()),
    )


@dataclass
class FolderResult:
    """One folder diarized with one variant."""

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
    files: list[FileScore] = field(default_factory=list)
    buckets: dict[str, SetScore] = field(default_factory=dict)
    breakdown: Breakdown = field(default_factory=Breakdown)  # full condition, whole folder


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
    scores: dict[str, DiarizationScore] = {}
    file_scores: dict[str, dict[str, DiarizationScore]] = {r.path: {} for r in runs}
    for condition, (collar, skip_overlap) in CONDITIONS.items():
        with warnings.catch_warnings():
            # recordings without a .uem are scored over their reference extent on purpose
            warnings.simplefilter("ignore", ScoringWarning)
            evaluation = evaluate(reference, hypothesis, uem=uem or None, collar=collar,
                                  skip_overlap=skip_overlap)
        scores[condition] = evaluation.total
        for run in runs:
            file_scores[run.path][condition] = sum(
                (evaluation.files[k] for k in file_keys[run.path] if k in evaluation.files),
                DiarizationScore())
    files = [FileScore(Path(r.path).name, file_scores[r.path], r.error) for r in runs]
    file_breakdown = {r.path: sum((breakdown_file(reference[k], hypothesis[k], uem.get(k))
                                   for k in file_keys[r.path]), Breakdown()) for r in runs}
    per_file = {}
    for run, f in zip(runs, files):
        per_file[f.name] = {cond: s.as_dict() for cond, s in f.scores.items()}
        per_file[f.name]["breakdown"] = file_breakdown[run.path].as_dict()
        per_file[f.name].update(
            uri=run.uri, duration=run.duration, wall_seconds=run.wall, cpu_seconds=run.cpu,
            maxrss_mb=run.maxrss_mb, error=run.error, speaker_bucket=count_bucket(f.ref_speakers))
    counts = aggregate(files)
    audio = sum(r.duration for r in runs)
    busy = sum(r.cpu if jobs > 1 else r.wall for r in runs)
    return FolderResult(
        name=name, n_files=len(runs), audio_seconds=audio, scores=scores, per_file=per_file,
        exact=counts.exact, mae=counts.mae,
        rtf=busy / audio if audio > 0 else float("nan"),
        peak_mb=max([r.maxrss_mb for r in runs] +
                    [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * MAXRSS_TO_MB if jobs <= 1 else 0.0]),
        failed=[r.path for r in runs if r.error],
        files=files, buckets=bucket_scores(files),
        breakdown=sum(file_breakdown.values(), Breakdown()),
    )


# ---------------------------------------------------------------------- output

def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    """Markdown table lines; a `|` inside a cell is escaped."""
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
    return [line(head), "|" + "---|" * len(head)] + [line(r) for r in rows]


def totals_table(rows: dict[str, FolderResult], jobs: int) -> list[str]:
    """Table 1: one row per variant, DER and its parts in both conditions, JER, counts,
    speed and memory."""
    rtf_name = "RTF (CPU)" if jobs > 1 else "RTF"
    head = ["variant", "full DER", "miss", "FA", "conf", "fair DER", "miss", "FA", "conf",
            "JER", "spk exact %", "spk MAE", rtf_name, "peak MB"]
    body = []
    for variant, r in rows.items():
        full, fair = r.scores["full"], r.scores["fair"]
        cells = [variant] + [f"{v:.2f}" for v in (
            full.der, full.missed_rate, full.false_alarm_rate, full.confusion_rate,
            fair.der, fair.missed_rate, fair.false_alarm_rate, fair.confusion_rate, full.jer)]
        cells += [f"{r.exact:.1f}", f"{r.mae:.2f}", f"{r.rtf:.3f}", f"{r.peak_mb:.0f}"]
        if r.failed:
            cells[0] += f" ({len(r.failed)} failed)"
        body.append(cells)
    return _table(head, body)


def bucket_table(rows: dict[str, FolderResult]) -> list[str]:
    """Table 2: per reference speaker-count bucket, one row per variant."""
    head = ["ref speakers", "files", "variant", "fair DER", "full DER", "spk exact %", "spk MAE"]
    buckets = [b for b in BUCKETS if any(b in r.buckets for r in rows.values())]
    body = []
    for bucket in buckets:
        for variant, r in rows.items():
            s = r.buckets.get(bucket)
            if s is None:  # cannot happen: the buckets depend on the reference only
                continue
            body.append([bucket, str(s.n_files), variant, f"{s.scores['fair'].der:.2f}",
                         f"{s.scores['full'].der:.2f}", f"{s.exact:.1f}", f"{s.mae:.2f}"])
    return _table(head, body)


def _count_cell(f: FileScore | None) -> str:
    """The hypothesis speaker count, in bold when wrong."""
    if f is None:
        return "-"
    if f.error:
        return "failed"
    return str(f.hyp_speakers) if f.count_correct else f"**{f.hyp_speakers}**"


def count_table(rows: dict[str, FolderResult]) -> list[str]:
    """Table 3: one row per recording: reference speakers, then per variant the hypothesis
    speakers and the fair DER."""
    head = ["file", "ref spk"]
    for variant in rows:
        head += [f"{variant} spk", f"{variant} fair DER"]
    by_name = {variant: {f.name: f for f in r.files} for variant, r in rows.items()}
    first = next(iter(rows.values()))
    body = []
    for f in first.files:
        cells = [f.name, str(f.ref_speakers)]
        for variant in rows:
            g = by_name[variant].get(f.name)
            cells += [_count_cell(g), f"{g.scores['fair'].der:.2f}" if g else "-"]
        body.append(cells)
    return _table(head, body)


def breakdown_table(rows: dict[str, FolderResult]) -> list[str]:
    """Table 4: one row per variant, the full DER split (points of DER) and the overlap
    share of speaker time (%)."""
    head = ["variant", "overlap % of spk time", "missed in overlap", "missed elsewhere",
            "false alarm", "confusion", "sum", "full DER"]
    body = []
    for variant, r in rows.items():
        b = r.breakdown
        body.append([variant] + [f"{v:.2f}" for v in (
            b.rate("overlap"), b.rate("missed_overlap"), b.rate("missed_other"),
            b.rate("false_alarm"), b.rate("confusion"), b.der, r.scores["full"].der)])
    return _table(head, body)


def markdown(folder: str, rows: dict[str, FolderResult], jobs: int) -> str:
    """A folder's three tables; one row per variant (or one row)."""
    first = next(iter(rows.values()))
    lines = [f"### {folder} ({first.n_files} recordings, "
             f"{first.audio_seconds / SECONDS_PER_MINUTE:.1f} min)", ""]
    lines += totals_table(rows, jobs)
    lines += ["", "DER and its parts in % of scored speaker time; full: collar 0, overlap scored; "
              "fair: collar 0.25 s per side, overlap skipped. JER in % (full).", ""]
    lines += [f"#### {folder}: by reference speaker count", ""]
    lines += bucket_table(rows)
    lines += ["", "DER: total error over total scored time of the bucket's files.", ""]
    lines += [f"#### {folder}: speaker count per file", ""]
    lines += count_table(rows)
    lines += ["", "spk: speakers with speech in the scored region; a wrong hypothesis count "
              "is in **bold**. DER in %.", ""]
    lines += [f"#### {folder}: where the full-condition error is", ""]
    lines += breakdown_table(rows)
    lines += ["", "Points of DER (% of scored speaker time), collar 0, overlap scored, counted on "
              "a 10 ms grid; overlap: two or more reference speakers talk. 'sum' is the parts' "
              "total, beside the full DER scored exactly.", ""]
    return "\n".join(lines)


def to_json(rows: dict[str, FolderResult], overrides: dict[str, dict], jobs: int) -> dict:
    """A folder's results for ``--json``: variant -> files, totals, buckets, counts."""
    return {variant: {
        "overrides": overrides.get(variant, {}),
        "files": r.per_file,
        "total": {cond: s.as_dict() for cond, s in r.scores.items()},
        "speaker_count_exact": r.exact, "speaker_count_mae": r.mae,
        "buckets": {bucket: {
            "files": s.n_files,
            "total": {cond: sc.as_dict() for cond, sc in s.scores.items()},
            "speaker_count_exact": s.exact, "speaker_count_mae": s.mae,
        } for bucket, s in r.buckets.items()},
        "speaker_counts": {f.name: {
            "ref_speakers": f.ref_speakers, "hyp_speakers": f.hyp_speakers,
            "fair_der": f.scores["fair"].der, "full_der": f.scores["full"].der,
            "failed": f.error is not None,
        } for f in r.files},
        "breakdown": r.breakdown.as_dict(),
        "rtf": r.rtf, "rtf_kind": "cpu" if jobs > 1 else "wall",
        "peak_mb": r.peak_mb, "audio_seconds": r.audio_seconds,
    } for variant, r in rows.items()}


# ------------------------------------------------------------------------ main

VARIANT_NAME = re.compile(r"[\w.+-]+")      # also a folder name under --save-rttm


class UsageError(ValueError):
    """A malformed option value (reported by argparse, exit status 2)."""


def parse_set(items: list[str], option: str = "--set") -> dict[str, object]:
    """``KEY=VALUE`` pairs; values are TOML literals (``1.2``, ``true``, ``"dp"``), and a
    value that is not valid TOML is taken as a string (so ``--set cluster.link_method=none``
    works without quotes)."""
    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{option} expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value
    return out


def parse_variant(text: str) -> tuple[str, dict[str, object]]:
    """``NAME:KEY=VALUE[;KEY=VALUE...]`` -> (name, overrides); ``NAME:`` has none."""
    name, sep, spec = text.partition(":")
    name = name.strip()
    if not sep or not VARIANT_NAME.fullmatch(name) or name in (".", ".."):
        raise UsageError(f"--variant expects NAME:KEY=VALUE[;KEY=VALUE...] "
                         f"with NAME made of letters, digits, '_', '.', '+', '-'; got {text!r}")
    return name, parse_set([item for item in spec.split(";") if item.strip()], option="--variant")


def variant_overrides(variants: list[str]) -> dict[str, dict[str, object]]:
    """Variant name -> its overrides, from ``--variant``; empty when none is given (one
    run of the configuration as it is)."""
    out: dict[str, dict[str, object]] = {}
    for text in variants:
        name, overrides = parse_variant(text)
        if name in out:
            raise UsageError(f"--variant {name!r} given twice")
        out[name] = overrides
    return out


def find_tasks(dirs: list[Path]) -> list[tuple[str, str]]:
    """(folder name, audio path) of every recording with a reference beside it."""
    tasks: list[tuple[str, str]] = []
    for d in dirs:
        for path in sorted(p for p in d.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES):
            if (d / f"{path.stem}.rttm").exists():
                tasks.append((d.name, str(path)))
            else:
                print(f"benchmark: note: {path}: no reference {path.stem}.rttm, skipped", file=sys.stderr)
    return tasks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="*", type=Path, help="Folders of recordings (default: shared real and sim).")
    parser.add_argument("--config", type=Path, help="TOML configuration file.")
    parser.add_argument("--preset", help="Configuration preset.")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="Override a configuration key (dotted), value as a TOML literal; repeatable.")
    parser.add_argument("--variant", dest="variants", action="append", default=[],
                        metavar="NAME:KEY=VALUE[;KEY=VALUE...]",
                        help="Also run the benchmark with these overrides (after --set), shown as row "
                             "NAME; repeatable. 'NAME:' alone is the configuration as it is.")
    parser.add_argument("--jobs", type=int, default=1, help="Recordings diarized in parallel (default 1).")
    parser.add_argument("--oracle-count", action="store_true",
                        help="Give each recording its reference speaker count (the speakers its "
                             "RTTM names) as num_speakers.")
    parser.add_argument("--json", dest="json_out", type=Path, help="Also write per-file results here.")
    parser.add_argument("--save-rttm", type=Path, help="Write each hypothesis RTTM into this folder.")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")

    from diarize.config import load_config

    try:
        variants = variant_overrides(args.variants)
        cfg = load_config(args.config, preset=args.preset)
        overrides = parse_set(args.overrides)
        if overrides:
            cfg = cfg.replace(**overrides)
        configs = {name: cfg.replace(**o) if o else cfg for name, o in variants.items()} or {"config": cfg}
        for c in configs.values():
            if hasattr(c, "validate"):
                c.validate()
    except (UsageError, DiarizeError) as exc:
        parser.error(str(exc))

    dirs = [d.resolve() for d in (args.dirs or DEFAULT_DIRS)]
    for d in dirs:
        if not d.is_dir():
            parser.error(f"{d}: no such folder")
    tasks = find_tasks(dirs)
    if not tasks:
        parser.error("no recordings with a reference found")
    if args.save_rttm is not None:
        args.save_rttm.mkdir(parents=True, exist_ok=True)

    results: dict[str, dict[str, FolderResult]] = {}    # folder -> variant -> result
    failed = False
    try:
        for variant, variant_cfg in configs.items():
            if len(configs) > 1:
                settings = "; ".join(f"{k}={v!r}" for k, v in variants[variant].items()) or "no overrides"
                print(f"benchmark: variant {variant} ({settings})", file=sys.stderr)
            runs = run_all(tasks, variant_cfg, args.jobs, oracle_count=args.oracle_count)
            for d in dirs:
                folder_runs = [r for r in runs if Path(r.path).parent == d]
                if not folder_runs:
                    continue
                res = score_folder(d.name, d, folder_runs, args.jobs)
                results.setdefault(d.name, {})[variant] = res
                for path in res.failed:
                    failed = True
                    print(f"benchmark: error: {path}: "
                          f"{next(r.error for r in folder_runs if r.path == path)}", file=sys.stderr)
            if args.save_rttm is not None:
                target = args.save_rttm / variant if len(configs) > 1 else args.save_rttm
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
        data = {folder: to_json(rows, variants, args.jobs) for folder, rows in results.items()}
        atomic_write_text(args.json_out, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
