"""Session 23's audit of the commands' help against their behaviour: each test fails
without its fix (see the commit)."""

from __future__ import annotations

import pytest

from diarize.cli import main
from diarize.config import Config, with_settings
from diarize.errors import ConfigError, ManifestWarning
from diarize.pipeline import Diarizer
from conftest import REPO
from test_cli_options import fake_pipeline  # noqa: F401  (the same fake diarizer)

FIXTURES = REPO / "audio_fixtures"
RTTM = FIXTURES / "two_speakers.rttm"


def _usage_error(result, *words):
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("diarize: error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


# ------------------------------------------------------------------ outputs over inputs
@pytest.mark.parametrize("target", ["hyp/two_speakers.rttm", "hyp/new.rttm",
                                    "ref/two_speakers.RTTM"])
def test_eval_refuses_an_output_read_from_an_input_folder(runner, tmp_path, monkeypatch,
                                                          target):
    monkeypatch.chdir(tmp_path)
    for folder in ("ref", "hyp"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "two_speakers.rttm").write_bytes(RTTM.read_bytes())
    _usage_error(runner.invoke(main, ["eval", "--ref", "ref", "--hyp", "hyp", "-o", target]),
                 "input folder")
    for folder in ("ref", "hyp"):  # nothing replaced, nothing added
        assert [p.name for p in (tmp_path / folder).iterdir()] == ["two_speakers.rttm"]
        assert (tmp_path / folder / "two_speakers.rttm").read_bytes() == RTTM.read_bytes()
    # a report of another kind may live beside the outputs
    result = runner.invoke(main, ["eval", "--ref", "ref", "--hyp", "hyp", "-o", "hyp/der.txt"])
    assert result.exit_code == 0 and "TOTAL" in (tmp_path / "hyp" / "der.txt").read_text()


def test_tune_refuses_an_output_read_from_its_uem_folder(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "uem").mkdir()
    (tmp_path / "uem" / "a.uem").write_text("two_speakers 1 0 30\n")
    _usage_error(runner.invoke(main, ["tune", str(FIXTURES), "--ref", str(FIXTURES), "--uem",
                                      "uem", "-o", "uem/a.uem", "--trials", "0"]),
                 "input folder")
    assert (tmp_path / "uem" / "a.uem").read_text() == "two_speakers 1 0 30\n"


# ------------------------------------------------------------------ misspelt commands
@pytest.mark.parametrize("args, command", [(["evl", "--ref", "a", "--hyp", "b"], "eval"),
                                           (["bacth", "in", "-o", "out"], "batch"),
                                           (["tnue", "in", "--ref", "in"], "tune")])
def test_a_misspelt_command_is_named(runner, fake_pipeline, tmp_path, args, command):
    _usage_error(runner.invoke(main, args), f"did you mean 'diarize {command}'")
    assert fake_pipeline == [] and not (tmp_path / "out").exists()


def test_a_file_named_like_a_command_is_still_audio(runner, fake_pipeline, tmp_path):
    (tmp_path / "evl").write_bytes(b"")
    result = runner.invoke(main, ["evl", "--stdout"])
    assert result.exit_code == 0, result.stderr
    assert fake_pipeline == ["evl"]


# ------------------------------------------------------------------ speaker counts
def test_bounds_that_exclude_the_configured_count_are_refused(runner, fake_pipeline, tmp_path):
    (tmp_path / "n3.toml").write_text("num_speakers = 3\n")
    _usage_error(runner.invoke(main, ["a.wav", "--config", "n3.toml", "--max-speakers", "2"]),
                 "--max-speakers (2)", "num_speakers (3)")
    _usage_error(runner.invoke(main, ["a.wav", "--set", "num_speakers=3", "--min-speakers",
                                      "5"]), "--min-speakers (5)")
    assert fake_pipeline == []
    result = runner.invoke(main, ["a.wav", "--config", "n3.toml", "--max-speakers", "4"])
    assert result.exit_code == 0, result.stderr  # bounds around the count are no contradiction


def test_with_speakers_keeps_a_configured_count_inside_the_bounds():
    cfg = Config().replace(num_speakers=3)
    assert cfg.with_speakers(max_speakers=4).num_speakers == 3
    with pytest.raises(ConfigError, match="max_speakers"):
        cfg.with_speakers(max_speakers=2)
    assert cfg.with_speakers(num_speakers=2, max_speakers=2).num_speakers == 2  # the option wins


# ------------------------------------------------------------------ --set messages
def test_a_misspelt_set_key_gets_a_suggestion():
    with pytest.raises(ConfigError, match=r"--set: .*'cluster.link_treshold'; did you mean "
                                          r"'cluster.link_threshold'\?$"):
        with_settings(Config(), ["cluster.link_treshold=4"])
    with pytest.raises(ConfigError, match="'cluster.link_threshold' or 'voices.link_threshold'"):
        with_settings(Config(), ["link_threshold=4"])  # the section left out


def test_an_old_key_given_with_set_is_named_so(runner):
    result = runner.invoke(main, ["config", "show", "--set", "cluster.count_method=1"])
    assert result.exit_code == 0
    assert "--set: cluster.count_method is ignored" in result.stderr
    assert "overrides" not in result.stderr and "from the configuration" not in result.stderr


def test_tune_names_its_params_option(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _usage_error(runner.invoke(main, ["tune", str(FIXTURES), "--ref", str(FIXTURES), "--params",
                                      "cluster.link_treshold", "-o", "t.toml"]),
                 "--params: unknown configuration key", "cluster.link_threshold")


# ------------------------------------------------------------------ manifests
def test_a_manifest_column_not_read_is_named(tmp_path):
    from diarize.batch import read_manifest

    (tmp_path / "m.csv").write_text("path,num_speaker,notes\na.wav,1,x\n")
    with pytest.warns(ManifestWarning, match=r"columns 'num_speaker', 'notes' not read"):
        rows = read_manifest(tmp_path / "m.csv")
    assert rows[0].hints == ()
    (tmp_path / "m.jsonl").write_text('{"path": "a.wav", "num_speakers": 2}\n')
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_manifest(tmp_path / "m.jsonl")[0].hints == (("num_speakers", 2),)


def test_batch_shows_the_manifest_warning_unless_quiet(runner, fake_pipeline, tmp_path):
    (tmp_path / "m.csv").write_text("path,num_speaker\na.wav,1\n")
    loud = runner.invoke(main, ["batch", "m.csv", "-o", "out", "-j", "1"])
    assert loud.exit_code == 0 and "'num_speaker' not read" in loud.stderr
    quiet = runner.invoke(main, ["batch", "m.csv", "-o", "out2", "-j", "1", "-q"])
    assert quiet.exit_code == 0 and quiet.stderr == ""


# ------------------------------------------------------------------ options that did nothing
def test_stdout_with_an_output_folder_is_refused(runner, fake_pipeline, tmp_path):
    _usage_error(runner.invoke(main, ["a.wav", "--stdout", "-o", "nd"]), "--stdout", "-o")
    assert fake_pipeline == [] and not (tmp_path / "nd").exists()


def test_plot_of_an_rttm_refuses_the_options_for_diarizing(runner, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    _usage_error(runner.invoke(main, ["plot", str(FIXTURES / "two_speakers.wav"), "--rttm",
                                      str(RTTM), "--num-speakers", "5", "-o", "p.png"]),
                 "--rttm")
    assert not (tmp_path / "p.png").exists()


def test_tune_quiet_prints_nothing_on_stderr(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, ["tune", str(FIXTURES), "--ref", str(FIXTURES), "--trials",
                                  "0", "-q", "-o", "t.toml"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "" and (tmp_path / "t.toml").exists()


# ------------------------------------------------------------------ Ctrl-C
@pytest.mark.parametrize("args, message", [
    (["a.wav", "--stdout"], "diarize: error: interrupted\n"),
    (["batch", "a.wav", "-o", "out", "-j", "1", "-q"],
     "diarize: error: interrupted; rerun the same command to resume\n")])
def test_ctrl_c_is_one_line_without_a_blank_line_before_it(runner, monkeypatch, tmp_path,
                                                           args, message):
    def interrupted(self, audio, *, uri=None, hook=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(Diarizer, "__call__", interrupted)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.wav").write_bytes(b"")
    result = runner.invoke(main, args)
    assert result.exit_code == 130
    assert result.stderr == message  # click's own empty line came first


def test_eval_refuses_an_output_linked_to_a_file_of_an_input_folder(runner, tmp_path,
                                                                     monkeypatch):
    monkeypatch.chdir(tmp_path)
    for folder in ("ref", "hyp"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "two_speakers.rttm").write_bytes(RTTM.read_bytes())
    (tmp_path / "report.txt").symlink_to(tmp_path / "hyp" / "two_speakers.rttm")
    _usage_error(runner.invoke(main, ["eval", "--ref", "ref", "--hyp", "hyp", "-o",
                                      "report.txt"]), "input folder")
    assert (tmp_path / "hyp" / "two_speakers.rttm").read_bytes() == RTTM.read_bytes()
