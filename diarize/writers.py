"""Output formats: the one registry of formats and their writers.

Every format a diarization can be written in is one :class:`OutputFormat` in
:data:`FORMATS` (name, file extension, writer); the ``diarize`` command, ``diarize
batch`` and ``Diarization.to_*`` all take their formats from it. Files are written
atomically (:func:`atomic_write`).

The writers take turns by their attributes (``start``, ``end``, ``speaker``) and a
result by ``turns``, ``uri``, ``duration`` and ``bic``, so that this module depends on
no stage of the pipeline, not even :mod:`diarize.segments`, which uses it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Mapping, Protocol, TextIO

from .errors import OutputError
from .names import TEMP_SUFFIX, sanitize_field, temp_prefix

__all__ = [
    "OutputFormat", "FORMATS", "OUTPUT_FORMATS", "FILE_MODE", "TIME_DECIMALS",
    "JSON_FORMAT_VERSION", "format_rttm", "format_json",
    "format_csv", "spreadsheet_text", "format_audacity", "format_diarization", "output_format",
    "atomic_write", "atomic_write_text", "write_rttm",
]


class TurnLike(Protocol):
    """What the writers read of a turn (:class:`diarize.segments.Turn` has it)."""

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...

    @property
    def speaker(self) -> str: ...

    def __lt__(self, other: Any, /) -> bool: ...  # the writers sort turns


def format_rttm(turns: Iterable[TurnLike], uri: str, *, channel: int | str = 1) -> str:
    """Format turns as RTTM text.

    Parameters
    ----------
    turns : iterable of Turn
    uri : str
        File id written in field 2; whitespace is replaced by ``_`` because RTTM
        fields are whitespace-separated.
    channel : int or str, keyword-only

    Returns
    -------
    str
        One ``SPEAKER`` line per turn, sorted by onset, times with 3 decimals.
    """
    uri = sanitize_field(uri)
    lines = []
    for t in sorted(turns):
        lines.append(
            f"SPEAKER {uri} {channel} {t.start:.3f} {t.end - t.start:.3f} "
            f"<NA> <NA> {sanitize_field(t.speaker)} <NA> <NA>\n"
        )
    return "".join(lines)


def _file_mode() -> int:
    # The umask can only be read by setting it; done once, at import, because changing
    # it while other threads create files would give those files the wrong mode.
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _file_mode()
"""Permissions of written files: what ``open()`` gives a new file (0o666 minus umask)."""

TIME_DECIMALS = 3
"""Times (seconds) in every output format are rounded to milliseconds, as in RTTM."""

JSON_FORMAT_VERSION = 1
"""Version of the JSON layout; bumped when ``diarization.schema.json`` changes incompatibly."""


def _seconds(x: float) -> float:
    # round() then float: JSON and CSV show at most 3 decimals, never 0.30000000000000004
    return float(round(float(x), TIME_DECIMALS))


def format_json(turns: Iterable[TurnLike], uri: str, *, duration: float | None = None,
                bic: Mapping[int, float] | None = None,
                speaker_count: Mapping[str, Any] | None = None) -> str:
    """Format a diarization as JSON (schema: ``diarize/schemas/diarization.schema.json``).

    Parameters
    ----------
    turns : iterable of Turn
    uri : str
        Recording identifier, written as is.
    duration : float, optional, keyword-only
        Length of the recording in seconds.
    bic : mapping of int to float, optional, keyword-only
        BIC value per candidate number of speakers (lower is better); non-finite values
        are written as ``null`` because JSON has no NaN or infinity.
    speaker_count : mapping, optional, keyword-only
        ``{"asked", "exact", "found", "note"}`` when a speaker count was asked
        (:class:`diarize.segments.SpeakerCount`); written last, as ``speaker_count``.

    Returns
    -------
    str
        Keys in a fixed order (``version``, ``uri``, ``duration``, ``speakers``,
        ``turns``, ``bic``); turns sorted, times in seconds with 3 decimals; the BIC curve
        as ``[{"num_speakers": k, "bic": value}]`` sorted by ``k``. Same input, same bytes.

    Examples
    --------
    >>> from diarize.segments import Turn
    >>> text = format_json([Turn(0.5, 2.25, "A")], "demo", duration=3.0, bic={1: -10.5})
    >>> print(text, end="")
    {
      "version": 1,
      "uri": "demo",
      "duration": 3.0,
      "speakers": [
        "A"
      ],
      "turns": [
        {
          "start": 0.5,
          "end": 2.25,
          "speaker": "A"
        }
      ],
      "bic": [
        {
          "num_speakers": 1,
          "bic": -10.5
        }
      ]
    }
    """
    ordered = sorted(turns)
    speakers = list(dict.fromkeys(t.speaker for t in ordered))
    curve = [
        {"num_speakers": int(k),
         "bic": _seconds(v) if math.isfinite(v) else None}  # 3 decimals is plenty for BIC too
        for k, v in sorted((bic or {}).items())
    ]
    doc = {
        "version": JSON_FORMAT_VERSION,
        "uri": uri,
        "duration": None if duration is None else _seconds(duration),
        "speakers": speakers,
        "turns": [{"start": _seconds(t.start), "end": _seconds(t.end), "speaker": t.speaker}
                  for t in ordered],
        "bic": curve,
    }
    if speaker_count is not None:
        doc["speaker_count"] = dict(speaker_count)
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def format_csv(turns: Iterable[TurnLike], uri: str) -> str:
    """Format turns as CSV: a header, then ``uri,start,end,duration,speaker`` rows.

    Examples
    --------
    >>> from diarize.segments import Turn
    >>> print(format_csv([Turn(0.5, 2.25, "A")], "demo"), end="")
    uri,start,end,duration,speaker
    demo,0.500,2.250,1.750,A
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["uri", "start", "end", "duration", "speaker"])
    uri = spreadsheet_text(uri)
    for t in sorted(turns):
        writer.writerow([uri, f"{t.start:.3f}", f"{t.end:.3f}", f"{t.end - t.start:.3f}",
                         spreadsheet_text(t.speaker)])
    return buf.getvalue()


