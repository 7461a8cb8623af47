"""Exception and warning classes of gmm-diarize.

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


class ScoringError(DiarizeError, ValueError):
    """Turns or regions given to the scorer cannot be scored (times that are not finite
    or further than :data:`diarize.io.MAX_TIME` from 0)."""


class NotFittedError(DiarizeError, AttributeError):
    """A model was used before `fit` was called."""


class OutputError(DiarizeError):
    """An output file cannot be written (directory missing or not writable)."""


class FitError(DiarizeError, ValueError):
    """A mixture model cannot be fitted to (or evaluated on) the data given.

    NaN or infinite values, non-numeric input, fewer frames than components, a
    feature count that does not match the model, a covariance that is singular or
    ill-defined. A recording too short or too degenerate to model fails with this.
    """


class ParameterError(DiarizeError, ValueError):
    """A mixture estimator was given an invalid argument.

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


class MissingDependencyError(DiarizeError, ImportError):
    """An optional dependency needed for the requested feature is not installed."""


class StdoutError(DiarizeError):
    """Standard output cannot be written (a full device, a closed pipe)."""

    @classmethod
    def from_os_error(cls, exc: OSError) -> "StdoutError":
        return cls(f"cannot write to standard output ({exc.strerror or exc})")


class ConvergenceWarning(UserWarning):
    """The best of the ``n_init`` EM runs stopped at ``max_iter`` before converging."""


class ScoringWarning(UserWarning):
    """Something was left out of the scores: a hypothesis file with no reference, etc."""


class NoSpeechWarning(UserWarning):
    """The speech detector found no speech in a recording: its result has no turns."""
