"""Exception and warning classes of gmm-diarize.

Every error a user can cause is one of these. They keep their type on the way out: only
the command line (``diarize.cli``, in one table) turns them into one-line messages and
exit statuses (1 for a failed input or output, 2 for a usage or configuration error).
"""

import contextlib
import threading
import warnings
from typing import Iterator


class DiarizeError(Exception):
    """Base class of every error raised on purpose by gmm-diarize."""


class AudioError(DiarizeError):
    """An input file cannot be read as audio (missing, empty, corrupt, not audio)."""


class ConfigError(DiarizeError, ValueError):
    """A configuration file or option is invalid (unknown key, wrong type, bad value)."""


class ScoringError(ConfigError):
    """The scoring was given an invalid argument (a negative or NaN collar), or turns or
    regions it cannot score (times that are not finite or further than
    :data:`diarize.rttm.MAX_TIME` from 0).

    A :class:`ConfigError`, and so a ``ValueError``, as the scoring options of
    ``diarize tune`` are."""


class RTTMError(DiarizeError, ValueError):
    """An RTTM or UEM file is malformed; the message names the file and line."""


class NotFittedError(DiarizeError, AttributeError):
    """A model was used before `fit` was called."""


class OutputError(DiarizeError):
    """An output file cannot be written (directory missing or not writable)."""


class OutputWriteError(OutputError):
    """Writing an output file failed; :attr:`errno` says why (``ENOSPC``: the device is
    full, ``EROFS``: it is read-only), so that a batch can stop at a full device."""

    def __init__(self, message: str, *, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno

    def __reduce__(self):  # keep errno through pickling (from a worker process)
        return (_output_write_error, (str(self), self.errno))


def _output_write_error(message: str, errno: int | None) -> "OutputWriteError":
    return OutputWriteError(message, errno=errno)


class ForeignOutputError(OutputError):
    """An output file exists that diarize did not write (a reference RTTM, say): it is
    never replaced, not even with ``--overwrite``."""


class FitError(DiarizeError, ValueError):
    """A mixture model cannot be fitted to (or evaluated on) the data given.

    NaN or infinite values, non-numeric input, fewer frames than components, a
    feature count that does not match the model, a covariance that is singular or
    ill-defined. A recording too short or too degenerate to model fails with this.
    """


class ParameterError(DiarizeError, ValueError):
    """A mixture estimator (or a :class:`~diarize.segments.Diarization` helper) was given
    an invalid argument.

    For instance ``n_components=0``, a negative ``relevance_factor`` or a
    ``means_init`` of the wrong shape: a programming error in the caller, not a
    problem of the data.
    """


class ModelError(DiarizeError, ValueError):
    """A saved mixture model cannot be read: missing, truncated, not an ``.npz``
    archive, another kind of model or another format version."""


class BatchInputError(DiarizeError, ValueError):
    """The batch inputs are unusable: no such input, bad manifest, duplicate uris, ...

    Raised before any recording is diarized (the command line exits with status 2).
    """


class TranscriptError(DiarizeError, ValueError):
    """A transcript (Whisper JSON, SRT, WebVTT) or a list of words is malformed; the
    message names the file and the line (or the JSON path, or the word's index)."""


class MissingDependencyError(DiarizeError, ImportError):
    """An optional dependency needed for the requested feature is not installed."""


class StdoutError(DiarizeError):
    """Standard output cannot be written (a full device, a closed pipe)."""

    @classmethod
    def from_os_error(cls, exc: OSError) -> "StdoutError":
        return cls(f"cannot write to standard output ({exc.strerror or exc})")


class WorkerStartError(DiarizeError):
    """Worker processes (``--jobs`` > 1) cannot be started: a temporary folder whose path
    is too long for their socket, or none writable, or too many open files. The message
    says what to change."""


class ConvergenceWarning(UserWarning):
    """The best of the ``n_init`` EM runs stopped at ``max_iter`` before converging."""


class DeprecatedKeyWarning(FutureWarning):
    """A configuration key that was renamed (the old name still works) or removed (it is
    ignored); the message names the new key. A FutureWarning, so that users see it by
    default (a DeprecationWarning is hidden outside ``__main__``)."""


class ScoringWarning(UserWarning):
    """Something was left out of the scores: a hypothesis file with no reference, etc."""


class AudioWarning(UserWarning):
    """An input was read, but not all of it: a file with several audio tracks is
    diarized from its first track only."""


class NoSpeechWarning(UserWarning):
    """The speech detector found no speech in a recording: its result has no turns."""


class SpeakerCountWarning(UserWarning):
    """A speaker count was asked (``num_speakers``, ``min_speakers``) and the result has
    fewer: the recording has too little speech for it (``cluster.speech_per_speaker``
    seconds per speaker). The message says how much speech there is."""


class ManifestWarning(UserWarning):
    """A batch manifest has columns (CSV) or fields (JSON Lines) that are not read: a
    misspelt ``num_speaker`` would otherwise be dropped without a word."""


class VoiceError(DiarizeError, ValueError):
    """Voiceprints cannot be used or made: a voiceprint folder that does not exist or
    holds none, a voiceprint file that is corrupt or not one, or one made with another
    front end or UBM (:mod:`diarize.voices`). Refused before any work (exit status 4)."""


class VoiceNameError(VoiceError):
    """A voiceprint name that is not a safe file name (empty, a path separator, ``..``,
    a leading dot, a control character, too long)."""


class EnrollmentError(VoiceError):
    """Enrolment audio holds too little speech for a voiceprint; the message says how
    much there was and how much is needed."""


_recording_sink = threading.local()


def warn_recording(message: str, category: type, *, stacklevel: int = 1) -> None:
    """Warn about one recording (:class:`AudioWarning`, :class:`NoSpeechWarning`,
    :class:`SpeakerCountWarning`): into this thread's :func:`recording_warnings` list
    while one is open, else as ``warnings.warn`` does (`stacklevel` counted from the
    caller).
    """
    sink = getattr(_recording_sink, "messages", None)
    if sink is not None:
        sink.append(message)
        return
    warnings.warn(message, category, stacklevel=stacklevel + 1)


@contextlib.contextmanager
def recording_warnings() -> Iterator[list[str]]:
    """Collect this thread's :func:`warn_recording` messages instead of warning.

    For a thread that is not the main one (a Dask worker's): ``warnings.catch_warnings``
    changes the filters of the whole process, and threads side by side would lose or
    keep each other's warnings. The list yielded holds the messages, in order.
    """
    before = getattr(_recording_sink, "messages", None)
    collected: list[str] = []
    _recording_sink.messages = collected
    try:
        yield collected
    finally:
        _recording_sink.messages = before
