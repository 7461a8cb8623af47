"""Shipped presets (configs/*.toml), --preset/--config and `diarize config show`."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from conftest import cli_runner
from diarize.cli import main
from diarize.config import Config, load_config, presets_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
MY_PRESETS = ["meeting", "telephone", "broadcast", "noisy"]


def _flatten(data, prefix=""):
    for k, v in data.items():
        if isinstance(v, dict):
            yield from _flatten(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def _default(key):
    obj = Config()
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def test_presets_live_in_configs():
    assert presets_dir() == REPO / "configs"


@pytest.mark.parametrize("name", MY_PRESETS)
def test_preset_holds_only_changed_keys_each_explained(name):
    path = REPO / "configs" / f"{name}.toml"
    text = path.read_text()
    data = tomllib.loads(text)
    assert data, f"{name}: empty preset"
    lines = text.splitlines()
    for key, value in _flatten(data):
        assert value != _default(key), f"{name}: {key} = {value!r} is the default"
        # the comment saying why sits on the line(s) just above the key, or on its line
        leaf = key.rsplit(".", 1)[-1]
        i = next(i for i, line in enumerate(lines) if line.split("=")[0].strip() == leaf)
        assert "#" in lines[i] or lines[i - 1].lstrip().startswith("#"), \
            f"{name}: {key} has no comment saying why"
    load_config(preset=name)  # and it is a valid configuration


def test_preset_values_target_their_audio():
    tel = load_config(preset="telephone")
    assert tel.features.fmax <= 4000 and tel.max_speakers == 4
    broadcast = load_config(preset="broadcast")
    assert broadcast.max_speakers > Config().max_speakers
    assert broadcast.sad.min_speech > Config().sad.min_speech
    # a shared room or background: linking reads the loud frames
    for name in ("meeting", "broadcast", "noisy"):
        assert load_config(preset=name).cluster.link_level_db > 0
    assert Config().cluster.link_level_db == 0
    # a steady hiss: the clustering features floor the bands it outweighs, and only those
    noisy = load_config(preset="noisy")
    assert noisy.features.band_floor and not Config().features.band_floor
    assert noisy.features.band_floor_range_db < 1000


# --------------------------------------------------------------------------- config show
def test_config_show_defaults_round_trip(tmp_path):
    result = cli_runner().invoke(main, ["config", "show"])
    assert result.exit_code == 0, result.output
    (tmp_path / "c.toml").write_text(result.stdout)
    assert load_config(tmp_path / "c.toml") == load_config()


@pytest.mark.parametrize("name", MY_PRESETS)
def test_config_show_preset(tmp_path, name):
    result = cli_runner().invoke(main, ["config", "show", "--preset", name])
    assert result.exit_code == 0, result.output
    (tmp_path / "c.toml").write_text(result.stdout)
    assert load_config(tmp_path / "c.toml") == load_config(preset=name)


def test_file_overrides_preset(tmp_path):
    (tmp_path / "mine.toml").write_text("max_speakers = 3\n[features]\nfmin = 100.0\n")
    result = cli_runner().invoke(main, ["config", "show", "--preset", "telephone",
                                     "--config", str(tmp_path / "mine.toml")])
    assert result.exit_code == 0
    shown = tomllib.loads(result.stdout)
    assert shown["max_speakers"] == 3 and shown["features"]["fmin"] == 100.0
    assert shown["features"]["fmax"] == 3700.0  # from the preset


@pytest.mark.parametrize("args", [["config", "show", "--preset", "nope"],
                                  ["run", "x.wav", "--preset", "nope"],
                                  ["x.wav", "--preset", "nope"]])
def test_unknown_preset_is_one_line_exit_2(args):
    result = cli_runner().invoke(main, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown preset 'nope'" in lines[0]
    assert "meeting" in lines[0]  # it names the available ones


def test_bad_config_file_is_one_line_exit_2(tmp_path):
    (tmp_path / "bad.toml").write_text("max_speakerz = 3\n")
    result = cli_runner().invoke(main, ["config", "show", "--config", str(tmp_path / "bad.toml")])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "max_speakerz" in result.stderr


def test_config_dataclass_equality_is_by_value():
    # the round-trip tests above rely on it
    assert dataclasses.is_dataclass(Config) and Config() == Config()
