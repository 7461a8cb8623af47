"""Named speakers: voiceprints of enrolled voices, and the naming of output speakers.

A voiceprint is what the scorer needs of one enrolled voice: its UBM statistics
(:class:`diarize.speakers.VoiceStats`, which add up, so more audio extends it), how much
speech it saw, and fingerprints of the UBM and front end it was made with. One file per
name, ``DIR/NAME.npz``, plain arrays (read without pickle), written atomically.

After diarization, each output speaker's statistics are scored against every voiceprint
(:func:`match_scores`: GMM-UBM linear scoring, normalised against the UBM's cohort of
training voices); a speaker whose best score is above ``voices.threshold`` takes that name,
one name per speaker and one speaker per name (best pair first); so does one whose best
score is above ``voices.margin_floor`` and leads its runner-up by ``voices.margin``; the
others keep
``SPEAKER_xx`` (:meth:`VoiceLibrary.name_speakers`).

Enrolment itself (audio to statistics) runs the pipeline's own front end and speech
detector: :func:`diarize.pipeline.enroll`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .config import Config
from .errors import ModelError, OutputWriteError, VoiceError, VoiceNameError
from .gmm import load_arrays
from .names import (OUTPUT_LABEL, TIME_DECIMALS, printable, replace_atomically,
                    sanitize_field, special_file)
from .speakers import (BackgroundModel, VoiceStats, load_ubm, matched_voice_scores,
                       ubm_fingerprint, voice_scores, with_nuisance)

__all__ = ["Voiceprint", "VoiceLibrary", "VoiceMatch", "check_name", "match_scores",
           "degraded_copies", "enrolment_recipe",
           "FORMAT_TAG", "FORMAT_VERSION", "SUFFIX"]

FORMAT_TAG = "gmm-diarize voiceprint"
"""The ``format`` array of every voiceprint file: what says a file is one."""
FORMAT_VERSION = 2
"""Version of the voiceprint file layout written (2: with condition models); versions
above it are refused, version 1 (without them) is read."""
SUFFIX = ".npz"
"""Voiceprint files are ``NAME.npz``."""
MAX_NAME_BYTES = 200
"""Longest voiceprint name (UTF-8 bytes): with :data:`SUFFIX` and an atomic write's
temporary name it stays within the 255 bytes a file name may have."""
_ARRAYS = ("format", "version", "name", "n", "first", "seconds", "enrolments", "sources",
           "ubm", "front_end", "condition_n", "condition_first", "recipe")


def check_name(name: str) -> str:
    """`name` if it can name a voiceprint file, else raise :class:`VoiceNameError`.

    A name is a file name in the voiceprint folder and a speaker label in every output
    format: no path separators, no ``.``/``..`` or leading dot (hidden and temporary
    files), no control characters or leading/trailing whitespace, at most
    :data:`MAX_NAME_BYTES` bytes.

    Examples
    --------
    >>> check_name("Dr. Ito")
    'Dr. Ito'
    """
    if not isinstance(name, str):
        raise VoiceNameError(f"a voiceprint name must be a str, got {type(name).__name__}")
    if not name:
        raise VoiceNameError("a voiceprint name cannot be empty")
    shown = printable(name).encode("unicode_escape").decode("ascii")
    why = None
    if name.startswith("."):
        why = "it begins with a dot"
    elif any(c in name for c in "/\\"):
        why = "it holds a path separator"
    elif any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in name):
        why = "it holds a control character"
    elif OUTPUT_LABEL.fullmatch(sanitize_field(name)):  # as RTTM writes it
        why = "unnamed output speakers are labelled so"
    elif name != name.strip():
        why = "it begins or ends with whitespace"
    elif len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        why = f"it is longer than {MAX_NAME_BYTES} bytes"
    if why is not None:
        raise VoiceNameError(f"{shown!r} cannot name a voiceprint: {why}")
    return name


def front_end_of(config: Config) -> str:
    """The configuration fields that decide a voice's statistics (the audio stage and
    the feature front end), as canonical JSON."""
    features = asdict(config.features)
    if not features["floor_db"]:
        # without the noise floor, the front end of the versions that had none: their
        # voiceprints stay valid
        del features["floor_db"], features["floor_quantile"]
    _drop_band_floor(features)
    return json.dumps({"audio": asdict(config.audio), "features": features},
                      sort_keys=True, default=_plain)


def _drop_band_floor(features: dict) -> None:
    """Take the ``features.band_floor*`` settings out of `features`: the band floor
    reaches the clustering features only, never a voice's statistics (the UBM's plain
    cepstra), so voiceprints made with and without it are the same."""
    for key in [k for k in features if k.startswith("band_floor")]:
        del features[key]


def _without_band_floor(front_end: str) -> str:
    """A voiceprint's stored :func:`front_end_of` string as this version writes it: those
    made with the band floor before session 16 named its settings. A string that is not
    such JSON is returned as it is (it then matches nothing)."""
    if "band_floor" not in front_end:
        return front_end
    try:
        d = json.loads(front_end)
        features = d["features"]
    except (ValueError, TypeError, KeyError, RecursionError):
        return front_end
    if not isinstance(features, dict):
        return front_end
    _drop_band_floor(features)
    return json.dumps(d, sort_keys=True, default=_plain)


def enrolment_recipe(config: Config) -> str:
    """The configuration fields that decide a voiceprint's condition models
    (``voices.enroll_*`` and the seed of their generators) as canonical JSON; '' without
    degraded copies (a voiceprint of clean statistics alone)."""
    vc = config.voices
    if vc.enroll_copies == 0:
        return ""
    keys = {k: v for k, v in asdict(vc).items() if k.startswith("enroll_")}
    return json.dumps({"seed": config.seed, **keys}, sort_keys=True, default=_plain)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class Voiceprint:
    """One enrolled voice.

    Attributes
    ----------
    name : str
    stats : VoiceStats
        UBM statistics of all its enrolment speech.
    seconds : float
        Speech (after speech detection) it was made from.
    enrolments : int
        Times audio was added to it (``enroll`` calls).
    sources : tuple of str
        The enrolment recordings' names, in order.
    ubm : str
        :func:`ubm_fingerprint` of the UBM it was made with.
    front_end : str
        :func:`front_end_of` the configuration it was made with.
    conditions : tuple of VoiceStats
        Statistics of the same speech in each degraded copy of multi-condition enrolment
        (``voices.enroll_copies``), in the order of the copies; empty without.
    recipe : str
        :func:`enrolment_recipe` of the configuration it was made with.
    """

    name: str
    stats: VoiceStats
    seconds: float
    enrolments: int
    sources: tuple[str, ...]
    ubm: str
    front_end: str
    conditions: tuple[VoiceStats, ...] = ()
    recipe: str = ""

    def __add__(self, other: "Voiceprint") -> "Voiceprint":
        if len(self.conditions) != len(other.conditions) or self.recipe != other.recipe:
            raise VoiceError(f"voiceprint {self.name!r}: cannot add enrolments made with "
                             "another multi-condition recipe (voices.enroll_*)")
        return replace(self, stats=self.stats + other.stats,
                       seconds=self.seconds + other.seconds,
                       enrolments=self.enrolments + other.enrolments,
                       sources=self.sources + other.sources,
                       conditions=tuple(a + b for a, b in zip(self.conditions,
                                                              other.conditions)))

    def models(self) -> list[VoiceStats]:
        """The statistics of each of its condition models: clean first, then the copies."""
        return [self.stats, *self.conditions]

    def save(self, path: str | os.PathLike) -> None:
        """Write the voiceprint to `path` atomically (a temporary file renamed over it),
        with the permissions the umask gives any new file.

        Raises
        ------
        OutputWriteError
            It cannot be written.
        """
        path = Path(path)
        arrays: dict[str, Any] = {
            "format": np.array(FORMAT_TAG), "version": np.array(FORMAT_VERSION),
            "name": np.array(self.name), "n": np.asarray(self.stats.n, dtype=np.float64),
            "first": np.asarray(self.stats.first, dtype=np.float64),
            "seconds": np.array(float(self.seconds)),
            "enrolments": np.array(int(self.enrolments)),
            "sources": np.array(list(self.sources), dtype=str).reshape(-1),
            "ubm": np.array(self.ubm), "front_end": np.array(self.front_end),
            "condition_n": np.array([c.n for c in self.conditions], dtype=np.float64
                                    ).reshape(len(self.conditions), *self.stats.n.shape),
            "condition_first": np.array([c.first for c in self.conditions],
                                        dtype=np.float64
                                        ).reshape(len(self.conditions), *self.stats.first.shape),
            "recipe": np.array(self.recipe),
        }
        try:
            # with the umask's permissions, as every output: a voiceprint is a model of
            # a named person's voice, and umask 077 keeps it private
            replace_atomically(path, lambda f: np.savez(f, **arrays), binary=True)
        except OSError as exc:
            raise OutputWriteError(f"{printable(str(path))}: cannot write the voiceprint "
                                   f"({exc.strerror or exc})", errno=exc.errno) from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Voiceprint":
        """Read a voiceprint file (no pickle).

        Raises
        ------
        VoiceError
            Missing, unreadable, corrupt or not a voiceprint file, or another version.
        """
        p = Path(path)
        shown = printable(str(p))
        if special_file(p):  # a named pipe would be waited on forever
            raise VoiceError(f"{shown}: not a voiceprint file (not a regular file)")
        try:
            data = load_arrays(p, what="voiceprint", names=_ARRAYS)
        except ModelError as exc:
            raise VoiceError(f"{' '.join(str(exc).split())}") from None
        try:
            if data["format"].dtype.kind != "U" or str(data["format"]) != FORMAT_TAG:
                raise KeyError("format")
        except KeyError:
            raise VoiceError(f"{shown}: not a voiceprint file (no {FORMAT_TAG!r} tag)") from None
        try:
            version = int(data["version"])
            if version not in (1, FORMAT_VERSION):
                raise VoiceError(f"{shown}: voiceprint format version {version}, this "
                                 f"diarize reads version {FORMAT_VERSION}")
            n = np.asarray(data["n"], dtype=np.float64)
            first = np.asarray(data["first"], dtype=np.float64)
            if version == 1:
                cn, cf, recipe = np.zeros((0, *n.shape)), np.zeros((0, *first.shape)), ""
            else:
                cn = np.asarray(data["condition_n"], dtype=np.float64)
                cf = np.asarray(data["condition_first"], dtype=np.float64)
                recipe = str(data["recipe"])
            if cn.shape != (len(cn), *n.shape) or cf.shape != (len(cn), *first.shape):
                raise ValueError("condition_n")
            out = cls(name=str(data["name"]), stats=VoiceStats(n, first),
                      seconds=float(data["seconds"]), enrolments=int(data["enrolments"]),
                      sources=tuple(str(s) for s in np.asarray(data["sources"]).reshape(-1)),
                      ubm=str(data["ubm"]), front_end=str(data["front_end"]),
                      conditions=tuple(VoiceStats(a, b) for a, b in zip(cn, cf)),
                      recipe=recipe)
        except VoiceError:
            raise
        except (KeyError, ValueError, TypeError) as exc:
            raise VoiceError(f"{shown}: corrupt voiceprint file (bad or missing array "
                             f"{exc})") from None
        if (n.ndim != 1 or first.ndim != 2 or len(first) != len(n)
                or not (np.all(np.isfinite(n)) and np.all(np.isfinite(first)))
                or not (np.all(np.isfinite(cn)) and np.all(np.isfinite(cf)))
                or np.any(n < 0) or np.any(cn < 0) or not np.isfinite(out.seconds) or out.seconds < 0):
            raise VoiceError(f"{shown}: corrupt voiceprint file (statistics of shape "
                             f"{n.shape} and {first.shape}, or not finite)")
        if os.fsencode(p.name) not in _file_names(out.name):
            raise VoiceError(f"{shown}: corrupt voiceprint file (it holds the voice "
                             f"{out.name!r}, not the one its file name says)")
        return out


@dataclass(frozen=True)
class VoiceMatch:
    """How one output speaker scored against the enrolled voices.

    Attributes
    ----------
    name : str or None
        The name it was given (None: it keeps its ``SPEAKER_xx`` label).
    best, runner_up : str or None
        The voiceprints it scored highest and second highest against.
    best_score, runner_up_score : float or None
        Those scores (normalised; the threshold is ``voices.threshold``).
    """

    name: str | None
    best: str | None
    best_score: float | None
    runner_up: str | None
    runner_up_score: float | None

    def as_dict(self) -> dict[str, Any]:
        """The match as JSON values (scores with 3 decimals, as times: TIME_DECIMALS)."""
        def r(x: float | None) -> float | None:
            return None if x is None else float(round(x, TIME_DECIMALS))
        return {"name": self.name, "best": self.best, "best_score": r(self.best_score),
                "runner_up": self.runner_up, "runner_up_score": r(self.runner_up_score)}


def match_scores(ubm: BackgroundModel, tests: list[VoiceStats], prints: list[Voiceprint], *,
                 config: Config, matched: bool | None = None) -> np.ndarray:
    """Verification scores of voices (output speakers) against voiceprints.

    The speaker's speech scored under the voiceprint's model
    (:func:`diarize.speakers.voice_scores`); with ``voices.symmetric`` (the default) also
    the enrolment speech under the speaker's model, the two directions combined by
    ``voices.directions`` ('mean', the default, or 'min'). Each direction is normalised
    against the cohort (``voices.cohort_trim`` top
    cohort scores left out, so that a cohort holding the very voice scored does not
    shrink its score); with ``voices.cohort_match`` the cohort is adapted as much as the
    model scored (:func:`diarize.speakers.matched_voice_scores`; `matched`, when given,
    says instead). A multi-condition voiceprint (:attr:`Voiceprint.conditions`)
    scores the best of its condition models (``voices.condition_scoring`` 'max'), or
    the one model of all its statistics pooled ('pooled'). With ``voices.nuisance_rank``
    every model (and the cohort) is scored projected off that many session and channel
    directions (:func:`diarize.speakers.with_nuisance`).

    Returns
    -------
    ndarray, shape (len(tests), len(prints))
    """
    vc = config.voices
    if not tests or not prints:
        return np.zeros((len(tests), len(prints)))
    ubm = with_nuisance(ubm, vc.nuisance_rank, vc.nuisance_path or None)
    rf = vc.relevance_factor
    trim = vc.cohort_trim
    test_means = np.stack([t.means(ubm.gmm, relevance_factor=rf) for t in tests])
    if vc.condition_scoring == "pooled":
        models = [sum(p.conditions, p.stats) for p in prints]
        owner = np.arange(len(prints))
    else:
        models = [m for p in prints for m in p.models()]
        owner = np.repeat(np.arange(len(prints)), [len(p.models()) for p in prints])
    print_means = np.stack([m.means(ubm.gmm, relevance_factor=rf) for m in models])
    matched = vc.cohort_match if matched is None else matched
    if matched:
        each = matched_voice_scores(ubm, tests, models, relevance_factor=rf, trim=trim,
                                    means=print_means)
    else:
        each = voice_scores(ubm, tests, print_means, trim=trim)
    if vc.symmetric:
        backward = (matched_voice_scores(ubm, models, tests, relevance_factor=rf, trim=trim,
                                         means=test_means)
                    if matched else voice_scores(ubm, models, test_means, trim=trim))
        each = _both(each, backward.T, vc.directions)
    if (vc.condition_scoring == "max" and vc.condition_cohort and ubm.cohort is not None
            and len(ubm.cohort) > 1):
        # A condition model (enrolment speech in noise, say) gains on every voice heard
        # in that condition, which the clean cohort does not: its scores are read
        # against the cohort moved into the same condition, each cohort model shifted
        # as that voice's model shifted from clean to the condition.
        at = 0
        # the shifts of projected models, where scoring projects them (the cohort is)
        shifted = ubm.project(print_means)
        for p in prints:
            clean = shifted[at]
            for k in range(1, len(p.models())):
                moved = replace(ubm, cohort=ubm.cohort + (shifted[at + k] - clean))
                col = voice_scores(moved, tests, print_means[at + k:at + k + 1], trim=trim)[:, 0]
                if vc.symmetric:
                    col = _both(col, voice_scores(moved, [models[at + k]], test_means,
                                                  trim=trim)[0], vc.directions)
                each[:, at + k] = col
            at += len(p.models())
    # A voice's score is that of its best-matching condition model.
    out = np.full((len(tests), len(prints)), -np.inf)
    np.maximum.at(out.T, owner, each.T)
    return out


def _both(forward: np.ndarray, backward: np.ndarray, how: str) -> np.ndarray:
    """The two directions' scores as one: their mean, or the lesser ('min': both the
    speaker's speech must be like the voiceprint's and the voiceprint's like the
    speaker's, which a speaker merged from several voices, one of them enrolled, is
    only one way)."""
    return np.minimum(forward, backward) if how == "min" else 0.5 * (forward + backward)


@dataclass
class VoiceLibrary:
    """The voiceprints of a folder, checked against one configuration's UBM and front end.

    Parameters
    ----------
    voices : list of Voiceprint
        Sorted by name.
    directory : Path or None
    """

    voices: list[Voiceprint]
    directory: Path | None = None

    @classmethod
    def open(cls, directory: str | os.PathLike, *, config: Config,
             ubm: BackgroundModel) -> "VoiceLibrary":
        """Every voiceprint of `directory`, checked for `config`'s front end and `ubm`.

        Raises
        ------
        VoiceError
            The folder does not exist or holds no voiceprint; a file is corrupt, not a
            voiceprint, or was made with another front end or UBM.
        ModelError
            ``voices.nuisance_rank`` asks for a nuisance subspace that cannot be read,
            belongs to another UBM or holds fewer directions.
        """
        d = check_folder(directory)
        shown = printable(str(d))
        files = sorted(p for p in d.iterdir()
                       if p.name.endswith(SUFFIX) and not p.name.startswith("."))
        if not files:
            raise VoiceError(f"{shown}: no voiceprints in this folder (make one with "
                             f"diarize enroll --voices {shown} NAME AUDIO)")
        fp, fe = ubm_fingerprint(ubm), front_end_of(config)
        recipe = enrolment_recipe(config)
        # the nuisance subspace scoring will use, checked before any recording is read
        with_nuisance(ubm, config.voices.nuisance_rank, config.voices.nuisance_path or None)
        voices = []
        labels: dict[str, str] = {}
        for f in files:
            v = _load_kept(f)
            check_compatible(v, f, ubm=fp, front_end=fe, recipe=recipe)
            # RTTM writes whitespace as "_": two names it would write alike would label
            # two speakers alike
            label = sanitize_field(v.name)
            if label in labels:
                raise VoiceError(f"{shown}: the voiceprints {labels[label]!r} and {v.name!r} "
                                 f"would both be labelled {label!r} in RTTM; rename one")
            labels[label] = v.name
            voices.append(v)
        # by name, as documented ("Ann" before "Ann Lee", whose file sorts first)
        voices.sort(key=lambda v: v.name)
        return cls(voices=voices, directory=d)

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.voices]

    def namer(self, *, config: Config) -> Callable[[Sequence[VoiceStats]], list[str | None]]:
        """The naming step of ``batch --link-speakers --voices``: given the pooled
        statistics of each voice linked over a batch, the enrolled name of each (None
        where none matches), by the rules of :meth:`name_speakers`, one voice per name,
        scored against the voiceprints' clean models only (no guided diarization here).
        The names of :meth:`matcher`'s matches.
        """
        match = self.matcher(config=config)

        def name(stats: Sequence[VoiceStats]) -> list[str | None]:
            return [m.name for m in match(stats)]

        return name

    def matcher(self, *, config: Config) -> Callable[[Sequence[VoiceStats]], list[VoiceMatch]]:
        """The evidence of :meth:`namer`: given the pooled statistics of each voice linked
        over a batch, its :class:`VoiceMatch` (the name it gets, or None, and its best and
        runner-up voiceprints with their scores), as ``name_speakers`` gives each output
        speaker of one recording."""
        ubm = load_ubm(config.cluster.ubm_path or None)
        vc = config.voices
        # Linking runs the recordings without voices, so nothing guides their diarization.
        clean = self.scored(conditions=False)

        def match(stats: Sequence[VoiceStats]) -> list[VoiceMatch]:
            scores = match_scores(ubm, list(stats), clean, config=config)
            mapping = assign(scores, threshold=vc.threshold, one_per_name=True,
                             allowed=eligible(scores, threshold=vc.threshold,
                                              floor=vc.margin_floor, margin=vc.margin))
            return [_evidence(scores[i], self.names, mapping.get(i))
                    for i in range(len(stats))]

        return match

    def scored(self, *, conditions: bool) -> list[Voiceprint]:
        """The voiceprints as scored: with their condition models, or (`conditions`
        False) their clean models alone. Without guided diarization the condition models
        also name a speaker merged from an enrolled voice and a stranger in a noisy
        recording, so naming that was not guided scores the clean models alone."""
        return list(self.voices) if conditions else [replace(v, conditions=())
                                                     for v in self.voices]

    def name_speakers(self, result: Any, *, ubm: BackgroundModel, config: Config,
                      conditions: bool = True) -> Any:
        """`result` (a Diarization with ``voice_stats``) with enrolled names on the output
        speakers whose voice matches, and ``voice_matches`` filled.

        Pairs (speaker, voiceprint) scoring above ``voices.threshold`` are taken best
        first; a speaker or a name already taken is skipped: one name per speaker, one
        speaker per name. Ties go to the lower speaker label, then the lower name.
        `conditions`: score the voiceprints' condition models too (see :meth:`scored`).
        """
        # rows by label: a tie goes to the lower speaker label, as documented
        speakers = sorted(s for s in result.speakers if s in result.voice_stats)
        scores = match_scores(ubm, [result.voice_stats[s] for s in speakers],
                              self.scored(conditions=conditions), config=config)
        names = self.names
        vc = config.voices
        mapping = assign(scores, threshold=vc.threshold, one_per_name=vc.one_speaker_per_name,
                         allowed=eligible(scores, threshold=vc.threshold,
                                          floor=vc.margin_floor, margin=vc.margin))
        rename = {speakers[i]: names[j] for i, j in mapping.items()}
        evidence = replace(result, voice_matches={
            s: _evidence(scores[i], names, mapping.get(i)) for i, s in enumerate(speakers)})
        # rename merges the evidence of speakers given one name: the best-scoring part's
        return evidence.rename(rename) if rename else evidence


def _evidence(row: np.ndarray, names: Sequence[str], given: int | None) -> VoiceMatch:
    """One speaker's :class:`VoiceMatch`: its scores against every voiceprint (`row`,
    in the order of `names`) and the index of the name it was given (None: none)."""
    order = sorted(range(len(names)), key=lambda j: (-row[j], j))
    best = order[0] if order else None
    second = order[1] if len(order) > 1 else None
    return VoiceMatch(
        name=None if given is None else names[given],
        best=None if best is None else names[best],
        best_score=None if best is None else float(row[best]),
        runner_up=None if second is None else names[second],
        runner_up_score=None if second is None else float(row[second]))


def eligible(scores: np.ndarray, *, threshold: float, floor: float, margin: float
             ) -> np.ndarray:
    """Which (speaker, voiceprint) pairs may be named: a score above `threshold`, or a
    row's best score above `floor` that leads its runner-up by more than `margin` (a
    voice clearly closer to one voiceprint than to every other, as noisy recordings give,
    whose scores all sink).

    Returns
    -------
    ndarray of bool, shape of `scores`
    """
    ok = scores > threshold
    if scores.shape[1] > 1:
        best = np.argmax(scores, axis=1)
        top = np.sort(scores, axis=1)
        lead = (top[:, -1] > floor) & (top[:, -1] - top[:, -2] > margin)
        ok[np.arange(len(scores))[lead], best[lead]] = True
    return ok


def assign(scores: np.ndarray, *, threshold: float, one_per_name: bool = True,
           allowed: np.ndarray | None = None) -> dict[int, int]:
    """Best-first one-to-one assignment of rows (speakers) to columns (names) among
    the pairs scoring above `threshold` (or, given, the pairs `allowed`, an array of bool
    like `scores`); deterministic (ties: lower row, then column).
    With `one_per_name` False, each row takes its best allowed column, and several rows
    may take one column (speakers split from one enrolled voice).

    Examples
    --------
    >>> assign(np.array([[5.0, 4.0], [4.5, 1.0]]), threshold=2.0)
    {0: 0}
    >>> assign(np.array([[5.0, 4.0], [4.5, 3.0]]), threshold=2.0)
    {0: 0, 1: 1}
    """
    ok = scores > threshold if allowed is None else np.asarray(allowed, dtype=bool)
    if not one_per_name:
        out = {}
        for i in range(scores.shape[0]):
            if ok[i].any():
                # its best allowed column; the first of equal maxima: the lower column
                j = int(np.argmax(np.where(ok[i], scores[i], -np.inf)))
                out[i] = j
        return out
    pairs = sorted(((-float(scores[i, j]), i, j) for i in range(scores.shape[0])
                    for j in range(scores.shape[1]) if ok[i, j]))
    rows: dict[int, int] = {}
    taken: set[int] = set()
    for _, i, j in pairs:
        if i not in rows and j not in taken:
            rows[i] = j
            taken.add(j)
    return dict(sorted(rows.items()))


#: Voiceprints kept after reading (:func:`_load_kept`): a folder opened again in the
#: same process (the command's check before any work, then the run; each recording of a
#: batch in a worker) is not read again. About 40 kB each with the default UBM and copies.
LOADED_CACHE_SIZE = 1024
_loaded: OrderedDict = OrderedDict()
_loaded_lock = threading.Lock()


def _load_kept(path: Path) -> Voiceprint:
    """:meth:`Voiceprint.load`, kept by the file's identity (device, inode, size,
    modification and change times): enrolment replaces a voiceprint by a new file (an
    atomic rename, so a new inode), and a file written over in place gets a new change
    time; either is read again. Its arrays are made read-only, as the same objects serve
    every later open."""
    try:
        st = path.stat()
    except OSError:
        return Voiceprint.load(path)  # its own error for a file that went away
    key = (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
           st.st_ctime_ns)
    with _loaded_lock:
        hit = _loaded.get(key)
        if hit is not None:
            _loaded.move_to_end(key)
            return hit
    v = Voiceprint.load(path)
    for stats in (v.stats, *v.conditions):
        stats.n.flags.writeable = False
        stats.first.flags.writeable = False
    with _loaded_lock:
        _loaded[key] = v
        while len(_loaded) > LOADED_CACHE_SIZE:
            _loaded.popitem(last=False)
    return v


def check_compatible(v: Voiceprint, path: str | os.PathLike, *, ubm: str, front_end: str,
                     recipe: str | None = None) -> None:
    """Raise :class:`VoiceError` if voiceprint `v` was made with another UBM or front end,
    or (`recipe` given) another multi-condition enrolment recipe."""
    if v.ubm != ubm:
        raise VoiceError(f"{printable(str(path))}: voiceprint made with another UBM "
                         f"(cluster.ubm_path); enrol {v.name!r} again with this one")
    if _without_band_floor(v.front_end) != front_end:
        raise VoiceError(f"{printable(str(path))}: voiceprint made with another front end "
                         f"(audio or features configuration); enrol {v.name!r} again with "
                         "this one")
    if recipe is not None and v.recipe != recipe:
        # Scores of voices with and without condition models are not comparable.
        raise VoiceError(f"{printable(str(path))}: voiceprint made with another "
                         f"multi-condition enrolment ({_recipe_difference(v.recipe, recipe)}); "
                         f"enrol {v.name!r} again with this configuration, or give the "
                         "voiceprint's values in a config file")


def _recipe_difference(made: str, wanted: str) -> str:
    """The settings in which two :func:`enrolment_recipe` strings differ, as 'key = the
    voiceprint's value (this configuration: its value)'; 'voices.enroll_*' where either
    cannot be read."""
    def read(recipe: str) -> dict[str, Any] | None:
        if recipe == "":
            return {"enroll_copies": 0}
        try:
            got = json.loads(recipe)
        except (ValueError, RecursionError):
            return None
        return got if isinstance(got, dict) else None

    a, b = read(made), read(wanted)
    if a is None or b is None:
        return "voices.enroll_*"
    if 0 in (a.get("enroll_copies"), b.get("enroll_copies")):
        keys = ["enroll_copies"]  # without copies the other settings do not apply
    else:
        keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    if not keys or not all(k.isascii() and k.isidentifier() for k in keys):
        return "voices.enroll_*"

    def name(k: str) -> str:
        return k if k == "seed" else f"voices.{k}"

    def value(x: Any) -> str:
        return "unset" if x is None else json.dumps(x)

    # the voiceprint's side comes from a file: plain names, values as JSON (escaped)
    return printable(", ".join(f"{name(k)} = {value(a.get(k))} (this configuration: "
                               f"{value(b.get(k))})" for k in keys))


def _file_names(name: str) -> list[bytes]:
    """The names (bytes) the file of voiceprint `name` may have: the name in UTF-8, as it
    is written in every locale, then in Latin-1 and in this system's file-name encoding,
    as earlier versions wrote it in a locale that is not UTF-8 (readable, and added
    to, in any locale)."""
    out: list[bytes] = []
    for encoding in ("utf-8", "latin-1", sys.getfilesystemencoding()):
        try:
            raw = f"{name}{SUFFIX}".encode(encoding, "surrogateescape")
        except UnicodeError:
            continue
        if raw not in out:
            out.append(raw)
    return out


def voiceprint_path(directory: str | os.PathLike, name: str) -> Path:
    """The file of voiceprint `name` in `directory` (the name checked): its name in UTF-8,
    or a file an earlier version wrote under another encoding (:func:`_file_names`)."""
    utf8, *legacy = [Path(directory) / os.fsdecode(raw) for raw in _file_names(check_name(name))]
    if os.path.lexists(utf8):
        return utf8
    return next((p for p in legacy if os.path.lexists(p)), utf8)


def check_folder(directory: str | os.PathLike, *, hint: str = "") -> Path:
    """`directory` as a Path, if it is a folder (of voiceprints, or for them).

    Raises
    ------
    VoiceError
        It is a file, or does not exist (the message ends with `hint`).
    """
    d = Path(directory)
    if os.path.exists(d) and not d.is_dir():
        raise VoiceError(f"{printable(str(d))}: not a folder (voiceprints are kept in a folder)")
    if not d.is_dir():
        raise VoiceError(f"{printable(str(d))}: no such voiceprint folder{hint}")
    return d


def add_voice(directory: str | os.PathLike, new: Voiceprint) -> tuple[Voiceprint, bool]:
    """Write `new` to `directory`, or add it to the voiceprint of that name there.

    Returns
    -------
    (Voiceprint, bool)
        The voiceprint as written, and whether it extended an existing one.

    Raises
    ------
    VoiceError
        The folder does not exist; the existing file is corrupt, foreign or made with
        another UBM or front end (it is then left as it is).
    """
    d = check_folder(directory, hint=" (create it first)")
    path = voiceprint_path(d, new.name)
    with _folder_lock(d):  # two enrolments of one name at once: both are kept
        extended = path.exists()
        if extended:
            old = Voiceprint.load(path)
            check_compatible(old, path, ubm=new.ubm, front_end=new.front_end,
                             recipe=new.recipe)
            new = old + new
        new.save(path)
    return new, extended


@contextlib.contextmanager
def _folder_lock(directory: Path) -> Iterator[None]:
    """An exclusive lock on `directory` (``flock`` on its descriptor: no lock file left
    behind) for a read, extend and write of one of its voiceprints; released when the
    block ends or the process dies. Where the system has no such lock, none is taken."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover (Windows)
        yield
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        yield  # a folder that cannot be opened is refused by the write itself
        return
    try:
        with contextlib.suppress(OSError):  # a file system without flock: no lock
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def list_voices(directory: str | os.PathLike) -> list[Voiceprint]:
    """The voiceprints of `directory`, by name (no UBM check: for listing).

    Raises
    ------
    VoiceError
        No such folder, or a file in it is corrupt or not a voiceprint.
    """
    d = check_folder(directory)
    return sorted((Voiceprint.load(p) for p in d.iterdir()
                   if p.name.endswith(SUFFIX) and not p.name.startswith(".")),
                  key=lambda v: v.name)


