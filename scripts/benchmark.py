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
import unicodedata
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402

from diarize.errors import ConfigError, DiarizeError  # noqa: E402
from diarize.names import uri_for  # noqa: E402
from diarize.rttm import FileKey, read_rttm, read_uem  # noqa: E402
from diarize.writers import atomic_write_text, format_rttm  # noqa: E402
from diarize.metrics import DiarizationScore, ScoringWarning, evaluate, match_uem  # noqa: E402

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
    # --stages: condition ("detected", "oracle speech", "oracle count") -> its probe
    probes: dict[str, "Probe"] = field(default_factory=dict)
    # --stability: delay in samples -> the turns of the delayed audio, or the error
    delayed: dict[int, list] = field(default_factory=dict)
    delayed_errors: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Extras:
    """What a worker measures besides the plain run (``--stages``, ``--stability``)."""

    stages: bool = False
    delays: tuple[int, ...] = ()
    oracle_count: bool = False


_DIARIZER = None
_EXTRAS = Extras()


def _init_worker(cfg, extras: Extras = Extras()) -> None:
    """Build one Diarizer per process (workers of a Pool, or this process)."""
    global _DIARIZER, _EXTRAS
    from diarize.pipeline import Diarizer

    _DIARIZER = Diarizer(cfg)
    _EXTRAS = extras
    _COUNT_DIARIZERS.clear()


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
        if _EXTRAS.oracle_count:  # --oracle-count: the reference's count is given as num_speakers
            from diarize.pipeline import Diarizer

            n_ref = reference_count(path)
            if n_ref:
                diarizer = Diarizer(_DIARIZER.config.with_speakers(num_speakers=n_ref))
        if _EXTRAS.stages:
            # The same result as diarizer(path) (extract, then diarize the features),
            # with the features kept for the oracle runs and each stage's labels kept.
            features = diarizer.extract(path)
            result = diarizer.diarize_features(features, keep_stages=True)
            run.probes = stage_probes(diarizer, features, result, path)
        else:
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
    for delay in _EXTRAS.delays:  # after the timing: the figures above are one run's
        try:
            run.delayed[delay] = delayed_turns(_DIARIZER, path, delay)
        except (DiarizeError, MemoryError, ValueError, RuntimeError) as exc:
            run.delayed_errors[delay] = f"{type(exc).__name__}: {exc}"
    return run


def _audio_duration(path: str) -> float:
    try:
        import soundfile

        return float(soundfile.info(path).duration)
    except Exception:  # the file may be the reason the pipeline failed
        return 0.0


def run_all(tasks: list[tuple[str, str]], cfg, jobs: int, extras: Extras = Extras()) -> list[Run]:
    """Diarize every task; progress on stderr."""
    runs: list[Run] = []

    def report(run: Run) -> None:
        runs.append(run)
        status = (f"FAILED ({run.error})" if run.error else
                  f"{len({t.speaker for t in run.turns})} speakers, {run.wall:.1f} s")
        print(f"[{len(runs)}/{len(tasks)}] {run.folder}/{Path(run.path).name} "
              f"({run.duration:.1f} s): {status}", file=sys.stderr, flush=True)

    if jobs <= 1:
        _init_worker(cfg, extras)
        for task in tasks:
            report(_diarize(task))
    else:
        with multiprocessing.get_context("spawn").Pool(jobs, _init_worker, (cfg, extras)) as pool:
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
    # the regions evaluate() scores each file over (ids written as file names too)
    regions = match_uem(reference, uem)[0]
    file_breakdown = {r.path: sum((breakdown_file(reference[k], hypothesis[k], regions.get(k))
                                   for k in file_keys[r.path]), Breakdown()) for r in runs}
    per_file = {}
    for run, f in zip(runs, files):
        # error seconds too: a file with no scored time has a rate that says nothing of
        # them (seed_spread.py sums them into its corpora)
        per_file[f.name] = {cond: {**s.as_dict(), "error": s.missed + s.false_alarm + s.confusion}
                            for cond, s in f.scores.items()}
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


# ------------------------------------------------------- stages, oracles, stability

