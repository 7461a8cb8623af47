"""Diarization error rate (DER) as NIST md-eval v22 computes it, and dscore's Jaccard error rate (JER).

The scoring is done per file (one recording and channel): :func:`evaluate_file` returns a
:class:`DiarizationScore` holding the error *times*, and scores add up (``a + b``), so a
set's DER is its total error time over its total scored time, never a mean of per-file
rates. :func:`evaluate` matches reference, hypothesis and UEM files and does the sums.

DER, as md-eval computes it
---------------------------
* The timeline is cut wherever a reference or hypothesis turn starts or ends. On each
  piece, with ``nref`` reference and ``nsys`` hypothesis speakers talking,
  missed = max(nref - nsys, 0), false alarm = max(nsys - nref, 0) and
  confusion = min(nref, nsys) - (mapped pairs both talking), all weighted by the
  piece's duration. The denominator is reference *speaker* time: two reference
  speakers talking for 1 s make 2 s.
* A speaker counts once however many of their turns overlap (turns are a set).
* Speakers are mapped one to one (Hungarian algorithm) to maximise their total overlap,
  computed over the scored region *before* collars and overlap are removed.
* ``collar`` is in seconds on **each side** of every reference boundary (md-eval's
  ``-c``), zero-length reference turns included; pyannote.metrics' ``collar`` is the
  total width, i.e. twice this. ``skip_overlap`` drops the pieces where two or more
  reference speakers talk (md-eval's ``-1``).
* Without a UEM, a file's scored region runs from its first reference onset to its
  last reference offset (md-eval's ``uem_from_rttm``): hypothesis speech outside it is
  not counted.

Where this module departs from md-eval, on purpose
--------------------------------------------------
* md-eval cuts UEM file ids at the first dot, so a UEM line for ``rec.1`` is silently
  not applied; here ids are compared whole.
* md-eval divides by zero (and dies) on a file whose scored speaker time is zero. Here
  such a file gets DER 0 % if it has no error time and 100 % if it has (false alarms),
  the convention of dscore; its seconds still go into the total, which stays exact.
* md-eval's ``-1`` counts a speaker whose own turns overlap as overlapped speech; here
  overlap means two *different* reference speakers.
* Only ``SPEAKER`` records are read, as dscore does. md-eval also excludes from speaker
  scoring the regions of a reference's ``NOSCORE`` and ``NON-LEX`` records (the latter
  widened by up to 0.5 s), and lets ``LEXEME``, ``SEGMENT`` and its other transcript
  records widen the default scored region. A reference holding such records is scored
  with a warning (:func:`diarize.rttm.read_rttm` with ``reference=True``); give a UEM of
  the regions to score.

JER, as dscore computes it
--------------------------
JER is frame based (10 ms frames: frame ``i`` at ``i * 0.01`` s is active for a turn
``[on, off)`` when ``on <= i * 0.01 < off``) and uses the same scored region as DER but
never collars nor overlap removal (dscore applies those to DER only). Reference and
hypothesis speakers are paired one to one to minimise the summed per-pair Jaccard
error ``1 - |r & h| / |r | h|``; an unpaired reference speaker counts 100 %. A file's JER
is the mean over its reference speakers; a set's JER is the mean over *all* reference
speakers of all files (dscore's ``global_jer``), not a JER of concatenated files. A file
with no reference speaker has JER 100 % if the hypothesis has speech there, else 0 %, and
adds nothing to the set's mean.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from scipy import sparse  # type: ignore[import-untyped]

from ._scipy_ext import load_extension
from .errors import ScoringError, ScoringWarning
from .rttm import MAX_TIME, FileKey
from .segments import Turn

__all__ = [
    "DiarizationScore", "Evaluation", "ScoringWarning",
    "evaluate", "evaluate_file", "optimal_mapping", "speaker_mapping", "JER_FRAME_STEP",
]

JER_FRAME_STEP = 0.010
"""Frame step (seconds) of dscore's JER."""
PERCENT = 100.0
ZERO_SCORED_ERROR_RATE = 100.0
"""Rate reported for an error over zero scored time (dscore's convention)."""
TOTAL_NAME = "TOTAL"

Regions = Sequence[tuple[float, float]]


def _rate(seconds: float, scored: float) -> float:
    """`seconds` as a percentage of `scored`, defined when nothing was scored."""
    if scored > 0:
        return PERCENT * seconds / scored
    return ZERO_SCORED_ERROR_RATE if seconds > 0 else 0.0


