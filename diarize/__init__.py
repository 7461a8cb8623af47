"""gmm-diarize: who spoke when, with Gaussian mixture models, offline on a CPU.

>>> from diarize import Diarizer
>>> result = Diarizer.from_preset("meeting")("meeting.wav")  # doctest: +SKIP
>>> for turn in result:  # doctest: +SKIP
...     print(f"{turn.start:7.3f} {turn.end:7.3f} {turn.speaker}")

The result is a :class:`Diarization`, an ordered collection of :class:`Turn`
``(start, end, speaker)``; see README.md for the command line and more examples.
"""

from __future__ import annotations

import os as _os
import sys as _sys
from typing import TYPE_CHECKING, Any

if "numpy" not in _sys.modules:
    # The pipeline's matrix products are small and many: one BLAS thread per process is
    # faster than several (threads busy-wait between calls), and batch workers must not
    # oversubscribe the cores. An explicit setting in the environment wins.
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        _os.environ.setdefault(_var, "1")

from .config import Config, available_presets, load_config
from .errors import (AudioError, ConfigError, DiarizeError, NotFittedError, OutputError,
                     RTTMError)
from .io import write_rttm
from .segments import Diarization, Turn

__version__ = "0.1.0"

from .io import read_rttm

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline import Diarizer

__all__ = [
    "Diarizer", "Diarization", "Turn", "Config", "load_config", "available_presets",
    "read_rttm", "write_rttm", "DiarizeError", "AudioError", "ConfigError", "RTTMError",
    "OutputError", "NotFittedError", "__version__",
]
if "read_rttm" not in globals():  # pragma: no cover
    __all__.remove("read_rttm")


def __getattr__(name: str) -> Any:
    # The pipeline imports librosa, which takes seconds to load: import it on first use
    # so that `diarize --help` and `import diarize` for reading RTTM stay fast.
    if name == "Diarizer":
        from .pipeline import Diarizer

        return Diarizer
    raise AttributeError(f"module 'diarize' has no attribute {name!r}")
