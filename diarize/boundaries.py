"""Speech boundaries at frame resolution.

The speech detector's decision (:func:`diarize.sad.detect_speech`) averages the
speech/non-speech log-likelihood ratio over ``sad.llr_window`` and fills silences shorter
than ``sad.min_silence``: that keeps noise bursts and breaths out, but it bridges the
pauses between phrases and moves onsets and offsets by up to half the window, so quiet
word beginnings and endings are cut. This stage decides again, frame by frame, close to
that decision: a two-state (speech, pause) Viterbi on the ratio averaged over a much
shorter window, with a cost per change of state and minimum run lengths
(``sad.min_speech`` for speech, ``sad.min_pause`` for pauses). A frame is evidence for
speech when its ratio exceeds ``sad.threshold - sad.boundary_margin`` and the median
(``sad.background_quantile``) of the recording's own background. It may

* move a boundary up to ``sad.boundary_window`` seconds into the smoothed decision's
  non-speech, and anywhere inside its speech (so a low-energy onset is kept and a pause
  of ``sad.min_pause`` or more inside a phrase group becomes non-speech);
* never add speech further than that from the smoothed decision's speech, which keeps
  the smoothed decision's robustness: an isolated noise burst the smoothed decision
  rejected stays rejected.

The frame ratio is the model's (:func:`diarize.sad.model_llr`), whose features are all
relative to the recording's own level and dynamic range, and the evidence level follows
the recording's own background, so the decision carries over to audio unlike the
recordings it was tuned on.
"""

from __future__ import annotations

import numpy as np

from .config import SadConfig
from .frames import dilate, frame_count, moving_average, true_runs

#: Evidence per frame below the energy floor (digital silence is never speech): far beyond
#: any switch cost, finite so that running sums stay exact.
_NEVER_SPEECH = -1.0e3


def refine_boundaries(llr: np.ndarray, mask: np.ndarray, log_energy: np.ndarray, *,
                      config: SadConfig | None = None, frame_step: float) -> np.ndarray:
    """Frame-level speech boundaries near a smoothed speech decision.

    Parameters
    ----------
    llr : ndarray, shape (n_frames,)
        Per-frame speech/non-speech log-likelihood ratio, not averaged.
    mask : ndarray of bool, shape (n_frames,)
        The smoothed speech decision.
    log_energy : ndarray, shape (n_frames,)
        Frame energy in dBFS; frames at or below ``config.energy_floor_db`` stay non-speech.
    config : SadConfig, keyword-only
    frame_step : float, keyword-only
        Seconds per frame.

    Returns
    -------
    ndarray of bool, shape (n_frames,)
        Equal to `mask` beyond ``config.boundary_window`` of its speech; every speech run
        at least ``config.min_speech`` long and every pause between two speech runs at
        least ``config.min_pause`` long, except runs cut by the edge of that window or by
        the start or end of the recording.
    """
    cfg = config or SadConfig()
    mask = np.asarray(mask, dtype=bool)
    out = np.zeros(len(mask), dtype=bool)
    if not mask.any():
        return out
    win = frame_count(cfg.boundary_llr_window, frame_step, minimum=1)
    score = np.asarray(llr, dtype=np.float64)
    if win > 1:
        score = moving_average(score, size=win)
    live = np.asarray(log_energy) > cfg.energy_floor_db
    reach = frame_count(cfg.boundary_window, frame_step)
    allowed = dilate(mask, reach=reach) if reach > 0 else mask
    score = score - speech_evidence_level(score, background=live & ~allowed, config=cfg,
                                          frame_step=frame_step)
    score[~live] = _NEVER_SPEECH
    min_speech = frame_count(cfg.min_speech, frame_step, minimum=1)
    min_pause = frame_count(cfg.min_pause, frame_step, minimum=1)
    starts, ends = true_runs(allowed)
    for a, b in zip(starts, ends):
        # Beyond the window the recording is non-speech: a region that does not touch an
        # end of the recording is framed by a pause, so that speech reaching the window's
        # edge pays for its change of state like any other.
        pad_a = min_pause if a > 0 else 0
        pad_b = min_pause if b < len(mask) else 0
        framed = np.concatenate([np.full(pad_a, _NEVER_SPEECH), score[a:b],
                                 np.full(pad_b, _NEVER_SPEECH)])
        out[a:b] = two_state_viterbi(framed, min_speech=min_speech, min_pause=min_pause,
                                     switch_cost=cfg.boundary_switch_cost)[pad_a:pad_a + b - a]
    return out


