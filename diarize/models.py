"""The model files a configuration names (``sad.model_path``, ``cluster.ubm_path``),
checked before any work.

:class:`diarize.pipeline.Diarizer` checks them when it is made, and ``diarize``,
``diarize batch`` and :func:`diarize.tune.tune` before the first recording, so that a
path that is not a model fails once, naming the key, instead of once per recording.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from .config import Config
from .errors import DiarizeError, ModelError
from .sad import load_model
from .speakers import load_ubm


def check_model_files(config: Config) -> None:
    """Load the model files `config` names and uses (the loaders keep what they read).

    Parameters
    ----------
    config : Config

    Raises
    ------
    ModelError
        A file that is missing or not a model archive; the message names the key and
        the file. An error of the loader keeps its type, with the key put in front of
        its message.
    """
    for key, used, path, load in (
            ("sad.model_path", config.sad.method == "model", config.sad.model_path, load_model),
            ("cluster.ubm_path", config.cluster.link_method == "ubm", config.cluster.ubm_path,
             load_ubm)):
        if not (used and path):
            continue  # the shipped model: tested with the package
        if not Path(path).is_file():
            raise ModelError(f"{key}: {path}: no such model file")
        if not zipfile.is_zipfile(path):
            raise ModelError(f"{key}: {path}: not a model file (an .npz archive)")
        try:
            load(path)
        except DiarizeError as exc:
            raise type(exc)(f"{key}: {' '.join(str(exc).split())}") from None
