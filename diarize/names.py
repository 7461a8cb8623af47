"""File-name rules: the file id (uri) of a recording, the name of its output file, the
text a file name becomes in messages and RTTM fields, and the temporary files of
atomic writes (:func:`replace_atomically`, which every file the package writes goes
through); and the conventions every output shares: the labels of unnamed speakers
(:data:`LABEL_FORMAT`) and the decimals of times (:data:`TIME_DECIMALS`).

Every module that turns a path into a name, or a name into a path, asks this one, so
that ``diarize``, ``diarize batch``, ``diarize tune`` and the API agree on them. It
depends on nothing else in the package.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import IO, Callable, Iterable

__all__ = ["printable", "message_line", "sanitize_field", "uri_for", "clean_uri", "output_name",
           "name_text", "typed_text", "os_name", "text_path", "temp_prefix", "TEMP_SUFFIX",
           "temp_pattern", "LABEL_FORMAT", "OUTPUT_LABEL", "TIME_DECIMALS"]

_WS = re.compile(r"\s+")
_LABEL_PREFIX = "SPEAKER_"
#: The label of unnamed output speaker k (``SPEAKER_00``, ...; in one recording and over
#: a linked batch): ``LABEL_FORMAT.format(k)``.
LABEL_FORMAT = _LABEL_PREFIX + "{:02d}"
#: The labels of unnamed output speakers (:data:`LABEL_FORMAT`): no enrolled name may
#: look like one.
OUTPUT_LABEL = re.compile(re.escape(_LABEL_PREFIX) + r"\d+")

TIME_DECIMALS = 3
"""Times (seconds) in every output format are rounded to milliseconds, as in RTTM (the
other numbers of the JSON outputs, BIC values and voice scores, to as many decimals)."""

TEMP_SUFFIX = ".tmp"
"""Suffix of the temporary file an atomic write renames over its target."""

TEMP_PREFIX_MAX_BYTES = 160
"""Longest prefix (UTF-8 bytes) of a temporary file's name. File systems allow 255 bytes
per name, and the temporary file adds :data:`TEMP_SUFFIX` and 8 random characters to the
prefix: a longer target name is shortened (its head, a hash, its extension), so that a
target whose own name fits always gets a temporary file whose name fits too."""

_TEMP_HASH_CHARS = 12


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


def name_text(name: str) -> str:
    """The text of a name the system gave (a file name): its bytes read as UTF-8, whatever
    the locale, with the bytes that are not UTF-8 written as ``\\xNN`` (:func:`printable`).

    Python decodes file names with the locale's encoding, so ``é.wav`` (UTF-8 bytes)
    reads as ``Ã©.wav`` in a Latin-1 locale and with lone surrogates in an ASCII one;
    going back to the bytes makes file ids and output names the same in every locale.
    In a UTF-8 locale this is :func:`printable`.

    Examples
    --------
    >>> import os
    >>> name_text(os.fsdecode("caf\u00e9".encode("utf-8")))
    'café'
    """
    try:
        raw = os.fsencode(name)
    except UnicodeError:  # a lone surrogate that did not come from the system's bytes
        return printable(name)
    return printable(raw.decode("utf-8", "surrogateescape"))


def typed_text(value: str) -> str:
    """The text of a command-line argument that names something (a voiceprint NAME, a
    ``--uri``): its bytes read as UTF-8 where they are UTF-8, whatever the locale; else
    the text as the locale read it (a Latin-1 terminal's ``é`` stays ``é``).

    Examples
    --------
    >>> typed_text("Dr. Ito")
    'Dr. Ito'
    """
    try:
        return os.fsencode(value).decode("utf-8")
    except UnicodeError:
        return value


def os_name(text: str) -> str | None:
    """What the system's file functions take for the file name whose bytes are `text` in
    UTF-8 (the names this package writes are UTF-8 in every locale). The surrogates
    U+DC80-U+DCFF stand for the bytes of a name that are not UTF-8 (Python's
    ``surrogateescape``, which ``json.dumps`` of such a name writes as ``\\udcff``);
    None if `text` holds another lone surrogate. In a UTF-8 locale: `text`.

    Examples
    --------
    >>> os_name("meeting.rttm")
    'meeting.rttm'
    >>> os_name(chr(0xD800)) is None
    True
    """
    try:
        return os.fsdecode(text.encode("utf-8", "surrogateescape"))
    except UnicodeError:
        return None


def text_path(text: str) -> str:
    """A path given as text (a configuration's model path, a TOML value): the file whose
    name's bytes are `text` in UTF-8 when there is one (:func:`os_name`), else `text` as
    the system reads it (a path a program got from the system). In a UTF-8 locale: `text`.
    """
    named = os_name(text)
    return named if named is not None and os.path.lexists(named) else text


def message_line(text: str) -> str:
    """`text` as one line of a message on the terminal or in a log: :func:`printable`
    (a file name's bytes that are not UTF-8 as ``\\xNN``, as in output names), with each
    run of whitespace, newlines included, made one space.

    The command line's errors and warnings and a batch's progress lines go through this
    one function, so that a file name reads the same in each of them.

    Examples
    --------
    >>> import os
    >>> message_line(os.fsdecode(b"bad\\xff.wav") + ": no such\\nfile")
    'bad\\\\xff.wav: no such file'
    """
    return " ".join(printable(text).split())


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
    """RTTM file id of a recording: its file stem read as UTF-8 in every locale, with
    whitespace replaced by ``_`` and bytes that are not UTF-8 written as ``\\xNN``
    (:func:`name_text`).

    Examples
    --------
    >>> uri_for("calls/monday call.wav")
    'monday_call'
    """
    return _WS.sub("_", name_text(Path(path).stem)) or "_"


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
    try:  # a lone surrogate (JSON's \ud800): RTTM text and the file name are UTF-8
        uri.encode("utf-8")
    except UnicodeError:
        return None
    return uri


def output_name(uri: str, extension: str) -> str:
    """The output file name of recording `uri` in a format whose files end in `extension`
    (with its dot: ``.rttm``), as the system's file functions take it: its bytes are the
    name's UTF-8 in every locale (:func:`os_name`).

    Examples
    --------
    >>> output_name("meeting", ".rttm")
    'meeting.rttm'
    """
    name = f"{uri}{extension}"
    return os_name(name) or name


def temp_prefix(name: str) -> str:
    """Prefix of the temporary files an atomic write of file `name` creates: the files are
    ``.<name>.<random><TEMP_SUFFIX>`` (hidden, beside the target).

    A name too long for that (see :data:`TEMP_PREFIX_MAX_BYTES`) is shortened to its
    head, ``~``, a hash of the whole name and its extension, which keeps temporary files
    of different targets apart and recognisable by :func:`temp_pattern`.

    Examples
    --------
    >>> temp_prefix("a.rttm")
    '.a.rttm.'
    >>> p = temp_prefix("x" * 240 + ".rttm")
    >>> len(p.encode()) <= TEMP_PREFIX_MAX_BYTES, p.endswith(".rttm.")
    (True, True)
    """
    prefix = f".{name}."
    if len(os.fsencode(prefix)) <= TEMP_PREFIX_MAX_BYTES:
        return prefix
    stem, ext = os.path.splitext(name)
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:_TEMP_HASH_CHARS]
    room = TEMP_PREFIX_MAX_BYTES - len(os.fsencode(f".~{digest}{ext}."))
    head = os.fsencode(stem)[:max(room, 0)]
    # Cut on a character boundary: a name that is UTF-8 must stay UTF-8.
    if _is_utf8(os.fsencode(stem)):
        head = head.decode("utf-8", "ignore").encode("utf-8")
    text = os.fsdecode(head)
    return f".{text}~{digest}{ext}."


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def temp_pattern(extensions: Iterable[str]) -> re.Pattern[str]:
    """What the names of temporary files left by a killed atomic write of a file ending in
    one of `extensions` (without the dot) look like."""
    alternatives = "|".join(sorted(set(extensions)))
    return re.compile(r"^\..+\.(?:%s)\.[A-Za-z0-9_]+%s$" % (alternatives, re.escape(TEMP_SUFFIX)))


def _file_mode() -> int:
    # The umask can only be read by setting it; done once, at import, because changing
    # it while other threads create files would give those files the wrong mode.
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _file_mode()
"""Permissions of written files: what ``open()`` gives a new file (0o666 minus umask)."""


def special_file(path: Path) -> bool:
    """Whether `path` exists and is neither a regular file nor a directory (a device, a
    named pipe, a socket)."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def file_key(path: str | os.PathLike) -> tuple[int, int] | str:
    """What identifies the file `path` names: its device and inode (through links), or,
    for a path that does not exist, its absolute path."""
    try:
        st = os.stat(path)
        return (st.st_dev, st.st_ino)
    except OSError:
        return os.path.normcase(os.path.abspath(path))


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether `a` and `b` name one file (:func:`file_key`)."""
    return file_key(a) == file_key(b)


def replace_atomically(path: str | os.PathLike, write: Callable[[IO], None], *,
                       binary: bool = False, mode: int = FILE_MODE) -> None:
    """Create `path` atomically: `write` fills a temporary file in the same directory,
    which is synced, given `mode` and renamed over `path`.

    A reader never sees a half-written file, and a killed process leaves either the old
    file or none. The temporary file's name stays within the file system's limit however
    long the target's is (:func:`diarize.names.temp_prefix`). A symbolic link is written
    through (the file it points to is replaced, the link kept), and a target that exists
    but is not a regular file (``/dev/null``, ``/dev/stdout``, a named pipe) is written
    into directly: renaming over it would replace the device or pipe with a file.

    Raises
    ------
    OSError
        The temporary file cannot be made, written or renamed (it is removed first);
        any other exception raised by `write` also removes it and propagates. Callers
        turn the ``OSError`` into their own error.
    """
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    if special_file(path):
        with open(path, "wb") if binary else open(path, "w", encoding="utf-8",
                                                       newline="\n") as f:
            write(f)
        return
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=TEMP_SUFFIX,
                               dir=directory)
    try:
        with (os.fdopen(fd, "wb") if binary
              else os.fdopen(fd, "w", encoding="utf-8", newline="\n")) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0o600)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
