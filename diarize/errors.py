"""Exception classes of gmm-diarize.

Every error a user can cause is one of these; the command line turns them into one-line
messages (exit status 1 for a failed input, 2 for a usage or configuration error).
"""


class DiarizeError(Exception):
    """Base class of every error raised on purpose by gmm-diarize."""


class AudioError(DiarizeError):
    """An input file cannot be read as audio (missing, empty, corrupt, not audio)."""


class ConfigError(DiarizeError, ValueError):
    """A configuration file or option is invalid (unknown key, wrong type, bad value)."""


class RTTMError(DiarizeError, ValueError):
    """An RTTM or UEM file is malformed; the message names the file and line."""


class NotFittedError(DiarizeError, AttributeError):
    """A model was used before `fit` was called."""


class OutputError(DiarizeError):
    """An output file cannot be written (directory missing or not writable)."""
