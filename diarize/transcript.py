"""Transcripts: read Whisper JSON, SRT and WebVTT; write them back with a speaker per cue.

The join itself is :meth:`diarize.segments.Diarization.assign`; this module turns files
into the words (or segments) it takes, and the words it returns into subtitles::

    transcript = read_transcript("talk.json")          # Whisper, with word timestamps
    assigned = diarization.assign(transcript.items)
    text = format_transcript(assigned, "srt", words=transcript.words)

Readers
    Whisper JSON (``{"segments": [{"start", "end", "text", "words": [{"word", "start",
    "end"}]}]}``, as openai-whisper, faster-whisper and whisperX write it; a plain list
    of segments or of words is read too), SubRip (SRT) and WebVTT. Word timestamps are
    used where a segment has them, the segment's own times where it has none.
Writers
    SRT and VTT, one cue per speaker run when the input was words (split by
    :class:`CueRules`), one cue per input cue otherwise; JSON, one object per word or
    segment: ``start``, ``end``, ``text``, ``speaker``, ``overlap``, ``method``.

Every problem with a file is a :class:`~diarize.errors.TranscriptError` whose message
starts with ``FILE:LINE:`` (SRT, VTT, JSON syntax) or ``FILE: segments[i].words[j]:``
(the structure of a JSON file, which has no useful line).
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from .errors import TranscriptError
from .names import TIME_DECIMALS
from .segments import AssignedWord
from .writers import TRANSCRIPT_FORMATS, TRANSCRIPT_SUFFIXES

__all__ = [
    "TRANSCRIPT_FORMATS", "SUFFIXES", "UNKNOWN_SPEAKER", "CueRules", "DEFAULT_CUE_RULES",
    "TranscriptItem", "Transcript", "Cue", "read_transcript", "parse_transcript",
    "detect_format", "parse_whisper_json", "parse_srt", "parse_vtt", "group_cues",
    "cues_for", "format_srt", "format_vtt", "format_words_json", "format_transcript",
]

SUFFIXES = TRANSCRIPT_SUFFIXES
"""File suffix -> transcript format, where the content does not say (see :func:`detect_format`)."""

UNKNOWN_SPEAKER = "UNKNOWN"
"""The label SRT and VTT show for a cue with no speaker (JSON writes ``null``)."""


@dataclass(frozen=True)
class CueRules:
    """How words of one speaker are grouped into subtitle cues.

    A cue is a run of consecutive words of one speaker; a new one starts when the
    speaker changes or when adding the next word would break one of these limits.
    The defaults follow common subtitle guidelines (BBC, Netflix): two lines of at most
    42 characters, on screen for at most 7 seconds.

    Attributes
    ----------
    max_duration : float
        Longest cue, seconds (unless a single word is longer).
    max_gap : float
        A pause longer than this (seconds) between two words starts a new cue, so that
        a subtitle does not stay on screen through a silence.
    max_chars : int
        Most characters in a cue's text (speaker label not counted).
    line_chars : int
        Cue text is wrapped into lines of at most this many characters.
    max_lines : int
        Most lines of a cue's wrapped text (words that fit `max_chars` may still wrap
        into more lines than ``max_chars / line_chars``).
    """

    max_duration: float = 7.0
    max_gap: float = 1.0
    max_chars: int = 84
    line_chars: int = 42
    max_lines: int = 2


DEFAULT_CUE_RULES = CueRules()


@dataclass(frozen=True)
class TranscriptItem:
    """One word or segment of a transcript: times in seconds and its text."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    """A transcript read from a file.

    Attributes
    ----------
    items : tuple of TranscriptItem
        Words or segments in file order; pass them to :meth:`Diarization.assign`.
    words : bool
        True when (some) items are words, to be grouped back into cues for SRT/VTT;
        False when every item is a segment or a cue, written back one cue each.
    format : str
        The format read, one of :data:`TRANSCRIPT_FORMATS`.
    source : str
        The file name (or ``<string>``), for messages.
    """

    items: tuple[TranscriptItem, ...]
    words: bool
    format: str
    source: str = "<string>"


@dataclass(frozen=True)
class Cue:
    """One subtitle cue to write: times, text (lines joined by ``\\n``) and speaker."""

    start: float
    end: float
    text: str
    speaker: str | None


# --------------------------------------------------------------------------- reading

def read_transcript(path: str | os.PathLike, *, format: str | None = None) -> Transcript:
    """Read a Whisper JSON, SRT or WebVTT transcript.

    Parameters
    ----------
    path : str or path-like
    format : {"json", "srt", "vtt"} or None, keyword-only
        None: from the content (``WEBVTT``, a JSON bracket), else from the suffix
        (:data:`SUFFIXES`), else SRT if the file has a ``-->`` timing line.

    Returns
    -------
    Transcript

    Raises
    ------
    TranscriptError
        The file cannot be read, is not UTF-8, is of no format above, or is malformed;
        the message names the file and the line.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TranscriptError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = len(_LINE_END_BYTES.findall(data[:exc.start])) + 1
        raise TranscriptError(f"{path}:{line}: not valid UTF-8 (save the transcript as UTF-8)") from None
    return parse_transcript(text, format=format, source=str(path))


