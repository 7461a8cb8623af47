"""Speaker turns: the one currency between the model stages and the writers.

A :class:`Turn` is a frozen ``(start, end, speaker)`` triple in seconds; a
:class:`Diarization` is an ordered collection of turns for one recording, plus the
evidence the pipeline used to produce them (filled in by :mod:`diarize.pipeline`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from .errors import MissingDependencyError, ParameterError, TranscriptError
from .frames import frame_time, runs
from .writers import FORMATS, format_diarization

if TYPE_CHECKING:  # pragma: no cover - pandas is optional, only named in annotations
    import pandas  # type: ignore[import-untyped]  # stubs are optional too

OVERLAP_FLAG_SHARE = 0.25
""":meth:`Diarization.assign` flags a word as overlapped when the speaker it was *not*
given covers at least this share of the word's duration: simultaneous speech, or a
segment that straddles a change of speaker."""

ASSIGN_METHODS = ("overlap", "nearest", "none")
"""How :meth:`Diarization.assign` chose a word's speaker: the speaker it overlaps most;
the nearest speaker in time (the word lies in a pause); no speaker at all (the
diarization has no speech, or the nearest speaker is further than ``max_gap``)."""


TIE_DIGITS = 9
"""Decimals of a second to which :meth:`Diarization.assign` compares the time each
speaker covers a word and its distance to each: ties of the times as written are ties."""


@dataclass(frozen=True, order=True, slots=True)
class Turn:
    """One speaker turn.

    Attributes
    ----------
    start, end : float
        Onset and offset in seconds, ``0 <= start <= end``.
    speaker : str
        Speaker label.

    Raises
    ------
    ParameterError
        A time that is not a finite number, ``start < 0`` or ``start > end``, or a
        speaker that is not a str.

    Examples
    --------
    >>> turn = Turn(1.5, 4.0, "alice")
    >>> turn.duration
    2.5
    >>> Turn(0.0, 1.0, "bob") < turn  # turns order by start, then end, then speaker
    True
    """

    start: float
    end: float
    speaker: str

    def __post_init__(self) -> None:
        # Checked once here, so that no writer ever sees a negative duration or NaN; the
        # times become plain floats (numpy scalars print as np.float64(...)).
        # + 0.0: a start of -0.0 (which 0 <= -0.0 lets through) would be written "-0.000"
        start = _finite(self.start, "Turn start") + 0.0
        end = _finite(self.end, "Turn end") + 0.0
        if not 0.0 <= start <= end:
            raise ParameterError(f"Turn needs 0 <= start <= end, got start={start!r}, "
                                 f"end={end!r}")
        if not isinstance(self.speaker, str):
            raise ParameterError(f"Turn speaker must be a str, got {self.speaker!r}")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class SpeakerTime:
    """How much one speaker talked (see :meth:`Diarization.talk_time`).

    Attributes
    ----------
    speaker : str
    seconds : float
        Speech time of this speaker (their overlapping turns counted once).
    share : float
        ``seconds`` over the sum of every speaker's ``seconds``: the shares add up to 1
        (0 when nobody speaks). Time two speakers talk at once counts for both.
    turns : int
        Stretches of this speaker's speech: turns of one speaker that overlap or touch
        count as one.
    longest : float
        Duration of the longest such stretch, in seconds.
    """

    speaker: str
    seconds: float
    share: float
    turns: int
    longest: float


@dataclass(frozen=True)
class SpeakerCount:
    """The speaker count a run was asked for and what it gave (``Diarization.speaker_count``).

    Attributes
    ----------
    asked : int
        ``num_speakers``, or ``min_speakers`` when only a minimum was given.
    exact : bool
        True for ``num_speakers`` (exactly `asked`), False for a minimum (at least).
    found : int
        Speakers in the result.
    note : str or None
        Why `found` falls short of `asked` (the :class:`~diarize.errors.SpeakerCountWarning`
        message); None when the count was kept.
    """

    asked: int
    exact: bool
    found: int
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"asked", "exact", "found", "note"}``."""
        return {"asked": self.asked, "exact": self.exact, "found": self.found, "note": self.note}


