"""``diarize tune``: split, search, TOML output and the command line (kept fast: tiny trials)."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from diarize.cli import main
from diarize.config import Config, load_config
from diarize.errors import ConfigError
from diarize.tune import (DEFAULT_PARAMS, TuneResult, find_recordings, format_report,
                          format_toml, search_grid, split_recordings, tune)

# Whole recordings, subprocesses or worker pools: deselected by -m "not slow".
pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parents[1] / "audio_fixtures"


def _copy(stem: str, folder: Path, new: str) -> None:
    shutil.copy(FIXTURES / f"{stem}.wav", folder / f"{new}.wav")
    text = (FIXTURES / f"{stem}.rttm").read_text()
    (folder / f"{new}.rttm").write_text(text.replace(f" {stem} ", f" {new} "))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Four recordings (the two fixtures, each twice under another name) with references."""
    folder = tmp_path_factory.mktemp("tune_data")
    for stem in ("two_speakers", "three_speakers"):
        _copy(stem, folder, stem)
        _copy(stem, folder, f"{stem}_copy")
    shutil.copy(FIXTURES / "two_speakers.wav", folder / "no_reference.wav")
    return folder


@pytest.fixture(scope="module")
def result(data) -> TuneResult:
    return tune(data, data, trials=2, jobs=1, seed=0)


