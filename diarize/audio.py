"""Audio loading: any file libsndfile reads, any rate, any channel count -> mono float32.

Input (a file, or samples in memory) is read in blocks; each block is downmixed, fed to
a streaming soxr resampler (the resampler librosa uses) and high-passed (a Butterworth
filter whose state is carried from block to block), so that DC offset and sub-audio
rumble never reach anything that measures level. :func:`audio_blocks` hands the blocks
on one at a time: nothing here holds the whole signal unless asked to
(:func:`read_audio`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import soundfile as sf
import soxr

from .config import AudioConfig
from .errors import AudioError
from .highpass import highpass_filter

#: File suffixes taken as audio when a folder is searched (``diarize batch``, ``diarize
#: tune``, the scripts): the formats libsndfile reads. ``.m4a`` (AAC) is not among them.
AUDIO_SUFFIXES = frozenset({
    ".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc",
    ".au", ".snd", ".caf", ".w64", ".rf64", ".wv",
})
#: soxr quality used for resampling ('HQ': the quality librosa calls 'soxr_hq').
RESAMPLE_QUALITY = "HQ"
#: Largest sample magnitude accepted (full scale is 1.0). Float files written in integer
#: scale (up to 2**31) pass; beyond ~1e16 the float32 spectra overflow, so such files
#: are rejected as corrupt instead of silently giving an empty diarization.
MAX_ABS_SAMPLE = 1e12
#: Most samples (all channels together) read at a time: block_seconds is shortened for
#: files with many channels or a very high rate, so that one block stays within 32 MB.
MAX_BLOCK_SAMPLES = 1 << 23
#: Seconds a decoder may deliver short of the length the file's header states before the
#: file counts as damaged: an MP3 decoder that skips one bad frame loses ~30 ms, which
#: moves nothing; one that stops at a bad frame loses the rest of the recording.
DECODE_SHORTFALL_SECONDS = 0.1


@contextlib.contextmanager
def _decoder_quiet(mpeg: bool) -> Iterator[None]:
    """Keep an MPEG decoder's own notes ("Illegal Audio-MPEG-Header ...") off stderr:
    libmpg123 writes them straight to file descriptor 2, and what damage means is said
    in our own one-line error instead."""
    if not mpeg:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable stderr: nothing to protect
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _open(path: Path) -> sf.SoundFile:
    """Open `path` with libsndfile, turning every failure into a one-line AudioError."""
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if not os.access(path, os.R_OK):
        raise AudioError(f"{path}: permission denied")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise AudioError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    try:
        with _decoder_quiet(path.suffix.lower() in (".mp3", ".mp2", ".mpga")):
            # A name that is not UTF-8 (any bytes a file system holds) reaches Python as
            # lone surrogates, which soundfile cannot encode: give it the raw bytes.
            return sf.SoundFile(str(path) if _utf8(str(path)) else os.fsencode(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        detail = str(exc).split(":")[-1].strip() or "unknown format"
        raise AudioError(f"{path}: not a readable audio file ({detail})") from None
    except OSError as exc:
        raise AudioError(f"{path}: cannot read ({exc.strerror or exc})") from None


def audio_info(path: str | os.PathLike) -> tuple[float, int, int]:
    """Duration (seconds), native sample rate and channel count of an audio file.

    Raises
    ------
    AudioError
        If the file is missing, empty or not audio.
    """
    path = Path(path)
    with _open(path) as f:
        return f.frames / f.samplerate if f.samplerate else 0.0, f.samplerate, f.channels


def audio_blocks(audio: Any, *, config: AudioConfig | None = None) -> Iterator[np.ndarray]:
    """Input audio as consecutive mono float32 blocks at ``config.sample_rate``.

    Every block is downmixed, checked (finite, in range), resampled with a streaming soxr
    resampler and high-passed (``config.highpass_hz``); concatenated they are the whole
    signal, whatever the block size.

    Parameters
    ----------
    audio : path-like or (array-like, number)
        A file (any format libsndfile reads, integer or float samples), or in-memory
        samples and their rate: shape (n_samples,), (n_samples, n_channels) or
        (n_channels, n_samples); integer samples are scaled to full scale 1.0 (unsigned
        8-bit, as 8-bit WAV holds it, is centred on 128).
    config : AudioConfig, keyword-only

    Yields
    ------
    ndarray, shape (n,), float32

    Raises
    ------
    AudioError
        Missing, unreadable, empty, corrupt or non-audio file; decoding that stops short
        of the length the header states; a sample rate that is not a whole number or is
        below ``config.min_sample_rate``; samples that are NaN, infinite or out of range.
    """
    cfg = config or AudioConfig()
    if isinstance(audio, (str, os.PathLike)):
        path = Path(audio)
        with _open(path) as f:
            if f.frames <= 0 or f.samplerate <= 0:
                raise AudioError(f"{path}: contains no audio samples")
            _check_rate(f.samplerate, cfg, f"{path}: ")
            yield from _condition(_file_chunks(f, path, cfg), f.samplerate, cfg)
        return
    try:
        samples, rate = audio
    except (TypeError, ValueError):
        raise AudioError("audio must be a path or a (samples, sample_rate) pair") from None
    y = np.asarray(samples)
    if y.ndim not in (1, 2):
        raise AudioError(f"audio array must be 1-D or 2-D, got shape {np.shape(samples)}")
    if y.dtype.kind not in "biuf":
        raise AudioError(f"audio samples must be real numbers, got dtype {y.dtype}")
    rate = _whole_rate(rate)
    _check_rate(rate, cfg, "")
    yield from _condition(_array_chunks(y, rate, cfg), rate, cfg)


def load_audio(path: str | os.PathLike, *, sample_rate: int | None = None,
               block_seconds: float | None = None,
               config: AudioConfig | None = None) -> np.ndarray:
    """Read an audio file as mono float32: the blocks of :func:`audio_blocks` joined.

    Parameters
    ----------
    path : path-like
    sample_rate, block_seconds : keyword-only, optional
        Override the values of `config` (default ``AudioConfig()``).
    config : AudioConfig, keyword-only

    Returns
    -------
    y : ndarray, shape (n_samples,), float32

    Raises
    ------
    AudioError
        As :func:`audio_blocks`.
    """
    return read_audio(path, config=_with(config, sample_rate, block_seconds))


def prepare_signal(samples, *, sample_rate: Any, target_rate: int = 16000,
                   config: AudioConfig | None = None) -> np.ndarray:
    """Validate an in-memory signal and bring it to mono float32 at `target_rate`.

    The same blocks and the same arithmetic as for a file: integer samples are scaled to
    full scale 1.0 first, every channel is then converted to float32 and the channels are
    averaged in float32, so a file and its decoded samples (integer or float, mono or
    multichannel) give the same signal.

    Parameters
    ----------
    samples : array-like, shape (n_samples,), (n_samples, n_channels) or (n_channels, n_samples)
    sample_rate : number, keyword-only
        A whole number of Hz (``16000`` or ``16000.0``; ``16000.7`` is refused).
    target_rate : int, keyword-only
    config : AudioConfig, keyword-only
        The other audio settings (high-pass, minimum rate, block size).

    Returns
    -------
    ndarray, shape (n_samples',), float32

    Raises
    ------
    AudioError
        As :func:`audio_blocks`.
    """
    return read_audio((samples, sample_rate), config=_with(config, target_rate, None))


def read_audio(audio: Any, *, config: AudioConfig | None = None) -> np.ndarray:
    """The whole signal of `audio` (a path or a ``(samples, rate)`` pair) in one array.

    Returns
    -------
    y : ndarray, shape (n_samples,), float32
    """
    blocks = list(audio_blocks(audio, config=config))
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)


def _with(config: AudioConfig | None, sample_rate: int | None,
          block_seconds: float | None) -> AudioConfig:
    cfg = config or AudioConfig()
    changes = {k: v for k, v in (("sample_rate", sample_rate), ("block_seconds", block_seconds))
               if v is not None}
    return dataclasses.replace(cfg, **changes) if changes else cfg


def _whole_rate(rate: Any) -> int:
    """A sample rate given as a number: a whole number of Hz, or AudioError."""
    if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, (int, float, np.integer,
                                                                   np.floating)):
        raise AudioError(f"sample rate must be a number of Hz, got {rate!r}")
    value = float(rate)
    if not np.isfinite(value) or value <= 0:
        raise AudioError(f"sample rate must be positive, got {rate!r}")
    if not value.is_integer():
        raise AudioError(f"sample rate must be a whole number of Hz, got {rate!r}")
    return int(value)


def _check_rate(rate: int, cfg: AudioConfig, where: str) -> None:
    """Refuse rates below the speech band before any resampling is attempted."""
    if rate < cfg.min_sample_rate:
        raise AudioError(f"{where}sample rate {rate} Hz is below the minimum of "
                         f"{cfg.min_sample_rate} Hz (audio.min_sample_rate)")


def _check_peak(x: np.ndarray, where: str) -> None:
    peak = float(np.max(np.abs(x))) if x.size else 0.0  # NaN if any sample is NaN
    if not np.isfinite(peak):
        raise AudioError(f"{where}contains NaN or infinite samples")
    if peak > MAX_ABS_SAMPLE:
        raise AudioError(f"{where}samples out of range (peak {peak:.3g}, full scale is 1.0)")


def _file_chunks(f: sf.SoundFile, path: Path, cfg: AudioConfig
                 ) -> Iterator[tuple[np.ndarray, bool]]:
    """(mono block at the file's rate, is-last) pairs; the decoded length is checked
    against the header's."""
    sr_in, channels, n_header = f.samplerate, f.channels, f.frames
    block = max(1, min(int(cfg.block_seconds * sr_in), MAX_BLOCK_SAMPLES // channels))
    n_read = 0
    while True:
        try:
            with _decoder_quiet(f.format == "MP3"):
                data = f.read(block, dtype="float32", always_2d=True)
        except sf.LibsndfileError as exc:
            raise AudioError(f"{path}: corrupt audio data at {n_read / sr_in:.2f} s "
                             f"({exc})") from None
        last = len(data) < block
        n_read += len(data)
        if len(data):
            mono = data.mean(axis=1, dtype=np.float32) if channels > 1 else data[:, 0]
            _check_peak(mono, f"{path}: ")
        else:
            mono = np.zeros(0, dtype=np.float32)
        if last:
            if n_read == 0:
                raise AudioError(f"{path}: contains no audio samples")
            if n_read < n_header - DECODE_SHORTFALL_SECONDS * sr_in:
                raise AudioError(f"{path}: decoding stopped at {n_read / sr_in:.2f} s of the "
                                 f"{n_header / sr_in:.2f} s the header states (damaged data)")
        yield mono, last
        if last:
            return


def _array_chunks(y: np.ndarray, rate: int, cfg: AudioConfig
                  ) -> Iterator[tuple[np.ndarray, bool]]:
    """(mono float32 block, is-last) pairs of an in-memory signal."""
    # (n_samples, n_channels) as soundfile returns, or (n_channels, n_samples) as librosa
    channels_first = y.ndim == 2 and y.shape[0] < y.shape[1]
    n = y.shape[1] if channels_first else y.shape[0]
    if n == 0 or y.size == 0:  # an empty recording: no blocks, an empty diarization
        return
    channels = y.size // n
    block = max(1, min(int(cfg.block_seconds * rate), MAX_BLOCK_SAMPLES // channels))
    for a in range(0, n, block):
        c = y[:, a:a + block] if channels_first else y[a:a + block]
        # Integers are scaled before the downmix: the mean of integer channels is a float
        # array, which would otherwise pass through unscaled (32767 times too loud for int16).
        if c.dtype == np.uint8:
            c = (c - 128.0) / 128.0
        elif np.issubdtype(c.dtype, np.integer):
            c = c / float(np.iinfo(c.dtype).max)
        _check_peak(c, "audio ")
        c = c.astype(np.float32)
        if c.ndim == 2:
            c = c.mean(axis=0 if channels_first else 1, dtype=np.float32)
        _check_peak(c, "audio ")
        yield c, a + block >= n


def _condition(chunks: Iterator[tuple[np.ndarray, bool]], rate: int, cfg: AudioConfig
               ) -> Iterator[np.ndarray]:
    """Resample and high-pass mono blocks, carrying both filters' state across blocks."""
    stream = None if rate == cfg.sample_rate else soxr.ResampleStream(
        rate, cfg.sample_rate, 1, dtype="float32", quality=RESAMPLE_QUALITY)
    highpass = highpass_filter(cfg)
    for mono, last in chunks:
        y = mono if stream is None else stream.resample_chunk(mono, last=last)
        if highpass is not None and len(y):
            # Starts as if the first sample's level had always been there: a DC offset
            # then gives no step response at the start of the recording.
            y = highpass(y)
        yield y

