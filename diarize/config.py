"""The configuration: every tunable number of the pipeline, in one dataclass.

A :class:`Config` is made of one section per stage. It is loaded from TOML files
(``configs/*.toml``, or a user's file) whose tables have the section names below; a
file only needs the keys it changes. Unknown keys, wrong types and out-of-range values
raise :class:`~diarize.errors.ConfigError`.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import ConfigError


@dataclass
class AudioConfig:
    """Audio loading."""

    sample_rate: int = 16000
    """Rate (Hz) every input is resampled to."""
    block_seconds: float = 30.0
    """Audio is read, downmixed and resampled in blocks of this many seconds."""


@dataclass
class FeatureConfig:
    """MFCC front end."""

    win_length: float = 0.025
    """Analysis window (seconds)."""
    hop_length: float = 0.010
    """Frame step (seconds)."""
    n_fft: int = 512
    """FFT size (samples; raised to the next power of two above the window)."""
    n_mels: int = 40
    """Mel bands (librosa's Slaney filterbank)."""
    n_mfcc: int = 20
    """Cepstra kept, c0 included (c0 is dropped for speaker modelling)."""
    fmin: float = 20.0
    """Lower filterbank edge (Hz)."""
    fmax: float = 7600.0
    """Upper filterbank edge (Hz); clipped to the Nyquist rate."""
    deltas: bool = False
    """Append first-order deltas."""
    delta_width: int = 9
    """Frames in the delta regression window."""
    cmvn: bool = True
    """Mean/variance normalise each coefficient over the recording's speech frames."""
    pre_emphasis: float = 0.97
    """First-order pre-emphasis coefficient applied before the FFT."""


@dataclass
class SadConfig:
    """Speech activity detection."""

    method: str = "model"
    """'model' (shipped speech/non-speech GMMs on MFCCs and relative level, see docs/sad.md)
    or 'energy' (2-GMM on log energy)."""
    min_speech: float = 0.25
    """Speech runs shorter than this (seconds) are dropped."""
    min_silence: float = 0.75
    """Non-speech gaps shorter than this (seconds) are filled."""
    smooth_frames: int = 11
    """'energy': median-filter length (frames) of the frame decision."""
    energy_floor_db: float = -95.0
    """Frames quieter than this (dBFS) are never speech (digital silence, dither)."""
    min_dynamic_range_db: float = 12.0
    """'energy': if the 2-GMM energy classes are closer than this, the signal is treated as
    all one class."""
    threshold: float = 2.0
    """'model': frames whose window-averaged speech/non-speech log-likelihood ratio exceeds
    this are speech."""
    llr_window: float = 0.5
    """'model': length (seconds) of the moving average applied to the frame log-likelihood ratio."""
    model_path: str = ""
    """'model': a model file from scripts/train_sad.py; empty for the shipped one."""


@dataclass
class ClusterConfig:
    """Speaker modelling, clustering and speaker-count selection."""

    count_method: str = "bic"
    """'bic' (agglomerative BIC) or 'dp' (variational Dirichlet-process mixture)."""
    segment_seconds: float = 1.0
    """Length of the initial speech segments that are clustered bottom-up."""
    stop_rule: str = "local"
    """How BIC picks the count: 'global' (the minimum of the whole clustering's BIC over
    min..max speakers) or 'local' (stop merging at the first merge whose BIC gain is
    positive)."""
    bic_penalty: float = 0.2
    """Weight of the BIC model-complexity penalty per second**penalty_exponent of speech. With
    UBM linking, BIC merging over-segments on purpose (0.2); BIC alone counts best at 0.32."""
    penalty_exponent: float = 0.5
    """lambda = bic_penalty * speech_seconds ** penalty_exponent: the log-likelihood gain of
    splitting one voice grows with the amount of speech faster than BIC's log n penalty, so a
    fixed lambda over-counts long recordings and under-counts short ones."""
    dp_concentration: float = 0.01
    """count_method 'dp': Dirichlet-process concentration (small: few speakers a priori)."""
    dp_min_weight: float = 0.05
    """count_method 'dp': components weighing less than this are not speakers."""
    dp_max_iter: int = 200
    """count_method 'dp': variational iterations."""
    max_bic_seconds: float = 300.0
    """Recordings with more speech than this (seconds) are scored by BIC as if they had this
    much, with the same statistics, so that hours of speech are not split into extra speakers."""
    linear_merge: bool = True
    """First merge neighbouring segments that BIC says are one voice."""
    max_segments: int = 2000
    """Bound on the number of initial segments (long recordings use longer segments)."""
    covariance: str = "full"
    """Covariance of the per-cluster Gaussian in BIC merging: 'full' or 'diag'."""
    link_method: str = "ubm"
    """Second clustering stage after BIC merging, which decides the number of speakers:
    'ubm' (UBM MAP-adapted speaker models, see diarize.speakers and link_score) or 'none'
    (the BIC count is final; then use bic_penalty 0.32, the BIC-only setting)."""
    link_threshold: float = 5.0
    """'ubm' linking: clusters scoring above this are merged: the cross-likelihood ratio
    (per-frame log-likelihood ratio, summed both ways; with link_norm 'cohort' each ratio in
    standard deviations of the cluster's ratios under the cohort's voices) for 'clr', the
    cosine similarity for 'cosine'."""
    relevance_factor: float = 16.0
    """'ubm' linking: MAP relevance factor (frames a UBM component must see before the data
    outweigh the prior)."""
    max_initial_clusters: int = 40
    """'ubm' linking: most clusters BIC merging may hand to the linking stage."""
    link_score: str = "clr"
    """'ubm' linking: how two clusters are compared: 'clr' (cross-likelihood ratio of
    MAP-adapted models) or 'cosine' (cosine of normalised supervectors, average linkage)."""
    reseg_before_link: str = "long"
    """'clr' linking: resegment the BIC clusters (see [reseg]) before comparing them:
    'always', 'never', or 'long' (only when the recording has so much speech that its
    initial segments are longer than segment_seconds, see max_segments: such segments
    straddle speaker turns)."""
    link_norm: str = "cohort"
    """'clr' linking: score normalisation: 'none' or 'cohort' (each cluster's log-likelihood
    ratios read against its ratios under a cohort of training speakers' models shipped with
    the UBM: Z-norm)."""
    link_max_frames: int = 2000
    """'clr' linking: frames per cluster scored (evenly spaced beyond this)."""
    link_top_components: int = 5
    """'clr' linking: UBM components scored per frame."""
    ubm_path: str = ""
    """'ubm' linking: a model file from scripts/train_ubm.py; empty for the shipped one."""


@dataclass
class ResegConfig:
    """Viterbi resegmentation with per-speaker GMMs."""

    n_components: int = 8
    """Gaussians per speaker model."""
    iterations: int = 2
    """Rounds of (fit speaker GMMs, Viterbi); 0 keeps the clustering's labels as they are."""
    switch_penalty: float = 50.0
    """Log-likelihood cost of changing speaker between frames."""
    min_turn: float = 0.5
    """Minimum turn duration (seconds)."""
    smooth_frames: int = 20
    """Frames whose log-likelihoods are averaged before Viterbi (posterior smoothing)."""
    shortest_turn: float = 0.25
    """No output turn is shorter than this (seconds): a shorter run of one speaker goes to
    the longer neighbouring speaker it touches, or is dropped between two pauses. 0.25 s is
    the speech detector's own shortest speech run (sad.min_speech): nothing shorter is a
    turn anyone can hear."""
    min_speaker: float = 2.0
    """A cluster with less speech than this (seconds) is not kept as a speaker: its frames go
    to the speakers the decoder prefers."""
    max_iter: int = 10
    """EM iterations per speaker model fit."""
    tol: float = 1e-3
    """EM convergence threshold (mean log-likelihood gain per frame)."""
    max_frames: int = 10000
    """Frames per speaker used to fit its model (subsampled evenly beyond this)."""


#: Numbers that may be zero (every other number must be positive) ...
_ZERO_OK = frozenset({"pre_emphasis", "min_speech", "min_silence", "min_turn", "min_speaker",
                      "shortest_turn",
                      "switch_penalty", "fmin", "bic_penalty", "min_dynamic_range_db",
                      "iterations", "penalty_exponent", "relevance_factor"})
#: ... and numbers of any sign (levels in dB, log-likelihood-ratio thresholds).
_SIGNED = frozenset({"energy_floor_db", "threshold", "link_threshold"})


@dataclass
class Config:
    """All tunable numbers of the pipeline."""

    seed: int = 0
    """Random seed of every random choice (same input, config and seed: same output)."""
    num_speakers: int | None = None
    """Known number of speakers (overrides min/max)."""
    min_speakers: int = 1
    """Smallest speaker count considered."""
    max_speakers: int = 10
    """Largest speaker count considered."""
    audio: AudioConfig = field(default_factory=AudioConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    sad: SadConfig = field(default_factory=SadConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    reseg: ResegConfig = field(default_factory=ResegConfig)

    # ------------------------------------------------------------------ validation
    def validate(self) -> "Config":
        """Check ranges; raise :class:`ConfigError` naming the bad key. Returns self."""
        def positive(name: str, value: float, *, allow_zero: bool = False) -> None:
            if value is None:
                return
            if value < 0 or (value == 0 and not allow_zero):
                raise ConfigError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")

        positive("min_speakers", self.min_speakers)
        positive("max_speakers", self.max_speakers)
        positive("num_speakers", self.num_speakers)  # type: ignore[arg-type]
        positive("seed", self.seed, allow_zero=True)
        if self.min_speakers > self.max_speakers:
            raise ConfigError(
                f"min_speakers ({self.min_speakers}) is greater than max_speakers ({self.max_speakers})"
            )
        for sec in fields(self):
            section = getattr(self, sec.name)
            if not is_dataclass(section):
                continue
            for f in fields(section):
                v = getattr(section, f.name)
                if isinstance(v, (int, float)) and not isinstance(v, bool) \
                        and f.name not in _SIGNED:
                    positive(f"{sec.name}.{f.name}", v, allow_zero=f.name in _ZERO_OK)
        if self.sad.method not in ("energy", "model"):
            raise ConfigError(f"sad.method must be 'energy' or 'model', got {self.sad.method!r}")
        if self.cluster.count_method not in ("bic", "dp"):
            raise ConfigError(
                f"cluster.count_method must be 'bic' or 'dp', got {self.cluster.count_method!r}"
            )
        if self.cluster.stop_rule not in ("global", "local"):
            raise ConfigError(f"cluster.stop_rule must be 'global' or 'local', got {self.cluster.stop_rule!r}")
        if self.cluster.link_method not in ("ubm", "none"):
            raise ConfigError(f"cluster.link_method must be 'ubm' or 'none', got {self.cluster.link_method!r}")
        if self.cluster.reseg_before_link not in ("always", "never", "long"):
            raise ConfigError("cluster.reseg_before_link must be 'always', 'never' or 'long', "
                              f"got {self.cluster.reseg_before_link!r}")
        if self.cluster.link_norm not in ("none", "cohort"):
            raise ConfigError(f"cluster.link_norm must be 'none' or 'cohort', got {self.cluster.link_norm!r}")
        if self.cluster.link_score not in ("clr", "cosine"):
            raise ConfigError(f"cluster.link_score must be 'clr' or 'cosine', got {self.cluster.link_score!r}")
        if self.cluster.covariance not in ("full", "diag"):
            raise ConfigError(f"cluster.covariance must be 'full' or 'diag', got {self.cluster.covariance!r}")
        f = self.features
        if f.fmin >= min(f.fmax, self.audio.sample_rate / 2):
            raise ConfigError(f"features.fmin ({f.fmin}) must be below features.fmax ({f.fmax}) "
                              f"and half the sample rate ({self.audio.sample_rate / 2})")
        if f.delta_width < 3 or f.delta_width % 2 == 0:
            raise ConfigError(f"features.delta_width must be an odd number >= 3, got {f.delta_width}")
        if not 0 <= f.pre_emphasis < 1:
            raise ConfigError(f"features.pre_emphasis must be in [0, 1), got {f.pre_emphasis}")
        if self.features.n_mfcc > self.features.n_mels:
            raise ConfigError("features.n_mfcc must not exceed features.n_mels")
        if self.features.win_length < self.features.hop_length:
            raise ConfigError("features.win_length must be at least features.hop_length")
        return self

    # ------------------------------------------------------------------ conversion
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        """The configuration as TOML text (loadable by :func:`load_config`)."""
        d = self.to_dict()
        out = []
        for k, v in d.items():
            if not isinstance(v, dict):
                if v is None:
                    out.append(f"# {k} = (not set)")
                else:
                    out.append(f"{k} = {_toml_value(v)}")
        for k, v in d.items():
            if isinstance(v, dict):
                out.append(f"\n[{k}]")
                out.extend(f"{kk} = {_toml_value(vv)}" for kk, vv in v.items())
        return "\n".join(out) + "\n"

    def replace(self, **overrides: Any) -> "Config":
        """A copy with top-level or dotted (``"reseg.min_turn"``) keys overridden."""
        data = self.to_dict()
        for key, value in overrides.items():
            parts = key.replace("__", ".").split(".")
            target = data
            for p in parts[:-1]:
                if p not in target or not isinstance(target[p], dict):
                    raise ConfigError(f"unknown configuration key {key!r}")
                target = target[p]
            if parts[-1] not in target:
                raise ConfigError(f"unknown configuration key {key!r}")
            target[parts[-1]] = value
        return config_from_dict(data, source="overrides")


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(v)


def _coerce(value: Any, typ: Any, name: str, source: str) -> Any:
    """Check one value against a field's annotation (given as a string)."""
    t = str(typ).replace(" ", "")
    optional = "None" in t
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{source}: {name} must not be empty")
    if t.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: {name} must be an integer, got {value!r}")
        return value
    if t.startswith("float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: {name} must be a number, got {value!r}")
        return float(value)
    if t.startswith("bool"):
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {name} must be true or false, got {value!r}")
        return value
    if t.startswith("str"):
        if not isinstance(value, str):
            raise ConfigError(f"{source}: {name} must be a string, got {value!r}")
        return value
    return value


def config_from_dict(data: Mapping[str, Any], *, base: Config | None = None,
                     source: str = "config") -> Config:
    """Build a validated :class:`Config` from nested mappings, over `base` (default: defaults).

    Raises
    ------
    ConfigError
        Unknown key, wrong type or out-of-range value; the message names `source` and the key.
    """
    cfg = dataclasses.replace(base) if base is not None else Config()
    # deep copy sections so `base` is never mutated
    for f in fields(cfg):
        v = getattr(cfg, f.name)
        if is_dataclass(v):
            setattr(cfg, f.name, dataclasses.replace(v))
    top = {f.name: f for f in fields(cfg)}
    for key, value in data.items():
        if key not in top:
            raise ConfigError(f"{source}: unknown key {key!r} (known: {', '.join(top)})")
        current = getattr(cfg, key)
        if is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{source}: [{key}] must be a table")
            sub = {f.name: f for f in fields(current)}
            for k2, v2 in value.items():
                if k2 not in sub:
                    raise ConfigError(f"{source}: unknown key '{key}.{k2}' (known: {', '.join(sub)})")
                setattr(current, k2, _coerce(v2, sub[k2].type, f"{key}.{k2}", source))
        else:
            setattr(cfg, key, _coerce(value, top[key].type, key, source))
    try:
        return cfg.validate()
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def presets_dir() -> Path:
    """Folder holding the shipped preset TOML files (``configs/`` of the repository).

    The repository's ``configs/`` folder is installed as the package ``diarize.configs``
    (see pyproject.toml), so presets are found both in a checkout and in a wheel.
    """
    here = Path(__file__).resolve().parent
    for cand in (here / "configs", here.parent / "configs"):
        if cand.is_dir():
            return cand
    return here.parent / "configs"


def available_presets() -> list[str]:
    return sorted(p.stem for p in presets_dir().glob("*.toml"))


def load_config(path: str | os.PathLike | None = None, *, preset: str | None = None,
                base: Config | None = None) -> Config:
    """Load a configuration.

    Parameters
    ----------
    path : path-like, optional
        A TOML file; its keys override the preset (or the defaults).
    preset : str, optional, keyword-only
        Name of a shipped preset (``default``, ``meeting``, ...).
    base : Config, optional, keyword-only
        Starting point instead of the built-in defaults.

    Returns
    -------
    Config
    """
    cfg = base if base is not None else Config()
    if preset is not None:
        p = presets_dir() / f"{preset}.toml"
        if not p.is_file():
            raise ConfigError(
                f"unknown preset {preset!r} (available: {', '.join(available_presets())})"
            )
        cfg = _load_toml(p, cfg)
    if path is not None:
        cfg = _load_toml(Path(path), cfg)
    return cfg


def _load_toml(path: Path, base: Config) -> Config:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from None
    return config_from_dict(data, base=base, source=str(path))
