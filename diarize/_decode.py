"""Decoding through FFmpeg (PyAV) for what libsndfile does not read: m4a/AAC, mp4, mov,
mkv, webm, Opus in any container, WMA, pipes and streamed WAVs.

:class:`AvReader` hands out decoded samples in pieces of the size asked for, one FFmpeg
frame (a few ms) at a time, so that nothing holds more than one block of the file. Samples
are placed on the container's timeline from the frames' timestamps: FFmpeg already drops
the encoder delay (AAC priming samples through the mp4 edit list, Opus pre-skip, the LAME
header's delay), and what it leaves (a stream that starts after the container does, a
frame that repeats or skips time) is padded with silence or trimmed here, so that a time
in the output is the same time in the original recording.

PyAV is imported only when a file needs it: libsndfile stays the first choice.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .errors import AudioError, AudioWarning, warn_recording

#: FFmpeg demuxers whose stated duration comes from the file's header or index (not an
#: estimate from the bit rate): only for these is a shortfall of decoded audio a damaged
#: or cut-short file. Ogg has no stated length; its end-of-stream page is checked instead.
STATED_DURATION_FORMATS = frozenset({"mov", "mp4", "m4a", "matroska", "webm", "asf", "wav",
                                     "w64", "aiff", "caf", "flac"})
MATROSKA_FORMATS = frozenset({"matroska", "webm"})
"""Formats whose tracks state their length in a ``DURATION`` tag (HH:MM:SS.fraction)."""
#: Samples of silence written at a time when a timestamp gap is padded.
_PAD_PIECE = 1 << 16


class _NotDecodable(AudioError):
    """FFmpeg does not recognise the file at all (as opposed to one it opens and finds
    no audio in, or damaged)."""


def _tag_seconds(text: Any) -> Any:
    """A Matroska ``DURATION`` tag (``00:00:30.014000000``) as a Fraction of seconds, or
    None if there is none or it does not read as one."""
    from fractions import Fraction

    if not isinstance(text, str):
        return None
    parts = text.strip().split(":")
    try:
        if len(parts) != 3:
            raise ValueError
        hours, minutes = int(parts[0]), int(parts[1])
        seconds = Fraction(parts[2])
    except (ValueError, ZeroDivisionError):
        return None
    if hours < 0 or not 0 <= minutes < 60 or not 0 <= seconds < 60:
        return None
    return hours * 3600 + minutes * 60 + seconds


def _open_options(av: Any) -> dict[str, str]:
    """Keywords of ``av.open`` for tags that are not UTF-8 (a title in Latin-1): PyAV up to
    18 decodes them strictly unless told to ignore errors; PyAV 19 takes no such keyword
    (and decodes them with escapes)."""
    major = str(getattr(av, "__version__", "0")).split(".")[0]
    return {"metadata_errors": "ignore"} if int(major) < 19 else {}


def _av() -> Any:
    import av  # deferred: FFmpeg's libraries take a while to load and most inputs never need them

    return av


def _scaled(frame: Any) -> np.ndarray:
    """One decoded frame as float32 samples at full scale 1.0.

    Returns
    -------
    ndarray, shape (n_samples, n_channels), float32
    """
    a = frame.to_ndarray()
    name = frame.format.name
    channels = frame.layout.nb_channels
    base = name.rstrip("p") if frame.format.is_planar else name
    if base == "u8":
        x = (a.astype(np.float32) - np.float32(128)) / np.float32(128)
    elif base in ("s16", "s32", "s64"):
        # the same scaling libsndfile uses for integer PCM (full scale 2**(bits-1))
        x = a.astype(np.float32) / np.float32(2.0 ** (8 * a.dtype.itemsize - 1))
    else:
        x = a.astype(np.float32, copy=False)
    if frame.format.is_planar:
        return np.ascontiguousarray(x.T)
    return x.reshape(-1, channels)


class AvReader:
    """The first audio track of a file, decoded by FFmpeg.

    Attributes
    ----------
    samplerate, channels : int
        Of the first decoded frame: the rate a codec reports before decoding can differ
        (HE-AAC reports its core rate).
    frames : int
        Samples per channel the container states for the track, 0 when it states none
        (streams, pipes, containers whose duration is only an estimate).
    format : str
        FFmpeg's name of the container format.
    seekable : bool
        False for a pipe (read once, never back to an index after the audio).
    """

    def __init__(self, path: Path, *, seekable: bool = True) -> None:
        av = _av()
        self.path = path
        self.seekable = seekable  # False: a pipe, read once
        try:
            self._container = av.open(str(path), mode="r", **_open_options(av))
        except (av.error.FFmpegError, OSError, UnicodeError, ValueError) as exc:
            raise _NotDecodable(f"{path}: not a readable audio file ({_detail(exc)})") from None
        try:
            self._setup(av)
        except BaseException:
            self._container.close()
            raise

    def _setup(self, av: Any) -> None:
        c, path = self._container, self.path
        audio = list(c.streams.audio)
        if not audio:
            others = sorted({s.type for s in c.streams})
            if others:
                raise AudioError(f"{path}: no audio track (the file holds only "
                                 f"{', '.join(others)})")
            raise _NotDecodable(f"{path}: not a readable audio file (no audio track)")
        if len(audio) > 1:
            warn_recording(f"{path}: {len(audio)} audio tracks; diarizing only the first",
                           AudioWarning, stacklevel=4)
        self._stream = stream = audio[0]
        self.format = str(c.format.name)
        # imported here: fractions imports decimal, a few ms that files libsndfile reads
        # need not pay (PyAV, loaded by now, has imported it anyway)
        from fractions import Fraction

        self._tb = stream.time_base or Fraction(1, stream.rate or 1)
        # time 0 is the container's: a track that starts after the video starts late here too
        if c.start_time is not None:
            self._origin = Fraction(int(c.start_time), 1_000_000)
        elif stream.start_time is not None:
            self._origin = stream.start_time * self._tb
        else:
            self._origin = Fraction(0)
        self._frames_iter = self._decoded()
        self._pending: list[np.ndarray] = []
        self._n_pending = 0
        self._pos = 0  # samples handed out or buffered, on the output timeline
        self._done = False
        self._first: tuple[Any, np.ndarray] | None = None
        first = next(self._frames_iter, None)
        if first is None:
            self.samplerate = int(stream.rate or 0)
            self.channels = int(stream.codec_context.layout.nb_channels or 1)
            self.frames = 0
            self._done = True
            self._first = None
            return
        self._done = False
        frame, data = first
        self.samplerate = int(frame.sample_rate)
        self.channels = data.shape[1]
        self.frames = self._stated_frames(c, stream)
        self._first = first

    @property
    def has_samples(self) -> bool:
        """Whether the track decodes to at least one sample."""
        return self._first is not None or self._pos > 0

    def _stated_frames(self, c: Any, stream: Any) -> int:
        """Samples the file says the track holds, on the output timeline (0: unknown).

        A Matroska/WebM track has no duration of its own: FFmpeg fills one in from the
        container (the video's length, when the audio is muxed after it), so its
        ``DURATION`` tag is read instead. Matroska's times and the lone track's container
        duration run from time 0, not from the track's first timestamp: the origin comes
        off.
        """
        from fractions import Fraction

        names = set(self.format.split(","))
        if not names & STATED_DURATION_FORMATS:
            return 0
        matroska = bool(names & MATROSKA_FORMATS)
        tagged = _tag_seconds(stream.metadata.get("DURATION")) if matroska else None
        if tagged is not None:
            end = tagged - self._origin
        elif stream.duration and not matroska:
            start = stream.start_time * self._tb if stream.start_time is not None else 0
            end = start + stream.duration * self._tb - self._origin
        elif c.duration and len(c.streams) == 1:
            # a container's duration is its longest track's: only a lone track's own
            end = Fraction(int(c.duration), 1_000_000) - self._origin
        else:
            return 0
        return max(0, int(end * self.samplerate))

    def _decoded(self) -> Iterator[tuple[Any, np.ndarray]]:
        av = _av()
        try:
            for packet in self._container.demux(self._stream):
                for frame in packet.decode():
                    if frame.samples:
                        yield frame, _scaled(frame)
        except av.error.FFmpegError as exc:
            where = self._pos / self.samplerate if getattr(self, "samplerate", 0) else 0.0
            if (self._pos == 0 and set(self.format.split(",")) & {"mov", "mp4", "m4a"}
                    and not self.seekable):
                # The index of such a file most often follows its audio (FFmpeg's default
                # layout), and a pipe cannot be read back to it: not damaged data.
                raise AudioError(f"{self.path}: an MP4/M4A/MOV stream whose index comes after "
                                 "its audio cannot be read from a pipe: give the file's name "
                                 "(or remux it with ffmpeg -movflags +faststart)") from None
            raise AudioError(f"{self.path}: corrupt audio data at {where:.2f} s "
                             f"({_detail(exc)})") from None

    def _placed(self) -> Iterator[np.ndarray]:
        """Decoded samples on the container's timeline: gaps padded, repeats trimmed."""
        rate = self.samplerate
        # timestamps are rounded to the time base: only differences beyond that are real
        tolerance = math.ceil(2 * self._tb * rate) + 1
        first, self._first = self._first, None
        frames = self._frames_iter if first is None else _chain(first, self._frames_iter)
        for frame, data in frames:
            if frame.sample_rate != rate or data.shape[1] != self.channels:
                raise AudioError(f"{self.path}: the audio track changes its sample rate or "
                                 f"channel count at {self._pos / rate:.2f} s (not supported)")
            if frame.pts is not None:
                start = round((frame.pts * frame.time_base - self._origin) * rate)
                if start > self._pos + tolerance and self.frames and start <= self.frames:
                    while self._pos < start:  # padded piecewise: memory stays bounded
                        n = min(_PAD_PIECE, start - self._pos)
                        self._pos += n
                        yield np.zeros((n, self.channels), dtype=np.float32)
                elif start < self._pos - tolerance:
                    data = data[self._pos - start:]
            if len(data):
                self._pos += len(data)
                yield data

    def read(self, n: int) -> np.ndarray:
        """The next `n` samples (fewer only at the end of the track).

        Returns
        -------
        ndarray, shape (n', n_channels), float32
        """
        if not hasattr(self, "_placed_iter"):
            self._placed_iter = self._placed() if not self._done else iter(())
        while self._n_pending < n and not self._done:
            piece = next(self._placed_iter, None)
            if piece is None:
                self._done = True
            else:
                self._pending.append(piece)
                self._n_pending += len(piece)
        if not self._pending:
            return np.zeros((0, self.channels), dtype=np.float32)
        joined = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending)
        out, rest = joined[:n], joined[n:]
        self._pending = [rest] if len(rest) else []
        self._n_pending = len(rest)
        return out

    def close(self) -> None:
        """Close the container (its file)."""
        self._container.close()

    def __enter__(self) -> "AvReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _chain(first: tuple[Any, np.ndarray], rest: Iterator[tuple[Any, np.ndarray]]
           ) -> Iterator[tuple[Any, np.ndarray]]:
    yield first
    yield from rest


def _detail(exc: BaseException) -> str:
    """FFmpeg's reason without the file name it repeats."""
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).split(":")[0].strip() or type(exc).__name__