#: The AMI clips of ``../shared/eval/real`` (its README): ``dev00 dev01 trn00..trn09
#: tst00 tst01``, ``trn00`` spelt ``trñ00``. A folder holding both these and other
#: recordings is also reported as its two parts, since only the AMI clips were tuned to.
AMI_CLIP = re.compile(r"(dev|tr[nñ]|tst)\d\d")
#: The stages of :attr:`diarize.segments.Diarization.stages` reported by ``--stages``.
STAGES = ("chunks", "linear", "bic", "link", "reseg")
#: ``--stages`` conditions: the pipeline as it is, with the reference's speech instead of
#: the speech detector's, and with the reference's speaker count (``num_speakers``).
PROBES = ("detected", "oracle speech", "oracle count")


@dataclass(frozen=True)
class StageCounts:
    """A stage's labels against the reference, in frames (a set's is the sum of its
    files'): on the modelled frames where exactly one reference speaker talks inside the
    scored region.

    Attributes
    ----------
    pure : float
        Frames of each cluster's main reference speaker, summed over the clusters.
    covered : float
        Frames of each reference speaker in its main cluster, summed over the speakers.
    frames : float
        Frames counted.
    clusters : int
        Clusters at this stage (over all modelled frames), summed over the files.
    files : int
    """

    pure: float = 0.0
    covered: float = 0.0
    frames: float = 0.0
    clusters: int = 0
    files: int = 0

    def __add__(self, other: "StageCounts") -> "StageCounts":
        return StageCounts(self.pure + other.pure, self.covered + other.covered,
                           self.frames + other.frames, self.clusters + other.clusters,
                           self.files + other.files)

    @property
    def purity(self) -> float:
        """% of the frames that are their cluster's main speaker's."""
        return 100.0 * self.pure / self.frames if self.frames else float("nan")

    @property
    def coverage(self) -> float:
        """% of the frames that are in their speaker's main cluster."""
        return 100.0 * self.covered / self.frames if self.frames else float("nan")

    @property
    def mean_clusters(self) -> float:
        return self.clusters / self.files if self.files else float("nan")

    def cell(self) -> str:
        """``purity/coverage (mean clusters)``."""
        if not self.files:
            return "-"
        return f"{self.purity:.1f}/{self.coverage:.1f} ({self.mean_clusters:.1f})"


@dataclass
class Probe:
    """One recording diarized in one ``--stages`` condition.

    Attributes
    ----------
    turns : list of Turn
    stages : dict of str to StageCounts
        Per stage of :data:`STAGES`.
    reference_frames : int
        Frames with exactly one reference speaker inside the scored region.
    modelled_frames : int
        Those of them that the speaker stages model (the speech they see).
    """

    turns: list
    stages: dict[str, StageCounts]
    reference_frames: int
    modelled_frames: int


def stage_counts(hyp: np.ndarray, ref: np.ndarray) -> StageCounts:
    """`hyp` cluster labels against `ref` speaker labels of the same frames, counted where
    both are >= 0 (:class:`StageCounts`, one file)."""
    hyp = np.asarray(hyp)
    ref = np.asarray(ref)
    clusters = len(np.unique(hyp[hyp >= 0]))
    ok = (hyp >= 0) & (ref >= 0)
    if not ok.any():
        return StageCounts(clusters=clusters, files=1)
    _, h = np.unique(hyp[ok], return_inverse=True)
    _, r = np.unique(ref[ok], return_inverse=True)
    table = np.zeros((h.max() + 1, r.max() + 1))
    np.add.at(table, (h, r), 1)
    return StageCounts(pure=float(table.max(1).sum()), covered=float(table.max(0).sum()),
                       frames=float(ok.sum()), clusters=clusters, files=1)


def reference_labels(turns: list, regions: list | None, n_frames: int, step: float) -> np.ndarray:
    """The reference speaker (an index) of each frame where exactly one talks inside the
    scored `regions` (default: the reference's extent, as md-eval), -1 elsewhere; frame
    ``i`` is the one centred at ``(i + 0.5) * step``, as the pipeline's."""
    if regions is None:
        regions = [(min(t.start for t in turns), max(t.end for t in turns))] if turns else []
    active, _ = _frame_activity(turns, n_frames, step)
    labels = np.where(active.sum(axis=1) == 1, active.argmax(axis=1) if active.shape[1] else 0, -1)
    centres = (np.arange(n_frames) + 0.5) * step
    inside = np.zeros(n_frames, dtype=bool)
    for a, b in regions:
        inside |= (centres >= a) & (centres < b)
    labels[~inside] = -1
    return labels


