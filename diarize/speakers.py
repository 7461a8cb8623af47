"""Speaker models relative to a universal background model (UBM).

A UBM is a diagonal GMM of voices in general, trained once (``scripts/train_ubm.py``) and
shipped as ``diarize/data/ubm.npz`` (plain arrays, no pickle). A stretch of speech is
described by the UBM's sufficient statistics of its frames; statistics add up, so the
statistics of a cluster are the sums of its segments'. MAP adaptation of the UBM means to
those statistics gives the speaker's model, and the offset of the adapted means from the
UBM's, scaled by the UBM's weights and standard deviations, is the speaker's
*supervector*: the KL-divergence kernel of Campbell et al. (2006), in which the cosine of
two supervectors says how alike two voices are, in the same units for every recording.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .config import FeatureConfig
from .errors import ConfigError, ModelError
from .gmm import GaussianMixture, load_arrays, map_adapted_means

#: The shipped UBM.
UBM_PATH = Path(__file__).resolve().parent / "data" / "ubm.npz"
#: FeatureConfig fields that define the MFCCs a UBM was trained on.
FRONT_END_FIELDS = ("win_length", "n_fft", "n_mels", "n_mfcc", "fmin", "fmax", "pre_emphasis")
#: Frames scored against the UBM at a time (bounds the posteriors' memory).
BLOCK_FRAMES = 16384


@dataclass(frozen=True)
class BackgroundModel:
    """A UBM and the front end its features come from.

    Attributes
    ----------
    gmm : GaussianMixture
        Diagonal covariances, ``n_components`` C, ``n_features`` D.
    front_end : dict
        The :data:`FRONT_END_FIELDS` values plus ``deltas`` and ``delta_width``.
    nuisance : ndarray, shape (R, C * D), or None
        Orthonormal directions of within-speaker variation, projected out of
        supervectors before they are compared.
    """

    gmm: GaussianMixture
    front_end: Mapping[str, Any]
    nuisance: np.ndarray | None = None
    cohort: np.ndarray | None = None

    def feature_config(self, features: FeatureConfig) -> FeatureConfig | None:
        """The MFCC front end the UBM needs if `features` differs from it, else None.

        The frame step is kept from `features`, so frames line up with the pipeline's.
        """
        if all(getattr(features, k) == self.front_end[k] for k in FRONT_END_FIELDS):
            return None
        return FeatureConfig(hop_length=features.hop_length,
                             **{k: self.front_end[k] for k in FRONT_END_FIELDS})


def save_ubm(path: str | Path, gmm: GaussianMixture, *, front_end: Mapping[str, Any],
             nuisance: np.ndarray | None = None, cohort: np.ndarray | None = None) -> None:
    """Write a UBM, its front end and its nuisance directions to an ``.npz`` file (no pickle)."""
    if gmm.covariance_type != "diag":
        raise ConfigError("a UBM must have covariance_type='diag'")
    arrays = {f"ubm/{k}": np.asarray(v) for k, v in gmm.to_dict().items()}
    if nuisance is not None:
        arrays["nuisance"] = np.asarray(nuisance, dtype=np.float32)
    if cohort is not None:
        arrays["cohort"] = np.asarray(cohort, dtype=np.float32)
    arrays.update({f"front_end/{k}": np.asarray(v) for k, v in front_end.items()})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)


@lru_cache(maxsize=4)
def load_ubm(path: str | None = None) -> BackgroundModel:
    """The UBM stored in `path` (default: the shipped one).

    Raises
    ------
    ConfigError
        The file cannot be read or is not a UBM.
    """
    p = Path(path) if path else UBM_PATH
    try:
        data = load_arrays(p, what="UBM",
                           names=("ubm/", "front_end/", "nuisance", "cohort"))
    except ModelError as exc:  # the UBM path is part of the configuration
        raise ConfigError(str(exc)) from None
    sub = {k[4:]: v for k, v in data.items() if k.startswith("ubm/")}
    front = {k[10:]: v.item() for k, v in data.items() if k.startswith("front_end/")}
    missing = [k for k in FRONT_END_FIELDS + ("deltas", "delta_width") if k not in front]
    if not sub or missing:
        raise ConfigError(f"{p}: not a UBM file (missing {'ubm arrays' if not sub else missing})")
    try:
        gmm = GaussianMixture.from_dict(sub)
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigError(f"{p}: not a UBM file (bad or missing array {exc})") from None
    if gmm.covariance_type != "diag":
        raise ConfigError(f"{p}: the UBM must have diagonal covariances")
    nuisance = data.get("nuisance")
    if nuisance is not None and (nuisance.ndim != 2 or nuisance.shape[1] != gmm.means_.size):
        raise ConfigError(f"{p}: nuisance directions of shape {nuisance.shape} do not fit the UBM")
    cohort = data.get("cohort")
    if cohort is not None and cohort.shape[1:] != gmm.means_.shape:
        raise ConfigError(f"{p}: cohort models of shape {cohort.shape} do not fit the UBM")
    return BackgroundModel(gmm, front, None if nuisance is None else nuisance.astype(np.float64),
                           None if cohort is None else cohort.astype(np.float64))


def segment_statistics(ubm: GaussianMixture, X: np.ndarray, segments: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Zeroth and first-order UBM statistics of every segment.

    Parameters
    ----------
    ubm : GaussianMixture
        C components, D features.
    X : ndarray, shape (n_frames, D)
    segments : ndarray of int, shape (n_segments, 2)
        ``[start, end)`` row ranges of `X`, in order, not overlapping.

    Returns
    -------
    n : ndarray, shape (n_segments, C), float64
        Soft counts.
    first : ndarray, shape (n_segments, C, D), float64
        Posterior-weighted sums of the frames.
    """
    m = len(segments)
    c, d = ubm.means_.shape
    n = np.zeros((m, c))
    first = np.zeros((m, c, d))
    i = 0
    while i < m:
        # A run of consecutive segments spanning at most BLOCK_FRAMES rows (or one segment).
        j = i + 1
        while j < m and segments[j, 1] - segments[i, 0] <= BLOCK_FRAMES:
            j += 1
        a, b = int(segments[i, 0]), int(segments[j - 1, 1])
        block = np.asarray(X[a:b])
        resp = ubm.predict_proba(block)
        for k in range(i, j):
            s, e = int(segments[k, 0]) - a, int(segments[k, 1]) - a
            r = resp[s:e]
            n[k] = r.sum(axis=0)
            first[k] = r.T @ block[s:e]
        i = j
    return n, first


