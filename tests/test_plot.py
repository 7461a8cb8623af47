"""diarize.plot and the `diarize plot` command."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from diarize.cli import main
from diarize.plot import MATPLOTLIB_HINT, envelope, speaker_mapping
from diarize.segments import Diarization, Turn
from conftest import EVAL, cli_runner

REPO = Path(__file__).resolve().parents[1]
SHARED_EVAL = EVAL / "real"
SAMPLE_WAV = SHARED_EVAL / "sample.wav"
SAMPLE_RTTM = SHARED_EVAL / "sample.rttm"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MIN_PICTURE_BYTES = 20_000  # a blank or broken figure is a few kB


# --------------------------------------------------------------------------- helpers
def test_envelope_is_bounded_and_exact():
    y = np.random.default_rng(0).standard_normal(1_000_003).astype(np.float32)
    edges, lo, hi = envelope(y, n_bins=500)
    assert len(edges) == len(lo) == len(hi) == 500
    assert lo.min() == y.min() and hi.max() == y.max()
    assert np.all(lo <= hi)
    edges, lo, hi = envelope(y[:10], n_bins=500)  # short signal: one bin per sample
    assert len(edges) == 10 and np.array_equal(lo, y[:10])
    assert len(envelope(np.zeros(0))[0]) == 0


def test_speaker_mapping_is_optimal_one_to_one():
    ref = [Turn(0, 10, "r1"), Turn(10, 12, "r2"), Turn(12, 20, "r3")]
    # h1 overlaps r1 for 6 s and r3 for 8 s; h2 overlaps only r1 (4 s). Greedy
    # (h1 -> r1 first) totals 6 + 2; the optimal one-to-one mapping totals 8 + 4 + 2.
    hyp = [Turn(0, 6, "h1"), Turn(6, 10, "h2"), Turn(12, 20, "h1"), Turn(10, 12, "h3")]
    assert speaker_mapping(hyp, ref) == {"h1": "r3", "h2": "r1", "h3": "r2"}
    assert speaker_mapping(hyp, []) == {}
    assert speaker_mapping([Turn(0, 1, "x")], [Turn(5, 6, "y")]) == {}  # no overlap, no match


def test_matched_speakers_share_a_colour():
    pytest.importorskip("matplotlib")
    from diarize.plot import speaker_colours

    colours = speaker_colours(["h1", "h2", "h3"], ["r1", "r2"], {"h2": "r1"})
    assert colours[("hyp", "h2")] == colours[("ref", "r1")]
    others = [colours[("hyp", "h1")], colours[("hyp", "h3")], colours[("ref", "r2")]]
    assert len({*others, colours[("ref", "r1")]}) == 4


# --------------------------------------------------------------------------- figures
@pytest.mark.slow
def test_plot_timeline_panels(tmp_path):
    pytest.importorskip("matplotlib")
    from diarize.plot import plot_timeline, save_figure

    d = Diarization([Turn(0.0, 1.0, "A"), Turn(1.0, 3.0, "B")], uri="demo", duration=3.0,
                    bic={1: -5.0, 2: -7.0, 3: -6.0})
    y = np.sin(np.linspace(0, 300, 48000)).astype(np.float32)
    fig = plot_timeline(d, signal=y, sample_rate=16000, reference=[Turn(0.0, 3.0, "r")])
    assert len(fig.axes) == 4  # waveform, reference, system, BIC
    fig = plot_timeline(Diarization([], uri="empty"), bic_note="nothing")
    assert len(fig.axes) == 2
    save_figure(fig, tmp_path / "x.png")
    assert (tmp_path / "x.png").read_bytes().startswith(PNG_MAGIC)


def test_save_figure_reports_bad_directory(tmp_path):
    pytest.importorskip("matplotlib")
    from diarize.errors import OutputError
    from diarize.plot import plot_timeline, save_figure

    with pytest.raises(OutputError):
        save_figure(plot_timeline(Diarization([])), tmp_path / "missing" / "x.png")


# --------------------------------------------------------------------------- command
needs_sample = pytest.mark.skipif(not SAMPLE_WAV.is_file(),
                                  reason="shared evaluation data not present")


@pytest.mark.slow
@needs_sample
def test_plot_command_on_real_audio_with_reference(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "timeline.png"
    result = cli_runner().invoke(main, ["plot", str(SAMPLE_WAV), "--ref", str(SAMPLE_RTTM),
                                     "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > MIN_PICTURE_BYTES


@pytest.mark.slow
@needs_sample
def test_plot_command_with_rttm_does_not_diarize(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from diarize.pipeline import Diarizer

    def refuse(*args, **kwargs):
        raise AssertionError("plot --rttm must not run the pipeline")

    monkeypatch.setattr(Diarizer, "diarize_signal", refuse)
    monkeypatch.setattr(Diarizer, "__call__", refuse)
    out = tmp_path / "t.png"
    result = cli_runner().invoke(main, ["plot", str(SAMPLE_WAV), "--rttm", str(SAMPLE_RTTM),
                                     "--ref", str(SAMPLE_RTTM), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > MIN_PICTURE_BYTES


def test_plot_command_without_matplotlib(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    result = cli_runner().invoke(main, ["plot", "x.wav", "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"diarize: error: {MATPLOTLIB_HINT}"


@pytest.mark.parametrize("window", [["--end", "0"], ["--start", "5", "--end", "5"]])
def test_plot_command_refuses_an_empty_window(tmp_path, window):
    result = cli_runner().invoke(main, ["plot", str(SAMPLE_WAV), "--rttm", str(SAMPLE_RTTM),
                                        *window, "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "must be after --start" in result.stderr


def test_plot_command_missing_audio_is_exit_1(tmp_path):
    pytest.importorskip("matplotlib")
    result = cli_runner().invoke(main, ["plot", str(tmp_path / "none.wav")])
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1


def test_plot_timeline_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    from diarize.plot import plot_timeline

    with pytest.raises(ImportError, match=r"pip install 'gmm-diarize\[plot\]'"):
        plot_timeline(Diarization([]))
