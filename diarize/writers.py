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
import hashlib
import io
import errno
import json
import math
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Mapping, Protocol, TextIO

from ._version import __version__
from .errors import ForeignOutputError, OutputError, OutputWriteError
from .names import (FILE_MODE, TEMP_SUFFIX, TIME_DECIMALS, name_text, printable,
                    replace_atomically, sanitize_field, special_file)

__all__ = [
    "OutputFormat", "FORMATS", "OUTPUT_FORMATS", "FILE_MODE", "TIME_DECIMALS",
    "JSON_FORMAT_VERSION", "format_rttm", "format_json",
    "format_csv", "spreadsheet_text", "format_audacity", "format_textgrid",
    "format_diarization", "output_format",
    "atomic_write", "atomic_write_text", "write_rttm",
    "TOOL_NAME", "Provenance", "provenance", "rttm_provenance_line", "OUTPUT_LEDGER",
    "is_ours", "check_replaceable", "check_writable_dir", "check_writable_file",
]

TOOL_NAME = "gmm-diarize"
"""The name every output file of ours carries (see :class:`Provenance`)."""



class TurnLike(Protocol):
    """What the writers read of a turn (:class:`diarize.segments.Turn` has it)."""

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...

    @property
    def speaker(self) -> str: ...

    def __lt__(self, other: Any, /) -> bool: ...  # the writers sort turns


@dataclass(frozen=True)
class Provenance:
    """Who wrote an output file, from what: recorded in the file (RTTM, JSON) or in the
    folder's ledger (:data:`OUTPUT_LEDGER`, for CSV, Audacity labels and TextGrids, which
    have no place for it), so that a rerun tells our outputs from files it must not replace.

    Attributes
    ----------
    tool, version : str
        :data:`TOOL_NAME` and the package version.
    input : str
        File name (no folder: the output stays the same wherever the audio lies) of the
        audio the output was made from.
    """

    tool: str
    version: str
    input: str


def provenance(source: str | os.PathLike) -> Provenance:
    """The provenance of an output made from the audio file `source`."""
    return Provenance(TOOL_NAME, __version__, name_text(Path(source).name))


def rttm_provenance_line(uri: str, mark: Provenance, *, channel: int | str = 1) -> str:
    """The first line of our RTTM files: an ``SPKR-INFO`` record naming tool, version
    and input.

    Not a ``;;`` comment: NIST md-eval and our reader skip comments, but dscore (and
    pyannote's reader, for lines of more than ten fields) do not, while all of them
    skip ``SPKR-INFO`` records when scoring. Ten fields, the speaker type ``unknown``
    (md-eval checks it), the tool in the name field, the version and the input's file
    name (whitespace as ``_``) in the last two.

    Examples
    --------
    >>> print(rttm_provenance_line("a b", Provenance("gmm-diarize", "0.1.0", "a b.wav")), end="")
    SPKR-INFO a_b 1 <NA> <NA> <NA> unknown gmm-diarize 0.1.0 a_b.wav
    """
    return (f"SPKR-INFO {sanitize_field(uri)} {channel} <NA> <NA> <NA> unknown "
            f"{sanitize_field(mark.tool)} {sanitize_field(mark.version)} "
            f"{sanitize_field(mark.input)}\n")


_RTTM_MARK = re.compile(r"SPKR-INFO (\S+) \S+ <NA> <NA> <NA> unknown %s \S+ \S+\n"
                        % re.escape(TOOL_NAME))


def _ms_duration(t: TurnLike) -> float:
    """A turn's duration as its written times give it (both rounded to the ms), so that
    an RTTM or CSV line ends where the JSON, CSV, Audacity and TextGrid end times say."""
    return round(t.end, TIME_DECIMALS) - round(t.start, TIME_DECIMALS)


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
            f"SPEAKER {uri} {channel} {t.start:.{TIME_DECIMALS}f} "
            f"{_ms_duration(t):.{TIME_DECIMALS}f} "
            f"<NA> <NA> {sanitize_field(t.speaker)} <NA> <NA>\n"
        )
    return "".join(lines)


TRANSCRIPT_FORMATS = ("srt", "vtt", "json")
"""Transcript formats read and written by :mod:`diarize.transcript` (``json`` is
Whisper's when read); here, so that the command line offers them without importing it."""