def speech_evidence_level(score: np.ndarray, *, background: np.ndarray,
                          config: SadConfig | None = None, frame_step: float) -> float:
    """The averaged ratio above which a frame counts as evidence for speech.

    ``threshold - boundary_margin``, raised to the ``background_quantile`` quantile of
    the recording's own background (`background`: frames beyond the reach of the
    refinement) when it has at least ``min_background`` seconds of it: in a
    recording whose noise the model finds speech-like, speech must stand out from that
    noise, or every boundary would slide to the edge of the window.

    Parameters
    ----------
    score : ndarray, shape (n_frames,)
        Averaged frame log-likelihood ratio.
    background : ndarray of bool, shape (n_frames,)
    config : SadConfig, keyword-only
    frame_step : float, keyword-only
        Seconds per frame.
    """
    cfg = config or SadConfig()
    level = cfg.threshold - cfg.boundary_margin
    if np.count_nonzero(background) * frame_step >= cfg.min_background:
        level = max(level, float(np.quantile(score[background], cfg.background_quantile)))
    return level


def two_state_viterbi(score: np.ndarray, *, min_speech: int, min_pause: int,
                      switch_cost: float) -> np.ndarray:
    """The best speech/pause labelling of a run of frames, with minimum run lengths.

    Maximises the summed `score` of the speech frames minus `switch_cost` per change of
    state, over labellings whose speech runs last at least `min_speech` frames and whose
    pauses last at least `min_pause` frames; the first and the last run may be shorter
    (they are cut by the ends of `score`, not ended by the audio). The search is exact,
    and ties are always broken the same way.

    Parameters
    ----------
    score : ndarray, shape (n,)
        Evidence for speech per frame (positive: speech), e.g. a log-likelihood ratio
        minus a threshold.
    min_speech, min_pause : int, keyword-only
        Shortest speech run and shortest pause, in frames (>= 1).
    switch_cost : float, keyword-only
        Cost of each change between speech and pause (>= 0).

    Returns
    -------
    ndarray of bool, shape (n,)
    """
    n = len(score)
    out = np.zeros(n, dtype=bool)
    if n == 0:
        return out
    # cum[t] = sum of score[:t]; a run of speech over frames u..t scores cum[t+1] - cum[u]
    cum = np.concatenate([[0.0], np.cumsum(score, dtype=np.float64)]).tolist()
    gain = np.asarray(score, dtype=np.float64).tolist()
    # best[t]: best total of frames 0..t given frame t's state and that its run is complete;
    # how[t]: 0 the run goes on from t - 1, 1 it began min frames ago after the other
    # state, 2 it is the first run (began at frame 0)
    best_s = [0.0] * n
    best_p = [0.0] * n
    how_s = bytearray(n)
    how_p = bytearray(n)
    for t in range(n):
        v, h = cum[t + 1], 2
        if t > 0 and best_s[t - 1] + gain[t] > v:
            v, h = best_s[t - 1] + gain[t], 0
        u = t - min_speech
        if u >= 0 and best_p[u] - switch_cost + cum[t + 1] - cum[u + 1] > v:
            v, h = best_p[u] - switch_cost + cum[t + 1] - cum[u + 1], 1
        best_s[t], how_s[t] = v, h
        v, h = 0.0, 2
        if t > 0 and best_p[t - 1] >= v:
            v, h = best_p[t - 1], 0
        u = t - min_pause
        if u >= 0 and best_s[u] - switch_cost > v:
            v, h = best_s[u] - switch_cost, 1
        best_p[t], how_p[t] = v, h
    # the last run may be cut short by the end: it starts after frame u, the other state's end
    state = 1 if best_s[-1] > best_p[-1] else 0
    total, cut = max(best_s[-1], best_p[-1]), -1
    for u in range(max(0, n - min_speech), n - 1):
        v = best_p[u] - switch_cost + cum[n] - cum[u + 1]
        if v > total:
            total, state, cut = v, 1, u
    for u in range(max(0, n - min_pause), n - 1):
        v = best_s[u] - switch_cost
        if v > total:
            total, state, cut = v, 0, u
    t = n - 1
    if cut >= 0:
        out[cut + 1:] = bool(state)
        t, state = cut, 1 - state
    while t >= 0:
        h = (how_s if state else how_p)[t]
        if h == 0:
            out[t] = bool(state)
            t -= 1
        elif h == 1:
            length = min_speech if state else min_pause
            out[t - length + 1:t + 1] = bool(state)
            t -= length
            state = 1 - state
        else:
            out[:t + 1] = bool(state)
            break
    return out