def parse_transcript(text: str, *, format: str | None = None,
                     source: str = "<string>") -> Transcript:
    """Parse transcript `text` (see :func:`read_transcript`); `source` names it in errors."""
    fmt = format if format is not None else detect_format(text, source=source)
    parsers = {"json": parse_whisper_json, "srt": parse_srt, "vtt": parse_vtt}
    if fmt not in parsers:
        raise TranscriptError(f"{source}: unknown transcript format {fmt!r} "
                              f"(one of {', '.join(TRANSCRIPT_FORMATS)})")
    return parsers[fmt](text, source=source)


def detect_format(text: str, *, source: str = "<string>") -> str:
    """The format of transcript `text`: from its content, else from the suffix of `source`.

    Raises
    ------
    TranscriptError
        Nothing tells (no ``WEBVTT`` line, no JSON, no known suffix, no ``-->``).
    """
    head = text.lstrip("\ufeff \t\r\n")
    if re.match(r"WEBVTT(?:[ \t\r\n]|$)", head):
        return "vtt"
    if head[:1] in ("{", "["):
        return "json"
    suffix = Path(source).suffix.lower()
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    if "-->" in text:
        return "srt"
    raise TranscriptError(f"{source}: not a transcript this reads "
                          "(Whisper JSON, SRT or WebVTT, by content or by suffix)")


# The line ends of every platform; str.splitlines would also split on U+2028 and friends,
# which may sit inside a cue's text.
_LINE_END = re.compile(r"\r\n|\r|\n")
_LINE_END_BYTES = re.compile(rb"\r\n|\r|\n")
# A line meant as a cue timing: two timestamps with an arrow-like sign between them
# (``-->`` misspelt as ``->`` or ``=>`` is a malformed timing, not subtitle text).
_TIMING_LIKE = re.compile(r"\s*(?:\d+:)?\d{1,2}:\d{1,2}(?:[,.]\d+)?\s*[-=\u2013\u2014]*>"
                          r"\s*(?:\d+:)?\d{1,2}:\d{1,2}")
_TIMESTAMP = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[,.](\d{1,3}))?")
_TIMING = re.compile(r"(\S+)[ \t]*-->[ \t]*(\S+)(?:[ \t].*)?")
_TAG = re.compile(r"<[^>]*>")


def _timestamp(text: str, where: str) -> float:
    """Seconds of an SRT or VTT timestamp: ``[hh:]mm:ss[,.]ttt`` (hours optional)."""
    m = _TIMESTAMP.fullmatch(text)
    if not m:
        raise TranscriptError(f"{where}: not a timestamp: {text!r} (expected hh:mm:ss,mmm)")
    hours, minutes, seconds, fraction = m.groups()
    if int(minutes) >= 60 or int(seconds) >= 60:
        raise TranscriptError(f"{where}: minutes or seconds over 59 in {text!r}")
    return (int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)
            + (float(f"0.{fraction}") if fraction else 0.0))


