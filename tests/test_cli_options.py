"""The command line's options from issue 24: several formats from one diarization,
``--uri``, ``--summary``, the option conflicts refused in one line, bare ``diarize``,
directories, NumPy scalars in the configuration, and ``plot``'s count panel and zoom."""

from __future__ import annotations

import json

import numpy as np
import pytest

from diarize.cli import main
from diarize.config import Config
from diarize.errors import ConfigError
from diarize.pipeline import Diarizer
from diarize.segments import CountEvidence, Diarization, Turn
from diarize.writers import format_diarization
from conftest import EVAL, needs_eval

RESULT = Diarization([Turn(0.0, 3.0, "SPEAKER_00"), Turn(3.0, 4.0, "SPEAKER_01"),
                      Turn(5.0, 6.0, "SPEAKER_00")], uri="x", duration=6.0)


@pytest.fixture
def fake_pipeline(monkeypatch, tmp_path):
    """`diarize` runs (in this process, -j 1) without diarizing: each call is counted and
    returns RESULT under the uri asked for."""
    calls = []

    def call(self, audio, *, uri=None, hook=None):
        calls.append(str(audio))
        return Diarization(list(RESULT.turns), uri=uri or "audio", duration=RESULT.duration)

    monkeypatch.setattr(Diarizer, "__call__", call)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.wav").write_bytes(b"")
    return calls


def _one_line_usage_error(result, *words):
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("diarize: error: "), result.stderr
    for word in words:
        assert word in lines[0]
    return lines[0]


# ------------------------------------------------------------------ several formats
@pytest.mark.parametrize("args", [["-f", "rttm,json", "-f", "csv"],
                                  ["--format", "rttm, JSON,csv,rttm"]])
def test_several_formats_are_written_from_one_diarization(runner, fake_pipeline, tmp_path, args):
    result = runner.invoke(main, ["a.wav", "-o", "out", *args])
    assert result.exit_code == 0, result.stderr
    assert fake_pipeline == ["a.wav"]  # diarized once
    expected = Diarization(list(RESULT.turns), uri="a", duration=RESULT.duration)
    for fmt, ext in (("rttm", "rttm"), ("json", "json"), ("csv", "csv")):
        assert (tmp_path / "out" / f"a.{ext}").read_text() == format_diarization(
            expected, fmt, source="a.wav")  # with the provenance mark of our files
    # the CSV, which has no place for the mark, is recorded in the folder's ledger
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        ".diarize-outputs.tsv", "a.csv", "a.json", "a.rttm"]


def test_verbose_names_every_file_written(runner, fake_pipeline):
    result = runner.invoke(main, ["a.wav", "-f", "rttm,audacity", "-v"])
    assert result.exit_code == 0, result.stderr
    assert "a.wav: 2 speakers, 3 turns -> a.rttm, a.txt" in result.stderr


def test_batch_takes_the_same_format_syntax(runner, fake_pipeline, tmp_path):
    result = runner.invoke(main, ["batch", "a.wav", "-o", "out", "-j", "1", "-q",
                                  "-f", "rttm,json"])
    assert result.exit_code == 0, result.stderr
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"a.rttm", "a.json"}
    (tmp_path / "out" / "a.json").unlink()  # one output missing: diarized again
    runner.invoke(main, ["batch", "a.wav", "-o", "out", "-j", "1", "-q", "-f", "rttm,json"])
    assert len(fake_pipeline) == 2 and (tmp_path / "out" / "a.json").exists()
    runner.invoke(main, ["batch", "a.wav", "-o", "out", "-j", "1", "-q", "-f", "rttm,json"])
    assert len(fake_pipeline) == 2  # all there: skipped


def test_stdout_with_several_formats_is_refused(runner, fake_pipeline):
    line = _one_line_usage_error(runner.invoke(main, ["a.wav", "--stdout", "-f", "rttm,json"]),
                                 "--stdout", "rttm, json")
    assert fake_pipeline == [] and "one format" in line


