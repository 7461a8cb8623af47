"""Reading the ``.npz`` files that hold saved mixture models.

A model file is untrusted input (``sad.model_path``, ``cluster.ubm_path`` name any file):
only the arrays a caller knows are read, and their sizes are checked from the archive's
central directory and each ``.npy`` header before anything is decompressed, so that a
small file cannot make a batch worker allocate gigabytes (a 3 GiB array of zeros deflates
to 3 MB).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Collection
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from diarize.errors import ModelError

#: Largest array read from a model file, in bytes once decompressed. The shipped UBM's
#: largest array (its cohort of 64 speakers' means) is 0.3 MB, and scripts/train_ubm.py with
#: 1024 components, 60 features and a cohort of 256 would write 63 MB; 256 MiB leaves room
#: for larger models while keeping every batch worker's share of memory bounded.
MAX_ARRAY_BYTES = 256 * 2**20
#: Largest total of the arrays read from one model file, in bytes once decompressed.
MAX_TOTAL_BYTES = 512 * 2**20
#: Longest ``.npy`` header read (numpy's own limit for untrusted headers).
MAX_HEADER_BYTES = 10_000


def load_arrays(path: str | os.PathLike[str], *, what: str, names: Collection[str]
                ) -> dict[str, NDArray[Any]]:
    """The arrays of an ``.npz`` model file that the caller knows (read without pickle).

    Parameters
    ----------
    path : path-like
    what : str, keyword-only
        What the file should hold, for the error message ("SAD model", "UBM").
    names : collection of str, keyword-only
        The arrays to read: a name ending in ``/`` stands for every array under it
        (``"ubm/"``), any other name for that array alone. Other members of the archive
        are not decompressed.

    Returns
    -------
    dict of str to ndarray
        Each array read, by its name in the archive (without ``.npy``).

    Raises
    ------
    ModelError
        The file is missing, unreadable, truncated or not an ``.npz`` archive, an array it
        holds is not a plain ``.npy`` array, or an array or their total is larger than
        :data:`MAX_ARRAY_BYTES` / :data:`MAX_TOTAL_BYTES` once decompressed.
    """
    groups = tuple(n for n in names if n.endswith("/"))
    single = {n for n in names if not n.endswith("/")}
    try:
        with zipfile.ZipFile(path) as zf:
            chosen = []
            for info in zf.infolist():
                key = info.filename.removesuffix(".npy")
                if info.filename.endswith(".npy") and (key in single or key.startswith(groups)):
                    chosen.append((key, info))
            # The central directory's sizes first: nothing has been decompressed yet.
            total = 0
            for key, info in chosen:
                if info.file_size > MAX_ARRAY_BYTES:
                    raise ModelError(_too_large(what, path, f"array {key!r}", info.file_size,
                                                MAX_ARRAY_BYTES))
                total += info.file_size
            if total > MAX_TOTAL_BYTES:
                raise ModelError(_too_large(what, path, "its arrays", total, MAX_TOTAL_BYTES))
            out = {}
            for key, info in chosen:
                with zf.open(info) as member:
                    out[key] = _read_npy(member, declared=info.file_size,
                                         where=f"{what} {path}: array {key!r}")
            return out
    except ModelError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, RuntimeError,
            NotImplementedError) as exc:
        raise ModelError(f"cannot read {what} {path}: {exc}") from None


def _read_npy(member: IO[bytes], *, declared: int, where: str) -> NDArray[Any]:
    """One ``.npy`` member, its header checked against the size the archive declares
    before its data is read (a header may claim any shape: the allocation follows it)."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        header = np.lib.format.read_array_header_1_0(  # type: ignore[call-arg]
            member, max_header_size=MAX_HEADER_BYTES)  # (a keyword numpy 2.2's stubs lack)
    elif version == (2, 0):
        header = np.lib.format.read_array_header_2_0(  # type: ignore[call-arg]
            member, max_header_size=MAX_HEADER_BYTES)
    else:  # numpy writes 3.0 only for field names that need utf-8: not in our models
        raise ModelError(f"{where}: unsupported .npy format version {version}")
    shape, fortran, dtype = header
    if dtype.hasobject:
        raise ModelError(f"{where}: holds Python objects (not read, pickle is not allowed)")
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if nbytes > declared:
        raise ModelError(f"{where}: header claims {nbytes} bytes but the archive holds "
                         f"{declared}")
    data = member.read(nbytes)
    if len(data) != nbytes:
        raise ModelError(f"{where}: truncated ({len(data)} of {nbytes} bytes)")
    arr = np.frombuffer(data, dtype=dtype)
    if fortran:
        return arr.reshape(shape[::-1]).transpose().copy()
    return arr.reshape(shape).copy()


def _too_large(what: str, path: str | os.PathLike[str], item: str, size: int,
               limit: int) -> str:
    return (f"cannot read {what} {path}: {item} would take {size / 2**20:.0f} MiB once "
            f"decompressed (limit {limit // 2**20} MiB); not a model this tool wrote")
