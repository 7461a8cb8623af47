"""k-means initialisation of the mixture estimators (blockwise, memory O(N) + block)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def _min_sqdist(X: NDArray[np.floating], centres: NDArray[np.float64],
                shift: NDArray[np.float64], block: int,
                sq_out: NDArray[np.float64] | None = None,
                arg_out: NDArray[np.intp] | None = None) -> NDArray[np.float64]:
    """Blockwise min squared distance of each row to ``centres`` (and the argmin)."""
    n = X.shape[0]
    c = centres - shift
    c_sq = np.einsum("ij,ij->i", c, c)
    best = np.empty(n) if sq_out is None else sq_out
    for start in range(0, n, block):
        xb = X[start : start + block] - shift
        d = xb @ (-2.0 * c.T)
        d += c_sq
        d += np.einsum("ij,ij->i", xb, xb)[:, None]
        if arg_out is not None:
            arg = np.argmin(d, axis=1)
            arg_out[start : start + block] = arg
            best[start : start + block] = d[np.arange(d.shape[0]), arg]
        else:
            best[start : start + block] = d.min(axis=1)
    np.maximum(best, 0.0, out=best)
    return best


def _kmeans_plusplus(X: NDArray[np.floating], n_clusters: int, rng: np.random.RandomState,
                     sample_weight: NDArray[np.float64] | None, shift: NDArray[np.float64],
                     block: int) -> NDArray[np.intp]:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007); returns row indices.

    Each new centre is the best, in potential reduction, of ``2 + log(k)`` candidates
    drawn with probability proportional to weight * D(x)^2.  All candidates are
    scored in one blockwise pass.
    """
    n = X.shape[0]
    w = np.ones(n) if sample_weight is None else sample_weight
    n_trials = 2 + int(np.log(n_clusters))
    first = rng.choice(n, p=w / w.sum())
    indices = [int(first)]
    closest = _min_sqdist(X, X[[first]].astype(np.float64), shift, block)
    for _ in range(1, n_clusters):
        cum = np.cumsum(closest * w)
        if cum[-1] <= 0.0:
            # Every point coincides with a centre: pick any unused row.
            free = np.setdiff1d(np.arange(n), indices)
            indices.append(int(free[0]) if free.size else indices[-1])
            continue
        cand = np.searchsorted(cum, rng.uniform(size=n_trials) * cum[-1])
        np.clip(cand, 0, n - 1, out=cand)
        c = X[cand].astype(np.float64) - shift
        c_sq = np.einsum("ij,ij->i", c, c)
        pots = np.zeros(n_trials)
        for start in range(0, n, block):
            xb = X[start : start + block] - shift
            d = xb @ (-2.0 * c.T)
            d += c_sq
            d += np.einsum("ij,ij->i", xb, xb)[:, None]
            np.maximum(d, 0.0, out=d)
            np.minimum(d, closest[start : start + block, None], out=d)
            pots += w[start : start + block] @ d
        best = int(cand[int(np.argmin(pots))])
        indices.append(best)
        d_best = _min_sqdist(X, X[[best]].astype(np.float64), shift, block)
        np.minimum(closest, d_best, out=closest)
    return np.asarray(indices)


def _kmeans_labels(X: NDArray[np.floating], n_clusters: int, rng: np.random.RandomState,
                   sample_weight: NDArray[np.float64] | None, block: int,
                   max_iter: int = 30, tol: float = 1e-4) -> NDArray[np.intp]:
    """Lloyd's k-means with k-means++ seeding; returns (n_samples,) labels.

    Only an initialisation for EM, so it stops after ``max_iter`` = 30 Lloyd steps
    even if the centres still move slightly; EM refines them anyway.

    One blockwise pass per iteration (assign, and accumulate the new centres);
    memory is O(N) for labels and distances plus one block.  Empty clusters are
    re-seeded on the points farthest from their centre.
    """
    n, n_features = X.shape
    w = np.ones(n) if sample_weight is None else sample_weight
    shift = np.average(X, axis=0, weights=w).astype(np.float64)
    var = 0.0
    for start in range(0, n, block):
        xb = X[start : start + block] - shift
        var += float(w[start : start + block] @ np.einsum("ij,ij->i", xb, xb))
    tol_abs = tol * var / (w.sum() * n_features)
    seeds = _kmeans_plusplus(X, n_clusters, rng, sample_weight, shift, block)
    centres = X[seeds].astype(np.float64)
    labels = np.empty(n, dtype=np.intp)
    dist = np.empty(n)
    for _ in range(max_iter):
        c = centres - shift
        c_sq = np.einsum("ij,ij->i", c, c)
        sums = np.zeros((n_clusters, n_features))
        for start in range(0, n, block):
            xb = X[start : start + block] - shift
            d = xb @ (-2.0 * c.T)
            d += c_sq
            lab = np.argmin(d, axis=1)
            rows = np.arange(lab.shape[0])
            labels[start : start + block] = lab
            dist[start : start + block] = d[rows, lab] + np.einsum("ij,ij->i", xb, xb)
            onehot = np.zeros((lab.shape[0], n_clusters))
            onehot[rows, lab] = w[start : start + block]
            sums += onehot.T @ xb
        counts = np.bincount(labels, weights=w, minlength=n_clusters)
        new = centres.copy()
        filled = counts > 0
        new[filled] = sums[filled] / counts[filled, None] + shift
        empty = np.flatnonzero(~filled)
        if empty.size:
            far = np.argpartition(dist, n - empty.size)[n - empty.size :]
            new[empty] = X[far]
        moved = float(np.sum((new - centres) ** 2))
        centres = new
        if moved <= tol_abs and not empty.size:
            break
    _min_sqdist(X, centres, shift, block, sq_out=dist, arg_out=labels)
    return labels


class _OneHot:
    """Lazily sliced one-hot responsibilities from labels (no N x K array)."""

    def __init__(self, labels: NDArray[np.intp], n_components: int) -> None:
        self.labels = labels
        self.n_components = n_components

    def __getitem__(self, sl: slice) -> NDArray[np.float64]:
        lab = self.labels[sl]
        out = np.zeros((lab.shape[0], self.n_components))
        out[np.arange(lab.shape[0]), lab] = 1.0
        return out

