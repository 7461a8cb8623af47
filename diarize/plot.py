"""Pictures of a diarization: waveform, system and reference timelines, BIC curve.

matplotlib is an optional dependency (``pip install 'gmm-diarize[plot]'``); it is
imported only when a figure is drawn. Figures are drawn on matplotlib's Agg canvas
directly (``Figure`` + ``FigureCanvasAgg``), never through ``pyplot``, so drawing a
figure neither needs a display nor changes the backend of the caller's session.

Examples
--------
>>> from diarize.segments import Turn
>>> hyp = [Turn(0.0, 2.0, "SPEAKER_00"), Turn(2.0, 5.0, "SPEAKER_01")]
>>> ref = [Turn(0.0, 2.2, "bob"), Turn(2.2, 5.0, "alice")]
>>> speaker_mapping(hyp, ref)
{'SPEAKER_00': 'bob', 'SPEAKER_01': 'alice'}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from .errors import OutputError, RTTMError
from .metrics import speaker_mapping
from .segments import Diarization, Turn
from .writers import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

MATPLOTLIB_HINT = "diarize plot needs matplotlib: pip install 'gmm-diarize[plot]'"
"""Message of the ImportError raised when matplotlib is missing."""

MAX_ENVELOPE_BINS = 2000
"""The waveform is drawn as the min/max envelope of at most this many bins: a few
thousand points are as sharp as the screen, millions would make a slow, huge PNG."""

FIGURE_WIDTH = 12.0
"""Inches; with :data:`FIGURE_DPI` a 1800-pixel-wide picture."""
FIGURE_DPI = 150
LANE_HEIGHT = 0.35
"""Inches of figure height per speaker lane in a timeline panel."""
PANEL_HEIGHT = 1.6
"""Inches of the waveform and BIC panels."""
BAR_FILL = 0.8
"""Fraction of a speaker lane covered by its turn bars (the rest separates lanes)."""


def _require_matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ImportError(MATPLOTLIB_HINT) from None
    return matplotlib


# --------------------------------------------------------------------------- pure helpers
def envelope(y: np.ndarray, *, n_bins: int = MAX_ENVELOPE_BINS
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min/max envelope of a signal, for drawing it with a bounded number of points.

    Parameters
    ----------
    y : ndarray, shape (n_samples,)
    n_bins : int, keyword-only
        Number of bins (fewer when the signal is shorter).

    Returns
    -------
    edges : ndarray of int, shape (n,)
        First sample of each bin.
    lo, hi : ndarray, shape (n,)
        Minimum and maximum sample of each bin.

    Examples
    --------
    >>> edges, lo, hi = envelope(np.array([0.0, 1.0, -1.0, 0.5]), n_bins=2)
    >>> edges.tolist(), lo.tolist(), hi.tolist()
    ([0, 2], [0.0, -1.0], [1.0, 0.5])
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"envelope: expected a 1-D signal, got shape {y.shape}")
    if len(y) == 0:
        empty = np.zeros(0)
        return empty.astype(np.int64), empty, empty
    n = max(1, min(int(n_bins), len(y)))
    edges = np.unique(np.linspace(0, len(y), n + 1).astype(np.int64)[:-1])
    return edges, np.minimum.reduceat(y, edges), np.maximum.reduceat(y, edges)


def speaker_colours(hypothesis: Sequence[str], reference: Sequence[str] = (),
                    mapping: dict[str, str] | None = None) -> dict[tuple[str, str], Any]:
    """One colour per speaker; a system speaker mapped to a reference speaker shares its colour.

    Returns
    -------
    dict of (side, label) to RGBA tuple
        ``side`` is ``"ref"`` or ``"hyp"``.
    """
    matplotlib = _require_matplotlib()
    mapping = mapping or {}
    n = len(reference) + len(hypothesis)
    # tab10 is the most distinguishable palette; tab20 only when there are more speakers
    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    out: dict[tuple[str, str], Any] = {}
    for i, name in enumerate(reference):
        out[("ref", name)] = cmap(i % cmap.N)
    nxt = len(reference)
    for name in hypothesis:
        if name in mapping and ("ref", mapping[name]) in out:
            out[("hyp", name)] = out[("ref", mapping[name])]
        else:
            out[("hyp", name)] = cmap(nxt % cmap.N)
            nxt += 1
    return out


# --------------------------------------------------------------------------- drawing
def plot_timeline(diarization: Diarization, *, signal: np.ndarray | None = None,
                  sample_rate: int | None = None, reference: Iterable[Turn] | None = None,
                  bic_note: str | None = None, title: str | None = None) -> "Figure":
    """Draw waveform, reference and system timelines and the BIC curve in one figure.

    Parameters
    ----------
    diarization : Diarization
        The system output; its ``bic`` values give the bottom panel.
    signal : ndarray, shape (n_samples,), optional, keyword-only
        The audio, drawn as a min/max envelope (see :func:`envelope`).
    sample_rate : int, optional, keyword-only
        Rate of `signal` (required with it).
    reference : iterable of Turn, optional, keyword-only
        Reference turns. System speakers are mapped to reference speakers
        (:func:`speaker_mapping`) so that matching speakers share a colour.
    bic_note : str, optional, keyword-only
        Text shown in the BIC panel when ``diarization.bic`` is empty (why it is missing).
    title : str, optional, keyword-only
        Figure title (default: the uri).

    Returns
    -------
    matplotlib.figure.Figure
        On an Agg canvas; save it with :func:`save_figure` or ``fig.savefig``.

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    """
    _require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    hyp = list(diarization.turns)
    ref = sorted(reference) if reference is not None else None
    hyp_names = sorted(dict.fromkeys(t.speaker for t in hyp))
    ref_names = sorted(dict.fromkeys(t.speaker for t in ref)) if ref is not None else []
    mapping = speaker_mapping(hyp, ref) if ref is not None else {}
    colours = speaker_colours(hyp_names, ref_names, mapping)

    panels: list[tuple[str, float]] = []
    if signal is not None:
        if sample_rate is None:
            raise ValueError("plot_timeline: sample_rate is required with signal")
        panels.append(("wave", PANEL_HEIGHT))
    if ref is not None:
        panels.append(("ref", LANE_HEIGHT * max(1, len(ref_names)) + LANE_HEIGHT))
    panels.append(("hyp", LANE_HEIGHT * max(1, len(hyp_names)) + LANE_HEIGHT))
    panels.append(("bic", PANEL_HEIGHT))

    heights = [h for _, h in panels]
    fig = Figure(figsize=(FIGURE_WIDTH, sum(heights) + 1.0), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(len(panels), 1, height_ratios=heights)
    end_time = max([diarization.duration] + [t.end for t in hyp] + [t.end for t in ref or []])
    time_axes: list[Any] = []
    for row, (kind, _) in enumerate(panels):
        share = time_axes[0] if time_axes and kind != "bic" else None
        ax = fig.add_subplot(grid[row], sharex=share)
        if kind == "wave":
            assert sample_rate is not None  # checked above with signal
            _draw_waveform(ax, np.asarray(signal), int(sample_rate))
        elif kind == "ref":
            _draw_lanes(ax, ref or [], ref_names, {n: colours[("ref", n)] for n in ref_names},
                        {n: n for n in ref_names}, "reference")
        elif kind == "hyp":
            labels = {n: f"{n} ({mapping[n]})" if n in mapping else n for n in hyp_names}
            _draw_lanes(ax, hyp, hyp_names, {n: colours[("hyp", n)] for n in hyp_names},
                        labels, "system")
        else:
            _draw_bic(ax, diarization, bic_note)
        if kind != "bic":
            time_axes.append(ax)
    for ax in time_axes:
        ax.set_xlim(0.0, end_time if end_time > 0 else 1.0)
        ax.label_outer()
    if time_axes:
        time_axes[-1].set_xlabel("time (s)")
        time_axes[-1].tick_params(labelbottom=True)
    fig.suptitle(title if title is not None else diarization.uri)
    return fig


def _draw_waveform(ax: Any, y: np.ndarray, sample_rate: int) -> None:
    edges, lo, hi = envelope(y)
    ax.fill_between(edges / sample_rate, lo, hi, color="0.3", linewidth=0, step="post")
    ax.set_ylabel("waveform")
    ax.set_yticks([])


def _draw_lanes(ax: Any, turns: Sequence[Turn], names: Sequence[str], colours: dict[str, Any],
                labels: dict[str, str], what: str) -> None:
    lane = {n: i for i, n in enumerate(names)}
    for name in names:
        spans = [(t.start, t.duration) for t in turns if t.speaker == name]
        y = lane[name] - BAR_FILL / 2
        ax.broken_barh(spans, (y, BAR_FILL), facecolors=colours[name])
    ax.set_yticks(range(len(names)), [labels[n] for n in names])
    ax.set_ylim(len(names) - 0.5 if names else 0.5, -0.5)
    ax.set_ylabel(what)
    if not names:
        ax.text(0.5, 0.5, f"no {what} turns", transform=ax.transAxes, ha="center", va="center")


def _draw_bic(ax: Any, diarization: Diarization, note: str | None) -> None:
    ax.set_title("BIC per number of speakers (lower is better)", fontsize="medium")
    if not diarization.bic:
        ax.text(0.5, 0.5, f"BIC curve not available{': ' + note if note else ''}",
                transform=ax.transAxes, ha="center", va="center")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    ks = np.array(sorted(diarization.bic))
    values = np.array([diarization.bic[k] for k in ks], dtype=float)
    ax.plot(ks, values, marker="o", color="0.3")
    finite = np.isfinite(values)
    chosen = diarization.bic_choice
    if chosen in diarization.bic:
        # The count the clustering chose (its stopping rule need not pick the minimum).
        ax.plot([chosen], [diarization.bic[chosen]], marker="*", markersize=16, color="C3",
                linestyle="none", label=f"chosen: {chosen} speakers")
        ax.legend(loc="best")
    elif finite.any():
        best = ks[finite][np.argmin(values[finite])]
        ax.plot([best], [diarization.bic[best]], marker="*", markersize=16, color="C3",
                linestyle="none", label=f"minimum: {best} speakers")
        ax.legend(loc="best")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # speaker counts are whole
    ax.set_xlabel("number of speakers")
    ax.set_ylabel("BIC")


# --------------------------------------------------------------------------- files
def save_figure(fig: "Figure", path: str | os.PathLike, *, dpi: int = FIGURE_DPI) -> None:
    """Save `fig` to `path` atomically (format from the extension, e.g. ``.png``, ``.svg``).

    Raises
    ------
    OutputError
        If the file cannot be written.
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    try:
        atomic_write(path, lambda f: fig.savefig(f, format=fmt, dpi=dpi), binary=True)
    except ValueError as exc:  # matplotlib: unsupported format
        raise OutputError(f"{path}: cannot write a figure as {fmt!r} ({exc})") from None


def load_turns(path: str | os.PathLike, *, uri: str) -> list[Turn]:
    """The turns of recording `uri` in an RTTM file (read with :func:`diarize.rttm.read_rttm`).

    If no turn has file id `uri` but the file holds exactly one recording, that
    recording's turns are used (an RTTM named after another copy of the audio).

    Raises
    ------
    RTTMError
        If the file cannot be read, or holds several recordings and none is `uri`.
    """
    from .rttm import read_rttm

    data = read_rttm(path)
    if not isinstance(data, dict):  # a reader returning the turns of one recording
        return sorted(data)
    by_uri: dict[str, list[Turn]] = {}
    for key, turns in data.items():
        by_uri.setdefault(key.uri, []).extend(turns)
    if uri in by_uri:
        return sorted(by_uri[uri])
    if len(by_uri) == 1:
        return sorted(next(iter(by_uri.values())))
    if not by_uri:
        return []
    raise RTTMError(f"{path}: no turns for file id {uri!r} (found: {', '.join(sorted(by_uri))})")


__all__ = ["plot_timeline", "save_figure", "speaker_mapping", "speaker_colours", "envelope",
           "load_turns", "MATPLOTLIB_HINT"]