def test_unknown_format_is_refused(runner, fake_pipeline):
    _one_line_usage_error(runner.invoke(main, ["a.wav", "-f", "rttm,wav"]), "'wav'", "--format")


# ------------------------------------------------------------------ --uri, --summary
def test_uri_names_the_recording_and_its_output(runner, fake_pipeline, tmp_path):
    result = runner.invoke(main, ["a.wav", "--uri", "meeting 01", "-f", "rttm,json"])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "meeting_01.rttm").read_text().split()[1] == "meeting_01"
    assert json.loads((tmp_path / "meeting_01.json").read_text())["uri"] == "meeting_01"


@pytest.mark.parametrize("args, words", [
    (["a.wav", "b.wav", "--uri", "m"], ["--uri", "2 AUDIO"]),
    (["a.wav", "--uri", "../m"], ["--uri"]),
    (["a.wav", "--uri", ".hidden"], ["--uri"]),
])
def test_bad_uri_is_refused(runner, fake_pipeline, args, words):
    _one_line_usage_error(runner.invoke(main, args), *words)
    assert fake_pipeline == []


def test_summary_prints_talk_time_on_stderr(runner, fake_pipeline):
    result = runner.invoke(main, ["a.wav", "--summary", "-q"])  # asked for: -q does not hide it
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "a.wav: 2 speakers, 3 turns -> a.rttm"
    assert lines[1].split() == ["SPEAKER_00", "4.0", "s", "80.0", "%", "2", "turns",
                                "longest", "3.0", "s"]
    assert lines[2].split()[:6] == ["SPEAKER_01", "1.0", "s", "20.0", "%", "1"]
    assert result.stdout == ""


# ------------------------------------------------------------------ refusals and help
@pytest.mark.parametrize("args, words", [
    (["a.wav", "-q", "-v"], ["-q/--quiet", "-v/--verbose"]),
    (["a.wav", "--num-speakers", "2", "--min-speakers", "3"], ["--num-speakers (2)", "--min-speakers (3)"]),
    (["a.wav", "--num-speakers", "5", "--max-speakers", "3"], ["--num-speakers (5)", "--max-speakers (3)"]),
])
def test_contradictory_options_are_refused(runner, fake_pipeline, args, words):
    _one_line_usage_error(runner.invoke(main, args), *words)
    assert fake_pipeline == []


def test_a_directory_suggests_batch(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "calls").mkdir()
    result = runner.invoke(main, ["calls/", "-o", "out"])
    assert result.exit_code == 1  # a failed input, as before; the other inputs still run
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "is a directory" in lines[0], result.stderr
    assert "diarize batch calls -o OUTPUT_DIR" in lines[0]


def test_run_help_lists_the_new_options(runner):
    text = runner.invoke(main, ["run", "--help"]).stdout
    for option in ("--uri", "--summary", "-f, --format", "rttm,json"):
        assert option in text


# ------------------------------------------------------------------ NumPy scalars
def test_numpy_scalars_work_where_python_numbers_do():
    assert Diarizer(num_speakers=np.int64(2)).config.num_speakers == 2
    cfg = Config().with_speakers(num_speakers=np.int32(12))
    assert cfg.num_speakers == 12 and cfg.max_speakers == 12
    assert type(cfg.num_speakers) is int and type(cfg.max_speakers) is int
    cfg = Config().replace(reseg__decoder_min_turn=np.float64(0.3), seed=np.uint8(7))
    assert type(cfg.reseg.decoder_min_turn) is float and cfg.seed == 7
    assert "decoder_min_turn = 0.3" in cfg.to_toml()
    with pytest.raises(ConfigError, match="must be an integer"):
        Config().replace(num_speakers=np.float64(2.0))  # as 2.0 is refused
    with pytest.raises(ConfigError, match="less than min_speakers"):
        Config().with_speakers(num_speakers=np.int64(2), min_speakers=np.int64(3))


