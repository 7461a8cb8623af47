"""Guided diarization: enrolled voices as extra speakers of a recording (``voices.guide``).

After resegmentation, the enrolled voices that the recording's speakers nominate
(:meth:`diarize.pipeline.Diarizer._guided`) become extra speakers, each of which takes
the units of speech (a speaker's runs between pauses) its model explains better than
their own speaker's model does (:func:`guided_labels`). Every model is the UBM's means
MAP-adapted to statistics, and a unit is scored by the linear GMM-UBM score of its own
statistics (:func:`diarize.speakers.linear_scores`): the frames are read once into each
unit's UBM statistics, and again only for the units whose frames are normalised anew.

With ``voices.speaker_cmvn`` the frames of each speaker are normalised by their own mean
and spread (:func:`standardise`), as an enrolment recording of one voice is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .frames import relabel, runs
from .gmm import GaussianMixture
from .speakers import VoiceStats, linear_scores, map_offsets, unit_statistics

#: Entries (float64) of the per-stretch (b, C, D) arrays that guided scoring makes at a
#: time: small enough to stay in cache, large enough that numpy's calls are few.
SCORE_BLOCK_ENTRIES = 1 << 18


def guided_labels(X: np.ndarray, labels: np.ndarray, voices: list[VoiceStats], *,
                  ubm: GaussianMixture, regions: np.ndarray, relevance_factor: float,
                  iterations: int, speaker_cmvn: bool, min_frames: int = 0,
                  keep_share: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
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
    relevance_factor : float, keyword-only
        Of the MAP adaptation of every model.
    iterations : int, keyword-only
        Rounds of (models from the units held, units reassigned); at least one.
    speaker_cmvn : bool, keyword-only
        Normalise each frame by its speaker's frames.
    min_frames : int, keyword-only
        Least speech (frames) of an enrolled voice that takes any, and of a recording's
        speaker that keeps any.
    keep_share : float, keyword-only
        Share of its frames kept from one round to the next for a speaker's frames to
        keep their normalisation (with `speaker_cmvn`).

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
    # states: the recording's speakers 0..k_own-1, then the enrolled voices
    k_own = int(labels.max()) + 1
    n_states = k_own + len(voices)
    units = _units(labels, regions, n_states=n_states)
    prior_n, prior_g = _prior_statistics(voices, mu, k_own=k_own)
    held = units.own.copy()
    had = np.bincount(units.own, weights=units.size, minlength=n_states)
    stats = _UnitStatistics(X, units.of_frame, ubm, mu, n_units=len(units.own),
                            speaker_cmvn=speaker_cmvn)
    # the units whose statistics are out of date: all, before the first round
    redo: np.ndarray = np.ones(len(units.own), dtype=bool)
    for _ in range(max(1, iterations)):
        stats.update(held, redo)
        tot_n, tot_g = _state_statistics(prior_n, prior_g, held, stats.n, stats.g)
        score, own_score = _unit_scores(stats.n, stats.g, tot_n, tot_g, held=held,
                                        own=units.own, prec=prec, r=r, k_own=k_own)
        new = _reassign(score, own_score, own=units.own, size=units.size, had=had,
                        k_own=k_own, min_frames=min_frames)
        if np.array_equal(new, held):
            break
        if speaker_cmvn:
            redo = _renormalised(held, new, units.size, n_states=n_states,
                                 keep_share=keep_share)
        else:
            # the frames are read as they are: a unit's statistics never change
            redo[:] = False
        held = new
    return _state_labels(held[units.of_frame], k_own=k_own, n_states=n_states)


@dataclass(frozen=True)
class _Units:
    """The units :func:`guided_labels` decides: the runs of one speaker inside one stretch
    of speech between pauses.

    Attributes
    ----------
    of_frame : ndarray of int, shape (n_speech_frames,)
        The unit of each frame, 0..U-1, non-decreasing.
    own : ndarray of int, shape (U,)
        The recording's speaker that holds each unit at the start.
    size : ndarray of float64, shape (U,)
        Each unit's number of frames.
    """

    of_frame: np.ndarray
    own: np.ndarray
    size: np.ndarray


def _units(labels: np.ndarray, regions: np.ndarray, *, n_states: int) -> _Units:
    """The :class:`_Units` of `labels` (n_speech_frames,) in the stretches of speech
    `regions` (n_speech_frames,); `n_states` is above every label (each (stretch,
    speaker) pair gets its own key)."""
    key = np.asarray(regions, dtype=np.int64) * n_states + labels
    u_start, u_end, _ = runs(key)
    return _Units(of_frame=np.repeat(np.arange(len(u_start)), u_end - u_start),
                  own=labels[u_start], size=(u_end - u_start).astype(np.float64))


def _prior_statistics(voices: list[VoiceStats], mu: np.ndarray, *, k_own: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Each state's prior statistics: none for the recording's `k_own` speakers, the
    enrolment for the enrolled `voices`.

    Returns
    -------
    n : ndarray, shape (k_own + len(voices), C)
        Soft counts N.
    g : ndarray, shape (k_own + len(voices), C, D)
        First order centred on the UBM's means `mu` (C, D), F - N mu.
    """
    n = np.zeros((k_own + len(voices), len(mu)))
    g = np.zeros((k_own + len(voices), *mu.shape))
    for v, st in enumerate(voices):
        n[k_own + v] = st.n
        g[k_own + v] = st.centred(mu)
    return n, g


