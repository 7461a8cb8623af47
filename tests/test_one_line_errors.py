"""Every user error of every command is one line on stderr with a documented exit status:
never click's usage block, never a traceback; failed writes to standard output included."""

from __future__ import annotations

import os
import subprocess
import sys

import click
import pytest
import soundfile as sf
from click.testing import CliRunner

from diarize import errors
from diarize.cli import main
from hostile_helpers import REPO, assert_one_line_error, run_cli, voices


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in sorted(group.commands.items()):
        yield (*prefix, name)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*prefix, name))


COMMANDS = list(_commands(main))


def _one_line(result, code, *names):
    err = result.stderr
    assert result.exit_code == code, (result.exit_code, err, result.exception)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("diarize: error: "), err
    assert "Usage" not in err and "Traceback" not in err and "Try '" not in err
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


def test_the_commands_are_all_covered():
    assert {"run", "eval", "batch", "tune", "plot", "config", "config show"} <= \
        {" ".join(c) for c in COMMANDS}


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_unknown_option_is_one_line(command):
    _one_line(CliRunner().invoke(main, [*command, "--bogus"]), 2, "--bogus")


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_still_works(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0 and result.stdout.startswith("Usage: ")
    assert result.stderr == ""


@pytest.mark.parametrize("args, names", [
    (["run"], ["AUDIO"]),
    (["eval"], ["--ref"]),
    (["eval", "--ref", "r"], ["--hyp"]),
    (["batch"], ["INPUT"]),
    (["batch", "x.wav"], ["--output-dir"]),
    (["tune"], ["AUDIO_DIR"]),
    (["plot"], ["AUDIO"]),
    (["config", "nope"], ["nope"]),
    (["x.wav", "--format", "wav"], ["--format"]),
    (["x.wav", "--num-speakers", "two"], ["--num-speakers"]),
    (["x.wav", "--seed", "many"], ["--seed"]),
    (["eval", "--ref", "r", "--hyp", "h", "--format", "xml"], ["--format"]),
    (["eval", "--ref", "r", "--hyp", "h", "--collar", "wide"], ["--collar"]),
    (["config", "show", "--preset", "nope"], ["nope"]),
    (["x.wav", "--preset", "nope"], ["nope"]),
])
def test_usage_errors_are_one_line(args, names, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _one_line(CliRunner().invoke(main, args), 2, *names)


def test_bare_diarize_prints_the_help_with_status_0():
    result = CliRunner().invoke(main, [])
    assert result.exit_code == 0 and result.stdout.startswith("Usage: ")
    assert "batch" in result.stdout and result.stderr == ""


def test_a_group_without_its_command_lists_the_commands():
    result = CliRunner().invoke(main, ["config"])
    assert result.exit_code == 0 and "show" in result.stdout and result.stderr == ""


def test_an_internal_error_is_one_line_with_status_3(monkeypatch):
    import diarize.config

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(diarize.config, "load_config", broken)
    line = _one_line(CliRunner().invoke(main, ["config", "show"]), 3, "internal error", "boom")
    assert "DIARIZE_DEBUG" in line


# ------------------------------------------------------------------ standard output
needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")


def _one_line_proc(p, code, *names):
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode == code, (p.returncode, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("diarize: error: "), err
    assert "Traceback" not in err and "Exception ignored" not in err
    for name in names:
        assert name in lines[0], lines[0]


def _run_to(stdout, *args):
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, "-m", "diarize", *map(str, args)], cwd=str(REPO),
                          env=env, stdout=stdout, stderr=subprocess.PIPE, timeout=300)


@pytest.mark.slow
@needs_dev_full
@pytest.mark.parametrize("args", [["config", "show"], ["--help"], ["config", "show", "--help"]])
def test_full_device_on_stdout(args):
    with open("/dev/full", "w") as full:
        p = _run_to(full, *args)
    _one_line_proc(p, 1, "standard output", "No space left on device")


@pytest.mark.slow
@needs_dev_full
def test_full_device_with_stdout_option(tmp_path):
    wav = tmp_path / "short.wav"
    sf.write(wav, voices(4.0, 16000, seed=2), 16000, subtype="PCM_16")
    with open("/dev/full", "w") as full:
        p = _run_to(full, wav, "--stdout")
    _one_line_proc(p, 1, "standard output")


@pytest.mark.slow
def test_closed_pipe_on_stdout():
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        p = _run_to(write_end, "config", "show")
    finally:
        os.close(write_end)
    _one_line_proc(p, 1, "standard output")


@pytest.mark.slow
def test_subprocess_usage_error_is_one_line():
    assert_one_line_error(run_cli("config", "show", "--bogus"), 2, "--bogus")
    assert_one_line_error(run_cli("eval", "--ref", "r", "--hyp", "h", "--collar", "-1"), 2,
                          "--collar", "[0.0, 60.0]")


# ------------------------------------------------------------------ the one table of statuses
@pytest.mark.parametrize("exc, status", [
    (KeyboardInterrupt(), 130),
    (click.Abort(), 130),
    (click.UsageError("bad option"), 2),
    (errors.ConfigError("x"), 2),
    (errors.ModelError("x"), 2),
    (errors.ScoringError("x"), 2),
    (errors.BatchInputError("x"), 2),
    (errors.MissingDependencyError("x"), 2),
    (errors.AudioError("x"), 1),
    (errors.RTTMError("x"), 1),
    (errors.OutputError("x"), 1),
    (errors.StdoutError("x"), 1),
    (MemoryError(), 1),
    (FileNotFoundError(2, "No such file or directory", "x.wav"), 1),
    (OSError(5, "Input/output error"), 1),   # a write to standard output, from click
    (OSError(13, "Permission denied"), 3),   # naming no file: a bug
    (RuntimeError("boom"), 3),
])
def test_exit_status_of_each_kind_of_error(exc, status):
    from diarize.cli import error_message, exit_status

    assert exit_status(exc) == status
    assert "\n" not in error_message(exc) and error_message(exc)


def test_an_old_key_in_a_config_file_is_one_warning_line(tmp_path):
    path = tmp_path / "old.toml"
    path.write_text("[reseg]\nmin_turn = 0.3\n")
    result = CliRunner().invoke(main, ["config", "show", "--config", str(path)])
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("diarize: warning: "), result.stderr
    assert "reseg.min_turn" in lines[0] and "reseg.decoder_min_turn" in lines[0]
    assert "decoder_min_turn = 0.3\n" in result.stdout


def test_the_api_checks_model_files_as_the_cli_does(tmp_path):
    from diarize.errors import ModelError
    from diarize.pipeline import Diarizer

    bad = tmp_path / "model.npz"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(ModelError, match=f"sad.model_path: {bad}: not a model file"):
        Diarizer(sad__model_path=str(bad))
    _one_line(CliRunner().invoke(main, ["config", "show", "--config", str(_config(tmp_path, bad))]),
              2, "sad.model_path", str(bad))


def _config(tmp_path, model):
    path = tmp_path / "c.toml"
    path.write_text(f'[sad]\nmodel_path = "{model.as_posix()}"\n')
    return path
