"""Viterbi resegmentation with per-speaker GMMs.

Each speaker gets a diagonal GMM trained on its frames; frame log-likelihoods are summed
over short blocks (the smoothing that makes posteriors stable), and a Viterbi pass over
the blocks picks one speaker per block with a penalty for every change of speaker and a
minimum turn length (each speaker is a left-to-right chain of states). Fitting and
decoding alternate for a few rounds.
"""

from __future__ import annotations

from concurrent.futures import Executor, wait
from dataclasses import dataclass, field
from operator import add, ge

import numpy as np

from ._threads import worker_pool
from .frames import even_subsample_index, frame_count, nearest_label, relabel, runs
from .config import ResegConfig
from .gmm import GaussianMixture, map_adapted_means
from .speakers import linear_scores, map_offsets, unit_statistics

#: Entries (float64) of the per-stretch (b, C, D) arrays that guided scoring makes at a
#: time: small enough to stay in cache, large enough that numpy's calls are few.
SCORE_BLOCK_ENTRIES = 1 << 18


@dataclass
class ResegResult:
    """Outcome of resegmentation.

    Attributes
    ----------
    labels : ndarray of int, shape (n_speech_frames,)
        Speaker of each speech frame, 0..n_speakers-1.
    posteriors : ndarray of float32, shape (n_speech_frames, n_speakers), or None
        Smoothed speaker posteriors; None where the speakers were not fitted (labels
        decided elsewhere, :class:`diarize.pipeline.Diarizer` with ``keep_models``
        False): then `models` is empty too.
    models : list of GaussianMixture
    fitted_on : ndarray of int, shape (n_speech_frames,), or None
        The labels the models were fitted on (those of the last decoding but one, where
        resegmentation stopped before converging): model ``i`` on the frames labelled
        ``fitted_as[i]``. None: unknown.
    fitted_as : ndarray of int, shape (n_speakers,), or None
    loglik : ndarray, shape (n_blocks, n_speakers), or None
        The block log-likelihoods under `models` (:func:`block_loglik`) that the
        posteriors come from; None: not kept (no models).
    """

    labels: np.ndarray
    posteriors: np.ndarray | None
    models: list = field(default_factory=list)
    fitted_on: np.ndarray | None = None
    fitted_as: np.ndarray | None = None
    loglik: np.ndarray | None = None