@pytest.fixture(scope="module")
def cli_run(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("tune_out") / "tuned.toml"
    res = CliRunner().invoke(main, ["tune", str(data), "--ref", str(data), "--trials", "2",
                                    "--jobs", "1", "-o", str(out)])
    return res, out


# ------------------------------------------------------------------ split

def test_split_is_disjoint_complete_and_deterministic():
    uris = [f"rec{i:02d}" for i in range(9)]
    tune_a, held_a = split_recordings(uris, seed=0)
    assert not set(tune_a) & set(held_a)
    assert sorted(tune_a + held_a) == uris
    assert (len(tune_a), len(held_a)) == (5, 4)
    assert split_recordings(list(reversed(uris)), seed=0) == (tune_a, held_a)
    assert split_recordings(uris, seed=0) == (tune_a, held_a)
    assert any(split_recordings(uris, seed=s) != (tune_a, held_a) for s in range(1, 6))


def test_result_split_and_history(result):
    assert len(result.tuning) == 2 and len(result.heldout) == 2
    assert not set(result.tuning) & set(result.heldout)
    assert "no_reference" not in result.tuning + result.heldout
    assert any("no_reference" in p for p in result.skipped)
    assert result.trials[0].overrides == {}  # the base comes first
    assert result.trials[0].der == pytest.approx(result.base_tuning_der)
    assert 1 <= len(result.trials) <= 3
    assert result.tuned_tuning_der <= result.base_tuning_der
    assert set(result.overrides) <= set(DEFAULT_PARAMS)


def test_same_inputs_same_toml(data, result):
    again = tune(data, data, trials=2, jobs=1, seed=0)
    assert format_toml(again) == format_toml(result)


# ------------------------------------------------------------------ grid and TOML

def test_grid_contains_base_and_stays_valid():
    grid = search_grid("cluster.bic_penalty", 0.32)
    assert 0.32 in grid and min(grid) < 0.32 < max(grid)
    assert search_grid("sad.threshold", 2.0) == sorted(search_grid("sad.threshold", 2.0))
    assert 2.0 in search_grid("sad.threshold", 2.0)
    assert search_grid("cluster.linear_merge", True) == [False, True]
    assert all(isinstance(v, int) and v >= 1 for v in search_grid("reseg.iterations", 2))
    # the veto's own grid: steps of 0.04 around the base, never off by rounding
    assert search_grid("cluster.link_bic_veto", 0.38) == [0.26, 0.3, 0.34, 0.38, 0.42, 0.46,
                                                          0.5]


def test_toml_holds_only_changed_searched_keys_and_loads(tmp_path):
    res = TuneResult(overrides={"cluster.bic_penalty": 0.256, "reseg.decoder_min_turn": 0.8},
                     params=list(DEFAULT_PARAMS),
                     base_values={"cluster.bic_penalty": 0.32, "reseg.switch_penalty": 50.0,
                                  "reseg.decoder_min_turn": 0.5, "sad.threshold": 2.0},
                     tuning=["a"], heldout=["b"], base_tuning_der=20.0, tuned_tuning_der=18.0,
                     base_heldout_der=21.0, tuned_heldout_der=22.0)
    text = format_toml(res)
    assert "held-out" in text and "WARNING" in text
    path = tmp_path / "t.toml"
    path.write_text(text)
    data = tomllib.loads(text)
    assert data == {"cluster": {"bic_penalty": 0.256}, "reseg": {"decoder_min_turn": 0.8}}
    cfg = load_config(path)
    assert cfg.cluster.bic_penalty == 0.256 and cfg.reseg.decoder_min_turn == 0.8
    assert cfg.reseg.switch_penalty == Config().reseg.switch_penalty
    assert "bic_penalty = 0.256  # was 0.32" in text


def test_toml_notes_the_base_value_of_top_level_keys_too():
    res = TuneResult(overrides={"seed": 1, "max_speakers": 6}, params=["seed", "max_speakers"],
                     base_values={"seed": 0, "max_speakers": 10}, tuning=["a"], heldout=["b"],
                     base_tuning_der=20.0, tuned_tuning_der=18.0, base_heldout_der=21.0,
                     tuned_heldout_der=20.0)
    text = format_toml(res)
    assert "seed = 1  # was 0" in text and "max_speakers = 6  # was 10" in text
    assert tomllib.loads(text) == {"seed": 1, "max_speakers": 6}


def test_api_errors(data, tmp_path):
    with pytest.raises(ConfigError, match="at least 2"):
        tune(tmp_path, tmp_path, trials=1, jobs=1)
    with pytest.raises(ConfigError, match="unknown configuration key"):
        tune(data, data, params=["cluster.nope"], trials=1, jobs=1)
    with pytest.raises(ConfigError, match="cannot be tuned"):
        tune(data, data, params=["sad.method"], trials=1, jobs=1)
    recs, skipped = find_recordings(data, data)
    assert [r.uri for r in recs] == sorted(r.uri for r in recs) and len(recs) == 4
    assert len(skipped) == 1


# ------------------------------------------------------------------ command line

def test_cli_writes_loadable_toml_and_reports_heldout(cli_run):
    res, out = cli_run
    assert res.exit_code == 0, res.output
    assert "held-out" in res.stdout and "tuning" in res.stdout
    assert "base DER%" in res.stdout and "tuned DER%" in res.stdout
    cfg = load_config(out)
    data = tomllib.loads(out.read_text())
    flat = {f"{sec}.{k}" for sec, table in data.items() for k in table}
    assert flat <= set(DEFAULT_PARAMS)
    for key in flat:
        sec, name = key.split(".")
        assert getattr(getattr(cfg, sec), name) == data[sec][name]
    assert "held-out half" in out.read_text()


def test_cli_toml_is_deterministic(cli_run, data, tmp_path):
    _, first = cli_run
    out = tmp_path / "again.toml"
    res = CliRunner().invoke(main, ["tune", str(data), "--ref", str(data), "--trials", "2",
                                    "--jobs", "1", "-o", str(out), "-q"])
    assert res.exit_code == 0, res.output
    assert out.read_text() == first.read_text()


def _one_line_error(res) -> str:
    assert res.exit_code == 2, res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("diarize: error: ")
    return lines[0]


def test_cli_empty_folder_exits_2_one_line(tmp_path):
    res = CliRunner().invoke(main, ["tune", str(tmp_path), "--ref", str(tmp_path), "--jobs", "1",
                                    "-o", str(tmp_path / "t.toml")])
    assert "at least 2" in _one_line_error(res)
    assert not (tmp_path / "t.toml").exists()


def test_cli_missing_ref_exits_2_one_line(data, tmp_path):
    res = CliRunner().invoke(main, ["tune", str(data), "-o", str(tmp_path / "t.toml")])
    assert "--ref" in _one_line_error(res)


def test_cli_bad_param_and_missing_folder_exit_2(data, tmp_path):
    res = CliRunner().invoke(main, ["tune", str(data), "--ref", str(data), "--params", "foo.bar",
                                    "-o", str(tmp_path / "t.toml")])
    assert "foo.bar" in _one_line_error(res)
    res = CliRunner().invoke(main, ["tune", str(tmp_path / "nope"), "--ref", str(data),
                                    "-o", str(tmp_path / "t.toml")])
    assert "no such folder" in _one_line_error(res)


def test_worker_pool_gives_the_same_result(data, result):
    pooled = tune(data, data, trials=2, jobs=2, seed=0)
    assert format_toml(pooled) == format_toml(result)
    assert [t.der for t in pooled.trials] == [t.der for t in result.trials]


# ------------------------------------------------------------------ failures, audio suffixes

def test_failed_recordings_are_reported(tmp_path):
    """A recording the pipeline fails on is counted in each half and named."""
    from batch_audio import make_recording

    uris = ["rec_a", "rec_b", "rec_c", "rec_d"]
    tuning, heldout = split_recordings(uris, seed=0)
    broken = {tuning[0], heldout[0]}
    for i, uri in enumerate(uris):
        path = tmp_path / f"{uri}.wav"
        if uri in broken:
            path.write_bytes(b"RIFF this is not audio at all" * 10)
        else:
            make_recording(path, seconds=4.0, seed=i)
        (tmp_path / f"{uri}.rttm").write_text(
            f"SPEAKER {uri} 1 0.000 0.800 <NA> <NA> A <NA> <NA>\n"
            f"SPEAKER {uri} 1 1.050 0.800 <NA> <NA> B <NA> <NA>\n")
    lines: list[str] = []
    res = tune(tmp_path, tmp_path, trials=1, jobs=1, seed=0, log=lines.append)
    assert res.tuning == tuning and res.heldout == heldout
    assert set(res.failures) == broken
    assert all("AudioError" in m for m in res.failures.values())
    assert all(t.failed == 1 for t in res.trials)
    assert res.base_heldout_failed == 1 and res.tuned_heldout_failed == 1
    report = format_report(res)
    assert "tuning half 1 base, 1 tuned; held-out half 1 base, 1 tuned" in report
    assert all(uri in report for uri in broken)
    assert "held-out half 1 base, 1 tuned" in format_toml(res)
    assert sum(f"{uri}.wav: failed" in line for line in lines for uri in broken) == 2


def _with_a_silent_recording(data: Path, folder: Path) -> Path:
    """`data` and a recording of digital silence whose reference says someone speaks."""
    import numpy as np
    import soundfile as sf

    shutil.copytree(data, folder)
    sf.write(folder / "hush.wav", np.zeros(5 * 16000, dtype=np.int16), 16000)
    (folder / "hush.rttm").write_text("SPEAKER hush 1 1.000 2.000 <NA> <NA> A <NA> <NA>\n")
    return folder


def test_warnings_are_logged_once_however_many_trials(data, tmp_path):
    folder = _with_a_silent_recording(data, tmp_path / "d")
    lines: list[str] = []
    tune(folder, folder, trials=2, jobs=1, seed=0, log=lines.append)
    assert [line for line in lines if line.startswith("warning:")] == [
        "warning: no speech found in hush"]


@pytest.mark.parametrize("quiet", [False, True])
def test_cli_warnings_of_workers_are_one_line(data, tmp_path, quiet):
    # with --jobs 2 the recordings are diarized in worker processes, which would show
    # the warning in Python's format, once per process, past -q
    import os
    import subprocess

    folder = _with_a_silent_recording(data, tmp_path / "d")
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-m", "diarize", "tune", str(folder), "--ref", str(folder),
         "--trials", "2", "--jobs", "2", "-o", str(tmp_path / "tuned.toml"),
         *(["-q"] if quiet else [])],
        cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)}, capture_output=True,
        text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "NoSpeechWarning" not in proc.stderr
    warned = [line for line in proc.stderr.splitlines() if ": warning: " in line]
    assert warned == ([] if quiet else ["diarize tune: warning: no speech found in hush"])