TRANSCRIPT_SUFFIXES = {".srt": "srt", ".vtt": "vtt", ".json": "json"}
"""File suffix -> transcript format, where the content does not say
(``transcript.SUFFIXES``; see :func:`diarize.transcript.detect_format`)."""

JSON_FORMAT_VERSION = 1
"""Version of the JSON layout; bumped when ``diarization.schema.json`` changes incompatibly."""


def _seconds(x: float) -> float:
    # round() then float: JSON and CSV show at most 3 decimals, never 0.30000000000000004
    return float(round(float(x), TIME_DECIMALS))


def format_json(turns: Iterable[TurnLike], uri: str, *, duration: float | None = None,
                bic: Mapping[int, float] | None = None,
                speaker_count: Mapping[str, Any] | None = None,
                generator: Provenance | None = None,
                voices: Mapping[str, Mapping[str, Any]] | None = None) -> str:
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
    generator : Provenance, optional, keyword-only
        Written as ``"generator": {"name", "version", "input"}`` after ``version``
        (files written by ``diarize`` and ``diarize batch`` have it).
    voices : mapping of str to mapping, optional, keyword-only
        Named speakers (``--voices``): for each output speaker, ``{"name", "best",
        "best_score", "runner_up", "runner_up_score"}``
        (:meth:`diarize.voices.VoiceMatch.as_dict`); written after ``speaker_count`` as
        ``voices``, a list sorted by speaker with the speaker's label first.

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
    doc: dict[str, Any] = {"version": JSON_FORMAT_VERSION}
    if generator is not None:
        doc["generator"] = {"name": generator.tool, "version": generator.version,
                            "input": generator.input}
    doc.update({
        "uri": uri,
        "duration": None if duration is None else _seconds(duration),
        "speakers": speakers,
        "turns": [{"start": _seconds(t.start), "end": _seconds(t.end), "speaker": t.speaker}
                  for t in ordered],
        "bic": curve,
    })
    if speaker_count is not None:
        doc["speaker_count"] = dict(speaker_count)
    if voices is not None:
        doc["voices"] = [{"speaker": k, **dict(v)} for k, v in sorted(voices.items())]
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
        writer.writerow([uri, f"{t.start:.{TIME_DECIMALS}f}", f"{t.end:.{TIME_DECIMALS}f}",
                         f"{_ms_duration(t):.{TIME_DECIMALS}f}", spreadsheet_text(t.speaker)])
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


def _one_line(text: str) -> str:
    """`text` with its tabs and line breaks as spaces: a label of a line-based format."""
    return re.sub(r"[\t\r\n]+", " ", text)


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
        label = _one_line(t.speaker)
        lines.append(f"{t.start:.{TIME_DECIMALS}f}\t{t.end:.{TIME_DECIMALS}f}\t{label}\n")
    return "".join(lines)


