"""Reading and writing RTTM (and UEM) files.

RTTM ``SPEAKER`` lines have ten space-separated fields::

    SPEAKER <uri> <channel> <onset> <duration> <NA> <NA> <speaker> <NA> <NA>
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Iterable, TextIO

from .errors import OutputError
from .segments import Turn

_WS = re.compile(r"\s+")


def sanitize_field(text: str) -> str:
    """Make `text` a valid RTTM field: whitespace runs become ``_``."""
    text = _WS.sub("_", text.strip())
    return text or "_"


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


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically: a temporary file in the same directory, then rename.

    A reader never sees a half-written file, and a killed process leaves either the old
    file or none.

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
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise OutputError(f"{path}: cannot write output ({exc.strerror or exc})") from None
        raise


def write_rttm(file: str | os.PathLike | TextIO, turns: Iterable[Turn], uri: str) -> None:
    """Write turns as RTTM to a path (atomically) or to an open text stream."""
    text = format_rttm(turns, uri)
    if hasattr(file, "write"):
        file.write(text)  # type: ignore[union-attr]
    else:
        atomic_write_text(file, text)  # type: ignore[arg-type]
