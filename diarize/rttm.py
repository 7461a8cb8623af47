"""Reading RTTM (and UEM) files; the writers are in :mod:`diarize.writers`.

(Named ``rttm`` rather than ``io`` so that it does not shadow the standard library.)

RTTM ``SPEAKER`` lines have ten space-separated fields::

    SPEAKER <uri> <channel> <onset> <duration> <NA> <NA> <speaker> <NA> <NA>

UEM lines (the regions to score) have four::

    <uri> <channel> <start> <end>

The readers follow NIST md-eval's parser (v22): blank lines and lines starting with
``#`` or ``;`` are skipped, record types other than ``SPEAKER`` are ignored, the
channel is compared case-insensitively, and files are keyed by file id *and* channel.
"""

from __future__ import annotations

import math
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Iterator, NamedTuple

from .errors import RTTMError, ScoringWarning
from .segments import Turn

# --------------------------------------------------------------------------- readers

RTTM_EXTENSIONS = (".rttm",)
"""Suffixes of the files read from a directory given as a reference or hypothesis."""
UEM_EXTENSIONS = (".uem",)
"""Suffixes of the files read from a directory given as a UEM."""

MIN_RTTM_FIELDS = 9
"""md-eval refuses records with fewer fields (the tenth, a confidence, is optional)."""
MIN_UEM_FIELDS = 4

# RTTM record types md-eval knows; all but SPEAKER are skipped without complaint, any
# other word in field 1 means the file is not RTTM (or is corrupt) and is an error.
KNOWN_RTTM_TYPES = frozenset({
    "SEGMENT", "NOSCORE", "NO_RT_METADATA", "LEXEME", "NON-LEX", "NON-SPEECH",
    "FILLER", "EDIT", "IP", "SU", "CB", "A/P", "SPEAKER", "SPKR-INFO",
})

#: Record types md-eval's speaker scoring reads from a reference besides SPEAKER:
#: NOSCORE and NON-LEX regions are not scored, and these (with SPEAKER) widen the
#: default scored region. Read here, they are only warned about (metrics' departures).
MD_EVAL_REGION_TYPES = ("NOSCORE", "NON-LEX", "LEXEME", "SEGMENT", "SU", "EDIT", "FILLER",
                        "IP", "CB", "A/P")

# Fields are separated by ASCII whitespace only, as in md-eval (which reads bytes): a
# non-breaking space inside a UTF-8 label is part of the label.
_FIELD_SEP = re.compile(r"[ \t\r\n\f\v]+")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NA = "<na>"


class FileKey(NamedTuple):
    """Identity of one scored recording: RTTM field 2 (file id) and field 3 (channel).

    The channel is lower-cased, as md-eval does, so ``A`` and ``a`` are the same channel.
    """

    uri: str
    channel: str = "1"


def _iter_paths(path: str | os.PathLike, suffixes: tuple[str, ...]) -> list[Path]:
    """`path` itself, or the files with one of `suffixes` in the directory `path`, sorted."""
    if os.fspath(path) == "":  # Path("") is the current folder: every file in it was read
        raise RTTMError("an empty file name is not a file or folder")
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    if not path.exists():
        raise RTTMError(f"{path}: no such file or directory")
    return [path]


