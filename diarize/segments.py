"""Speaker turns: the one currency between the model stages and the writers.

A :class:`Turn` is a frozen ``(start, end, speaker)`` triple in seconds; a
:class:`Diarization` is an ordered collection of turns for one recording, plus the
evidence the pipeline used to produce them (filled in by :mod:`diarize.pipeline`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Sequence

import numpy as np


@dataclass(frozen=True, order=True)
class Turn:
    """One speaker turn.

    Attributes
    ----------
    start, end : float
        Onset and offset in seconds, ``0 <= start <= end``.
    speaker : str
        Speaker label.
    """

    start: float
    end: float
    speaker: str

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
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
    speech_mask : ndarray of bool, shape (n_frames,) or None
        Speech activity per analysis frame.
    posteriors : ndarray of float32, shape (n_frames, n_speakers) or None
        Smoothed speaker posteriors per analysis frame.
    frame_step : float
        Seconds between analysis frames (for interpreting the arrays above).
    speaker_models : dict of str to object
        Fitted per-speaker models.
    """

    turns: list[Turn] = field(default_factory=list)
    uri: str = "audio"
    duration: float = 0.0
    bic: dict[int, float] = field(default_factory=dict)
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

    @property
    def speakers(self) -> list[str]:
        """Speaker labels in order of first appearance."""
        seen: dict[str, None] = {}
        for t in self.turns:
            seen.setdefault(t.speaker, None)
        return list(seen)


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