def read_reference(path: str) -> tuple[list, list | None]:
    """The reference turns of a recording (``<stem>.rttm`` beside it, every file key) and
    its scored region (``<stem>.uem``, or None)."""
    p = Path(path)
    by_key = read_rttm(p.with_name(f"{p.stem}.rttm"))
    turns = [t for ts in by_key.values() for t in ts]
    uem_path = p.with_name(f"{p.stem}.uem")
    if not uem_path.exists():
        return turns, None
    # the UEM lines evaluate() applies to this file (a line for another id is not)
    matched = match_uem(by_key, read_uem(uem_path))[0]
    regions = [r for rs in matched.values() for r in rs]
    return turns, (regions or None)


def reference_speakers(turns: list, regions: list | None) -> int:
    """Reference speakers with speech inside the scored region (what count exact counts)."""
    if regions is None:
        return len({t.speaker for t in turns})
    return len({t.speaker for t in turns if any(t.start < b and t.end > a for a, b in regions)})


def probe(result, ref: np.ndarray, turns: list | None = None) -> Probe:
    """A Diarization made with ``keep_stages=True`` measured against `ref`
    (:func:`reference_labels` on its frames)."""
    stages = result.stages
    modelled = stages["chunks"] >= 0
    return Probe(turns=list(result.turns if turns is None else turns),
                 stages={s: stage_counts(stages[s], ref) for s in STAGES},
                 reference_frames=int((ref >= 0).sum()),
                 modelled_frames=int(((ref >= 0) & modelled).sum()))


def _empty_probe(ref: np.ndarray) -> Probe:
    """A condition in which no speech was modelled."""
    return Probe([], {s: StageCounts(files=1) for s in STAGES}, int((ref >= 0).sum()), 0)


_COUNT_DIARIZERS: dict[int, object] = {}