def test_report_says_nothing_of_failures_when_none(result):
    assert result.failures == {} and result.base_heldout_failed == 0
    assert "failed" not in format_report(result) and "failed" not in format_toml(result)


def test_one_list_of_audio_suffixes(bench):
    from diarize import audio

    assert ".m4a" in audio.AUDIO_SUFFIXES  # read through FFmpeg (PyAV)
    assert {".wav", ".flac", ".ogg", ".mp3"} <= audio.AUDIO_SUFFIXES
    assert bench.AUDIO_SUFFIXES is audio.AUDIO_SUFFIXES


def test_m4a_is_taken_as_a_recording(tmp_path):
    from batch_audio import make_recording

    for uri in ("a", "b"):
        make_recording(tmp_path / f"{uri}.wav", seconds=2.0)
        (tmp_path / f"{uri}.rttm").write_text(f"SPEAKER {uri} 1 0.0 1.0 <NA> <NA> A <NA> <NA>\n")
    (tmp_path / "c.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A ")
    (tmp_path / "c.rttm").write_text("SPEAKER c 1 0.0 1.0 <NA> <NA> A <NA> <NA>\n")
    recs, skipped = find_recordings(tmp_path, tmp_path)
    # FFmpeg reads m4a: listed like any recording (a damaged one fails when it is read)
    assert [r.uri for r in recs] == ["a", "b", "c"] and skipped == []