@dataclass(frozen=True)
class AssignedWord:
    """A word (or transcript segment) with the speaker :meth:`Diarization.assign` gave it.

    Attributes
    ----------
    start, end : float
        The word's times in seconds, as given.
    text : str
        The word's text, as given (Whisper's leading space included).
    speaker : str or None
        The speaker; None when the diarization has no speech, or the nearest speaker is
        further away than the ``max_gap`` asked for.
    overlap : bool
        A second speaker covers at least the asked share of the word
        (:data:`OVERLAP_FLAG_SHARE` by default): the label is less certain.
    method : str
        One of :data:`ASSIGN_METHODS`: ``"overlap"`` (the speaker the word overlaps
        most), ``"nearest"`` (the word lies in a pause; the speaker nearest in time) or
        ``"none"``.
    """

    start: float
    end: float
    text: str
    speaker: str | None
    overlap: bool = False
    method: str = "overlap"


COUNT_STAGES = ("linking", "bic", "given")
"""What decided the number of speakers (:attr:`CountEvidence.stage`)."""


@dataclass(frozen=True)
class CountEvidence:
    """What decided a diarization's number of speakers, and on what evidence.

    Attributes
    ----------
    stage : str
        One of :data:`COUNT_STAGES`: ``"linking"`` (UBM speaker linking merged clusters
        while a pair scored above the threshold), ``"bic"`` (BIC merging alone, the
        ``bic`` curve of the :class:`Diarization`) or ``"given"`` (``num_speakers``).
    clusters : int
        Speakers the deciding stage left; resegmentation may still drop one, so the
        turns can have fewer.
    scores : dict of int to float
        With linking, the score of the merge to k speakers for each k considered (the
        CLR, read against the two clusters' own ratios, ``cluster.link_self_weight``):
        merges scoring above `threshold` were made (down to the bounds), the first at or
        below it was declined (a merge that BIC declined, ``cluster.link_bic_veto``, is
        reported at no more than the threshold). Empty otherwise. After that decline,
        clusters with less speech than ``reseg.min_speaker`` joined the larger one each
        scores best with (``cluster.link_absorb_small``): those merges are not here, and
        `clusters` counts what they left.
    threshold : float or None
        The linking threshold (``cluster.link_threshold``); None without linking.
    bounds : tuple of (int, int)
        The fewest and most speakers allowed (``min_speakers``, ``max_speakers``, or
        ``num_speakers`` twice); outside them merging is forced or stopped.
    """

    stage: str
    clusters: int
    scores: dict[int, float] = field(default_factory=dict)
    threshold: float | None = None
    bounds: tuple[int, int] = (1, 1)


