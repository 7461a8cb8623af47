"""Speaker models relative to a universal background model (UBM).

A UBM is a diagonal GMM of voices in general, trained once (``scripts/train_ubm.py``) and
shipped as ``diarize/data/ubm.npz`` (plain arrays, no pickle). A stretch of speech is
described by the UBM's sufficient statistics of its frames; statistics add up, so the
statistics of a cluster are the sums of its parts'. MAP adaptation of the UBM means to
those statistics gives the speaker's model, and :class:`TopComponentScorer` scores frames
under such models, as the cross-likelihood ratio linking of :mod:`diarize.cluster` needs.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from .config import FeatureConfig
from .errors import ConfigError, ModelError, ParameterError
from .names import text_path
from .gmm import GaussianMixture, load_arrays

#: The shipped UBM.
UBM_PATH = Path(__file__).resolve().parent / "data" / "ubm.npz"
#: The shipped nuisance (session and channel) subspace of the shipped UBM's supervectors.
NUISANCE_PATH = Path(__file__).resolve().parent / "data" / "nuisance.npz"
#: FeatureConfig fields that define the MFCCs a UBM was trained on.
FRONT_END_FIELDS = ("win_length", "n_fft", "n_mels", "n_mfcc", "fmin", "fmax", "pre_emphasis")
#: Frames scored against the UBM at a time (bounds the posteriors' memory).
BLOCK_FRAMES = 16384
#: Largest array (in float64 entries) :meth:`TopComponentScorer.logliks` makes: frames are
#: scored in blocks, each of a few arrays of at most this size (bounds its memory).
BLOCK_SCORES = 1 << 20


def _block_rows(width: int) -> int:
    """Rows per block when each row holds `width` scores (at least one)."""
    return max(1, BLOCK_SCORES // width)


@dataclass(frozen=True)
class BackgroundModel:
    """A UBM and the front end its features come from.

    Attributes
    ----------
    gmm : GaussianMixture
        Diagonal covariances, ``n_components`` C, ``n_features`` D.
    front_end : dict
        The :data:`FRONT_END_FIELDS` values plus ``deltas`` and ``delta_width``.
    cohort : ndarray, shape (n_cohort, C, D), or None
        MAP-adapted means of training speakers, against whose voices linking scores are
        normalised (``cluster.link_norm = "cohort"``).
    nuisance : ndarray, shape (C * D, k), or None
        Orthonormal directions of session and channel variation in the UBM's supervector
        space (:func:`supervector_offsets`) that scoring projects models away from
        (:meth:`project`); None: none. Made by :func:`with_nuisance`, which projects the
        cohort too; not part of :func:`ubm_fingerprint` (statistics are kept
        unprojected, the projection is applied when they are scored).
    """

    gmm: GaussianMixture
    front_end: Mapping[str, Any]
    cohort: np.ndarray | None = None
    nuisance: np.ndarray | None = None

    def project(self, means: np.ndarray) -> np.ndarray:
        """Models' means with their offsets from the UBM projected off the
        :attr:`nuisance` directions (nuisance attribute projection, NAP: Solomonoff,
        Campbell et al. 2005), in the space of :func:`supervector_offsets`; `means`
        itself without a nuisance subspace.

        Parameters
        ----------
        means : ndarray, shape (M, C, D)

        Returns
        -------
        ndarray, shape (M, C, D), float64
        """
        if self.nuisance is None:
            return means
        o = supervector_offsets(self.gmm, means)
        o = o - (o @ self.nuisance) @ self.nuisance.T
        mu = np.asarray(self.gmm.means_, dtype=np.float64)
        return mu + o.reshape(np.shape(means)) / _supervector_scale(self.gmm)

    def feature_config(self, features: FeatureConfig) -> FeatureConfig | None:
        """The MFCC front end the UBM needs if `features` differs from it, else None.

        The frame step is kept from `features`, so frames line up with the pipeline's.
        """
        if all(getattr(features, k) == self.front_end[k] for k in FRONT_END_FIELDS):
            return None
        return FeatureConfig(hop_length=features.hop_length,
                             **{k: self.front_end[k] for k in FRONT_END_FIELDS})


def save_ubm(path: str | Path, gmm: GaussianMixture, *, front_end: Mapping[str, Any],
             cohort: np.ndarray | None = None) -> None:
    """Write a UBM, its front end and its cohort models to an ``.npz`` file (no pickle)."""
    if gmm.covariance_type != "diag":
        raise ConfigError("a UBM must have covariance_type='diag'")
    # Any: mypy reads **arrays as possibly savez's allow_pickle flag
    arrays: dict[str, Any] = {f"ubm/{k}": np.asarray(v) for k, v in gmm.to_dict().items()}
    if cohort is not None:
        arrays["cohort"] = np.asarray(cohort, dtype=np.float32)
    arrays.update({f"front_end/{k}": np.asarray(v) for k, v in front_end.items()})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)


def ubm_fingerprint(ubm: BackgroundModel) -> str:
    """sha256 of a UBM's arrays (weights, means, covariances, cohort) and front end:
    statistics kept under one UBM (voiceprints, a batch's kept voices) are scored only
    with that UBM."""
    import hashlib
    import json

    h = hashlib.sha256()
    gmm = ubm.gmm
    for a in (gmm.weights_, gmm.means_, gmm.covariances_,
              ubm.cohort if ubm.cohort is not None else np.zeros(0)):
        arr = np.ascontiguousarray(np.asarray(a, dtype=np.float64))
        h.update(str(arr.shape).encode())
        h.update(arr.tobytes())
    plain = {k: v.item() if isinstance(v, np.generic) else v for k, v in ubm.front_end.items()}
    h.update(json.dumps(plain, sort_keys=True).encode())
    return h.hexdigest()


@lru_cache(maxsize=4)
def load_ubm(path: str | None = None) -> BackgroundModel:
    """The UBM stored in `path` (default: the shipped one).

    Raises
    ------
    ModelError
        The file cannot be read or is not a UBM.
    """
    p = Path(text_path(os.fspath(path))) if path else UBM_PATH
    data = load_arrays(p, what="UBM", names=("ubm/", "front_end/", "cohort"))
    sub = {k[4:]: v for k, v in data.items() if k.startswith("ubm/")}
    front = {k[10:]: v.item() for k, v in data.items() if k.startswith("front_end/")}
    missing = [k for k in FRONT_END_FIELDS + ("deltas", "delta_width") if k not in front]
    if not sub or missing:
        raise ModelError(f"{p}: not a UBM file (missing {'ubm arrays' if not sub else missing})")
    try:
        gmm = GaussianMixture.from_dict(sub)
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelError(f"{p}: not a UBM file (bad or missing array {exc})") from None
    if gmm.covariance_type != "diag":
        raise ModelError(f"{p}: the UBM must have diagonal covariances")
    cohort = data.get("cohort")
    if cohort is not None and cohort.shape[1:] != gmm.means_.shape:
        raise ModelError(f"{p}: cohort models of shape {cohort.shape} do not fit the UBM")
    return BackgroundModel(gmm, front, None if cohort is None else cohort.astype(np.float64))


def _supervector_scale(gmm: GaussianMixture) -> np.ndarray:
    """sqrt(w_c / S_c) per component and feature, shape (C, D): the scaling that makes a
    model's mean offsets a supervector in which the linear scoring's inner product
    (:func:`aligned_llr`, a voice's frames shared among components by their weights) is
    the plain dot product."""
    w = np.asarray(gmm.weights_, dtype=np.float64)
    cov = np.asarray(gmm.covariances_, dtype=np.float64)
    return np.sqrt(w[:, None] / cov)


def supervector_offsets(gmm: GaussianMixture, means: np.ndarray) -> np.ndarray:
    """Models' mean offsets from the UBM as supervectors, ``sqrt(w_c) S_c^(-1/2) (m_c -
    mu_c)`` stacked: the space the nuisance subspace lives in (:meth:`BackgroundModel.project`).

    Parameters
    ----------
    gmm : GaussianMixture
        Diagonal; C components, D features.
    means : ndarray, shape (M, C, D)

    Returns
    -------
    ndarray, shape (M, C * D), float64
    """
    means = np.asarray(means, dtype=np.float64)
    mu = np.asarray(gmm.means_, dtype=np.float64)
    return ((means - mu) * _supervector_scale(gmm)).reshape(len(means), -1)


def save_nuisance(path: str | Path, directions: np.ndarray, *, ubm: BackgroundModel,
                  recipe: str) -> None:
    """Write a nuisance subspace (orthonormal columns, strongest first) of `ubm`'s
    supervectors to an ``.npz`` file (no pickle), with the UBM's :func:`ubm_fingerprint`
    and the `recipe` (text) it was trained with."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, directions=np.asarray(directions, dtype=np.float32),
             ubm=np.array(ubm_fingerprint(ubm)), recipe=np.array(recipe))