# ------------------------------------------------------------ multi-condition enrolment
CONDITION_KINDS = ("noise", "reverb", "telephone")
"""The kinds of degraded enrolment copies, taken in turn (``voices.enroll_copies``)."""
_NOISE_COLOURS = ("brown", "pink", "white")
# Pink (1/f) noise: the -3 dB/octave IIR of J. O. Smith's "Spectral Audio Signal
# Processing" (within 0.05 dB of 1/f over 10 Hz-10 kHz at 44.1 kHz; close enough here).
_PINK_B = (0.049922035, -0.095993537, 0.050612699, -0.004408786)
_PINK_A = (1.0, -2.494956002, 2.017265875, -0.522189400)


def coloured_noise(rng: np.random.Generator, n: int, colour: str, sr: int) -> np.ndarray:
    """`n` samples of Gaussian noise of `colour` ('white'; 'pink', -3 dB/octave; 'brown',
    -6 dB/octave above a few Hz), with a unit spread; drawn as ``n + sr`` samples from
    `rng`, the filters' first second of start-up left out.

    Returns
    -------
    ndarray, shape (n,), float64
    """
    from . import _iir  # numpy alone: importing scipy.signal costs about a second

    w = rng.standard_normal(n + sr)
    if colour == "pink":
        w = _iir.lfilter(_PINK_B, _PINK_A, w)
    elif colour == "brown":  # a leaky integrator: 1/f^2 above a few Hz
        w = _iir.lfilter([1.0], [1.0, -0.995], w)
    elif colour != "white":
        raise ValueError(f"unknown noise colour {colour!r}")
    w = w[sr:]  # the filters' start-up transient left out
    return w / max(float(np.std(w)), 1e-12)