@dataclass(eq=False)
class Diarization:
    """The result of diarizing one recording.

    Turns are kept sorted by ``(start, end, speaker)``.

    Attributes
    ----------
    turns : list of Turn
    uri : str
        Recording identifier (file stem by default), used as the RTTM file id.
    duration : float
        Length of the recording in seconds.
    bic : dict of int to float
        BIC value for each candidate number of speakers (lower is better).
    bic_choice : int or None
        The number of speakers the clustering chose from that curve (with the default
        'local' stopping rule, the first count where merging further costs more than it
        saves; not always the curve's minimum). Resegmentation may still drop a speaker.
    speech_mask : ndarray of bool, shape (n_frames,) or None
        Speech activity per analysis frame.
    posteriors : ndarray of float32, shape (n_frames, n_speakers) or None
        Smoothed speaker posteriors per analysis frame.
    frame_step : float or None
        Seconds between analysis frames (``features.hop_length``), for interpreting the
        frame arrays (`speech_mask`, `posteriors`, `stages`): required with them; None
        for turns alone.
    speaker_models : dict of str to object
        Fitted per-speaker models.
    count_evidence : CountEvidence or None
        What decided the number of speakers, and on what evidence (None when the turns
        were not computed by :class:`~diarize.pipeline.Diarizer`, or there was no speech).
        Not written to any output format.
    speaker_count : SpeakerCount or None
        The count asked for (``num_speakers``, or ``min_speakers`` above 1) and the count
        found, with a note when it falls short; None when no count was asked.
    voice_stats : dict of str to VoiceStats
        Only with ``Diarizer(keep_voices=True)``: each output speaker's UBM statistics
        (:class:`diarize.speakers.VoiceStats`), which voiceprints and other recordings'
        speakers are scored against. Not written to any output format.
    voice_matches : dict of str to VoiceMatch, or None
        Only with ``Diarizer(voices=...)``: for each output speaker (by its label in
        `turns`), the name it was given, if any, and its best and runner-up enrolled
        voices with their scores (:class:`diarize.voices.VoiceMatch`); written to JSON
        as ``voices``.
    stages : dict of str to ndarray, or None
        Only with ``Diarizer.diarize_features(..., keep_stages=True)`` where speech was
        found (None otherwise): the speaker label of every analysis frame after each
        stage, int64 of shape (n_frames,), -1 where the frame is not modelled: ``"chunks"``, ``"linear"``, ``"bic"``, ``"link"``
        (:attr:`diarize.cluster.ClusterResult.stages`), ``"reseg"`` (after
        resegmentation) and ``"turns"`` (the output turns' labels, -1 where nobody
        speaks; it also covers speech frames that were not modelled).

    Examples
    --------
    >>> d = Diarization([Turn(2.0, 5.0, "bob"), Turn(0.0, 3.0, "alice")],
    ...                 uri="demo", duration=6.0)
    >>> d.speakers
    ['alice', 'bob']
    >>> [t.speaker for t in d]
    ['alice', 'bob']
    >>> print(d.to_rttm(), end="")
    SPEAKER demo 1 0.000 3.000 <NA> <NA> alice <NA> <NA>
    SPEAKER demo 1 2.000 3.000 <NA> <NA> bob <NA> <NA>
    >>> d.exclusive().to_audacity().splitlines()
    ['0.000\\t3.000\\talice', '3.000\\t5.000\\tbob']
    """

    turns: list[Turn] = field(default_factory=list)
    uri: str = "audio"
    duration: float = 0.0
    bic: dict[int, float] = field(default_factory=dict)
    bic_choice: int | None = None
    speech_mask: np.ndarray | None = None
    posteriors: np.ndarray | None = None
    frame_step: float | None = None
    speaker_models: dict[str, Any] = field(default_factory=dict)
    count_evidence: CountEvidence | None = None
    speaker_count: SpeakerCount | None = None
    stages: dict[str, np.ndarray] | None = None
    voice_stats: dict[str, Any] = field(default_factory=dict)
    voice_matches: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.turns = sorted(self.turns)
        duration = _finite(self.duration, "Diarization duration")
        if duration < 0:
            raise ParameterError(f"Diarization duration must be >= 0, got {self.duration!r}")
        self.duration = duration
        if self.frame_step is None and not (self.speech_mask is None and self.posteriors is None
                                            and self.stages is None):
            raise ParameterError("Diarization: frame arrays (speech_mask, posteriors, stages) "
                                 "need their frame_step (seconds per frame)")

    def __iter__(self) -> Iterator[Turn]:
        return iter(self.turns)

    def __len__(self) -> int:
        return len(self.turns)

    def __getitem__(self, i: int) -> Turn:
        return self.turns[i]

    def __eq__(self, other: object) -> bool:
        # By value, arrays included (the dataclass default would compare arrays with
        # `==` and fail); the fitted speaker models have no value equality and are left out.
        if not isinstance(other, Diarization):
            return NotImplemented
        return (self.turns == other.turns and self.uri == other.uri
                and self.duration == other.duration and self.bic == other.bic
                and self.bic_choice == other.bic_choice
                and self.frame_step == other.frame_step
                and _same_array(self.speech_mask, other.speech_mask)
                and _same_array(self.posteriors, other.posteriors))

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        # The evidence arrays can hold millions of numbers: keep the repr to one line.
        return (f"<Diarization uri={self.uri!r} duration={self.duration:.3f} "
                f"speakers={len(self.speakers)} turns={len(self.turns)}>")

    @property
    def speakers(self) -> list[str]:
        """Speaker labels in order of first appearance."""
        seen: dict[str, None] = {}
        for t in self.turns:
            seen.setdefault(t.speaker, None)
        return list(seen)

    # ------------------------------------------------------------------ derived results
    def exclusive(self) -> "Diarization":
        """A copy in which no two turns overlap (for aligning with a transcript).

        Where turns overlap, the speaker whose turn **started first** keeps the
        overlapped time (ties: the longer turn, then the smaller label); the other
        turn is cut to the time outside the overlap, and dropped if nothing is left.
        This rule needs nothing but the turns, so it applies equally to a reference
        RTTM. The evidence (BIC values, masks, posteriors, models) is carried over.

        Returns
        -------
        Diarization
            Non-overlapping turns; the union of speech time is unchanged.

        Examples
        --------
        >>> d = Diarization([Turn(0.0, 4.0, "A"), Turn(3.0, 6.0, "B"),
        ...                  Turn(1.0, 2.0, "C")])
        >>> [(t.start, t.end, t.speaker) for t in d.exclusive()]
        [(0.0, 4.0, 'A'), (4.0, 6.0, 'B')]
        """
        return self._with_turns(_exclusive_turns(self.turns))

    # ------------------------------------------------------------------ queries
    def crop(self, start: float, end: float) -> "Diarization":
        """The turns within ``[start, end]``, clipped to it.

        Times stay those of the recording (not shifted to start at 0), so the evidence
        (BIC values, masks, posteriors, models), the uri and the duration are carried
        over unchanged. A turn with nothing left inside the window is dropped; a
        zero-length turn is kept when it lies inside.

        Parameters
        ----------
        start, end : float
            The window in seconds, ``start <= end``.

        Returns
        -------
        Diarization

        Raises
        ------
        ParameterError
            If `start` or `end` is not a finite number, or ``start > end``.

        Examples
        --------
        >>> d = Diarization([Turn(0.0, 4.0, "A"), Turn(5.0, 9.0, "B")])
        >>> [(t.start, t.end, t.speaker) for t in d.crop(3.0, 6.0)]
        [(3.0, 4.0, 'A'), (5.0, 6.0, 'B')]
        """
        lo, hi = _finite(start, "start"), _finite(end, "end")
        if lo > hi:
            raise ParameterError(f"crop: start ({lo}) is after end ({hi})")
        kept = []
        for t in self.turns:
            a, b = max(t.start, lo), min(t.end, hi)
            if a < b or (t.start == t.end and lo <= t.start <= hi):
                kept.append(Turn(a, b, t.speaker))
        return self._with_turns(kept)

    def speaker_at(self, t: float) -> str | None:
        """The speaker talking at time `t`, or None in a pause.

        A turn covers ``[start, end)``: at the instant one turn ends and the next
        begins, the next one speaks. Where several speakers talk at once, the one whose
        turn **started first** is returned (ties: the longer turn, then the smaller
        label), the rule of :meth:`exclusive`; :meth:`speakers_at` lists them all.
        For many instants or words use :meth:`assign`, which sweeps once.

        Parameters
        ----------
        t : float
            Time in seconds.

        Returns
        -------
        str or None

        Examples
        --------
        >>> d = Diarization([Turn(0.0, 4.0, "A"), Turn(3.0, 6.0, "B")])
        >>> d.speaker_at(3.5), d.speaker_at(4.0), d.speaker_at(7.0)
        ('A', 'B', None)
        """
        talking = self.speakers_at(t)
        return talking[0] if talking else None

    def speakers_at(self, t: float) -> list[str]:
        """Every speaker talking at time `t` (a turn covers ``[start, end)``), in the
        order of :meth:`speaker_at`'s rule: the turn that started first, then the
        longer, then the smaller label; empty in a pause.

        Examples
        --------
        >>> d = Diarization([Turn(0.0, 4.0, "A"), Turn(3.0, 6.0, "B")])
        >>> d.speakers_at(3.5), d.speakers_at(4.0), d.speakers_at(7.0)
        (['A', 'B'], ['B'], [])
        """
        x = _finite(t, "t")
        covering = sorted((u for u in self.turns if u.start <= x < u.end),
                          key=lambda u: (u.start, -u.end, u.speaker))
        return list(dict.fromkeys(u.speaker for u in covering))

    def talk_time(self) -> dict[str, SpeakerTime]:
        """Speech time, share, number of turns and longest turn of each speaker.

        Returns
        -------
        dict of str to SpeakerTime
            One entry per speaker, in order of first appearance (:attr:`speakers`).

        Examples
        --------
        >>> d = Diarization([Turn(0.0, 3.0, "A"), Turn(3.0, 4.0, "B"),
        ...                  Turn(5.0, 6.0, "A")])
        >>> d.talk_time()["A"]
        SpeakerTime(speaker='A', seconds=4.0, share=0.8, turns=2, longest=3.0)
        """
        stretches = {spk: _union(a, b) for spk, (a, b) in _by_speaker(self.turns).items()}
        seconds = {spk: float(np.sum(b - a)) for spk, (a, b) in stretches.items()}
        total = sum(seconds.values())
        out = {}
        for spk in self.speakers:
            a, b = stretches[spk]
            out[spk] = SpeakerTime(
                speaker=spk, seconds=seconds[spk],
                share=seconds[spk] / total if total > 0 else 0.0,
                turns=len(a), longest=float(np.max(b - a)) if len(a) else 0.0)
        return out

    def rename(self, mapping: Mapping[str, str]) -> "Diarization":
        """A copy with speakers renamed (``{"SPEAKER_00": "Alice"}``).

        Speakers not in `mapping` keep their label. Two speakers given one name become
        one speaker (their turns are kept as they are; :meth:`talk_time` counts their
        common time once); the fitted models of such a merged name are dropped.

        Raises
        ------
        ParameterError
            If `mapping` names a speaker this diarization does not have, or a new name
            is not a non-empty string.

        Examples
        --------
        >>> d = Diarization([Turn(0.0, 1.0, "SPEAKER_00")])
        >>> d.rename({"SPEAKER_00": "Alice"}).speakers
        ['Alice']
        """
        known = set(self.speakers) | set(self.speaker_models)
        unknown = [k for k in mapping if k not in known]
        if unknown:
            raise ParameterError(
                f"rename: no speaker {', '.join(map(repr, sorted(map(str, unknown))))} "
                f"(speakers: {', '.join(self.speakers) or 'none'})")
        bad = [v for v in mapping.values() if not isinstance(v, str) or not v]
        if bad:
            raise ParameterError(f"rename: a new name must be a non-empty string, got {bad[0]!r}")

        def new(label: str) -> str:
            return mapping.get(label, label)

        def renamed(kept: dict[str, Any]) -> dict[str, Any]:
            # Two speakers renamed alike have one set of turns but no one model.
            out: dict[str, Any] = {}
            clashes = set()
            for label, model in kept.items():
                if new(label) in out:
                    clashes.add(new(label))
                out[new(label)] = model
            for name in clashes:
                del out[name]
            return out

        matches: dict[str, Any] | None = None
        if self.voice_matches is not None:
            # Speakers given one name become one: its evidence is the best-scoring part's,
            # as naming does.
            matches = {}
            for label, match in self.voice_matches.items():
                held = matches.get(new(label))
                if held is None or (match.best_score or 0.0) > (held.best_score or 0.0):
                    matches[new(label)] = match
        return self._with_turns([Turn(t.start, t.end, new(t.speaker)) for t in self.turns],
                                speaker_models=renamed(self.speaker_models),
                                voice_stats=renamed(self.voice_stats),
                                voice_matches=matches)

    def _with_turns(self, turns: list[Turn], **changes: Any) -> "Diarization":
        """A copy with `turns` (and `changes`); the speaker count found is that of the
        new turns, where a count was asked."""
        count = self.speaker_count
        if count is not None:
            changes["speaker_count"] = replace(count, found=len({t.speaker for t in turns}))
        return replace(self, turns=turns, **changes)

    def to_annotation(self) -> Any:
        """The turns as a ``pyannote.core.Annotation`` (uri included).

        Each turn is one track, so overlapping turns of one speaker are kept apart.

        Raises
        ------
        MissingDependencyError
            If pyannote.core is not installed (it is optional: ``pip install pyannote.core``).
        """
        try:
            from pyannote.core import Annotation, Segment  # type: ignore[import-untyped,import-not-found,unused-ignore]
        except ImportError:
            raise MissingDependencyError(
                "Diarization.to_annotation needs pyannote.core: pip install pyannote.core"
            ) from None
        annotation = Annotation(uri=self.uri)
        for i, t in enumerate(self.turns):
            annotation[Segment(t.start, t.end), i] = t.speaker
        return annotation

    def assign(self, words: Iterable[Any], *, overlap_share: float = OVERLAP_FLAG_SHARE,
               max_gap: float | None = None) -> list[AssignedWord]:
        """Give each word (or transcript segment) a speaker.

        A word gets the speaker whose turns cover most of it (``method="overlap"``);
        a word in a pause, overlapping no turn, gets the speaker nearest in time
        (``"nearest"``, the gap to the closest turn end or start). Ties go to the
        speaker who appears first in the recording. A zero-length word gets the speaker
        talking at that instant. A word is flagged (``overlap=True``) when another
        speaker covers at least `overlap_share` of it.

        Parameters
        ----------
        words : iterable
            ``(start, end, text)`` tuples, mappings with ``start``, ``end`` and ``text``
            (or Whisper's ``word``), or objects with those attributes (faster-whisper's
            words and segments). Times in seconds, in any order.
        overlap_share : float, keyword-only
            Share of a word's duration a second speaker must cover for the flag, in
            ``(0, 1]``.
        max_gap : float or None, keyword-only
            A word further than this (seconds) from every turn gets no speaker
            (``speaker=None``, ``method="none"``); None: no limit.

        Returns
        -------
        list of AssignedWord
            One per word, in the order of `words`.

        Raises
        ------
        TranscriptError
            If a word is not one of the shapes above, or its times are missing, not
            finite, or end before they start (the message gives the word's index).
        ParameterError
            If `overlap_share` or `max_gap` is out of range.

        Notes
        -----
        Each speaker's turns are merged into sorted disjoint stretches and summed
        cumulatively, so the time a speaker covers in any window is two binary searches:
        the cost is O((W + T) log T) per speaker for W words and T turns.

        Examples
        --------
        >>> d = Diarization([Turn(0.0, 2.0, "A"), Turn(3.0, 5.0, "B")])
        >>> [(w.text, w.speaker, w.method) for w in d.assign(
        ...     [(0.5, 0.9, "hi"), (2.1, 2.4, "um"), (2.9, 3.4, "yes")])]
        [('hi', 'A', 'overlap'), ('um', 'A', 'nearest'), ('yes', 'B', 'overlap')]
        """
        share = _finite(overlap_share, "overlap_share")
        if not 0.0 < share <= 1.0:
            raise ParameterError(f"assign: overlap_share must be in (0, 1], got {overlap_share!r}")
        if max_gap is not None and not (_finite(max_gap, "max_gap") >= 0.0):
            raise ParameterError(f"assign: max_gap must be >= 0, got {max_gap!r}")
        items = [_as_word(w, i) for i, w in enumerate(words)]
        if not items:
            return []
        starts = np.array([w[0] for w in items], dtype=np.float64)
        ends = np.array([w[1] for w in items], dtype=np.float64)
        by_speaker = _by_speaker(self.turns)
        labels = [spk for spk in self.speakers if spk in by_speaker]
        n = len(items)
        cover: np.ndarray = np.zeros((len(labels), n))
        inside = np.zeros((len(labels), n), dtype=bool)
        gap: np.ndarray = np.full((len(labels), n), np.inf)
        for k, spk in enumerate(labels):
            a, b = _union(*by_speaker[spk])
            if not len(a):
                continue
            cum = np.concatenate([[0.0], np.cumsum(b - a)])
            cover[k] = _covered_until(ends, a, b, cum) - _covered_until(starts, a, b, cum)
            j = np.searchsorted(a, starts, side="right") - 1
            inside[k] = (j >= 0) & (starts < b[np.maximum(j, 0)])
            prev = np.searchsorted(b, starts, side="right") - 1
            nxt = np.searchsorted(a, ends, side="left")
            before = np.where(prev >= 0, starts - b[np.maximum(prev, 0)], np.inf)
            after = np.where(nxt < len(a), a[np.minimum(nxt, len(a) - 1)] - ends, np.inf)
            gap[k] = np.minimum(before, after)
        # Compared to the nanosecond: times written to the millisecond that tie, tie
        # (1.0 - 0.9 and 1.1 - 1.0 differ in the last bits), and the earlier speaker wins.
        cover, gap = np.round(cover, TIE_DIGITS), np.round(gap, TIE_DIGITS)
        out = []
        for i, (start, end, text) in enumerate(items):
            speaker: str | None = None
            flag, method = False, "none"
            if labels:
                col = cover[:, i]
                best = int(np.argmax(col))  # the first maximum: the earlier speaker on a tie
                if col[best] > 0.0:
                    second = np.partition(col, -2)[-2] if len(col) > 1 else 0.0
                    speaker, method = labels[best], "overlap"
                    flag = bool(second > 0.0 and second >= share * (end - start))
                elif end == start and inside[:, i].any():
                    hits = np.flatnonzero(inside[:, i])
                    speaker, method = labels[int(hits[0])], "overlap"
                    flag = len(hits) > 1
                else:
                    near = int(np.argmin(gap[:, i]))
                    g = gap[near, i]
                    if np.isfinite(g) and (max_gap is None or g <= max_gap):
                        speaker, method = labels[near], "nearest"
            out.append(AssignedWord(start, end, text, speaker, flag, method))
        return out

    # ------------------------------------------------------------------ writers
    # The formats are those of diarize.writers.FORMATS, which depends on nothing here.
    def to_rttm(self) -> str:
        """The turns as RTTM text (see :func:`diarize.writers.format_rttm`)."""
        return FORMATS["rttm"].render(self)

    def to_json(self) -> str:
        """The result as JSON text valid against ``diarize/schemas/diarization.schema.json``.

        Holds ``uri``, ``duration``, ``speakers``, ``turns`` and the BIC value of each
        candidate speaker count (see :func:`diarize.writers.format_json`).
        """
        return FORMATS["json"].render(self)

    def to_csv(self) -> str:
        """The turns as CSV text: ``uri,start,end,duration,speaker`` with a header."""
        return FORMATS["csv"].render(self)

    def to_audacity(self) -> str:
        """The turns as an Audacity label track: ``start<TAB>end<TAB>speaker`` lines."""
        return FORMATS["audacity"].render(self)

    def to_textgrid(self) -> str:
        """The turns as a Praat TextGrid, one interval tier per speaker (see
        :func:`diarize.writers.format_textgrid`)."""
        return FORMATS["textgrid"].render(self)

    def to_format(self, name: str) -> str:
        """The result in the output format `name` (one of :data:`diarize.writers.FORMATS`).

        Raises
        ------
        OutputError
            If there is no such format.
        """
        return format_diarization(self, name)

    def to_dataframe(self) -> "pandas.DataFrame":
        """The turns as a pandas DataFrame with columns uri, start, end, duration, speaker.

        Raises
        ------
        MissingDependencyError
            If pandas is not installed (it is not a dependency of gmm-diarize); an
            ImportError too.
        """
        try:
            import pandas as pd
        except ImportError:
            raise MissingDependencyError(
                "Diarization.to_dataframe needs pandas: pip install pandas") from None
        return pd.DataFrame(
            {
                "uri": [self.uri] * len(self.turns),
                "start": [t.start for t in self.turns],
                "end": [t.end for t in self.turns],
                "duration": [t.duration for t in self.turns],
                "speaker": [t.speaker for t in self.turns],
            },
            columns=["uri", "start", "end", "duration", "speaker"],
        )