def spreadsheet_text(text: str) -> str:
    """A text cell of a CSV file that a spreadsheet shows as text, never as a formula.

    File names, uris and speaker labels come from whoever named the files: a cell that
    begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be run as a
    formula (``=HYPERLINK(...)``), so it gets a leading ``'``, OWASP's rule for CSV
    injection. Numbers are written by the caller as they are, never through this.

    Examples
    --------
    >>> spreadsheet_text("=1+1"), spreadsheet_text("alice")
    ("'=1+1", 'alice')
    """
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


#: First characters that make a spreadsheet read a cell as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def format_audacity(turns: Iterable[TurnLike]) -> str:
    """Format turns as an Audacity label track (File > Import > Labels...).

    One ``start<TAB>end<TAB>label`` line per turn, times in seconds. Tabs and newlines
    inside a label would break the line format, so they become spaces.

    Examples
    --------
    >>> from diarize.segments import Turn
    >>> format_audacity([Turn(0.5, 2.25, "A")])
    '0.500\\t2.250\\tA\\n'
    """
    lines = []
    for t in sorted(turns):
        label = re.sub(r"[\t\r\n]+", " ", t.speaker)
        lines.append(f"{t.start:.3f}\t{t.end:.3f}\t{label}\n")
    return "".join(lines)


# --------------------------------------------------------------------------- registry

@dataclass(frozen=True)
class OutputFormat:
    """One output format.

    Attributes
    ----------
    name : str
        What ``--format`` takes.
    extension : str
        Suffix of its files, with the dot (an Audacity label track is a ``.txt`` file).
    render : callable
        ``render(diarization) -> str``: the text of a result (anything with ``turns``,
        ``uri``, ``duration`` and ``bic``, such as :class:`diarize.segments.Diarization`).
    description : str
        One line for help texts.
    """

    name: str
    extension: str
    render: Callable[[Any], str]
    description: str


