"""Every configuration key has a range, and values that cannot work are refused up front,
by the API and by every command, with one message naming the key and the allowed range."""

import math
import typing

import numpy as np
import pytest
from click.testing import CliRunner

from diarize.cli import main
from diarize.config import (Config, config_fields, config_from_dict, load_config, range_text,
                            toml_text)
from diarize.errors import ConfigError
from diarize.features import mel_filterbank
from diarize.melscale import empty_bands

NUMERIC = [(key, f, hint) for key, f, hint in config_fields()
           if int in typing.get_args(hint) or hint in (int, float)]
CHOICES = [(key, typing.get_args(hint)) for key, _, hint in config_fields()
           if typing.get_origin(hint) is typing.Literal]


def _nested(key, value):
    section, _, name = key.rpartition(".")
    return {section: {name: value}} if section else {key: value}


def _refused(key, value):
    with pytest.raises(ConfigError) as info:
        config_from_dict(_nested(key, value))
    message = str(info.value)
    assert "\n" not in message
    assert key in message, message
    return message


def test_every_numeric_key_has_a_finite_range():
    assert len(NUMERIC) > 40
    for key, f, _ in NUMERIC:
        lo, hi = f.metadata.get("min"), f.metadata.get("max")
        assert lo is not None and hi is not None, f"{key} has no range"
        assert math.isfinite(lo) and math.isfinite(hi) and lo < hi, key


def test_the_defaults_are_in_range():
    for key, f, _ in NUMERIC:
        section, _, name = key.rpartition(".")
        value = getattr(getattr(Config(), section) if section else Config(), name)
        assert value is None or f.metadata["min"] <= value <= f.metadata["max"], key


@pytest.mark.parametrize("key, f, hint", NUMERIC, ids=[k for k, _, _ in NUMERIC])
def test_out_of_range_values_are_refused_naming_the_key_and_range(key, f, hint):
    is_int = int in typing.get_args(hint) or hint is int
    lo, hi = f.metadata["min"], f.metadata["max"]
    huge = 10 ** 12 if is_int else 1e12
    below = lo if f.metadata.get("exclusive_min") else (lo - 1 if is_int else lo - abs(lo) - 1e-3)
    above = hi if f.metadata.get("exclusive_max") else (hi + 1 if is_int else hi + max(abs(hi), 1) * 1e-3)
    bad = [huge, -huge, below, above]
    if not is_int:
        bad += [math.nan, math.inf, -math.inf]
    if lo > 0 or (lo == 0 and f.metadata.get("exclusive_min")):
        bad += [0, -1]
    if lo >= 0:
        bad.append(-1)
    for value in bad:
        assert range_text(f.metadata) in _refused(key, value)


