"""Progress of a batch run on a terminal or in a log (see :class:`ConsoleProgress`).

The events carry a batch's records and summary (:mod:`diarize.batch`); only their
attributes are read here (``status``, ``path``, ``error``, ``message``, ``seconds``; the
summary's counts, ``records``, ``elapsed`` and ``errors_file``).
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, TextIO

from .names import message_line

#: Seconds between redraws of the terminal progress bar.
BAR_REFRESH_SECONDS = 0.1
#: Width of the bar in characters.
BAR_WIDTH = 30
#: Files named in the "skipped N files" line at the end of a run before "...".
MAX_LISTED_SKIPPED = 5


def plural(n: int, word: str) -> str:
    """``"1 recording"``, ``"2 recordings"``.

    Examples
    --------
    >>> plural(1, "recording"), plural(0, "file")
    ('1 recording', '0 files')
    """
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def stage_printer(path: Any, *, stream: TextIO | None = None) -> Callable[[str, int, int], None]:
    """A pipeline progress hook printing one line per stage of recording `path` (``-v``)."""
    out = stream if stream is not None else sys.stderr
    started = time.monotonic()

    def hook(stage: str, completed: int, total: int) -> None:
        elapsed = time.monotonic() - started
        try:  # a full or closed stderr must not stop the recording
            if completed == 0:
                print(f"{path}: {stage}... ({elapsed:.1f}s)", file=out, flush=True)
            elif completed < total:
                print(f"{path}: {stage} {completed}/{total} ({elapsed:.1f}s)", file=out,
                      flush=True)
        except (OSError, ValueError, AttributeError):  # AttributeError: no stderr at all
            pass

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

    Notes
    -----
    Progress is not the work: a write to `stream` that fails (a full device, a closed
    or missing stderr) is dropped, and the batch goes on.
    """

    def __init__(self, *, stream: TextIO | None = None, tty: bool | None = None) -> None:
        self.stream: TextIO | None = stream if stream is not None else sys.stderr
        if tty is None:
            try:
                tty = self.stream is not None and self.stream.isatty()
            except (OSError, ValueError):  # closed
                tty = False
        self.tty = tty
        self.total = self.done = 0
        self.t0 = time.perf_counter()
        self._drawn = 0.0

    def start(self, *, total: int, skipped: int) -> None:
        """Note the recordings already done; start the bar's clock."""
        self.total, self.done, self.t0 = total, 0, time.perf_counter()
        if skipped:
            self._line(f"batch: {plural(skipped, 'recording')} already done, skipped")
        if self.tty:
            self._draw(force=True)
        else:
            self._line(f"batch: {plural(total, 'recording')} to diarize")

    def _rate_eta(self) -> tuple[float, float | None]:
        elapsed = time.perf_counter() - self.t0
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else None
        return rate, eta

    def update(self, record: Any) -> None:
        """Redraw the bar (a terminal) or print the recording's line, and its warnings."""
        self.done += 1
        rate, eta = self._rate_eta()
        # what the recording warned of (no speech, ...), in the command line's format
        warned = [f"diarize: warning: {message_line(w)}" for w in getattr(record, "warnings", ())]
        if self.tty:
            if record.status == "failed" or warned:
                self._clear()
            for line in warned:
                self._line(line)
            if record.status == "failed":
                self._line(f"failed: {message_line(record.message)}")
            self._draw(force=self.done == self.total)
            return
        what = "ok" if record.status == "ok" else f"FAILED {record.error}: {message_line(record.message)}"
        eta_text = _clock(eta) if eta is not None else "?"
        self._line(f"[{self.done}/{self.total}] {message_line(record.path)}: {what} "
                   f"({record.seconds:.1f} s; {rate:.2f}/s, ETA {eta_text})")
        for line in warned:
            self._line(line)

    def finish(self, summary: Any) -> None:
        """End the bar (a terminal); print the files skipped and the summary line."""
        if self.tty:
            self._draw(force=True)
            self._write("\n")
        skipped_files = list(getattr(summary, "skipped_files", []))
        if skipped_files:
            shown = ", ".join(message_line(str(f)) for f in skipped_files[:MAX_LISTED_SKIPPED])
            more = len(skipped_files) - MAX_LISTED_SKIPPED
            verb = "is" if len(skipped_files) == 1 else "are"
            self._line(f"batch: skipped {plural(len(skipped_files), 'file')} that {verb} not "
                       f"audio: {shown}" + (f", and {more} more" if more > 0 else ""))
        cpu = sum(r.cpu_seconds for r in summary.records)
        stopped = getattr(summary, "stopped", "")
        if stopped:
            text = (f"batch: {stopped}: {summary.succeeded + summary.failed} done "
                    f"({summary.succeeded} succeeded, {summary.failed} failed), "
                    f"{summary.left} left, {summary.skipped} skipped in {summary.elapsed:.1f} s")
        else:
            text = (f"batch: {summary.succeeded} succeeded, {summary.skipped} skipped, "
                    f"{summary.failed} failed in {summary.elapsed:.1f} s "
                    f"({cpu:.1f} s CPU in recordings)")
        if summary.errors_file is not None:
            text += f" (see {message_line(str(summary.errors_file))})"
        self._line(text)

    def _write(self, text: str) -> None:
        if self.stream is None:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # full or closed: progress is not worth the work
            pass

    def _line(self, text: str) -> None:
        self._write(text + "\n")

    def _clear(self) -> None:
        self._write("\r\x1b[K")

    def _draw(self, *, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._drawn < BAR_REFRESH_SECONDS:
            return
        self._drawn = now
        frac = self.done / self.total if self.total else 1.0
        filled = int(round(frac * BAR_WIDTH))
        rate, eta = self._rate_eta()
        eta_text = _clock(eta) if eta is not None else "--:--:--"
        self._write(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
                    f"{self.done}/{self.total} {rate:.2f} rec/s ETA {eta_text}\x1b[K")
