"""Speaker turns: the one currency between the model stages and the writers.

A :class:`Turn` is a frozen ``(start, end, speaker)`` triple in seconds; a
:class:`Diarization` is an ordered collection of turns for one recording, plus the
evidence the pipeline used to produce them (filled in by :mod:`diarize.pipeline`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Iterator

import numpy as np

from .frames import frame_time, runs
from .writers import FORMATS, format_diarization

if TYPE_CHECKING:  # pragma: no cover - pandas is optional, only named in annotations
    import pandas


@dataclass(frozen=True, order=True)
class Turn:
    """One speaker turn.

    Attributes
    ----------
    start, end : float
        Onset and offset in seconds, ``0 <= start <= end``.
    speaker : str
        Speaker label.

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

    @property
    def duration(self) -> float:
        return self.end - self.start


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
    frame_step : float
        Seconds between analysis frames (for interpreting the arrays above).
    speaker_models : dict of str to object
        Fitted per-speaker models.

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
    frame_step: float = 0.01
    speaker_models: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.turns = sorted(self.turns)

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
        from dataclasses import replace

        return replace(self, turns=_exclusive_turns(self.turns))

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
        ImportError
            If pandas is not installed (it is not a dependency of gmm-diarize).
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
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
        Seconds per frame (times are 3-decimal exact multiples of it).

    Returns
    -------
    list of Turn, sorted.
    """
    s, e, v = runs(labels)
    return sorted(Turn(frame_time(a, frame_step), frame_time(b, frame_step), names[int(k)])
                  for a, b, k in zip(s, e, v) if k >= 0)


def merge_adjacent(turns: Iterable[Turn], *, max_gap: float = 0.0) -> list[Turn]:
    """Merge turns of the same speaker separated by at most `max_gap` seconds.

    Parameters
    ----------
    turns : iterable of Turn
    max_gap : float, keyword-only
        Largest gap (seconds) bridged between two turns of one speaker.

    Returns
    -------
    list of Turn, sorted.
    """
    out: list[Turn] = []
    last: dict[str, int] = {}
    for t in sorted(turns):
        i = last.get(t.speaker)
        if i is not None and t.start - out[i].end <= max_gap:
            prev = out[i]
            out[i] = Turn(prev.start, max(prev.end, t.end), t.speaker)
        else:
            last[t.speaker] = len(out)
            out.append(t)
    return sorted(out)