@dataclass(frozen=True)
class DiarizationScore:
    """Error times of one file, or of a set of files (the sum of its files).

    Attributes
    ----------
    uri, channel : str
        The file (``"TOTAL"`` for a sum).
    scored : float
        Reference speaker time scored, in seconds (overlap counts once per speaker).
    missed, false_alarm, confusion : float
        Error times in seconds.
    ref_speakers, hyp_speakers : int
        Speakers with speech in the scored region (before collars), summed over files.
    speaker_jer : tuple of float
        Jaccard error (0 to 1) of each reference speaker.
    hyp_has_speech : bool
        Whether any hypothesis speaker talks in the scored region (for JER's edge cases).
    mapping : tuple of (str, str)
        The speaker mapping DER was scored with: (reference, hypothesis) speaker pairs,
        by reference speaker (empty for a sum).
    """

    uri: str = TOTAL_NAME
    channel: str = ""
    scored: float = 0.0
    missed: float = 0.0
    false_alarm: float = 0.0
    confusion: float = 0.0
    ref_speakers: int = 0
    hyp_speakers: int = 0
    speaker_jer: tuple[float, ...] = field(default=(), repr=False)
    hyp_has_speech: bool = False
    mapping: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)

    @property
    def error(self) -> float:
        """Total error time (seconds)."""
        return self.missed + self.false_alarm + self.confusion

    @property
    def der(self) -> float:
        """Diarization error rate, percent of scored speaker time."""
        return _rate(self.error, self.scored)

    @property
    def missed_rate(self) -> float:
        return _rate(self.missed, self.scored)

    @property
    def false_alarm_rate(self) -> float:
        return _rate(self.false_alarm, self.scored)

    @property
    def confusion_rate(self) -> float:
        return _rate(self.confusion, self.scored)

    @property
    def jer(self) -> float:
        """Jaccard error rate, percent: mean over reference speakers (dscore)."""
        if self.speaker_jer:
            return PERCENT * float(np.mean(self.speaker_jer))
        return ZERO_SCORED_ERROR_RATE if self.hyp_has_speech else 0.0

    def __add__(self, other: "DiarizationScore") -> "DiarizationScore":
        if not isinstance(other, DiarizationScore):
            return NotImplemented
        return DiarizationScore(
            uri=TOTAL_NAME, channel="",
            scored=self.scored + other.scored,
            missed=self.missed + other.missed,
            false_alarm=self.false_alarm + other.false_alarm,
            confusion=self.confusion + other.confusion,
            ref_speakers=self.ref_speakers + other.ref_speakers,
            hyp_speakers=self.hyp_speakers + other.hyp_speakers,
            speaker_jer=self.speaker_jer + other.speaker_jer,
            hyp_has_speech=self.hyp_has_speech or other.hyp_has_speech,
        )

    def as_dict(self) -> dict[str, float | int]:
        """The reported numbers: rates in percent, `scored` in seconds, speaker counts."""
        return {
            "der": self.der, "jer": self.jer,
            "missed": self.missed_rate, "false_alarm": self.false_alarm_rate,
            "confusion": self.confusion_rate, "scored": self.scored,
            "ref_speakers": self.ref_speakers, "hyp_speakers": self.hyp_speakers,
        }


# ------------------------------------------------------------------ timeline helpers

