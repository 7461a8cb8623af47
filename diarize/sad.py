"""Speech activity detection.

The energy detector fits a 2-component GMM to frame log-energies and calls the louder
component speech; it adapts to the recording's level, so quiet recordings work. The
frame decision is median-filtered, short gaps are filled and short bursts dropped.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage

from .config import SadConfig
from .gmm import GaussianMixture


def energy_speech_prob(log_energy: np.ndarray, *, config: SadConfig | None = None,
                       seed: int = 0) -> np.ndarray:
    """Per-frame speech probability from log energy alone.

    Parameters
    ----------
    log_energy : ndarray, shape (n_frames,)
        Frame energy in dBFS.
    config : SadConfig, keyword-only
    seed : int, keyword-only

    Returns
    -------
    ndarray, shape (n_frames,), float32, values in [0, 1].
    """
    cfg = config or SadConfig()
    e = np.asarray(log_energy, dtype=np.float64)
    prob = np.zeros(len(e), dtype=np.float32)
    live = e > cfg.energy_floor_db
    if live.sum() < 10:
        return prob
    x = e[live][:, None]
    gmm = GaussianMixture(2, max_iter=50, random_state=seed, tol=1e-4).fit(x)
    lo, hi = np.argsort(gmm.means_[:, 0])
    if gmm.means_[hi, 0] - gmm.means_[lo, 0] < cfg.min_dynamic_range_db:
        # No bimodality: one class throughout (all speech above the floor).
        prob[live] = 1.0
        return prob
    prob[live] = gmm.predict_proba(x)[:, hi]
    return prob


def smooth_decision(prob: np.ndarray, *, frame_step: float, config: SadConfig | None = None,
                    threshold: float = 0.5) -> np.ndarray:
    """Turn per-frame probabilities into a clean speech mask.

    Parameters
    ----------
    prob : ndarray, shape (n_frames,)
    frame_step : float, keyword-only
        Seconds per frame.

    Returns
    -------
    ndarray of bool, shape (n_frames,)
    """
    cfg = config or SadConfig()
    mask = prob > threshold
    if cfg.smooth_frames > 1 and len(mask):
        mask = scipy.ndimage.median_filter(mask.astype(np.uint8), size=cfg.smooth_frames,
                                           mode="nearest").astype(bool)
    mask = fill_short_runs(mask, value=False, max_len=int(round(cfg.min_silence / frame_step)))
    mask = fill_short_runs(mask, value=True, max_len=int(round(cfg.min_speech / frame_step)))
    return mask


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run-length encoding of a 1-D array: (starts, ends, values), ends exclusive."""
    mask = np.asarray(mask)
    if len(mask) == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e, mask[:0]
    change = np.flatnonzero(mask[1:] != mask[:-1]) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(mask)]])
    return starts, ends, mask[starts]


def fill_short_runs(mask: np.ndarray, *, value: bool, max_len: int) -> np.ndarray:
    """Flip runs equal to `value` shorter than `max_len` frames (interior runs only for gaps)."""
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
