"""The diarization pipeline: audio -> features -> speech -> clusters -> turns.

:class:`Diarizer` runs the stages in order and returns a :class:`Diarization`.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable

import numpy as np

from ._threads import pipeline_threads
from .audio import audio_blocks
from .cluster import (agglomerative_bic, dp_cluster, link_clusters, link_clusters_clr,
                      segment_speech)
from .config import AudioConfig, Config, FeatureConfig, load_config
from .errors import ConfigError, NoSpeechWarning
from .features import MfccStream, speech_features
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
            # Handed over in a list that the stages empty: no one else holds these
            # features, so the frames are freed as soon as the speech frames are taken.
            handed = [self.extract(audio, hook=hook)]
            uri = uri or handed[0].uri or "audio"
            return self._diarize_features(handed, uri=uri, hook=hook)

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
        with pipeline_threads():
            uri = uri_for(audio) if isinstance(audio, (str, os.PathLike)) else None
            return self._features(audio_blocks(audio, config=self.config.audio), uri=uri,
                                  hook=hook)

    def diarize_signal(self, y: np.ndarray, *, uri: str = "audio",
                       hook: ProgressHook | None = None) -> Diarization:
        """Diarize a mono float32 signal already at ``config.audio.sample_rate``, as it is
        (the audio stage's resampling and high-pass are not applied).

        Parameters
        ----------
        y : ndarray, shape (n_samples,)

        Returns
        -------
        Diarization
        """
        with pipeline_threads():
            features = self._features([np.asarray(y, dtype=np.float32)], uri=uri, hook=hook)
            return self.diarize_features(features, uri=uri, hook=hook)

    def _features(self, blocks: Iterable[np.ndarray], *, uri: str | None,
                  hook: ProgressHook | None) -> "Features":
        """Features of a signal given as consecutive blocks; only the frames are kept."""
        cfg = self.config
        sr = cfg.audio.sample_rate
        front = self.front_end
        notify = hook or _no_progress
        notify("features", 0, 1)
        # The speech detector's and the UBM's front ends are computed from the same
        # blocks, next to the clustering front end, where they differ from it; the voicing
        # only in the speech detector's.
        sad_own = front.sad_features is not None
        streams = [MfccStream(sample_rate=sr, config=c, voicing=v)
                   for c, v in ((cfg.features, not sad_own), (front.sad_features, True),
                                (front.ubm_features, False))
                   if c is not None]
        for block in blocks:
            for stream in streams:
                stream.push(block)
        n_samples = streams[0].n_samples
        results = [stream.finish() for stream in streams]
        feats, energy, *voicing = results.pop(0)
        if sad_own:
            sad_feats, _, voicing = results.pop(0)
        else:
            sad_feats, voicing = feats, voicing[0]
        ubm_feats = None if front.ubm_features is None else results.pop(0)[0]
        notify("features", 1, 1)
        return Features(mfcc=feats, energy=energy, sad_mfcc=sad_feats, voicing=voicing,
                        ubm_mfcc=ubm_feats, duration=n_samples / sr, uri=uri, front_end=front)

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
            return self._diarize_features([features], uri=uri or features.uri or "audio",
                                          hook=hook)

    def _diarize_features(self, handed: list, *, uri: str,
                          hook: ProgressHook | None) -> Diarization:
        """Diarize the Features in `handed`, which is emptied: once the speech frames are
        taken, this call holds no reference to the whole recording's frames."""
        cfg = self.config
        step = cfg.features.hop_length
        front = handed.pop()
        duration = front.duration
        notify = hook or _no_progress

        notify("speech", 0, 1)
        speech = detect_speech_regions(front.sad_mfcc, front.energy, front.voicing,
                                       config=cfg.sad, frame_step=step, seed=cfg.seed)
        mask = speech.modelled
        notify("speech", 1, 1)

        result = Diarization([], uri=uri, duration=duration, speech_mask=speech.speech,
                             frame_step=step)
        speech_idx = np.flatnonzero(mask)
        if len(speech_idx) == 0:
            warnings.warn(f"no speech found in {uri}", NoSpeechWarning, stacklevel=3)
            return result

        # From here on only speech frames are modelled.
        xs = speech_features(front.mfcc, speech_idx, deltas=cfg.features.deltas,
                             delta_width=cfg.features.delta_width, normalise=cfg.features.cmvn)

        notify("clustering", 0, 1)
        seg_frames = frame_count(cfg.cluster.segment_seconds, step, minimum=1)
        segments = segment_speech(mask, seg_frames=seg_frames,
                                  max_segments=cfg.cluster.max_segments)
        lo, hi, exact = self._speaker_bounds(len(segments))
        link = cfg.cluster.link_method == "ubm" and not (
            cfg.cluster.count_method == "dp" and exact is None)
        xu = self._ubm_features(front, xs, speech_idx) if link else None
        del front  # the last reference here to the recording's frames
        speech_labels = None  # of every speech frame; set by the stages that work on frames
        if cfg.cluster.count_method == "dp" and exact is None:
            clusters = dp_cluster(xs, segments, config=cfg.cluster, min_clusters=lo,
                                  max_clusters=hi, seed=cfg.seed)
        elif link:
            clusters, speech_labels = self._bic_then_link(xs, xu, segments,
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

    def _ubm_features(self, front: "Features", xs: np.ndarray,
                      speech_idx: np.ndarray) -> np.ndarray:
        """The speech frames in the UBM's front end (`xs` itself where it is the same).

        Returns
        -------
        ndarray, shape (n_speech_frames, n_ubm_features), float32
        """
        cfg = self.config
        ubm = load_ubm(cfg.cluster.ubm_path or None)
        if front.ubm_mfcc is None and _same_speaker_features(cfg.features, ubm):
            return xs
        mf = front.ubm_mfcc if front.ubm_mfcc is not None else front.mfcc
        return speech_features(mf, speech_idx, deltas=bool(ubm.front_end["deltas"]),
                               delta_width=int(ubm.front_end["delta_width"]))

    def _bic_then_link(self, xs: np.ndarray, xu: np.ndarray, segments: np.ndarray, *,
                       seg_frames: int, lo: int, hi: int, exact: int | None):
        """BIC merging that over-segments on purpose, then UBM speaker linking, which
        decides the number of speakers.

        Parameters
        ----------
        xs : ndarray, shape (n_speech_frames, n_features)
            The clustering features of the speech frames.
        xu : ndarray, shape (n_speech_frames, n_ubm_features)
            The same frames in the UBM's features.

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
    voicing: np.ndarray
    """shape (n_frames,), float32: frame voicing in the speech detector's front end"""
    ubm_mfcc: np.ndarray | None
    """shape (n_frames, n_mfcc''): the UBM's front end, where it differs from `mfcc`"""
    duration: float
    """seconds of audio"""
    uri: str | None
    """recording name (the file name without suffix) where known"""
    front_end: FrontEndConfig
    """the configuration the features were computed with"""

    def __post_init__(self) -> None:
        for a in self._arrays():
            a.flags.writeable = False

    def _arrays(self) -> list[np.ndarray]:
        """The arrays held, each once (`sad_mfcc` may be `mfcc` itself)."""
        arrays = (self.mfcc, self.energy, self.sad_mfcc, self.voicing, self.ubm_mfcc)
        return list({id(a): a for a in arrays if a is not None}.values())

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        return sum(a.nbytes for a in self._arrays())


def _same_speaker_features(features, ubm) -> bool:
    """Whether the clustering features (`features`) are the ones the UBM was trained on."""
    return (features.cmvn and features.deltas == bool(ubm.front_end["deltas"])
            and (not features.deltas or features.delta_width == int(ubm.front_end["delta_width"])))


def _labels_to_turns(labels: np.ndarray, names: list[str], step: float) -> list[Turn]:
    """Runs of equal non-negative labels -> turns (times in seconds, 3-decimal exact)."""
    s, e, v = runs(labels)
    return [Turn(frame_time(a, step), frame_time(b, step), names[int(k)])
            for a, b, k in zip(s, e, v) if k >= 0]