def _is_timing(line: str) -> bool:
    """Whether `line` is a cue timing, well formed (``-->``) or not."""
    return "-->" in line or _TIMING_LIKE.match(line) is not None


def _timing(line: str, where: str) -> tuple[float, float]:
    """``(start, end)`` of a cue timing line; cue settings after the end are ignored."""
    m = _TIMING.fullmatch(line.strip())
    if not m:
        raise TranscriptError(f"{where}: malformed cue timing {line.strip()!r}")
    start, end = _timestamp(m.group(1), where), _timestamp(m.group(2), where)
    if end < start:
        raise TranscriptError(f"{where}: cue ends ({m.group(2)}) before it starts ({m.group(1)})")
    return start, end


def parse_srt(text: str, *, source: str = "<string>") -> Transcript:
    """Parse SubRip text: numbered cues of a timing line and text lines.

    Tolerant of a byte-order mark, CRLF or CR line ends, missing or extra blank lines,
    missing cue numbers, cue coordinates after the timing, ``.`` for ``,`` and timings
    without hours. Cues without text are dropped.

    Raises
    ------
    TranscriptError
        ``FILE:LINE: problem`` for text before the first cue, a malformed timing, a cue
        ending before it starts; ``FILE: no cues`` for a file with none.
    """
    lines = _LINE_END.split(text.lstrip("\ufeff"))
    cues: list[tuple[float, float, list[str]]] = []
    current: tuple[float, float, list[str]] | None = None
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        where = f"{source}:{number}"
        if _is_timing(stripped):
            current = (*_timing(stripped, where), [])
            cues.append(current)
            continue
        if not stripped:
            continue
        if stripped.isdigit() and _cue_number(lines, number - 1):
            continue
        if current is None:
            raise TranscriptError(f"{where}: expected a cue number or timing, found {stripped!r}")
        current[2].append(stripped)
    if not cues:
        raise TranscriptError(f"{source}: no cues (not a SubRip file?)")
    items = tuple(TranscriptItem(a, b, "\n".join(t)) for a, b, t in cues if t)
    return Transcript(items, words=False, format="srt", source=source)


def _cue_number(lines: Sequence[str], i: int) -> bool:
    """Whether the digits on line `i` (0-based) are a cue number: the timing follows at
    once, or after blank lines when the number itself follows a blank line (a number
    at the end of a cue's text is followed by the blank line that ends the cue)."""
    following = lines[i + 1].strip() if i + 1 < len(lines) else ""
    if _is_timing(following):
        return True
    if i > 0 and lines[i - 1].strip():
        return False
    j = i + 1
    while j < len(lines) and not lines[j].strip():
        j += 1
    return j > i + 1 and j < len(lines) and _is_timing(lines[j].strip())