@pytest.mark.parametrize("key", [k for k, _, _ in NUMERIC])
def test_huge_values_are_refused_from_a_toml_file(key, tmp_path):
    p = tmp_path / "c.toml"
    section, _, name = key.rpartition(".")
    p.write_text((f"[{section}]\n" if section else "") + f"{name} = 1e300\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as info:
        load_config(p)
    assert str(p) in str(info.value)


@pytest.mark.parametrize("key, choices", CHOICES, ids=[k for k, _ in CHOICES])
def test_unknown_choices_are_refused_listing_the_choices(key, choices):
    message = _refused(key, "bogus")
    assert all(repr(c) in message for c in choices)


def test_choices_are_literal_types():
    keys = {k for k, _ in CHOICES}
    assert {"sad.method", "cluster.link_method", "cluster.reseg_before_link", "cluster.covariance", "cluster.link_norm",
            "cluster.stop_rule"} <= keys


@pytest.mark.parametrize("data, words", [
    ({"features": {"n_fft": 1048576}}, r"features.n_fft must be in \[16, 8192\]"),
    ({"features": {"fmin": 4000.0, "fmax": 3000.0}}, "features.fmin"),
    ({"features": {"fmin": 9000.0, "fmax": 12000.0}}, "half the sample rate"),
    ({"features": {"n_mels": 256}}, r"features.n_mels \(256\) .* must be in \[2, \d+\]"),
    ({"features": {"n_mels": 40, "fmin": 300.0, "fmax": 400.0}}, "features.n_mels"),
    ({"features": {"n_mfcc": 30, "n_mels": 20}}, "features.n_mfcc"),
    ({"features": {"win_length": 0.01, "hop_length": 0.02}}, "features.win_length"),
    ({"audio": {"sample_rate": 192000}, "features": {"win_length": 0.1}}, "needs an FFT"),
    ({"features": {"delta_width": 8}}, "odd"),
    ({"features": {"fmin": 300.0, "fmax": 301.0}}, r"features.fmin..fmax \(300..301 Hz\) is too narrow"),
    ({"min_speakers": 5, "max_speakers": 2}, "greater than"),
])
def test_rules_between_keys(data, words):
    with pytest.raises(ConfigError, match=words):
        config_from_dict(data)


def test_the_n_mels_limit_in_the_message_works():
    with pytest.raises(ConfigError) as info:
        config_from_dict({"features": {"n_mels": 256}})
    most = int(str(info.value).rsplit("[2, ", 1)[1].split("]")[0])
    config_from_dict({"features": {"n_mels": most}})
    with pytest.raises(ConfigError):
        config_from_dict({"features": {"n_mels": most + 1}})


@pytest.mark.slow
def test_empty_band_check_matches_the_filterbank():
    rng = np.random.default_rng(0)
    seen_empty = 0
    for _ in range(400):
        sr = int(rng.choice([4000, 8000, 16000, 44100]))
        n_fft = int(rng.choice([16, 64, 256, 512, 2048]))
        n_mels = int(rng.integers(2, 257))
        fmin = float(rng.uniform(0, sr / 2 - 1))
        fmax = float(rng.uniform(fmin + 0.5, sr / 2))
        fb = mel_filterbank(sample_rate=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
        expected = np.flatnonzero(~fb.any(axis=1))
        got = empty_bands(sample_rate=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
        np.testing.assert_array_equal(got, expected)
        seen_empty += len(expected) > 0
    assert 0 < seen_empty < 400


def test_presets_are_valid():
    for name in ("default", "meeting", "telephone", "broadcast"):
        load_config(preset=name).validate()


# ------------------------------------------------------------------ files
def test_toml_file_that_is_not_utf8(tmp_path):
    p = tmp_path / "latin1.toml"
    p.write_bytes("# caf\xe9\nseed = 1\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8") as info:
        load_config(p)
    assert str(p) in str(info.value)


def test_toml_file_that_is_not_toml(tmp_path):
    p = tmp_path / "noise.toml"
    p.write_bytes(bytes(range(32, 127)) * 3)
    with pytest.raises(ConfigError, match="invalid TOML") as info:
        load_config(p)
    assert str(p) in str(info.value) and "\n" not in str(info.value)


def test_a_huge_integer_for_a_float_key_is_refused():
    with pytest.raises(ConfigError, match="reseg.decoder_min_turn"):
        config_from_dict({"reseg": {"decoder_min_turn": 10 ** 400}})


# ------------------------------------------------------------------ speaker hints
def test_with_speakers_raises_max_to_a_known_count():
    cfg = Config().with_speakers(num_speakers=12)
    assert (cfg.num_speakers, cfg.max_speakers) == (12, 12)
    cfg = Config().with_speakers(num_speakers=3)
    assert (cfg.num_speakers, cfg.max_speakers) == (3, 10)
    cfg = Config().with_speakers(num_speakers=12, max_speakers=14)
    assert cfg.max_speakers == 14
    with pytest.raises(ConfigError, match="greater than"):
        Config().with_speakers(min_speakers=5, max_speakers=2)
    with pytest.raises(ConfigError, match="num_speakers"):
        Config().with_speakers(num_speakers=0)


# ------------------------------------------------------------------ the one TOML writer
def test_toml_writer_round_trips(tmp_path):
    cfg = Config().replace(**{"sad.model_path": 'we"ird\\path', "num_speakers": 3})
    p = tmp_path / "c.toml"
    p.write_text(cfg.to_toml(), encoding="utf-8")
    assert load_config(p) == cfg
    text = toml_text({"a": 1, "t": {"b": 0.5, "c": None}}, docs={"t.b": "doc"},
                     notes={"t.b": "was 1"})
    assert text == "a = 1\n\n[t]\n# doc\nb = 0.5  # was 1\n# c = (not set)\n"
    assert toml_text({}) == ""


# ------------------------------------------------------------------ the command line
def _one_line(result, code, *names):
    err = result.stderr
    assert result.exit_code == code, (result.exit_code, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "Usage" not in err
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


CLI_NUMBERS = [
    (["x.wav", "--num-speakers", "0"], "--num-speakers", "[1, 1000]"),
    (["x.wav", "--num-speakers", "100000"], "--num-speakers", "[1, 1000]"),
    (["x.wav", "--min-speakers", "-1"], "--min-speakers", "[1, 1000]"),
    (["x.wav", "--max-speakers", "0"], "--max-speakers", "[1, 1000]"),
    (["x.wav", "--seed", "-1"], "--seed", "[0, "),
    (["eval", "--ref", "r", "--hyp", "h", "--collar", "-1"], "--collar", "[0.0, 60.0]"),
    (["eval", "--ref", "r", "--hyp", "h", "--collar", "nan"], "--collar", "[0.0, 60.0]"),
    (["eval", "--ref", "r", "--hyp", "h", "--collar", "inf"], "--collar", "[0.0, 60.0]"),
    (["batch", "x.wav", "-o", "out", "--jobs", "0"], "--jobs", "[1, 1024]"),
    (["tune", "d", "--ref", "d", "--trials", "-1"], "--trials", "[0, 10000]"),
    (["tune", "d", "--ref", "d", "--jobs", "0"], "--jobs", "[1, 1024]"),
    (["tune", "d", "--ref", "d", "--collar", "-0.5"], "--collar", "[0.0, 60.0]"),
    (["plot", "x.wav", "--num-speakers", "0"], "--num-speakers", "[1, 1000]"),
]


@pytest.mark.parametrize("args, option, allowed", CLI_NUMBERS, ids=[" ".join(a) for a, _, _ in CLI_NUMBERS])
def test_command_line_numbers_out_of_range(args, option, allowed, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _one_line(CliRunner().invoke(main, args), 2, option, allowed)
    assert not (tmp_path / "out").exists()


def test_speaker_options_that_contradict(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _one_line(CliRunner().invoke(main, ["x.wav", "--min-speakers", "4", "--max-speakers", "2"]),
              2, "--min-speakers", "--max-speakers")


def _write_config(tmp_path, text):
    p = tmp_path / "c.toml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("section, key", [("sad", "model_path"), ("cluster", "ubm_path")])
@pytest.mark.parametrize("kind", ["missing", "not_npz", "wrong_arrays", "directory"])
def test_a_model_path_that_is_not_a_model(section, key, kind, tmp_path):
    if kind == "missing":
        model = tmp_path / "missing.npz"
    elif kind == "not_npz":
        model = tmp_path / "model.npz"
        model.write_bytes(b"not a model at all")
    elif kind == "directory":
        model = tmp_path
    else:
        model = tmp_path / "other.npz"
        np.savez(model, weights=np.ones(3))
    cfg = _write_config(tmp_path, f'[{section}]\n{key} = "{model.as_posix()}"\n')
    for args in (["config", "show", "--config", str(cfg)],
                 [str(tmp_path / "x.wav"), "--config", str(cfg), "-o", str(tmp_path / "out")],
                 ["batch", str(tmp_path / "x.wav"), "--config", str(cfg), "-o", str(tmp_path / "bo")]):
        _one_line(CliRunner().invoke(main, args), 2, f"{section}.{key}", str(model))
    assert not (tmp_path / "out").exists() and not (tmp_path / "bo").exists()


def test_the_shipped_models_pass_the_model_check(tmp_path):
    from diarize.sad import MODEL_PATH
    from diarize.speakers import UBM_PATH

    cfg = _write_config(tmp_path, f'[sad]\nmodel_path = "{MODEL_PATH.as_posix()}"\n'
                                  f'[cluster]\nubm_path = "{UBM_PATH.as_posix()}"\n')
    result = CliRunner().invoke(main, ["config", "show", "--config", str(cfg)])
    assert result.exit_code == 0, result.stderr


def test_bad_config_file_through_the_cli(tmp_path):
    p = tmp_path / "bin.toml"
    p.write_bytes(b"\xff\xfe\x00seed = 1")
    _one_line(CliRunner().invoke(main, ["config", "show", "--config", str(p)]), 2, str(p))
    cfg = _write_config(tmp_path, "[features]\nn_fft = 1048576\n")
    _one_line(CliRunner().invoke(main, ["x.wav", "--config", str(cfg)]), 2,
              "features.n_fft", "[16, 8192]")
