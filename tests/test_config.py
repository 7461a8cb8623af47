"""Configuration: the shipped default.toml is the dataclass, and bad configs are rejected."""

from pathlib import Path

import pytest

from diarize.config import Config, config_from_dict, load_config
from diarize.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_default_toml_matches_the_dataclass():
    assert load_config(REPO / "configs" / "default.toml") == Config()


def test_default_toml_is_up_to_date():
    import runpy

    mod = runpy.run_path(str(REPO / "scripts" / "write_default_config.py"), run_name="x")
    text = (REPO / "configs" / "default.toml").read_text(encoding="utf-8")
    assert text == mod["render"](Config()), "run scripts/write_default_config.py"


def test_every_number_is_documented():
    import runpy

    mod = runpy.run_path(str(REPO / "scripts" / "write_default_config.py"), run_name="x")
    docs = mod["field_docs"]()
    from dataclasses import fields, is_dataclass

    cfg = Config()
    missing = []
    for f in fields(cfg):
        v = getattr(cfg, f.name)
        if is_dataclass(v):
            missing += [f"{f.name}.{g.name}" for g in fields(v)
                        if (type(v).__name__, g.name) not in docs]
        elif ("Config", f.name) not in docs:
            missing.append(f.name)
    assert not missing


@pytest.mark.parametrize("data, words", [
    ({"nope": 1}, "unknown key"),
    ({"reseg": {"nope": 1}}, "unknown key 'reseg.nope'"),
    ({"max_speakers": "ten"}, "must be an integer"),
    ({"reseg": {"min_turn": "x"}}, "must be a number"),
    ({"min_speakers": 5, "max_speakers": 2}, "greater than"),
    ({"max_speakers": 0}, r"max_speakers must be in \[1, 1000\], got 0"),
    ({"num_speakers": -1}, r"num_speakers must be in \[1, 1000\], got -1"),
    ({"cluster": {"link_method": "magic"}}, "link_method"),
    ({"features": 3}, "must be a table"),
])
def test_bad_values_are_rejected_with_the_key(data, words):
    with pytest.raises(ConfigError, match=words):
        config_from_dict(data)


def test_overrides_and_presets():
    cfg = Config().replace(**{"reseg.min_turn": 1.0, "num_speakers": 2})
    assert cfg.reseg.min_turn == 1.0 and cfg.num_speakers == 2
    with pytest.raises(ConfigError):
        load_config(preset="no-such-preset")
    for name in ("default", "meeting", "telephone", "broadcast"):
        assert isinstance(load_config(preset=name), Config)


def test_bad_toml_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("max_speakers = [", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(p)
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml")


def test_write_default_config_help_writes_nothing(tmp_path, monkeypatch):
    import runpy

    mod = runpy.run_path(str(REPO / "scripts" / "write_default_config.py"), run_name="x")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        mod["main"](["--help"])
    assert exc.value.code == 0
    assert list(tmp_path.iterdir()) == []  # '--help' is not taken for an output path
    out = tmp_path / "c.toml"
    assert mod["main"]([str(out)]) == 0
    assert out.read_text(encoding="utf-8") == mod["render"](Config())
    assert [p.name for p in tmp_path.iterdir()] == ["c.toml"]