# ------------------------------------------------------------------ plot
def test_block_envelope_matches_the_whole_signal():
    from diarize.plot import block_envelope

    y = np.random.default_rng(1).standard_normal(10_007).astype(np.float32)
    whole = block_envelope([y], sample_rate=1000, step=0.01)
    cuts = [0, 3, 999, 1000, 4567, 10_007]
    parts = block_envelope([y[a:b] for a, b in zip(cuts, cuts[1:])], sample_rate=1000, step=0.01)
    assert np.array_equal(whole.lo, parts.lo) and np.array_equal(whole.hi, parts.hi)
    assert len(whole.lo) == 1001 and whole.duration == parts.duration == 10.007
    assert whole.lo.min() == y.min() and whole.hi.max() == y.max()
    times, lo, hi = whole.window(2.0, 3.0, n_bins=10)
    assert len(times) == 10 and times[0] == 2.0 and lo.min() == y[2000:3000].min()


def _titles(fig):
    return [ax.get_title() for ax in fig.axes]


def test_count_panel_names_the_deciding_stage_and_the_lanes():
    pytest.importorskip("matplotlib")
    from diarize.plot import plot_timeline

    d = Diarization([Turn(0.0, 1.0, "A"), Turn(1.0, 3.0, "B")], uri="demo", duration=3.0,
                    bic={k: -float(k) for k in range(1, 9)}, bic_choice=4,
                    count_evidence=CountEvidence(stage="linking", clusters=4,
                                                 scores={6: 9.0, 5: 8.0, 4: 6.0, 3: 4.0},
                                                 threshold=5.0, bounds=(1, 10)))
    title = _titles(plot_timeline(d))[-1]
    assert "linking: 4; resegmentation left 2" in title and "above 5" in title
    assert "chosen" not in title
    d.count_evidence = CountEvidence(stage="bic", clusters=2, bounds=(1, 10))
    fig = plot_timeline(d)
    assert _titles(fig)[-1] == "speaker count decided by BIC merging: 2"
    assert "chosen: 2 speakers" in [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    d.count_evidence = CountEvidence(stage="given", clusters=2, bounds=(2, 2))
    assert _titles(plot_timeline(d))[-1] == "speaker count given: 2"


def test_plot_zooms_to_start_and_end():
    pytest.importorskip("matplotlib")
    from diarize.plot import plot_timeline

    d = Diarization([Turn(0.0, 10.0, "A")], uri="demo", duration=10.0)
    y = np.zeros(16000 * 10, dtype=np.float32)
    fig = plot_timeline(d, signal=y, sample_rate=16000, start=2.0, end=4.5)
    assert fig.axes[0].get_xlim() == (2.0, 4.5)
    with pytest.raises(ValueError, match="after start"):
        plot_timeline(d, start=5.0, end=5.0)


def test_plot_refuses_an_empty_zoom(runner):
    pytest.importorskip("matplotlib")
    _one_line_usage_error(runner.invoke(main, ["plot", "x.wav", "--start", "4", "--end", "2"]),
                          "--end (2)", "--start (4)")


@pytest.mark.slow
@needs_eval("real")
def test_pipeline_records_what_decided_the_count():
    d = Diarizer()(EVAL / "real" / "dev00.wav")
    ev = d.count_evidence
    assert ev is not None and ev.stage == "linking" and ev.threshold is not None
    assert ev.clusters == d.bic_choice and len(d.speakers) <= ev.clusters
    assert all(ev.scores[k] > ev.threshold for k in ev.scores if k >= ev.clusters)
    assert all(ev.scores[k] <= ev.threshold for k in ev.scores if k < ev.clusters)
    given = Diarizer(num_speakers=3)(EVAL / "real" / "dev00.wav").count_evidence
    assert given.stage == "given" and given.clusters == 3 and given.bounds == (3, 3)
