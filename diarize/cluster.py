"""Speaker clustering and speaker-count selection: :func:`cluster_speakers`.

Speech is cut into short *chunks* (:func:`chunk_speech`; "segments" elsewhere in the
package are output turns); each chunk is summarised by the sufficient statistics of one
Gaussian (count, sum, scatter). Chunks are merged bottom-up, always the pair whose merge
costs least in BIC:

    dBIC(i, j) = n_ij/2 log|S_ij| - n_i/2 log|S_i| - n_j/2 log|S_j| - lambda * P * log(n_ij)

with ``P`` half the number of parameters of one Gaussian. The number of clusters kept is
where dBIC first becomes positive (or the one the user asked for). Only statistics are
kept, so memory is O(n_chunks * d^2) and the pairwise cost matrix is bounded by
``cluster.max_segments``.

With ``cluster.link_method = "ubm"`` BIC merging over-clusters on purpose and UBM speaker
linking (:func:`link_clusters_clr`) decides the number of speakers; with ``"none"`` the
BIC count is final.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from ._threads import worker_pool
from .config import ClusterConfig, Config
from .errors import ParameterError
from .frames import even_subsample_index, frame_count, relabel, runs
from .resegment import resegment
from .speakers import (BackgroundModel, TopComponentScorer, VoiceStats, aligned_llr,
                       cohort_moments, label_statistics, load_ubm, with_nuisance)


@dataclass
class ClusterResult:
    """Outcome of :func:`cluster_speakers` (and of :func:`link_clusters_clr`).

    Attributes
    ----------
    labels : ndarray of int64, shape (n_speech_frames,)
        Cluster of each speech frame, 0..n_clusters-1, numbered by first appearance.
    bic : dict of int to float
        Global BIC of the clustering with k clusters, for each k BIC merging visited
        (lower is better).
    similarity : dict of int to float
        Speaker linking: the score of the two clusters merged to go from k + 1 to k
        clusters, for each merge made or declined (empty without linking).
    decided_by : {"bic", "linking", "given"}
        The stage that chose the number of clusters (``"given"``: ``num_speakers``).
    threshold : float or None
        The score above which linking merges (``cluster.link_threshold``, or the
        recording's own with ``cluster.link_stop`` other than "threshold"); None without
        linking.
    stages : dict of str to ndarray
        Only with ``cluster_speakers(..., keep_stages=True)`` (else empty): the cluster of
        every speech frame after each stage, int64 of shape (n_speech_frames,):
        ``"chunks"`` (one cluster per chunk), ``"linear"`` (after the linear BIC pass over
        neighbours; the chunks when ``cluster.linear_merge`` is off), ``"bic"`` (after
        agglomerative BIC, before any ``cluster.reseg_before_link`` resegmentation; the
        consensus of the grids with ``cluster.grid_offsets`` > 1) and
        ``"link"`` (after UBM linking: `labels` itself; the BIC clusters without linking).
    """

    labels: np.ndarray
    bic: dict[int, float]
    similarity: dict[int, float] = field(default_factory=dict)
    decided_by: str = "bic"
    threshold: float | None = None
    stages: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_clusters(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0


@dataclass
class BicResult:
    """Outcome of :func:`agglomerative_bic`: one label per *chunk*, not per frame.

    Attributes
    ----------
    chunk_labels : ndarray of int64, shape (n_chunks,)
        Cluster of each chunk, 0..n_clusters-1, numbered by first appearance.
    bic : dict of int to float
        Global BIC of the clustering with k clusters, for each k visited (lower is better).
    linear_labels : ndarray of int64, shape (n_chunks,), or None
        Only with ``agglomerative_bic(..., keep_stages=True)``: the cluster of each chunk
        after the linear pass over neighbours, before agglomerative merging.
    """

    chunk_labels: np.ndarray
    bic: dict[int, float]
    linear_labels: np.ndarray | None = None

    @property
    def n_clusters(self) -> int:
        return int(self.chunk_labels.max()) + 1 if len(self.chunk_labels) else 0


def speaker_ubm(config: ClusterConfig) -> BackgroundModel | None:
    """The UBM that speaker linking uses under `config`, or None when it uses none
    (``link_method = "none"``). Loaded once per path.

    Raises
    ------
    ModelError
        ``ubm_path`` is not a UBM file (missing, unreadable, another kind of model).
    """
    if config.link_method != "ubm":
        return None
    return load_ubm(config.ubm_path or None)


def cluster_speakers(X: np.ndarray, *, speech: np.ndarray, config: Config,
                     ubm_features: np.ndarray | None = None,
                     keep_stages: bool = False,
                     link_frames: np.ndarray | None = None) -> ClusterResult:
    """Who speaks when, as one cluster per speaker: every clustering decision in one call.

    The speech is cut into chunks of ``cluster.segment_seconds`` (:func:`chunk_speech`)
    or, with ``cluster.segmentation = "change"``, at speaker changes (:func:`change_chunks`),
    merged bottom-up by BIC (:func:`agglomerative_bic`) and, with ``cluster.link_method =
    "ubm"``, linked by UBM speaker models (:func:`link_clusters_clr`), which then decides
    the count. The count lies in ``[min_speakers, max_speakers]``, or is ``num_speakers``
    when given (never more than there are chunks).

    Parameters
    ----------
    X : ndarray, shape (n_speech_frames, n_features)
        The clustering features of the speech frames, in time order.
    speech : ndarray of bool, shape (n_frames,), keyword-only
        The frames that are modelled; ``X`` holds its True frames. Chunks never join
        speech across a pause longer than they are.
    config : Config, keyword-only
        The speaker counts, ``cluster``, ``reseg`` (linking may resegment the BIC
        clusters first), ``features.hop_length`` and ``seed``.
    ubm_features : ndarray, shape (n_speech_frames, n_ubm_features), keyword-only
        The same frames in the UBM's front end; needed with ``link_method = "ubm"``
        (it may be `X` itself where the front ends agree).
    keep_stages : bool, keyword-only
        Also return each stage's labels (:attr:`ClusterResult.stages`), for measuring
        where clusters go wrong; off, nothing is kept or computed for them.
    link_frames : ndarray of bool, shape (n_speech_frames,), optional, keyword-only
        The speech frames that linking's speaker models are adapted to and scored on
        (``cluster.link_level_db``); None: every one.

    Returns
    -------
    ClusterResult
        ``labels`` of every speech frame (length n_speech_frames); ``bic`` from BIC
        merging, ``similarity`` from linking.

    Raises
    ------
    ParameterError
        `X` does not have one row per speech frame, or linking has no `ubm_features`.
    ModelError
        ``cluster.ubm_path`` is not a UBM file (missing, unreadable, another kind of
        model).
    """
    speech = np.asarray(speech, dtype=bool)
    n_speech = int(speech.sum())
    if len(X) != n_speech:
        raise ParameterError(f"cluster_speakers: {len(X)} feature rows for {n_speech} "
                             f"speech frames")
    if n_speech == 0:
        return ClusterResult(np.zeros(0, dtype=np.int64), {})
    cc = config.cluster
    step = config.features.hop_length
    chunk_frames = frame_count(cc.segment_seconds, step, minimum=1)
    floor = count_floor(config, n_speech_frames=n_speech)

    def grid(phase: float) -> np.ndarray:
        if cc.segmentation == "change":
            chunks = change_chunks(X, speech, config=cc, frame_step=step)
        else:
            chunks = chunk_speech(speech, chunk_frames=chunk_frames,
                                  max_chunks=cc.max_segments, phase=phase)
        if len(chunks) < floor:
            # A count was asked and there is speech for it, but fewer chunks than speakers
            # (short runs grouped, 1.5-chunk tails): equal pieces of the speech instead.
            chunks = equal_chunks(n_speech, floor)
        return chunks

    chunks = grid(0.0)
    lengths = chunks[:, 1] - chunks[:, 0]
    lo, hi, exact = _count_bounds(config, n_chunks=len(chunks), floor=floor)
    ubm = speaker_ubm(cc)
    if ubm is None:
        bic = agglomerative_bic(X, chunks, config=cc, frame_step=step, min_clusters=lo,
                                max_clusters=hi, n_clusters=exact, keep_stages=keep_stages)
        labels = np.repeat(bic.chunk_labels, lengths)
        return ClusterResult(labels, bic.bic,
                             stages=_stages(bic, lengths, labels) if keep_stages else {},
                             decided_by="given" if exact is not None else "bic")
    if ubm_features is None or len(ubm_features) != n_speech:
        raise ParameterError("cluster_speakers: UBM linking needs the speech frames in the "
                             "UBM's features (ubm_features)")
    # BIC merging over-clusters on purpose (at least max_initial_clusters); linking
    # decides the count.
    hi_init = max(hi, cc.max_initial_clusters)
    bic = agglomerative_bic(X, chunks, config=cc, frame_step=step, min_clusters=lo,
                            max_clusters=hi_init, keep_stages=keep_stages)
    init = np.repeat(bic.chunk_labels, lengths)
    if cc.segmentation == "change":
        # Change chunks are up to change_max_seconds long by design; they count as long
        # where max_segments would lengthen fixed chunks (the same recordings).
        lengthened = (2 * _min_chunk_frames(n_speech, cc.max_segments)
                      > cc.long_chunk_ratio * chunk_frames)
    else:
        lengthened = np.max(lengths) > cc.long_chunk_ratio * chunk_frames
    if cc.grid_offsets > 1 and not lengthened and cc.segmentation == "fixed":
        # Not on lengthened chunks: N BIC runs on max_segments chunks would cost too much
        # on long recordings, and their clusters are resegmented below.
        init = _consensus_over_grids(X, init, grid, config=cc, frame_step=step,
                                     min_clusters=lo, max_clusters=hi_init)
    bic_frames = init
    if cc.reseg_before_link == "always" or (cc.reseg_before_link == "long" and lengthened):
        # Chunks longer than segment_seconds (recordings with more speech than
        # max_segments chunks) straddle speaker turns, so BIC's clusters mix voices;
        # frame-level speaker models clean them up before they are compared.
        init = resegment(X, init, config=config.reseg, frame_step=step, seed=config.seed,
                         min_speakers=lo).labels
    # Resegmentation drops a speaker with less than reseg.min_speaker of speech and
    # hands its frames one by one to the GMMs of the others, and a GMM fitted to a few
    # seconds generalises badly; the linking score, of MAP models, judges a small
    # cluster as a whole.
    small = (frame_count(config.reseg.min_speaker, step) if cc.link_absorb_small else 0)
    linked = link_clusters_clr(ubm_features, init, ubm=ubm, config=cc, min_clusters=lo,
                               max_clusters=hi, n_clusters=exact, bic_features=X,
                               frame_step=step, scored=link_frames, min_frames=small)
    return ClusterResult(linked.labels, bic.bic, linked.similarity,
                         stages=(_stages(bic, lengths, linked.labels, bic_frames=bic_frames)
                                 if keep_stages else {}),
                         decided_by="given" if exact is not None else "linking",
                         threshold=linked.threshold)


def _consensus_over_grids(X: np.ndarray, first: np.ndarray,
                          grid: Callable[[float], np.ndarray], *, config: ClusterConfig,
                          frame_step: float, min_clusters: int, max_clusters: int
                          ) -> np.ndarray:
    """BIC merging on ``config.grid_offsets`` grids, each shifted by 1/N chunk, and the
    consensus of their clusterings (:func:`consensus_labels`): frames that most runs put
    together stay together, wherever the grid falls.

    Parameters
    ----------
    X : ndarray, shape (n_speech_frames, n_features)
        The clustering features of the speech frames.
    first : ndarray of int64, shape (n_speech_frames,)
        BIC's cluster of each speech frame on the unshifted grid (phase 0).
    grid : callable ``phase -> chunks``
        The chunks of the grid shifted by `phase` (a fraction of a chunk): ndarray of int,
        shape (n_chunks, 2), each chunk's first and past-the-end speech frame.
    config : ClusterConfig, keyword-only
        ``grid_offsets``, ``consensus_threshold``, ``consensus_count``, ``max_segments``
        and BIC merging's settings.
    frame_step : float, keyword-only
        Seconds per frame.
    min_clusters, max_clusters : int, keyword-only
        Bounds on the count of every BIC run and of the consensus (``consensus_count =
        "median"``: the median of the runs' counts instead).

    Returns
    -------
    ndarray of int64, shape (n_speech_frames,)
        The consensus cluster of each speech frame, numbered by first appearance.
    """
    runs_ = [first]
    for r in range(1, config.grid_offsets):
        shifted = grid(r / config.grid_offsets)
        other = agglomerative_bic(X, shifted, config=config, frame_step=frame_step,
                                  min_clusters=min_clusters, max_clusters=max_clusters)
        runs_.append(np.repeat(other.chunk_labels, shifted[:, 1] - shifted[:, 0]))
    lo_c, hi_c, threshold = min_clusters, max_clusters, config.consensus_threshold
    if config.consensus_count == "median":
        counts = sorted(int(r.max()) + 1 for r in runs_)
        lo_c = hi_c = counts[(len(counts) - 1) // 2]
        threshold = np.inf  # merge down to that count
    return consensus_labels(np.stack(runs_), threshold=threshold, min_clusters=lo_c,
                            max_clusters=hi_c, max_groups=config.max_segments)


def _stages(bic: BicResult, lengths: np.ndarray, final: np.ndarray,
            bic_frames: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-speech-frame labels of each clustering stage (:attr:`ClusterResult.stages`);
    `bic_frames`, when given, are the BIC stage's (the consensus of several grids)."""
    linear = bic.linear_labels if bic.linear_labels is not None else np.arange(len(lengths))
    return {"chunks": np.repeat(np.arange(len(lengths), dtype=np.int64), lengths),
            "linear": np.repeat(linear, lengths),
            "bic": (np.repeat(bic.chunk_labels, lengths) if bic_frames is None
                    else np.asarray(bic_frames, dtype=np.int64)),
            "link": np.asarray(final, dtype=np.int64)}


def consensus_labels(runs: np.ndarray, *, threshold: float, min_clusters: int = 1,
                     max_clusters: int = 10, max_groups: int = 2000) -> np.ndarray:
    """One clustering of frames from several (evidence accumulation, Fred & Jain 2005).

    Two frames' co-association is the share of the runs that put them in one cluster.
    Frames that every run labels alike form the starting groups; groups are merged by
    frame-weighted average linkage on co-association while the best pair is above
    `threshold` (and always while more than `max_clusters` are left).

    Parameters
    ----------
    runs : ndarray of int, shape (n_runs, n_frames)
        Each run's cluster of each frame.
    threshold : float, keyword-only
        Average co-association above which groups merge (0.5: by a majority of runs).
    min_clusters, max_clusters : int, keyword-only
        Bounds on the number of clusters returned.
    max_groups : int, keyword-only
        Bound on the starting groups (memory is O(max_groups**2)): beyond it, the
        smallest join the large group they are most co-associated with.

    Returns
    -------
    ndarray of int64, shape (n_frames,)
        Clusters 0..k-1, numbered by first appearance; one run alone is returned as it is
        (renumbered).
    """
    runs = np.asarray(runs)
    if len(runs) == 1 or runs.shape[1] == 0:
        return relabel(runs[0])
    groups, inverse, weight = np.unique(runs.T, axis=0, return_inverse=True,
                                        return_counts=True)
    inverse = np.asarray(inverse).ravel()
    if len(groups) > max_groups:
        # Bounded memory: keep the largest groups (ties by first), fold the others in.
        keep = np.sort(np.argsort(-weight, kind="stable")[:max_groups])
        rest = np.setdiff1d(np.arange(len(groups)), keep)
        to = np.empty(len(groups), dtype=np.int64)
        to[keep] = np.arange(len(keep))
        for a in range(0, len(rest), max_groups):  # blocks of (block, max_groups)
            blk = rest[a:a + max_groups]
            co = (groups[blk][:, None, :] == groups[keep][None, :, :]).sum(2)
            to[blk] = np.argmax(co, axis=1)
        inverse = to[inverse]
        weight = np.bincount(inverse, minlength=len(keep))
        groups = groups[keep]
    w = weight.astype(np.float64)
    score = np.zeros((len(groups), len(groups)))
    for col in groups.T:
        score += col[:, None] == col[None, :]
    score /= len(runs)
    np.fill_diagonal(score, -np.inf)

    def merge(i: int, j: int, active: np.ndarray) -> None:
        idx = np.flatnonzero(active)
        score[i, idx] = (w[i] * score[i, idx] + w[j] * score[j, idx]) / (w[i] + w[j])
        score[idx, i] = score[i, idx]
        w[i] += w[j]

    lut, _ = _agglomerate(score, merge, threshold=threshold, lo=min_clusters,
                          hi=max_clusters)
    return relabel(lut[inverse])


def _count_bounds(config: Config, *, n_chunks: int, floor: int = 1
                  ) -> tuple[int, int, int | None]:
    """(fewest, most, exact or None) speakers to return for `n_chunks` chunks of speech:
    no more speakers than chunks, and no more than `floor` (the speakers there is speech
    for, :func:`speech_for`) are required."""
    if config.num_speakers is not None:
        k = max(1, min(config.num_speakers, n_chunks, floor))
        return k, k, k
    hi = max(1, min(config.max_speakers, n_chunks))
    lo = max(1, min(config.min_speakers, hi, floor))
    return lo, hi, None


def asked_count(config: Config) -> tuple[int, bool]:
    """The speaker count a configuration promises: ``(num_speakers, True)`` when it is
    fixed, else ``(min_speakers, False)`` (at least that many)."""
    if config.num_speakers is not None:
        return int(config.num_speakers), True
    return int(config.min_speakers), False


def count_floor(config: Config, *, n_speech_frames: int) -> int:
    """The fewest speakers a result must have: the count asked (:func:`asked_count`), as
    far as `n_speech_frames` frames of modelled speech are enough for (:func:`speech_for`;
    never more than one speaker per frame)."""
    seconds = n_speech_frames * config.features.hop_length
    return min(asked_count(config)[0], speech_for(seconds, config=config), n_speech_frames)


def speech_for(speech_seconds: float, *, config: Config) -> int:
    """How many speakers `speech_seconds` of modelled speech is enough for: one per
    ``cluster.speech_per_speaker`` seconds (at least one)."""
    per = config.cluster.speech_per_speaker
    # A hair of tolerance: 2 x 0.5 s of 10 ms frames is 1.0000000000000002 / 0.5.
    return max(1, int(np.floor(speech_seconds / per + 1e-9))) if per > 0 else 1 << 30


def equal_chunks(n_speech: int, n_chunks: int) -> np.ndarray:
    """The speech-only frame sequence cut into `n_chunks` pieces of (nearly) equal length.

    Returns
    -------
    ndarray of int64, shape (n_chunks, 2)
        ``[start, end)`` ranges, as :func:`chunk_speech` returns.
    """
    bounds = np.round(np.linspace(0, n_speech, n_chunks + 1)).astype(np.int64)
    return np.stack([bounds[:-1], bounds[1:]], axis=1)


def chunk_speech(mask: np.ndarray, *, chunk_frames: int, max_chunks: int,
                 phase: float = 0.0) -> np.ndarray:
    """Cut the speech frames of `mask` into chunks of about `chunk_frames` speech frames.

    Chunks are ranges of the *speech-only* frame sequence (``np.flatnonzero(mask)``), so
    they never contain non-speech. A chunk ends after `chunk_frames` frames, or at the end
    of a speech run once it holds half that many, so short runs are grouped rather than
    each becoming a chunk. Long recordings get longer chunks: there are never more
    than `max_chunks`.

    Parameters
    ----------
    mask : ndarray of bool, shape (n_frames,)
    chunk_frames : int, keyword-only
    max_chunks : int, keyword-only
    phase : float in [0, 1), keyword-only
        Shift of the grid that cuts long runs, in chunks: the first piece cut from a run
        is shorter by this share of a chunk (or, were it under half a chunk, longer by
        the rest of one), so grids of different phases cut the same run elsewhere.

    Returns
    -------
    ndarray of int64, shape (n_chunks, 2)
        ``[start, end)`` ranges into the speech-only frame sequence, in time order,
        covering it exactly.
    """

    n_speech = int(mask.sum())
    if n_speech == 0:
        return np.zeros((0, 2), dtype=np.int64)
    size = max(chunk_frames, _chunk_length_for(n_speech, max_chunks))
    s, e, v = runs(mask)
    run_ends = np.cumsum(e[v] - s[v])  # run boundaries in the speech-only sequence
    first = size - int(round(phase * size)) % size
    if first < size // 2:  # no piece shorter than half a chunk
        first += size
    cuts: list[int] = [0]
    for end in run_ends:
        start = cuts[-1]
        step = first
        while end - start >= step + size // 2:  # cut long runs into size-long pieces
            start += step
            cuts.append(start)
            step = size
        if end - cuts[-1] >= size // 2 or end == n_speech:
            cuts.append(int(end))
    if cuts[-1] != n_speech:
        cuts.append(n_speech)
    bounds = np.unique(np.asarray(cuts, dtype=np.int64))
    return np.stack([bounds[:-1], bounds[1:]], axis=1)


def _chunk_length_for(n_speech: int, max_chunks: int) -> int:
    """The shortest chunk length that keeps `n_speech` frames within `max_chunks` chunks:
    each chunk but the last holds at least half a chunk, so there are at most
    ``2 * n_speech / length + 1`` of them."""
    return int(np.ceil(2 * n_speech / max(max_chunks - 1, 1)))


def _min_chunk_frames(n_speech: int, max_chunks: int) -> int:
    """Half the chunk length that keeps `n_speech` frames within `max_chunks` chunks when
    every chunk but the last holds at least this many frames (half of
    :func:`_chunk_length_for`, rounded up)."""
    return int(np.ceil(_chunk_length_for(n_speech, max_chunks) / 2))


def change_curve(X: np.ndarray, mask: np.ndarray, *, window_steps: int, step_frames: int,
                 diag: bool, block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian likelihood ratio (GLR) between two adjacent windows, slid over the speech.

    At every multiple ``p`` of `step_frames` in the speech-only frame sequence whose two
    windows ``[p - w, p)`` and ``[p, p + w)`` (``w = window_steps * step_frames``) lie in
    one speech run of `mask`, the per-frame GLR of one Gaussian for both windows against
    one each::

        D(p) = log|S_ab| - (log|S_a| + log|S_b|) / 2      (>= 0; large at a change)

    Window statistics come from cumulative sums of x and x x^T over blocks of
    `step_frames` frames, `block` positions at a time: O(n) time, O(block d^2) memory.

    Parameters
    ----------
    X : ndarray, shape (n_speech_frames, n_features)
    mask : ndarray of bool, shape (n_frames,)
        The speech frames (``X`` holds its True frames).
    window_steps, step_frames : int, keyword-only
    diag : bool, keyword-only
        Diagonal rather than full covariances.
    block : int, keyword-only
        Positions computed at once (bounds memory).

    Returns
    -------
    positions : ndarray of int64, shape (n_points,)
        Frame boundaries in the speech-only sequence, increasing.
    values : ndarray of float64, shape (n_points,)
    """
    n, d = X.shape
    w = window_steps
    nb = n // step_frames
    starts, ends, vals = runs(np.asarray(mask, dtype=bool))
    run_ends = np.cumsum(ends[vals] - starts[vals])
    pos = np.arange(w, nb - w + 1, dtype=np.int64)  # candidate boundaries, in blocks
    if len(pos) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    run_of = np.searchsorted(run_ends, [(pos - w) * step_frames,
                                        (pos + w) * step_frames - 1], side="right")
    pos = pos[run_of[0] == run_of[1]]  # both windows inside one speech run
    out = np.empty(len(pos))
    nw = float(w * step_frames)
    reg = _BicState.REG
    for a in range(0, len(pos), block):
        p = pos[a:a + block]
        lo, hi = int(p[0]) - w, int(p[-1]) + w  # blocks [lo, hi) hold every window
        x = X[lo * step_frames:hi * step_frames].astype(np.float64)
        x = x.reshape(hi - lo, step_frames, d)
        c1 = np.zeros((hi - lo + 1, d))
        np.cumsum(x.sum(1), axis=0, out=c1[1:])
        if diag:
            c2 = np.zeros((hi - lo + 1, d))
            np.cumsum((x * x).sum(1), axis=0, out=c2[1:])
        else:
            c2 = np.zeros((hi - lo + 1, d, d))
            np.cumsum(np.matmul(x.transpose(0, 2, 1), x), axis=0, out=c2[1:])
        del x
        i0, i1, i2 = p - w - lo, p - lo, p + w - lo

        def logdet(s1: np.ndarray, s2: np.ndarray, m: float) -> np.ndarray:
            # A degenerate window's log-determinant is not finite: its point reads 0 below.
            count = np.full(len(s1), m)
            if diag:
                return _diag_logdet(count, s1, s2, reg=reg)
            return _logdet(count, s1, s2, diag=False, reg=reg, scratch=True)

        la = logdet(c1[i1] - c1[i0], c2[i1] - c2[i0], nw)
        lb = logdet(c1[i2] - c1[i1], c2[i2] - c2[i1], nw)
        lab = logdet(c1[i2] - c1[i0], c2[i2] - c2[i0], 2 * nw)
        out[a:a + block] = lab - 0.5 * (la + lb)
    out[~np.isfinite(out)] = 0.0  # a degenerate window: no evidence of a change
    return pos * step_frames, out


def change_chunks(X: np.ndarray, mask: np.ndarray, *, config: ClusterConfig,
                  frame_step: float) -> np.ndarray:
    """Cut the speech frames of `mask` into chunks at speaker-change points (LIUM-style).

    A change is a peak of :func:`change_curve` (windows of ``change_window`` seconds every
    ``change_step``) that is the highest within ``change_min_seconds`` either side and
    stands ``change_peak`` robust standard deviations above the median of the curve (the
    recording's own scale, not an absolute threshold). As in :func:`chunk_speech`, a
    speech run shorter than the shortest chunk is grouped with the next; no chunk but the
    last is shorter than ``change_min_seconds``, and pieces longer than
    ``change_max_seconds`` are cut into equal parts. Long recordings get longer bounds:
    there are never more than ``max_segments`` chunks.

    Parameters
    ----------
    X : ndarray, shape (n_speech_frames, n_features)
        Features of the speech frames, in time order.
    mask : ndarray of bool, shape (n_frames,)
    config : ClusterConfig, keyword-only
    frame_step : float, keyword-only
        Seconds per frame.

    Returns
    -------
    ndarray of int64, shape (n_chunks, 2)
        ``[start, end)`` ranges into the speech-only frame sequence, in time order,
        covering it exactly (as :func:`chunk_speech`).
    """
    n = len(X)
    if n == 0:
        return np.zeros((0, 2), dtype=np.int64)
    step = frame_count(config.change_step, frame_step, minimum=1)
    window = max(1, int(round(config.change_window / (step * frame_step))))
    half = max(frame_count(config.change_min_seconds, frame_step, minimum=1),
               _min_chunk_frames(n, config.max_segments))
    longest = max(frame_count(config.change_max_seconds, frame_step, minimum=1), 2 * half)
    pos, curve = change_curve(X, mask, window_steps=window, step_frames=step,
                              diag=config.covariance == "diag")
    peaks = np.zeros(0, dtype=np.int64)
    if len(pos):
        # Local maxima over +-half frames of speech, among points of one speech run
        # (pos is increasing; points of other runs are far enough or masked by -inf).
        g = int(np.ceil(half / step))
        grid = np.full(int(pos[-1] // step) + 2 * g + 1, -np.inf)
        grid[pos // step + g] = curve
        win = np.lib.stride_tricks.sliding_window_view(grid, g)
        left = win[pos // step]            # the g points before each
        right = win[pos // step + g + 1]   # the g points after each
        is_max = (curve > left.max(1)) & (curve >= right.max(1))
        med = float(np.median(curve))
        spread = 1.4826 * float(np.median(np.abs(curve - med)))
        tall = curve > med + config.change_peak * spread
        peaks = pos[is_max & tall]
    s, e, v = runs(np.asarray(mask, dtype=bool))
    run_ends = np.cumsum(e[v] - s[v])
    # Changes and run ends in time order; a run end sorts before a change at the same frame.
    events = sorted([(int(r), 0) for r in run_ends] + [(int(c), 1) for c in peaks])
    cuts = [0]
    for at, is_change in events:
        if is_change:
            end = int(run_ends[np.searchsorted(run_ends, at, side="right")])
            if at - cuts[-1] >= half and end - at >= half:
                cuts.append(at)
        elif at - cuts[-1] >= half or at == n:
            cuts.append(at)
    if cuts[-1] != n:
        cuts.append(n)
    bounds: list[int] = [0]
    for a, b in zip(cuts[:-1], cuts[1:]):
        k = -(-(b - a) // longest)  # equal pieces of at most `longest` frames
        bounds.extend(int(x) for x in np.round(np.linspace(a, b, k + 1))[1:])
    edges = np.unique(np.asarray(bounds, dtype=np.int64))
    return np.stack([edges[:-1], edges[1:]], axis=1)


def _stats(X: np.ndarray, chunks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, sum and scatter matrix of the frames of every chunk; shapes (m,), (m, d),
    (m, d, d), float64."""
    d = X.shape[1]
    n = np.empty(len(chunks))
    s = np.empty((len(chunks), d))
    ss = np.empty((len(chunks), d, d))
    for i, (a, b) in enumerate(chunks):
        x = X[a:b].astype(np.float64)
        n[i] = len(x)
        s[i] = x.sum(0)
        ss[i] = x.T @ x
    return n, s, ss


def _logdet(n: np.ndarray, s: np.ndarray, ss: np.ndarray, *, diag: bool, reg: float,
            scratch: bool = False) -> np.ndarray:
    """log|covariance| of Gaussians given by stats; shapes (m,), (m,d), (m,d,d) -> (m,).

    With `scratch` the covariances are formed in `ss` itself (a temporary of the
    caller's), which saves allocating and filling two more arrays of its size. A
    degenerate full covariance in the batch sends the whole batch the LU route
    (non-positive determinants: inf).
    """
    if diag:
        return _diag_logdet(n, s, np.einsum("mii->mi", ss), reg=reg)
    mu = s / n[:, None]
    m, d = mu.shape
    cov = ss if scratch else np.empty_like(ss)
    np.divide(ss, n[:, None, None], out=cov)
    # The same subtraction and addition, element by element, as forming the outer
    # products and the regularised identity would make (adding 0.0 elsewhere changes
    # no value), without the (m, d, d) temporaries.
    for r in range(d):
        cov[:, r, :] -= mu[:, r, None] * mu
    cov.reshape(m, d * d)[:, ::d + 1] += reg
    try:
        # Cholesky is about twice as fast as LU (slogdet) for these SPD matrices.
        chol = np.linalg.cholesky(cov)
        return 2.0 * np.log(np.einsum("mii->mi", chol)).sum(1)
    except np.linalg.LinAlgError:  # a degenerate covariance somewhere in the batch
        sign, ld = np.linalg.slogdet(cov)
        return np.where(sign > 0, ld, np.inf)


def _diag_logdet(n: np.ndarray, s: np.ndarray, sq: np.ndarray, *, reg: float) -> np.ndarray:
    """log|covariance| of diagonal Gaussians given by stats; shapes (m,), (m,d), (m,d)
    (the sums of squares, the scatter matrices' diagonals) -> (m,)."""
    mu = s / n[:, None]
    var = sq / n[:, None] - mu ** 2
    return np.log(np.maximum(var, 0) + reg).sum(1)


class _Tril:
    """Where the lower triangle (diagonal included) of a d x d matrix lies in a row of
    its d*d entries, and in the packed row of its d(d+1)/2 entries."""

    def __init__(self, d: int) -> None:
        self.d = d
        self.rows, self.cols = np.tril_indices(d)
        self.flat = self.rows * d + self.cols
        self.diag = np.flatnonzero(self.rows == self.cols)

    def pack(self, ss: np.ndarray) -> np.ndarray:
        """(m, d, d) -> (m, d(d+1)/2), a copy."""
        return ss.reshape(len(ss), self.d * self.d)[:, self.flat]


def _tril_logdet(n: np.ndarray, s: np.ndarray, packed: np.ndarray, tril: _Tril, *,
                 reg: float) -> np.ndarray:
    """:func:`_logdet` of full covariances from the packed lower triangles of their
    scatter matrices, shape (m, d(d+1)/2), which it overwrites; raises where that would
    take the LU route.

    The same operations on each lower-triangle entry as there (the sum, the division by
    the count, the outer product subtracted, `reg` on the diagonal), on half the
    entries; the Cholesky factorisation reads only the lower triangles, so the upper
    ones of its input are left unset.

    Raises
    ------
    numpy.linalg.LinAlgError
        A covariance is not positive definite.
    """
    mu = s / n[:, None]
    np.divide(packed, n[:, None], out=packed)
    packed -= mu[:, tril.rows] * mu[:, tril.cols]
    packed[:, tril.diag] += reg
    m, d = mu.shape
    cov = np.empty((m, d, d))
    cov.reshape(m, d * d)[:, tril.flat] = packed
    chol = np.linalg.cholesky(cov)
    return 2.0 * np.log(np.einsum("mii->mi", chol)).sum(1)


def agglomerative_bic(X: np.ndarray, chunks: np.ndarray, *, config: ClusterConfig,
                      frame_step: float, min_clusters: int = 1,
                      max_clusters: int = 10, n_clusters: int | None = None,
                      keep_stages: bool = False) -> BicResult:
    """Bottom-up BIC clustering of chunks.

    Parameters
    ----------
    X : ndarray, shape (n_frames, n_features)
    chunks : ndarray of int, shape (n_chunks, 2)
        ``[start, end)`` row ranges of `X` (:func:`chunk_speech`).
    config : ClusterConfig, keyword-only
    frame_step : float, keyword-only
        Seconds per frame (the penalty weight depends on the speech duration).
    min_clusters, max_clusters : int, keyword-only
        Bounds on the number of clusters returned.
    n_clusters : int, optional, keyword-only
        Exact number of clusters (overrides the BIC stopping rule).
    keep_stages : bool, keyword-only
        Also return the labels after the linear pass (``linear_labels``).

    Returns
    -------
    BicResult
        One label per chunk.
    """
    m = len(chunks)
    if m == 0:
        return BicResult(np.zeros(0, dtype=np.int64), {})
    # The pair costs are computed on a few threads; the result does not depend on them.
    with worker_pool() as pool:
        state = _BicState(_stats(X, chunks), diag=config.covariance == "diag", pool=pool)
        scale, lam = _bic_penalty(float(state.n.sum()), config.bic_penalty, config=config,
                                  frame_step=frame_step)
        linear = None
        hi = max_clusters if n_clusters is None else n_clusters
        lo = min_clusters if n_clusters is None else n_clusters
        if config.linear_merge:
            max_frames = (config.linear_max_seconds / frame_step
                          if config.linear_max_seconds > 0 else None)
            state.linear_pass(min_clusters=lo, order=config.linear_order,
                              penalty=config.linear_penalty, max_frames=max_frames)
            if keep_stages:
                linear = state.labels()
        bic: dict[int, float] = {}
        snapshots: dict[int, np.ndarray] = {}
        log_n = np.log(state.n.sum() * scale)
        stop_k = None  # 'local' rule: the first k whose best merge costs more than it saves
        while True:
            k = state.n_active
            if k <= hi:
                bic[k] = scale * state.data_term() + lam * state.n_par * k * log_n
                snapshots[k] = state.labels()
            if k <= max(lo, 1):
                break
            i, j, cost = state.best_pair()
            if stop_k is None and k <= hi and state.two_voices(
                    cost, state.n[i] + state.n[j], scale=scale, lam=lam):
                stop_k = k
            state.merge(i, j)
        if not snapshots:  # fewer chunks than the lower bound
            snapshots[state.n_active] = state.labels()
            bic[state.n_active] = scale * state.data_term()
        if n_clusters is not None:
            best_k = min(snapshots)
        elif config.stop_rule == "local":
            best_k = stop_k if stop_k is not None else min(snapshots)
        else:
            best_k = min(bic, key=lambda kk: (bic[kk], kk))
        return BicResult(snapshots[best_k], bic, linear)


def _bic_penalty(n_frames: float, weight: float, *, config: ClusterConfig,
                 frame_step: float) -> tuple[float, float]:
    """``(scale, lam)`` of the BIC over `n_frames` speech frames with penalty `weight`:
    ``lam = weight * seconds ** penalty_exponent``, and the data term's `scale`.

    Beyond max_bic_seconds the BIC is computed as if there were that much speech with the
    same statistics: the likelihood gain of splitting one voice grows with length and its
    penalty does not, so hours of speech would otherwise be split into too many speakers.
    Scaling the data term by `scale` is exactly that.
    """
    speech_seconds = n_frames * frame_step
    scale = min(1.0, config.max_bic_seconds / speech_seconds)
    return scale, weight * (speech_seconds * scale) ** config.penalty_exponent


class _BicState:
    """Sufficient statistics of clusters of chunks, merged bottom-up by BIC cost.

    The merge order uses the plain BIC cost (unit penalty weight): the data term
    ``n_ij/2 log|S_ij| - n_i/2 log|S_i| - n_j/2 log|S_j|`` minus ``P log n_ij``.

    With a thread `pool`, the pair costs of the full matrix (row by row) and of large
    merges (in pieces of :data:`PAIR_BLOCK`) are computed on its threads; every cost is
    the same as computed in one batch (:meth:`_joined`), so the clustering does not
    depend on the threads.
    """

    REG = 1e-6  # added to covariance diagonals: keeps 1-s chunks' covariances invertible
    #: Pair costs computed at once: (PAIR_BLOCK, d, d) temporaries stay in cache, and
    #: the numpy and threads' overhead is small against the Cholesky factorisations.
    PAIR_BLOCK = 256

    def __init__(self, stats: tuple[np.ndarray, np.ndarray, np.ndarray], *, diag: bool,
                 pool: Executor | None = None) -> None:
        self.n, self.s, self.ss = stats
        m, d = self.s.shape
        self.diag = diag
        self.pool = pool
        #: half the number of free parameters of one Gaussian
        self.n_par = 0.5 * (d + (d if diag else d * (d + 1) / 2))
        self.ld = self._logdet(self.n, self.s, self.ss)
        # Packed lower triangles of the scatter matrices, kept beside them: the pair
        # costs are formed from half the entries (:func:`_tril_logdet`).
        self.tril = None if diag else _Tril(d)
        self.ssp = None if self.tril is None else self.tril.pack(self.ss)
        self.members = [[i] for i in range(m)]
        self.active = np.ones(m, dtype=bool)
        self.cost = np.full((m, m), np.inf)
        # Each row's lowest cost and its first column (np.argmin's), kept up to date by
        # merge(): the best pair is found without scanning the whole matrix.
        self.row_min = np.full(m, np.inf)
        self.row_arg = np.zeros(m, dtype=np.int64)
        self._cost_ready = False

    @property
    def n_active(self) -> int:
        return int(self.active.sum())

    def _logdet(self, n, s, ss):
        return _logdet(n, s, ss, diag=self.diag, reg=self.REG)

    def pair_cost(self, i, js: np.ndarray) -> np.ndarray:
        """BIC cost of merging cluster `i` with each of `js` (or, `i` an array like `js`,
        each ``i[k]`` with ``js[k]``)."""
        B = self.PAIR_BLOCK
        pieces = [self._pair_logdet(i if np.isscalar(i) else i[a:a + B], js[a:a + B])
                  for a in range(0, len(js), B)]
        return self._cost_from(i, js, self._joined(i, js, pieces))

    def _joined(self, i, js: np.ndarray, pieces: list) -> np.ndarray:
        """The pieces' log-determinants as one; where any piece has a degenerate pooled
        covariance, the whole batch's by the LU route, as one :func:`_logdet` call
        gives them."""
        if any(p is None for p in pieces):
            nn = self.n[i] + self.n[js]
            return _logdet(nn, self.s[i] + self.s[js], self.ss[i] + self.ss[js],
                           diag=self.diag, reg=self.REG, scratch=True)
        return np.concatenate(pieces) if len(pieces) != 1 else pieces[0]

    def _cost_from(self, i, js: np.ndarray, ldm: np.ndarray) -> np.ndarray:
        n, ld = self.n, self.ld
        nn = n[i] + n[js]
        return 0.5 * (nn * ldm - n[i] * ld[i] - n[js] * ld[js]) - self.n_par * np.log(nn)

    def _pair_logdet(self, i, js: np.ndarray) -> np.ndarray | None:
        """log|S_ij| of the pooled covariances, None where a Cholesky factorisation
        fails. Called on pieces of at most :data:`PAIR_BLOCK` pairs: their temporaries
        stay in cache, which makes the whole about twice as fast as one batch."""
        nn = self.n[i] + self.n[js]
        if self.ssp is None or self.tril is None:  # diagonal covariances
            return _logdet(nn, self.s[i] + self.s[js], self.ss[i] + self.ss[js], diag=True,
                           reg=self.REG)
        pooled = self.ssp[js]  # a copy (fancy indexing): the covariances are formed in it
        pooled += self.ssp[i]
        try:
            return _tril_logdet(nn, self.s[i] + self.s[js], pooled, self.tril, reg=self.REG)
        except np.linalg.LinAlgError:
            return None

    def _pair_costs(self, i: int, js: np.ndarray) -> np.ndarray:
        """:meth:`pair_cost` of one cluster with many, its pieces on the pool's threads
        (each cost is computed as in one batch: every step is element by element or
        per matrix)."""
        B = self.PAIR_BLOCK
        if self.pool is None or len(js) <= B:
            return self.pair_cost(i, js)
        pieces = list(self.pool.map(lambda a: self._pair_logdet(i, js[a:a + B]),
                                    range(0, len(js), B)))
        return self._cost_from(i, js, self._joined(i, js, pieces))

    def two_voices(self, cost, nn, *, scale: float, lam: float):
        """Whether BIC with penalty `lam` (:func:`_bic_penalty`) keeps apart the pairs of
        :meth:`pair_cost` `cost` holding `nn` frames together (scalars or arrays alike)."""
        return scale * (cost + self.n_par * np.log(nn)) > lam * self.n_par * np.log(nn * scale)

    def data_term(self) -> float:
        idx = np.flatnonzero(self.active)
        return float(0.5 * np.sum(self.n[idx] * self.ld[idx]))

    def _absorb(self, i: int, j: int) -> None:
        self.n[i] += self.n[j]
        self.s[i] += self.s[j]
        self.ss[i] += self.ss[j]
        if self.ssp is not None:
            self.ssp[i] += self.ssp[j]
        self.ld[i] = self._logdet(self.n[i:i + 1], self.s[i:i + 1], self.ss[i:i + 1])[0]
        self.members[i].extend(self.members[j])
        self.members[j] = []
        self.active[j] = False

    def linear_pass(self, *, min_clusters: int = 1, order: str = "sequential",
                    penalty: float = 1.0, max_frames: float | None = None) -> None:
        """Merge each chunk into its predecessor when BIC says they are one voice, while
        more than `min_clusters` clusters are left.

        Neighbouring chunks usually belong to one turn; merging them first gives the
        global clustering better-estimated Gaussians to compare. It stops at the lower
        bound: a fixed count must be left to the global merging to reach. `order`
        "sequential" goes left to right; "best" always merges the cheapest neighbouring
        pair (:meth:`_best_first_pass`). `penalty` weighs the BIC penalty of this pass
        (below 1: stricter) and no run of more than `max_frames` frames is formed
        (:meth:`_linear_cost`).
        """
        def cost(i, js: np.ndarray) -> np.ndarray:
            return self._linear_cost(i, js, penalty=penalty, max_frames=max_frames)

        if order == "best":
            self._best_first_pass(min_clusters=min_clusters, cost_fn=cost)
            return
        cur = 0
        for j in range(1, len(self.members)):
            if self.n_active <= min_clusters:
                break
            if cost(cur, np.array([j]))[0] < 0:
                self._absorb(cur, j)
            else:
                cur = j

    def _linear_cost(self, i, js: np.ndarray, *, penalty: float,
                     max_frames: float | None) -> np.ndarray:
        """:meth:`pair_cost` for the linear pass: with the penalty ``P log n_ij`` weighed
        by `penalty` instead of 1, and infinite where the joined run would hold more than
        `max_frames` frames (a pair that must not merge)."""
        c = self.pair_cost(i, js)
        nn = self.n[i] + self.n[js]
        if penalty != 1.0:  # exactly the plain cost at 1
            c = c + (1.0 - penalty) * self.n_par * np.log(nn)
        if max_frames is not None:
            c = np.where(nn > max_frames, np.inf, c)
        return c

    def _best_first_pass(self, *, min_clusters: int,
                         cost_fn: Callable[..., np.ndarray] | None = None) -> None:
        """Merge neighbouring runs of chunks, always the pair of neighbours with the
        lowest BIC cost, while that cost is negative and more than `min_clusters` are
        left. Unlike the left-to-right pass, a chunk joins the neighbour it is most like,
        whichever side that is, and no merge depends on the one before it in time.
        `cost_fn` (``(i, js) -> costs``, :meth:`pair_cost` by default) scores the pairs."""
        pair_cost = self.pair_cost if cost_fn is None else cost_fn
        m = len(self.members)
        if m < 2:
            return
        nxt = np.arange(1, m + 1)
        prv = np.arange(-1, m - 1)
        cost = np.full(m, np.inf)  # cost[i]: merging i with the run after it
        cost[:-1] = pair_cost(np.arange(m - 1), np.arange(1, m))
        while self.n_active > min_clusters:
            i = int(np.argmin(cost))
            if not cost[i] < 0:
                break
            j = int(nxt[i])
            self._absorb(i, j)
            cost[j] = np.inf
            nxt[i] = nxt[j]
            if nxt[i] < m:
                prv[nxt[i]] = i
                cost[i] = pair_cost(i, nxt[i:i + 1])[0]
            else:
                cost[i] = np.inf
            if prv[i] >= 0:
                p = int(prv[i])
                cost[p] = pair_cost(p, np.array([i]))[0]

    def best_pair(self) -> tuple[int, int, float]:
        """The pair of active clusters with the lowest BIC cost, and that cost (the first
        in row-major order among equal costs, as ``np.argmin`` of the matrix)."""
        if not self._cost_ready:
            act = np.flatnonzero(self.active)

            def row(a: int) -> np.ndarray:
                return self.pair_cost(act[a], act[a + 1:])

            rows = (map(row, range(len(act) - 1)) if self.pool is None
                    else self.pool.map(row, range(len(act) - 1)))
            for a, c in enumerate(rows):
                i = act[a]
                self.cost[i, act[a + 1:]] = c
                self.cost[act[a + 1:], i] = c
            self.row_arg[:] = np.argmin(self.cost, axis=1)
            self.row_min[:] = self.cost[np.arange(len(self.cost)), self.row_arg]
            self._cost_ready = True
        # The first row holding the lowest cost, at its first column holding it: the
        # first minimum of the matrix in row-major order (NaN, as np.argmin, first).
        i = int(np.argmin(self.row_min))
        j = int(self.row_arg[i])
        return i, j, float(self.cost[i, j])

    def merge(self, i: int, j: int) -> None:
        """Merge cluster `j` into cluster `i` and update the costs of `i`."""
        act = np.flatnonzero(self.active)
        self._absorb(i, j)
        self.cost[j, :] = np.inf
        self.cost[:, j] = np.inf
        self.row_min[j], self.row_arg[j] = np.inf, 0
        others = act[(act != i) & (act != j)]
        if len(others):
            c = self._pair_costs(i, others)
            self.cost[i, others] = c
            self.cost[others, i] = c
        self._refresh_row(i)
        if not len(others):
            return
        # Each other row changed in column i (now c) and j (now inf). Where its minimum
        # was at neither, the new minimum is the old one or c; else (or with NaN about)
        # the row is scanned again.
        old_min, old_arg = self.row_min[others], self.row_arg[others]
        rescan = (old_arg == i) | (old_arg == j) | np.isnan(c) | np.isnan(old_min)
        take = ~rescan & ((c < old_min) | ((c == old_min) & (i < old_arg)))
        self.row_min[others[take]] = c[take]
        self.row_arg[others[take]] = i
        for r in others[rescan]:
            self._refresh_row(int(r))

    def _refresh_row(self, r: int) -> None:
        self.row_arg[r] = np.argmin(self.cost[r])
        self.row_min[r] = self.cost[r, self.row_arg[r]]

    def labels(self) -> np.ndarray:
        """Cluster index of each chunk, numbered by first appearance."""
        labels = np.empty(len(self.members), dtype=np.int64)
        order = sorted((min(mem), idx) for idx, mem in enumerate(self.members) if mem)
        for new, (_, idx) in enumerate(order):
            labels[self.members[idx]] = new
        return labels




def link_clusters_clr(X: np.ndarray, labels: np.ndarray, *, ubm, config: ClusterConfig,
                      min_clusters: int = 1, max_clusters: int = 10,
                      n_clusters: int | None = None, bic_features: np.ndarray | None = None,
                      frame_step: float, scored: np.ndarray | None = None,
                      min_frames: float = 0.0) -> ClusterResult:
    """Merge clusters by the cross-likelihood ratio of UBM-adapted speaker models.

    The second clustering stage (LIUM's CLR clustering, Barras et al. 2006), after BIC
    merging has over-clustered on purpose. Each cluster's model is the UBM with its means
    MAP-adapted to the cluster's frames; two clusters i, j score

        CLR(i, j) = mean_{x in i} log p(x | M_j) / p(x | UBM) + mean_{x in j} log p(x | M_i) / p(x | UBM),

    the per-frame gain in likelihood from explaining each cluster by the other's voice
    rather than by voices in general. It is positive when the two sound alike and, being a
    per-frame mean of normalised likelihood ratios, does not grow with the amount of
    speech, so one threshold (``config.link_threshold``) serves every recording. With
    ``config.link_norm = "cohort"`` each of the two ratios is first Z-normalised: cluster
    i's frames are also scored against the voices of a cohort of training speakers
    (MAP-adapted means shipped with the UBM), and the ratio is read in standard deviations
    above that cohort's mean. What all models gain on a recording unlike the UBM's training
    speech (a telephone channel, a room, another language) then cancels out. The best
    pair is merged and its model re-estimated from the pooled frames until no pair scores
    above the threshold.

    ``config.link_scoring`` chooses how a cluster's frames are scored under a model: on a
    sample of its frames (``"frames"``, :class:`_FrameScorer`) or from its UBM statistics
    alone (``"statistics"``, :class:`_StatsScorer`).

    With ``config.link_bic_veto`` > 0 and `bic_features`, a merge also needs BIC's
    consent (:class:`_BicVeto`). With ``config.link_self_weight`` > 0 (and frame scoring)
    each pair's CLR is read against the two clusters' own ratios (:class:`_OwnRatios`).

    Parameters
    ----------
    X : ndarray, shape (n_frames, D)
        Speech frames in the UBM's features.
    labels : ndarray of int, shape (n_frames,)
        Initial cluster of each frame, 0..K-1.
    ubm : BackgroundModel, keyword-only
    config : ClusterConfig, keyword-only
    min_clusters, max_clusters : int, keyword-only
        Bounds on the number of clusters returned (merging is forced above the maximum).
    n_clusters : int, optional, keyword-only
        Exact number of clusters.
    bic_features : ndarray, shape (n_frames, n_features), optional, keyword-only
        The same frames in the clustering features, for ``config.link_bic_veto``.
    frame_step : float, keyword-only
        Seconds per frame (the BIC penalty depends on the speech duration).
    scored : ndarray of bool, shape (n_frames,), optional, keyword-only
        The frames the speaker models are adapted to and scored on (None: every frame);
        a cluster with fewer than ``config.link_min_scored_frames`` of them uses all of
        its frames. The BIC veto and the clusters' sizes still count every frame.
    min_frames : float, keyword-only
        A cluster left with fewer frames than this when merging stops is too small to be
        a speaker: it joins the one with at least this many it scores best with, whatever
        the threshold, unless BIC vetoes every such pair (:func:`stop_linking`; 0: none).

    Returns
    -------
    ClusterResult
        `labels` per frame; `similarity` the CLR of every merge considered (a merge BIC
        declined at no more than the threshold).
    """
    labels = relabel(np.asarray(labels))
    if len(labels) == 0:
        return ClusterResult(labels, {})
    if config.link_nuisance_rank:
        # models (and the cohort) projected off the session and channel directions
        ubm = with_nuisance(ubm, config.link_nuisance_rank, key="cluster.link_nuisance_rank")
    k0 = int(labels.max()) + 1
    used = _modelled_frames(labels, scored, k0, min_scored=config.link_min_scored_frames)
    mode = _StatsScorer if config.link_scoring == "statistics" else _FrameScorer
    scorer: _LinkScorer = mode(ubm, X, labels, used, config=config)
    sizes = np.bincount(labels, minlength=k0).astype(np.float64)
    # the own ratios are those of sampled frames: frame scoring only
    own = (_OwnRatios(scorer, sizes, config=config)
           if isinstance(scorer, _FrameScorer) and config.link_self_weight > 0 else None)

    def pair(i: int, j: int) -> float:
        if own is not None:
            return a[i, j] + a[j, i] - own.offset(i, j)
        return a[i, j] + a[j, i]

    # a[i, j]: mean log-likelihood ratio of cluster i's frames under cluster j's model
    # (Z-normalised with the cohort); a + a.T is the CLR.
    a = scorer.ratios()
    clr = a + a.T
    if own is not None:  # pair() for every pair at once (the diagonal stays -inf)
        clr -= own.offsets()
    veto = (_BicVeto(bic_features, labels, k0, config=config, frame_step=frame_step)
            if config.link_bic_veto > 0 and bic_features is not None else None)
    if veto is not None:
        veto.apply_all(clr)
    lo = min_clusters if n_clusters is None else n_clusters
    hi = max_clusters if n_clusters is None else n_clusters

    def merge(i: int, j: int, active: np.ndarray) -> None:
        scorer.merge(i, j)
        if own is not None:
            own.merge(i, j)
        for m in map(int, np.flatnonzero(active)):
            if m != i:
                a[i, m] = scorer.llr(i, m)
                a[m, i] = scorer.llr(m, i)
                clr[i, m] = clr[m, i] = pair(i, m)
        if veto is not None:
            veto.absorb(i, j)
            veto.apply(clr, i, np.flatnonzero(active))

    lut, similarity, threshold = stop_linking(clr, merge, config=config, lo=lo, hi=hi,
                                              weights=sizes, min_frames=min_frames)
    if veto is not None:
        similarity = veto.reported(similarity, threshold)
    return ClusterResult(relabel(lut[labels]), {}, similarity, threshold=threshold)


def _modelled_frames(labels: np.ndarray, scored: np.ndarray | None, k0: int, *,
                     min_scored: int) -> np.ndarray | None:
    """The frames linking's speaker models are adapted to and scored on.

    Parameters
    ----------
    labels : ndarray of int64, shape (n_frames,)
        Cluster of each frame, 0..k0-1.
    scored : ndarray of bool, shape (n_frames,), or None
        The frames asked for (``cluster.link_level_db``); None: every frame.
    k0 : int
        Number of clusters.
    min_scored : int, keyword-only
        A cluster with fewer scored frames than this (``cluster.link_min_scored_frames``)
        is modelled on all of its frames.

    Returns
    -------
    ndarray of int64, shape (n_used,), or None
        Indices of the frames used, ascending; None: every frame.

    Raises
    ------
    ParameterError
        `scored` does not have one flag per frame.
    """
    if scored is None:
        return None
    scored = np.asarray(scored, dtype=bool)
    if scored.shape != labels.shape:
        raise ParameterError(f"link_clusters_clr: {len(scored)} scored flags for "
                             f"{len(labels)} frames")
    # A cluster with too few scored frames is modelled on all of its frames.
    scarce = np.bincount(labels[scored], minlength=k0) < min_scored
    return np.flatnonzero(scored | scarce[labels])


class _LinkScorer:
    """The clusters' speaker models in UBM linking, and their Z-normalised ratios.

    What both scoring modes (``cluster.link_scoring``) share: each cluster's UBM
    statistics, its MAP-adapted means and its Z-norm, all updated as clusters merge. A
    mode (:class:`_FrameScorer`, :class:`_StatsScorer`) says how a cluster's frames score
    under a model (:meth:`model_llr`) and under the cohort (:meth:`cohort_llr`), and what
    it keeps up to date when two clusters merge (:meth:`refresh`).

    Parameters
    ----------
    ubm : BackgroundModel
        With its nuisance directions already set where ``link_nuisance_rank`` asks.
    X : ndarray, shape (n_frames, D)
        Speech frames in the UBM's features.
    labels : ndarray of int64, shape (n_frames,)
        Initial cluster of each frame, 0..K-1, each present.
    used : ndarray of int64, shape (n_used,), or None
        The frames models are adapted to and scored on (:func:`_modelled_frames`); None:
        every frame.
    config : ClusterConfig, keyword-only

    Attributes
    ----------
    cn : ndarray, shape (K, C)
        Each cluster's zeroth-order UBM statistics of its used frames; a merged cluster
        holds its parts' sum (in the row of the lower index).
    cf : ndarray, shape (K, C, D)
        The first-order statistics, likewise.
    means : list of ndarray, shape (C, D) each
        Each cluster's speaker model (:meth:`adapt` of its statistics).
    cohort : ndarray, shape (n_cohort, C, D), or None
        The cohort's means with ``link_norm = "cohort"``; None: no Z-norm.
    znorm : list of tuple of float
        Each cluster's Z-norm (:meth:`norm`): its cohort ratios' mean and spread.
    """

    def __init__(self, ubm: BackgroundModel, X: np.ndarray, labels: np.ndarray,
                 used: np.ndarray | None, *, config: ClusterConfig) -> None:
        self.ubm, self.gmm, self.config = ubm, ubm.gmm, config
        k0 = int(labels.max()) + 1
        if used is None:
            self.cn, self.cf = label_statistics(self.gmm, X, labels, n_labels=k0)
        else:
            self.cn, self.cf = label_statistics(self.gmm, X[used], labels[used],
                                                n_labels=k0)
        self.means = [self.adapt(self.cn[k], self.cf[k]) for k in range(k0)]
        self.cohort = ubm.cohort if config.link_norm == "cohort" else None
        self.znorm: list[tuple[float, float]] = []  # by _normalise, once a mode is set up

    def adapt(self, n: np.ndarray, f: np.ndarray) -> np.ndarray:
        """A speaker model: the UBM's means MAP-adapted to statistics `n` (C,), `f`
        (C, D), projected off the nuisance directions with ``link_nuisance_rank``;
        shape (C, D)."""
        m = map_means(self.gmm, n, f, self.config.relevance_factor)
        return self.ubm.project(m[None])[0] if self.config.link_nuisance_rank else m

    def cohort_llr(self, k: int) -> np.ndarray:
        """Mean log-likelihood ratio of cluster `k`'s frames under each cohort model
        vs the UBM; shape (n_cohort,). Only with a cohort."""
        raise NotImplementedError

    def model_llr(self, i: int, j: int) -> float:
        """Mean log-likelihood ratio of cluster `i`'s frames under cluster `j`'s model
        vs the UBM."""
        raise NotImplementedError

    def refresh(self, i: int, j: int) -> None:
        """Cluster `j` has been folded into `i` and `i`'s model re-estimated: bring what
        the mode keeps of them up to date."""

    def _normalise(self) -> None:
        # after a mode's own set-up: the cohort ratios are the mode's
        self.znorm = [self.norm(k) for k in range(len(self.means))]

    def norm(self, k: int) -> tuple[float, float]:
        """Cluster `k`'s Z-norm, ``(mean, spread)``; ``(0.0, 1.0)`` without a cohort."""
        # How cluster k's frames score against other people's voices (a cohort of
        # training speakers) is the scale its scores are read on.
        if self.cohort is None:
            return 0.0, 1.0
        mean, spread = cohort_moments(self.cohort_llr(k))
        return float(mean), float(spread)

    def llr(self, i: int, j: int) -> float:
        """:meth:`model_llr` of `i` under `j`, Z-normalised by `i`'s cohort scores."""
        mu, sd = self.znorm[i]
        return (self.model_llr(i, j) - mu) / sd

    def ratios(self) -> np.ndarray:
        """:meth:`llr` of every ordered pair: ndarray of shape (K, K), row i's frames under
        column j's model, -inf on the diagonal."""
        k0 = len(self.means)
        a = np.full((k0, k0), -np.inf)
        for i in range(k0):
            for j in range(k0):
                if i != j:
                    a[i, j] = self.llr(i, j)
        return a

    def merge(self, i: int, j: int) -> None:
        """Fold cluster `j` into cluster `i`: pooled statistics, a re-estimated model and
        its Z-norm."""
        self.cn[i] += self.cn[j]
        self.cf[i] += self.cf[j]
        self.means[i] = self.adapt(self.cn[i], self.cf[i])
        self.refresh(i, j)
        self.znorm[i] = self.norm(i)


class _StatsScorer(_LinkScorer):
    """``cluster.link_scoring = "statistics"``: a cluster scored by its UBM statistics.

    Its frames' UBM alignment is held fixed (:func:`diarize.speakers.aligned_llr`, the
    linear scoring of GMM-UBM verification) instead of scoring a sample of its frames:
    every frame counts, merging only adds statistics, and nothing but the statistics is
    kept. Parameters as :class:`_LinkScorer`.
    """

    def __init__(self, ubm: BackgroundModel, X: np.ndarray, labels: np.ndarray,
                 used: np.ndarray | None, *, config: ClusterConfig) -> None:
        super().__init__(ubm, X, labels, used, config=config)
        self._normalise()

    def voice(self, k: int) -> VoiceStats:
        return VoiceStats(self.cn[k], self.cf[k])

    def cohort_llr(self, k: int) -> np.ndarray:
        # From the statistics alone: cn and cf already hold every merge.
        assert self.cohort is not None
        return aligned_llr(self.gmm, self.voice(k), self.cohort)

    def model_llr(self, i: int, j: int) -> float:
        return float(aligned_llr(self.gmm, self.voice(i), self.means[j][None])[0])


class _FrameScorer(_LinkScorer):
    """``cluster.link_scoring = "frames"``: a cluster scored on a sample of its frames.

    Each cluster's sample is at most ``link_max_frames`` of its used frames, evenly spaced
    over its whole time span; each frame is scored on its ``link_top_components`` UBM
    components (:class:`diarize.speakers.TopComponentScorer`). Parameters as
    :class:`_LinkScorer`.

    A merged cluster's sample is drawn from its parts' samples, so every frame ever scored
    is in the first ones, and a frame's score under a model does not depend on the frames
    scored with it: one scorer holds them all, and each frame is scored once under each
    model (the cohort's, and each cluster model until it is re-estimated), each cluster's
    ratios being means over its frames' scores.

    Attributes
    ----------
    X : ndarray, shape (n_frames, D)
        The frames (:func:`own_ratios` reads them too).
    frames : list of ndarray of int64
        Each cluster's sample: indices into `X`, ascending.
    pool : ndarray of int64, shape (P,)
        Every frame of the first samples, ascending.
    at : list of ndarray of int64
        Each cluster's sample as positions in `pool`.
    top : TopComponentScorer
        Of the frames ``X[pool]``.
    cohort_scores : ndarray, shape (n_cohort, P), or None
        Each pool frame's log-likelihood ratio under each cohort model (None: no cohort).
    model_scores : dict of int to ndarray, shape (P,)
        Each current cluster model's ratio on the pool frames (NaN on frames it is not
        asked about); a re-estimated model's is dropped until it is asked again.
    live : set of int
        The clusters not yet merged into another.
    """

    def __init__(self, ubm: BackgroundModel, X: np.ndarray, labels: np.ndarray,
                 used: np.ndarray | None, *, config: ClusterConfig) -> None:
        super().__init__(ubm, X, labels, used, config=config)
        k0 = len(self.means)
        self.X = X
        order = (np.argsort(labels, kind="stable") if used is None
                 else used[np.argsort(labels[used], kind="stable")])
        bounds = np.searchsorted(labels[order], np.arange(k0 + 1))
        self.frames = [self.sample(order[bounds[k]:bounds[k + 1]]) for k in range(k0)]
        self.pool = np.sort(np.concatenate(self.frames))
        self.at = [np.searchsorted(self.pool, f) for f in self.frames]
        self.top = TopComponentScorer(self.gmm, X[self.pool],
                                      top=config.link_top_components)
        # the cohort and every first model in one pass, the merged ones as they come
        first = (np.array(self.means) if self.cohort is None
                 else np.concatenate([self.cohort, self.means]))
        scores = self.top.logliks(first) - self.top.base
        self.cohort_scores = None if self.cohort is None else scores[:len(self.cohort)]
        self.model_scores = dict(enumerate(scores[len(first) - k0:]))
        self.live = set(range(k0))
        self._normalise()

    def sample(self, idx: np.ndarray) -> np.ndarray:
        """Evenly spaced frames of `idx` (at most ``link_max_frames``): a cluster's whole
        time span, at a bounded cost."""
        cap = self.config.link_max_frames
        return idx if len(idx) <= cap else idx[even_subsample_index(len(idx), cap)]

    def cohort_llr(self, k: int) -> np.ndarray:
        assert self.cohort_scores is not None
        # contiguous rows: each mean is the same pairwise sum as a 1-D mean's
        return np.take(self.cohort_scores, self.at[k], axis=1).mean(axis=1)

    def model_llr(self, i: int, j: int) -> float:
        if j not in self.model_scores:
            # A merged model scores only the frames of the other clusters: until it
            # changes again, they are the only ones it is asked about (a cluster's
            # sample is drawn from its parts').
            rows = np.concatenate([self.at[m] for m in sorted(self.live) if m != j])
            scores = np.full(len(self.pool), np.nan)
            scores[rows] = (self.top.logliks(self.means[j][None], rows)[0]
                            - self.top.base[rows])
            self.model_scores[j] = scores
        z = self.model_scores[j][self.at[i]]
        return float(z.sum() / len(z))  # np.mean's sum and quotient, less overhead

    def refresh(self, i: int, j: int) -> None:
        pooled = np.sort(np.concatenate([self.frames[i], self.frames[j]]))
        self.frames[i] = self.sample(pooled)
        self.at[i] = np.searchsorted(self.pool, self.frames[i])
        self.live.discard(j)
        self.model_scores.pop(i, None)
        self.model_scores.pop(j, None)


def own_ratios(scorer: _FrameScorer, *, config: ClusterConfig) -> np.ndarray:
    """Each cluster's own ratio: how alike its voice scores to itself in this recording.

    The ratio between the two halves (in time) of each cluster's sampled frames, each
    half's model adapted to that half alone, Z-normalised as :meth:`_LinkScorer.llr`. A
    few seconds of speech say little about it: it is drawn towards ``link_self_prior``
    (at which the pair score is the plain ratio) by weight ``link_self_prior_frames``
    against the frames scored. With ``link_self_recording_frames`` > 0 it is drawn
    towards the recording's own ratio instead (every cluster's, by its frames scored,
    itself drawn towards ``link_self_prior`` by that weight).

    Parameters
    ----------
    scorer : _FrameScorer
        The clusters as linking starts (before any merge).
    config : ClusterConfig, keyword-only
        ``link_self_prior``, ``link_self_prior_frames``, ``link_self_recording_frames``.

    Returns
    -------
    ndarray of float64, shape (K,)
    """
    prior, prior_frames = config.link_self_prior, config.link_self_prior_frames
    rec_frames = config.link_self_recording_frames
    frames, pool, top = scorer.frames, scorer.pool, scorer.top
    k0 = len(frames)
    # the halves' statistics in one pass
    halves = [(f[:len(f) // 2], f[len(f) // 2:]) for f in frames]
    rows = np.concatenate([np.concatenate(h) for h in halves])
    half_of = np.concatenate([np.repeat([2 * q, 2 * q + 1], [len(h[0]), len(h[1])])
                              for q, h in enumerate(halves)])
    pn, pf = label_statistics(scorer.gmm, scorer.X[rows], half_of, n_labels=2 * k0)
    raw = np.zeros(k0)
    for q, (first, second) in enumerate(halves):
        own_k = 0.0
        if len(first):
            models = np.stack([scorer.adapt(pn[2 * q + h], pf[2 * q + h]) for h in (0, 1)])
            for part, other in ((first, 1), (second, 0)):
                # a half's frames under the other half's model
                at_part = np.searchsorted(pool, part)
                z = top.logliks(models[other][None], at_part)[0] - top.base[at_part]
                mu, sd = 0.0, 1.0
                if scorer.cohort_scores is not None:
                    c_mean, c_spread = cohort_moments(
                        np.take(scorer.cohort_scores, at_part, axis=1).mean(axis=1))
                    mu, sd = float(c_mean), float(c_spread)
                own_k += (float(z.sum() / len(z)) - mu) / sd
        raw[q] = own_k
    m = np.array([len(f) for f in frames], dtype=np.float64)
    centre = prior
    if rec_frames > 0:
        # The recording's own ratio, every cluster's by its frames, is what a short
        # cluster's is drawn towards: how alike a voice scores to itself here (a room,
        # a far microphone lower it for every voice), itself drawn towards the prior.
        centre = (float(m @ raw) + rec_frames * prior) / (float(m.sum()) + rec_frames)
    return (m * raw + prior_frames * centre) / (m + prior_frames)


class _OwnRatios:
    """The clusters' own ratios in UBM linking (``cluster.link_self_weight`` > 0), as
    clusters merge, and what they take off a pair's CLR.

    Each pair's CLR is read against the two clusters' own ratios (:func:`own_ratios`):
    the pair scores ``CLR - link_self_weight * (mean own ratio - link_self_prior)``, since
    what the recording adds to every ratio, it adds to a voice's ratio with itself too.

    Parameters
    ----------
    scorer : _FrameScorer
        The clusters as linking starts.
    sizes : ndarray of float64, shape (K,)
        Each cluster's frames (every one, scored or not).
    config : ClusterConfig, keyword-only

    Attributes
    ----------
    own : ndarray of float64, shape (K,)
        Each cluster's own ratio.
    frames : ndarray of float64, shape (K,)
        Each cluster's frames, as merges pool them.
    """

    def __init__(self, scorer: _FrameScorer, sizes: np.ndarray, *,
                 config: ClusterConfig) -> None:
        self.weight, self.prior = config.link_self_weight, config.link_self_prior
        self.own = own_ratios(scorer, config=config)
        self.frames = sizes.copy()

    def offset(self, i: int, j: int) -> float:
        """What pair `i`, `j`'s CLR is lowered by."""
        return self.weight * (0.5 * (self.own[i] + self.own[j]) - self.prior)

    def offsets(self) -> np.ndarray:
        """:meth:`offset` of every pair: ndarray of shape (K, K)."""
        return self.weight * (0.5 * (self.own[:, None] + self.own[None, :]) - self.prior)

    def merge(self, i: int, j: int) -> None:
        """Cluster `j` has been folded into `i`."""
        # The mean of the parts' own ratios, by their frames: the halves of a merged
        # cluster would straddle its parts, and a wrong merge, lowering them, would
        # invite the next.
        own, frames = self.own, self.frames
        ni, nj = frames[i], frames[j]
        own[i] = (ni * own[i] + nj * own[j]) / (ni + nj)
        frames[i] = ni + nj


#: Subtracted from the score of a pair that BIC vetoes: it is merged only when a count
#: bound forces merges, and then after every pair that is not vetoed.
VETO_OFFSET = 1e6
#: Frames whose clustering features the veto's statistics take at once (bounds the
#: float64 copy at about 10 MB with 20 features).
VETO_BLOCK_FRAMES = 65536


class _BicVeto:
    """BIC's consent to each linking merge (``cluster.link_bic_veto``): full-covariance
    Gaussians of the clusters' clustering features, merged as linking merges them.

    A pair whose clustering features one full-covariance Gaussian per cluster fits better
    than one for both, by more than ``link_bic_veto`` times the BIC penalty (the penalty
    of :func:`agglomerative_bic`, weighed by the speech's duration), is not merged unless
    a count bound forces it (then after every pair BIC consents to): its score is lowered
    by :data:`VETO_OFFSET`. The ratio compares voices through the UBM, and a channel
    unlike the UBM's training speech makes every pair alike to it; BIC compares them
    through the recording's own frames.
    """

    def __init__(self, X: np.ndarray, labels: np.ndarray, k0: int, *, config: ClusterConfig,
                 frame_step: float) -> None:
        d = X.shape[1]
        n = np.bincount(labels, minlength=k0).astype(np.float64)
        s = np.zeros((k0, d))
        ss = np.zeros((k0, d, d))
        # in blocks of frames: a recording's frames are never copied whole
        for a in range(0, len(X), VETO_BLOCK_FRAMES):
            xb = np.asarray(X[a:a + VETO_BLOCK_FRAMES], dtype=np.float64)
            lb = labels[a:a + VETO_BLOCK_FRAMES]
            for k in np.flatnonzero(np.bincount(lb, minlength=k0)):
                x = xb[lb == k]
                s[k] += x.sum(0)
                ss[k] += x.T @ x
        self.state = _BicState((n, s, ss), diag=config.covariance == "diag")
        self.scale, self.lam = _bic_penalty(float(n.sum()), config.link_bic_veto,
                                            config=config, frame_step=frame_step)

    def vetoed(self, i: int, js: np.ndarray) -> np.ndarray:
        """Whether BIC says cluster `i` and each of `js` are two voices."""
        st = self.state
        return st.two_voices(st.pair_cost(i, js), st.n[i] + st.n[js], scale=self.scale,
                             lam=self.lam)

    def apply(self, score: np.ndarray, i: int, js: np.ndarray) -> None:
        js = js[(js != i) & np.isfinite(score[i, js])]
        if len(js):
            bad = js[self.vetoed(i, js)]
            score[i, bad] -= VETO_OFFSET
            score[bad, i] = score[i, bad]

    def apply_all(self, score: np.ndarray) -> None:
        """:meth:`apply` to every pair of clusters of `score` (K, K)."""
        for i in range(len(score) - 1):
            self.apply(score, i, np.arange(i + 1, len(score)))

    def absorb(self, i: int, j: int) -> None:
        self.state._absorb(i, j)

    @staticmethod
    def reported(similarity: dict[int, float], threshold: float) -> dict[int, float]:
        """Merge scores as linking reports them: a merge BIC declined at no more than the
        threshold it could not pass (its ratio may be above it)."""
        return {k: (v if v > -VETO_OFFSET / 2 else min(v + VETO_OFFSET, threshold))
                for k, v in similarity.items()}


def _agglomerate(score: np.ndarray, merge, *, threshold: float, lo: int, hi: int,
                 sizes: np.ndarray | None = None, min_size: float = 0.0
                 ) -> tuple[np.ndarray, dict[int, float]]:
    """Bottom-up merging of the best-scoring pair of clusters, shared by the linking stages.

    With `sizes` and `min_size`, merging goes on past the threshold for the clusters
    smaller than `min_size`: each joins the one of at least `min_size` it scores best
    with, best pair first (scores re-read after each merge), while any such pair scores
    above ``-VETO_OFFSET / 2`` (a pair BIC vetoed is not merged for this), down to `lo`
    clusters. Small clusters never join each other, so the clusters of at least
    `min_size` where the threshold stopped are the ones left. These merges are not in
    `similarity`.

    Parameters
    ----------
    score : ndarray, shape (K, K)
        Symmetric pair scores, -inf on the diagonal; changed in place.
    merge : callable ``(i, j, active)``
        Folds cluster j into cluster i (i < j) and rewrites row and column i of `score`
        against the clusters still `active` (j is no longer among them); row and column j
        are cleared afterwards.
    threshold : float, keyword-only
        Merging stops when the best score is at or below this, once at most `hi`
        clusters are left.
    lo, hi : int, keyword-only
        Bounds on the number of clusters left (merging is forced above `hi`).
    sizes : ndarray, shape (K,), optional, keyword-only
        Each cluster's size (frames); merged clusters add up.
    min_size : float, keyword-only
        Clusters smaller than this join their best partner among the larger ones at the
        end (0: none).

    Returns
    -------
    lut : ndarray of int, shape (K,)
        Final cluster of each initial cluster, in order of the surviving indices.
    similarity : dict of int to float
        The score of the merge to k clusters, for every merge made or declined by the
        threshold.
    """
    k0 = len(score)
    size = None if sizes is None else np.array(sizes, dtype=np.float64)
    members = [[i] for i in range(k0)]
    active = np.ones(k0, dtype=bool)
    similarity: dict[int, float] = {}

    def join(i: int, j: int) -> None:
        i, j = min(i, j), max(i, j)
        active[j] = False
        merge(i, j, active)
        score[j, :] = -np.inf
        score[:, j] = -np.inf
        score[i, i] = -np.inf
        members[i].extend(members[j])
        members[j] = []
        if size is not None:
            size[i] += size[j]

    while active.sum() > max(lo, 1):
        k = int(active.sum())
        i, j = divmod(int(np.argmax(score)), k0)
        if i == j:
            # every pair left scores -inf: no merge is wanted, but a count bound may still
            # force one, of the first two clusters left
            if k <= hi:
                break
            i, j = (int(x) for x in np.flatnonzero(active)[:2])
        best = float(score[i, j])
        similarity[k - 1] = best
        if best <= threshold and k <= hi:
            break
        join(i, j)
    while size is not None and min_size > 0 and active.sum() > max(lo, 1):
        small = active & (size < min_size)
        large = active & ~small
        if not small.any() or not large.any():
            break
        # a small cluster and a large one, BIC's vetoes left out
        pairs = np.where(small[:, None] & large[None, :], score, -np.inf)
        i, j = divmod(int(np.argmax(pairs)), k0)
        if not pairs[i, j] > -VETO_OFFSET / 2:
            break
        join(i, j)
    lut = np.empty(k0, dtype=np.int64)
    for new, c in enumerate(np.flatnonzero(active)):
        lut[members[c]] = new
    return lut, similarity


#: Most EM iterations of the two-Gaussian fit of link_stop 'mixture', and the parameter
#: change below which it has converged: two overlapping components converge slowly (50
#: iterations left a fifth of the dev recordings' thresholds over 0.05 from the limit),
#: and a fit to at most max_initial_clusters**2 / 2 scores costs nothing next to linking.
_MIXTURE_ITERATIONS = 2000
_MIXTURE_TOL = 1e-9
#: Variance floor of each Gaussian (score units squared): a component of a few equal
#: scores must not collapse onto them.
_MIXTURE_MIN_VAR = 1e-2


def stop_linking(score: np.ndarray, merge, *, config: ClusterConfig, lo: int, hi: int,
                 weights: np.ndarray | None = None, min_frames: float = 0.0
                 ) -> tuple[np.ndarray, dict[int, float], float]:
    """Bottom-up linking (:func:`_agglomerate`), stopped where ``config.link_stop`` says.

    ``"threshold"`` stops at ``config.link_threshold``. The other rules decide from the
    recording's own scores, within ``link_threshold +- link_stop_width``:
    ``"mixture"`` takes the threshold where a two-Gaussian fit to the initial pair scores
    crosses (:func:`mixture_threshold`), ``"gap"`` the count that the widest range of
    thresholds in that band gives (:func:`gap_cut`).

    Parameters
    ----------
    score : ndarray, shape (K, K)
        Symmetric pair scores of the initial clusters, -inf on the diagonal; changed in
        place.
    merge : callable ``(i, j, active)``
        As for :func:`_agglomerate`.
    config : ClusterConfig, keyword-only
    lo, hi : int, keyword-only
        Bounds on the number of clusters left.
    weights : ndarray, shape (K,), optional, keyword-only
        Each initial cluster's amount of speech (frames); a pair's score counts in the
        mixture fit by the product of its two weights (default: all equal).
    min_frames : float, keyword-only
        With `weights` and ``"threshold"`` or ``"mixture"``: clusters with less speech
        than this join the larger cluster they score best with once the rule has stopped
        (:func:`_agglomerate`'s `min_size`; 0: none). ``"gap"`` chooses its count from
        merges already made past its cut, and leaves them to resegmentation.

    Returns
    -------
    lut : ndarray of int, shape (K,)
        Final cluster of each initial cluster.
    similarity : dict of int to float
        The score of the merge to k clusters, for every merge made or declined.
    threshold : float
        The threshold the recording's count corresponds to (``link_threshold`` for
        ``"threshold"``).
    """
    t, w = config.link_threshold, config.link_stop_width
    if config.link_stop == "threshold" or lo >= hi or w == 0:
        lut, similarity = _agglomerate(score, merge, threshold=t, lo=lo, hi=hi,
                                       sizes=weights, min_size=min_frames)
        return lut, similarity, t
    k0 = len(score)
    if config.link_stop == "mixture":
        iu = np.triu_indices(k0, 1)
        pw = None if weights is None else weights[iu[0]] * weights[iu[1]]
        # pairs BIC vetoed (cluster.link_bic_veto) are not scores of this scale
        fair = score[iu] > -VETO_OFFSET / 2
        fitted = mixture_threshold(score[iu][fair], None if pw is None else pw[fair])
        tau = t if fitted is None else float(np.clip(fitted, t - w, t + w))
        lut, similarity = _agglomerate(score, merge, threshold=tau, lo=lo, hi=hi,
                                       sizes=weights, min_size=min_frames)
        return lut, similarity, tau
    # "gap": merge down as far as the lowest threshold of the band would, remembering the
    # order, then keep the first merges of the chosen cut.
    pairs: list[tuple[int, int]] = []

    def logged(i: int, j: int, active: np.ndarray) -> None:
        pairs.append((i, j))
        merge(i, j, active)

    _, similarity = _agglomerate(score, logged, threshold=t - w, lo=lo, hi=hi)
    # similarity[k - 1] is the merge from k clusters: in merge order, from k0 down
    sequence = [similarity[k] for k in sorted(similarity, reverse=True)]
    n_merges, tau = gap_cut(sequence, n_made=len(pairs), n_forced=max(0, k0 - hi),
                            threshold=t, width=w)
    lut = np.arange(k0)
    for i, j in pairs[:n_merges]:
        lut[lut == j] = i
    _, lut = np.unique(lut, return_inverse=True)
    # the merges kept and the first one declined, as _agglomerate reports them
    kept = {k: v for k, v in similarity.items() if k >= k0 - n_merges - 1}
    return lut.astype(np.int64), kept, tau


def mixture_threshold(scores: np.ndarray, weights: np.ndarray | None = None
                      ) -> float | None:
    """Where a two-Gaussian fit to a recording's pair scores crosses posterior 0.5.

    Pairs of one voice score high and pairs of two voices low; a 1-D mixture of two
    Gaussians (weighted EM from the weighted quartiles, run to convergence) is
    fitted to the scores, and the point between the two means where both components are
    equally probable is the recording's own threshold.

    Parameters
    ----------
    scores : ndarray, shape (n,)
        Pair scores (non-finite ones are ignored).
    weights : ndarray, shape (n,), optional
        Non-negative weight of each score (default: all equal).

    Returns
    -------
    float or None
        The crossing, or None with fewer than 3 finite scores, no spread, or no crossing
        between the two means.
    """
    x = np.asarray(scores, dtype=np.float64)
    wt = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=np.float64)
    keep = np.isfinite(x) & (wt > 0)
    x, wt = x[keep], wt[keep]
    if len(x) < 3 or np.ptp(x) <= 0:
        return None
    wt = wt / wt.sum()
    order = np.argsort(x, kind="stable")
    cum = np.cumsum(wt[order])
    mu = x[order][np.searchsorted(cum, [0.25, 0.75])].astype(np.float64)
    if mu[0] == mu[1]:
        mu = np.array([x.min(), x.max()])
    centre = float(wt @ x)
    var = np.full(2, max(float(wt @ (x - centre) ** 2), _MIXTURE_MIN_VAR))
    pi = np.array([0.5, 0.5])
    for _ in range(_MIXTURE_ITERATIONS):
        ll = -0.5 * ((x[:, None] - mu) ** 2 / var + np.log(2 * np.pi * var)) + np.log(pi)
        post = np.exp(ll - ll.max(axis=1, keepdims=True))
        post /= post.sum(axis=1, keepdims=True)
        resp = post * wt[:, None]
        nk = resp.sum(axis=0)
        if np.any(nk <= 0):
            return None
        before = np.concatenate([pi, mu, var])
        pi = nk / nk.sum()
        mu = (resp * x[:, None]).sum(axis=0) / nk
        var = np.maximum((resp * (x[:, None] - mu) ** 2).sum(axis=0) / nk, _MIXTURE_MIN_VAR)
        if np.max(np.abs(np.concatenate([pi, mu, var]) - before)) < _MIXTURE_TOL:
            break
    a, b = np.argsort(mu)
    # log(pi_b N(x; b)) - log(pi_a N(x; a)) = 0: a quadratic in x
    qa = 0.5 * (1 / var[a] - 1 / var[b])
    qb = mu[b] / var[b] - mu[a] / var[a]
    qc = (0.5 * (mu[a] ** 2 / var[a] - mu[b] ** 2 / var[b])
          + np.log(pi[b] / pi[a]) - 0.5 * np.log(var[b] / var[a]))
    roots = np.roots([qa, qb, qc]) if qa != 0 else np.array([-qc / qb])
    roots = np.real(roots[np.isreal(roots)])
    inside = roots[(roots >= mu[a]) & (roots <= mu[b])]
    return float(inside[0]) if len(inside) else None


def gap_cut(sequence: list[float], *, n_made: int, n_forced: int, threshold: float,
            width: float) -> tuple[int, float]:
    """How many merges to keep: the cut that the widest range of thresholds within
    ``threshold +- width`` gives.

    Merging with threshold tau makes the forced merges, then every merge until the first
    whose score is at or below tau; so the cut after p merges is made by every tau in
    ``[sequence[p], min(sequence[n_forced:p]))``. Of the cuts whose range meets the band,
    the one with the widest overlap is kept (ties: the one whose range holds `threshold`,
    then the fewest merges): the count least moved by the threshold near its global
    value, which is the count after the largest gap between merge scores in the band.

    Parameters
    ----------
    sequence : list of float
        The merge scores in merge order (:func:`_agglomerate`'s similarity from k0 down),
        the last one declined when merging stopped at a threshold.
    n_made : int, keyword-only
        Merges made (the first `n_made` of `sequence`).
    n_forced : int, keyword-only
        Leading merges made whatever the score (clusters above the maximum count).
    threshold, width : float, keyword-only
        The band of thresholds considered.

    Returns
    -------
    n_merges : int
        Merges to keep, in ``[min(n_forced, n_made), n_made]``.
    tau : float
        A threshold that gives that cut: the middle of its range within the band.
    """
    lo_band, hi_band = threshold - width, threshold + width
    best: tuple[float, bool] | None = None
    choice = (min(n_forced, n_made), threshold)
    upper = np.inf
    for p in range(min(n_forced, n_made), n_made + 1):
        lower = sequence[p] if p < len(sequence) else -np.inf
        a, b = max(lower, lo_band), min(upper, hi_band)
        key = (b - a, lower <= threshold < upper)
        if b > a and (best is None or key > best):
            best, choice = key, (p, 0.5 * (a + b))
        if p < len(sequence):
            upper = min(upper, sequence[p])
    return choice


def map_means(gmm, n: np.ndarray, first: np.ndarray, relevance_factor: float) -> np.ndarray:
    """MAP-adapted means (C, D) of one cluster from its statistics (C,), (C, D)."""
    from .gmm import map_adapted_means

    return map_adapted_means(gmm.means_, n, first, relevance_factor=relevance_factor)