def format_textgrid(turns: Iterable[TurnLike], *, duration: float | None = None) -> str:
    """Format turns as a Praat TextGrid (the long text format Praat itself saves).

    One interval tier per speaker, named by its label, in the order speakers first speak
    (as JSON's ``speakers``): a speaker's turns are its labelled intervals, the time
    between them empty ones, so that turns of two speakers may overlap as they do in
    RTTM. Praat, ELAN and the Praat-based Python readers open it beside the audio.

    Parameters
    ----------
    turns : iterable of Turn
    duration : float, optional, keyword-only
        Length of the recording in seconds: the end of every tier (at least the last
        turn's end, and at least 0.001 s: Praat has no empty time domain).

    Returns
    -------
    str
        Times in seconds with at most 3 decimals. A speaker's turns that touch or overlap
        once rounded are one interval. Double quotes in labels are doubled (Praat's
        rule); tabs and line breaks become spaces. Without turns, one empty tier
        ``speech`` (the Praat-based readers expect a tier).

    Examples
    --------
    >>> from diarize.segments import Turn
    >>> text = format_textgrid([Turn(0.5, 2.25, "A")], duration=3.0)
    >>> print("\\n".join(text.splitlines()[13:22]))
            intervals: size = 3
            intervals [1]:
                xmin = 0
                xmax = 0.5
                text = ""
            intervals [2]:
                xmin = 0.5
                xmax = 2.25
                text = "A"
    """
    ordered = sorted(turns)
    spans: dict[str, list[list[float]]] = {}
    for t in ordered:
        start, end = _seconds(t.start), _seconds(t.end)
        runs = spans.setdefault(t.speaker, [])  # every speaker a tier, as JSON lists them
        if end <= start:
            continue  # nothing left of it at Praat's 1 ms
        if runs and start <= runs[-1][1]:
            runs[-1][1] = max(runs[-1][1], end)
        else:
            runs.append([start, end])
    xmax = max([_seconds(duration or 0.0), _TEXTGRID_MIN_SPAN]
               + [r[-1][1] for r in spans.values() if r])
    if not spans:
        spans = {_TEXTGRID_EMPTY_TIER: []}
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "",
             "xmin = 0", f"xmax = {_tg_number(xmax)}", "tiers? <exists>",
             f"size = {len(spans)}", "item []:"]
    for k, (speaker, runs) in enumerate(spans.items(), 1):
        intervals: list[tuple[float, float, str]] = []
        at = 0.0
        for start, end in runs:
            if start > at:
                intervals.append((at, start, ""))
            intervals.append((start, end, speaker))
            at = end
        if at < xmax:
            intervals.append((at, xmax, ""))
        lines += [f"    item [{k}]:", '        class = "IntervalTier"',
                  f"        name = {_tg_text(speaker)}", "        xmin = 0",
                  f"        xmax = {_tg_number(xmax)}",
                  f"        intervals: size = {len(intervals)}"]
        for i, (a, b, label) in enumerate(intervals, 1):
            lines += [f"        intervals [{i}]:", f"            xmin = {_tg_number(a)}",
                      f"            xmax = {_tg_number(b)}",
                      f"            text = {_tg_text(label)}"]
    return "\n".join(lines) + "\n"


#: The end of a TextGrid's time domain when nothing else sets it: Praat refuses an empty
#: one, and 1 ms is the precision of every output format.
_TEXTGRID_MIN_SPAN = 10.0 ** -TIME_DECIMALS
#: The one tier of a TextGrid without turns.
_TEXTGRID_EMPTY_TIER = "speech"


