"""Adapt the configuration to a user's own audio: ``diarize tune``.

:func:`tune` searches a few configuration values against reference RTTMs and returns the
values that lower the diarization error rate (DER). To keep the reported gain honest it
splits the recordings in two halves, deterministically:

* the **tuning** half: every trial configuration is scored on it, and the best one is
  chosen on it alone;
* the **held-out** half: only the base and the chosen configuration are scored on it,
  once each, at the end. Its numbers are the honest estimate of what tuning buys on
  unseen audio of the same kind; the tuning-half gain is optimistic by construction.

The split sorts recordings by ``sha256(f"{seed}:{uri}")``: the same files and seed give
the same split whatever the order of the folder, and adding a recording does not move
the others between halves. The tuning half gets the extra recording of an odd count.

Search
------
Each searched key has a small grid around its base value (:data:`GRIDS`; any other
numeric key gets a multiplicative grid x0.6 .. x1.6, a boolean key both values).
The search is a greedy coordinate descent on the grid: starting from the base, for each
key in turn it tries the neighbouring grid values of the current one and keeps a move
only if it strictly lowers the tuning-half DER, continuing in that direction while it
helps; passes over the keys repeat until a pass changes nothing or ``trials``
evaluations are spent. Ties keep the earlier (closer to base) configuration. There is no
randomness in the search, so the result depends only on the inputs, the base
configuration and the split seed.

The front end (audio loading and MFCCs, :meth:`Diarizer.extract`) does not depend on
the searched keys (unless ``audio.*`` or ``features.*`` keys are searched), so each
worker caches the features per recording and front-end configuration
(:attr:`Features.front_end`): a trial costs only speech detection, clustering and
resegmentation.

DER is the set's total error time over its total scored time (:func:`diarize.metrics.evaluate`),
by default in the "fair" condition: collar 0.25 s on each side of every reference
boundary, overlapped speech not scored.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import warnings
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ._threads import pipeline_threads, worker_environment
from .audio import AUDIO_SUFFIXES
from .batch import Recording, kept_warnings, recording
from .config import Config, current_key, did_you_mean, toml_text, toml_value
from .errors import ConfigError, DiarizeError
from .names import output_name, printable, uri_for
from .rttm import FileKey, read_rttm, read_uem
from .workers import Pool, exit_text

__all__ = ["tune", "TuneResult", "Trial", "find_recordings", "split_recordings",
           "search_grid", "format_toml", "format_report", "DEFAULT_PARAMS", "DEFAULT_TRIALS"]

DEFAULT_PARAMS = ("cluster.link_threshold", "reseg.switch_penalty", "reseg.decoder_min_turn",
                  "sad.threshold")
"""The keys searched by default: the ones that move DER most (speaker count, turn
granularity, speech/non-speech balance)."""

DEFAULT_TRIALS = 16
"""Default number of evaluated configurations (besides the base)."""

MULTIPLIERS = (0.6, 0.8, 1.0, 1.25, 1.6)
"""Default grid of a numeric key: these multiples of its base value."""

GRIDS: dict[str, tuple[str, tuple[float, ...]]] = {
    # key: ("mul" | "add", steps) around the base value; the base is always on the grid
    "cluster.link_threshold": ("add", (-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3)),
    "cluster.bic_penalty": ("mul", (0.6, 0.75, 0.9, 1.0, 1.1, 1.25, 1.6)),
    # the veto's default sits on a plateau about 0.07 wide (docs/stability.md); noisy
    # audio needs it lower
    "cluster.link_bic_veto": ("add", (-0.12, -0.08, -0.04, 0.0, 0.04, 0.08, 0.12)),
    "reseg.switch_penalty": ("mul", (0.4, 0.6, 0.8, 1.0, 1.25, 1.6, 2.5)),
    "reseg.decoder_min_turn": ("mul", (0.4, 0.6, 0.8, 1.0, 1.25, 1.6, 2.0)),
    "sad.threshold": ("add", (-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5)),
}
"""Search grid of the default keys: multiples of (``mul``) or offsets to (``add``) the
base value."""

SIGNIFICANT_DIGITS = 4
"""Grid values are rounded to this many significant digits (readable TOML)."""

_CACHE_LIMIT_BYTES = 1 << 30  # per process


# ---------------------------------------------------------------------- data

@dataclass
class Trial:
    """One evaluated configuration."""

    overrides: dict[str, Any]
    """Keys that differ from the base configuration."""
    der: float
    """DER (%) of the tuning half."""
    failed: int = 0
    """Recordings the pipeline failed on (scored as all speech missed)."""


@dataclass
class TuneResult:
    """What :func:`tune` found."""

    overrides: dict[str, Any]
    """The chosen values that differ from the base (empty: the base was best)."""
    params: list[str]
    """The searched keys."""
    base_values: dict[str, Any]
    """The base value of each searched key."""
    tuning: list[str]
    """Uris of the tuning half."""
    heldout: list[str]
    """Uris of the held-out half."""
    base_tuning_der: float
    tuned_tuning_der: float
    base_heldout_der: float
    tuned_heldout_der: float
    trials: list[Trial] = field(default_factory=list)
    """Every evaluated configuration on the tuning half, the base first."""
    collar: float = 0.25
    skip_overlap: bool = True
    seed: int = 0
    skipped: list[str] = field(default_factory=list)
    """Audio files skipped for lack of a reference."""
    base_heldout_failed: int = 0
    """Held-out recordings the pipeline failed on with the base configuration (scored as
    all speech missed)."""
    tuned_heldout_failed: int = 0
    """Held-out recordings the pipeline failed on with the tuned values (equal to
    :attr:`base_heldout_failed` when nothing changed)."""
    failures: dict[str, str] = field(default_factory=dict)
    """Uri -> error message of every recording that failed in any run (the first message)."""

    @property
    def heldout_improved(self) -> bool:
        """True if the tuned values do not make the held-out DER worse."""
        return self.tuned_heldout_der <= self.base_heldout_der

    def config(self, base: Config) -> Config:
        """`base` with the chosen values."""
        return base.replace(**self.overrides) if self.overrides else base


# ------------------------------------------------------------------ recordings

def _load_references(ref: Path) -> Callable[[str], dict | None]:
    """A lookup uri -> reference turns, from a folder of ``<uri>.rttm`` or one RTTM file."""
    if ref.is_dir():
        def lookup(uri: str) -> dict | None:
            path = ref / output_name(uri, ".rttm")
            if not path.is_file():
                return None
            turns = read_rttm(path)
            keys = [k for k in turns if k.uri == uri] or list(turns)
            return {k: turns[k] for k in keys} if keys else {FileKey(uri): []}
        return lookup
    if not ref.exists():
        raise ConfigError(f"{ref}: no such reference file or folder")
    everything = read_rttm(ref)

    def lookup_file(uri: str) -> dict | None:
        keys = [k for k in everything if k.uri == uri]
        return {k: everything[k] for k in keys} if keys else None
    return lookup_file


def find_recordings(audio_dir: str | os.PathLike, ref: str | os.PathLike
                    ) -> tuple[list[Recording], list[str]]:
    """Recordings of `audio_dir` that have a reference, sorted by uri, and the skipped files.

    `ref` is a folder of ``<uri>.rttm`` files (it may be `audio_dir` itself) or one RTTM
    file holding every recording. Raises :class:`ConfigError` if `audio_dir` is not a folder.
    """
    audio_dir = Path(audio_dir)
    if not audio_dir.is_dir():
        raise ConfigError(f"{audio_dir}: no such folder")
    lookup = _load_references(Path(ref))
    found: list[Recording] = []
    skipped: list[str] = []
    for path in sorted(p for p in audio_dir.iterdir()
                       if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES):
        uri = uri_for(path)
        reference = lookup(uri)
        if reference is None:
            skipped.append(str(path))
        else:
            found.append(recording(path, source=str(audio_dir), uri=uri, reference=reference))
    found.sort(key=lambda r: (r.uri, r.path))
    return found, skipped


def split_recordings(uris: Sequence[str], seed: int = 0) -> tuple[list[str], list[str]]:
    """Deterministic (tuning, held-out) split of `uris`; the tuning half gets the odd one.

    Each half is returned sorted.
    """
    order = sorted(uris, key=lambda u: (hashlib.sha256(f"{seed}:{u}".encode()).hexdigest(), u))
    n_tune = len(order) - len(order) // 2
    return sorted(order[:n_tune]), sorted(order[n_tune:])


def _split_sets(audio_dir: str | os.PathLike, ref_dir: str | os.PathLike, *, seed: int,
                log: Callable[[str], None]
                ) -> tuple[list[Recording], list[Recording], list[str]]:
    """The recordings of `audio_dir` that have a reference, split into the tuning and the
    held-out half (:func:`split_recordings`).

    Parameters
    ----------
    audio_dir : path-like
        Folder of recordings.
    ref_dir : path-like
        Folder of ``<uri>.rttm`` references (may be `audio_dir`), or one RTTM file.
    seed : int, keyword-only
        Seed of the split.
    log : callable, keyword-only
        Told of each audio file skipped for lack of a reference, one line each.

    Returns
    -------
    tuning : list of Recording
        The tuning half, sorted by uri (it gets the odd recording of an odd count).
    heldout : list of Recording
        The held-out half, sorted by uri.
    skipped : list of str
        The audio files without a reference.

    Raises
    ------
    ConfigError
        `audio_dir` is not a folder, `ref_dir` does not exist, fewer than 2 recordings
        have a reference, or two of them share a uri (the split and the scores are by uri).
    RTTMError
        A reference file is malformed.
    """
    recordings, skipped = find_recordings(audio_dir, ref_dir)
    for path in skipped:
        log(f"note: {printable(str(path))}: no reference, skipped")
    if len(recordings) < 2:
        raise ConfigError(f"{audio_dir}: need at least 2 recordings with a reference to tune, "
                          f"found {len(recordings)}")
    uris = [r.uri for r in recordings]
    if len(set(uris)) != len(uris):
        dup = sorted({u for u in uris if uris.count(u) > 1})
        raise ConfigError(f"{audio_dir}: several recordings share the file id {dup[0]!r}")
    tune_uris, held_uris = split_recordings(uris, seed)
    by_uri = {r.uri: r for r in recordings}
    return [by_uri[u] for u in tune_uris], [by_uri[u] for u in held_uris], skipped


# ------------------------------------------------------------------ search space

def _get(cfg: Config, key: str) -> Any:
    target: Any = cfg
    for part in key.split("."):
        if is_dataclass(target) and part in {f.name for f in fields(target)}:
            target = getattr(target, part)
        else:
            raise ConfigError(f"params: unknown configuration key {key!r}{did_you_mean(key)}")
    if is_dataclass(target):
        raise ConfigError(f"params: {key!r} is a section, not a value")
    return target


def _round(x: float) -> float:
    return float(f"{x:.{SIGNIFICANT_DIGITS}g}")


def search_grid(key: str, base_value: Any) -> list[Any]:
    """The sorted candidate values of `key` around `base_value` (which is on the grid)."""
    if isinstance(base_value, bool):
        return [False, True]
    if not isinstance(base_value, (int, float)) or base_value is None:
        raise ConfigError(f"{key} cannot be tuned: only numbers and true/false are searched")
    kind, steps = GRIDS.get(key, ("mul", MULTIPLIERS))
    if kind == "mul" and base_value == 0:
        kind, steps = "add", tuple(m - 1.0 for m in MULTIPLIERS)
    if kind == "add":
        raw = [base_value + s for s in steps]
    else:
        raw = [base_value * m for m in steps]
    values: list[Any]
    if isinstance(base_value, int):
        values = [max(1, int(round(v))) for v in raw] + [base_value]
    else:
        values = [_round(v) for v in raw] + [float(base_value)]
    return sorted(set(values))


def _check_search(base: Config | None, params: Sequence[str], *, trials: int, collar: float
                  ) -> tuple[Config, list[str], dict[str, Any], dict[str, list[Any]]]:
    """:func:`tune`'s arguments checked, and the search space they give.

    Parameters
    ----------
    base : Config or None
        Starting configuration (None: ``Config()``).
    params : sequence of str
        Dotted keys to search, as given (blank entries ignored, old names mapped to their
        current ones, removed keys left out, repeats dropped).
    trials : int, keyword-only
        Configurations to evaluate besides the base.
    collar : float, keyword-only
        Seconds unscored on each side of every reference boundary.

    Returns
    -------
    base : Config
        `base` validated.
    params : list of str, length P
        The keys to search, in the order given.
    base_values : dict of str to Any, P items
        The base value of each key.
    grids : dict of str to list, P items
        The sorted candidate values of each key (:func:`search_grid`) that the
        configuration accepts.

    Raises
    ------
    ConfigError
        A bad argument, no key left, an unknown key, a section or a non-numeric key.
    ModelError
        A model file `base` names cannot be loaded.

    Warns
    -----
    DeprecatedKeyWarning
        A key of `params` under an old name or a removed key.
    """
    from .models import check_model_files

    base = (base if base is not None else Config()).validate()
    check_model_files(base)  # once, before any work: not once per recording and trial
    if trials < 0:
        raise ConfigError(f"trials must be >= 0, got {trials}")
    if not collar >= 0:
        raise ConfigError(f"collar must be >= 0, got {collar}")
    named = (current_key(p.strip(), source="params") for p in params if p.strip())
    keys = list(dict.fromkeys(p for p in named if p is not None))
    if not keys:
        raise ConfigError("no parameters to tune")
    base_values = {p: _get(base, p) for p in keys}
    grids = {p: search_grid(p, v) for p, v in base_values.items()}
    for p, grid in grids.items():
        # reject a grid the configuration refuses (e.g. a negative value) early, one key at a time
        grids[p] = [v for v in grid if _valid(base, p, v)]
    return base, keys, base_values, grids


def _valid(base: Config, key: str, value: Any) -> bool:
    """True if the configuration accepts `value` for `key` (:meth:`Config.replace`)."""
    try:
        base.replace(**{key: value})
        return True
    except ConfigError:
        return False


# ------------------------------------------------------------------ evaluation

# Each process's features of the recordings it diarized, by (path, front end): a trial
# changes no front-end key (unless audio.* or features.* are searched), so it costs only
# speech detection, clustering and resegmentation. Per process, as the workers of the
# pool live for the whole search.
_CACHE: dict[tuple, Any] = {}
_CACHE_BYTES = 0

#: Modules the pool's fork server imports once for all workers.
FORKSERVER_PRELOAD = ("diarize.tune", "diarize.pipeline")


@dataclass(frozen=True)
class _Task:
    """One recording to diarize with the base configuration plus overrides (picklable)."""

    path: str
    uri: str
    base: Config
    overrides: tuple


#: What diarizing one recording gives: its turns, an error message or None, and the
#: warnings it raised (one line each; :func:`diarize.batch.kept_warnings`).
_Outcome = tuple[list, "str | None", tuple[str, ...]]


def _diarize_one(task: _Task) -> _Outcome:
    """Diarize one recording (:data:`_Outcome`). Never raises."""
    # One BLAS thread for the whole task, cache look-up included, as in Diarizer calls.
    with pipeline_threads(), kept_warnings() as warned:
        turns, err = _diarize_cached(task)
    return turns, err, tuple(warned)


def _diarize_cached(task: _Task) -> tuple[list, str | None]:
    global _CACHE_BYTES
    from .pipeline import Diarizer

    try:
        cfg = task.base.replace(**dict(task.overrides)) if task.overrides else task.base
        diarizer = Diarizer(cfg, keep_models=False)  # the turns only
        key = (task.path, diarizer.front_end)
        features = _CACHE.get(key)
        if features is None:
            features = diarizer.extract(task.path)
            if _CACHE_BYTES + features.nbytes <= _CACHE_LIMIT_BYTES:
                _CACHE[(task.path, features.front_end)] = features
                _CACHE_BYTES += features.nbytes
        result = diarizer.diarize_features(features, uri=task.uri)
        return list(result.turns), None
    except (DiarizeError, MemoryError, ValueError, RuntimeError) as exc:
        return [], f"{type(exc).__name__}: {exc}"


def _died(task: _Task, exitcode: int | None) -> _Outcome:
    """The outcome of a task whose worker process died on it (killed, out of memory)."""
    return ([], f"WorkerDied: {task.path}: worker process died while diarizing "
                f"({exit_text(exitcode)})", ())


def _clear_cache() -> None:
    global _CACHE_BYTES
    _CACHE.clear()
    _CACHE_BYTES = 0


class _Runner:
    """Diarizes lists of recordings with overrides, in this process or on a
    :class:`diarize.workers.Pool` kept for the whole search (a dead worker fails only the
    recording it held)."""

    def __init__(self, base: Config, jobs: int) -> None:
        self.base = base
        self.pool: Pool | None = None
        self._environment = contextlib.ExitStack()
        if jobs > 1:
            # Single-threaded BLAS in the workers, as in batch; kept set while the pool
            # lives, for the workers that replace dead ones.
            self._environment.enter_context(worker_environment())
            self.pool = Pool(jobs=jobs, work=_diarize_one, died=_died,
                             preload=FORKSERVER_PRELOAD)

    def run(self, recordings: Sequence[Recording], overrides: Mapping[str, Any]) -> list:
        frozen = tuple(sorted(overrides.items()))
        tasks = [_Task(str(r.path), r.uri, self.base, frozen) for r in recordings]
        if self.pool is not None:
            return self.pool.map(tasks)
        return [_diarize_one(t) for t in tasks]

    def close(self) -> None:
        try:
            if self.pool is not None:
                self.pool.close()
            else:
                _clear_cache()  # the features were kept in this process
        finally:
            self._environment.close()


def _set_der(recordings: Sequence[Recording], outputs: Sequence[_Outcome],
             uem: Mapping | None, collar: float, skip_overlap: bool) -> tuple[float, int]:
    """DER (%) of a set: total error over total scored time; and the number of failures."""
    from .metrics import ScoringWarning, evaluate

    reference: dict = {}
    hypothesis: dict = {}
    for rec, (turns, _, _) in zip(recordings, outputs):
        for key, ref_turns in (rec.reference or {}).items():
            reference[key] = ref_turns
            hypothesis[key] = turns  # scored under the reference's key(s), as benchmark.py does
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScoringWarning)
        evaluation = evaluate(reference, hypothesis, uem=uem, collar=collar,
                              skip_overlap=skip_overlap)
    return evaluation.total.der, sum(err is not None for _, err, _ in outputs)


# ------------------------------------------------------------------ the search

def _silent(message: str) -> None:
    pass


def tune(audio_dir: str | os.PathLike, ref_dir: str | os.PathLike, *,
         params: Sequence[str] = DEFAULT_PARAMS, trials: int = DEFAULT_TRIALS,
         jobs: int | None = None, base: Config | None = None, seed: int = 0,
         collar: float = 0.25, skip_overlap: bool = True,
         uem: str | os.PathLike | None = None,
         log: Callable[[str], None] | None = None) -> TuneResult:
    """Search `params` on half the recordings of `audio_dir`; score on the other half.

    Parameters
    ----------
    audio_dir : path-like
        Folder of recordings (``*.wav``, ``*.flac``, ...).
    ref_dir : path-like
        Folder of ``<uri>.rttm`` references (may be `audio_dir`), or one RTTM file.
    params : sequence of str, keyword-only
        Dotted configuration keys to search (numbers or booleans).
    trials : int, keyword-only
        Configurations evaluated on the tuning half, besides the base.
    jobs : int, keyword-only
        Worker processes (default: all cores, at most one per recording).
    base : Config, keyword-only
        Starting configuration (default: ``Config()``).
    seed : int, keyword-only
        Seed of the tuning/held-out split (the search itself has no randomness).
    collar, skip_overlap : keyword-only
        Scoring condition of the DER (default: collar 0.25 s per side, overlap skipped).
    uem : path-like, keyword-only
        UEM file or folder of ``.uem`` files: the scored regions.
    log : callable, keyword-only
        Called with one line per step (progress); default silent.

    Returns
    -------
    TuneResult

    Raises
    ------
    ConfigError
        Fewer than 2 recordings with a reference, an unknown or non-numeric key, bad
        arguments.
    ModelError
        A model file the base configuration names cannot be loaded.
    RTTMError
        A reference or UEM file is malformed.

    Warns
    -----
    DeprecatedKeyWarning
        A key of `params` under an old name (searched under its new one) or a removed
        key (left out).
    """
    log = log or _silent
    # every argument checked before any recording is read, and the recordings before any
    # is diarized: a mistake costs no work
    base, params, base_values, grids = _check_search(base, params, trials=trials,
                                                     collar=collar)
    tune_set, held_set, skipped = _split_sets(audio_dir, ref_dir, seed=seed, log=log)
    uem_map = read_uem(uem) if uem is not None else None
    tune_uris = [r.uri for r in tune_set]
    held_uris = [r.uri for r in held_set]

    jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    jobs = max(1, min(jobs, len(tune_set) + len(held_set)))
    runner = _Runner(base, jobs)
    failures: dict[str, str] = {}
    warned: set[str] = set()

    def run(recs: Sequence[Recording], overrides: Mapping[str, Any]) -> list:
        """Diarize `recs`; log each recording's first failure, and each warning once
        (every trial diarizes the same recordings again)."""
        outputs = runner.run(recs, overrides)
        for rec, (_, err, lines) in zip(recs, outputs):
            if err is not None and rec.uri not in failures:
                failures[rec.uri] = err
                log(f"note: {rec.path}: failed ({' '.join(err.split())}); "
                    "scored as all speech missed")
            for line in lines:
                if line not in warned:
                    warned.add(line)
                    log(f"warning: {line}")
        return outputs

    try:
        seen: dict[tuple, float] = {}
        history: list[Trial] = []

        def score(values: dict[str, Any]) -> float:
            overrides = {p: v for p, v in values.items() if v != base_values[p]}
            key = tuple(sorted(overrides.items()))
            if key in seen:
                return seen[key]
            der, failed = _set_der(tune_set, run(tune_set, overrides), uem_map,
                                   collar, skip_overlap)
            seen[key] = der
            history.append(Trial(overrides, der, failed))
            label = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "base"
            note = f" ({failed} failed)" if failed else ""
            log(f"trial {len(history) - 1}/{trials}: {label}: DER {der:.2f}%{note}")
            return der

        current = dict(base_values)
        best = score(current)
        base_tuning = best
        budget = lambda: len(history) - 1 < trials  # noqa: E731
        improved = True
        while improved and budget():
            improved = False
            for p in params:
                grid = grids[p]
                if current[p] not in grid or len(grid) < 2 or not budget():
                    continue
                i = grid.index(current[p])
                # try both neighbours; step on in the direction that helped
                moves = [(j, d) for j, d in ((i + 1, 1), (i - 1, -1)) if 0 <= j < len(grid)]
                for j, direction in moves:
                    moved = False
                    while 0 <= j < len(grid) and budget():
                        cand = dict(current, **{p: grid[j]})
                        der = score(cand)
                        if der < best - 1e-9:
                            best, current, moved, improved = der, cand, True, True
                            j += direction
                        else:
                            break
                    if moved:
                        break  # the other direction started from a worse point
        overrides = {p: v for p, v in current.items() if v != base_values[p]}
        log(f"held-out half ({len(held_set)} recordings): base and tuned")
        base_held, failed = _set_der(held_set, run(held_set, {}), uem_map, collar, skip_overlap)
        if overrides:
            tuned_held, failed_t = _set_der(held_set, run(held_set, overrides), uem_map,
                                            collar, skip_overlap)
        else:
            tuned_held, failed_t = base_held, failed
        if failed or failed_t:
            log(f"held-out half: {failed} recordings failed with the base configuration, "
                f"{failed_t} with the tuned values")
    finally:
        runner.close()
    return TuneResult(
        overrides=overrides, params=params, base_values=base_values,
        tuning=tune_uris, heldout=held_uris,
        base_tuning_der=base_tuning, tuned_tuning_der=best,
        base_heldout_der=base_held, tuned_heldout_der=tuned_held,
        trials=history, collar=collar, skip_overlap=skip_overlap, seed=seed, skipped=skipped,
        base_heldout_failed=failed, tuned_heldout_failed=failed_t, failures=failures)


# ------------------------------------------------------------------ output

def format_toml(result: TuneResult) -> str:
    """The tuned keys as a TOML file for ``--config``, with a header saying how they were found."""
    cond = (f"collar {result.collar:g} s per side, overlap "
            f"{'skipped' if result.skip_overlap else 'scored'}")
    lines = [
        "# gmm-diarize configuration written by `diarize tune`; pass it with --config.",
        f"# Searched: {', '.join(result.params)} ({len(result.trials) - 1} trials, split seed {result.seed}).",
        f"# Tuned on {len(result.tuning)} recordings, held out {len(result.heldout)}; DER % ({cond}):",
        f"#   tuning half:   base {result.base_tuning_der:.2f}  tuned {result.tuned_tuning_der:.2f}",
        f"#   held-out half: base {result.base_heldout_der:.2f}  tuned {result.tuned_heldout_der:.2f}",
    ]
    failures = _failure_summary(result)
    if failures:
        lines.append(f"# {failures}")
    if not result.overrides:
        lines.append("# No searched value beat the base configuration: nothing to change.")
    elif not result.heldout_improved:
        lines.append("# WARNING: worse than the base on the held-out half; the gain did not generalise.")
    lines.append("# Only the changed keys are listed; everything else comes from the base "
                 "configuration (defaults, --preset, --config).")
    data: dict[str, Any] = {k: v for k, v in sorted(result.overrides.items()) if "." not in k}
    notes = {}
    for k, v in sorted(result.overrides.items()):
        if "." in k:
            sec, name = k.split(".", 1)
            data.setdefault(sec, {})[name] = v
        base = result.base_values.get(k)
        notes[k] = f"was {'(not set)' if base is None else toml_value(base)}"
    body = toml_text(data, notes=notes)
    return "\n".join(lines) + "\n" + ("\n" + body if body else "")


def _failure_summary(result: TuneResult) -> str:
    """One line counting the failed recordings of each half and configuration, or ``""``."""
    tuning_base = result.trials[0].failed if result.trials else 0
    tuning_tuned = next((t.failed for t in result.trials if t.overrides == result.overrides),
                        tuning_base)
    counts = (tuning_base, tuning_tuned, result.base_heldout_failed, result.tuned_heldout_failed)
    if not any(counts) and not result.failures:
        return ""
    return (f"failed recordings, scored as all speech missed: tuning half {counts[0]} base, "
            f"{counts[1]} tuned; held-out half {counts[2]} base, {counts[3]} tuned")


def format_report(result: TuneResult) -> str:
    """A small table: base vs tuned DER on the tuning and held-out halves, and the changes."""
    rows = [("", "recordings", "base DER%", "tuned DER%", "change"),
            ("tuning", str(len(result.tuning)), f"{result.base_tuning_der:.2f}",
             f"{result.tuned_tuning_der:.2f}", f"{result.tuned_tuning_der - result.base_tuning_der:+.2f}"),
            ("held-out", str(len(result.heldout)), f"{result.base_heldout_der:.2f}",
             f"{result.tuned_heldout_der:.2f}", f"{result.tuned_heldout_der - result.base_heldout_der:+.2f}")]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])])
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if result.overrides:
        lines.append("")
        for k, v in result.overrides.items():
            lines.append(f"{k}: {result.base_values[k]} -> {v}")
    else:
        lines.append("")
        lines.append("no searched value beat the base configuration on the tuning half")
    if result.overrides and not result.heldout_improved:
        lines.append("WARNING: the tuned values are WORSE than the base on the held-out half "
                     f"({result.tuned_heldout_der:.2f}% vs {result.base_heldout_der:.2f}%): "
                     "the gain on the tuning half did not generalise; consider keeping the base.")
    failures = _failure_summary(result)
    if failures:
        lines.append(f"WARNING: {failures}:")
        lines.extend(f"  {uri}: {' '.join(msg.split())}" for uri, msg in sorted(result.failures.items()))
    lines.append(f"held-out DER is the honest estimate (the tuning half chose the values); "
                 f"{len(result.trials) - 1} trials, collar {result.collar:g} s, overlap "
                 f"{'skipped' if result.skip_overlap else 'scored'}.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: diarize tune AUDIO_DIR --ref REF_DIR")
