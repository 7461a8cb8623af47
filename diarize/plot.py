"""Pictures of a diarization: waveform, system and reference timelines, and the evidence
for the number of speakers (linking scores and threshold, or the BIC curve).

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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from .errors import OutputError, ParameterError, RTTMError
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
"""Inches of the waveform and speaker-count panels."""
ENVELOPE_STEP = 0.01
"""Seconds per bin of the envelope kept while the audio streams past
(:func:`block_envelope`): 10 ms is finer than any zoom needs, and 6 h of audio keep
2.2 million bins (17 MB) instead of the 1.4 GB of samples."""
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

    Raises
    ------
    ParameterError
        `y` is not 1-D.

    Examples
    --------
    >>> edges, lo, hi = envelope(np.array([0.0, 1.0, -1.0, 0.5]), n_bins=2)
    >>> edges.tolist(), lo.tolist(), hi.tolist()
    ([0, 2], [0.0, -1.0], [1.0, 0.5])
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ParameterError(f"envelope: expected a 1-D signal, got shape {y.shape}")
    if len(y) == 0:
        empty = np.zeros(0)
        return empty.astype(np.int64), empty, empty
    n = max(1, min(int(n_bins), len(y)))
    edges = np.unique(np.linspace(0, len(y), n + 1).astype(np.int64)[:-1])
    return edges, np.minimum.reduceat(y, edges), np.maximum.reduceat(y, edges)


@dataclass(frozen=True)
class Waveform:
    """The min/max envelope of a signal in fixed bins (:func:`block_envelope`).

    Attributes
    ----------
    lo, hi : ndarray of float32, shape (n_bins,)
        Smallest and largest sample of each bin.
    step : float
        Seconds per bin (the last bin may be shorter).
    duration : float
        Seconds of signal.
    """

    lo: np.ndarray
    hi: np.ndarray
    step: float
    duration: float

    def window(self, start: float, end: float, *, n_bins: int = MAX_ENVELOPE_BINS
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Times, minima and maxima of at most `n_bins` bins covering ``[start, end]``.

        Returns
        -------
        times, lo, hi : ndarray, shape (n,)
            Start time of each bin and its extremes.
        """
        a = max(0, int(np.floor(start / self.step)))
        b = min(len(self.lo), int(np.ceil(end / self.step)))
        if b <= a:
            empty = np.zeros(0)
            return empty, empty, empty
        edges, _, _ = envelope(self.lo[a:b], n_bins=n_bins)
        return ((a + edges) * self.step, np.minimum.reduceat(self.lo[a:b], edges),
                np.maximum.reduceat(self.hi[a:b], edges))


