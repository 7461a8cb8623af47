"""gmm-diarize: who spoke when, with Gaussian mixture models, offline on a CPU.

>>> from diarize import Diarizer
>>> result = Diarizer.from_preset("meeting")("meeting.wav")  # doctest: +SKIP
>>> for turn in result:  # doctest: +SKIP
...     print(f"{turn.start:7.3f} {turn.end:7.3f} {turn.speaker}")

The result is a :class:`Diarization`, an ordered collection of :class:`Turn`
``(start, end, speaker)``; see README.md for the command line and more examples.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# No thread settings here: the pipeline limits BLAS to one thread inside its own calls
# (diarize._threads, with threadpoolctl) and leaves the host program's settings alone
# (the command line, cli.run, starts its own process's BLAS with one thread).
from .errors import (AudioError, AudioWarning, BatchInputError, ConfigError, ConvergenceWarning,
                     DeprecatedKeyWarning, DiarizeError, FitError, ManifestWarning,
                     MissingDependencyError,
                     ModelError, NoSpeechWarning, NotFittedError, OutputError, ParameterError, RTTMError,
                     ScoringError, ScoringWarning, SpeakerCountWarning, StdoutError,
                     TranscriptError, OutputWriteError, ForeignOutputError, VoiceError,
                     VoiceNameError, EnrollmentError, WorkerStartError)
from ._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from .config import Config, available_presets, load_config
    from .pipeline import Diarizer, enroll
    from .rttm import read_rttm
    from .segments import Diarization, Turn
    from .writers import write_rttm

__all__ = [
    "Diarizer", "enroll", "Diarization", "Turn", "Config", "load_config", "available_presets",
    "read_rttm", "write_rttm", "DiarizeError", "AudioError", "ConfigError", "RTTMError",
    "OutputError", "NotFittedError", "FitError", "ParameterError", "ModelError",
    "BatchInputError", "MissingDependencyError", "StdoutError", "ScoringError",
    "ConvergenceWarning", "ScoringWarning", "DeprecatedKeyWarning", "TranscriptError",
    "AudioWarning", "NoSpeechWarning", "SpeakerCountWarning", "ManifestWarning",
    "OutputWriteError", "ForeignOutputError", "VoiceError", "VoiceNameError", "EnrollmentError",
    "WorkerStartError",
    "__version__",
]


#: Exported names -> the module that defines them, imported on first use: `import diarize`
#: loads no numpy, so that the command line can set the BLAS threads before numpy loads,
#: and the pipeline (seconds of imports once) only when a diarizer is asked for.
_LAZY = {"Diarizer": "pipeline", "enroll": "pipeline", "Config": "config",
         "available_presets": "config", "load_config": "config", "read_rttm": "rttm",
         "Diarization": "segments", "Turn": "segments", "write_rttm": "writers"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'diarize' has no attribute {name!r}")