def label_statistics(ubm: GaussianMixture, X: np.ndarray, labels: np.ndarray, *,
                     n_labels: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Zeroth and first-order UBM statistics of the frames of each label.

    Parameters
    ----------
    ubm : GaussianMixture
        C components, D features.
    X : ndarray, shape (n_frames, D)
    labels : ndarray of int, shape (n_frames,)
        0..K-1; frames labelled -1 are ignored.
    n_labels : int, optional, keyword-only
        K (default: ``labels.max() + 1``).

    Returns
    -------
    n : ndarray, shape (K, C), float64
    first : ndarray, shape (K, C, D), float64
    """
    labels = np.asarray(labels)
    k = int(labels.max()) + 1 if n_labels is None else int(n_labels)
    c, d = ubm.means_.shape
    n = np.zeros((k, c))
    first = np.zeros((k, c, d))
    for a in range(0, len(X), BLOCK_FRAMES):
        block = np.asarray(X[a:a + BLOCK_FRAMES])
        lab = labels[a:a + BLOCK_FRAMES]
        resp = ubm.predict_proba(block)
        for j in np.unique(lab[lab >= 0]):
            sel = lab == j
            r = resp[sel]
            n[j] += r.sum(axis=0)
            first[j] += r.T @ block[sel]
    return n, first


def supervectors(ubm: GaussianMixture, n: np.ndarray, first: np.ndarray, *,
                 relevance_factor: float, nuisance: np.ndarray | None = None) -> np.ndarray:
    """Normalised MAP mean-offset supervectors.

    ``sqrt(w_c) (mu_c' - mu_c) / sigma_c`` for every component c, concatenated, where
    ``mu_c'`` is the MAP-adapted mean: the space in which the KL divergence between two
    adapted models is (bounded by) a Euclidean distance.

    Parameters
    ----------
    ubm : GaussianMixture
    n : ndarray, shape (K, C)
    first : ndarray, shape (K, C, D)
    relevance_factor : float, keyword-only
    nuisance : ndarray, shape (R, C * D), optional, keyword-only
        Orthonormal directions removed from the supervectors.

    Returns
    -------
    ndarray, shape (K, C * D), float64
    """
    adapted = map_adapted_means(ubm.means_, n, first, relevance_factor=relevance_factor)
    scale = np.sqrt(ubm.weights_)[:, None] / np.sqrt(ubm.covariances_)
    sv = ((adapted - ubm.means_) * scale).reshape(len(adapted), -1)
    if nuisance is not None and len(nuisance):
        sv -= (sv @ nuisance.T) @ nuisance
    return sv


def cosine_similarity(a: np.ndarray) -> np.ndarray:
    """Cosine similarity of every pair of rows; shape (K, D) -> (K, K)."""
    norm = np.linalg.norm(a, axis=1)
    u = a / np.maximum(norm, np.finfo(np.float64).tiny)[:, None]
    return u @ u.T


class TopComponentScorer:
    """Frame log-likelihoods under UBM-adapted speaker models, from the UBM's top components.

    Scoring every frame against every component of every speaker model costs K x C per
    frame; as in speaker verification (Reynolds et al., 2000) each frame is scored on the
    `top` UBM components that explain it best, which hold nearly all of its likelihood and
    stay the best ones after adapting only the means.

    Parameters
    ----------
    ubm : GaussianMixture
    X : ndarray, shape (n_frames, D)
    top : int, keyword-only
    """

    def __init__(self, ubm: GaussianMixture, X: np.ndarray, *, top: int) -> None:
        self.ubm = ubm
        self.X = np.asarray(X, dtype=np.float64)
        wlp = ubm.estimate_weighted_log_prob(self.X) if len(self.X) else np.zeros((0, len(ubm.means_)))
        top = max(1, min(int(top), wlp.shape[1]))
        self.idx = np.argpartition(-wlp, top - 1, axis=1)[:, :top] if len(wlp) else \
            np.zeros((0, top), dtype=np.int64)
        self._prec = 1.0 / ubm.covariances_
        self._bias = np.log(ubm.weights_) - 0.5 * np.sum(np.log(2 * np.pi * ubm.covariances_), axis=1)
        self.base = self.loglik(ubm.means_)

    def loglik(self, means: np.ndarray) -> np.ndarray:
        """Per-frame log-likelihood (top components only) under `means` (C, D) with the
        UBM's weights and variances; shape (n_frames,)."""
        if len(self.X) == 0:
            return np.zeros(0)
        idx = self.idx
        d = self.X[:, None, :] - means[idx]
        d *= d
        d *= self._prec[idx]
        lp = self._bias[idx] - 0.5 * d.sum(axis=2)
        m = lp.max(axis=1)
        return m + np.log(np.exp(lp - m[:, None]).sum(axis=1))

    def mean_llr(self, means: np.ndarray) -> float:
        """Mean per-frame log-likelihood ratio of the frames under `means` vs the UBM."""
        if len(self.X) == 0:
            return 0.0
        return float(np.mean(self.loglik(means) - self.base))