@lru_cache(maxsize=4)
def load_nuisance(path: str | None = None) -> tuple[np.ndarray, str]:
    """The nuisance subspace stored in `path` (default: the shipped one): its directions,
    shape (C * D, K) float64, and the fingerprint of the UBM it belongs to.

    Raises
    ------
    ModelError
        The file cannot be read or is not a nuisance subspace.
    """
    p = Path(text_path(os.fspath(path))) if path else NUISANCE_PATH
    data = load_arrays(p, what="nuisance subspace", names=("directions", "ubm"))
    try:
        u = np.asarray(data["directions"], dtype=np.float64)
        fp = str(data["ubm"])
    except KeyError as exc:
        raise ModelError(f"{p}: not a nuisance subspace file (missing array {exc})") from None
    if (u.ndim != 2 or u.shape[1] > u.shape[0] or not np.all(np.isfinite(u))
            or data["ubm"].dtype.kind != "U"):
        raise ModelError(f"{p}: not a nuisance subspace file (directions of shape {u.shape})")
    try:
        # Orthonormal again in float64 (stored as float32), each column against those
        # before it (Gram-Schmidt through the Cholesky factor of the Gram matrix), so
        # the first k span the same directions and the projection is idempotent.
        chol = np.linalg.cholesky(u.T @ u)
    except np.linalg.LinAlgError:
        raise ModelError(f"{p}: not a nuisance subspace file (directions not independent)"
                         ) from None
    u = np.linalg.solve(chol, u.T).T
    u.setflags(write=False)
    return u, fp


