"""Frame helpers shared by the stages: run-length encoding, label renumbering and the
conversion between seconds and 10 ms frames.

Frames are an implementation detail of the stages; the public API speaks seconds. Every
stage converts with :func:`frame_count` and :func:`frame_time`, so a duration in the
configuration means the same number of frames everywhere.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage


def frame_count(seconds: float, step: float, *, minimum: int = 0) -> int:
    """Frames in `seconds` (rounded to the nearest frame), at least `minimum`.

    Parameters
    ----------
    seconds : float
    step : float
        Seconds per frame.
    minimum : int, keyword-only
    """
    return max(minimum, int(round(seconds / step)))


def frame_time(index: int | float, step: float) -> float:
    """Time in seconds of frame boundary `index`, rounded to the millisecond (turn times
    are exact 3-decimal numbers, so that writers and readers agree)."""
    return round(index * step, 3)


def runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run-length encoding of a 1-D array.

    Parameters
    ----------
    values : ndarray, shape (n,)

    Returns
    -------
    starts, ends : ndarray of int, shape (n_runs,)
        Ends exclusive.
    run_values : ndarray, shape (n_runs,)
    """
    values = np.asarray(values)
    if len(values) == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e, values[:0]
    change = np.flatnonzero(values[1:] != values[:-1]) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(values)]])
    return starts, ends, values[starts]


def true_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and (exclusive) ends of the runs of True in a 1-D bool array."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    change = np.flatnonzero(np.diff(padded))
    return change[0::2], change[1::2]


def fill_short_runs(mask: np.ndarray, *, value: bool, max_len: int) -> np.ndarray:
    """Flip runs equal to `value` shorter than `max_len` frames (interior runs only for gaps).

    Parameters
    ----------
    mask : ndarray of bool, shape (n,)
    value : bool, keyword-only
        Which runs to flip: True (short speech) or False (short gaps; a leading or
        trailing run of False is not a gap and is kept).
    max_len : int, keyword-only

    Returns
    -------
    ndarray of bool, shape (n,)
    """
    mask = mask.copy()
    if max_len <= 0:
        return mask
    s, e, v = runs(mask)
    for a, b, val in zip(s, e, v):
        if val == value and b - a < max_len:
            if not value and (a == 0 or b == len(mask)):
                continue  # leading/trailing silence is not a gap
            mask[a:b] = not value
    return mask


def relabel(labels: np.ndarray) -> np.ndarray:
    """Renumber non-negative integer labels 0..k-1 in order of first appearance.

    Parameters
    ----------
    labels : ndarray of int, shape (n,)

    Returns
    -------
    ndarray of int64, shape (n,)
    """
    if len(labels) == 0:
        return np.zeros(0, dtype=np.int64)
    _, first = np.unique(labels, return_index=True)
    order = labels[np.sort(first)]
    lut = np.empty(int(labels.max()) + 1, dtype=np.int64)
    lut[order] = np.arange(len(order))
    return lut[labels]


def nearest_label(labels: np.ndarray, where: np.ndarray) -> np.ndarray:
    """`labels` with every unlabelled (-1) frame of `where` given its nearest labelled
    frame's label.

    Parameters
    ----------
    labels : ndarray of int, shape (n_frames,)
        Speaker index per frame, -1 where unlabelled.
    where : ndarray of bool, shape (n_frames,)

    Returns
    -------
    ndarray of int, shape (n_frames,)
    """
    hole = labels < 0
    if not hole.any() or hole.all():
        return labels
    idx = scipy.ndimage.distance_transform_edt(hole, return_distances=False, return_indices=True)[0]
    out = labels.copy()
    fill = hole & where
    out[fill] = labels[idx[fill]]
    return out