def _covered(points: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Whether each of `points` lies inside at least one interval ``(start, end)``.

    The intervals may overlap: the number of intervals containing a point is the number
    that started before it minus the number that ended before it. Points are piece
    midpoints, never on an interval edge, so open or closed makes no difference.
    """
    if len(starts) == 0:
        return np.zeros(len(points), dtype=bool)
    n_started = np.searchsorted(np.sort(starts), points, side="right")
    n_ended = np.searchsorted(np.sort(ends), points, side="right")
    return n_started > n_ended


def _label_runs(bounds: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pieces each label is active on, as disjoint runs ``[first, stop)`` of pieces.

    Every start and end must be one of `bounds`; piece ``i`` is ``[bounds[i], bounds[i + 1])``.
    Turns of one label that overlap or touch are merged (a speaker whose own turns
    overlap counts once), and zero-length turns are dropped.

    Returns
    -------
    label, first, stop : ndarray of int64, shape (n_runs,)
        Sorted by label, then by first piece; the runs of one label are disjoint.
    """
    first = np.searchsorted(bounds, starts).astype(np.int64)
    stop = np.searchsorted(bounds, ends).astype(np.int64)
    keep = stop > first
    first, stop, labels = first[keep], stop[keep], np.asarray(labels, dtype=np.int64)[keep]
    if len(first) == 0:
        return labels, first, stop
    order = np.lexsort((first, labels))
    first, stop, labels = first[order], stop[order], labels[order]
    # Running maximum of `stop` within each label: offsetting each label by more than any
    # piece index makes one cumulative maximum over all labels do it.
    span = np.int64(len(bounds) + 1)
    reach = np.maximum.accumulate(labels * span + stop) - labels * span
    new = np.ones(len(first), dtype=bool)
    new[1:] = (labels[1:] != labels[:-1]) | (first[1:] > reach[:-1])
    heads = np.flatnonzero(new)
    tails = np.append(heads[1:], len(first)) - 1
    return labels[heads], first[heads], reach[tails]


def _activity(runs: tuple[np.ndarray, np.ndarray, np.ndarray], n_pieces: int,
              n_labels: int) -> sparse.csr_matrix:
    """Which labels are active on each piece, as a sparse 0/1 matrix.

    Only the active (piece, label) pairs are stored: their number is the pieces times
    the labels talking at once, not pieces times labels, so that a hypothesis with tens
    of thousands of labels costs no more than its turns.

    Returns
    -------
    scipy.sparse.csr_matrix of int64, shape (n_pieces, n_labels)
    """
    labels, first, stop = runs
    lengths = stop - first
    total = int(lengths.sum())
    offsets = np.repeat(first - (np.cumsum(lengths) - lengths), lengths)
    pieces = np.arange(total, dtype=np.int64) + offsets
    return sparse.csr_matrix((np.ones(total, dtype=np.int64), (pieces, np.repeat(labels, lengths))),
                             shape=(n_pieces, n_labels))


def _active_count(runs: tuple[np.ndarray, np.ndarray, np.ndarray], n_pieces: int) -> np.ndarray:
    """Number of labels active on each piece, shape (n_pieces,), int64."""
    _, first, stop = runs
    delta = np.bincount(first, minlength=n_pieces + 1) - np.bincount(stop, minlength=n_pieces + 1)
    return np.cumsum(delta)[:n_pieces].astype(np.int64)


def _weighted_overlap(R: sparse.csr_matrix, H: sparse.csr_matrix,
                      weights: np.ndarray) -> sparse.coo_matrix:
    """``R.T @ diag(weights) @ H``: per (reference, hypothesis) label pair, the summed
    weight of the pieces where both talk; only co-occurring pairs are stored."""
    scaled = R.copy()
    scaled.data = scaled.data * np.repeat(weights, np.diff(R.indptr))  # row i times weights[i]
    product = scaled.T.tocsr() @ H
    product = sparse.coo_matrix(product)
    product.eliminate_zeros()
    return product


@lru_cache(maxsize=1)
def _lsap() -> Any:
    """scipy's compiled assignment solver, loaded once; None if it cannot be alone."""
    return load_extension("scipy.optimize._lsap", needs=("linear_sum_assignment",))


def _linear_sum_assignment(cost: np.ndarray, *, maximize: bool) -> tuple[np.ndarray, np.ndarray]:
    """:func:`scipy.optimize.linear_sum_assignment`: the same compiled solver, loaded
    without ``import scipy.optimize`` (a third of a second, more than scoring a file
    takes), or through it where the solver cannot be loaded alone."""
    lsap = _lsap()
    if lsap is None:
        from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped]

        return linear_sum_assignment(cost, maximize=maximize)
    return lsap.linear_sum_assignment(cost, maximize=maximize)


MAX_DENSE_MAPPING = 1 << 22
"""Entries (reference x hypothesis labels) up to which the mapping is solved on a dense
matrix (32 MB); above it, first only the labels that co-occur are kept, then a sparse
bipartite matching is used."""