# ------------------------------------------------------------------ a worker killed
#: Test-only hook, loaded by every Python process of the tune run through PYTHONPATH: a
#: worker that starts on a recording whose path contains $DIARIZE_TEST_KILL kills itself
#: with SIGKILL, as the kernel's out-of-memory killer would.
TUNE_KILL_HOOK = '''
import os, signal
if os.environ.get("DIARIZE_TEST_KILL"):
    import diarize.tune as _tune
    _diarize_one = _tune._diarize_one
    def killing_diarize_one(task):
        if os.environ["DIARIZE_TEST_KILL"] in task.path:
            os.kill(os.getpid(), signal.SIGKILL)
        return _diarize_one(task)
    _tune._diarize_one = killing_diarize_one
'''


@pytest.mark.slow
def test_a_killed_worker_fails_only_its_recording(data, tmp_path):
    import os
    import subprocess

    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(TUNE_KILL_HOOK)
    repo = Path(__file__).resolve().parents[1]
    out = tmp_path / "tuned.toml"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hook), str(repo)]),
           "DIARIZE_TEST_KILL": "three_speakers_copy"}
    proc = subprocess.run(
        [sys.executable, "-m", "diarize", "tune", str(data), "--ref", str(data),
         "--trials", "1", "--jobs", "2", "-o", str(out)],
        cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    # the other recordings were scored; the victim is reported, by name and cause
    assert "three_speakers_copy.wav: failed (WorkerDied" in proc.stderr
    assert "killed by SIGKILL" in proc.stderr
    report = proc.stdout
    assert "WARNING: failed recordings" in report
    failed = [line for line in report.splitlines() if re.match(r"  \S+: ", line)]
    assert len(failed) == 1 and failed[0].startswith("  three_speakers_copy: WorkerDied")
    assert out.is_file()