def with_nuisance(ubm: BackgroundModel, rank: int, path: str | None = None, *,
                  key: str = "voices.nuisance_rank") -> BackgroundModel:
    """`ubm` (as loaded, without a nuisance subspace) scoring with the first `rank`
    directions of the nuisance subspace in `path` (default: the shipped one) projected
    away: its :attr:`BackgroundModel.nuisance` set and its cohort projected; `ubm` itself
    for rank 0. `key` is the setting that asked for `rank`, named in errors.

    Raises
    ------
    ModelError
        The file cannot be read, belongs to another UBM, or holds fewer directions.
    ParameterError
        `ubm` has a nuisance subspace already.
    """
    if rank <= 0:
        return ubm
    if ubm.nuisance is not None:
        # its cohort is projected already: the fingerprint check below would fail
        raise ParameterError("with_nuisance: the UBM has a nuisance subspace already")
    u, fp = load_nuisance(path)
    shown = path or NUISANCE_PATH
    c, d = np.asarray(ubm.gmm.means_).shape
    if fp != ubm_fingerprint(ubm) or u.shape[0] != c * d:
        raise ModelError(f"{shown}: nuisance subspace of another UBM (cluster.ubm_path); "
                         "train one for this UBM with scripts/train_nuisance.py or set "
                         f"{key} = 0")
    if rank > u.shape[1]:
        raise ModelError(f"{shown}: {key} {rank} asks for more than the "
                         f"{u.shape[1]} directions it holds")
    out = replace(ubm, nuisance=u[:, :rank])
    if ubm.cohort is not None:
        out = replace(out, cohort=out.project(ubm.cohort))
    return out


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
            # a block of one label's frames is taken as it is (the same rows, the same sums)
            r, xj = (resp, block) if sel.all() else (resp[sel], block[sel])
            n[j] += r.sum(axis=0)
            first[j] += r.T @ xj
    return n, first


