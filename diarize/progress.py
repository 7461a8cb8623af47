"""Progress of a batch run on a terminal or in a log (see :class:`ConsoleProgress`).

The events carry a batch's records and summary (:mod:`diarize.batch`); only their
attributes are read here (``status``, ``path``, ``error``, ``message``, ``seconds``; the
summary's counts, ``records``, ``elapsed`` and ``errors_file``).
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, TextIO

from .names import printable

#: Seconds between redraws of the terminal progress bar.
BAR_REFRESH_SECONDS = 0.1
#: Width of the bar in characters.
BAR_WIDTH = 30


def stage_printer(path: Any, *, stream: TextIO | None = None) -> Callable[[str, int, int], None]:
    """A pipeline progress hook printing one line per stage of recording `path` (``-v``)."""
    out = stream if stream is not None else sys.stderr
    started = time.monotonic()

    def hook(stage: str, completed: int, total: int) -> None:
        elapsed = time.monotonic() - started
        if completed == 0:
            print(f"{path}: {stage}... ({elapsed:.1f}s)", file=out, flush=True)
        elif completed < total:
            print(f"{path}: {stage} {completed}/{total} ({elapsed:.1f}s)", file=out, flush=True)

    return hook


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class ConsoleProgress:
    """Progress on a stream: a redrawn bar on a terminal, one line per recording otherwise.

    Parameters
    ----------
    stream : text stream, keyword-only
        Usually ``sys.stderr``.
    tty : bool, optional, keyword-only
        Draw a bar (default: whether `stream` is a terminal).
    """

    def __init__(self, *, stream: TextIO | None = None, tty: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.total = self.done = 0
        self.t0 = time.perf_counter()
        self._drawn = 0.0

    def start(self, *, total: int, skipped: int) -> None:
        self.total, self.done, self.t0 = total, 0, time.perf_counter()
        if skipped:
            self._line(f"batch: {skipped} recordings already done, skipped")
        if self.tty:
            self._draw(force=True)
        else:
            self._line(f"batch: {total} recordings to diarize")

    def _rate_eta(self) -> tuple[float, float | None]:
        elapsed = time.perf_counter() - self.t0
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else None
        return rate, eta

    def update(self, record: Any) -> None:
        self.done += 1
        rate, eta = self._rate_eta()
        if self.tty:
            if record.status == "failed":
                self._clear()
                self._line(f"failed: {printable(record.message)}")
            self._draw(force=self.done == self.total)
            return
        what = "ok" if record.status == "ok" else f"FAILED {record.error}: {printable(record.message)}"
        eta_text = _clock(eta) if eta is not None else "?"
        self._line(f"[{self.done}/{self.total}] {printable(record.path)}: {what} "
                   f"({record.seconds:.1f} s; {rate:.2f}/s, ETA {eta_text})")

    def finish(self, summary: Any) -> None:
        if self.tty:
            self._draw(force=True)
            self.stream.write("\n")
        cpu = sum(r.cpu_seconds for r in summary.records)
        text = (f"batch: {summary.succeeded} succeeded, {summary.skipped} skipped, "
                f"{summary.failed} failed in {summary.elapsed:.1f} s "
                f"({cpu:.1f} s CPU in recordings)")
        if summary.errors_file is not None:
            text += f" (see {printable(str(summary.errors_file))})"
        self._line(text)

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def _clear(self) -> None:
        self.stream.write("\r\x1b[K")

    def _draw(self, *, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._drawn < BAR_REFRESH_SECONDS:
            return
        self._drawn = now
        frac = self.done / self.total if self.total else 1.0
        filled = int(round(frac * BAR_WIDTH))
        rate, eta = self._rate_eta()
        eta_text = _clock(eta) if eta is not None else "--:--:--"
        self.stream.write(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
                          f"{self.done}/{self.total} {rate:.2f} rec/s ETA {eta_text}\x1b[K")
        self.stream.flush()
