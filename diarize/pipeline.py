"""The diarization pipeline: audio -> features -> speech -> clusters -> turns.

:class:`Diarizer` runs the stages in order and returns a :class:`Diarization`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from ._threads import pipeline_threads
from .audio import read_audio
from .cluster import (agglomerative_bic, dp_cluster, link_clusters, link_clusters_clr,
                      segment_speech)
from .config import AudioConfig, Config, FeatureConfig, load_config
from .errors import ConfigError
from .features import mfcc, speaker_features
from .io import uri_for
from .resegment import absorb_short_turns, resegment
from .sad import detect_speech, model_feature_config, runs
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

    @property
    def front_end(self) -> "FrontEndConfig":
        """The front-end configuration this Diarizer computes and accepts features with."""
        cfg = self.config
        sad_front = model_feature_config(cfg.features) if cfg.sad.method == "model" else None
        ubm_front = None
        if cfg.cluster.link_method == "ubm":
            ubm_front = load_ubm(cfg.cluster.ubm_path or None).feature_config(cfg.features)
        return FrontEndConfig(audio=replace(cfg.audio), features=replace(cfg.features),
                              sad_features=sad_front, ubm_features=ubm_front)

    def __call__(self, audio: Any, *, uri: str | None = None,
                 hook: ProgressHook | None = None) -> Diarization:
        """Diarize a file path or a ``(samples, sample_rate)`` pair.

        The same as ``diarize_features(extract(audio), uri=uri)``.

        Returns
        -------
        Diarization
        """
        with pipeline_threads():  # one BLAS thread, restored on return
            features = self.extract(audio, hook=hook)
            return self.diarize_features(features, uri=uri, hook=hook)

    def extract(self, audio: Any, *, hook: ProgressHook | None = None) -> "Features":
        """Read `audio` and compute its frame-level features, once for many configurations.

        Parameters
        ----------
        audio : path-like or (array-like, number)
            A file path or a ``(samples, sample_rate)`` pair.
        hook : callable, keyword-only, optional
            Progress hook ``hook(stage, completed, total)``.

        Returns
        -------
        Features
            Usable by :meth:`diarize_features` of any Diarizer whose
            :attr:`front_end` is the same.
        """
        cfg = self.config
        with pipeline_threads():
            y = read_audio(audio, config=cfg.audio)
            uri = uri_for(audio) if isinstance(audio, (str, os.PathLike)) else None
            return self._features_of_signal(y, uri=uri, hook=hook)

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
            features = self._features_of_signal(y, uri=uri, hook=hook)
            return self.diarize_features(features, uri=uri, hook=hook)

    def _features_of_signal(self, y: np.ndarray, *, uri: str | None,
                            hook: ProgressHook | None) -> "Features":
        cfg = self.config
        sr = cfg.audio.sample_rate
        front = self.front_end
        notify = hook or _no_progress
        notify("features", 0, 1)
        feats, energy = mfcc(y, sample_rate=sr, config=cfg.features)
        sad_feats = (feats if front.sad_features is None
                     else mfcc(y, sample_rate=sr, config=front.sad_features)[0])
        ubm_feats = (None if front.ubm_features is None
                     else mfcc(y, sample_rate=sr, config=front.ubm_features)[0])
        notify("features", 1, 1)
        return Features(mfcc=feats, energy=energy, sad_mfcc=sad_feats, ubm_mfcc=ubm_feats,
                        duration=len(y) / sr, uri=uri, front_end=front)

    def diarize_features(self, features: "Features", *, uri: str | None = None,
                         hook: ProgressHook | None = None) -> Diarization:
        """Diarize features from :meth:`extract` (of this or another Diarizer).

        Parameters
        ----------
        features : Features
        uri : str, keyword-only, optional
            Recording name; defaults to the features' (the file name) or ``"audio"``.
        hook : callable, keyword-only, optional

        Returns
        -------
        Diarization

        Raises
        ------
        ConfigError
            If `features` were computed with another front-end configuration.
        """
        if not isinstance(features, Features):
            raise ConfigError("diarize_features needs Features from Diarizer.extract")
        if features.front_end != self.front_end:
            raise ConfigError("these features were computed with another front-end "
                              "configuration (audio, features, speech-detector or UBM front "
                              "end); extract them with this configuration")
        with pipeline_threads():
            return self._diarize_features(features, uri=uri or features.uri or "audio",
                                          hook=hook)

    def _diarize_features(self, front: "Features", *, uri: str,
                          hook: ProgressHook | None) -> Diarization:
        cfg = self.config
        step = cfg.features.hop_length
        feats, energy, duration = front.mfcc, front.energy, front.duration
        notify = hook or _no_progress

        notify("speech", 0, 1)
        mask = detect_speech(front.sad_mfcc, energy, config=cfg.sad, frame_step=step, seed=cfg.seed)
        notify("speech", 1, 1)

        result = Diarization([], uri=uri, duration=duration, speech_mask=mask, frame_step=step)
        speech_idx = np.flatnonzero(mask)
        if len(speech_idx) == 0:
            return result

        x = speaker_features(feats, mask, deltas=cfg.features.deltas,
                             delta_width=cfg.features.delta_width, normalise=cfg.features.cmvn)

        # From here on only speech frames are modelled.
        xs = x[speech_idx]
        del x

        notify("clustering", 0, 1)
        seg_frames = max(1, int(round(cfg.cluster.segment_seconds / step)))
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
        frame_labels = absorb_short_turns(
            frame_labels, min_frames=int(round(cfg.reseg.shortest_turn / step)))
        notify("resegmentation", 1, 1)

        names = [f"SPEAKER_{k:02d}" for k in range(reseg.posteriors.shape[1])]
        result.turns = sorted(_labels_to_turns(frame_labels, names, step))
        post = np.zeros((len(mask), len(names)), dtype=np.float32)
        post[speech_idx] = reseg.posteriors
        result.posteriors = post
        result.speaker_models = dict(zip(names, reseg.models))
        return result

    def _bic_then_link(self, front: "Features", xs: np.ndarray, mask: np.ndarray,
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


@dataclass(frozen=True)
class FrontEndConfig:
    """The parts of a :class:`Config` that decide the features: two Diarizers with equal
    front ends compute the same :class:`Features` from the same audio."""

    audio: AudioConfig
    features: FeatureConfig
    sad_features: FeatureConfig | None
    """The speech detector's MFCC front end where it differs from `features`."""
    ubm_features: FeatureConfig | None
    """The UBM's MFCC front end where linking uses a UBM and it differs from `features`."""

    def __hash__(self) -> int:  # the sections are plain (unhashable) dataclasses
        return hash(repr(self))