def optimal_mapping(weights: sparse.spmatrix | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one pairing of rows and columns that maximises the summed weight.

    This is the speaker mapping of DER (weights: overlapping time of a reference and a
    hypothesis speaker) and of JER (weights: Jaccard index). Only pairs of positive
    weight are returned (md-eval maps only speakers that co-occur).

    Parameters
    ----------
    weights : sparse matrix or ndarray, shape (n_rows, n_cols)
        Non-negative; absent entries are zero.

    Returns
    -------
    rows, cols : ndarray of int64, shape (n_pairs,)
        Row ``rows[k]`` is paired with column ``cols[k]``; sorted by row.

    Notes
    -----
    Solved with the Hungarian algorithm (:func:`scipy.optimize.linear_sum_assignment`)
    on the whole matrix when it has at most :data:`MAX_DENSE_MAPPING` entries, else on
    the rows and columns that have a positive entry, and when even that is too large
    with :func:`scipy.sparse.csgraph.min_weight_full_bipartite_matching` on the
    positive entries alone, so that memory grows with the co-occurring pairs.
    """
    empty = np.zeros(0, dtype=np.int64)
    n_rows, n_cols = weights.shape
    if n_rows == 0 or n_cols == 0:
        return empty, empty
    if not sparse.issparse(weights) and n_rows * n_cols <= MAX_DENSE_MAPPING:
        dense = np.asarray(weights, dtype=np.float64)
        used_rows, used_cols = np.arange(n_rows), np.arange(n_cols)
    else:
        coo = sparse.coo_matrix(weights)
        coo.sum_duplicates()
        positive = coo.data > 0
        r, c, v = coo.row[positive], coo.col[positive], coo.data[positive].astype(np.float64)
        if len(v) == 0:
            return empty, empty
        if n_rows * n_cols <= MAX_DENSE_MAPPING:
            used_rows, used_cols = np.arange(n_rows), np.arange(n_cols)
        else:
            used_rows, r = np.unique(r, return_inverse=True)
            used_cols, c = np.unique(c, return_inverse=True)
            if len(used_rows) * len(used_cols) > MAX_DENSE_MAPPING:
                rows, cols = _sparse_matching(r, c, v, len(used_rows), len(used_cols))
                return used_rows[rows], used_cols[cols]
        dense = np.zeros((len(used_rows), len(used_cols)))
        dense[r, c] = v
    rows, cols = _linear_sum_assignment(dense, maximize=True)
    paired = dense[rows, cols] > 0
    return used_rows[rows[paired]].astype(np.int64), used_cols[cols[paired]].astype(np.int64)


def _sparse_matching(r: np.ndarray, c: np.ndarray, v: np.ndarray, n_rows: int,
                     n_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-weight matching on the positive entries ``(r, c, v)`` of a sparse matrix.

    ``min_weight_full_bipartite_matching`` matches every row, so each row also gets a
    private "unpaired" column of cost ``top``; a real pair costs ``top - v``, less than
    that. Minimising the total cost then maximises the summed weight of the real pairs.
    """
    # only batches of tens of thousands of speakers come here: imported when they do
    from scipy.sparse.csgraph import (  # type: ignore[import-untyped]
        min_weight_full_bipartite_matching)

    top = 2.0 * float(v.max()) + 1.0
    rows = np.concatenate([r, np.arange(n_rows)])
    cols = np.concatenate([c, n_cols + np.arange(n_rows)])
    costs = np.concatenate([top - v, np.full(n_rows, top)])
    graph = sparse.csr_matrix((costs, (rows, cols)), shape=(n_rows, n_cols + n_rows))
    row_ind, col_ind = min_weight_full_bipartite_matching(graph)
    real = col_ind < n_cols
    return row_ind[real].astype(np.int64), col_ind[real].astype(np.int64)


def _turn_arrays(turns: Iterable[Turn]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Starts, ends, label indices and label names of `turns`."""
    turns = list(turns)
    names = sorted({t.speaker for t in turns})
    index = {name: i for i, name in enumerate(names)}
    starts = np.array([t.start for t in turns], dtype=np.float64)
    ends = np.array([t.end for t in turns], dtype=np.float64)
    _check_times(starts, ends, "turn")
    labels = np.array([index[t.speaker] for t in turns], dtype=np.int64)
    return starts, ends, labels, names


def _check_times(starts: np.ndarray, ends: np.ndarray, what: str) -> None:
    """Refuse times no recording has: not finite or more than :data:`MAX_TIME` from 0.

    Sums of such times overflow to infinity and differences of infinities are NaN: the
    scores would be NaN or a DER of 0 % (the RTTM and UEM readers refuse them first).
    """
    for t in (starts, ends):
        bad = ~(np.abs(t) <= MAX_TIME)  # NaN fails the comparison
        if bad.any():
            i = int(np.argmax(bad))
            raise ScoringError(f"{what} {float(starts[i])!r} to {float(ends[i])!r} cannot be "
                               f"scored: times must lie within {MAX_TIME:g} s of 0")


def _frame_index(times: np.ndarray, n_frames: int, step: float) -> np.ndarray:
    """Index of the first frame whose time ``step * i`` is at or after each of `times`.

    This is ``np.searchsorted(step * np.arange(n_frames), times)``, what dscore computes,
    without building the array of frame times (36 million entries for 100 hours).
    ``ceil(t / step)`` can be one off after rounding, hence the two corrections, which
    compare with the very products dscore compares with.
    """
    k = np.clip(np.ceil(times / step), 0, n_frames).astype(np.int64)
    k -= (k > 0) & (step * (k - 1) >= times)
    k += (k < n_frames) & (step * k < times)
    return k


def _jaccard_errors(ref: tuple, hyp: tuple, region_starts: np.ndarray,
                    region_ends: np.ndarray, ref_keep: np.ndarray,
                    hyp_keep: np.ndarray, step: float) -> np.ndarray:
    """Jaccard error (0 to 1) of each kept reference speaker, as dscore computes it.

    `ref_keep` / `hyp_keep` select the speakers with speech in the scored region (dscore
    drops the turns outside its UEM, and with them the speakers who only talk there).
    """
    n_ref, n_hyp = int(ref_keep.sum()), int(hyp_keep.sum())
    if n_ref == 0:
        return np.zeros(0)
    if n_hyp == 0:
        return np.ones(n_ref)
    # dscore's frame count: frames up to the end of the last scored region
    n_frames = int(region_ends.max() / step)

    def frames(t):
        return _frame_index(np.asarray(t, dtype=np.float64), n_frames, step)

    r_on, r_off, h_on, h_off = frames(ref[0]), frames(ref[1]), frames(hyp[0]), frames(hyp[1])
    u_on, u_off = frames(region_starts), frames(region_ends)
    bounds = np.unique(np.concatenate([r_on, r_off, h_on, h_off, u_on, u_off]))
    if len(bounds) < 2:
        return np.ones(n_ref)
    mids = (bounds[:-1] + bounds[1:]) / 2.0
    n_in = np.diff(bounds) * _covered(mids, u_on, u_off)        # scored frames per piece
    n_pieces = len(bounds) - 1
    # only the kept speakers, renumbered 0.. in their order
    r_in, h_in = ref_keep[ref[2]], hyp_keep[hyp[2]]
    ref_runs = _label_runs(bounds, r_on[r_in], r_off[r_in], (np.cumsum(ref_keep) - 1)[ref[2][r_in]])
    hyp_runs = _label_runs(bounds, h_on[h_in], h_off[h_in], (np.cumsum(hyp_keep) - 1)[hyp[2][h_in]])
    R = _activity(ref_runs, n_pieces, n_ref)
    H = _activity(hyp_runs, n_pieces, n_hyp)
    ref_frames = R.T @ n_in                                      # integers: exact in any order
    hyp_frames = H.T @ n_in
    inter = _weighted_overlap(R, H, n_in)
    # Jaccard index of the pairs that share a frame; every other pair has index 0 (and a
    # pair with no scored frame at all has no index: it counts as wrong, error 1).
    union = ref_frames[inter.row] + hyp_frames[inter.col] - inter.data
    jaccard = sparse.coo_matrix((inter.data / union, (inter.row, inter.col)),
                                shape=(n_ref, n_hyp))
    rows, cols = optimal_mapping(jaccard)
    errors = np.ones(n_ref)
    lookup = dict(zip(zip(inter.row.tolist(), inter.col.tolist()), range(len(union))))
    for r, c in zip(rows.tolist(), cols.tolist()):
        k = lookup[(r, c)]
        errors[r] = 1.0 - inter.data[k] / union[k]
    return errors


def speaker_mapping(hypothesis: Iterable[Turn], reference: Iterable[Turn]) -> dict[str, str]:
    """Optimal one-to-one mapping of hypothesis speakers to reference speakers.

    The mapping maximises the total time the paired speakers talk together
    (:func:`optimal_mapping`, the mapping of DER), over the whole extent of the turns.
    Hypothesis speakers that overlap no reference speaker, or are left over, are not in
    the mapping.

    Parameters
    ----------
    hypothesis, reference : iterable of Turn

    Returns
    -------
    dict of str to str
        Hypothesis speaker -> reference speaker.
    """
    ref, hyp = _turn_arrays(reference), _turn_arrays(hypothesis)
    if not ref[3] or not hyp[3]:
        return {}
    bounds = np.unique(np.concatenate([ref[0], ref[1], hyp[0], hyp[1]]))
    n_pieces = max(len(bounds) - 1, 0)
    R = _activity(_label_runs(bounds, ref[0], ref[1], ref[2]), n_pieces, len(ref[3]))
    H = _activity(_label_runs(bounds, hyp[0], hyp[1], hyp[2]), n_pieces, len(hyp[3]))
    rows, cols = optimal_mapping(_weighted_overlap(R, H, np.diff(bounds)))
    return {hyp[3][c]: ref[3][r] for c, r in sorted(zip(cols.tolist(), rows.tolist()))}


# ----------------------------------------------------------------------- per file

def _merge_regions(regions: Regions) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends of `regions`, empty ones dropped.

    Raises
    ------
    ScoringError
        A region that is not a (start, end) pair of numbers, or ends before it starts
        (as :func:`diarize.rttm.read_uem` refuses it in a file).
    """
    try:
        arr = np.asarray(list(regions), dtype=np.float64)
        if arr.size and (arr.ndim != 2 or arr.shape[1] != 2):
            raise ValueError
    except (TypeError, ValueError):
        raise ScoringError("scored regions must be (start, end) pairs of seconds") from None
    arr = arr.reshape(-1, 2)
    _check_times(arr[:, 0], arr[:, 1], "scored region")
    backwards = arr[:, 1] < arr[:, 0]
    if backwards.any():
        start, end = arr[int(np.argmax(backwards))]
        raise ScoringError(f"scored region ({start:g}, {end:g}) ends before it starts")
    arr = arr[arr[:, 1] > arr[:, 0]]
    return arr[:, 0], arr[:, 1]


def _check_collar(collar: Any) -> None:
    """A collar is a finite number of seconds, at least 0."""
    if isinstance(collar, bool) or not isinstance(collar, (int, float, np.integer,
                                                           np.floating)):
        raise ScoringError(f"collar must be a number of seconds, got {collar!r}")
    if not 0 <= collar < math.inf:
        raise ScoringError(f"collar must be non-negative and finite, got {collar}")


def evaluate_file(reference: Iterable[Turn], hypothesis: Iterable[Turn], *,
                  regions: Regions | None = None, collar: float = 0.0,
                  skip_overlap: bool = False, uri: str = "", channel: str = "1",
                  jer_step: float = JER_FRAME_STEP) -> DiarizationScore:
    """Score one file's hypothesis turns against its reference turns.

    Parameters
    ----------
    reference, hypothesis : iterable of Turn
        Any order; turns of one speaker may overlap; zero-length turns allowed.
    regions : sequence of (start, end), keyword-only
        Scored region (the file's UEM). Default: from the first reference onset to the
        last reference offset (md-eval's rule); nothing if there is no reference turn.
    collar : float, keyword-only
        Seconds not scored on **each side** of every reference turn boundary (md-eval's
        ``-c``; pyannote.metrics' collar is the total width, twice this).
    skip_overlap : bool, keyword-only
        Do not score where two or more reference speakers talk (md-eval's ``-1``).
    uri, channel : str, keyword-only
        Stored in the result.
    jer_step : float, keyword-only
        JER frame step in seconds.

    Returns
    -------
    DiarizationScore
    """
    _check_collar(collar)
    ref = _turn_arrays(reference)
    hyp = _turn_arrays(hypothesis)
    if regions is None:
        # md-eval's uem_from_rttm: zero-length reference turns extend the region too
        regions = [(ref[0].min(), ref[1].max())] if len(ref[0]) else []
    reg_s, reg_e = _merge_regions(regions)
    n_ref, n_hyp = len(ref[3]), len(hyp[3])

    # collars: every reference boundary (md-eval takes the raw turns, zero-length ones too)
    if collar > 0 and len(ref[0]):
        edges = np.concatenate([ref[0], ref[1]])
        col_s, col_e = edges - collar, edges + collar
    else:
        col_s = col_e = np.zeros(0)

    bounds = np.unique(np.concatenate([ref[0], ref[1], hyp[0], hyp[1], reg_s, reg_e, col_s, col_e]))
    if len(bounds) < 2 or len(reg_s) == 0:
        return DiarizationScore(uri=uri, channel=channel)
    mids = (bounds[:-1] + bounds[1:]) / 2.0
    dur = np.diff(bounds)
    n_pieces = len(bounds) - 1
    ref_runs = _label_runs(bounds, ref[0], ref[1], ref[2])
    hyp_runs = _label_runs(bounds, hyp[0], hyp[1], hyp[2])
    R = _activity(ref_runs, n_pieces, n_ref)
    H = _activity(hyp_runs, n_pieces, n_hyp)

    # evaluated region (UEM): speaker counts and the mapping are computed here
    w_eval = dur * _covered(mids, reg_s, reg_e)
    ref_keep = (R.T @ w_eval) > 0
    hyp_keep = (H.T @ w_eval) > 0
    rows, cols = optimal_mapping(_weighted_overlap(R, H, w_eval))

    # scored region: the evaluated region minus collars, minus overlap if asked
    nref = _active_count(ref_runs, n_pieces)
    nsys = _active_count(hyp_runs, n_pieces)
    scored = w_eval > 0
    if len(col_s):
        scored &= ~_covered(mids, col_s, col_e)
    if skip_overlap:
        scored &= nref < 2
    w = dur * scored
    # pieces where a mapped pair talks together: column k of both is the k-th mapped pair
    nmap = np.asarray(R[:, rows].multiply(H[:, cols]).sum(axis=1), dtype=np.int64).ravel()

    speaker_jer = _jaccard_errors(ref, hyp, reg_s, reg_e, ref_keep, hyp_keep, jer_step)
    return DiarizationScore(
        uri=uri, channel=channel,
        scored=float(w @ nref),
        missed=float(w @ np.maximum(nref - nsys, 0)),
        false_alarm=float(w @ np.maximum(nsys - nref, 0)),
        confusion=float(w @ (np.minimum(nref, nsys) - nmap)),
        ref_speakers=int(ref_keep.sum()),
        hyp_speakers=int(hyp_keep.sum()),
        speaker_jer=tuple(float(e) for e in speaker_jer),
        hyp_has_speech=bool(hyp_keep.any()),
        mapping=tuple(sorted((ref[3][r], hyp[3][c])
                             for r, c in zip(rows.tolist(), cols.tolist()))),
    )


# ------------------------------------------------------------------------ a set

@dataclass
class Evaluation:
    """Scores of a set of files.

    Attributes
    ----------
    files : dict of FileKey to DiarizationScore
        One entry per reference file (and channel), sorted.
    total : DiarizationScore
        Sum of `files`.
    hypothesis_only : list of FileKey
        Hypothesis files with no reference, not scored.
    uem_unused : list of FileKey
        UEM entries that matched no reference file.
    not_scored : list of FileKey
        Reference files with no hypothesis left out (``evaluate(only_scored=True)``).
    """

    files: dict[FileKey, DiarizationScore]
    total: DiarizationScore
    hypothesis_only: list[FileKey] = field(default_factory=list)
    uem_unused: list[FileKey] = field(default_factory=list)
    not_scored: list[FileKey] = field(default_factory=list)

    def labels(self) -> dict[FileKey, str]:
        """A display name per file, one name per file: the uri, or ``uri:channel`` if the
        uri has several channels (``uri [channel c]`` if that is some other file's uri,
        then a number)."""
        out = {key: key.uri for key in self.files}
        forms = (lambda k: f"{k.uri}:{k.channel}", lambda k: f"{k.uri} [channel {k.channel}]")
        for form in forms:
            count = Counter(out.values())
            for key in [k for k in out if count[out[k]] > 1]:
                out[key] = form(key)
        count = Counter(out.values())
        taken = set(out.values())
        for key in [k for k in out if count[out[k]] > 1]:
            n = 2
            while f"{out[key]} #{n}" in taken:
                n += 1
            out[key] = f"{out[key]} #{n}"
            taken.add(out[key])
        return out

    def as_dict(self) -> dict:
        """``{"files": {label: {...}}, "total": {...}}`` (see :meth:`DiarizationScore.as_dict`)."""
        labels = self.labels()
        return {"files": {labels[k]: s.as_dict() for k, s in self.files.items()},
                "total": self.total.as_dict()}


def _as_key(key) -> FileKey:
    if isinstance(key, FileKey):
        return key
    if isinstance(key, tuple):
        return FileKey(str(key[0]), str(key[1]).lower())
    return FileKey(str(key))


def _uem_alias(key: FileKey) -> FileKey:
    """A UEM id written as a path or file name (``dir/rec.wav``) names the file ``rec``."""
    stem = os.path.splitext(key.uri.replace("\\", "/").rsplit("/", 1)[-1])[0]
    return FileKey(stem, key.channel)


def match_uem(files: Iterable, uem: Mapping) -> tuple[dict[FileKey, Regions], list[FileKey]]:
    """The scored regions of each of `files` (FileKeys or uris) that `uem` gives, as
    :func:`evaluate` matches them: a UEM id equal to the file's, else one written as a
    path or file name (``dir/rec.wav`` for ``rec``); and the UEM keys matching none.

    Returns
    -------
    regions : dict of FileKey to list of (start, end)
    unused : list of FileKey
    """
    keys = {_as_key(k) for k in files}
    table = {_as_key(k): list(v) for k, v in uem.items()}
    regions: dict[FileKey, Regions] = {k: v for k, v in table.items() if k in keys}
    unused: list[FileKey] = []
    for key, value in table.items():
        if key in keys:
            continue
        alias = _uem_alias(key)
        if alias in keys and alias not in regions:
            regions[alias] = value
        else:
            unused.append(key)
    return regions, unused


def evaluate(reference: Mapping, hypothesis: Mapping, *,
             uem: Mapping | None = None, collar: float = 0.0,
             skip_overlap: bool = False, only_scored: bool = False) -> Evaluation:
    """Score a set of files, as md-eval does.

    Parameters
    ----------
    reference, hypothesis : mapping of FileKey (or uri) to iterable of Turn
        What :func:`diarize.rttm.read_rttm` returns; a plain uri key means channel ``1``.
    uem : mapping of FileKey (or uri) to sequence of (start, end), keyword-only
        Scored regions (:func:`diarize.rttm.read_uem`). A reference file with no entry is
        scored over its reference extent, as md-eval does (with a warning).
    collar : float, keyword-only
        Seconds on each side of every reference boundary left unscored.
    skip_overlap : bool, keyword-only
        Leave out regions where two or more reference speakers talk.
    only_scored : bool, keyword-only
        Leave out reference files the hypothesis does not have (listed in
        :attr:`Evaluation.not_scored`) instead of counting all their speech as missed:
        the score of the files that were run.

    Returns
    -------
    Evaluation

    Warns
    -----
    ScoringWarning
        For a hypothesis file with no reference (ignored), a reference file missing from
        the hypothesis (all its speech is missed), UEM entries matching no reference
        file, and reference files not in a given UEM.

    Notes
    -----
    Files are matched by file id *and* channel. Only reference files are scored (as in
    md-eval); a UEM entry for a file the reference does not have is not scored either.
    """
    _check_collar(collar)
    ref = {_as_key(k): list(v) for k, v in reference.items()}
    hyp = {_as_key(k): list(v) for k, v in hypothesis.items()}
    regions, unused = match_uem(ref, uem) if uem is not None else ({}, [])
    for key in unused:
        warnings.warn(f"{key.uri} (channel {key.channel}): in the UEM but not in the reference; "
                      "not scored", ScoringWarning, stacklevel=2)

    files: dict[FileKey, DiarizationScore] = {}
    not_scored = sorted(k for k in ref if k not in hyp) if only_scored else []
    for key in sorted(ref):
        if only_scored and key not in hyp:
            continue
        if key not in hyp:
            warnings.warn(f"{key.uri} (channel {key.channel}): no hypothesis; all its speech "
                          "counts as missed", ScoringWarning, stacklevel=2)
        if uem is not None and key not in regions:
            warnings.warn(f"{key.uri} (channel {key.channel}): not in the UEM; scoring from its "
                          "first to its last reference turn", ScoringWarning, stacklevel=2)
        files[key] = evaluate_file(ref[key], hyp.get(key, ()), regions=regions.get(key),
                                   collar=collar, skip_overlap=skip_overlap,
                                   uri=key.uri, channel=key.channel)
    hyp_only = sorted(k for k in hyp if k not in ref)
    for key in hyp_only:
        warnings.warn(f"{key.uri} (channel {key.channel}): in the hypothesis but not in the "
                      "reference; ignored", ScoringWarning, stacklevel=2)
    total = sum(files.values(), DiarizationScore())
    return Evaluation(files=files, total=total, hypothesis_only=hyp_only, uem_unused=unused,
                      not_scored=not_scored)
