"""The diarization pipeline: audio -> features -> speech -> clusters -> turns.

:class:`Diarizer` runs the stages in order and returns a :class:`Diarization`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ._threads import pipeline_threads
from .audio import load_audio, prepare_signal
from .cluster import (agglomerative_bic, dp_cluster, link_clusters, link_clusters_clr,
                      segment_speech)
from .config import Config, load_config
from .errors import AudioError
from .features import mfcc, speaker_features
from .frames import frame_count, frame_time, nearest_label, runs
from .io import uri_for
from .resegment import absorb_short_turns, resegment
from .sad import detect_speech_regions, model_feature_config
from .segments import Diarization, Turn
from .speakers import load_ubm, segment_statistics

ProgressHook = Callable[[str, int, int], None]


class Diarizer:
    """Speaker diarization with Gaussian mixture models.

    Parameters
    ----------
    config : Config, optional
        Defaults to ``Config()`` (the values of ``configs/default.toml``).
    **overrides
        Configuration keys to override, top-level (``num_speakers=2``) or dotted with
        ``__`` (``reseg__min_turn=0.3``).

    Examples
    --------
    >>> from diarize import Diarizer
    >>> result = Diarizer(num_speakers=2)("meeting.wav")  # doctest: +SKIP
    """

    def __init__(self, config: Config | None = None, **overrides: Any) -> None:
        cfg = config if config is not None else Config()
        if overrides:
            cfg = cfg.replace(**overrides)
        self.config = cfg.validate()

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "Diarizer":
        """A Diarizer configured by a shipped preset (``configs/<name>.toml``)."""
        return cls(load_config(preset=name), **overrides)

    def __call__(self, audio: Any, *, uri: str | None = None,
                 hook: ProgressHook | None = None) -> Diarization:
        """Diarize a file path or a ``(samples, sample_rate)`` pair.

        Returns
        -------
        Diarization
        """
        with pipeline_threads():  # one BLAS thread, restored on return
            cfg = self.config
            sr = cfg.audio.sample_rate
            if isinstance(audio, (str, os.PathLike)):
                if uri is None:
                    uri = uri_for(audio)
                y = load_audio(audio, sample_rate=sr, block_seconds=cfg.audio.block_seconds)
            else:
                try:
                    samples, rate = audio
                except (TypeError, ValueError):
                    raise AudioError("audio must be a path or a (samples, sample_rate) pair") from None
                y = prepare_signal(samples, sample_rate=int(rate), target_rate=sr)
                uri = uri or "audio"
            front = self._front_end(y, hook)
            del y  # the signal is the largest array; nothing after the front end needs it
            return self._diarize_features(front, uri=uri, hook=hook)

    def diarize_signal(self, y: np.ndarray, *, uri: str = "audio",
                       hook: ProgressHook | None = None) -> Diarization:
        """Diarize a mono float32 signal already at ``config.audio.sample_rate``.

        Parameters
        ----------
        y : ndarray, shape (n_samples,)

        Returns
        -------
        Diarization
        """
        with pipeline_threads():
            return self._diarize_features(self._front_end(y, hook), uri=uri, hook=hook)

    def _front_end(self, y: np.ndarray, hook: ProgressHook | None) -> "_FrontEnd":
        cfg = self.config
        sr = cfg.audio.sample_rate
        notify = hook or _no_progress
        notify("features", 0, 1)
        feats, energy = mfcc(y, sample_rate=sr, config=cfg.features)
        sad_front = model_feature_config(cfg.features) if cfg.sad.method == "model" else None
        sad_feats = feats if sad_front is None else mfcc(y, sample_rate=sr, config=sad_front)[0]
        ubm_feats = None
        if cfg.cluster.link_method == "ubm":
            ubm_front = load_ubm(cfg.cluster.ubm_path or None).feature_config(cfg.features)
            if ubm_front is not None:
                ubm_feats = mfcc(y, sample_rate=sr, config=ubm_front)[0]
        notify("features", 1, 1)
        return _FrontEnd(feats, energy, sad_feats, len(y) / sr, ubm_feats)

    def _diarize_features(self, front: "_FrontEnd", *, uri: str,
                          hook: ProgressHook | None) -> Diarization:
        cfg = self.config
        step = cfg.features.hop_length
        feats, energy, duration = front.mfcc, front.energy, front.duration
        notify = hook or _no_progress

        notify("speech", 0, 1)
        speech = detect_speech_regions(front.sad_mfcc, energy, config=cfg.sad, frame_step=step,
                                       seed=cfg.seed)
        mask = speech.modelled
        notify("speech", 1, 1)

        result = Diarization([], uri=uri, duration=duration, speech_mask=speech.speech,
                             frame_step=step)
        speech_idx = np.flatnonzero(mask)
        if len(speech_idx) == 0:
            return result

        x = speaker_features(feats, mask, deltas=cfg.features.deltas,
                             delta_width=cfg.features.delta_width, normalise=cfg.features.cmvn)

        # From here on only speech frames are modelled.
        xs = x[speech_idx]
        del x

        notify("clustering", 0, 1)
        seg_frames = frame_count(cfg.cluster.segment_seconds, step, minimum=1)
        segments = segment_speech(mask, seg_frames=seg_frames,
                                  max_segments=cfg.cluster.max_segments)
        lo, hi, exact = self._speaker_bounds(len(segments))
        speech_labels = None  # of every speech frame; set by the stages that work on frames
        if cfg.cluster.count_method == "dp" and exact is None:
            clusters = dp_cluster(xs, segments, config=cfg.cluster, min_clusters=lo,
                                  max_clusters=hi, seed=cfg.seed)
        elif cfg.cluster.link_method == "ubm":
            clusters, speech_labels = self._bic_then_link(front, xs, mask, speech_idx, segments,
                                                          seg_frames=seg_frames, lo=lo, hi=hi,
                                                          exact=exact)
        else:
            clusters = agglomerative_bic(xs, segments, config=cfg.cluster, frame_step=step,
                                         min_clusters=lo, max_clusters=hi, n_clusters=exact)
        if speech_labels is None:
            speech_labels = np.repeat(clusters.labels, segments[:, 1] - segments[:, 0])
        result.bic = clusters.bic
        result.bic_choice = clusters.n_clusters
        notify("clustering", 1, 1)

        notify("resegmentation", 0, 1)
        reseg = resegment(xs, speech_labels, config=cfg.reseg, frame_step=step, seed=cfg.seed)
        frame_labels = np.full(len(mask), -1, dtype=np.int64)
        frame_labels[speech_idx] = reseg.labels
        frame_labels = nearest_label(frame_labels, speech.speech)
        frame_labels[~speech.speech] = -1  # pauses inside phrase groups end turns
        frame_labels = absorb_short_turns(
            frame_labels, min_frames=frame_count(cfg.reseg.shortest_turn, step))
        notify("resegmentation", 1, 1)

        names = [f"SPEAKER_{k:02d}" for k in range(reseg.posteriors.shape[1])]
        result.turns = sorted(_labels_to_turns(frame_labels, names, step))
        post = np.zeros((len(mask), len(names)), dtype=np.float32)
        post[speech_idx] = reseg.posteriors
        result.posteriors = post
        result.speaker_models = dict(zip(names, reseg.models))
        return result

    def _bic_then_link(self, front: "_FrontEnd", xs: np.ndarray, mask: np.ndarray,
                       speech_idx: np.ndarray, segments: np.ndarray, *, seg_frames: int,
                       lo: int, hi: int, exact: int | None):
        """BIC merging that over-segments on purpose, then UBM speaker linking, which
        decides the number of speakers.

        Returns
        -------
        ClusterResult
            `bic` from the BIC stage, `similarity` from linking.
        speech_labels : ndarray of int, shape (n_speech_frames,)
        """
        cfg = self.config
        step = cfg.features.hop_length
        bic = agglomerative_bic(xs, segments, config=cfg.cluster, frame_step=step,
                                min_clusters=lo,
                                max_clusters=max(hi, cfg.cluster.max_initial_clusters))
        ubm = load_ubm(cfg.cluster.ubm_path or None)
        if front.ubm_mfcc is None and _same_speaker_features(cfg.features, ubm):
            xu = xs
        else:
            mf = front.ubm_mfcc if front.ubm_mfcc is not None else front.mfcc
            xu = speaker_features(mf, mask, deltas=bool(ubm.front_end["deltas"]),
                                  delta_width=int(ubm.front_end["delta_width"]))[speech_idx]
        lengths = segments[:, 1] - segments[:, 0]
        if cfg.cluster.link_score == "cosine":
            n_stats, first_stats = segment_statistics(ubm.gmm, xu, segments)
            clusters = link_clusters(n_stats, first_stats, bic.labels, ubm=ubm,
                                     config=cfg.cluster, min_clusters=lo, max_clusters=hi,
                                     n_clusters=exact)
            clusters.bic = bic.bic
            return clusters, np.repeat(clusters.labels, lengths)
        init = np.repeat(bic.labels, lengths)
        lengthened = np.max(lengths) > 1.5 * seg_frames
        if cfg.cluster.reseg_before_link == "always" or (
                cfg.cluster.reseg_before_link == "long" and lengthened):
            # Segments longer than segment_seconds (recordings with more speech than
            # max_segments segments) straddle speaker turns, so BIC's clusters mix voices;
            # frame-level speaker models clean them up before they are compared.
            init = resegment(xs, init, config=cfg.reseg, frame_step=step, seed=cfg.seed).labels
        clusters = link_clusters_clr(xu, init, ubm=ubm, config=cfg.cluster, min_clusters=lo,
                                     max_clusters=hi, n_clusters=exact)
        clusters.bic = bic.bic
        return clusters, clusters.labels

    def _speaker_bounds(self, n_segments: int) -> tuple[int, int, int | None]:
        cfg = self.config
        if cfg.num_speakers is not None:
            k = min(cfg.num_speakers, n_segments)
            return k, k, k
        hi = max(1, min(cfg.max_speakers, n_segments))
        lo = min(cfg.min_speakers, hi)
        return lo, hi, None



def _no_progress(stage: str, completed: int, total: int) -> None:
    pass


@dataclass
class _FrontEnd:
    """Frame-level features of one recording (all rows are 10 ms frames)."""

    mfcc: np.ndarray  # (n_frames, n_mfcc) float32
    energy: np.ndarray  # (n_frames,) dBFS
    sad_mfcc: np.ndarray  # (n_frames, n_mfcc): the speech detector's front end
    duration: float  # seconds
    ubm_mfcc: np.ndarray | None = None  # the UBM's front end, where it differs from mfcc's


def _same_speaker_features(features, ubm) -> bool:
    """Whether the clustering features (`features`) are the ones the UBM was trained on."""
    return (features.cmvn and features.deltas == bool(ubm.front_end["deltas"])
            and (not features.deltas or features.delta_width == int(ubm.front_end["delta_width"])))


def _labels_to_turns(labels: np.ndarray, names: list[str], step: float) -> list[Turn]:
    """Runs of equal non-negative labels -> turns (times in seconds, 3-decimal exact)."""
    s, e, v = runs(labels)
    return [Turn(frame_time(a, step), frame_time(b, step), names[int(k)])
            for a, b, k in zip(s, e, v) if k >= 0]
