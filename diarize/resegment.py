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


def refit(X: np.ndarray, labels: np.ndarray, *, config: ResegConfig, seed: int = 0,
          before: ResegResult | None = None, keep_share: float = 1.0) -> ResegResult:
    """A :class:`ResegResult` for labels decided elsewhere
    (:func:`diarize.guide.guided_labels`): each speaker's GMM fitted on its frames of `X`
    and the smoothed posteriors under them, as :func:`resegment` gives them; the labels
    are kept as they are.

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