def _count(d: Any) -> dict[str, Any] | None:
    """A Diarization's ``speaker_count`` as JSON, or None when no count was asked."""
    count = getattr(d, "speaker_count", None)
    return None if count is None else count.as_dict()


FORMATS: dict[str, OutputFormat] = {f.name: f for f in (
    OutputFormat("rttm", ".rttm", lambda d: format_rttm(d.turns, d.uri),
                 "NIST RTTM, one SPEAKER line per turn"),
    OutputFormat("json", ".json", lambda d: format_json(d.turns, d.uri, duration=d.duration,
                                                        bic=d.bic, speaker_count=_count(d)),
                 "JSON with the turns, speakers and BIC curve"),
    OutputFormat("csv", ".csv", lambda d: format_csv(d.turns, d.uri),
                 "CSV: uri,start,end,duration,speaker"),
    OutputFormat("audacity", ".txt", lambda d: format_audacity(d.turns),
                 "Audacity label track"),
)}
"""Every output format, by name, in the order help texts list them."""

OUTPUT_FORMATS = {name: f.extension for name, f in FORMATS.items()}
"""Output format name -> file extension (derived from :data:`FORMATS`)."""


def output_format(name: str) -> OutputFormat:
    """The format called `name`.

    Raises
    ------
    OutputError
        If there is no such format.
    """
    try:
        return FORMATS[name]
    except (KeyError, TypeError):
        raise OutputError(
            f"unknown output format {name!r} (known: {', '.join(FORMATS)})") from None


def format_diarization(diarization: Any, format: str = "rttm") -> str:
    """Format a :class:`~diarize.segments.Diarization` in one of :data:`FORMATS`.

    Raises
    ------
    OutputError
        If `format` is not one of ``rttm``, ``json``, ``csv``, ``audacity``.
    """
    return output_format(format).render(diarization)


# --------------------------------------------------------------------------- files

def atomic_write(path: str | os.PathLike, write: Callable[[IO], None], *,
                 binary: bool = False) -> None:
    """Create `path` atomically: `write` fills a temporary file in the same directory,
    which is then renamed over `path`.

    A reader never sees a half-written file, and a killed process leaves either the old
    file or none. An exception raised by `write` removes the temporary file and
    propagates (an ``OSError`` as :class:`OutputError`).

    Raises
    ------
    OutputError
        If the directory does not exist or is not writable.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=TEMP_SUFFIX,
                                   dir=directory)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write output ({exc.strerror or exc})") from None
    try:
        with (os.fdopen(fd, "wb") if binary
              else os.fdopen(fd, "w", encoding="utf-8", newline="\n")) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0o600); give it the permissions open() would
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise OutputError(f"{path}: cannot write output ({exc.strerror or exc})") from None
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` (UTF-8, ``\\n`` line ends) to `path` atomically (see :func:`atomic_write`)."""
    def write(f: IO) -> None:
        f.write(text)

    atomic_write(path, write)


def write_rttm(file: str | os.PathLike | TextIO, turns: Iterable[TurnLike],
               uri: str | None = None) -> None:
    """Write turns as RTTM to a path (atomically) or to an open text stream.

    `turns` may be a :class:`~diarize.segments.Diarization`, whose ``uri`` is then the
    default file id: ``write_rttm("out.rttm", result)``.
    """
    if uri is None:
        uri = getattr(turns, "uri", None)
        if uri is None:
            raise TypeError("write_rttm: pass uri= when writing a plain list of turns")
    text = format_rttm(turns, uri)
    if hasattr(file, "write"):
        file.write(text)  # type: ignore[union-attr]
    else:
        atomic_write_text(file, text)  # type: ignore[arg-type]
