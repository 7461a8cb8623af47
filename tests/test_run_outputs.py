"""``diarize AUDIO...`` never lets one input's output overwrite another's."""

import pytest
from click.testing import CliRunner

from diarize.cli import main


def _invoke(tmp_path, monkeypatch, *args):
    monkeypatch.chdir(tmp_path)
    return CliRunner().invoke(main, list(args))


def test_two_inputs_with_one_output_name_are_refused(tmp_path, monkeypatch):
    result = _invoke(tmp_path, monkeypatch, "x/a.wav", "y/a.flac", "-o", "out")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("diarize: error: ")
    assert "x/a.wav" in lines[0] and "y/a.flac" in lines[0] and "'a'" in lines[0]
    assert not (tmp_path / "out").exists()


def test_names_that_differ_only_by_whitespace_clash_too(tmp_path, monkeypatch):
    result = _invoke(tmp_path, monkeypatch, "a b.wav", "a_b.wav", "--format", "json")
    assert result.exit_code == 2 and "'a_b'" in result.stderr


def test_the_same_file_twice_and_stdout_are_not_refused(tmp_path, monkeypatch):
    # Neither loses a result: the same input gives the same output, and --stdout writes
    # no files. The files do not exist, so each is then reported as a failed input.
    for args in (["x/a.wav", "./x/a.wav"], ["x/a.wav", "y/a.wav", "--stdout"]):
        result = _invoke(tmp_path, monkeypatch, *args)
        assert result.exit_code == 1, result.stderr
        assert all("no such file" in line for line in result.stderr.splitlines())


@pytest.mark.slow
def test_jobs_give_the_same_output_in_input_order(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from batch_audio import make_recording

    # the longer recording first: with two workers it finishes last, yet prints first
    paths = [make_recording(tmp_path / "long.wav", seconds=8.0, seed=1),
             make_recording(tmp_path / "short.wav", seconds=3.0, seed=2)]
    repo = Path(__file__).resolve().parents[1]

    def run(*args):
        proc = subprocess.run([sys.executable, "-m", "diarize", *map(str, paths), "--stdout",
                               *args], cwd=repo, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    one = run()
    assert one.index("SPEAKER long ") < one.index("SPEAKER short ")
    assert run("--jobs", "2") == one