class _UnitStatistics:
    """Each unit's UBM statistics, brought up to date round by round (:meth:`update`).

    Parameters
    ----------
    X : ndarray, shape (n_speech_frames, D)
        The frames, as they are.
    unit : ndarray of int, shape (n_speech_frames,)
        The unit of each frame (:attr:`_Units.of_frame`).
    ubm : GaussianMixture
        C components, D features (diagonal).
    mu : ndarray of float64, shape (C, D)
        The UBM's means.
    n_units : int, keyword-only
        U.
    speaker_cmvn : bool, keyword-only
        Normalise each frame by the frames of the speaker holding its unit.

    Attributes
    ----------
    n : ndarray, shape (U, C)
        Soft counts N of each unit.
    g : ndarray, shape (U, C, D)
        First order centred on the UBM's means, F - N mu.
    """

    def __init__(self, X: np.ndarray, unit: np.ndarray, ubm: GaussianMixture,
                 mu: np.ndarray, *, n_units: int, speaker_cmvn: bool) -> None:
        self.unit = unit
        self.ubm = ubm
        self.mu = mu
        self.speaker_cmvn = speaker_cmvn
        # With speaker_cmvn the frames are read only through _per_label_cmvn, which works in
        # float64 itself: no float64 copy of the whole recording's frames.
        self.X = np.asarray(X, dtype=np.float64) if not speaker_cmvn else np.asarray(X)
        self.n = np.zeros((n_units, len(mu)))
        self.g = np.zeros((n_units, *mu.shape))
        # the frames the statistics are of (with speaker_cmvn: normalised, in update)
        self.x = self.X if not speaker_cmvn else np.empty(self.X.shape, dtype=np.float64)

    def update(self, held: np.ndarray, redo: np.ndarray) -> None:
        """The statistics of the units `redo` (U,) marks computed anew, with the units
        held by the speakers `held` (U,) (which normalise their frames with
        speaker_cmvn); the other units' left as they are."""
        unit, x = self.unit, self.x
        if self.speaker_cmvn and redo.any():
            # a unit's frames change only where the frames of its speaker changed
            if redo.all():
                # into the one float64 copy: a second, alive while the first is replaced,
                # doubled guiding's memory on long recordings
                _per_label_cmvn(self.X, held[unit], out=x)
            else:
                sel = redo[unit]
                x[sel] = _per_label_cmvn(self.X[sel], held[unit][sel])
        if redo.all():
            unit_statistics(self.ubm, x, unit, want=redo, n=self.n, first=self.g)
            self.g -= self.n[:, :, None] * self.mu
        elif redo.any():
            unit_statistics(self.ubm, x, unit, want=redo, n=self.n, first=self.g)
            self.g[redo] -= self.n[redo][:, :, None] * self.mu


