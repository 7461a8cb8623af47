"""``--set KEY=VALUE``: one configuration key from the command line, on every command that
takes --config and --preset, checked as a TOML file's keys are and reported in one line."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from diarize.cli import main
from diarize.config import load_config, parse_settings, with_settings
from diarize.errors import ConfigError

FIXTURE = Path(__file__).resolve().parents[1] / "audio_fixtures" / "two_speakers.wav"


def _one_line(result, code, *names):
    err = result.stderr
    assert result.exit_code == code, (result.exit_code, err, result.exception)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("diarize: error: "), err
    assert "Traceback" not in err and "Usage" not in err
    for name in names:
        assert name in lines[0], lines[0]


def test_values_are_toml_literals_or_else_strings():
    got = parse_settings(["cluster.link_level_db=20", "reseg.decoder_min_turn = 0.3",
                          "sad.refine_boundaries=false", 'cluster.link_method="none"',
                          "cluster.segmentation=change", "seed=7"])
    assert got == {"cluster.link_level_db": 20, "reseg.decoder_min_turn": 0.3,
                   "sad.refine_boundaries": False, "cluster.link_method": "none",
                   "cluster.segmentation": "change", "seed": 7}
    assert isinstance(got["reseg.decoder_min_turn"], float)


@pytest.mark.parametrize("items, words", [
    (["cluster.link_level_db"], ["KEY=VALUE", "cluster.link_level_db"]),
    (["=3"], ["KEY=VALUE"]),
    (["seed=1", "seed=2"], ["'seed'", "twice"]),
])
def test_malformed_settings_are_refused(items, words):
    with pytest.raises(ConfigError) as info:
        parse_settings(items)
    for w in ["--set", *words]:
        assert w in str(info.value)


@pytest.mark.parametrize("value, words", [("9" * 5000, ["seed", "unreadable value", "digits"]),
                                          ("[" * 1000 + "]" * 1000, ["seed", "nested too deeply"])])
def test_values_no_parser_reads_are_refused_naming_the_key(value, words, tmp_path):
    with pytest.raises(ConfigError) as info:
        parse_settings([f"seed={value}"])
    for w in ["--set", *words]:
        assert w in str(info.value)
    path = tmp_path / "c.toml"
    path.write_text(f"seed = {value}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: unreadable TOML (") and words[-1] in str(info.value)


def test_a_section_given_whole_keeps_the_keys_it_does_not_name():
    # as a table of a --config file does: the preset's other values stay
    cfg = load_config(preset="meeting")
    got = with_settings(cfg, ["cluster={bic_penalty=0.3}"])
    assert got.cluster.bic_penalty == 0.3 and got.cluster.link_level_db == cfg.cluster.link_level_db
    tel = load_config(preset="telephone").replace(features={"n_mels": 30})
    assert tel.features.n_mels == 30 and tel.features.fmin == load_config(preset="telephone").features.fmin
    with pytest.raises(ConfigError, match="features.nope"):
        cfg.replace(features={"nope": 1})


def test_config_show_writes_strings_a_config_file_reads_back(tmp_path):
    value = "a\nb\x01\x7f\t\"q\"\\"
    cfg = load_config().replace(voices__nuisance_path=value)
    path = tmp_path / "c.toml"
    path.write_text(cfg.to_toml())
    assert load_config(path).voices.nuisance_path == value


def test_settings_are_checked_like_a_files_keys():
    cfg = load_config()
    assert with_settings(cfg, []) is cfg
    assert with_settings(cfg, ["cluster.link_threshold=6.5"]).cluster.link_threshold == 6.5
    for item, words in (("cluster.nope=1", ["unknown", "cluster.nope"]),
                        ("cluster.link_threshold=abc", ["cluster.link_threshold", "number"]),
                        ("cluster.link_threshold=1e9", ["cluster.link_threshold", "1000"])):
        with pytest.raises(ConfigError) as info:
            with_settings(cfg, [item])
        assert str(info.value).startswith("--set: ")
        assert "overrides" not in str(info.value)
        for w in words:
            assert w in str(info.value)


def test_config_show_prints_the_setting_after_preset_and_file(tmp_path):
    own = tmp_path / "own.toml"
    own.write_text("[cluster]\nlink_threshold = 4.0\nlink_level_db = 10.0\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["config", "show", "--preset", "meeting", "--config",
                                       str(own), "--set", "cluster.link_level_db=25"])
    assert result.exit_code == 0, result.stderr
    shown = result.stdout
    assert "link_level_db = 25.0" in shown           # --set over the file and the preset
    assert "link_threshold = 4.0" in shown           # the file's other key stays
    assert "decoder_min_turn = 0.3" in shown         # and the preset's


def test_a_setting_changes_the_diarization(tmp_path):
    def speakers(*extra):
        result = CliRunner().invoke(main, [str(FIXTURE), "--stdout", "-f", "json", "-q", *extra])
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)["speakers"]

    assert len(speakers()) == 2
    # at most one speaker, as a file setting max_speakers = 1 would ask
    assert len(speakers("--set", "max_speakers=1")) == 1
    # an option named for the key wins over --set
    assert len(speakers("--set", "num_speakers=1", "--num-speakers", "2")) == 2


@pytest.mark.parametrize("command", [
    ["run", "{audio}", "-o", "{out}"],
    ["batch", "{audio}", "-o", "{out}"],
    ["enroll", "--voices", "{out}", "alice", "{audio}"],
    ["config", "show"],
])
def test_a_bad_setting_is_refused_before_any_work(command, tmp_path):
    out = tmp_path / "out"
    args = [a.format(audio=FIXTURE, out=out) for a in command]
    _one_line(CliRunner().invoke(main, args + ["--set", "cluster.nope=1"]), 2,
              "--set", "cluster.nope")
    _one_line(CliRunner().invoke(main, args + ["--set", "nonsense"]), 2, "--set", "nonsense")
    assert not out.exists()


def test_words_refuses_a_setting_for_an_rttm(tmp_path):
    rttm = FIXTURE.with_suffix(".rttm")
    transcript = tmp_path / "t.srt"
    transcript.write_text("1\n00:00:00,500 --> 00:00:02,000\nhello there\n", encoding="utf-8")
    _one_line(CliRunner().invoke(main, ["words", str(rttm), str(transcript),
                                        "--set", "seed=1"]), 2, "--set")


def test_batch_workers_get_the_setting(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["batch", str(FIXTURE.parent), "-o", str(out), "--jobs",
                                       "2", "-q", "--set", "max_speakers=1"])
    assert result.exit_code == 0, result.stderr
    written = sorted(out.glob("*.rttm"))
    assert [p.stem for p in written] == ["three_speakers", "two_speakers"]
    for p in written:
        labels = {line.split()[7] for line in p.read_text().splitlines()
                  if line.startswith("SPEAKER ")}
        assert len(labels) == 1, (p.name, labels)
