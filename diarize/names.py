"""File-name rules: the file id (uri) of a recording, the name of its output file, the
text a file name becomes in messages and RTTM fields, and the temporary files of
atomic writes.

Every module that turns a path into a name, or a name into a path, asks this one, so
that ``diarize``, ``diarize batch``, ``diarize tune`` and the API agree on them. It
depends on nothing else in the package.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable

__all__ = ["printable", "sanitize_field", "uri_for", "clean_uri", "output_name",
           "temp_prefix", "TEMP_SUFFIX", "temp_pattern"]

_WS = re.compile(r"\s+")

TEMP_SUFFIX = ".tmp"
"""Suffix of the temporary file an atomic write renames over its target."""


def printable(text: str) -> str:
    """`text` as valid Unicode text: what a file name holds that is not UTF-8 is escaped.

    Python decodes the bytes of a file name that are not UTF-8 as lone surrogates
    (``b"bad\\xff"`` becomes ``"bad\\udcff"``), which no UTF-8 text can hold; they are
    written as ``\\xNN``, as Python shows them. Valid text is returned unchanged.

    Examples
    --------
    >>> import os
    >>> printable(os.fsdecode(b"bad\\xff.wav"))
    'bad\\\\xff.wav'
    >>> printable("caf\u00e9")
    'café'
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that did not come from a file name's bytes
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def sanitize_field(text: str) -> str:
    """Make `text` a valid RTTM field: whitespace runs become ``_``.

    Examples
    --------
    >>> sanitize_field(" two  words ")
    'two_words'
    """
    text = _WS.sub("_", text.strip())
    return text or "_"


def uri_for(path: str | os.PathLike) -> str:
    """RTTM file id of a recording: its file stem, with whitespace replaced by ``_`` and
    bytes that are not UTF-8 written as ``\\xNN`` (:func:`printable`).

    Examples
    --------
    >>> uri_for("calls/monday call.wav")
    'monday_call'
    """
    return _WS.sub("_", printable(Path(path).stem)) or "_"


def clean_uri(value: str) -> str | None:
    """A uri given by a user (a manifest's ``uri`` column), made a usable output name:
    whitespace runs become ``_``. None if it cannot name a file of the output folder
    (``.``, ``..``, a leading dot as temporary files have, a path separator, a NUL).

    Examples
    --------
    >>> clean_uri(" a b ")
    'a_b'
    >>> clean_uri("../x") is None
    True
    """
    uri = _WS.sub("_", value.strip())
    # The uri becomes a file name in the output folder: it must stay there and not look
    # like a temporary file.
    if uri in (".", "..") or uri.startswith(".") or any(c in uri for c in "/\\\0"):
        return None
    return uri


def output_name(uri: str, extension: str) -> str:
    """The output file name of recording `uri` in a format whose files end in `extension`
    (with its dot: ``.rttm``).

    Examples
    --------
    >>> output_name("meeting", ".rttm")
    'meeting.rttm'
    """
    return f"{uri}{extension}"


def temp_prefix(name: str) -> str:
    """Prefix of the temporary files an atomic write of file `name` creates: the files are
    ``.<name>.<random><TEMP_SUFFIX>`` (hidden, beside the target)."""
    return f".{name}."


def temp_pattern(extensions: Iterable[str]) -> re.Pattern[str]:
    """What the names of temporary files left by a killed atomic write of a file ending in
    one of `extensions` (without the dot) look like."""
    alternatives = "|".join(sorted(set(extensions)))
    return re.compile(r"^\..+\.(?:%s)\.[A-Za-z0-9_]+%s$" % (alternatives, re.escape(TEMP_SUFFIX)))
