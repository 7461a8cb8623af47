"""Frame helpers shared by the stages: run-length encoding, label renumbering and the
conversion between seconds and frames (``features.hop_length`` apart, 10 ms by default).

Frames are an implementation detail of the stages; the public API speaks seconds. Every
stage converts with :func:`frame_count` and :func:`frame_time`, so a duration in the
configuration means the same number of frames everywhere.
"""

from __future__ import annotations

import numpy as np

from .names import TIME_DECIMALS


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
    return round(index * step, TIME_DECIMALS)


def even_subsample_index(n: int, cap: int) -> np.ndarray:
    """Indices of `cap` evenly spaced items of `n` (``n > cap``), from the first to the
    last: ``np.linspace(0, n - 1, cap)`` truncated to int64. A sample of frames that spans
    the whole of their time at a bounded cost; callers with at most `cap` items keep them
    all.

    Parameters
    ----------
    n : int
        Items to choose from.
    cap : int
        Items chosen.

    Returns
    -------
    ndarray of int64, shape (cap,)
        In increasing order.
    """
    return np.linspace(0, n - 1, cap).astype(np.int64)


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
    n = len(labels)
    index = np.arange(n)
    # The nearest labelled frame on each side (-1 / n where there is none); a frame as
    # far from both takes the earlier one.
    before = np.maximum.accumulate(np.where(hole, -1, index))
    after = np.minimum.accumulate(np.where(hole, n, index)[::-1])[::-1]
    use_after = (before < 0) | ((after < n) & (after - index < index - before))
    idx = np.where(use_after, after, before)
    out = labels.copy()
    fill = hole & where
    out[fill] = labels[idx[fill]]
    return out


def moving_average(x: np.ndarray, *, size: int) -> np.ndarray:
    """Mean over a centred window of `size` frames, the edge frames repeated beyond the
    ends: ``scipy.ndimage.uniform_filter1d(x, size, mode="nearest")``, bit for bit (the
    same running sum in float64, in the same order).

    Parameters
    ----------
    x : ndarray of float, shape (n,)
    size : int, keyword-only
        Window length (``size // 2`` frames before a frame, the rest after it).

    Returns
    -------
    ndarray, shape (n,), the dtype of `x`
    """
    x = np.asarray(x)
    n = len(x)
    if n == 0:
        return x.copy()
    before = size // 2
    after = size - before - 1
    line = np.concatenate([np.full(before + 1, x[0], dtype=np.float64),
                           x.astype(np.float64),
                           np.full(after, x[-1], dtype=np.float64)])
    # line[k + 1 + before] is x[k]; frame 0's window is line[1 : size + 1]. The window
    # sum is run along undivided, each step adding the frame entering and subtracting
    # the one leaving, and divided per frame (np.cumsum adds in order, as scipy does).
    steps = line[size:size + n].copy()
    steps[0] = np.cumsum(line[1:size + 1])[-1]
    steps[1:] -= line[1:n]
    out = np.cumsum(steps) / size
    return out.astype(x.dtype, copy=False)


def moving_max(x: np.ndarray, *, size: int) -> np.ndarray:
    """Maximum over a centred window of `size` frames, the edge frames repeated beyond the
    ends (the window of :func:`moving_average`):
    ``scipy.ndimage.maximum_filter1d(x, size, mode="nearest")``.

    Parameters
    ----------
    x : ndarray, shape (n,)
    size : int, keyword-only

    Returns
    -------
    ndarray, shape (n,), the dtype of `x`
    """
    x = np.asarray(x)
    if len(x) == 0:
        return x.copy()
    before = size // 2
    padded = np.pad(x, (before, size - 1 - before), mode="edge")
    return np.lib.stride_tricks.sliding_window_view(padded, size).max(axis=1)


def _window_count(mask: np.ndarray, *, before: int, after: int) -> np.ndarray:
    """True frames in ``mask[i - before : i + after + 1]`` (clipped to the array)."""
    n = len(mask)
    total = np.concatenate([[0], np.cumsum(mask, dtype=np.int64)])
    index = np.arange(n)
    hi = np.minimum(index + after + 1, n)
    lo = np.maximum(index - before, 0)
    return total[hi] - total[lo]


def dilate(mask: np.ndarray, *, reach: int) -> np.ndarray:
    """Frames within `reach` frames of a True frame (``scipy.ndimage.binary_dilation``
    with ``iterations=reach``, or a structure of ``2 * reach + 1`` ones).

    Parameters
    ----------
    mask : ndarray of bool, shape (n,)
    reach : int, keyword-only

    Returns
    -------
    ndarray of bool, shape (n,)
    """
    mask = np.asarray(mask, dtype=bool)
    return _window_count(mask, before=reach, after=reach) > 0


def erode(mask: np.ndarray, *, reach: int) -> np.ndarray:
    """Frames whose every frame within `reach` is True, beyond the ends counting as True
    (``scipy.ndimage.binary_erosion`` with ``2 * reach + 1`` ones, ``border_value=1``).

    Parameters
    ----------
    mask : ndarray of bool, shape (n,)
    reach : int, keyword-only

    Returns
    -------
    ndarray of bool, shape (n,)
    """
    return ~dilate(~np.asarray(mask, dtype=bool), reach=reach)


def majority_filter(mask: np.ndarray, *, size: int) -> np.ndarray:
    """Median of a boolean mask over a centred window of `size` frames, the edge frames
    repeated beyond the ends (``scipy.ndimage.median_filter(mask, size,
    mode="nearest")``: for an even `size` the upper median, so half the window is enough).

    Parameters
    ----------
    mask : ndarray of bool, shape (n,)
    size : int, keyword-only

    Returns
    -------
    ndarray of bool, shape (n,)
    """
    mask = np.asarray(mask, dtype=bool)
    n = len(mask)
    if n == 0 or size <= 1:
        return mask.copy()
    before = size // 2
    after = size - before - 1
    line = np.concatenate([np.full(before, mask[0]), mask, np.full(after, mask[-1])])
    total = np.concatenate([[0], np.cumsum(line, dtype=np.int64)])
    ones = total[size:size + n] - total[:n]
    return ones >= size - size // 2
