"""Configuration: the shipped default.toml is the dataclass, and bad configs are rejected."""

import warnings
from pathlib import Path

import pytest

from diarize.config import (REMOVED_KEYS, RENAMED_KEYS, Config, config_fields, config_from_dict,
                            load_config)
from diarize.errors import ConfigError, DeprecatedKeyWarning

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
    ({"reseg": {"decoder_min_turn": "x"}}, "must be a number"),
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
    cfg = Config().replace(**{"reseg.decoder_min_turn": 1.0, "num_speakers": 2})
    assert cfg.reseg.decoder_min_turn == 1.0 and cfg.num_speakers == 2
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


# ------------------------------------------------------------------ renamed and removed keys
CURRENT_KEYS = {key for key, _, _ in config_fields()}


def test_the_renamed_keys_are_old_names_of_current_keys():
    for old, new in RENAMED_KEYS.items():
        assert old not in CURRENT_KEYS and new in CURRENT_KEYS, (old, new)
        assert old.rpartition(".")[0] == new.rpartition(".")[0]  # one table of a TOML file


@pytest.mark.parametrize("old, new", sorted(RENAMED_KEYS.items()))
def test_an_old_name_in_a_file_sets_the_new_key_with_one_warning(old, new, tmp_path):
    section, _, name = old.partition(".")
    value = Config().to_dict()[section][new.partition(".")[2]] * 2
    path = tmp_path / "old.toml"
    path.write_text(f"[{section}]\n{name} = {value!r}\n")
    with pytest.warns(DeprecatedKeyWarning) as caught:
        cfg = load_config(path)
    assert getattr(getattr(cfg, section), new.partition(".")[2]) == value
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "\n" not in message and old in message and new in message and str(path) in message


@pytest.mark.parametrize("old, new", sorted(RENAMED_KEYS.items()))
def test_an_old_name_as_an_override(old, new):
    value = Config().to_dict()[new.partition(".")[0]][new.partition(".")[2]] * 2
    with pytest.warns(DeprecatedKeyWarning, match=new.replace(".", r"\.")):
        cfg = Config().replace(**{old.replace(".", "__"): value})
    assert cfg == Config().replace(**{new: value})


def test_the_diarizer_takes_an_old_name():
    from diarize.pipeline import Diarizer

    with pytest.warns(DeprecatedKeyWarning, match="reseg.decoder_min_turn"):
        diarizer = Diarizer(reseg__min_turn=0.3)
    assert diarizer.config.reseg.decoder_min_turn == 0.3


def test_an_old_and_a_new_name_together_are_refused(tmp_path):
    path = tmp_path / "both.toml"
    path.write_text("[reseg]\nmin_turn = 0.3\ndecoder_min_turn = 0.4\n")
    with pytest.warns(DeprecatedKeyWarning), pytest.raises(ConfigError, match="same key"):
        load_config(path)
    with pytest.warns(DeprecatedKeyWarning), pytest.raises(ConfigError, match="given twice"):
        Config().replace(**{"reseg.decoder_min_turn": 0.4, "reseg.min_turn": 0.3})


def test_a_bad_value_under_an_old_name_names_the_new_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[reseg]\nmin_turn = -1.0\n")
    with pytest.warns(DeprecatedKeyWarning), \
            pytest.raises(ConfigError, match="reseg.decoder_min_turn must be"):
        load_config(path)


def test_a_removed_key_is_ignored_with_one_warning(monkeypatch, tmp_path):
    monkeypatch.setitem(REMOVED_KEYS, "cluster.gone_key", "it was measured worse")
    path = tmp_path / "removed.toml"
    path.write_text("[cluster]\ngone_key = 3\nbic_penalty = 0.3\n")
    with pytest.warns(DeprecatedKeyWarning) as caught:
        cfg = load_config(path)
    assert cfg == Config().replace(**{"cluster.bic_penalty": 0.3})
    assert len(caught) == 1 and "cluster.gone_key" in str(caught[0].message)
    assert "measured worse" in str(caught[0].message)
    with pytest.warns(DeprecatedKeyWarning, match="cluster.gone_key"):
        assert Config().replace(cluster__gone_key=3) == Config()


@pytest.mark.parametrize("key", sorted(REMOVED_KEYS))
def test_a_removed_key_that_is_still_a_field_is_a_current_key(key):
    # The table lists what another branch deletes: until the field goes, it works as before.
    section, _, name = key.partition(".")
    default = getattr(getattr(Config(), section), name, None)
    if key not in CURRENT_KEYS:
        with pytest.warns(DeprecatedKeyWarning, match=key.replace(".", r"\.")):
            assert Config().replace(**{key: 1}) == Config()
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecatedKeyWarning)
        assert getattr(getattr(Config().replace(**{key: default}), section), name) == default


def test_a_hop_that_is_not_a_whole_number_of_samples_is_refused():
    # frame times are i * hop_length: a hop rounded to samples would drift (8 s an hour)
    with pytest.raises(ConfigError, match="whole number of samples"):
        Config().replace(audio__sample_rate=22050)
    assert Config().replace(audio__sample_rate=44100).features.hop_length == 0.01
    assert Config().replace(audio__sample_rate=22050, features__hop_length=0.02).audio.sample_rate == 22050