def stage_probes(diarizer, features, result, path: str) -> dict[str, Probe]:
    """The :data:`PROBES` of one recording: `result` (its features diarized with
    ``keep_stages=True``) and the two oracle runs, every one through the pipeline's own
    code (:meth:`Diarizer.diarize_features`).

    * ``oracle speech``: the frames where the reference has speech (any speaker, the whole
      reference) are the speech, for speaker modelling and for the turns;
    * ``oracle count``: ``num_speakers`` is the number of reference speakers with speech
      in the scored region (the detected speech as it is).
    """
    from diarize.pipeline import Diarizer

    step = diarizer.config.features.hop_length
    n_frames = len(features.mfcc)
    turns, regions = read_reference(path)
    ref = reference_labels(turns, regions, n_frames, step)

    def measured(res) -> Probe:
        return _empty_probe(ref) if res.stages is None else probe(res, ref)

    out = {"detected": measured(result)}
    speech = _frame_activity(turns, n_frames, step)[0].any(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a reference without speech: an empty result
        out["oracle speech"] = measured(diarizer.diarize_features(features, speech=speech,
                                                                  keep_stages=True))
    k = reference_speakers(turns, regions)
    if k < 1:  # nothing to fix the count to
        out["oracle count"] = out["detected"]
        return out
    if k not in _COUNT_DIARIZERS:  # emptied by _init_worker: one configuration at a time
        _COUNT_DIARIZERS[k] = Diarizer(diarizer.config.replace(num_speakers=k))
    counted = _COUNT_DIARIZERS[k]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["oracle count"] = measured(counted.diarize_features(features, keep_stages=True))
    return out


def delayed_turns(diarizer, path: str, delay: int) -> list:
    """The turns of `path` with `delay` zero samples (at the file's own rate) put before
    its audio: the whole pipeline, audio stage included, on a signal that differs only by
    a shift of a fraction of a millisecond. The turns are not shifted back (7 samples at
    16 kHz are 0.44 ms, a twentieth of a frame)."""
    import soundfile

    y, rate = soundfile.read(path, dtype="float32", always_2d=True)
    y = np.concatenate([np.zeros((delay, y.shape[1]), dtype=np.float32), y])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(diarizer((y, rate), uri=uri_for(path)).turns)


def corpus_subsets(folder: str, runs: list[Run]) -> dict[str, list[Run]]:
    """The runs of a folder reported as a set, then its AMI clips and its other
    recordings where it holds both (:data:`AMI_CLIP`)."""
    out = {folder: runs}
    ami = [r for r in runs if AMI_CLIP.fullmatch(unicodedata.normalize("NFC", Path(r.path).stem))]
    if ami and len(ami) < len(runs):
        out[f"{folder} AMI"] = ami
        out[f"{folder} other"] = [r for r in runs if r not in ami]
    return out


@dataclass
class StageRow:
    """One set in one ``--stages`` condition."""

    set_name: str
    condition: str
    result: FolderResult                    # the condition's turns scored
    stages: dict[str, StageCounts]
    reference_frames: int
    modelled_frames: int

    @property
    def modelled(self) -> float:
        """% of the single-speaker reference frames that the speaker stages model."""
        return (100.0 * self.modelled_frames / self.reference_frames
                if self.reference_frames else float("nan"))


def stage_rows(folder: str, path: Path, runs: list[Run], jobs: int) -> tuple[list[StageRow], list[StageRow]]:
    """(per set rows, per file rows) of a folder's ``--stages`` report."""
    def row(name: str, condition: str, rs: list[Run]) -> StageRow:
        probes = [r.probes[condition] for r in rs if condition in r.probes]
        scored = score_folder(name, path, [_with_turns(r, r.probes.get(condition)) for r in rs], jobs)
        return StageRow(name, condition, scored,
                        {s: sum((p.stages[s] for p in probes), StageCounts()) for s in STAGES},
                        sum(p.reference_frames for p in probes),
                        sum(p.modelled_frames for p in probes))

    sets = [row(name, cond, rs) for name, rs in corpus_subsets(folder, runs).items()
            for cond in PROBES]
    files = [row(Path(r.path).name, cond, [r]) for r in runs for cond in PROBES]
    return sets, files


def _with_turns(run: Run, found: Probe | None) -> Run:
    """`run` with a condition's turns (a failed run or condition: none, all missed)."""
    return replace(run, turns=list(found.turns) if found is not None else [],
                   error=run.error or (None if found is not None else "no probe"))


def stage_table(rows: list[StageRow], *, per_file: bool = False) -> list[str]:
    """The ``--stages`` table: one row per set (or file) and condition."""
    head = ["file" if per_file else "set", "condition", "ref spk" if per_file else "files",
            "spk" if per_file else "spk exact %", "fair DER", "conf", "modelled %"] + list(STAGES)
    body = []
    for r in rows:
        fair = r.result.scores["fair"]
        f = r.result.files[0] if per_file and r.result.files else None
        count = (_count_cell(f) if f is not None else f"{r.result.exact:.1f}")
        body.append([r.set_name, r.condition,
                     str(f.ref_speakers) if f is not None else str(r.result.n_files), count,
                     f"{fair.der:.2f}", f"{fair.confusion_rate:.2f}", f"{r.modelled:.1f}"]
                    + [r.stages[s].cell() for s in STAGES])
    return _table(head, body)


def stages_markdown(folder: str, sets: list[StageRow], files: list[StageRow] | None) -> str:
    lines = [f"#### {folder}: stages and oracles", ""]
    lines += stage_table(sets)
    lines += ["", "Each stage's purity/coverage in % (mean clusters per file), on the modelled "
              "frames where exactly one reference speaker talks inside the scored region: "
              "chunks (fixed ~1 s pieces), linear (neighbours merged by BIC), bic "
              "(agglomerative BIC), link (UBM linking: the count), reseg (resegmentation). "
              "Purity: frames of each cluster's main speaker; coverage: frames of each "
              "speaker in its main cluster. modelled %: those reference frames the speaker "
              "stages see. Conditions: detected (the pipeline), oracle speech (the "
              "reference's speech instead of the speech detector's), oracle count "
              "(num_speakers from the reference). fair DER and conf (its confusion part) in %.",
              ""]
    if files:
        lines += [f"#### {folder}: stages and oracles per file", ""]
        lines += stage_table(files, per_file=True)
        lines += [""]
    return "\n".join(lines)


@dataclass
class StabilityRow:
    """One set's fair DER with the audio as it is and delayed by a few samples."""

    set_name: str
    n_files: int
    ders: dict[int, float]                   # delay (0: as it is) -> fair DER of the set
    count_changes: int                       # files whose speaker count moves with a delay
    abs_change: float                        # sum over files |error(delay) - error(0)|, max
                                             # over delays, in points of the set's DER
    failed: int                              # files a delayed run failed on

    @property
    def spread(self) -> float:
        return max(self.ders.values()) - min(self.ders.values())


def stability_rows(folder: str, path: Path, runs: list[Run], delays: tuple[int, ...],
                   jobs: int) -> tuple[list[StabilityRow], list[list[str]]]:
    """(per set rows, per file table rows) of a folder's ``--stability`` report."""
    delayed_results = {d: score_folder(folder, path, [
        replace(r, turns=r.delayed.get(d, []), error=r.error or r.delayed_errors.get(d))
        for r in runs], jobs) for d in delays}
    base = score_folder(folder, path, runs, jobs)
    by_delay = {0: base, **delayed_results}
    sets = []
    for name, rs in corpus_subsets(folder, runs).items():
        names = {Path(r.path).name for r in rs}
        files = {d: [f for f in res.files if f.name in names] for d, res in by_delay.items()}
        ders = {d: aggregate(fs).scores["fair"].der for d, fs in files.items()}
        scored = sum(f.scores["fair"].scored for f in files[0])
        moved = set()
        worst = 0.0
        for d in delays:
            moved |= {a.name for a, b in zip(files[0], files[d]) if a.hyp_speakers != b.hyp_speakers}
            change = sum(abs(a.scores["fair"].error - b.scores["fair"].error)
                         for a, b in zip(files[0], files[d]))
            worst = max(worst, 100.0 * change / scored if scored else 0.0)
        failed = sum(any(d in r.delayed_errors for d in delays) for r in rs)
        sets.append(StabilityRow(name, len(rs), ders, len(moved), worst, failed))
    per_file = []
    for i, f in enumerate(base.files):
        cells = [f.name, str(f.ref_speakers)]
        for d, res in by_delay.items():
            g = res.files[i]
            cells += [_count_cell(g), f"{g.scores['fair'].der:.2f}"]
        per_file.append(cells)
    return sets, per_file


def stability_markdown(folder: str, rows: list[StabilityRow], delays: tuple[int, ...],
                       per_file: list[list[str]] | None) -> str:
    head = (["set", "files"] + [f"fair DER +{d}" if d else "fair DER" for d in (0, *delays)]
            + ["min", "max", "spread", "count changes", "max sum |dDER|", "failed"])
    body = [[r.set_name, str(r.n_files)] + [f"{r.ders[d]:.2f}" for d in (0, *delays)]
            + [f"{min(r.ders.values()):.2f}", f"{max(r.ders.values()):.2f}", f"{r.spread:.2f}",
               str(r.count_changes), f"{r.abs_change:.2f}", str(r.failed)] for r in rows]
    lines = [f"#### {folder}: stability under delays of {', '.join(map(str, delays))} samples", ""]
    lines += _table(head, body)
    lines += ["", "The audio with N zero samples put before it (at the file's rate), the "
              "whole pipeline run again. fair DER +N: the set's fair DER then; spread: max - "
              "min over the delays and the audio as it is; count changes: files whose "
              "speaker count differs from the undelayed run's under some delay; max sum "
              "|dDER|: the largest, over the delays, sum of the files' fair error changes in "
              "points of the set's DER (changes that cancel in the set's DER still count).",
              ""]
    if per_file:
        head = ["file", "ref spk"]
        for d in (0, *delays):
            head += [f"spk +{d}", f"fair DER +{d}"]
        lines += [f"#### {folder}: stability per file", ""] + _table(head, per_file) + [""]
    return "\n".join(lines)


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
    """``KEY=VALUE`` pairs, read as the ``diarize`` command's ``--set`` reads them
    (:func:`diarize.config.parse_settings`: TOML literals, or else strings, so ``--set
    cluster.link_method=none`` works without quotes)."""
    from diarize.config import parse_settings

    try:
        return parse_settings(items, option=option)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


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


def parse_delays(text: str) -> tuple[int, ...]:
    """``--stability`` delays: comma-separated positive numbers of samples."""
    try:
        delays = tuple(sorted(int(x) for x in text.split(",") if x.strip()))
    except ValueError:
        delays = ()
    if not delays or min(delays) < 1 or len(set(delays)) != len(delays):
        raise UsageError(f"--stability expects distinct positive numbers of samples "
                         f"separated by commas, got {text!r}")
    return delays


def extras_json(more: dict[str, tuple], delays: tuple[int, ...]) -> dict:
    """The ``--stages`` and ``--stability`` results of one folder and variant for ``--json``."""
    out: dict[str, object] = {}

    def stage_dict(r: StageRow) -> dict:
        fair = r.result.scores["fair"]
        return {"set": r.set_name, "condition": r.condition, "files": r.result.n_files,
                "fair_der": fair.der, "fair_confusion": fair.confusion_rate,
                "speaker_count_exact": r.result.exact, "modelled": r.modelled,
                "stages": {s: {"purity": c.purity, "coverage": c.coverage,
                               "mean_clusters": c.mean_clusters} for s, c in r.stages.items()}}

    if "stages" in more:
        sets, files = more["stages"]
        out["stages"] = {"sets": [stage_dict(r) for r in sets],
                         "files": [stage_dict(r) for r in files]}
    if "stability" in more:
        sets, _ = more["stability"]
        out["stability"] = {"delays": list(delays), "sets": [{
            "set": r.set_name, "files": r.n_files,
            "fair_der": {str(d): v for d, v in r.ders.items()}, "spread": r.spread,
            "count_changes": r.count_changes, "max_sum_abs_change": r.abs_change,
            "failed": r.failed} for r in sets]}
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
    parser.add_argument("--stages", action="store_true",
                        help="Also report, per set (a folder; real/ also as its AMI clips and "
                             "its other recordings), the purity and coverage of the speaker "
                             "labels after each stage (chunks, linear BIC merge, agglomerative "
                             "BIC, UBM linking, resegmentation) against the reference, and the "
                             "fair DER with oracle speech (the reference's speech regions "
                             "instead of the speech detector's) and with the oracle speaker "
                             "count (num_speakers from the reference). Each recording is "
                             "diarized three times.")
    parser.add_argument("--stability", nargs="?", const="7", default=None, metavar="DELAYS",
                        help="Also diarize every recording with its audio delayed by each of "
                             "these numbers of samples (zeros put before it; comma-separated, "
                             "default 7) and report the spread of each set's fair DER and the "
                             "files whose speaker count changes (give the folders before it).")
    parser.add_argument("--per-file", action="store_true",
                        help="With --stages or --stability: their tables per recording too.")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    try:
        delays = parse_delays(args.stability) if args.stability is not None else ()
    except UsageError as exc:
        parser.error(str(exc))
    extras = Extras(stages=args.stages, delays=delays, oracle_count=args.oracle_count)

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
    # folder -> variant -> "stages" / "stability" -> (per set rows, per file rows)
    extra: dict[str, dict[str, dict[str, tuple]]] = {
        d.name: {v: {} for v in configs} for d in dirs}
    failed = False
    try:
        for variant, variant_cfg in configs.items():
            if len(configs) > 1:
                settings = "; ".join(f"{k}={v!r}" for k, v in variants[variant].items()) or "no overrides"
                print(f"benchmark: variant {variant} ({settings})", file=sys.stderr)
            runs = run_all(tasks, variant_cfg, args.jobs, extras)
            for d in dirs:
                folder_runs = [r for r in runs if Path(r.path).parent == d]
                if not folder_runs:
                    continue
                res = score_folder(d.name, d, folder_runs, args.jobs)
                results.setdefault(d.name, {})[variant] = res
                label = f"{d.name} ({variant})" if len(configs) > 1 else d.name
                if extras.stages:
                    extra[d.name][variant]["stages"] = stage_rows(label, d, folder_runs, args.jobs)
                if extras.delays:
                    extra[d.name][variant]["stability"] = stability_rows(
                        label, d, folder_runs, extras.delays, args.jobs)
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
        for variant, more in extra[folder].items():
            label = f"{folder} ({variant})" if len(configs) > 1 else folder
            if "stages" in more:
                sets, files = more["stages"]
                print(stages_markdown(label, sets, files if args.per_file else None))
            if "stability" in more:
                sets, files = more["stability"]
                print(stability_markdown(label, sets, extras.delays,
                                         files if args.per_file else None))
    if args.json_out is not None:
        data = {folder: to_json(rows, variants, args.jobs) for folder, rows in results.items()}
        for folder, by_variant in extra.items():
            for variant, more in by_variant.items():
                if folder in data and variant in data[folder]:
                    data[folder][variant].update(extras_json(more, extras.delays))
        atomic_write_text(args.json_out, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