def _tg_number(x: float) -> str:
    """A time as Praat writes it: no trailing zeros (``0``, ``0.5``, ``12.345``)."""
    text = f"{x:.{TIME_DECIMALS}f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _tg_text(text: str) -> str:
    """A quoted Praat string: inner double quotes doubled, tabs and line breaks spaces."""
    return '"' + _one_line(text).replace('"', '""') + '"'


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
    render_marked : callable or None
        ``render_marked(diarization, provenance) -> str``: the text with its
        :class:`Provenance` inside; None for a format with no place for it (its files
        are recorded in the folder's :data:`OUTPUT_LEDGER` instead).
    """

    name: str
    extension: str
    render: Callable[[Any], str]
    description: str
    render_marked: Callable[[Any, Provenance], str] | None = None


def _count(d: Any) -> dict[str, Any] | None:
    """A Diarization's ``speaker_count`` as JSON, or None when no count was asked."""
    count = getattr(d, "speaker_count", None)
    return None if count is None else count.as_dict()


def _voices(d: Any) -> dict[str, dict[str, Any]] | None:
    """A Diarization's ``voice_matches`` as JSON, or None when no voices were given."""
    matches = getattr(d, "voice_matches", None)
    return None if matches is None else {k: m.as_dict() for k, m in matches.items()}


FORMATS: dict[str, OutputFormat] = {f.name: f for f in (
    OutputFormat("rttm", ".rttm", lambda d: format_rttm(d.turns, d.uri),
                 "NIST RTTM, one SPEAKER line per turn",
                 lambda d, p: rttm_provenance_line(d.uri, p) + format_rttm(d.turns, d.uri)),
    OutputFormat("json", ".json", lambda d: format_json(d.turns, d.uri, duration=d.duration,
                                                        bic=d.bic, speaker_count=_count(d),
                                                        voices=_voices(d)),
                 "JSON with the turns, speakers and BIC curve",
                 lambda d, p: format_json(d.turns, d.uri, duration=d.duration, bic=d.bic,
                                          speaker_count=_count(d), generator=p,
                                          voices=_voices(d))),
    OutputFormat("csv", ".csv", lambda d: format_csv(d.turns, d.uri),
                 "CSV: uri,start,end,duration,speaker"),
    OutputFormat("audacity", ".txt", lambda d: format_audacity(d.turns),
                 "Audacity label track"),
    OutputFormat("textgrid", ".TextGrid",
                 lambda d: format_textgrid(d.turns, duration=d.duration),
                 "Praat TextGrid, one interval tier per speaker"),
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


def format_diarization(diarization: Any, format: str = "rttm", *,
                       source: str | os.PathLike | None = None) -> str:
    """Format a :class:`~diarize.segments.Diarization` in one of :data:`FORMATS`.

    Parameters
    ----------
    diarization : Diarization
    format : str
    source : path-like, optional, keyword-only
        The audio file it came from: the text then carries its :func:`provenance`
        (RTTM: a first ``SPKR-INFO`` line; JSON: a ``generator`` field), as the files
        written by ``diarize`` and ``diarize batch`` do. CSV, Audacity labels and
        TextGrids have no place for it and come out the same.

    Raises
    ------
    OutputError
        If `format` is not one of ``rttm``, ``json``, ``csv``, ``audacity``,
        ``textgrid``.
    """
    fmt = output_format(format)
    if source is not None and fmt.render_marked is not None:
        return fmt.render_marked(diarization, provenance(source))
    return fmt.render(diarization)


# --------------------------------------------------------------------------- files

def atomic_write(path: str | os.PathLike, write: Callable[[IO], None], *,
                 binary: bool = False) -> None:
    """Create `path` atomically: `write` fills a temporary file in the same directory,
    which is then renamed over `path`.

    A reader never sees a half-written file, and a killed process leaves either the old
    file or none. An exception raised by `write` removes the temporary file and
    propagates (an ``OSError`` as :class:`~diarize.errors.OutputWriteError`, with its
    ``errno``). The temporary file's name stays within the file system's limit however
    long the target's is (:func:`diarize.names.temp_prefix`).

    Raises
    ------
    OutputWriteError
        If the directory does not exist or is not writable, or the device is full.
    """
    path = Path(path)
    try:
        replace_atomically(path, write, binary=binary)
    except OSError as exc:
        raise _write_error(path, exc) from None


def _write_error(path: Path, exc: OSError) -> OutputWriteError:
    return OutputWriteError(f"{printable(str(path))}: cannot write output "
                            f"({exc.strerror or exc})", errno=exc.errno)


def atomic_write_text(path: str | os.PathLike, text: str, *, ledger: bool = False) -> None:
    """Write `text` (UTF-8, ``\\n`` line ends) to `path` atomically (see :func:`atomic_write`).

    With `ledger`, the file's size and hash are first added to the :data:`OUTPUT_LEDGER`
    of its folder, so that a later run can tell it is ours (:func:`is_ours`). Before
    the rename: a run killed in between leaves an entry for a file that is not there,
    never a file of ours without its entry.
    """
    if ledger:
        _add_to_ledger(Path(path), text.encode("utf-8"))

    def write(f: IO) -> None:
        f.write(text)

    atomic_write(path, write)


# --------------------------------------------------------------------------- ownership

OUTPUT_LEDGER = ".diarize-outputs.tsv"
"""Hidden file in an output folder recording the outputs written there that have no
place for a :class:`Provenance` (CSV, Audacity labels, TextGrids): one ``sha256<TAB>size<TAB>name``
line each (the name JSON-quoted), appended before the output is renamed into place."""

OWNERSHIP_READ_LIMIT = 64 * 2**20
"""Largest file (bytes) :func:`is_ours` reads: an output of ours is far smaller (1 h of
speech gives about 60 KB of RTTM), and a larger file is not ours."""


def _ledger_name(path: Path) -> str:
    """The name of `path` as the ledger holds it: its bytes as UTF-8 (those that are not
    UTF-8 as surrogates, which JSON escapes), the same in every locale."""
    return json.dumps(os.fsencode(path.name).decode("utf-8", "surrogateescape"))


def _add_to_ledger(path: Path, data: bytes) -> None:
    line = (f"{hashlib.sha256(data).hexdigest()}\t{len(data)}\t"
            f"{_ledger_name(path)}\n").encode("utf-8")
    ledger = (path.parent if str(path.parent) else Path(".")) / OUTPUT_LEDGER
    try:
        # One write() of a short line with O_APPEND: lines of concurrent workers do not mix.
        fd = os.open(ledger, os.O_RDWR | os.O_APPEND | os.O_CREAT, FILE_MODE)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                # a line cut short (the disk filled): ours must not be glued onto it
                line = b"\n" + line
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(errno.ENOSPC, f"only {written} of {len(line)} bytes written")
        finally:
            os.close(fd)
    except OSError as exc:
        raise _write_error(ledger, exc) from None


def _in_ledger(path: Path, data: bytes) -> bool:
    ledger = (path.parent if str(path.parent) else Path(".")) / OUTPUT_LEDGER
    want = (hashlib.sha256(data).hexdigest(), str(len(data)), _ledger_name(path))
    return want in _ledger_entries(ledger)


#: The entries of each ledger read in this process, with how far it was read: a batch
#: asks about every output, and rereading a ledger that only grows would make a rerun of
#: N recordings cost N times the ledger (quadratic); only what was appended is read.
_ledgers: dict[str, tuple[tuple[int, int], int, set[tuple[str, ...]]]] = {}
_ledgers_lock = threading.Lock()


def _ledger_entries(ledger: Path) -> set[tuple[str, ...]]:
    """The (sha256, size, quoted name) lines of `ledger`; empty if it cannot be read."""
    key = os.path.abspath(ledger)
    with _ledgers_lock:
        try:
            with open(ledger, "rb") as f:
                st = os.fstat(f.fileno())
                ident = (st.st_dev, st.st_ino)
                held = _ledgers.get(key)
                if held is None or held[0] != ident or held[1] > st.st_size:
                    held = (ident, 0, set())  # another file, or one rewritten shorter
                _, done, entries = held
                f.seek(done)
                tail = f.read(st.st_size - done)
        except OSError:
            _ledgers.pop(key, None)
            return set()
        end = tail.rfind(b"\n") + 1  # whole lines only: a worker may be appending one
        for line in tail[:end].decode("utf-8", "replace").split("\n"):
            if line:
                entries.add(tuple(line.split("\t")))
        _ledgers[key] = (ident, done + end, entries)
        return entries


def is_ours(path: str | os.PathLike, *, fmt: str, uri: str) -> bool:
    """Whether `path` is a complete output of ours for recording `uri` in format `fmt`.

    RTTM: its first line is our ``SPKR-INFO`` record (:func:`rttm_provenance_line`) for
    `uri`, and it ends with a line break. JSON: it parses, names `uri`, and its
    ``generator`` is :data:`TOOL_NAME`. CSV, Audacity labels and TextGrids: the folder's
    :data:`OUTPUT_LEDGER` lists a file of that name, size and SHA-256. A file that
    cannot be read, or is larger than :data:`OWNERSHIP_READ_LIMIT`, is not ours.
    """
    path = Path(path)
    try:
        if os.stat(path).st_size > OWNERSHIP_READ_LIMIT:
            return False
        data = path.read_bytes()
    except OSError:
        return False
    if fmt == "rttm":
        first, _, _ = data.partition(b"\n")
        match = _RTTM_MARK.fullmatch(first.decode("utf-8", "replace") + "\n")
        return bool(match and match.group(1) == sanitize_field(uri) and data.endswith(b"\n"))
    if fmt == "json":
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):  # not ours
            return False
        return (isinstance(doc, dict) and doc.get("uri") == uri
                and isinstance(doc.get("generator"), dict)
                and doc["generator"].get("name") == TOOL_NAME)
    return _in_ledger(path, data)


def check_replaceable(path: str | os.PathLike, *, fmt: str, uri: str) -> bool:
    """Whether an output of ours for `uri` is already at `path`; False if there is none.

    Raises
    ------
    ForeignOutputError
        A file is there that we did not write (or is not complete): it is never replaced.
    """
    path = Path(path)
    if not os.path.lexists(path):
        return False
    if os.path.isdir(path) or not is_ours(path, fmt=fmt, uri=uri):
        raise ForeignOutputError(
            f"{printable(str(path))}: exists and was not written by diarize (or is "
            "incomplete); it is never replaced: write to another folder (-o DIR), or "
            "move it away")
    return True


def check_writable_dir(directory: str | os.PathLike) -> Path:
    """Make `directory` (and its parents) if missing and check that a file can be
    created in it, before any work; return it.

    Raises
    ------
    OutputError
        It is not a directory, cannot be made, or is not writable (read-only device, no
        permission, full).
    """
    return _check_dir(Path(directory) if str(directory) else Path("."), for_file=None)


def _check_dir(directory: Path, *, for_file: Path | None) -> Path:
    # The message names the file asked for when there is one (tune -o, plot -o).
    where = printable(str(directory if for_file is None else for_file))
    if directory.exists() and not directory.is_dir():
        raise OutputError(f"{where}: {printable(str(directory))} is not a directory"
                          if for_file is not None else f"{where}: is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{where}: cannot create output directory "
                          f"({exc.strerror or exc})") from None
    try:
        # named like an atomic write's temporary file, so that a batch rerun removes
        # the probe of a run killed right here (batch.remove_stale_temps)
        fd, probe = tempfile.mkstemp(prefix=".diarize-probe.tsv.", suffix=TEMP_SUFFIX,
                                     dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{where}: cannot write output files there "
                          f"({exc.strerror or exc})" if for_file is None else
                          f"{where}: cannot write it ({exc.strerror or exc})") from None
    return directory


def check_writable_file(path: str | os.PathLike) -> None:
    """Check before any work that `path` can be written: not a directory, in a folder
    that exists (or is made) and is writable (:func:`check_writable_dir`).

    Raises
    ------
    OutputError
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{printable(str(path))}: is a directory; name a file")
    _check_dir(path.parent if str(path.parent) else Path("."), for_file=path)


def _foreign_rttm(path: Path) -> bool:
    """Whether `path` exists and is not an RTTM of ours (for any recording). A device or
    a pipe is written to, not replaced, and an empty file holds nothing to lose (one
    ``tempfile.mkstemp`` made): neither is foreign."""
    if not os.path.lexists(path) or special_file(path):
        return False
    try:
        with open(path, "rb") as f:
            first = f.readline(OWNERSHIP_READ_LIMIT)
    except OSError:
        return not os.path.isdir(path)  # a folder fails the write itself, in its words
    if not first:
        return False
    return not _RTTM_MARK.fullmatch(first.decode("utf-8", "replace").rstrip("\r\n") + "\n")


def write_rttm(file: str | os.PathLike | TextIO, turns: Iterable[TurnLike],
               uri: str | None = None, *, replace_foreign: bool = False) -> None:
    """Write turns as RTTM to a path (atomically) or to an open text stream.

    `turns` may be a :class:`~diarize.segments.Diarization`, whose ``uri`` is then the
    default file id: ``write_rttm("out.rttm", result)``. A file starts with our
    provenance record (:func:`rttm_provenance_line`, input ``<NA>``), as every file
    ``diarize`` writes does; a stream gets the turns only.

    An existing file is replaced only if diarize wrote it (its first line is our
    provenance record), as on the command line: a reference RTTM beside the audio is
    kept, unless `replace_foreign` says to replace it all the same.

    Raises
    ------
    TypeError
        `turns` is a plain list of turns and no `uri` is given (a missing argument).
    ForeignOutputError
        `file` exists and diarize did not write it (and `replace_foreign` is false).
    OutputWriteError
        The file cannot be written.
    """
    if uri is None:
        uri = getattr(turns, "uri", None)
        if uri is None:
            raise TypeError("write_rttm: pass uri= when writing a plain list of turns")
    text = format_rttm(turns, uri)
    if hasattr(file, "write"):
        file.write(text)  # type: ignore[union-attr]
    else:
        if not replace_foreign and _foreign_rttm(Path(file)):  # type: ignore[arg-type]
            raise ForeignOutputError(
                f"{printable(str(file))}: exists and was not written by diarize; it is not "
                "replaced (write_rttm(..., replace_foreign=True) replaces it)")
        # A file we write says so (a later `diarize -o` may replace it); the input is
        # not known here.
        mark = Provenance(TOOL_NAME, __version__, "<NA>")
        atomic_write_text(file, rttm_provenance_line(uri, mark) + text)  # type: ignore[arg-type]