def block_envelope(blocks: Iterable[np.ndarray], *, sample_rate: int,
                   step: float = ENVELOPE_STEP) -> Waveform:
    """The envelope of a signal given as consecutive blocks, holding one block at a time.

    Parameters
    ----------
    blocks : iterable of ndarray, shape (n,)
        The signal, e.g. :func:`diarize.audio.audio_blocks`; any block sizes.
    sample_rate : int, keyword-only
    step : float, keyword-only
        Seconds per bin.

    Returns
    -------
    Waveform

    Examples
    --------
    >>> w = block_envelope([np.array([0.0, 1.0, -1.0]), np.array([0.5])], sample_rate=2,
    ...                    step=1.0)
    >>> w.lo.tolist(), w.hi.tolist(), w.duration
    ([0.0, -1.0], [1.0, 0.5], 2.0)
    """
    size = max(1, int(round(step * sample_rate)))
    los: list[np.ndarray] = []
    his: list[np.ndarray] = []
    carry: np.ndarray = np.zeros(0, dtype=np.float32)
    n = 0
    for block in blocks:
        block = np.asarray(block, dtype=np.float32).ravel()
        n += len(block)
        if len(carry):  # the samples of the last block that did not fill a bin
            block = np.concatenate([carry, block])
        whole = len(block) // size * size
        if whole:
            bins = block[:whole].reshape(-1, size)
            los.append(bins.min(axis=1))
            his.append(bins.max(axis=1))
        carry = block[whole:].copy()
    if len(carry):
        los.append(carry.min(keepdims=True))
        his.append(carry.max(keepdims=True))
    empty = np.zeros(0, dtype=np.float32)
    return Waveform(lo=np.concatenate(los) if los else empty,
                    hi=np.concatenate(his) if his else empty,
                    step=size / sample_rate, duration=n / sample_rate)


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
                  sample_rate: int | None = None, waveform: Waveform | None = None,
                  reference: Iterable[Turn] | None = None, bic_note: str | None = None,
                  title: str | None = None, start: float | None = None,
                  end: float | None = None) -> "Figure":
    """Draw waveform, reference and system timelines and the speaker-count evidence in
    one figure.

    Parameters
    ----------
    diarization : Diarization
        The system output. Its ``count_evidence`` gives the bottom panel: the stage that
        decided the number of speakers and its evidence (linking's merge scores and
        threshold, or the BIC curve); without it, its ``bic`` values.
    signal : ndarray, shape (n_samples,), optional, keyword-only
        The audio, drawn as a min/max envelope (see :func:`envelope`).
    sample_rate : int, optional, keyword-only
        Rate of `signal` (required with it).
    waveform : Waveform, optional, keyword-only
        The audio's envelope from :func:`block_envelope`, instead of `signal` (a long
        recording need not be held in memory).
    reference : iterable of Turn, optional, keyword-only
        Reference turns. System speakers are mapped to reference speakers
        (:func:`speaker_mapping`) so that matching speakers share a colour.
    bic_note : str, optional, keyword-only
        Text shown in the count panel when the diarization has no evidence (why).
    title : str, optional, keyword-only
        Figure title (default: the uri).
    start, end : float, optional, keyword-only
        The time window drawn, in seconds (default: the whole recording).

    Returns
    -------
    matplotlib.figure.Figure
        On an Agg canvas; save it with :func:`save_figure` or ``fig.savefig``.

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    ParameterError
        `signal` without `sample_rate`, or `end` not after `start`.
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
            raise ParameterError("plot_timeline: sample_rate is required with signal")
        waveform = block_envelope([np.asarray(signal)], sample_rate=int(sample_rate))
    if waveform is not None:
        panels.append(("wave", PANEL_HEIGHT))
    if ref is not None:
        panels.append(("ref", LANE_HEIGHT * max(1, len(ref_names)) + LANE_HEIGHT))
    panels.append(("hyp", LANE_HEIGHT * max(1, len(hyp_names)) + LANE_HEIGHT))
    panels.append(("count", PANEL_HEIGHT))

    heights = [h for _, h in panels]
    fig = Figure(figsize=(FIGURE_WIDTH, sum(heights) + 1.0), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(len(panels), 1, height_ratios=heights)
    end_time = max([diarization.duration] + [t.end for t in hyp] + [t.end for t in ref or []]
                   + ([waveform.duration] if waveform is not None else []))
    lo_t = 0.0 if start is None else float(start)
    hi_t = (end_time if end_time > 0 else 1.0) if end is None else float(end)
    if not hi_t > lo_t:
        raise ParameterError(f"plot_timeline: end ({hi_t}) must be after start ({lo_t})")
    time_axes: list[Any] = []
    for row, (kind, _) in enumerate(panels):
        share = time_axes[0] if time_axes and kind != "count" else None
        ax = fig.add_subplot(grid[row], sharex=share)
        if kind == "wave":
            assert waveform is not None
            _draw_waveform(ax, waveform, lo_t, hi_t)
        elif kind == "ref":
            _draw_lanes(ax, ref or [], ref_names, {n: colours[("ref", n)] for n in ref_names},
                        {n: n for n in ref_names}, "reference")
        elif kind == "hyp":
            labels = {n: f"{n} ({mapping[n]})" if n in mapping else n for n in hyp_names}
            _draw_lanes(ax, hyp, hyp_names, {n: colours[("hyp", n)] for n in hyp_names},
                        labels, "system")
        else:
            _draw_count(ax, diarization, bic_note, lanes=len(hyp_names))
        if kind != "count":
            time_axes.append(ax)
    for ax in time_axes:
        ax.set_xlim(lo_t, hi_t)
        ax.label_outer()
    if time_axes:
        time_axes[-1].set_xlabel("time (s)")
        time_axes[-1].tick_params(labelbottom=True)
    fig.suptitle(title if title is not None else diarization.uri)
    return fig


def _draw_waveform(ax: Any, waveform: Waveform, start: float, end: float) -> None:
    # Binned within the window: a zoom shows the detail the whole view averages away.
    times, lo, hi = waveform.window(start, end)
    ax.fill_between(times, lo, hi, color="0.3", linewidth=0, step="post")
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


def _draw_count(ax: Any, diarization: Diarization, note: str | None, *, lanes: int) -> None:
    """The stage that decided the number of speakers and its evidence; says so where
    resegmentation left fewer speakers (`lanes`) than that stage."""
    ev = diarization.count_evidence
    if ev is None:
        _draw_bic(ax, diarization, note, chosen=diarization.bic_choice,
                  title="BIC per number of speakers (lower is better)")
        return
    after = "" if lanes == ev.clusters else f"; resegmentation left {lanes}"
    if ev.stage == "given":
        title = f"speaker count given: {ev.clusters}{after}"
    elif ev.stage == "linking":
        title = (f"speaker count decided by linking: {ev.clusters}{after} (merges scoring "
                 f"above {ev.threshold:g} are made)")
    else:
        title = f"speaker count decided by BIC merging: {ev.clusters}{after}"
    if ev.scores:
        _draw_linking(ax, ev, title)
    else:
        _draw_bic(ax, diarization, note, chosen=ev.clusters, title=title)


def _draw_linking(ax: Any, ev: Any, title: str) -> None:
    ax.set_title(title, fontsize="medium")
    ks = np.array(sorted(ev.scores))
    values = np.array([ev.scores[k] for k in ks], dtype=float)
    made = ks >= ev.clusters  # the merge to k speakers was made while k >= the count
    ax.plot(ks, values, color="0.6", zorder=1)
    ax.plot(ks[made], values[made], marker="o", linestyle="none", color="C0",
            label="merge made", zorder=2)
    if (~made).any():
        ax.plot(ks[~made], values[~made], marker="x", markersize=9, linestyle="none",
                color="C3", label="merge declined", zorder=2)
    if ev.threshold is not None:
        ax.axhline(ev.threshold, color="C3", linestyle="--", linewidth=1,
                   label=f"threshold {ev.threshold:g}")
    ax.axvline(ev.clusters, color="C2", linewidth=1, label=f"count: {ev.clusters}")
    ax.legend(loc="best", fontsize="small")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("speakers after the merge")
    ax.set_ylabel("linking score")


def _draw_bic(ax: Any, diarization: Diarization, note: str | None, *, chosen: int | None,
              title: str) -> None:
    ax.set_title(title, fontsize="medium")
    if not diarization.bic:
        ax.text(0.5, 0.5, f"speaker-count evidence not available{': ' + note if note else ''}",
                transform=ax.transAxes, ha="center", va="center")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    ks = np.array(sorted(diarization.bic))
    values = np.array([diarization.bic[k] for k in ks], dtype=float)
    ax.plot(ks, values, marker="o", color="0.3")
    finite = np.isfinite(values)
    if chosen is not None and chosen in diarization.bic:
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
    ax.set_ylabel("BIC (lower is better)")


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
        by_uri.setdefault(str(getattr(key, "uri", key)), []).extend(turns)
    if uri in by_uri:
        return sorted(by_uri[uri])
    if len(by_uri) == 1:
        return sorted(next(iter(by_uri.values())))
    if not by_uri:
        return []
    raise RTTMError(f"{path}: no turns for file id {uri!r} (found: {', '.join(sorted(by_uri))})")


__all__ = ["plot_timeline", "save_figure", "speaker_mapping", "speaker_colours", "envelope",
           "block_envelope", "Waveform", "load_turns", "MATPLOTLIB_HINT"]