def fit_speaker_models(X: np.ndarray, labels: np.ndarray, *, config: ResegConfig,
                       seed: int = 0, only: np.ndarray | None = None,
                       pool: Executor | None = None) -> list[GaussianMixture]:
    """One diagonal-covariance GMM per label value present in `labels`.

    Parameters
    ----------
    X : ndarray, shape (n_frames, n_features)
    labels : ndarray of int, shape (n_frames,)
    config : ResegConfig, keyword-only
        The models' size (n_components, frames_per_component), the frames fitted on
        (max_frames) and the EM's stopping rule (max_iter, tol).
    seed : int, keyword-only
        Seed of each model's k-means++ initialisation.
    only : ndarray of int, optional, keyword-only
        Labels to model (default: all, 0..labels.max()).
    pool : Executor, optional, keyword-only
        Threads to fit the models on, side by side (each is fitted as alone).

    Returns
    -------
    list of GaussianMixture, one per label modelled, in the order of `only`.
    """
    def fit(k: int) -> GaussianMixture:
        x = X[labels == k]
        if len(x) > config.max_frames:
            x = x[even_subsample_index(len(x), config.max_frames)]
        n_comp = int(max(1, min(config.n_components, len(x) // config.frames_per_component)))
        model = GaussianMixture(n_comp, covariance_type="diag", max_iter=config.max_iter,
                                random_state=seed, init_params="k-means++", tol=config.tol,
                                dtype=np.float32)
        # A few EM rounds are enough for decoding; non-convergence is expected. Said on
        # the model, not with a warnings filter: those are the process's, and calls in
        # other threads would see them come and go.
        model.warn_unconverged = False
        return model.fit(x)

    ks = list(range(int(labels.max()) + 1) if only is None else only)
    if pool is None:
        return list(map(fit, ks))
    futures = [pool.submit(fit, k) for k in ks]
    try:
        return [f.result() for f in futures]
    finally:
        # Interrupted (Ctrl-C): the fits already running end here, not after the call
        for f in futures:
            f.cancel()
        wait(futures)


def block_loglik(X: np.ndarray, models: list, *, block: int,
                 pool: Executor | None = None) -> np.ndarray:
    """Frame log-likelihoods under each model, summed over blocks of `block` frames
    (the models scored side by side on the threads of `pool`, if given).

    Returns
    -------
    ndarray, shape (ceil(n_frames / block), n_models)
    """
    n = len(X)
    nb = -(-n // block)
    starts = np.arange(0, n, block)

    def score(m: GaussianMixture) -> np.ndarray:
        return np.add.reduceat(m.score_samples(X), starts)

    out = np.zeros((nb, len(models)))
    for k, col in enumerate(map(score, models) if pool is None else pool.map(score, models)):
        out[:, k] = col
    return out


def viterbi(ll: np.ndarray, *, switch_penalty: float, min_blocks: int) -> np.ndarray:
    """Best speaker sequence with a switch penalty and a minimum run length.

    Parameters
    ----------
    ll : ndarray, shape (n_blocks, n_speakers)
        Log-likelihood of each block under each speaker.
    switch_penalty : float, keyword-only
    min_blocks : int, keyword-only
        Shortest run (in blocks) of one speaker, except at the start and end.

    Returns
    -------
    ndarray of int, shape (n_blocks,)
    """
    T, K = ll.shape
    if K == 1 or T == 0:
        return np.zeros(T, dtype=np.int64)
    m = max(1, min_blocks)
    if K * m <= _SCALAR_VITERBI_STATES and np.isfinite(ll).all():
        return _viterbi_scalar(ll, switch_penalty=float(switch_penalty), m=m)
    return _viterbi_arrays(ll, switch_penalty=switch_penalty, m=m)


#: Most states (speakers x chain length) that :func:`viterbi` steps through as Python
#: floats: below it, a step costs less than the dozen numpy calls on tiny arrays.
_SCALAR_VITERBI_STATES = 64


def _viterbi_scalar(ll: np.ndarray, *, switch_penalty: float, m: int) -> np.ndarray:
    """:func:`viterbi` for finite `ll`, one step at a time on lists of Python floats
    (doubles).

    The same comparisons and the same additions in the same order as
    :func:`_viterbi_arrays`, so the same path: with finite log-likelihoods the chain ends
    stay finite, and the two best of them decide who a speaker's new run comes from; only
    where two are equal is numpy's sort asked, as there. ``max(a, b)`` is ``a`` unless
    ``b > a``: ``np.where(a >= b, a, b)`` for values that are never NaN.
    """
    T, K = ll.shape
    rows = ll.tolist()
    # cols[j][k]: speaker k's chain state j (the array version's delta[k, j]).
    cols = [[-np.inf] * K for _ in range(m)]
    cols[m - 1] = list(rows[0])  # the first run may be short
    cols[0] = list(rows[0])
    from_rows = [[0] * K]
    stay_rows = [[False] * K]
    p = switch_penalty
    for t in range(1, T):
        last = cols[m - 1]
        b1v = max(last)
        b1 = last.index(b1v)
        last[b1] = -np.inf
        b2v = max(last)
        b2 = last.index(b2v)
        last[b1] = b1v
        if last.count(b1v) > 1 or last.count(b2v) > 1:  # a tie: numpy's order decides
            order = np.argsort(np.array(last))[::-1]
            b1, b2 = int(order[0]), int(order[1])
            b1v, b2v = last[b1], last[b2]
        src = [b1] * K
        src[b1] = b2
        enter = [b1v - p] * K
        enter[b1] = b2v - p
        row = rows[t]
        if m > 1:
            stay_rows.append(list(map(ge, last, cols[m - 2])))
            new = [list(map(add, enter, row))]
            new.extend(list(map(add, cols[j - 1], row)) for j in range(1, m - 1))
            new.append(list(map(add, map(max, last, cols[m - 2]), row)))
            cols = new
        else:
            stay_rows.append(list(map(ge, last, enter)))
            cols = [list(map(add, map(max, last, enter), row))]
        from_rows.append(src)
    delta = np.ascontiguousarray(np.array(cols).T)
    return _backtrack(delta, np.array(stay_rows, dtype=bool),
                      np.array(from_rows, dtype=np.int32), m=m)


def _viterbi_arrays(ll: np.ndarray, *, switch_penalty: float, m: int) -> np.ndarray:
    """:func:`viterbi` on arrays of all the speakers' states at once."""
    T, K = ll.shape
    delta = np.full((K, m), -np.inf)
    delta[:, m - 1] = ll[0]  # the first run may be short
    delta[:, 0] = np.maximum(delta[:, 0], ll[0])
    from_spk = np.zeros((T, K), dtype=np.int32)   # source speaker entering chain state 0
    stay = np.zeros((T, K), dtype=bool)           # last state reached from itself
    ar = np.arange(K)
    for t in range(1, T):
        last = delta[:, m - 1]
        order = np.argsort(last)[::-1]
        b1, b2 = order[0], order[1]
        src = np.where(ar == b1, b2, b1)
        enter = last[src] - switch_penalty
        new = np.empty_like(delta)
        new[:, 0] = enter
        if m > 1:
            new[:, 1:m - 1] = delta[:, 0:m - 2]
            st = delta[:, m - 1] >= delta[:, m - 2]
            new[:, m - 1] = np.where(st, delta[:, m - 1], delta[:, m - 2])
        else:
            st = delta[:, 0] >= enter
            new[:, 0] = np.where(st, delta[:, 0], enter)
        stay[t] = st
        from_spk[t] = src
        new += ll[t][:, None]
        delta = new
    return _backtrack(delta, stay, from_spk, m=m)


def _backtrack(delta: np.ndarray, stay: np.ndarray, from_spk: np.ndarray, *, m: int
               ) -> np.ndarray:
    """The speaker path of a Viterbi pass: `delta` (K, m) the last step's scores, `stay`
    and `from_spk` (T, K) each step's choices."""
    T = len(stay)
    # backtrack: end in any state of any speaker (the last run may be short)
    k, j = (int(i) for i in np.unravel_index(int(np.argmax(delta)), delta.shape))
    path = np.empty(T, dtype=np.int64)
    for t in range(T - 1, -1, -1):
        path[t] = k
        if t == 0:
            break
        if m == 1:
            if not stay[t, k]:
                k = from_spk[t, k]
            continue
        if j == m - 1:
            j = m - 1 if stay[t, k] else m - 2
        elif j > 0:
            j -= 1
        else:
            k = from_spk[t, k]
            j = m - 1
    return path


def resegment(X: np.ndarray, labels: np.ndarray, *, config: ResegConfig, frame_step: float,
              seed: int = 0, min_speakers: int = 1) -> ResegResult:
    """Iterated (fit speaker GMMs, Viterbi) over the speech frames.

    Parameters
    ----------
    X : ndarray, shape (n_speech_frames, n_features)
    labels : ndarray of int, shape (n_speech_frames,)
        Initial speaker of each frame (from clustering).
    frame_step : float, keyword-only
        Seconds per frame.
    min_speakers : int, keyword-only
        Fewest speakers to keep (a count asked for; at most those in `labels`): the
        largest clusters are kept whatever ``config.min_speaker`` says, and a speaker the
        decoder leaves without a block keeps the frames it had.

    Returns
    -------
    ResegResult
    """
    if config.iterations == 0:  # no resegmentation: the clustering's labels are final
        labels = relabel(labels)
        n_speakers = int(labels.max()) + 1 if len(labels) else 0
        post: np.ndarray = np.zeros((len(labels), n_speakers), dtype=np.float32)
        post[np.arange(len(labels)), labels] = 1.0
        return ResegResult(labels, post, [])
    block = max(1, int(config.block_frames))
    min_blocks = max(1, int(round(config.decoder_min_turn / (frame_step * block))))
    labels = relabel(labels)
    min_frames = config.min_speaker / frame_step
    models: list = []
    fitted_on = labels
    kept: np.ndarray = np.zeros(0, dtype=np.int64)
    ll = np.zeros((0, 1))
    path = np.zeros(0, dtype=np.int64)
    for _ in range(max(1, config.iterations)):
        # A "speaker" with less speech than min_speaker is dropped: its frames go to the
        # speakers the decoder prefers. Too little speech to model is a clustering
        # artefact far more often than a real voice.
        counts = np.bincount(labels)
        kept = np.flatnonzero(counts >= min(min_frames, int(np.max(counts))))
        if len(kept) < min_speakers:
            # A count was asked: the largest clusters are speakers however little they say.
            largest = np.argsort(-counts, kind="stable")[:min_speakers]
            kept = np.union1d(kept, largest)
        with worker_pool() as pool:  # the models side by side: the same models
            models = fit_speaker_models(X, labels, config=config, seed=seed, only=kept,
                                        pool=pool)
            ll = block_loglik(X, models, block=block, pool=pool)
        path = viterbi(ll, switch_penalty=config.switch_penalty, min_blocks=min_blocks)
        frame_path = np.repeat(path, block)[: len(X)]
        if min_speakers > 1:
            frame_path = _restore_speakers(frame_path, labels, kept, min_speakers=min_speakers)
        new = relabel(frame_path)
        converged = np.array_equal(new, labels)
        fitted_on = labels
        labels = new
        if converged:
            break
    # Keep only the speakers the last decoding used, in the order of `labels`.
    _, first = np.unique(frame_path, return_index=True)
    keep = frame_path[np.sort(first)]
    post = _frame_posteriors(ll[:, keep], block=block, n_frames=len(X))
    return ResegResult(labels, post, [models[k] for k in keep], fitted_on=fitted_on,
                       fitted_as=kept[keep], loglik=ll[:, keep])


def _frame_posteriors(ll: np.ndarray, *, block: int, n_frames: int) -> np.ndarray:
    """Speaker posteriors of each frame, float32 (n_frames, n_speakers), from the block
    log-likelihoods `ll` (n_blocks, n_speakers) of blocks of `block` frames."""
    post = np.exp(ll - ll.max(axis=1, keepdims=True))
    post /= post.sum(axis=1, keepdims=True)
    return np.repeat(post, block, axis=0)[:n_frames].astype(np.float32)


def _restore_speakers(frame_path: np.ndarray, labels: np.ndarray, kept: np.ndarray, *,
                      min_speakers: int) -> np.ndarray:
    """`frame_path` (model index per frame) with speakers the decoder left out given back
    the frames they had in `labels` (their label values are `kept`), largest first, until
    `min_speakers` are used: a count asked for outlives the decoder's preferences."""
    used = set(np.unique(frame_path).tolist())
    if len(used) >= min_speakers:
        return frame_path
    out = frame_path.copy()
    sizes = np.array([np.count_nonzero(labels == k) for k in kept])
    for m in np.argsort(-sizes, kind="stable"):
        if len(used) >= min_speakers:
            break
        if int(m) not in used and sizes[m] > 0:
            out[labels == kept[m]] = m
            # Recounted: the frames given back may have held all of another speaker's.
            used = set(np.unique(out).tolist())
    return out


def shape_turns(labels: np.ndarray, *, modelled: np.ndarray, speech: np.ndarray,
                config: ResegConfig, frame_step: float, min_speakers: int = 0) -> np.ndarray:
    """The speaker of every frame of the recording, in runs that make turns.

    The decoder labels the modelled frames; speech frames it did not model take their
    nearest labelled frame's speaker, every other frame none, and no speaker run is
    shorter than ``config.min_output_turn`` (:func:`absorb_short_turns`).

    Parameters
    ----------
    labels : ndarray of int, shape (n_modelled,)
        Speaker of each modelled frame (:attr:`ResegResult.labels`).
    modelled : ndarray of bool, shape (n_frames,)
        The frames `labels` are of.
    speech : ndarray of bool, shape (n_frames,)
        The frames a turn may cover.
    config : ResegConfig, keyword-only
    frame_step : float, keyword-only
        Seconds per frame.
    min_speakers : int, keyword-only
        A count asked for (0: none): a speaker's last run is not absorbed while no more
        than this many speakers are left (:func:`absorb_short_turns`).

    Returns
    -------
    ndarray of int64, shape (n_frames,)
        Speaker of every frame, -1 where nobody speaks.
    """
    out = np.full(len(modelled), -1, dtype=np.int64)
    out[np.flatnonzero(modelled)] = labels
    out = nearest_label(out, speech)
    out[~speech] = -1  # pauses inside phrase groups end turns
    if min_speakers > 1:
        out = _give_missing_speakers(out, labels, modelled=modelled, min_speakers=min_speakers)
    return absorb_short_turns(out, min_frames=frame_count(config.min_output_turn, frame_step),
                              min_speakers=min_speakers)


def _give_missing_speakers(out: np.ndarray, labels: np.ndarray, *, modelled: np.ndarray,
                          min_speakers: int) -> np.ndarray:
    """`out` with speakers that have modelled frames but no speech frame given a turn,
    until `min_speakers` speakers have speech.

    The speech detector's refined boundaries can leave a speaker's modelled frames all in
    pauses. Such a speaker (most modelled frames first) takes the run of the speaker with
    the most speech that lies nearest its modelled frames, or, where that speaker has one
    run only, the half of it nearer them: a count asked for is kept where there is speech
    for it.
    """
    out = out.copy()
    if not (out >= 0).any():
        return out
    position = np.flatnonzero(modelled)
    sizes = np.bincount(labels)
    for k in np.argsort(-sizes, kind="stable"):
        present = np.unique(out[out >= 0])
        if len(present) >= min_speakers:
            break
        if k in present or sizes[k] == 0:
            continue
        mine = position[labels == k]  # sorted: the frames where speaker k was modelled
        donor = int(np.argmax(np.bincount(out[out >= 0])))
        s, e, v = runs(out)
        own = [(int(a), int(b)) for a, b, x in zip(s, e, v) if x == donor]

        def distance(a: int, b: int) -> int:
            """Frames from the run [a, b) to the nearest of speaker k's modelled frames."""
            i = int(np.searchsorted(mine, a))
            after = int(mine[i]) if i < len(mine) else None
            gaps = [] if after is None else [max(0, after - (b - 1))]
            if i > 0:
                gaps.append(a - int(mine[i - 1]))
            return min(gaps)

        if len(own) > 1:
            a, b = min(own, key=lambda r: (distance(*r), r[0]))
        else:
            (a0, b0), = own
            if b0 - a0 < 2:
                break  # one frame cannot be shared
            mid = (a0 + b0) // 2
            a, b = min(((a0, mid), (mid, b0)), key=lambda r: (distance(*r), r[0]))
        out[a:b] = k
    return out


def absorb_short_turns(labels: np.ndarray, *, min_frames: int, min_speakers: int = 0
                       ) -> np.ndarray:
    """Give every speaker run shorter than `min_frames` to a neighbouring speaker.

    Where a speaker change meets a pause, the decoder's blocks can leave a sliver of a
    speaker a few frames long. The shortest such run goes first: to the longer of the
    speaker runs it touches, or, touching none (speech between two pauses), it becomes
    non-speech. Repeated until no speaker run is shorter than `min_frames`.

    Parameters
    ----------
    labels : ndarray of int, shape (n_frames,)
        Speaker of every frame, -1 for non-speech.
    min_frames : int, keyword-only
    min_speakers : int, keyword-only
        A count asked for (0: none): the only run left of a speaker stays, however short,
        while no more than this many speakers are left.

    Returns
    -------
    ndarray of int, shape (n_frames,)
    """

    out = np.array(labels, dtype=np.int64, copy=True)
    if min_frames <= 1 or len(out) == 0:
        return out
    s, e, v = (list(a) for a in runs(out))
    while True:
        length = np.asarray(e) - np.asarray(s)
        short = np.flatnonzero((np.asarray(v) >= 0) & (length < min_frames))
        if min_speakers > 0 and len(short):
            runs_of = np.bincount([k for k in v if k >= 0])
            if np.count_nonzero(runs_of) <= min_speakers:
                # The count asked for: a speaker's last run is a turn however short.
                short = np.array([i for i in short if runs_of[v[i]] > 1], dtype=np.int64)
        if len(short) == 0:
            break
        i = int(short[np.argmin(length[short])])  # shortest first; ties: earliest
        cands = [j for j in (i - 1, i + 1) if 0 <= j < len(v) and v[j] >= 0]
        if not cands:
            v[i] = -1
        else:
            v[i] = v[max(cands, key=lambda j: (e[j] - s[j], -j))]
        # Merge run i with equal neighbours.
        for j in (i + 1, i):
            if 0 < j < len(v) and v[j] == v[j - 1]:
                e[j - 1] = e[j]
                del s[j], e[j], v[j]
    for a, b, k in zip(s, e, v):
        out[a:b] = k
    return out


def guided_labels(X: np.ndarray, labels: np.ndarray, voices: list, *, ubm,
                  regions: np.ndarray, relevance_factor: float, iterations: int,
                  speaker_cmvn: bool, min_frames: int = 0, keep_share: float = 1.0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Speaker labels with enrolled voices as extra speakers, which may take whole runs
    of speech from the recording's speakers.

    The units decided are the runs of one speaker (`labels`) inside one stretch of speech
    between pauses (`regions`): a turn as the resegmentation left it. Every speaker is a
    model of the verification kind, the UBM's means MAP-adapted (`relevance_factor`) to
    statistics: the recording's speakers' to the units they hold, the enrolled voices'
    to their enrolment statistics (`voices`) and the units they hold. Each unit goes to
    the enrolled voice whose model gives it the highest linear GMM-UBM score
    (:func:`diarize.speakers.aligned_llr`, summed over its frames) where that is above its
    score under its own speaker's model; otherwise it stays with its own speaker. A unit
    is scored under the model of the speaker holding it adapted without it (a model
    adapted to the very frames it scores outscores any enrolment). An output speaker
    merged from an enrolled voice and another is so split turn by turn, and the parts
    of an enrolled voice spread over several speakers join in its state. Repeated
    `iterations` times, the models re-estimated from the units they then hold. An enrolled
    voice that would take fewer than `min_frames` frames takes none; a recording speaker
    left with fewer than that (what an enrolled voice left of its speaker) gives its last
    units to the enrolled voices that explain them best.

    With `speaker_cmvn`, each frame is normalised by the mean and spread of the frames
    of the speaker holding it, as an enrolment recording of one voice is; a speaker
    that holds at least `keep_share` of the frames it held in the round before, and of
    whose frames at least that share it held then, keeps that round's normalisation
    (1: only a speaker that neither gained nor lost a unit).

    Parameters
    ----------
    X : ndarray, shape (n_speech_frames, D)
        Speech frames in the UBM's features.
    labels : ndarray of int, shape (n_speech_frames,)
        The recording's speakers, 0..K-1.
    voices : list of VoiceStats
        The enrolled voices' UBM statistics.
    ubm : GaussianMixture
        C components, D features (diagonal).
    regions : ndarray of int, shape (n_speech_frames,)
        The stretch of speech (between pauses) of each frame, non-decreasing.

    Returns
    -------
    labels : ndarray of int, shape (n_speech_frames,)
        0..K'-1: the speakers that hold speech, the recording's first, then the enrolled
        voices', in the order of `voices`.
    voice : ndarray of int, shape (K',)
        The index in `voices` of each of these speakers; -1 for the recording's.
    """
    labels = relabel(np.asarray(labels))
    if len(labels) == 0 or len(voices) == 0:
        return labels, np.full(int(labels.max()) + 1 if len(labels) else 0, -1)
    mu = np.asarray(ubm.means_, dtype=np.float64)
    prec = 1.0 / np.asarray(ubm.covariances_, dtype=np.float64)
    r = float(relevance_factor)
    k_own = int(labels.max()) + 1
    n_states = k_own + len(voices)
    # units: runs of one speaker inside one stretch of speech
    key = np.asarray(regions, dtype=np.int64) * n_states + labels
    u_start, u_end, _ = runs(key)
    unit = np.repeat(np.arange(len(u_start)), u_end - u_start)
    own = labels[u_start]
    size = (u_end - u_start).astype(np.float64)
    # Prior statistics of each state: none for the recording's speakers, the enrolment
    # for the enrolled voices; first order centred on the UBM's means (F - N mu).
    prior_n = np.zeros((n_states, len(mu)))
    prior_g = np.zeros((n_states, *mu.shape))
    for v, st in enumerate(voices):
        prior_n[k_own + v] = st.n
        prior_g[k_own + v] = st.centred(mu)
    held = own.copy()
    had = np.bincount(own, weights=size, minlength=n_states)
    # With speaker_cmvn the frames are read only through _per_label_cmvn, which works in
    # float64 itself: no float64 copy of the whole recording's frames.
    X = np.asarray(X, dtype=np.float64) if not speaker_cmvn else np.asarray(X)
    un = np.zeros((len(u_start), len(mu)))
    ug = np.zeros((len(u_start), *mu.shape))
    x = X if not speaker_cmvn else np.empty(X.shape, dtype=np.float64)
    redo: np.ndarray = np.ones(len(u_start), dtype=bool)  # units whose statistics are out of date
    for _ in range(max(1, iterations)):
        if speaker_cmvn and redo.any():
            # a unit's frames change only where the frames of its speaker changed
            if redo.all():
                # into the one float64 copy: a second, alive while the first is replaced,
                # doubled guiding's memory on long recordings
                _per_label_cmvn(X, held[unit], out=x)
            else:
                sel = redo[unit]
                x[sel] = _per_label_cmvn(X[sel], held[unit][sel])
        if redo.all():
            unit_statistics(ubm, x, unit, want=redo, n=un, first=ug)
            ug -= un[:, :, None] * mu
        elif redo.any():
            unit_statistics(ubm, x, unit, want=redo, n=un, first=ug)
            ug[redo] -= un[redo][:, :, None] * mu
        # each state's statistics: its prior's and its units'
        member = (held == np.arange(n_states)[:, None]).astype(np.float64)
        tot_n = prior_n + member @ un
        tot_g = prior_g + (member @ ug.reshape(len(ug), -1)).reshape(prior_g.shape)
        # each unit under every enrolled voice and under its own speaker
        cand = np.arange(k_own, n_states)
        dm = map_offsets(tot_n[cand], tot_g[cand], relevance_factor=r)  # model - UBM mean
        score = linear_scores(un, ug, dm * prec, dm)
        own_score = _linear_scores_rows(un, ug, tot_n, tot_g, prec, r, rows=own,
                                        leave_out=held == own)
        mine = held >= k_own
        score[mine, held[mine] - k_own] = _linear_scores_rows(
            un[mine], ug[mine], tot_n, tot_g, prec, r, rows=held[mine],
            leave_out=np.ones(int(np.count_nonzero(mine)), dtype=bool))
        best = np.argmax(score, axis=1)
        new = np.where(score[np.arange(len(best)), best] > own_score, k_own + best, own)
        # An enrolled voice that would take less than min_frames takes nothing: its
        # units stay with their speakers.
        left = np.bincount(new, weights=size, minlength=n_states)
        new = np.where((new >= k_own) & (left[new] < min_frames), own, new)
        # A recording speaker that an enrolled voice left with less than that (or with
        # less than it had, if it had less) is no speaker: its units go to the enrolled
        # voices taking speech that explain them best.
        left = np.bincount(new, weights=size, minlength=n_states)
        taking = left[k_own:] > 0
        if taking.any():
            best = np.argmax(np.where(taking, score, -np.inf), axis=1)
            new = np.where((new < k_own) & (left[new] < np.minimum(min_frames, had[new])),
                           k_own + best, new)
        if np.array_equal(new, held):
            break
        if speaker_cmvn:
            # a speaker's frames are normalised anew where it gained or lost more turns
            # than keep_share allows (1: any)
            stays = new == held
            was = np.bincount(held, weights=size, minlength=n_states)
            now = np.bincount(new, weights=size, minlength=n_states)
            same = np.bincount(held[stays], weights=size[stays], minlength=n_states)
            moved = np.flatnonzero((same < keep_share * was) | (same < keep_share * now))
            redo = np.isin(new, moved)
        else:
            redo[:] = False
        held = new
    out = held[unit]
    present = np.unique(out)
    lut = np.full(n_states, -1, dtype=np.int64)
    lut[present] = np.arange(len(present))
    return lut[out], np.where(present >= k_own, present - k_own, -1)


def _linear_scores_rows(bn: np.ndarray, bg: np.ndarray, n: np.ndarray, g: np.ndarray,
                        prec: np.ndarray, r: float, *, rows: np.ndarray,
                        leave_out: np.ndarray) -> np.ndarray:
    """The linear GMM-UBM score (:func:`diarize.speakers.linear_scores`, summed over the
    frames) of each stretch (N (b, C), centred F (b, C, D)) under the MAP model of its own
    row of the statistics N (M, C), centred F (M, C, D) (`rows`, shape (b,)), less the
    stretch's own where `leave_out`; shape (b,).

    Each stretch against its own model, in blocks and in place (no (b, C, D) temporaries
    beyond the block's), the precisions applied last: not one of
    :func:`~diarize.speakers.linear_scores`' layouts, whose sums round otherwise."""
    out = np.empty(len(bn))
    step = max(1, SCORE_BLOCK_ENTRIES // max(1, int(np.prod(g.shape[1:]))))
    for a in range(0, len(bn), step):
        # in blocks of stretches: each block's (b, C, D) arrays stay small
        s = slice(a, a + step)
        lo = np.asarray(leave_out[s], dtype=np.float64)
        # model mean - UBM mean
        dm = map_offsets(n[rows[s]] - lo[:, None] * bn[s],
                         g[rows[s]] - lo[:, None, None] * bg[s], relevance_factor=r)
        # sum over c, d of dm S^-1 (bg - bn dm / 2), in place
        t = bn[s][:, :, None] * dm
        t *= -0.5
        t += bg[s]
        t *= dm
        t *= prec
        out[s] = t.sum(axis=(1, 2))
    return out


def _per_label_cmvn(X: np.ndarray, labels: np.ndarray, *,
                    out: np.ndarray | None = None) -> np.ndarray:
    """`X` with each label's frames normalised by their own mean and spread, in float64
    (`X` may be float32: the same numbers as from its float64 copy); written into `out`
    (float64, the shape of `X`) when given, so that a caller normalising again reuses it."""
    d = X.shape[1:]
    mean = np.zeros((int(labels.max()) + 1 if len(labels) else 0, *d))
    sd = np.ones_like(mean)
    # each label's frames gathered in their order (the same sums as a mask's): its mean
    # and spread as standardise computes them
    order = np.argsort(labels, kind="stable")
    cuts = np.flatnonzero(np.diff(labels[order])) + 1
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(order)]):
        k = int(labels[order[a]])
        mean[k], sd[k] = _centre(np.asarray(X[order[a:b]], dtype=np.float64))
    # then every frame in time order, (x - mean) / spread as standardise's in-place steps,
    # in blocks: no gathered copy of the whole recording
    if out is None:
        out = np.empty((len(X), *d), dtype=np.float64)
    for a in range(0, len(X), CMVN_BLOCK_FRAMES):
        lab = labels[a:a + CMVN_BLOCK_FRAMES]
        block = out[a:a + CMVN_BLOCK_FRAMES]
        block[...] = X[a:a + CMVN_BLOCK_FRAMES]
        block -= mean[lab]
        block /= sd[lab]
    return out


#: Frames per block of :func:`_per_label_cmvn`'s normalisation (bounds its temporaries).
CMVN_BLOCK_FRAMES = 65536


def standardise(x: np.ndarray) -> None:
    """Normalise the rows of `x` (n, D), in place, by their own mean and spread (a
    column with no spread is only centred).

    x.std's own steps (mean, offsets, mean square, root), the offsets kept: the same
    numbers as ``(x - x.mean(axis=0)) / x.std(axis=0)`` each computed anew."""
    x /= _centre(x)[1]


def _centre(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre the rows of `x` (n, D) in place; return their mean and spread, shape (D,)
    each (x.std's steps; 1 for a column with no spread, which is then only centred)."""
    mean = x.mean(axis=0)
    x -= mean
    sd = np.sqrt(np.mean(x * x, axis=0))
    sd[sd < 1e-6] = 1.0
    return mean, sd


def refit(X: np.ndarray, labels: np.ndarray, *, config: ResegConfig, seed: int = 0,
          before: ResegResult | None = None, keep_share: float = 1.0) -> ResegResult:
    """A :class:`ResegResult` for labels decided elsewhere (:func:`guided_labels`): each
    speaker's GMM fitted on its frames of `X` and the smoothed posteriors under them, as
    :func:`resegment` gives them; the labels are kept as they are.

    A speaker that shares at least `keep_share` of its frames with those a model of
    `before` was fitted on, and at least that share of the model's frames, takes that
    model and its block log-likelihoods instead (`before` must be of the same `X`). With
    `keep_share` 1 only a speaker with the very frames does, which changes nothing (a
    model depends on its frames alone); below 1, a speaker that gained or lost a few
    turns keeps its model, as :func:`resegment`'s models are those of the decoding but
    one (the labels, and so the turns, are the same either way). Above 1/2 a speaker
    takes at most one model and a model goes to at most one speaker.
    """
    labels = relabel(np.asarray(labels))
    block = max(1, int(config.block_frames))
    n = int(labels.max()) + 1
    reused = np.full(n, -1, dtype=np.int64)  # the model of `before` each speaker takes
    exact = True  # every model is fitted on its speaker's frames
    if (before is not None and before.fitted_on is not None and before.fitted_as is not None
            and len(before.fitted_as)):
        n_models = len(before.fitted_as)
        model_of = np.full(int(before.fitted_on.max()) + 1, -1, dtype=np.int64)
        model_of[before.fitted_as] = np.arange(n_models)
        fitted_to = model_of[before.fitted_on]  # the model fitted on each frame, -1: none
        on = fitted_to >= 0
        had = np.bincount(fitted_to[on], minlength=n_models)
        size = np.bincount(labels, minlength=n)
        both = np.bincount(labels[on] * n_models + fitted_to[on],
                           minlength=n * n_models).reshape(n, n_models)
        best = np.argmax(both, axis=1)
        common = both[np.arange(n), best]
        take = (common >= keep_share * size) & (common >= keep_share * had[best])
        reused[take] = best[take]
        exact = bool(np.all(common[take] == size[take])
                     and np.all(common[take] == had[best[take]]))
    models: list = [None] * n
    ll = np.zeros((-(-len(X) // block), n))
    unscored = []
    for k, i in enumerate(reused):
        if i >= 0 and before is not None:
            models[k] = before.models[i]
            if before.loglik is not None:
                ll[:, k] = before.loglik[:, i]
                continue
        unscored.append(k)
    todo = np.array([k for k in range(n) if models[k] is None], dtype=np.int64)
    with worker_pool() as pool:
        if len(todo):
            fitted = fit_speaker_models(X, labels, config=config, seed=seed, only=todo,
                                        pool=pool)
            for k, model in zip(todo, fitted):
                models[int(k)] = model
        if unscored:
            ll[:, unscored] = block_loglik(X, [models[k] for k in unscored], block=block,
                                           pool=pool)
    post = _frame_posteriors(ll, block=block, n_frames=len(X))
    return ResegResult(labels, post, models, fitted_on=labels if exact else None,
                       fitted_as=np.arange(n, dtype=np.int64) if exact else None, loglik=ll)
