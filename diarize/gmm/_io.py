"""Reading the ``.npz`` files that hold saved mixture models."""

from __future__ import annotations

import os
import zipfile
from typing import Any

import numpy as np
from numpy.typing import NDArray

from diarize.errors import ModelError


def load_arrays(path: str | os.PathLike[str], *, what: str) -> dict[str, NDArray[Any]]:
    """The arrays of an ``.npz`` model file (read without pickle), as a dict.

    Parameters
    ----------
    path : path-like
    what : str, keyword-only
        What the file should hold, for the error message ("SAD model", "UBM").

    Raises
    ------
    ModelError
        The file is missing, unreadable, truncated or not an ``.npz`` archive.
    """
    try:
        with np.load(path, allow_pickle=False) as d:
            return {k: d[k] for k in d.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelError(f"cannot read {what} {path}: {exc}") from None
