"""The diarization pipeline: audio -> features -> speech -> clusters -> turns.

:class:`Diarizer` runs the stages in order and returns a :class:`Diarization`.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import numpy as np

from ._threads import pipeline_threads, read_ahead, worker_pool
from .audio import audio_blocks, audio_spans
from .cluster import asked_count, cluster_speakers, count_floor, speaker_ubm
from .config import AudioConfig, Config, FeatureConfig, load_config
from .errors import (AudioError, ConfigError, NoSpeechWarning, ParameterError,
                     SpeakerCountWarning, warn_recording)
from .features import FrameFeatures, MfccStream, speech_features
from .models import check_model_files
from .frames import even_subsample_index, frame_count, moving_max, relabel
from .names import LABEL_FORMAT, uri_for
from .guide import guided_labels, standardise
from .resegment import ResegResult, refit, resegment, shape_turns
from .sad import SpeechMask, detect_speech_regions, model_feature_config
from .segments import CountEvidence, Diarization, SpeakerCount, turns_from_labels
from .speakers import BackgroundModel, VoiceStats, voice_statistics

if TYPE_CHECKING:
    # Named speakers only: a run without voices does not import them (startup time).
    from .voices import VoiceLibrary, Voiceprint

ProgressHook = Callable[[str, int, int], None]


class Diarizer:
    """Speaker diarization with Gaussian mixture models.

    Parameters
    ----------
    config : Config, optional
        Defaults to ``Config()`` (the values of ``configs/default.toml``).
    **overrides
        Configuration keys to override, top-level (``num_speakers=2``) or dotted with
        ``__`` (``reseg__decoder_min_turn=0.3``).

    Raises
    ------
    ConfigError
        An invalid configuration or override.
    ModelError
        A model file the configuration names cannot be loaded
        (:func:`diarize.models.check_model_files`).

    Other Parameters
    ----------------
    keep_voices : bool, keyword-only
        Also keep each output speaker's UBM statistics
        (:attr:`Diarization.voice_stats`), which named speakers and the linking of
        speakers across recordings score; needs ``cluster.link_method = "ubm"``.
    voices : path-like or VoiceLibrary, keyword-only, optional
        A folder of voiceprints (``diarize enroll``) or a loaded
        :class:`diarize.voices.VoiceLibrary`: output speakers whose voice matches an
        enrolled one take its name (:attr:`Diarization.voice_matches` says how each
        scored). Implies `keep_voices`.
    keep_models : bool, keyword-only, default True
        Keep the speakers' GMMs and smoothed frame posteriors in the result
        (:attr:`Diarization.speaker_models`, :attr:`Diarization.posteriors`). No output
        format writes them: every command and :func:`diarize.batch` pass False, and then
        a diarization guided by enrolled voices does not fit again the speakers it changed
        (their turns are the same either way); `posteriors` is then None and
        `speaker_models` empty.

    Raises (also)
    -------------
    VoiceError
        `voices` is not a folder of voiceprints made with this UBM and front end.

    Examples
    --------
    >>> from diarize import Diarizer
    >>> result = Diarizer(num_speakers=2)("meeting.wav")  # doctest: +SKIP
    """

    def __init__(self, config: Config | None = None, *, keep_voices: bool = False,
                 voices: "str | os.PathLike | VoiceLibrary | None" = None,
                 keep_models: bool = True, **overrides: Any) -> None:
        cfg = config if config is not None else Config()
        if not isinstance(cfg, Config):
            raise ConfigError(
                f"Diarizer: config must be a diarize.Config, not {type(cfg).__name__} (a "
                "TOML file: Diarizer(diarize.load_config(path)); keys: Diarizer(key=value))")
        if overrides:
            cfg = cfg.replace(**overrides)
        self.config = cfg.validate()
        check_model_files(self.config)
        keep_voices = keep_voices or voices is not None
        if keep_voices and speaker_ubm(self.config.cluster) is None:
            raise ConfigError("keeping speakers' voices needs cluster.link_method = 'ubm' "
                              "(their models are adapted from its UBM)")
        self.keep_voices = bool(keep_voices)
        self.keep_models = bool(keep_models)
        self.voices: VoiceLibrary | None = None
        if voices is not None:
            from .voices import VoiceLibrary

            ubm = speaker_ubm(self.config.cluster)
            assert ubm is not None  # checked above
            self.voices = (voices if isinstance(voices, VoiceLibrary)
                           else VoiceLibrary.open(voices, config=self.config, ubm=ubm))

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "Diarizer":
        """A Diarizer configured by a shipped preset (``configs/<name>.toml``)."""
        return cls(load_config(preset=name), **overrides)

    @property
    def front_end(self) -> "FrontEndConfig":
        """The front-end configuration this Diarizer computes and accepts features with."""
        cfg = self.config
        sad_front = model_feature_config(cfg.features) if cfg.sad.method == "model" else None
        ubm = speaker_ubm(cfg.cluster)
        ubm_front = None if ubm is None else ubm.feature_config(cfg.features)
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

    def speech_voice(self, audio: Any) -> tuple[VoiceStats, float]:
        """All the speech of `audio` as one voice: its UBM statistics and seconds.

        The audio is read, its features computed and its speech found exactly as for
        diarization (:meth:`extract`, the speech detector); every speech frame counts.

        Returns
        -------
        (VoiceStats, float)
            The statistics (of at most ``voices.max_frames`` frames, evenly spaced) and
            the seconds of speech found.
        """
        stats, _, seconds = self._speech_voices(audio, copies=False)
        return stats, seconds

    def enrolment_voice(self, audio: Any, *, spans: Sequence[tuple[float, float]] | None = None
                        ) -> tuple[VoiceStats, list[VoiceStats], float]:
        """:meth:`speech_voice`, and the statistics of the same speech frames in each of
        the ``voices.enroll_copies`` degraded copies of the audio
        (:func:`diarize.voices.degraded_copies`; multi-condition enrolment).

        Parameters
        ----------
        audio : path-like or (array-like, number)
        spans : sequence of (float, float), optional, keyword-only
            Only these stretches of the audio, (start, end) in seconds, joined end to end
            (:func:`diarize.audio.audio_spans`): one speaker's turns in a recording of
            several.

        Returns
        -------
        (VoiceStats, list of VoiceStats, float)
            Clean statistics, one per copy, and the seconds of speech found (in the clean
            audio; the copies' frames are those same frames).
        """
        return self._speech_voices(audio, copies=True, spans=spans)

    def _speech_voices(self, audio: Any, *, copies: bool,
                       spans: Sequence[tuple[float, float]] | None = None
                       ) -> tuple[VoiceStats, list[VoiceStats], float]:
        ubm = speaker_ubm(self.config.cluster)
        if ubm is None:
            raise ConfigError("voiceprints need cluster.link_method = 'ubm' "
                              "(they are adapted from its UBM)")
        cfg = self.config
        n_copies = cfg.voices.enroll_copies if copies else 0
        with pipeline_threads():
            if spans is not None or n_copies:
                # held whole: the copies are degraded from it
                y = (audio_spans(audio, spans, config=cfg.audio) if spans is not None else
                     np.concatenate([np.asarray(b, dtype=np.float32)
                                     for b in audio_blocks(audio, config=cfg.audio)]
                                    or [np.zeros(0, dtype=np.float32)]))
                front = self._features([y], uri=None, hook=None)
            else:
                front = self.extract(audio)
            speech = detect_speech_regions(front.sad_mfcc, front.energy, front.voicing,
                                           config=cfg.sad, frame_step=cfg.features.hop_length,
                                           seed=cfg.seed)
            speech_idx = np.flatnonzero(speech.modelled)
            seconds = len(speech_idx) * cfg.features.hop_length
            if len(speech_idx) == 0:
                c, d = ubm.gmm.means_.shape
                empty = VoiceStats(np.zeros(c), np.zeros((c, d)))
                return empty, [empty] * n_copies, 0.0
            stats = self._frames_voice(front, speech_idx)
            conditions = []
            if n_copies:
                from .voices import degraded_copies

                # The copies are read on the clean audio's speech frames: the speech
                # detector is not asked to find speech in noise, and every condition
                # model sees the same stretches of voice.
                for yd, _ in degraded_copies(y, cfg.audio.sample_rate, config=cfg):
                    fd = self._features([yd], uri=None, hook=None)
                    idx = speech_idx[speech_idx < len(fd.mfcc)]
                    conditions.append(self._frames_voice(fd, idx))
            return stats, conditions, float(seconds)

    def _frames_voice(self, front: "Features", speech_idx: np.ndarray) -> VoiceStats:
        """The UBM statistics of frames `speech_idx` of `front`, as one voice."""
        cfg = self.config
        xs = speech_features(front.mfcc, speech_idx, deltas=cfg.features.deltas,
                             delta_width=cfg.features.delta_width,
                             normalise=cfg.features.cmvn)
        xu = self._ubm_speech_features(front, xs, speech_idx)
        assert xu is not None
        return self._voice_stats(xu, np.zeros(len(xu), dtype=np.int64), ["voice"])["voice"]

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
            # The audio is decoded, resampled and high-passed a block or two ahead, on
            # another thread, while the features of the block before are computed.
            with contextlib.closing(read_ahead(audio_blocks(audio, config=self.config.audio))
                                    ) as blocks:
                return self._features(blocks, uri=uri, hook=hook)

    def diarize_signal(self, y: np.ndarray, *, uri: str = "audio",
                       hook: ProgressHook | None = None) -> Diarization:
        """Diarize a mono float32 signal already at ``config.audio.sample_rate``, as it is
        (the audio stage's resampling and high-pass are not applied).

        Parameters
        ----------
        y : ndarray, shape (n_samples,), floating point, in [-1, 1]

        Returns
        -------
        Diarization

        Raises
        ------
        AudioError
            `y` is not a 1-D array of floating-point samples (integers would be read
            unscaled: give ``(samples, rate)`` to the Diarizer itself, which scales them),
            or holds NaN or infinity.
        """
        try:
            given = np.asarray(y)
        except (TypeError, ValueError):
            given = np.asarray(None)
        if given.ndim != 1 or not np.issubdtype(given.dtype, np.floating):
            raise AudioError(
                f"diarize_signal takes a 1-D array of float samples, got "
                f"{'shape ' + str(given.shape) if given.ndim != 1 else given.dtype} "
                "(call the Diarizer with (samples, sample_rate) for other audio)")
        signal = given.astype(np.float32, copy=False)
        if not np.isfinite(signal).all():
            raise AudioError("diarize_signal: the samples hold NaN or infinity")
        with pipeline_threads():
            features = self._features([signal], uri=uri, hook=hook)
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
        own = MfccStream(sample_rate=sr, config=cfg.features,
                         voicing=front.sad_features is None)
        sad = (None if front.sad_features is None
               else MfccStream(sample_rate=sr, config=front.sad_features, voicing=True))
        ubm = (None if front.ubm_features is None
               else MfccStream(sample_rate=sr, config=front.ubm_features, voicing=False))
        streams = [s for s in (own, sad, ubm) if s is not None]
        for block in blocks:
            for stream in streams:
                stream.push(block)
        frames = own.finish()
        sad_frames = frames if sad is None else sad.finish()
        # Linking and naming read the UBM's own front end without the band floor, as the
        # UBM was trained: where it is the clustering front end, its plain cepstra.
        ubm_mfcc = (ubm.finish().mfcc if ubm is not None
                    else frames.mfcc if own.speaker_mfcc is not None else None)
        assert sad_frames.voicing is not None  # the speech detector's stream computes it
        notify("features", 1, 1)
        # the speech detector reads the cepstra without the band floor, as it was trained
        return Features(mfcc=_speaker_cepstra(own, frames), energy=frames.energy,
                        sad_mfcc=sad_frames.mfcc,
                        voicing=sad_frames.voicing, ubm_mfcc=ubm_mfcc,
                        duration=own.n_samples / sr, uri=uri, front_end=front)

    def diarize_features(self, features: "Features", *, uri: str | None = None,
                         hook: ProgressHook | None = None, speech: np.ndarray | None = None,
                         keep_stages: bool = False) -> Diarization:
        """Diarize features from :meth:`extract` (of this or another Diarizer).

        Parameters
        ----------
        features : Features
        uri : str, keyword-only, optional
            Recording name; defaults to the features' (the file name) or ``"audio"``.
        hook : callable, keyword-only, optional
        speech : ndarray of bool, shape (n_frames,), keyword-only, optional
            Speech frames to use instead of the speech detector's decision (both for
            speaker modelling and for the turns), e.g. a reference's, to measure what the
            rest of the pipeline does with perfect speech detection.
        keep_stages : bool, keyword-only
            Keep every stage's speaker labels in :attr:`Diarization.stages`.

        Returns
        -------
        Diarization

        Raises
        ------
        ConfigError
            If `features` were computed with another front-end configuration.
        ParameterError
            If `speech` does not have one value per frame of `features`.
        """
        if not isinstance(features, Features):
            raise ConfigError("diarize_features needs Features from Diarizer.extract")
        if features.front_end != self.front_end:
            raise ConfigError("these features were computed with another front-end "
                              "configuration (audio, features, speech-detector or UBM front "
                              "end); extract them with this configuration")
        given = None
        if speech is not None:
            mask = np.asarray(speech)
            if mask.shape != (len(features.mfcc),):
                raise ParameterError(f"diarize_features: a speech mask of shape {mask.shape} "
                                     f"for {len(features.mfcc)} frames")
            given = SpeechMask(mask.astype(bool), mask.astype(bool))
        with pipeline_threads():
            return self._diarize_features([features], uri=uri or features.uri or "audio",
                                          hook=hook, speech=given, keep_stages=keep_stages)

    def _diarize_features(self, handed: list, *, uri: str, hook: ProgressHook | None,
                          speech: SpeechMask | None = None,
                          keep_stages: bool = False) -> Diarization:
        """Diarize the Features in `handed`, which is emptied: once the speech frames are
        taken, this call holds no reference to the whole recording's frames. `speech`,
        when given, replaces the speech detector."""
        cfg = self.config
        step = cfg.features.hop_length
        front = handed.pop()
        notify = hook or _no_progress

        notify("speech", 0, 1)
        if speech is None:
            speech = detect_speech_regions(front.sad_mfcc, front.energy, front.voicing,
                                           config=cfg.sad, frame_step=step, seed=cfg.seed)
        notify("speech", 1, 1)
        result = Diarization([], uri=uri, duration=front.duration, speech_mask=speech.speech,
                             frame_step=step)
        speech_idx = np.flatnonzero(speech.modelled)
        if len(speech_idx) == 0:
            warn_recording(f"no speech found in {uri}", NoSpeechWarning, stacklevel=3)
            # The no-speech warning already says why; the JSON says it too.
            result.speaker_count = self._speaker_count(0, uri=uri, n_speech_frames=0,
                                                       turn_speech_frames=0)
            if self.voices is not None:
                result.voice_matches = {}
            return result

        # From here on only speech frames are modelled.
        xs = speech_features(front.mfcc, speech_idx, deltas=cfg.features.deltas,
                             delta_width=cfg.features.delta_width, normalise=cfg.features.cmvn)
        xu = self._ubm_speech_features(front, xs, speech_idx)
        link_frames = _loud_frames(front.energy, speech_idx, config=cfg,
                                   level_db=self._link_level_db())
        del front  # the last reference here to the recording's frames

        notify("clustering", 0, 1)
        clusters = cluster_speakers(xs, speech=speech.modelled, config=cfg, ubm_features=xu,
                                    keep_stages=keep_stages, link_frames=link_frames)
        notify("clustering", 1, 1)

        notify("resegmentation", 0, 1)
        # A count asked for holds through resegmentation and turn shaping (0: none asked).
        floor = count_floor(cfg, n_speech_frames=len(xs)) if _count_asked(cfg) else 0
        reseg = resegment(xs, clusters.labels, config=cfg.reseg, frame_step=step, seed=cfg.seed,
                          min_speakers=max(floor, 1))
        # statistics computed while guiding, by their frames: kept voices reuse them
        known: dict[bytes, VoiceStats] = {}
        guided = self.voices is not None and cfg.voices.guide and xu is not None and not floor
        if guided:
            # The stretch of speech between pauses of each modelled frame: a new one
            # where the refined speech starts or ends, or modelled frames are not adjacent.
            refined = speech.speech[speech_idx]
            regions = np.cumsum((np.diff(speech_idx, prepend=-2) > 1)
                                | (np.diff(refined, prepend=~refined[:1]) != 0)) - 1
            assert xu is not None  # guided says so
            reseg = self._guided(xs, xu, reseg, regions, known)
        # Turns cover the refined speech, which may be shorter than the modelled speech.
        turn_floor = min(floor, _turn_speech_for(cfg, speech.speech))
        frame_labels = shape_turns(reseg.labels, modelled=speech.modelled, speech=speech.speech,
                                   config=cfg.reseg, frame_step=step, min_speakers=turn_floor)
        notify("resegmentation", 1, 1)

        n_speakers = (reseg.posteriors.shape[1] if reseg.posteriors is not None
                      else int(reseg.labels.max()) + 1)
        names = [LABEL_FORMAT.format(k) for k in range(n_speakers)]
        result.turns = turns_from_labels(frame_labels, names=names, frame_step=step)
        result.bic = clusters.bic
        result.bic_choice = clusters.n_clusters
        result.count_evidence = _count_evidence(cfg, clusters)
        if self.keep_models and reseg.posteriors is not None:
            post = np.zeros((len(speech.modelled), len(names)), dtype=np.float32)
            post[speech_idx] = reseg.posteriors
            result.posteriors = post
            result.speaker_models = dict(zip(names, reseg.models))
        if self.keep_voices and xu is not None:
            result.voice_stats = self._voice_stats(xu, reseg.labels, names, known=known)
        if keep_stages:
            result.stages = _frame_stages({**clusters.stages, "reseg": reseg.labels},
                                          speech_idx, n_frames=len(speech.modelled))
            result.stages["turns"] = frame_labels
        result.speaker_count = self._speaker_count(
            len(result.speakers), uri=uri, n_speech_frames=len(speech_idx),
            turn_speech_frames=int(np.count_nonzero(speech.speech)))
        if result.speaker_count is not None and result.speaker_count.note is not None:
            warn_recording(result.speaker_count.note, SpeakerCountWarning, stacklevel=3)
        if self.voices is not None:
            result = self._name_speakers(result, guided=guided)
        return result

    def _link_level_db(self) -> float:
        """The ``cluster.link_level_db`` linking uses: ``voices.cluster_level_db`` while
        voices name the speakers (when it is not 0)."""
        cfg = self.config
        if self.voices is not None and cfg.voices.cluster_level_db > 0:
            return cfg.voices.cluster_level_db
        return cfg.cluster.link_level_db

    def _guided(self, xs: np.ndarray, xu: np.ndarray, reseg: ResegResult,
                regions: np.ndarray, known: dict[bytes, "VoiceStats"]) -> ResegResult:
        """`reseg` with the enrolled voices its speakers nominate (their
        ``voices.guide_candidates`` best voiceprints scoring above ``voices.guide_screen``,
        clean statistics) as extra speakers that take turns from them
        (:func:`diarize.guide.guided_labels`; `regions`: the stretch of speech between
        pauses of each speech frame), the speaker models and posteriors fitted again
        (:func:`diarize.resegment.refit`); as it is when none takes any. The speakers'
        statistics computed on the way are added to `known` (see :meth:`_voice_stats`)."""
        from .voices import match_scores

        assert self.voices is not None
        cfg = self.config
        vc = cfg.voices
        ubm = speaker_ubm(cfg.cluster)
        assert ubm is not None
        k = int(reseg.labels.max()) + 1 if len(reseg.labels) else 0
        names = [str(i) for i in range(k)]
        stats = self._voice_stats(xu, reseg.labels, names, known=known,
                                  step=vc.guide_frame_step)
        # Guiding's screen and joins read the scores of one cohort normalisation per
        # voice (``voices.cohort_match`` off), the scale they were chosen on: read
        # against matched cohorts, short strangers pass the screen and their turns go
        # to enrolled voices.
        scores = match_scores(ubm, list(stats.values()), self.voices.voices, config=cfg,
                              matched=False)
        # each speaker nominates its best voiceprints above the screen
        nominated: set[int] = set()
        for row in scores:
            first = np.argsort(-row, kind="stable")[:vc.guide_candidates]
            nominated.update(int(j) for j in first if row[j] > vc.guide_screen)
        picked = [self.voices.voices[j] for j in sorted(nominated)]
        if not picked:
            return reseg
        labels, voice = guided_labels(
            xu, reseg.labels, [v.stats for v in picked], ubm=ubm.gmm, regions=regions,
            relevance_factor=vc.relevance_factor, iterations=vc.guide_iterations,
            speaker_cmvn=vc.speaker_cmvn, keep_share=vc.guide_keep_share,
            min_frames=frame_count(cfg.reseg.min_speaker, cfg.features.hop_length))
        # A speaker of the recording whose best voiceprint is one that took speech, above
        # the naming threshold, is the rest of that voice (a split one, or what its
        # enrolled model left of its own speaker): it joins it. Joining names it, so it
        # needs the evidence a name needs: at the screen, a stranger who sounds a little
        # like an enrolled voice of the conversation joined it.
        # (only those speakers are scored: the enrolled voices' statistics are kept for
        # later where they stay as they are)
        rest = np.flatnonzero(voice < 0)
        which = np.full(len(voice), -1, dtype=np.int64)
        which[rest] = np.arange(len(rest))
        names = [str(i) for i in rest]
        stats = self._voice_stats(xu, which[labels], names, known=known,
                                  step=vc.guide_frame_step)
        scores = match_scores(ubm, [stats[n] for n in names], self.voices.voices, config=cfg,
                              matched=False)
        state = {picked[v].name: i for i, v in enumerate(voice) if v >= 0}
        lut = np.arange(len(voice))
        for row, i in enumerate(map(int, rest)):
            top = int(np.argmax(scores[row]))
            into = state.get(self.voices.voices[top].name)
            if into is not None and scores[row, top] > vc.threshold:
                lut[i] = into
        labels = lut[labels]
        if np.array_equal(labels, reseg.labels):
            return reseg
        if not self.keep_models:
            # the speakers as refit numbers them, without their models and posteriors
            return ResegResult(relabel(labels), None)
        return refit(xs, labels, config=cfg.reseg, seed=cfg.seed, before=reseg,
                     keep_share=vc.guide_keep_share)

    def _name_speakers(self, result: Diarization, *, guided: bool) -> Diarization:
        """`result` with enrolled names on the speakers whose voice matches one; the
        voiceprints' condition models are scored only where the diarization was
        `guided` (:meth:`VoiceLibrary.scored`)."""
        assert self.voices is not None
        ubm = speaker_ubm(self.config.cluster)
        assert ubm is not None
        return self.voices.name_speakers(result, ubm=ubm, config=self.config,
                                         conditions=guided)

    def _speaker_count(self, found: int, *, uri: str, n_speech_frames: int,
                       turn_speech_frames: int) -> SpeakerCount | None:
        """The count asked and `found`, with the reason when it falls short; None when
        no count was asked.

        `n_speech_frames` frames were modelled, `turn_speech_frames` are speech in turns;
        the speech is enough for as many speakers as the shorter of the two allows.
        """
        cfg = self.config
        if not _count_asked(cfg):
            return None
        asked, exact = asked_count(cfg)
        if found >= asked:
            return SpeakerCount(asked, exact, found)
        what = f"{asked} speaker{'s' * (asked > 1)}" if exact else f"at least {asked} speakers"
        step = cfg.features.hop_length
        frames = min(n_speech_frames, turn_speech_frames)
        possible = (min(count_floor(cfg, n_speech_frames=n_speech_frames),
                        count_floor(cfg, n_speech_frames=turn_speech_frames)) if frames else 0)
        seconds = frames * step
        if possible < asked:
            per = cfg.cluster.speech_per_speaker
            note = (f"{uri}: asked for {what}, found speech for {possible}: {seconds:.1f} s "
                    f"of speech ({per:g} s per speaker needed, cluster.speech_per_speaker)")
            if found < possible:  # not expected: every stage keeps what there is speech for
                note += f"; {found} found"
        else:  # not expected: every stage keeps a count there is speech for
            note = f"{uri}: asked for {what}, found {found} in {seconds:.1f} s of speech"
        return SpeakerCount(asked, exact, found, note)

    def _voice_stats(self, xu: np.ndarray, labels: np.ndarray, names: list[str], *,
                     known: dict[bytes, "VoiceStats"] | None = None, step: int = 1
                     ) -> dict[str, "VoiceStats"]:
        """Each output speaker's UBM statistics, from at most ``voices.max_frames`` of its
        frames, evenly spaced over its speech (`xu`: the speech frames in the UBM's
        features; `labels`: their speaker, an index into `names`).

        `known`, when given, holds statistics already computed, by the frames they were
        computed from: a speaker with the same frames takes them (a speaker's statistics
        depend on its frames alone), and those computed here are added to it. `step` > 1:
        from every `step`-th of those frames only, counted `step` times (an estimate:
        `known` is then neither read nor added to).
        """
        ubm = speaker_ubm(self.config.cluster)
        assert ubm is not None  # checked in __init__
        cap = self.config.voices.max_frames
        kept = np.full(len(labels), -1, dtype=np.int64)
        frames: dict[int, np.ndarray] = {}
        found: dict[int, "VoiceStats"] = {}
        for k in range(len(names)):
            idx = np.flatnonzero(labels == k)
            if len(idx) > cap:
                idx = idx[even_subsample_index(len(idx), cap)]
            if step > 1:
                idx = idx[::step]
                known = None
            if known is not None and len(idx) and idx.tobytes() in known:
                found[k] = known[idx.tobytes()]
                continue
            kept[idx] = k
            frames[k] = idx
        if not self.config.voices.speaker_cmvn:
            if frames:
                stats = voice_statistics(ubm.gmm, xu, kept, n_labels=len(names))
                found.update((k, stats[k]) for k in frames)
        else:
            def own(idx: np.ndarray) -> VoiceStats:
                # Each voice's frames normalised by their own mean and spread, as an
                # enrolment recording of that voice alone is: the recording-wide
                # normalisation would make a voice's statistics depend on who else speaks.
                x = np.array(xu[idx], dtype=np.float64)
                standardise(x)
                (st,) = voice_statistics(ubm.gmm, x, np.zeros(len(x), dtype=np.int64),
                                         n_labels=1)
                return st

            todo = [k for k, idx in frames.items() if len(idx)]
            with worker_pool() as pool:
                # speaker by speaker, each on its own: the same numbers on any thread
                done = (map(own, (frames[k] for k in todo)) if pool is None
                        else pool.map(own, (frames[k] for k in todo)))
                found.update(zip(todo, done))
        if step > 1:
            found = {k: VoiceStats(st.n * step, st.first * step) for k, st in found.items()}
        if known is not None:
            known.update((frames[k].tobytes(), found[k]) for k in frames if k in found)
        return {names[k]: found[k] for k in range(len(names))
                if k in found and found[k].frames > 0}

    def _ubm_speech_features(self, front: "Features", xs: np.ndarray,
                             speech_idx: np.ndarray) -> np.ndarray | None:
        """The speech frames in the front end of the UBM that clustering links speakers
        with (`xs` itself where it is the same); None when it uses no UBM.

        Returns
        -------
        ndarray, shape (n_speech_frames, n_ubm_features), float32, or None
        """
        cfg = self.config
        ubm = speaker_ubm(cfg.cluster)
        if ubm is None:
            return None
        if front.ubm_mfcc is None and _same_speaker_features(cfg.features, ubm):
            return xs
        mf = front.ubm_mfcc if front.ubm_mfcc is not None else front.mfcc
        return speech_features(mf, speech_idx, deltas=bool(ubm.front_end["deltas"]),
                               delta_width=int(ubm.front_end["delta_width"]))


def _loud_frames(energy: np.ndarray, speech_idx: np.ndarray, *, config: Config,
                 level_db: float | None = None) -> np.ndarray | None:
    """Which speech frames speaker linking models (``cluster.link_level_db``, or
    `level_db` when given): those within that many dB of the loudest frame of the
    ``cluster.link_level_window`` around them.

    Parameters
    ----------
    energy : ndarray, shape (n_frames,)
        Frame energy in dB.
    speech_idx : ndarray of int, shape (n_speech_frames,)
        The modelled frames.

    Returns
    -------
    ndarray of bool, shape (n_speech_frames,), or None when every frame is.
    """
    cc = config.cluster
    level = cc.link_level_db if level_db is None else level_db
    if level <= 0:
        return None
    width = frame_count(cc.link_level_window, config.features.hop_length, minimum=1)
    e = np.asarray(energy, dtype=np.float64)
    return (e >= moving_max(e, size=width) - level)[speech_idx]


def _count_evidence(cfg: Config, clusters: Any) -> CountEvidence:
    """What decided the speaker count of `clusters` (a :class:`~diarize.cluster.ClusterResult`)."""
    bounds = ((cfg.num_speakers, cfg.num_speakers) if cfg.num_speakers is not None
              else (cfg.min_speakers, cfg.max_speakers))
    return CountEvidence(stage=clusters.decided_by, clusters=clusters.n_clusters,
                         scores=dict(clusters.similarity),
                         threshold=clusters.threshold, bounds=bounds)


def _no_progress(stage: str, completed: int, total: int) -> None:
    pass


def _turn_speech_for(config: Config, speech: np.ndarray) -> int:
    """The speakers the speech in turns (`speech`, one bool per frame) is enough for."""
    return count_floor(config, n_speech_frames=int(np.count_nonzero(speech)))


def _count_asked(config: Config) -> bool:
    """Whether `config` asks for a speaker count (``num_speakers``, or ``min_speakers``
    above the 1 every recording with speech has anyway)."""
    return config.num_speakers is not None or config.min_speakers > 1


def _frame_stages(stages: dict[str, np.ndarray], speech_idx: np.ndarray, *,
                  n_frames: int) -> dict[str, np.ndarray]:
    """Per-speech-frame stage labels spread over all `n_frames` frames, -1 elsewhere:
    one frame grid for every stage and for the recording's reference."""
    out = {}
    for name, labels in stages.items():
        full = np.full(n_frames, -1, dtype=np.int64)
        full[speech_idx] = labels
        out[name] = full
    return out


def _speaker_cepstra(stream: MfccStream, frames: FrameFeatures) -> np.ndarray:
    """The cepstra speaker modelling reads from a finished stream: band-floored where the
    front end floors the bands (``features.band_floor``), else its `frames`' own."""
    return frames.mfcc if stream.speaker_mfcc is None else stream.speaker_mfcc


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
    """shape (n_frames, n_mfcc''): the UBM's front end, where it differs from `mfcc` (with
    ``features.band_floor`` and a band floored, the cepstra without the floor)"""
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


def _same_speaker_features(features: FeatureConfig, ubm: BackgroundModel) -> bool:
    """Whether the clustering features (`features`) are the ones the UBM was trained on."""
    return (features.cmvn and features.deltas == bool(ubm.front_end["deltas"])
            and (not features.deltas or features.delta_width == int(ubm.front_end["delta_width"])))


def enroll(name: str, audio: Any, voices_dir: "str | os.PathLike", *,
           config: Config | None = None,
           spans: Sequence[tuple[float, float]] | None = None) -> Voiceprint:
    """Make the voiceprint `name` in folder `voices_dir` from `audio`, or add `audio` to it.

    The audio is read and its speech found as for diarization; all its speech is taken
    as the one voice. A voiceprint of that name already there is extended (its
    statistics and seconds add up), never replaced.

    Parameters
    ----------
    name : str
        A safe file name (:func:`diarize.voices.check_name`).
    audio : path-like or (array-like, number)
    voices_dir : path-like
        An existing folder.
    config : Config, optional, keyword-only
    spans : sequence of (float, float), optional, keyword-only
        Enrol only these stretches of `audio`, (start, end) in seconds, joined end to end:
        the time one speaker of a recording talks alone
        (:func:`diarize.segments.solo_spans` of its diarization or reference turns).

    Returns
    -------
    Voiceprint
        As written, with all its enrolments.

    Raises
    ------
    VoiceNameError
        `name` cannot name a file.
    EnrollmentError
        `audio` has less than ``voices.min_enroll_seconds`` of speech.
    VoiceError
        No such folder, or the voiceprint there is corrupt or was made with another UBM
        or front end.
    AudioError
        `audio` cannot be read.
    OutputWriteError
        The voiceprint cannot be written (a read-only folder, a full disk).
    """
    from .errors import EnrollmentError
    from .names import printable
    from .voices import (Voiceprint, add_voice, check_folder, check_name, enrolment_recipe,
                         front_end_of, ubm_fingerprint)

    check_name(name)
    check_folder(voices_dir, hint=" (create it first)")
    diarizer = Diarizer(config)
    ubm = speaker_ubm(diarizer.config.cluster)
    if ubm is None:
        raise ConfigError("voiceprints need cluster.link_method = 'ubm'")
    stats, conditions, seconds = diarizer.enrolment_voice(audio, spans=spans)
    source = (printable(str(audio)) if isinstance(audio, (str, os.PathLike))
              else "samples")
    need = diarizer.config.voices.min_enroll_seconds
    if seconds < need or stats.frames <= 0:
        where = "" if spans is None else f" in the {sum(b - a for a, b in spans):.1f} s given"
        raise EnrollmentError(f"{source}: {seconds:.1f} s of speech{where}, {need:.1f} s "
                              f"needed to enrol {name!r} (voices.min_enroll_seconds)")
    new = Voiceprint(name=name, stats=stats, seconds=seconds, enrolments=1,
                     sources=(uri_for(audio) if isinstance(audio, (str, os.PathLike))
                              else "samples",),
                     ubm=ubm_fingerprint(ubm), front_end=front_end_of(diarizer.config),
                     conditions=tuple(conditions), recipe=enrolment_recipe(diarizer.config))
    written, _ = add_voice(voices_dir, new)
    return written