def parse_vtt(text: str, *, source: str = "<string>") -> Transcript:
    """Parse WebVTT text: a ``WEBVTT`` line, then cues of an optional identifier, a
    timing line and text lines, separated by blank lines.

    Tolerant of a byte-order mark, CRLF or CR line ends, timestamps without hours (as
    Whisper writes them), cue settings, ``NOTE``, ``STYLE`` and ``REGION`` blocks. Cue
    text loses its markup (``<v Name>``, ``<i>``, inline timestamps) and entities are
    decoded. Cues without text are dropped.

    Raises
    ------
    TranscriptError
        ``FILE:LINE: problem`` for a missing ``WEBVTT`` line, a block that is not a cue,
        a malformed timing.
    """
    lines = _LINE_END.split(text.lstrip("\ufeff"))
    if not re.fullmatch(r"WEBVTT(?:[ \t].*)?", lines[0]):
        raise TranscriptError(f"{source}:1: not a WebVTT file (the first line must be WEBVTT)")
    items = []
    i = 1
    # the header, up to the first blank line (or the first cue's timing, its blank line
    # missing)
    while i < len(lines) and lines[i].strip() and not _is_timing(lines[i]):
        i += 1
    while i < len(lines):
        line = lines[i].strip()
        if not line:
            i += 1
            continue
        block_start = i
        if re.match(r"(NOTE|STYLE|REGION)(?:[ \t]|$)", line) and "-->" not in line:
            while i < len(lines) and lines[i].strip():
                i += 1
            continue
        if not _is_timing(line):  # a cue identifier: the timing must follow
            i += 1
            if i >= len(lines) or not _is_timing(lines[i]):
                raise TranscriptError(
                    f"{source}:{block_start + 1}: expected a cue timing after {line!r}")
        start, end = _timing(lines[i], f"{source}:{i + 1}")
        i += 1
        body = []
        # to the blank line, or to the next cue's timing where that line is missing (no
        # cue text holds "-->", WebVTT's own parsing rule)
        while i < len(lines) and lines[i].strip() and not _is_timing(lines[i]):
            body.append(html.unescape(_TAG.sub("", lines[i])).strip())
            i += 1
        cue_text = "\n".join(b for b in body if b)
        if cue_text:
            items.append(TranscriptItem(start, end, cue_text))
    return Transcript(tuple(items), words=False, format="vtt", source=source)


def parse_whisper_json(text: str, *, source: str = "<string>") -> Transcript:
    """Parse a Whisper transcript in JSON.

    Reads ``{"segments": [...]}`` (openai-whisper, faster-whisper, whisperX) or a plain
    list of segments or words. A segment is ``start``, ``end``, ``text`` and maybe
    ``words``, each ``start``, ``end`` and ``word`` (or ``text``). A segment's words are
    used when it has any; otherwise the segment itself is one item. A word without
    times (whisperX leaves numbers unaligned) joins the timed word before it (or after
    it, at the start of a segment).

    Raises
    ------
    TranscriptError
        ``FILE:LINE: not valid JSON``, or ``FILE: segments[i].words[j]: problem`` for a
        missing or non-numeric time, a word ending before it starts, and so on.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        line = len(_LINE_END.findall(text, 0, exc.pos)) + 1  # CR line ends count too
        raise TranscriptError(f"{source}:{line}: not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise TranscriptError(f"{source}: not a transcript (JSON nested too deeply)") from None
    if isinstance(data, dict):
        if not isinstance(data.get("segments"), list):
            raise TranscriptError(f"{source}: a JSON object without a 'segments' list "
                                  "is not a Whisper transcript")
        segments, prefix = data["segments"], "segments"
    elif isinstance(data, list):
        segments, prefix = data, ""
        if segments and all(isinstance(w, dict) and "word" in w and "text" not in w
                            for w in segments):
            # a plain list of words (whisperX's word_segments): untimed ones join a
            # neighbour, as in a segment's words
            timed = _timed_words(segments, f"{source}: ")
            if not timed:
                raise TranscriptError(f"{source}: no word has times")
            return Transcript(tuple(timed), words=True, format="json", source=source)
    else:
        raise TranscriptError(f"{source}: expected a Whisper transcript (an object with "
                              "'segments', or a list of segments)")
    items: list[TranscriptItem] = []
    any_words = False
    for i, segment in enumerate(segments):
        where = f"{source}: {prefix}[{i}]"
        if not isinstance(segment, dict):
            raise TranscriptError(f"{where}: expected an object with start, end and text")
        words = segment.get("words")
        if words is not None and not isinstance(words, list):
            raise TranscriptError(f"{where}.words: expected a list of words")
        timed = _timed_words(words or [], f"{where}.words")
        if timed:
            items.extend(timed)
            any_words = True
            continue
        if "text" not in segment and "word" in segment:
            any_words = True  # a plain list of words
        item = _json_item(segment, where, require_times=True)
        assert item is not None
        items.append(item)
    if not items:
        raise TranscriptError(f"{source}: no segments")
    return Transcript(tuple(items), words=any_words, format="json", source=source)


def _timed_words(words: list, where: str) -> list[TranscriptItem]:
    """The words of one segment; words without times join a neighbour's text."""
    out: list[TranscriptItem] = []
    pending = ""  # untimed text before the segment's first timed word
    for j, word in enumerate(words):
        if not isinstance(word, dict):
            raise TranscriptError(f"{where}[{j}]: expected an object with word, start and end")
        item = _json_item(word, f"{where}[{j}]", require_times=False)
        if item is None:
            text = str(word.get("word", word.get("text", "")))
            if out:
                last = out[-1]
                out[-1] = TranscriptItem(last.start, last.end, _glue(last.text, text))
            else:
                pending = _glue(pending, text) if pending else text
            continue
        if pending:
            item = TranscriptItem(item.start, item.end, _glue(pending, item.text))
            pending = ""
        out.append(item)
    return out