def unit_statistics(ubm: GaussianMixture, X: np.ndarray, unit: np.ndarray, *, want: np.ndarray,
                    n: np.ndarray, first: np.ndarray) -> None:
    """Zeroth and first-order UBM statistics of the units `want` marks, written into
    their rows of `n` and `first`, as :func:`label_statistics` gives them (the same
    blocks of BLOCK_FRAMES frames, the same sums); the other rows are left as they are,
    and the posteriors of their frames are not computed. A block's wanted frames are
    scored without the others, so where the BLAS rounds a product's rows differently
    with their number (it does on some CPUs) the last bits may differ from
    :func:`label_statistics`'s.

    Parameters
    ----------
    X : ndarray, shape (n_frames, D)
    unit : ndarray of int, shape (n_frames,)
        Each frame's unit, 0..U-1, non-decreasing (a unit's frames are one run).
    want : ndarray of bool, shape (U,)
    n : ndarray, shape (U, C)
    first : ndarray, shape (U, C, D)
    """
    n[want] = 0.0
    first[want] = 0.0
    for a in range(0, len(X), BLOCK_FRAMES):
        lab = unit[a:a + BLOCK_FRAMES]
        wanted = want[lab]
        if not wanted.any():  # a frame's posteriors do not depend on the others'
            continue
        xb = np.asarray(X[a:a + BLOCK_FRAMES])
        if not wanted.all():  # the wanted units' frames alone, as they come in the block
            lab = lab[wanted]
            xb = xb[wanted]
        resp = ubm.predict_proba(xb)
        cuts = np.flatnonzero(np.diff(lab)) + 1
        for s, e in zip(np.r_[0, cuts], np.r_[cuts, len(lab)]):
            j = int(lab[s])
            if want[j]:
                r = resp[s:e]
                n[j] += r.sum(axis=0)
                first[j] += r.T @ xb[s:e]


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
        n_comp = len(np.asarray(ubm.means_))
        top = max(1, min(int(top), n_comp))
        self.idx = np.zeros((len(self.X), top), dtype=np.int64)
        for a in range(0, len(self.X), BLOCK_FRAMES):  # a frame's top ones are its own
            wlp = ubm.estimate_weighted_log_prob(self.X[a:a + BLOCK_FRAMES])
            self.idx[a:a + BLOCK_FRAMES] = np.argpartition(-wlp, top - 1, axis=1)[:, :top]
        # the fitted arrays themselves (asarray copies nothing): typed, since the GMM's
        # attributes are None before fitting
        cov = np.asarray(ubm.covariances_, dtype=np.float64)
        weights = np.asarray(ubm.weights_, dtype=np.float64)
        self._means = np.asarray(ubm.means_, dtype=np.float64)
        self._prec = 1.0 / cov
        self._bias = np.log(weights) - 0.5 * np.sum(np.log(2 * np.pi * cov), axis=1)
        self._quad: np.ndarray | None = None  # see _loglik_gathered
        self.base = self.loglik(ubm.means_)

    def loglik(self, means: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Per-frame log-likelihood (top components only) under `means` (C, D) with the
        UBM's weights and variances; shape (n_frames,), or that of `rows` (frame indices:
        only those frames, each scored as it is among all of them)."""
        sel = np.arange(len(self.X)) if rows is None else np.asarray(rows)
        out = np.empty(len(sel))
        step = _block_rows(self.idx.shape[1] * self.X.shape[1])
        for a in range(0, len(sel), step):  # each frame's score is its own: in blocks
            out[a:a + step] = self._loglik_block(means, sel[a:a + step])
        return out

    def _loglik_block(self, means: np.ndarray, sel: np.ndarray) -> np.ndarray:
        """:meth:`loglik` of frames `sel`."""
        idx = self.idx[sel]
        d = self.X[sel][:, None, :] - means[idx]
        d *= d
        d *= self._prec[idx]
        lp = self._bias[idx] - 0.5 * d.sum(axis=2)
        m = lp.max(axis=1)
        return m + np.log(np.exp(lp - m[:, None]).sum(axis=1))

    def logliks(self, models: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """:meth:`loglik` under each of M models at once, equal to it up to rounding.

        With each frame's offset from a component's UBM mean, x - mu, the log-likelihood
        of x under that component of a model with means mu + delta expands as

            bias - (x - mu)' P (x - mu) / 2 + (x - mu)' P delta - delta' P delta / 2,

        one dot product of [x - mu, 1, -(x - mu)' P (x - mu) / 2] (the same for every
        model) with [P delta, bias - delta' P delta / 2, 1]; the frames with a component
        among their top ones are scored against that component of every model in one
        matrix product. Offsets from the UBM's means keep the terms small (a model's means
        are the UBM's, adapted), so that rounding stays near that of :meth:`loglik` (a few
        units in the 14th digit).

        Parameters
        ----------
        models : ndarray, shape (M, C, D)
            The means of M models.
        rows : ndarray of int, optional
            Only these frames (as in :meth:`loglik`).

        Returns
        -------
        ndarray, shape (M, n_frames) or (M, len(rows))
        """
        delta = np.asarray(models, dtype=np.float64) - self._means
        sel = np.arange(len(self.X)) if rows is None else np.asarray(rows)
        n, top = len(sel), self.idx.shape[1]
        wp = delta * self._prec
        const = self._bias - 0.5 * np.einsum("mcd,mcd->mc", wp, delta)
        c, d = self._means.shape
        out = np.empty((len(delta), n))
        if len(delta) <= 1:
            step = _block_rows(top * d)
            for m, (w, k) in enumerate(zip(wp, const)):
                for a in range(0, n, step):
                    out[m, a:a + step] = self._loglik_gathered(w, k, sel[a:a + step])
            return out
        gain = np.empty((c, d + 2, len(delta)))
        gain[:, :d] = wp.transpose(1, 2, 0)
        gain[:, d] = const.T
        gain[:, d + 1] = 1.0
        step = _block_rows(top * max(len(delta), d + 2))
        for a in range(0, n, step):
            out[:, a:a + step] = self._logliks_block(gain, sel[a:a + step]).T
        return out

    def _loglik_gathered(self, wp: np.ndarray, const: np.ndarray, sel: np.ndarray
                         ) -> np.ndarray:
        """:meth:`logliks` of one model (P delta (C, D), its constants (C,)) on frames
        `sel`, each frame's top components gathered: faster than by component for one."""
        idx = self.idx[sel]
        xc = self.X[sel][:, None, :] - self._means[idx]
        if self._quad is None:
            # -(x - mu)' P (x - mu) / 2 of every frame's top components: model-free, kept
            self._quad = np.empty(self.idx.shape)
            step = _block_rows(self.idx.shape[1] * self.X.shape[1])
            for a in range(0, len(self.X), step):
                top_a = self.idx[a:a + step]
                y = self.X[a:a + step, None, :] - self._means[top_a]
                self._quad[a:a + step] = -0.5 * np.einsum("ntd,ntd,ntd->nt", y, y,
                                                          self._prec[top_a])
        lp = np.einsum("ntd,ntd->nt", xc, wp[idx])
        lp += const[idx]
        lp += self._quad[sel]
        m = lp.max(axis=1)
        lp -= m[:, None]
        np.exp(lp, out=lp)
        return m + np.log(lp.sum(axis=1))

    def _logliks_block(self, gain: np.ndarray, sel: np.ndarray) -> np.ndarray:
        """:meth:`logliks` of frames `sel`, shape (len(sel), M)."""
        n = len(sel)
        top = self.idx.shape[1]
        d = self.X.shape[1]
        # (frame, top slot) pairs, slot-major, sorted by component
        comp = self.idx[sel].T.ravel()
        order = np.argsort(comp, kind="stable")
        comps, starts = np.unique(comp[order], return_index=True)
        ends = np.append(starts[1:], len(comp))
        xc = np.empty((len(comp), d + 2))
        np.subtract(self.X[sel[order % n]], self._means[comp[order]], out=xc[:, :d])
        xc[:, d] = 1.0
        xc[:, d + 1] = -0.5 * np.einsum("pd,pd,pd->p", xc[:, :d], xc[:, :d],
                                        self._prec[comp[order]])
        # log-likelihood per pair, in slot-major frame order: (top, n, M)
        flat = np.empty((len(comp), gain.shape[2]))
        for c, s, e in zip(comps.tolist(), starts.tolist(), ends.tolist()):
            flat[order[s:e]] = xc[s:e] @ gain[c]
        lp = flat.reshape(top, n, -1)
        m = lp.max(axis=0)
        lp -= m
        np.exp(lp, out=lp)
        return m + np.log(lp.sum(axis=0))