def _speech_level(y: np.ndarray, sr: int) -> float:
    """RMS of the louder half of 20 ms frames: the level of the speech, not its pauses."""
    n = max(int(0.02 * sr), 1)
    frames = y[:len(y) // n * n].reshape(-1, n) if len(y) >= n else y.reshape(1, -1)
    power = np.sort(np.mean(frames.astype(np.float64) ** 2, axis=1))
    return float(np.sqrt(np.mean(power[len(power) // 2:]))) if len(power) else 0.0


def degrade(y: np.ndarray, sr: int, kind: str, rng: np.random.Generator, *,
            snr_db: tuple[float, float], rt60: tuple[float, float],
            band: tuple[float, float]) -> tuple[np.ndarray, str]:
    """One degraded copy of enrolment speech `y`, and what was done to it.

    'noise': brown, pink or white noise at an SNR drawn from `snr_db` (against the
    speech's level, :func:`_speech_level`); 'reverb': a synthetic room response (sparse
    random-sign impulses, velvet noise, under an exponential decay to -60 dB at an RT60
    drawn from `rt60`, its tail darkened by a one-pole low-pass as air absorbs highs);
    'telephone': a 4th-order Butterworth band-pass `band` (Hz) and 8-bit mu-law
    quantisation, as a narrow-band call.

    Parameters
    ----------
    y : ndarray, shape (n_samples,)
    sr : int
    kind : {'noise', 'reverb', 'telephone'}
    rng : numpy Generator
        Every random draw (same `rng` state: same copy).

    Returns
    -------
    (ndarray, shape (n_samples,), float32; str)
    """
    from . import _iir  # numpy alone: importing scipy.signal costs about a second

    x = np.asarray(y, dtype=np.float64)
    if kind == "noise":
        colour = _NOISE_COLOURS[int(rng.integers(0, len(_NOISE_COLOURS)))]
        snr = float(rng.uniform(*snr_db))
        w = coloured_noise(rng, len(x), colour, sr)
        out = x + w * _speech_level(x, sr) * 10 ** (-snr / 20)
        what = f"{colour} noise {snr:.1f} dB"
    elif kind == "reverb":
        t60 = float(rng.uniform(*rt60))
        n = max(int(t60 * sr), 2)
        density = 2000.0  # impulses per second: dense enough to sound diffuse
        h = np.zeros(n)
        at = np.flatnonzero(rng.random(n) < density / sr)
        h[at] = rng.choice([-1.0, 1.0], size=len(at))
        h *= np.exp(-np.log(1000.0) * np.arange(n) / (t60 * sr))
        h = _iir.lfilter([0.4], [1.0, -0.6], h)
        h[0] = 1.0  # the direct sound
        h /= np.sqrt(np.sum(h * h))
        out = _iir.fftconvolve_head(x, h)
        what = f"reverb rt60 {t60:.2f} s"
    elif kind == "telephone":
        lo, hi = band
        z = _iir.zpk_filter(x, *_iir.butter_bandpass(4, lo, min(hi, 0.45 * sr), sr))
        peak = max(float(np.max(np.abs(z))), 1e-12)
        mu = 255.0
        c = np.sign(z / peak) * np.log1p(mu * np.abs(z / peak)) / np.log1p(mu)
        c = np.round(c * 127) / 127
        out = peak * np.sign(c) * np.expm1(np.abs(c) * np.log1p(mu)) / mu
        what = f"telephone {lo:.0f}-{hi:.0f} Hz, mu-law"
    else:
        raise ValueError(f"unknown degradation {kind!r}")
    return out.astype(np.float32), what


def degraded_copies(y: np.ndarray, sr: int, *, config: Config) -> list[tuple[np.ndarray, str]]:
    """The ``voices.enroll_copies`` degraded copies of enrolment speech `y`, their kinds
    in turn from :data:`CONDITION_KINDS` (noise, reverb, telephone, noise, ...), each
    from its own generator seeded with ``config.seed`` and its index: deterministic.

    These generators are not the ones of scripts/bench_voices.py, which measures them.
    """
    vc = config.voices
    out = []
    for k in range(vc.enroll_copies):
        rng = np.random.default_rng([config.seed, 7919, k])
        out.append(degrade(y, sr, CONDITION_KINDS[k % len(CONDITION_KINDS)], rng,
                           snr_db=(vc.enroll_snr_low, vc.enroll_snr_high),
                           rt60=(vc.enroll_rt60_low, vc.enroll_rt60_high),
                           band=(vc.enroll_band_low, vc.enroll_band_high)))
    return out