def _json_item(obj: dict, where: str, *, require_times: bool) -> TranscriptItem | None:
    """One word or segment object; None for a word with neither time (when allowed)."""
    if "text" in obj:
        text = obj["text"]
    elif "word" in obj:
        text = obj["word"]
    else:
        raise TranscriptError(f"{where}: no 'text' (or 'word')")
    if not isinstance(text, str):
        raise TranscriptError(f"{where}: text is not a string: {text!r}")
    if not require_times and obj.get("start") is None and obj.get("end") is None:
        return None
    times = []
    for key in ("start", "end"):
        value = obj.get(key)
        if value is None:
            raise TranscriptError(f"{where}: no '{key}' time")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise TranscriptError(f"{where}: '{key}' is not a number of seconds: {value!r}")
        if value < 0:
            raise TranscriptError(f"{where}: '{key}' is negative: {value!r}")
        times.append(float(value))
    if times[1] < times[0]:
        raise TranscriptError(f"{where}: ends ({times[1]}) before it starts ({times[0]})")
    return TranscriptItem(times[0], times[1], text)


# --------------------------------------------------------------------------- cues

def _glue(a: str, b: str) -> str:
    """Text `b` after text `a`: as they are where either has the space between them
    (Whisper's words carry a leading space), else with one space (whisperX's words
    have none)."""
    if not a or not b or a[-1:].isspace() or b[:1].isspace():
        return a + b
    return f"{a} {b}"


def _join(texts: Sequence[str]) -> str:
    """Words as one text: each glued to the text before it (:func:`_glue`)."""
    out = ""
    for t in texts:
        if t.strip():
            out = _glue(out, t)
    return out.strip()


def group_cues(words: Sequence[AssignedWord], *,
               rules: CueRules = DEFAULT_CUE_RULES) -> list[Cue]:
    """Group assigned words into cues: one per run of a speaker, split by `rules`.

    Parameters
    ----------
    words : sequence of AssignedWord
        In any order; they are taken by start time.
    rules : CueRules, keyword-only

    Returns
    -------
    list of Cue
        In time order; text wrapped into lines of ``rules.line_chars``.
    """
    ordered = sorted(words, key=lambda w: (w.start, w.end))
    cues: list[Cue] = []
    run: list[AssignedWord] = []

    def wrapped(texts: list[str]) -> list[str]:
        return textwrap.wrap(_join(texts), rules.line_chars, break_long_words=False,
                             break_on_hyphens=False)

    def flush() -> None:
        if run:
            text = "\n".join(wrapped([w.text for w in run]))
            cues.append(Cue(run[0].start, max(w.end for w in run), text, run[0].speaker))
            run.clear()

    for word in ordered:
        if run and (word.speaker != run[0].speaker
                    or word.start - max(w.end for w in run) > rules.max_gap
                    or word.end - run[0].start > rules.max_duration
                    or len(_join([w.text for w in run] + [word.text])) > rules.max_chars
                    or len(wrapped([w.text for w in run] + [word.text])) > rules.max_lines):
            flush()
        run.append(word)
    flush()
    return cues