@dataclass(frozen=True)
class VoiceStats:
    """The UBM statistics of one voice's speech: all that scoring it needs.

    Statistics add up (``a + b`` pools two stretches of the same voice), so a voice is
    kept, sent between processes or stored without its frames.

    Attributes
    ----------
    n : ndarray, shape (C,), float64
        Soft count of frames per UBM component.
    first : ndarray, shape (C, D), float64
        First-order statistics (posterior-weighted sums of frames) per component.
    """

    n: np.ndarray
    first: np.ndarray

    @property
    def frames(self) -> float:
        """Number of frames the statistics were gathered from."""
        return float(np.sum(self.n))

    def __add__(self, other: "VoiceStats") -> "VoiceStats":
        return VoiceStats(self.n + other.n, self.first + other.first)

    def centred(self, mu: np.ndarray) -> np.ndarray:
        """The first-order statistics centred on the means `mu` (C, D), ``F - N mu``:
        what :func:`linear_scores` takes, float64 of shape (C, D)."""
        return (np.asarray(self.first, dtype=np.float64)
                - np.asarray(self.n, dtype=np.float64)[:, None] * mu)

    def means(self, ubm: GaussianMixture, *, relevance_factor: float) -> np.ndarray:
        """The MAP-adapted means of this voice's model, shape (C, D)."""
        from .gmm import map_adapted_means

        return map_adapted_means(np.asarray(ubm.means_), self.n, self.first,
                                 relevance_factor=relevance_factor)


def voice_statistics(ubm: GaussianMixture, X: np.ndarray, labels: np.ndarray, *,
                     n_labels: int) -> list[VoiceStats]:
    """The :class:`VoiceStats` of the frames of each label 0..`n_labels`-1.

    Parameters
    ----------
    ubm : GaussianMixture
    X : ndarray, shape (n_frames, D)
        Frames in the UBM's features.
    labels : ndarray of int, shape (n_frames,)
        Frames labelled -1 are ignored.
    """
    n, first = label_statistics(ubm, X, labels, n_labels=n_labels)
    return [VoiceStats(n[k], first[k]) for k in range(n_labels)]


def aligned_llr(ubm: GaussianMixture, stats: VoiceStats, means: np.ndarray) -> np.ndarray:
    """Per-frame log-likelihood ratio of a voice's frames under models vs the UBM.

    The linear GMM-UBM score (:func:`linear_scores`) of the voice's statistics under
    each model, divided by the number of frames so that it does not grow with the speech.

    Parameters
    ----------
    ubm : GaussianMixture
        Diagonal covariances; C components, D features.
    stats : VoiceStats
    means : ndarray, shape (M, C, D)
        The means of M models.

    Returns
    -------
    ndarray, shape (M,)
    """
    return offset_llr(ubm, stats, *model_offsets(ubm, means))