def _same_array(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is b
    return bool(np.array_equal(a, b))


def _finite(value: Any, what: str) -> float:
    """`value` as a finite float, or ParameterError naming `what`."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise ParameterError(f"{what} must be finite, got {value!r}")
    return x


def _by_speaker(turns: Iterable[Turn]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Speaker -> (starts, ends) of their turns, unsorted."""
    grouped: dict[str, tuple[list[float], list[float]]] = {}
    for t in turns:
        a, b = grouped.setdefault(t.speaker, ([], []))
        a.append(t.start)
        b.append(t.end)
    return {spk: (np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
            for spk, (a, b) in grouped.items()}


def _union(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, disjoint stretches covering the same time as the intervals given.

    Intervals that overlap or touch are joined; zero-length ones cover nothing and go.

    Parameters
    ----------
    starts, ends : ndarray of float, shape (n,)

    Returns
    -------
    starts, ends : ndarray of float, shape (m,), m <= n
    """
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    if not len(starts):
        return starts, ends
    reach = np.maximum.accumulate(ends)
    # A new stretch begins where a turn starts after everything before it has ended.
    new = np.concatenate([[True], starts[1:] > reach[:-1]])
    first = np.flatnonzero(new)
    last = np.concatenate([first[1:] - 1, [len(starts) - 1]])
    return starts[first], reach[last]


def _covered_until(t: np.ndarray, a: np.ndarray, b: np.ndarray, cum: np.ndarray) -> np.ndarray:
    """Time covered by the disjoint sorted stretches ``[a, b)`` before each of `t`.

    Parameters
    ----------
    t : ndarray of float, shape (n,)
    a, b : ndarray of float, shape (m,), m >= 1
    cum : ndarray of float, shape (m + 1,)
        ``cum[j]`` is the length of the first `j` stretches.

    Returns
    -------
    ndarray of float, shape (n,)
    """
    # Stretches starting at or before t: all but the last of them end before t.
    j = np.searchsorted(a, t, side="right")
    last = np.maximum(j - 1, 0)
    partial = np.clip(t - a[last], 0.0, b[last] - a[last])
    return np.where(j > 0, cum[last] + partial, 0.0)


def _as_word(item: Any, index: int) -> tuple[float, float, str]:
    """``(start, end, text)`` of one word given as a tuple, a mapping or an object."""
    if isinstance(item, Mapping):
        start, end = item.get("start"), item.get("end")
        text = item["text"] if "text" in item else item.get("word")
    elif hasattr(item, "start") and hasattr(item, "end"):
        start, end = item.start, item.end
        text = getattr(item, "text", None)
        if text is None:
            text = getattr(item, "word", None)
    elif isinstance(item, Sequence) and not isinstance(item, (str, bytes)) and len(item) == 3:
        start, end, text = item
    else:
        raise TranscriptError(
            f"word {index}: expected (start, end, text) or a mapping with start, end and "
            f"text (or word), got {type(item).__name__}")
    if text is None:
        raise TranscriptError(f"word {index}: no text (a 'text' or 'word' key)")
    times = []
    for name, value in (("start", start), ("end", end)):
        if value is None:
            raise TranscriptError(f"word {index}: no {name} time")
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise TranscriptError(f"word {index}: {name} is not a number: {value!r}") from None
        if not math.isfinite(x):
            raise TranscriptError(f"word {index}: {name} is not finite: {value!r}")
        times.append(x)
    if times[1] < times[0]:
        raise TranscriptError(f"word {index}: ends ({times[1]}) before it starts ({times[0]})")
    return times[0], times[1], str(text)


def _exclusive_turns(turns: Iterable[Turn]) -> list[Turn]:
    """Cut overlaps: in each stretch of time, the active turn that started first wins."""
    ordered = sorted(turns)
    if not ordered:
        return []
    bounds = sorted({x for t in ordered for x in (t.start, t.end)})
    # Priority of a turn: earliest start, then longest (latest end), then label.
    def priority(t: Turn) -> tuple[float, float, str]:
        return (t.start, -t.end, t.speaker)

    pieces: list[Turn] = []
    active: list[Turn] = []
    nxt = 0
    for a, b in zip(bounds[:-1], bounds[1:]):
        while nxt < len(ordered) and ordered[nxt].start <= a:
            active.append(ordered[nxt])
            nxt += 1
        active = [t for t in active if t.end > a]
        covering = [t for t in active if t.start <= a and t.end >= b]
        if not covering:
            continue
        winner = min(covering, key=priority)
        if pieces and pieces[-1].speaker == winner.speaker and pieces[-1].end == a:
            pieces[-1] = Turn(pieces[-1].start, b, winner.speaker)
        else:
            pieces.append(Turn(a, b, winner.speaker))
    return pieces


def turns_from_labels(labels: np.ndarray, *, names: list[str], frame_step: float
                      ) -> list[Turn]:
    """The turns of per-frame speaker labels: one per run of equal non-negative labels.

    Parameters
    ----------
    labels : ndarray of int, shape (n_frames,)
        Speaker index of every frame, -1 where nobody speaks.
    names : list of str, keyword-only
        Speaker name of each index.
    frame_step : float, keyword-only
        Seconds per frame (times are frame boundaries rounded to the millisecond,
        :func:`diarize.frames.frame_time`).

    Returns
    -------
    list of Turn, sorted.
    """
    s, e, v = runs(labels)
    return sorted(Turn(frame_time(a, frame_step), frame_time(b, frame_step), names[int(k)])
                  for a, b, k in zip(s, e, v) if k >= 0)


def solo_spans(turns: Iterable[Turn], speaker: str) -> list[tuple[float, float]]:
    """The time `speaker` talks alone: their turns less every other speaker's.

    Parameters
    ----------
    turns : iterable of Turn
        The turns of one recording.
    speaker : str

    Returns
    -------
    list of (float, float)
        Sorted, disjoint (start, end) stretches in seconds; empty if `speaker` has no
        turn or talks only over others.

    Examples
    --------
    >>> solo_spans([Turn(0, 4, "A"), Turn(3, 5, "B"), Turn(4.5, 6, "A")], "A")
    [(0.0, 3.0), (5.0, 6.0)]
    """
    turns = list(turns)
    mine = _union(np.array([t.start for t in turns if t.speaker == speaker], dtype=np.float64),
                  np.array([t.end for t in turns if t.speaker == speaker], dtype=np.float64))
    others = _union(np.array([t.start for t in turns if t.speaker != speaker], dtype=np.float64),
                    np.array([t.end for t in turns if t.speaker != speaker], dtype=np.float64))
    out: list[tuple[float, float]] = []
    j = 0
    for a, b in zip(*mine):
        a, b = float(a), float(b)
        # the other speakers' stretches are disjoint and sorted: walk them once
        while j < len(others[0]) and others[1][j] <= a:
            j += 1
        k = j
        while k < len(others[0]) and others[0][k] < b:
            if others[0][k] > a:
                out.append((a, float(others[0][k])))
            a = max(a, float(others[1][k]))
            if others[1][k] >= b:
                break
            k += 1
        if a < b:
            out.append((a, b))
    return out