def cues_for(assigned: Sequence[AssignedWord], *, words: bool,
             rules: CueRules = DEFAULT_CUE_RULES) -> list[Cue]:
    """The cues to write: grouped from words (`words` True, see :func:`group_cues`), or
    one per segment or cue of the input, in time order."""
    if words:
        return group_cues(assigned, rules=rules)
    ordered = sorted(assigned, key=lambda w: (w.start, w.end))
    return [Cue(w.start, w.end, w.text.strip(), w.speaker) for w in ordered]


# --------------------------------------------------------------------------- writing

def _clock(seconds: float, decimal: str) -> str:
    """``hh:mm:ss,mmm`` (SRT) or ``hh:mm:ss.mmm`` (VTT), rounded to the millisecond."""
    ms = max(0, round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{ms:03d}"


def _cue_text(text: str) -> str:
    """Text safe inside a cue: no blank line (it would end the cue), no timing arrow."""
    lines = [line.strip() for line in _LINE_END.split(text)]
    return "\n".join(line for line in lines if line).replace("-->", "->")


def _label(speaker: str | None) -> str:
    return " ".join((speaker if speaker is not None else UNKNOWN_SPEAKER).split())


def format_srt(cues: Iterable[Cue]) -> str:
    """Cues as SubRip text; the speaker leads the text as ``[SPEAKER_00] text``.

    SubRip has no speaker field, so the label is part of the text that every player
    shows.
    """
    blocks = []
    for number, cue in enumerate(cues, start=1):
        text = f"[{_label(cue.speaker)}] {_cue_text(cue.text)}".rstrip()
        blocks.append(f"{number}\n{_clock(cue.start, ',')} --> {_clock(cue.end, ',')}\n{text}\n")
    return "\n".join(blocks)


def format_vtt(cues: Iterable[Cue]) -> str:
    """Cues as WebVTT text: ``<v SPEAKER_00>[SPEAKER_00] text``.

    The voice span is WebVTT's own speaker markup (tools and styles read it) but
    browsers and most players do not display its name, so the name is also written as
    a visible ``[SPEAKER_00]`` prefix, as in SRT. Text is escaped (``&``, ``<``, ``>``).
    """
    out = ["WEBVTT\n"]
    for cue in cues:
        name = _label(cue.speaker)
        text = html.escape(_cue_text(cue.text), quote=False)
        voice = html.escape(name, quote=False)
        out.append(f"{_clock(cue.start, '.')} --> {_clock(cue.end, '.')}\n"
                   f"<v {voice}>[{voice}] {text}".rstrip() + "\n")
    return "\n".join(out)


def format_words_json(assigned: Iterable[AssignedWord]) -> str:
    """Assigned words or segments as a JSON list, in the order given.

    Each object has ``start`` and ``end`` (seconds, rounded to the millisecond),
    ``text`` (stripped), ``speaker`` (``null`` for none), ``overlap`` (a second speaker
    covers a good part of it) and ``method`` (``overlap``, ``nearest`` or ``none``; see
    :meth:`Diarization.assign`).
    """
    rows = [{"start": round(w.start, TIME_DECIMALS), "end": round(w.end, TIME_DECIMALS),
             "text": w.text.strip(), "speaker": w.speaker, "overlap": w.overlap,
             "method": w.method} for w in assigned]
    # One object a line: a long transcript stays readable and diffs line by line.
    if not rows:
        return "[]\n"
    return "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n]\n"


def format_transcript(assigned: Sequence[AssignedWord], format: str, *, words: bool,
                      rules: CueRules = DEFAULT_CUE_RULES) -> str:
    """Assigned words or segments in transcript `format` (one of :data:`TRANSCRIPT_FORMATS`).

    Raises
    ------
    TranscriptError
        If `format` is not one of them.
    """
    if format == "json":
        return format_words_json(assigned)
    if format == "srt":
        return format_srt(cues_for(assigned, words=words, rules=rules))
    if format == "vtt":
        return format_vtt(cues_for(assigned, words=words, rules=rules))
    raise TranscriptError(f"unknown transcript format {format!r} "
                          f"(one of {', '.join(TRANSCRIPT_FORMATS)})")