@dataclass(frozen=True, eq=False)
class Features:
    """Frame-level features of one recording (all rows are frames of ``hop_length``).

    Made by :meth:`Diarizer.extract`; the arrays are read-only, so one Features can be
    diarized with many configurations.
    """

    mfcc: np.ndarray
    """shape (n_frames, n_mfcc), float32"""
    energy: np.ndarray
    """shape (n_frames,), float32: frame level in dBFS"""
    sad_mfcc: np.ndarray
    """shape (n_frames, n_mfcc'): the speech detector's front end (`mfcc` itself where
    they are the same)"""
    ubm_mfcc: np.ndarray | None
    """shape (n_frames, n_mfcc''): the UBM's front end, where it differs from `mfcc`"""
    duration: float
    """seconds of audio"""
    uri: str | None
    """recording name (the file name without suffix) where known"""
    front_end: FrontEndConfig
    """the configuration the features were computed with"""

    def __post_init__(self) -> None:
        for a in (self.mfcc, self.energy, self.sad_mfcc, self.ubm_mfcc):
            if a is not None:
                a.flags.writeable = False

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        arrays = {id(a): a for a in (self.mfcc, self.energy, self.sad_mfcc, self.ubm_mfcc)
                  if a is not None}
        return sum(a.nbytes for a in arrays.values())


def _same_speaker_features(features, ubm) -> bool:
    """Whether the clustering features (`features`) are the ones the UBM was trained on."""
    return (features.cmvn and features.deltas == bool(ubm.front_end["deltas"])
            and (not features.deltas or features.delta_width == int(ubm.front_end["delta_width"])))


def _labels_to_turns(labels: np.ndarray, names: list[str], step: float) -> list[Turn]:
    """Runs of equal non-negative labels -> turns (times in seconds, 3-decimal exact)."""
    s, e, v = runs(labels)
    return [Turn(round(a * step, 3), round(b * step, 3), names[int(k)])
            for a, b, k in zip(s, e, v) if k >= 0]
