"""Reading and writing RTTM (and UEM) files.

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
import tempfile
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator, NamedTuple, TextIO

from .errors import OutputError, RTTMError
from .segments import Turn

_WS = re.compile(r"\s+")


def sanitize_field(text: str) -> str:
    """Make `text` a valid RTTM field: whitespace runs become ``_``."""
    text = _WS.sub("_", text.strip())
    return text or "_"


def uri_for(path: str | os.PathLike) -> str:
    """RTTM file id of a recording: its file stem, with whitespace replaced by ``_``."""
    return _WS.sub("_", Path(path).stem) or "_"


def format_rttm(turns: Iterable[Turn], uri: str, *, channel: int | str = 1) -> str:
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


import typing

if typing.TYPE_CHECKING:  # pragma: no cover - names used only in annotations
    from typing import Mapping

    from .segments import Diarization

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

OUTPUT_FORMATS = {"rttm": ".rttm", "json": ".json", "csv": ".csv", "audacity": ".txt"}
"""Output format name -> file extension (an Audacity label track is a ``.txt`` file)."""

JSON_FORMAT_VERSION = 1
"""Version of the JSON layout; bumped when ``diarization.schema.json`` changes incompatibly."""


def _seconds(x: float) -> float:
    # round() then float: JSON and CSV show at most 3 decimals, never 0.30000000000000004
    return float(round(float(x), TIME_DECIMALS))


def format_json(turns: Iterable[Turn], uri: str, *, duration: float | None = None,
                bic: Mapping[int, float] | None = None) -> str:
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

    Returns
    -------
    str
        Keys in a fixed order (``version``, ``uri``, ``duration``, ``speakers``,
        ``turns``, ``bic``); turns sorted, times in seconds with 3 decimals; the BIC curve
        as ``[{"num_speakers": k, "bic": value}]`` sorted by ``k``. Same input, same bytes.

    Examples
    --------
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
    import json
    import math

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
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def format_csv(turns: Iterable[Turn], uri: str) -> str:
    """Format turns as CSV: a header, then ``uri,start,end,duration,speaker`` rows.

    Examples
    --------
    >>> print(format_csv([Turn(0.5, 2.25, "A")], "demo"), end="")
    uri,start,end,duration,speaker
    demo,0.500,2.250,1.750,A
    """
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["uri", "start", "end", "duration", "speaker"])
    for t in sorted(turns):
        writer.writerow([uri, f"{t.start:.3f}", f"{t.end:.3f}", f"{t.end - t.start:.3f}",
                         t.speaker])
    return buf.getvalue()


def format_audacity(turns: Iterable[Turn]) -> str:
    """Format turns as an Audacity label track (File > Import > Labels...).

    One ``start<TAB>end<TAB>label`` line per turn, times in seconds. Tabs and newlines
    inside a label would break the line format, so they become spaces.

    Examples
    --------
    >>> format_audacity([Turn(0.5, 2.25, "A")])
    '0.500\\t2.250\\tA\\n'
    """
    lines = []
    for t in sorted(turns):
        label = re.sub(r"[\t\r\n]+", " ", t.speaker)
        lines.append(f"{t.start:.3f}\t{t.end:.3f}\t{label}\n")
    return "".join(lines)


def format_diarization(diarization: "Diarization", format: str = "rttm") -> str:
    """Format a :class:`~diarize.segments.Diarization` in one of :data:`OUTPUT_FORMATS`.

    Raises
    ------
    OutputError
        If `format` is not one of ``rttm``, ``json``, ``csv``, ``audacity``.
    """
    writers = {
        "rttm": diarization.to_rttm,
        "json": diarization.to_json,
        "csv": diarization.to_csv,
        "audacity": diarization.to_audacity,
    }
    if format not in writers:
        raise OutputError(
            f"unknown output format {format!r} (known: {', '.join(OUTPUT_FORMATS)})")
    return writers[format]()


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
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
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
    atomic_write(path, lambda f: f.write(text))


def write_rttm(file: str | os.PathLike | TextIO, turns: Iterable[Turn],
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
        data = path.read_bytes()
    except OSError as exc:
        raise RTTMError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark is not part of field 1
        data = data[3:]
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise RTTMError(f"{path}:{number}: not valid UTF-8") from None
        fields = _FIELD_SEP.split(line.strip(" \t\r\n\f\v"))
        if not fields[0] or fields[0][0] in "#;":
            continue
        yield number, fields


def _parse_time(text: str, what: str, where: str) -> float:
    """A finite decimal number of seconds; md-eval's ``*`` (approximate) marks are dropped."""
    text = text.replace("*", "")
    if not _NUMBER.fullmatch(text):
        raise RTTMError(f"{where}: {what} is not a number: {text!r}")
    value = float(text)
    if not math.isfinite(value):
        raise RTTMError(f"{where}: {what} is out of range: {text!r}")
    return value


def read_rttm(path: str | os.PathLike) -> dict[FileKey, list[Turn]]:
    """Read the ``SPEAKER`` turns of an RTTM file, or of every ``.rttm`` file in a directory.

    Parameters
    ----------
    path : str or path-like
        An RTTM file, or a directory whose ``*.rttm`` files are read in name order.

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
        for number, fields in _iter_lines(file):
            where = f"{file}:{number}"
            if len(fields) < MIN_RTTM_FIELDS:
                raise RTTMError(
                    f"{where}: expected at least {MIN_RTTM_FIELDS} fields, found {len(fields)}")
            kind = fields[0].upper()
            if kind not in KNOWN_RTTM_TYPES:
                raise RTTMError(f"{where}: unknown RTTM record type {fields[0]!r}")
            if kind != "SPEAKER":
                continue
            onset = _parse_time(fields[3], "onset", where)
            duration = 0.0 if fields[4].lower() == _NA else _parse_time(fields[4], "duration", where)
            if onset < 0:
                raise RTTMError(f"{where}: negative onset {fields[3]}")
            if duration < 0:
                raise RTTMError(f"{where}: negative duration {fields[4]}")
            key = FileKey(fields[1], fields[2].lower())
            # end = onset + duration, computed as md-eval does (TEND = TBEG + TDUR)
            out.setdefault(key, []).append(Turn(onset, onset + duration, fields[7]))
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
