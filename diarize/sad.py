"""Speech activity detection.

Two methods (``SadConfig.method``):

``"model"`` (default)
    A trained speech GMM and a non-speech GMM (diagonal covariances, shipped in
    ``diarize/data/sad_model.npz``, trained by ``scripts/train_sad.py``) score every frame
    on MFCC c1..c12, their deltas, the frame level relative to the recording and the
    frame's voicing (see :func:`model_features`). The log-likelihood ratio is averaged over
    a short window, thresholded, and cleaned up (short gaps filled, short bursts dropped);
    then the boundaries are placed frame by frame near that decision
    (:func:`diarize.boundaries.refine_boundaries`).
``"energy"``
    A 2-component GMM on frame log-energies; the louder component is speech.

Both read the frame levels relative to the recording's own (:func:`normalised_levels`),
and only digital silence is excluded by its absolute level; but the MFCCs of a quiet
recording meet the filterbank's fixed floor, so scaling a recording down changes the
decision: on the shipped two-speaker fixture, 123 of 3000 frames at -40 dBFS peak and
2472 at -80 dBFS (an audit of session 22; the README's Limitations say quiet recordings
lose speech).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ._threads import worker_pool
from .boundaries import refine_boundaries
from .config import FeatureConfig, SadConfig
from .errors import ModelError
from .names import text_path
from .features import MEL_FLOOR, add_deltas
from .frames import dilate, erode, fill_short_runs, frame_count, majority_filter, moving_average
from .gmm import GaussianMixture, MixtureStats, load_arrays

#: The shipped model (plain arrays, no pickle).
MODEL_PATH = Path(__file__).resolve().parent / "data" / "sad_model.npz"
#: Cepstra used by the model: c1..c{N_CEPS}.
N_CEPS = 12
#: Relative levels are clipped to this range (dB).
LEVEL_CLIP = 60.0
#: Front-end fields the model was trained with (the FeatureConfig defaults).
_FRONT_END = ("win_length", "n_fft", "n_mels", "n_mfcc", "fmin", "fmax", "pre_emphasis",
              "voicing_fmin", "voicing_fmax")
#: Column of :func:`model_features` holding the recording's dynamic range.
RANGE_COLUMN = 2 * N_CEPS + 2
#: Frames of the regression window of the model's deltas (``add_deltas(width=...)``).
SAD_DELTA_WIDTH = 9
#: Frames over which the voicing is averaged for its second column (as the deltas' window).
VOICING_AVERAGE = SAD_DELTA_WIDTH
#: Columns of :func:`model_features`.
N_MODEL_FEATURES = 2 * N_CEPS + 5
#: Frames per block when scoring (bounds temporaries on long recordings).
BLOCK_FRAMES = 65536
#: Where :func:`normalised_levels` puts a recording's loud frames (the 95th percentile of
#: its frame levels), in dBFS: ``sad.energy_floor_db`` is read on that scale, so the floor
#: keeps its distance below the speech at any gain. -25 dBFS is near the middle of the dev
#: recordings' own (-12 to -45 dBFS), so that their floors moved little. Not a tunable:
#: ``energy_floor_db`` is.
REFERENCE_LEVEL = -25.0
#: Frames whose mean square (after the front end's floor is taken off) is at most this are
#: digital silence, never speech at any gain: -140 dBFS, below the level of one 24-bit
#: step and far below speech at -80 dBFS peak (its quiet frames near -120 dBFS).
DIGITAL_SILENCE = 1e-14
#: The normalised level of digital silence: below every floor ``energy_floor_db`` allows,
#: and clipped to -:data:`LEVEL_CLIP` in the model's features like any very quiet frame.
SILENCE_LEVEL = -400.0


@dataclass(frozen=True)
class SpeechMask:
    """The speech detector's answer for one recording.

    Attributes
    ----------
    speech : ndarray of bool, shape (n_frames,)
        Speech, with boundaries placed frame by frame (pauses of ``min_pause`` or more are
        not speech): where turns start and end.
    modelled : ndarray of bool, shape (n_frames,)
        The smoothed decision: the frames speaker modelling works on. Speaker models and
        the speaker count then do not depend on where exactly a boundary falls (moving
        boundaries into the frames clustering sees changed the count on some recordings);
        the refined speech outside it takes its nearest modelled frame's speaker, and the
        pauses are taken out of the turns afterwards.
    """

    speech: np.ndarray
    modelled: np.ndarray


def detect_speech(feats: np.ndarray, log_energy: np.ndarray, voicing: np.ndarray, *,
                  config: SadConfig | None = None, frame_step: float, seed: int = 0
                  ) -> np.ndarray:
    """Speech mask of a recording (``detect_speech_regions(...).speech``).

    Parameters
    ----------
    feats : ndarray, shape (n_frames, n_mfcc)
        MFCCs c0.. from :func:`diarize.features.mfcc` (``voicing=True``).
    log_energy : ndarray, shape (n_frames,)
        Frame energy in dBFS from the same call.
    voicing : ndarray, shape (n_frames,)
        Frame voicing from the same call.
    config : SadConfig, keyword-only
    frame_step : float, keyword-only
        Seconds per frame.
    seed : int, keyword-only

    Returns
    -------
    ndarray of bool, shape (n_frames,)
    """
    return detect_speech_regions(feats, log_energy, voicing, config=config,
                                 frame_step=frame_step, seed=seed).speech


def detect_speech_regions(feats: np.ndarray, log_energy: np.ndarray, voicing: np.ndarray, *,
                          config: SadConfig | None = None, frame_step: float,
                          seed: int = 0) -> SpeechMask:
    """Speech of a recording, for turns and for speaker modelling.

    Parameters are those of :func:`detect_speech`.

    Returns
    -------
    SpeechMask
        Both masks are the smoothed decision itself with ``method = "energy"`` or
        ``refine_boundaries = false`` (and ``adapt = false``). With ``adapt = true``,
        ``modelled`` stays the first pass's smoothed decision and ``speech`` follows the
        second pass.
    """
    cfg = config or SadConfig()
    # From here on every floor and level is relative to the recording's own.
    log_energy = normalised_levels(log_energy)
    if cfg.method == "energy":
        prob = energy_speech_prob(log_energy, config=cfg, seed=seed)
        mask = smooth_decision(prob, frame_step=frame_step, config=cfg)
        return SpeechMask(mask, mask)
    frame_llr = model_llr(feats, log_energy, voicing, config=cfg)
    llr, mask = _decide(frame_llr, log_energy, cfg=cfg, frame_step=frame_step)
    # Speaker modelling keeps the first pass: the speaker count moves with small changes
    # of the frames clustering sees (on sim/ it did, with the second pass's decision).
    modelled = mask
    if cfg.adapt:
        frame_llr = adapted_llr(feats, log_energy, voicing, llr, mask, config=cfg,
                                frame_step=frame_step)
        llr, mask = _decide(frame_llr, log_energy, cfg=cfg, frame_step=frame_step)
    if not cfg.refine_boundaries:
        return SpeechMask(mask, modelled)
    speech = refine_boundaries(frame_llr, mask, log_energy, config=cfg, frame_step=frame_step)
    return SpeechMask(speech, modelled)


def normalised_levels(log_energy: np.ndarray) -> np.ndarray:
    """Frame levels of a recording moved so that its loud frames read the same at any gain.

    The front end adds a floor to every frame's mean square (``MEL_FLOOR``, -100 dBFS),
    which squeezes the quiet frames of a quiet recording towards it: it is taken off
    first, so that a frame's level is its own down to the precision of float32 (about
    -140 dBFS). The levels are then shifted so that the 95th percentile of the frames that
    are not digital silence reads :data:`REFERENCE_LEVEL`; digital silence (mean square
    at most :data:`DIGITAL_SILENCE`) reads :data:`SILENCE_LEVEL`. Scaling the signal by a
    constant changes the result only by rounding.

    Parameters
    ----------
    log_energy : ndarray, shape (n_frames,)
        Frame energy in dBFS, as :func:`diarize.features.mfcc` computes it.

    Returns
    -------
    ndarray, shape (n_frames,), float32
    """
    e = np.asarray(log_energy, dtype=np.float64)
    power = 10.0 ** (e / 10.0) - MEL_FLOOR
    live = power > DIGITAL_SILENCE
    out = np.full(len(e), SILENCE_LEVEL, dtype=np.float32)
    if live.any():
        level = 10.0 * np.log10(power[live])
        out[live] = level - np.percentile(level, 95) + REFERENCE_LEVEL
    return out


def _decide(frame_llr: np.ndarray, log_energy: np.ndarray, *, cfg: SadConfig,
            frame_step: float) -> tuple[np.ndarray, np.ndarray]:
    """(window-averaged ratio, smoothed speech mask) from the frame ratio."""
    llr = frame_llr
    win = frame_count(cfg.llr_window, frame_step, minimum=1)
    if win > 1 and len(llr):
        llr = moving_average(llr, size=win)
    mask = llr > cfg.threshold
    mask &= np.asarray(log_energy) > cfg.energy_floor_db
    mask = fill_short_runs(mask, value=False, max_len=frame_count(cfg.min_silence, frame_step))
    mask = fill_short_runs(mask, value=True, max_len=frame_count(cfg.min_speech, frame_step))
    return llr, mask


def model_feature_config(features: FeatureConfig) -> FeatureConfig | None:
    """The front end the model needs if `features` differs from it, else None.

    The model was trained on MFCCs of the default front end (``FeatureConfig()``); a preset
    that narrows the filterbank (e.g. ``telephone``) must compute separate MFCCs for the
    speech detector. The frame step and the noise floor are kept, so the frames line up
    and are floored alike.
    """
    # The noise floor (features.floor_db) is relative to the recording and kept as it is:
    # the detector reads the frames as the rest of the pipeline does.
    trained = FeatureConfig(hop_length=features.hop_length, floor_db=features.floor_db,
                            floor_quantile=features.floor_quantile, band_floor=False)
    if all(getattr(features, k) == getattr(trained, k) for k in _FRONT_END):
        return None
    return trained


@lru_cache(maxsize=4)
def load_model(path: str | None = None) -> tuple[GaussianMixture, GaussianMixture]:
    """The (speech, non-speech) GMMs stored in `path` (default: the shipped model).

    Raises
    ------
    ModelError
        The file cannot be read or is not a SAD model.
    """
    p = Path(text_path(os.fspath(path))) if path else MODEL_PATH
    data = load_arrays(p, what="SAD model", names=("speech/", "nonspeech/"))
    models = []
    for prefix in ("speech/", "nonspeech/"):
        sub = {k[len(prefix):]: v for k, v in data.items() if k.startswith(prefix)}
        if not sub:
            raise ModelError(f"{p}: not a SAD model (no {prefix!r} arrays)")
        try:
            models.append(GaussianMixture.from_dict(sub))
        except (KeyError, ValueError, TypeError) as exc:  # ModelError is a ValueError
            raise ModelError(f"{p}: not a SAD model ({exc})") from None
        dim = models[-1].means_.shape[1]
        if dim != N_MODEL_FEATURES:
            raise ModelError(f"{p}: SAD model of {dim} features; this version computes "
                             f"{N_MODEL_FEATURES} (retrain it with scripts/train_sad.py)")
    return models[0], models[1]


def model_features(feats: np.ndarray, log_energy: np.ndarray, voicing: np.ndarray, *,
                   floor_db: float = -95.0) -> np.ndarray:
    """Per-frame features of the speech/non-speech model.

    Columns: MFCC c1..c12, their deltas, the frame level relative to the recording's
    95th-percentile level, its delta, the recording's dynamic range (95th minus
    10th percentile level; the same for all frames), the frame's voicing and its mean over
    :data:`VOICING_AVERAGE` frames centred on it. Levels ignore frames below `floor_db`
    (digital silence) and are clipped to +-60 dB.

    Parameters
    ----------
    feats : ndarray, shape (n_frames, n_mfcc)
    log_energy : ndarray, shape (n_frames,)
    voicing : ndarray, shape (n_frames,)
        From :func:`diarize.features.mfcc` with ``voicing=True``.
    floor_db : float, keyword-only

    Returns
    -------
    ndarray, shape (n_frames, 2 * 12 + 5), float32
    """
    feats = np.asarray(feats, dtype=np.float32)
    e = np.asarray(log_energy, dtype=np.float32)
    v = np.asarray(voicing, dtype=np.float32)
    return _model_rows(feats, e, v, 0, len(e), _levels(e, floor_db))


def _levels(e: np.ndarray, floor_db: float) -> tuple[float, float]:
    """10th and 95th percentile of the frame levels above `floor_db`."""
    live = e > floor_db
    if live.any():
        p10, p95 = np.percentile(e[live], [10, 95])
    else:
        p10 = p95 = floor_db
    return p10, p95


def _model_rows(feats: np.ndarray, e: np.ndarray, v: np.ndarray, b0: int, b1: int,
                levels: tuple[float, float]) -> np.ndarray:
    """Rows b0..b1-1 of :func:`model_features`, from those frames and the delta window's
    context around them (bit-identical to the rows of the whole recording's features)."""
    p10, p95 = levels
    half = SAD_DELTA_WIDTH // 2  # the deltas' context each side, and VOICING_AVERAGE // 2
    lo, hi = max(0, b0 - half), min(len(e), b1 + half)
    rel_all = np.clip(e[lo:hi] - np.float32(p95), -LEVEL_CLIP, LEVEL_CLIP)
    cep = add_deltas(np.column_stack([feats[lo:hi, 1:1 + N_CEPS], rel_all]),
                     width=SAD_DELTA_WIDTH)[b0 - lo:b1 - lo]
    rel = rel_all[b0 - lo:b1 - lo]
    out = np.empty((b1 - b0, N_MODEL_FEATURES), dtype=np.float32)
    out[:, :N_CEPS] = cep[:, :N_CEPS]
    out[:, N_CEPS:2 * N_CEPS] = cep[:, N_CEPS + 1:2 * N_CEPS + 1]
    out[:, 2 * N_CEPS] = rel
    out[:, 2 * N_CEPS + 1] = cep[:, -1]
    out[:, 2 * N_CEPS + 2] = np.clip(p95 - p10, 0.0, LEVEL_CLIP)
    out[:, 2 * N_CEPS + 3] = v[b0:b1]
    # the mean repeats the edge frames at the recording's ends, as the deltas do
    padded = np.pad(v[lo:hi], (half - (b0 - lo), half - (hi - b1)), mode="edge") \
        if hi > lo else np.zeros(0, np.float32)
    avg = np.zeros(b1 - b0, dtype=np.float32)
    for k in range(VOICING_AVERAGE):
        avg += padded[k:k + b1 - b0]
    out[:, 2 * N_CEPS + 4] = avg / np.float32(VOICING_AVERAGE)
    return out


def model_llr(feats: np.ndarray, log_energy: np.ndarray, voicing: np.ndarray, *,
              config: SadConfig | None = None) -> np.ndarray:
    """Per-frame log-likelihood ratio speech vs non-speech (float32, shape (n_frames,)).

    `feats`, `log_energy` and `voicing` are those of :func:`model_features`."""
    cfg = config or SadConfig()
    speech, nonspeech = load_model(cfg.model_path or None)
    feats = np.asarray(feats, dtype=np.float32)
    e = np.asarray(log_energy, dtype=np.float32)
    v = np.asarray(voicing, dtype=np.float32)
    return _score(speech, nonspeech, feats, e, v, _levels(e, cfg.energy_floor_db))


def adaptation_frames(llr: np.ndarray, mask: np.ndarray, log_energy: np.ndarray, *,
                      config: SadConfig | None = None, frame_step: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Frames a first decision labels confidently speech and confidently non-speech.

    Speech: more than `llr_window` inside the smoothed speech and among the
    `adapt_speech_fraction` of the recording's frames with the highest averaged ratio;
    non-speech: more than `llr_window` outside it and among the `adapt_nonspeech_fraction`
    with the lowest (of the recording's frames, or of those non-speech frames alone:
    `adapt_nonspeech_scope`). Digital silence (below
    `energy_floor_db`) is neither: it is never speech whatever the models say.

    Parameters
    ----------
    llr : ndarray, shape (n_frames,)
        Window-averaged log-likelihood ratio of the first pass.
    mask : ndarray of bool, shape (n_frames,)
        Smoothed decision of the first pass.
    log_energy : ndarray, shape (n_frames,)
    config : SadConfig, keyword-only
    frame_step : float, keyword-only
        Seconds per frame.

    Returns
    -------
    (ndarray of bool, ndarray of bool), each shape (n_frames,)
    """
    cfg = config or SadConfig()
    live = np.asarray(log_energy) > cfg.energy_floor_db
    # Frames within one averaging window of a boundary are labelled by their neighbours'
    # evidence as much as by their own (a loud onset next to silence averages low): they
    # are no one's confident frames.
    reach = 2 * frame_count(cfg.llr_window, frame_step, minimum=1) + 1
    mask = np.asarray(mask, dtype=bool)
    inner = erode(mask, reach=reach // 2)
    outer = ~dilate(mask, reach=reach // 2)
    sp = np.zeros(len(llr), dtype=bool)
    ns = np.zeros(len(llr), dtype=bool)
    if not live.any():
        return sp, ns
    vals = np.asarray(llr, dtype=np.float64)[live]
    if cfg.adapt_speech_fraction > 0:
        hi = np.quantile(vals, 1.0 - cfg.adapt_speech_fraction)
        sp = live & inner & (llr >= hi)
    if cfg.adapt_nonspeech_fraction > 0:
        pool = vals if cfg.adapt_nonspeech_scope == "recording" else (
            np.asarray(llr, dtype=np.float64)[live & outer])
        if len(pool):
            lo = np.quantile(pool, cfg.adapt_nonspeech_fraction)
            ns = live & outer & (llr <= lo)
    return sp, ns


def adapted_llr(feats: np.ndarray, log_energy: np.ndarray, voicing: np.ndarray,
                llr: np.ndarray, mask: np.ndarray, *, config: SadConfig | None = None,
                frame_step: float) -> np.ndarray:
    """Frame ratio under speech and non-speech models MAP-adapted to this recording.

    The means of the shipped models move towards the recording's own confident frames
    (:func:`adaptation_frames`) by ``n_k / (n_k + adapt_relevance)``, so a noise or a
    channel the training data lacked is scored against a model of itself (self-training
    as in classic speech detectors). A class with no confident frames keeps its model.

    Parameters
    ----------
    feats, log_energy, voicing
        As for :func:`model_llr`.
    llr : ndarray, shape (n_frames,)
        Window-averaged ratio of the first pass.
    mask : ndarray of bool, shape (n_frames,)
        Smoothed decision of the first pass.
    config : SadConfig, keyword-only
    frame_step : float, keyword-only
        Seconds per frame.

    Returns
    -------
    ndarray, shape (n_frames,), float32
    """
    cfg = config or SadConfig()
    speech, nonspeech = load_model(cfg.model_path or None)
    feats = np.asarray(feats, dtype=np.float32)
    e = np.asarray(log_energy, dtype=np.float32)
    v = np.asarray(voicing, dtype=np.float32)
    levels = _levels(e, cfg.energy_floor_db)
    sp, ns = adaptation_frames(llr, mask, e, config=cfg, frame_step=frame_step)
    stats: list[MixtureStats | None] = [None, None]
    for b0 in range(0, len(e), BLOCK_FRAMES):
        b1 = min(len(e), b0 + BLOCK_FRAMES)
        if not (sp[b0:b1].any() or ns[b0:b1].any()):
            continue
        xb = _model_rows(feats, e, v, b0, b1, levels)
        for i, (gmm, sel) in enumerate(((speech, sp), (nonspeech, ns))):
            if sel[b0:b1].any():
                part = gmm.sufficient_statistics(xb[sel[b0:b1]])
                prev = stats[i]
                stats[i] = part if prev is None else prev + part
    models = []
    for gmm, st in zip((speech, nonspeech), stats):
        if st is None:
            models.append(gmm)
            continue
        # The dynamic-range column is one value for the whole recording: a model adapted
        # to it would gain the same on every frame and shift the ratio of all of them, so
        # it keeps its prior means (first-order statistics of n_k * mu_k leave mu_k as is).
        st.first[:, RANGE_COLUMN] = st.n * gmm.means_[:, RANGE_COLUMN]
        models.append(gmm.map_adapt_stats(st, relevance_factor=cfg.adapt_relevance,
                                          params="m"))
    return _score(models[0], models[1], feats, e, v, levels)


def _score(speech: GaussianMixture, nonspeech: GaussianMixture, feats: np.ndarray,
           e: np.ndarray, v: np.ndarray, levels: tuple[float, float]) -> np.ndarray:
    """Frame ratio of two models, block by block (the blocks side by side on the
    pipeline's threads, :func:`diarize._threads.worker_pool`; each is scored as alone)."""
    llr = np.empty(len(e), dtype=np.float32)

    # The model's features are built one block of frames at a time: for the whole
    # recording they would be the largest arrays of the run.
    def score(b0: int) -> None:
        xb = _model_rows(feats, e, v, b0, min(len(e), b0 + BLOCK_FRAMES), levels)
        llr[b0:b0 + len(xb)] = speech.score_samples(xb) - nonspeech.score_samples(xb)

    starts = range(0, len(e), BLOCK_FRAMES)
    with worker_pool() as pool:
        for _ in (map(score, starts) if pool is None else pool.map(score, starts)):
            pass
    return llr


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
        Each frame's probability of speech.
    frame_step : float, keyword-only
        Seconds per frame.
    config : SadConfig, optional, keyword-only
        The smoothing: median_frames, min_speech, min_silence (default: SadConfig()).
    threshold : float, keyword-only
        A frame is speech where `prob` exceeds this: 0.5, the more probable of the two
        classes, for the 'energy' method's two-class posterior.

    Returns
    -------
    ndarray of bool, shape (n_frames,)
    """
    cfg = config or SadConfig()
    mask = prob > threshold
    if cfg.median_frames > 1 and len(mask):
        mask = majority_filter(mask, size=cfg.median_frames)
    mask = fill_short_runs(mask, value=False, max_len=frame_count(cfg.min_silence, frame_step))
    mask = fill_short_runs(mask, value=True, max_len=frame_count(cfg.min_speech, frame_step))
    return mask