def _iter_lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, fields)`` for the non-blank, non-comment lines of `path`.

    Lines are split on ``\\n`` only (not on the Unicode line separators `str.splitlines`
    knows), and decoded one by one so that bad UTF-8 is reported with its line number.
    """
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise RTTMError(f"{path}: cannot read ({exc.strerror or exc})") from None
    # Line by line, so that reading a large RTTM holds one line of text at a time.
    with handle:
        try:
            for number, raw in enumerate(handle, start=1):
                if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]  # a UTF-8 byte-order mark is not part of field 1
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise RTTMError(f"{path}:{number}: not valid UTF-8") from None
                fields = _FIELD_SEP.split(line.strip(" \t\r\n\f\v"))
                if not fields[0] or fields[0][0] in "#;":
                    continue
                yield number, fields
        except OSError as exc:
            raise RTTMError(f"{path}: cannot read ({exc.strerror or exc})") from None


#: Latest time (seconds) an RTTM or UEM file may name: 1e7 s, 115 days. Longer than any
#: recording, and small enough that sums of thousands of turns stay exact to the
#: microsecond in float64; a turn of 1e308 s made the scores infinite or NaN.
MAX_TIME = 1e7


def _parse_time(text: str, what: str, where: str) -> float:
    """A decimal number of seconds up to :data:`MAX_TIME`; md-eval's ``*`` (approximate)
    marks are dropped."""
    text = text.replace("*", "")
    if not _NUMBER.fullmatch(text):
        raise RTTMError(f"{where}: {what} is not a number: {text!r}")
    value = float(text)
    if not (math.isfinite(value) and abs(value) <= MAX_TIME):
        raise RTTMError(f"{where}: {what} is out of range: {text!r} "
                        f"(at most {MAX_TIME:g} s)")
    return value


def read_rttm(path: str | os.PathLike, *, reference: bool = False
              ) -> dict[FileKey, list[Turn]]:
    """Read the ``SPEAKER`` turns of an RTTM file, or of every ``.rttm`` file in a directory.

    Parameters
    ----------
    path : str or path-like
        An RTTM file, or a directory whose ``*.rttm`` files are read in name order.
    reference : bool, keyword-only
        The file is a scoring reference: a :class:`~diarize.errors.ScoringWarning` per
        file says which of its records md-eval would score by but this reader skips
        (:data:`MD_EVAL_REGION_TYPES`: ``NOSCORE``, ``NON-LEX``, ``LEXEME``, ...).

    Returns
    -------
    dict of FileKey to list of Turn
        Turns of each (file id, channel), in the order of the input; keys in order of
        first appearance. Zero-length turns are kept: they carry no speech but md-eval
        still puts collars around them and lets them extend the default scored region.

    Raises
    ------
    RTTMError
        If `path` cannot be read, or a line is malformed: fewer than 9 fields, an unknown
        record type, an onset or duration that is not a finite number, a negative onset
        or duration, bad UTF-8. The message is ``FILE:LINE: problem``.

    Notes
    -----
    Blank lines and lines whose first field starts with ``#`` or ``;`` are skipped, as
    are records of other RTTM types (``SPKR-INFO``, ``LEXEME``...). A duration of
    ``<NA>`` reads as 0, as in md-eval. Several files may share one RTTM, and one file's
    turns may be spread over several RTTM files.
    """
    out: dict[FileKey, list[Turn]] = {}
    for file in _iter_paths(path, RTTM_EXTENSIONS):
        region_records: dict[str, int] = {}
        for number, fields in _iter_lines(file):
            where = f"{file}:{number}"
            if len(fields) < MIN_RTTM_FIELDS:
                raise RTTMError(
                    f"{where}: expected at least {MIN_RTTM_FIELDS} fields, found {len(fields)}")
            kind = fields[0].upper()
            if kind not in KNOWN_RTTM_TYPES:
                raise RTTMError(f"{where}: unknown RTTM record type {fields[0]!r}")
            if kind != "SPEAKER":
                if kind in MD_EVAL_REGION_TYPES:
                    region_records[kind] = region_records.get(kind, 0) + 1
                continue
            onset = _parse_time(fields[3], "onset", where)
            duration = 0.0 if fields[4].lower() == _NA else _parse_time(fields[4], "duration", where)
            if onset < 0:
                raise RTTMError(f"{where}: negative onset {fields[3]}")
            if duration < 0:
                raise RTTMError(f"{where}: negative duration {fields[4]}")
            if onset + duration > MAX_TIME:
                raise RTTMError(f"{where}: turn ends after {MAX_TIME:g} s "
                                f"({fields[3]} + {fields[4]})")
            key = FileKey(fields[1], fields[2].lower())
            # end = onset + duration, computed as md-eval does (TEND = TBEG + TDUR)
            out.setdefault(key, []).append(Turn(onset, onset + duration, sys.intern(fields[7])))
        if reference and region_records:
            found = ", ".join(f"{n} {kind}" for kind, n in region_records.items())
            warnings.warn(
                f"{file}: {found} record(s) not used: only SPEAKER lines are scored (md-eval "
                "would not score NOSCORE and NON-LEX regions, and lets transcript records "
                "widen the scored region); give a UEM of the regions to score",
                ScoringWarning, stacklevel=2)
    return out


def read_uem(path: str | os.PathLike) -> dict[FileKey, list[tuple[float, float]]]:
    """Read a UEM file (or every ``.uem`` file in a directory): the regions to score.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    dict of FileKey to list of (start, end)
        Regions of each (file id, channel), sorted. File ids are kept exactly as
        written (md-eval cuts them at the first dot, so that a UEM for ``rec.1`` is
        silently not applied to ``rec.1``); :func:`diarize.metrics.evaluate` matches a
        UEM id written as a path (``dir/rec.wav``) to the file ``rec`` only when no
        file is called ``dir/rec.wav``.

    Raises
    ------
    RTTMError
        A line with fewer than 4 fields, a time that is not a finite number, a negative
        start, a region that does not end after it starts, or two regions of one file
        and channel that overlap (md-eval refuses those too).
    """
    regions: dict[FileKey, list[tuple[float, float, str]]] = {}
    for file in _iter_paths(path, UEM_EXTENSIONS):
        for number, fields in _iter_lines(file):
            where = f"{file}:{number}"
            if len(fields) < MIN_UEM_FIELDS:
                raise RTTMError(
                    f"{where}: expected at least {MIN_UEM_FIELDS} UEM fields, found {len(fields)}")
            start = _parse_time(fields[2], "start", where)
            end = _parse_time(fields[3], "end", where)
            if start < 0:
                raise RTTMError(f"{where}: negative start {fields[2]}")
            if not end > start:
                raise RTTMError(f"{where}: region does not end after it starts ({fields[2]} to {fields[3]})")
            key = FileKey(fields[0], fields[1].lower())
            regions.setdefault(key, []).append((start, end, where))
    out: dict[FileKey, list[tuple[float, float]]] = {}
    for key, items in regions.items():
        items.sort()
        for (s0, e0, _), (s1, e1, where) in zip(items, items[1:]):
            if s1 < e0:
                raise RTTMError(f"{where}: region {s1:g} to {e1:g} overlaps region {s0:g} to {e0:g} of {key.uri}")
        out[key] = [(s, e) for s, e, _ in items]
    return out
