"""Speaker clustering and speaker-count selection.

Speech is cut into short segments; each segment is summarised by the sufficient
statistics of one Gaussian (count, sum, scatter). Segments are merged bottom-up, always
the pair whose merge costs least in BIC:

    dBIC(i, j) = n_ij/2 log|S_ij| - n_i/2 log|S_i| - n_j/2 log|S_j| - lambda * P * log(n_ij)

with ``P`` half the number of parameters of one Gaussian. The number of clusters kept is
where dBIC first becomes positive (or the one the user asked for). Only statistics are
kept, so memory is O(n_segments * d^2) and the pairwise cost matrix is bounded by
``max_segments``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import ClusterConfig


@dataclass
class ClusterResult:
    """Outcome of agglomerative clustering.

    Attributes
    ----------
    labels : ndarray of int, shape (n_segments,)
        Cluster index of each segment, 0..n_clusters-1, numbered by first appearance.
    bic : dict of int to float
        Global BIC of the clustering with k clusters, for each k visited (lower is better).
    """

    labels: np.ndarray
    bic: dict[int, float]
    merges: list = None  # (k before the merge, raw dBIC without penalty, penalty unit)


def segment_speech(mask: np.ndarray, *, seg_frames: int, max_segments: int
                   ) -> np.ndarray:
    """Cut the speech frames of `mask` into segments of about `seg_frames` frames.

    Long recordings get longer segments so that there are at most `max_segments`.

    Returns
    -------
    ndarray of int, shape (n_segments, 2)
        ``[start, end)`` frame ranges, in time order; segments never span non-speech.
    """
    from .sad import runs

    n_speech = int(mask.sum())
    if n_speech == 0:
        return np.zeros((0, 2), dtype=np.int64)
    seg = max(seg_frames, int(np.ceil(n_speech / max_segments)))
    s, e, v = runs(mask)
    out = []
    for a, b in zip(s[v], e[v]):
        n = b - a
        k = max(1, int(round(n / seg)))
        edges = np.linspace(a, b, k + 1).round().astype(np.int64)
        out.extend(zip(edges[:-1], edges[1:]))
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)


def _stats(X: np.ndarray, segments: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = X.shape[1]
    n = np.empty(len(segments))
    s = np.empty((len(segments), d))
    ss = np.empty((len(segments), d, d))
    for i, (a, b) in enumerate(segments):
        x = X[a:b].astype(np.float64)
        n[i] = len(x)
        s[i] = x.sum(0)
        ss[i] = x.T @ x
    return n, s, ss


def _logdet(n: np.ndarray, s: np.ndarray, ss: np.ndarray, *, diag: bool, reg: float) -> np.ndarray:
    """log|covariance| of Gaussians given by stats; shapes (m,), (m,d), (m,d,d) -> (m,)."""
    mu = s / n[:, None]
    if diag:
        var = np.einsum("mii->mi", ss) / n[:, None] - mu ** 2
        return np.log(np.maximum(var, 0) + reg).sum(1)
    cov = ss / n[:, None, None] - mu[:, :, None] * mu[:, None, :]
    cov = cov + reg * np.eye(cov.shape[-1])
    sign, ld = np.linalg.slogdet(cov)
    return np.where(sign > 0, ld, np.inf)


def agglomerative_bic(X: np.ndarray, segments: np.ndarray, *, config: ClusterConfig,
                      frame_step: float = 0.01, min_clusters: int = 1,
                      max_clusters: int = 10, n_clusters: int | None = None) -> ClusterResult:
    """Bottom-up BIC clustering of segments.

    Parameters
    ----------
    X : ndarray, shape (n_frames, n_features)
    segments : ndarray of int, shape (n_segments, 2)
    config : ClusterConfig, keyword-only
    frame_step : float, keyword-only
        Seconds per frame (the penalty weight depends on the speech duration).
    min_clusters, max_clusters : int, keyword-only
        Bounds on the number of clusters returned.
    n_clusters : int, optional, keyword-only
        Exact number of clusters (overrides the BIC stopping rule).

    Returns
    -------
    ClusterResult
    """
    m = len(segments)
    if m == 0:
        return ClusterResult(np.zeros(0, dtype=np.int64), {})
    d = X.shape[1]
    diag = config.covariance == "diag"
    n_par = d + (d if diag else d * (d + 1) / 2)
    reg = 1e-6
    n, s, ss = _stats(X, segments)
    ld = _logdet(n, s, ss, diag=diag, reg=reg)
    members = [[i] for i in range(m)]
    active = np.ones(m, dtype=bool)
    speech_seconds = float(n.sum()) * frame_step
    # Merges are ordered by the plain BIC cost (unit penalty weight); the scaled weight
    # `stop_lam` only decides when to stop, so it cannot reorder merges towards big clusters.
    lam = 1.0
    stop_lam = config.bic_penalty * speech_seconds ** config.penalty_exponent

    def pair_cost(i: int, js: np.ndarray) -> np.ndarray:
        nn = n[i] + n[js]
        ldm = _logdet(nn, s[i] + s[js], ss[i] + ss[js], diag=diag, reg=reg)
        return 0.5 * (nn * ldm - n[i] * ld[i] - n[js] * ld[js]) - lam * 0.5 * n_par * np.log(nn)

    cost = np.full((m, m), np.inf)
    for i in range(m - 1):
        cost[i, i + 1:] = pair_cost(i, np.arange(i + 1, m))
    cost = np.minimum(cost, cost.T)

    total_n = n.sum()

    def global_bic() -> float:
        idx = np.flatnonzero(active)
        return float(0.5 * np.sum(n[idx] * ld[idx]) + stop_lam * 0.5 * n_par * len(idx) * np.log(total_n))

    bic = {}
    k = m
    target_hi = max_clusters if n_clusters is None else n_clusters
    target_lo = min_clusters if n_clusters is None else n_clusters
    history = []  # (k_after, labels snapshot index) kept implicitly via members
    merges = []
    while True:
        if k <= max_clusters + 20 or k <= 50:
            bic[k] = global_bic()
        if k <= target_lo or k == 1:
            break
        flat = np.argmin(cost)
        i, j = divmod(int(flat), m)
        best = cost[i, j]
        nn = n[i] + n[j]
        raw = best + lam * 0.5 * n_par * np.log(nn)
        if k <= target_hi and n_clusters is None and raw > stop_lam * 0.5 * n_par * np.log(nn):
            break
        merges.append((k, float(raw), float(0.5 * n_par * np.log(nn)), float(n[i]), float(n[j])))
        # merge j into i
        n[i] += n[j]; s[i] += s[j]; ss[i] += ss[j]
        ld[i] = _logdet(n[i:i + 1], s[i:i + 1], ss[i:i + 1], diag=diag, reg=reg)[0]
        members[i].extend(members[j]); members[j] = []
        active[j] = False
        cost[j, :] = np.inf; cost[:, j] = np.inf
        others = np.flatnonzero(active)
        others = others[others != i]
        if len(others):
            c = pair_cost(i, others)
            cost[i, others] = c; cost[others, i] = c
        k -= 1
    labels = np.empty(m, dtype=np.int64)
    order = sorted((min(mem), idx) for idx, mem in enumerate(members) if mem)
    for new, (_, idx) in enumerate(order):
        labels[members[idx]] = new
    return ClusterResult(labels, bic, merges)
