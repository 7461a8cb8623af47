"""One of scipy's compiled modules loaded from its file, without importing the scipy
subpackage that holds it.

Some scipy subpackages cost far more to import than the one compiled kernel we call from
them: ``import scipy.fft`` about a quarter of a second (``scipy.special`` and scipy's
array-API layer), ``import scipy.optimize`` about a third (every solver, and
``scipy.sparse``). Kernels that import nothing of scipy themselves (pocketfft's
transforms, the assignment solver) are loaded here straight from their file, under their
own dotted name, and the callers use the very functions the public API would run: the same
bits. Should scipy ever move or change such a module, :func:`load_extension` answers None
and the caller goes through the public API.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from typing import Any


def load_extension(name: str, *, needs: tuple[str, ...]) -> Any:
    """The compiled module `name` of scipy, loaded from its file; None when it cannot be.

    Parameters
    ----------
    name : str
        Its dotted name inside scipy, e.g. ``"scipy.optimize._lsap"``.
    needs : tuple of str, keyword-only
        Attributes it must have (a module of the same name but another content, as a
        later scipy might ship, is not used).

    Returns
    -------
    module or None
        The module already imported under `name` if there is one, else the one loaded.
    """
    mod = sys.modules.get(name)
    if mod is None:
        try:
            mod = _from_file(name)
        except (ImportError, OSError, ValueError):  # ValueError: find_spec on an odd module
            return None
    return mod if mod is not None and all(hasattr(mod, a) for a in needs) else None


def _from_file(name: str) -> Any:
    package, *parts = name.split(".")
    spec = importlib.util.find_spec(package)  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(root, *parts[:-1], parts[-1] + suffix)
            if os.path.isfile(path):
                ext = importlib.util.spec_from_file_location(name, path)
                if ext is None or ext.loader is None:
                    return None
                mod = importlib.util.module_from_spec(ext)
                ext.loader.exec_module(mod)
                return mod
    return None
