"""The model files a configuration names (``sad.model_path``, ``cluster.ubm_path``,
``voices.nuisance_path`` and the ranks read from it), checked before any work.

:class:`diarize.pipeline.Diarizer` checks them when it is made, and ``diarize``,
``diarize batch`` and :func:`diarize.tune.tune` before the first recording, so that a
path that is not a model fails once, naming the key, instead of once per recording.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from .config import Config
from .errors import DiarizeError, ModelError
from .names import text_path
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
        file = text_path(path)  # TOML text: the file of those bytes in UTF-8
        if not Path(file).is_file():
            raise ModelError(f"{key}: {path}: no such model file")
        if not zipfile.is_zipfile(file):
            raise ModelError(f"{key}: {path}: not a model file (an .npz archive)")
        try:
            load(path)  # as the pipeline will ask for it: loaded (and cached) once
        except DiarizeError as exc:
            raise type(exc)(f"{key}: {' '.join(str(exc).split())}") from None
    _check_nuisance(config)


def _check_nuisance(config: Config) -> None:
    """Load the nuisance subspace a rank other than the shipped defaults asks for, from
    ``voices.nuisance_path`` or the shipped file, and check it against the UBM and the
    rank (what :func:`diarize.speakers.with_nuisance` would refuse after the work)."""
    from dataclasses import fields

    from .config import ClusterConfig, VoicesConfig
    from .speakers import with_nuisance

    if config.cluster.link_method != "ubm":
        return
    path = config.voices.nuisance_path or None
    defaults = {f"cluster.{f.name}": f.default for f in fields(ClusterConfig)}
    defaults.update({f"voices.{f.name}": f.default for f in fields(VoicesConfig)})
    for key, rank in (("cluster.link_nuisance_rank", config.cluster.link_nuisance_rank),
                      ("voices.nuisance_rank", config.voices.nuisance_rank),
                      ("voices.link_nuisance_rank", config.voices.link_nuisance_rank)):
        if rank <= 0 or (path is None and rank == defaults[key]):
            continue  # off, or the shipped subspace at its shipped rank
        if (key == "voices.link_nuisance_rank" and path is None
                and config.cluster.ubm_path):
            continue  # linking then projects nothing (diarize.link._link_rank)
        try:
            with_nuisance(load_ubm(config.cluster.ubm_path or None), rank, path, key=key)
        except DiarizeError as exc:
            message = " ".join(str(exc).split())
            raise type(exc)(message if key in message else f"{key}: {message}") from None