def _state_statistics(prior_n: np.ndarray, prior_g: np.ndarray, held: np.ndarray,
                      un: np.ndarray, ug: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each state's statistics: its prior's (`prior_n` (S, C), `prior_g` (S, C, D)) and
    those of the units it holds (`held` (U,); `un` (U, C), `ug` (U, C, D)); shapes of the
    priors."""
    member = (held == np.arange(len(prior_n))[:, None]).astype(np.float64)
    tot_n = prior_n + member @ un
    tot_g = prior_g + (member @ ug.reshape(len(ug), -1)).reshape(prior_g.shape)
    return tot_n, tot_g


def _unit_scores(un: np.ndarray, ug: np.ndarray, tot_n: np.ndarray, tot_g: np.ndarray, *,
                 held: np.ndarray, own: np.ndarray, prec: np.ndarray, r: float, k_own: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's linear GMM-UBM score under every enrolled voice's model and under its
    own speaker's, each model adapted (relevance factor `r`) to its state's statistics
    (`tot_n` (S, C), `tot_g` (S, C, D)) less the unit's own where it holds the unit.

    Parameters
    ----------
    un, ug : ndarray, shapes (U, C) and (U, C, D)
        The units' statistics (:class:`_UnitStatistics`).
    tot_n, tot_g : ndarray, shapes (S, C) and (S, C, D)
        The states' statistics (:func:`_state_statistics`); states ``k_own``.. are the
        enrolled voices.
    held, own : ndarray of int, shape (U,), keyword-only
        The state holding each unit now, and the recording's speaker it came from.
    prec : ndarray, shape (C, D), keyword-only
        The UBM's precisions.

    Returns
    -------
    score : ndarray, shape (U, S - k_own)
        Under each enrolled voice.
    own_score : ndarray, shape (U,)
        Under the unit's own speaker.
    """
    cand = np.arange(k_own, len(tot_n))
    dm = map_offsets(tot_n[cand], tot_g[cand], relevance_factor=r)  # model - UBM mean
    score = linear_scores(un, ug, dm * prec, dm)
    # a unit is scored under the model of the state holding it adapted without it: a
    # model adapted to the very frames it scores outscores any enrolment
    own_score = _linear_scores_rows(un, ug, tot_n, tot_g, prec, r, rows=own,
                                    leave_out=held == own)
    mine = held >= k_own
    score[mine, held[mine] - k_own] = _linear_scores_rows(
        un[mine], ug[mine], tot_n, tot_g, prec, r, rows=held[mine],
        leave_out=np.ones(int(np.count_nonzero(mine)), dtype=bool))
    return score, own_score


def _reassign(score: np.ndarray, own_score: np.ndarray, *, own: np.ndarray,
              size: np.ndarray, had: np.ndarray, k_own: int, min_frames: int) -> np.ndarray:
    """The state of each unit: the enrolled voice with the best score where that beats
    the unit's score under its own speaker, else that speaker; then the rules on the
    least speech (`min_frames`) of a state.

    Parameters
    ----------
    score, own_score : ndarray, shapes (U, S - k_own) and (U,)
        :func:`_unit_scores`.
    own : ndarray of int, shape (U,), keyword-only
        The recording's speaker each unit came from.
    size : ndarray of float64, shape (U,), keyword-only
        The units' frames.
    had : ndarray of float64, shape (S,), keyword-only
        The frames each state held at the start.

    Returns
    -------
    ndarray of int, shape (U,)
    """
    n_states = len(had)
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
    return new


def _renormalised(held: np.ndarray, new: np.ndarray, size: np.ndarray, *, n_states: int,
                  keep_share: float) -> np.ndarray:
    """The units (U,) whose frames speaker_cmvn normalises anew when their states go from
    `held` (U,) to `new` (U,): those of a state that gained or lost more of its frames
    (`size` (U,) each unit's) than `keep_share` allows (1: any); shape (U,), bool."""
    stays = new == held
    was = np.bincount(held, weights=size, minlength=n_states)
    now = np.bincount(new, weights=size, minlength=n_states)
    same = np.bincount(held[stays], weights=size[stays], minlength=n_states)
    moved = np.flatnonzero((same < keep_share * was) | (same < keep_share * now))
    return np.isin(new, moved)


def _state_labels(out: np.ndarray, *, k_own: int, n_states: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The states of the frames `out` (n_speech_frames,) renumbered 0..K'-1 over those
    that hold speech, and the index in the enrolled voices of each (-1: the
    recording's own speaker); :func:`guided_labels`' result."""
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