def model_offsets(ubm: GaussianMixture, means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Models' mean offsets from the UBM, weighted by its precisions and as they are:
    what :func:`aligned_llr` needs of the models, computed once for many voices.

    Returns
    -------
    ndarray, shape (M, C, D), and ndarray, shape (M, C, D)
    """
    mu = np.asarray(ubm.means_, dtype=np.float64)
    prec = 1.0 / np.asarray(ubm.covariances_, dtype=np.float64)
    return (np.asarray(means, dtype=np.float64) - mu) * prec, np.asarray(means) - mu


def offset_llr(ubm: GaussianMixture, stats: VoiceStats, dm: np.ndarray,
               off: np.ndarray) -> np.ndarray:
    """:func:`aligned_llr` from the models' :func:`model_offsets`, which many voices
    scored against the same models share (each of shape (M, C, D)); shape (M,)."""
    mu = np.asarray(ubm.means_, dtype=np.float64)
    return linear_scores(stats.n, stats.centred(mu), dm, off, frames=stats.frames)


def linear_scores(counts: np.ndarray, centred: np.ndarray, dm: np.ndarray, off: np.ndarray,
                  *, frames: float | np.ndarray | None = None) -> np.ndarray:
    """Linear GMM-UBM scores of voices' statistics under models: the one implementation
    of the score that :func:`aligned_llr`, the cohort norms, linking across recordings
    (:mod:`diarize.link`) and guided diarization (:mod:`diarize.guide`) use.

    With every frame aligned to the UBM's components (its posteriors, fixed), the log of
    the ratio of a voice's frames' likelihood under a model with the UBM's weights and
    variances ``S`` and means ``m`` to their likelihood under the UBM (means ``mu``) needs
    only the voice's statistics ``N`` (soft counts) and ``F`` (first order)::

        sum_c (m_c - mu_c)' S_c^-1 (F_c - N_c mu_c) - N_c (m_c - mu_c)' S_c^-1 (m_c - mu_c) / 2

    (the "linear scoring" of GMM-UBM speaker verification, exact for fixed alignments).

    The shapes of the arrays say which voices are scored against which models:

    ============================  ====================  ======
    voices (`counts`, `centred`)  models (`dm`, `off`)  result
    ============================  ====================  ======
    one: (C,), (C, D)             M: (M, C, D)          (M,)
    T: (T, C), (T, C, D)          one: (C, D)           (T,)
    T: (T, C), (T, C, D)          M: (M, C, D)          (T, M)
    ============================  ====================  ======

    Each layout sums in its own fixed order (the second works out the model's quadratic
    term per component once for all voices, the third adds the counts up with a matrix
    product, whose bits may depend on the BLAS), so a score is the same bits from call
    to call, but not always from one layout to another.

    Parameters
    ----------
    counts : ndarray, shape (C,) or (T, C)
        The voices' soft counts per UBM component, ``N``.
    centred : ndarray, shape (C, D) or (T, C, D)
        Their first-order statistics centred on the UBM's means, ``F - N mu``
        (:meth:`VoiceStats.centred`).
    dm : ndarray, shape (M, C, D) or (C, D)
        The models' mean offsets from the UBM weighted by its precisions,
        ``(m - mu) S^-1`` (:func:`model_offsets`; :func:`map_offsets` times the
        precisions).
    off : ndarray, the shape of `dm`
        The offsets as they are, ``m - mu``.
    frames : float or ndarray of shape (T,), optional, keyword-only
        The voices' numbers of frames: each score is divided by ``max(frames, 1e-9)``
        (a mean over the frames, which does not grow with the speech); None: the sum
        over the frames.

    Returns
    -------
    ndarray, shape (M,), (T,) or (T, M), float64

    Raises
    ------
    ParameterError
        Shapes of none of the three layouts.
    """
    if centred.ndim == 2 and dm.ndim == 3:
        gain = np.einsum("mcd,cd->m", dm, centred)
        cost = 0.5 * np.einsum("mcd,mcd,c->m", dm, off, counts)
        scores = gain - cost
    elif centred.ndim == 3 and dm.ndim == 2:
        gain = np.einsum("kcd,cd->k", centred, dm)
        cost = 0.5 * np.einsum("kc,c->k", counts, np.einsum("cd,cd->c", dm, off))
        scores = gain - cost
    elif centred.ndim == 3 and dm.ndim == 3:
        quad = np.einsum("mcd,mcd->mc", dm, off)
        scores = np.einsum("bcd,mcd->bm", centred, dm) - 0.5 * counts @ quad.T
    else:
        raise ParameterError(f"linear_scores: statistics of shape {np.shape(centred)} and "
                             f"models of shape {np.shape(dm)}")
    if frames is None:
        return scores
    per = np.maximum(frames, 1e-9)
    return scores / (per[:, None] if scores.ndim == 2 else per)


def map_offsets(counts: np.ndarray, centred: np.ndarray, *,
                relevance_factor: float) -> np.ndarray:
    """The offsets from the UBM's means of the means MAP-adapted to statistics,
    ``(F - N mu) / (N + r)``, vectorised over leading axes.

    In exact arithmetic ``map_adapted_means(mu, N, F, relevance_factor=r) - mu`` (see
    :meth:`VoiceStats.means`), worked out from the centred statistics without rounding
    the means first; `relevance_factor` must be positive (no floor on ``N + r``).

    Parameters
    ----------
    counts : ndarray, shape (..., C)
        Soft counts ``N``.
    centred : ndarray, shape (..., C, D)
        First-order statistics centred on the UBM's means, ``F - N mu``.
    relevance_factor : float, keyword-only
        ``r``.

    Returns
    -------
    ndarray, shape (..., C, D)
    """
    return centred / (counts + relevance_factor)[..., None]


def voice_scores(ubm: BackgroundModel, tests: list[VoiceStats], models: np.ndarray, *,
                 trim: int = 0) -> np.ndarray:
    """Cohort-normalised verification scores of voices against speaker models.

    Each test voice's :func:`aligned_llr` under a model is read in standard deviations
    above its mean under the cohort's voices (T-norm), which takes out what every model
    gains on that voice's channel and language; without a cohort the raw ratio is kept.

    Parameters
    ----------
    ubm : BackgroundModel
    tests : list of VoiceStats
        T voices.
    models : ndarray, shape (M, C, D)
        MAP-adapted means of M speaker models.
    trim : int, keyword-only
        The highest `trim` cohort scores of each test voice are left out of its mean and
        spread: where the cohort holds the very voice tested (or a close one), its own
        model's score would inflate both and shrink the voice's true score.

    With a nuisance subspace (:func:`with_nuisance`) the models are projected off it
    (:meth:`BackgroundModel.project`), as its cohort is. Projecting the test voice's
    statistics too would change nothing: the projection is orthogonal and idempotent, so
    the linear score's inner product of a projected model offset with projected
    statistics equals the one with the statistics as they are.

    Returns
    -------
    ndarray, shape (T, M)
    """
    out = np.zeros((len(tests), len(models)))
    models = ubm.project(models)
    # the models' side of the score once for all test voices (the same numbers)
    dm, off = model_offsets(ubm.gmm, models)
    for t, stats in enumerate(tests):
        raw = offset_llr(ubm.gmm, stats, dm, off) if len(models) else np.zeros(0)
        mean, std = cohort_norm(ubm, stats, trim=trim)
        out[t] = (raw - mean) / std
    return out


#: Cohort spread below which a voice's scores are read as if it were this (a voice the
#: whole cohort scores alike would otherwise get unbounded scores).
MIN_COHORT_STD = 1e-3


def cohort_moments(z: np.ndarray, *, trim: int = 0) -> tuple[Any, Any]:
    """The Z-norm (T-norm) of scores against a cohort: their mean and spread, the
    scale other scores of the same voice or model are read on (``(s - mean) / spread``).

    Parameters
    ----------
    z : ndarray, shape (K,) or (R, K)
        Scores against K cohort voices (of R voices or models, one per row).
    trim : int, keyword-only
        The highest `trim` scores of each row are left out (see :func:`voice_scores`)
        where ``0 < trim < K - 1``; none otherwise.

    Returns
    -------
    mean, spread : numpy float64 scalars (`z` of shape (K,)) or ndarrays of shape (R,)
        Over the last axis; the spread (standard deviation) at least
        :data:`MIN_COHORT_STD`.
    """
    if 0 < trim < z.shape[-1] - 1:
        z = np.sort(z, axis=-1)[..., :z.shape[-1] - trim]
    return z.mean(axis=-1), np.maximum(z.std(axis=-1), MIN_COHORT_STD)


#: Cohort norms kept (:func:`cohort_norm`): a voiceprint is normalised once for all the
#: speakers it is scored against, in one recording and the next.
NORM_CACHE_SIZE = 256
_norms: OrderedDict = OrderedDict()
_norms_lock = threading.Lock()


_cohort_terms: list = []  # [(gmm, cohort, offsets)] of the last cohort scored


def _cohort_offsets(ubm: BackgroundModel) -> tuple[np.ndarray, np.ndarray]:
    """:func:`model_offsets` of the cohort, kept for the last UBM and cohort asked (the
    same arrays for every voice normalised against them)."""
    with _norms_lock:
        if _cohort_terms and _cohort_terms[0][0] is ubm.gmm and _cohort_terms[0][1] is ubm.cohort:
            return _cohort_terms[0][2]
    assert ubm.cohort is not None
    terms = model_offsets(ubm.gmm, ubm.cohort)
    with _norms_lock:
        _cohort_terms[:] = [(ubm.gmm, ubm.cohort, terms)]
    return terms


def cohort_norm(ubm: BackgroundModel, stats: VoiceStats, *, trim: int = 0
                ) -> tuple[float, float]:
    """The T-norm of a voice: mean and spread of its :func:`aligned_llr` under the
    cohort's voices, the highest `trim` left out (see :func:`voice_scores`); ``(0, 1)``
    without a cohort.

    The last :data:`NORM_CACHE_SIZE` are kept, by the bytes of the statistics, `trim`
    and the UBM and cohort arrays themselves: asked again, the same numbers are
    returned without scoring the cohort again."""
    if ubm.cohort is None or len(ubm.cohort) <= 1:
        return 0.0, 1.0

    def norm() -> tuple[float, float]:
        mean, spread = cohort_moments(offset_llr(ubm.gmm, stats, *_cohort_offsets(ubm)),
                                      trim=trim)
        return float(mean), float(spread)

    return _kept(_norms, (*_stats_key(stats), int(trim)), ubm, norm)


def matched_voice_scores(ubm: BackgroundModel, tests: list[VoiceStats],
                         models: list[VoiceStats], *, relevance_factor: float,
                         trim: int = 0, means: np.ndarray | None = None) -> np.ndarray:
    """Cohort-normalised verification scores of voices against the MAP models of other
    voices, each pair read against a cohort adapted as much as its model.

    As :func:`voice_scores`, but the cohort a pair is normalised against is matched to
    the model scored: each cohort voice's offset from the UBM is shrunk, component by
    component, as MAP adaptation shrinks the model's own, by ``n_c / (n_c +
    relevance_factor)`` for the model's soft count ``n_c``. A model adapted on a few
    seconds of speech moves little from the UBM, so its ratios on any voice, its own
    included, are small; against cohort models adapted on much more speech its true
    scores read low. Against cohort models moved as little, the score asks what the
    same amount of another voice's speech would have scored. With fully adapted models
    (counts far above the relevance factor) this is :func:`voice_scores`.

    Parameters
    ----------
    ubm : BackgroundModel
    tests : list of VoiceStats
        T voices whose speech is scored.
    models : list of VoiceStats
        The statistics of M voices, each scored as its MAP model (`relevance_factor`).
    relevance_factor : float, keyword-only
    trim : int, keyword-only
        As :func:`voice_scores`.
    means : ndarray, shape (M, C, D), optional, keyword-only
        The models' MAP means (``VoiceStats.means`` at `relevance_factor`), where the
        caller has them already; computed here otherwise.

    Returns
    -------
    ndarray, shape (T, M)
    """
    out = np.zeros((len(tests), len(models)))
    if not len(models):
        return out
    gmm = ubm.gmm
    if means is None:
        means = np.stack([m.means(gmm, relevance_factor=relevance_factor) for m in models])
    dm, off = model_offsets(gmm, ubm.project(means))
    counts = np.stack([np.asarray(m.n, dtype=np.float64) for m in models])
    shrink = counts / np.maximum(counts + float(relevance_factor), np.finfo(np.float64).tiny)
    for t, stats in enumerate(tests):
        raw = offset_llr(gmm, stats, dm, off)
        if ubm.cohort is None or len(ubm.cohort) <= 1:
            out[t] = raw
            continue
        g, h = cohort_terms(ubm, stats)
        # each row: the voice's ratios under the cohort shrunk as that model is (einsum,
        # not BLAS: the same bits whatever the BLAS threads)
        z = (np.einsum("mc,kc->mk", shrink, g)
             - 0.5 * np.einsum("mc,kc->mk", shrink * shrink, h)) / max(stats.frames, 1e-9)
        mean, spread = cohort_moments(z, trim=trim)
        out[t] = (raw - mean) / spread
    return out


_terms: OrderedDict = OrderedDict()


def cohort_terms(ubm: BackgroundModel, stats: VoiceStats) -> tuple[np.ndarray, np.ndarray]:
    """A voice's linear scores under the cohort's models, per cohort voice and component,
    before the division by its frames: a cohort model whose offsets from the UBM are
    scaled by ``a`` (shape (C,)) scores ``(g @ a - h @ a**2 / 2) / frames``.

    The last :data:`NORM_CACHE_SIZE` are kept, as :func:`cohort_norm` keeps its norms.

    Returns
    -------
    g, h : ndarray, shape (K, C), float64
    """
    assert ubm.cohort is not None

    def terms() -> tuple[np.ndarray, np.ndarray]:
        # the terms of linear_scores' first layout, not summed over the components
        dm, off = _cohort_offsets(ubm)
        n = np.asarray(stats.n, dtype=np.float64)
        centred = stats.centred(np.asarray(ubm.gmm.means_, dtype=np.float64))
        return np.einsum("kcd,cd->kc", dm, centred), np.einsum("kcd,kcd,c->kc", dm, off, n)

    return _kept(_terms, _stats_key(stats), ubm, terms)


def _stats_key(stats: VoiceStats) -> tuple:
    """A voice's statistics by their values, as the kept norms and terms are keyed."""
    n, first = np.asarray(stats.n), np.asarray(stats.first)
    return n.dtype.str, n.tobytes(), first.dtype.str, first.shape, first.tobytes()


def _kept(store: OrderedDict, key: tuple, ubm: BackgroundModel, compute: Callable[[], Any]
          ) -> Any:
    """`compute()` for a voice under `ubm` and its cohort, kept in `store` (the last
    :data:`NORM_CACHE_SIZE`): asked again with the same key, UBM and cohort, the kept
    value is returned."""
    key = (*key, id(ubm.gmm), id(ubm.cohort))
    with _norms_lock:
        hit = store.get(key)
        # the entry holds the UBM and cohort it was computed with: their ids are theirs
        if hit is not None and hit[0] is ubm.gmm and hit[1] is ubm.cohort:
            store.move_to_end(key)
            return hit[2]
    value = compute()
    with _norms_lock:
        store[key] = (ubm.gmm, ubm.cohort, value)
        while len(store) > NORM_CACHE_SIZE:
            store.popitem(last=False)
    return value
