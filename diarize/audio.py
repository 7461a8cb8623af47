"""Audio loading: any file libsndfile or FFmpeg reads, any rate, any channel count -> mono float32.

libsndfile reads what it can (WAV, FLAC, Ogg, MP3, AIFF, ...); everything else (m4a/AAC,
mp4, mov, mkv, webm, Opus, WMA, pipes, streamed WAVs) is decoded by FFmpeg through PyAV
(:mod:`diarize._decode`), on the same terms: streamed, and refused in one line when the
decoded length falls short of what the file states.

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
import stat
import struct
import sys
from pathlib import Path
from typing import Any, Iterator, Sequence, Union

import numpy as np
import soundfile as sf  # type: ignore[import-untyped]

from .config import AudioConfig
from . import _decode
from .errors import AudioError, ParameterError
from .highpass import highpass_filter

#: File suffixes taken as audio when a folder is searched (``diarize batch``, ``diarize
#: tune``, the scripts): what libsndfile reads, and the audio and video containers
#: FFmpeg reads that phones, meeting and screen recorders write.
AUDIO_SUFFIXES = frozenset({
    ".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc",
    ".au", ".snd", ".caf", ".w64", ".rf64", ".wv",
    ".m4a", ".m4b", ".aac", ".mp4", ".m4v", ".mov", ".3gp", ".3g2", ".mkv", ".mka",
    ".webm", ".weba", ".wma", ".wmv", ".asf", ".avi", ".flv", ".ts", ".mts", ".mpg",
    ".mpeg", ".mp2", ".mpga", ".ac3", ".amr", ".spx", ".ape", ".tta",
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
#: A downmix (the mean of the channels) that keeps less than this share of the energy of
#: the mean taken with every channel turned into phase with the loudest has cancelled
#: speech: channels in opposite phase (a miswired stereo cable, a mid/side recording) sum
#: to silence. The aligned mean is used there then, decided for every
#: :data:`DOWNMIX_WINDOW` samples (a channel turned over for part of a block, as two takes
#: joined, would otherwise cancel the rest of the block). Channels that merely differ (two
#: microphones, one speaker per channel) lose little to their random sign (a correlation
#: of -0.3 keeps 54 %); channels that agree over a block are never touched.
DOWNMIX_MIN_ENERGY_SHARE = 0.5
#: Samples over which the downmix of a block whose channels oppose is decided (about 0.1 s
#: at 44.1 kHz): short enough to follow a polarity change, long enough to hold a pitch
#: period's worth of energy at any rate the reader takes.
DOWNMIX_WINDOW = 4096

#: An open input: libsndfile's, or FFmpeg's through PyAV.
Reader = Union[sf.SoundFile, _decode.AvReader]


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


def _path(audio: "str | os.PathLike[str]") -> Path:
    """`audio` as a Path; an empty name is an AudioError (``Path("")`` is the current
    folder, and the message would name ".")."""
    if os.fspath(audio) == "":
        raise AudioError("an empty file name is not an audio file")
    return Path(audio)


def _open(path: Path) -> Reader:
    """Open `path` with libsndfile, or with FFmpeg where libsndfile cannot read it,
    turning every failure into a one-line AudioError.

    A file whose header states more audio than the file holds is refused here, before
    any decoding (:func:`_check_stated_length`).
    """
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if not os.access(path, os.R_OK):
        raise AudioError(f"{path}: permission denied")
    try:
        st = path.stat()
    except OSError as exc:
        raise AudioError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        # A pipe (/dev/stdin, process substitution): it can be read only once, and
        # libsndfile would consume what it probes. FFmpeg reads any stream to its end.
        return _open_av(path, None, seekable=False)
    if st.st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    try:
        with _decoder_quiet(path.suffix.lower() in (".mp3", ".mp2", ".mpga")):
            # A name that is not UTF-8 (any bytes a file system holds) reaches Python as
            # lone surrogates, which soundfile cannot encode: give it the raw bytes.
            f = sf.SoundFile(str(path) if _utf8(str(path)) else os.fsencode(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        detail = str(exc).split(":")[-1].strip() or "unknown format"
        return _open_av(path, f"{path}: not a readable audio file ({detail})")
    except OSError as exc:
        raise AudioError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if f.frames <= 0:
        # A streamed WAV states a data size of 0 (or no samples at all): FFmpeg reads
        # what follows the header, as it would from a pipe.
        f.close()
        return _open_av(path, None)
    try:
        _check_stated_length(f, path)
    except BaseException:
        f.close()
        raise
    return f


def _open_av(path: Path, refusal: str | None, *, seekable: bool = True) -> _decode.AvReader:
    """`path` opened by FFmpeg; where FFmpeg does not recognise it either, `refusal`
    (libsndfile's reason) is the message, if given."""
    try:
        reader = _decode.AvReader(path, seekable=seekable)
    except _decode._NotDecodable as exc:
        if refusal is None:
            raise AudioError(str(exc)) from None
        # both decoders tried: say so, with FFmpeg's reason too
        reason = str(exc).rsplit("(", 1)[-1].rstrip(")")
        raise AudioError(f"{refusal[:-1].rstrip('.')}; FFmpeg: {reason[:1].lower()}{reason[1:]})"
                         ) from None
    try:
        if seekable and reader.has_samples and "ogg" in reader.format.split(","):
            _check_ogg_end(path, reader.frames / reader.samplerate if reader.samplerate else 0.0)
        if seekable and reader.has_samples:
            # FFmpeg estimates some lengths from the file size (a CAF libsndfile refused):
            # the header's own length is what a file cut short falls short of.
            stated = _header_frames(path)
            if stated is not None and stated > reader.frames:
                reader.frames = stated
    except BaseException:
        reader.close()
        raise
    return reader


def _cut_short(path: Path, got: float, stated: float) -> AudioError:
    return AudioError(f"{path}: decoding stopped at {got:.2f} s of the {stated:.2f} s the "
                      f"header states (damaged data)")


def _check_stated_length(f: sf.SoundFile, path: Path) -> None:
    """Refuse a file cut short: libsndfile trims a WAV or AIFF whose header states more
    samples than the file holds to what it holds, and reads an Ogg stream to wherever
    it stops, without a word."""
    sr = f.samplerate
    if f.format == "OGG":
        _check_ogg_end(path, f.frames / sr if sr else 0.0)
        return
    stated = (_header_frames(path) if f.format in ("WAV", "WAVEX", "RF64", "AIFF", "W64", "AU",
                                                   "CAF") else None)
    if stated is not None and f.frames < stated - DECODE_SHORTFALL_SECONDS * sr:
        raise _cut_short(path, f.frames / sr, stated / sr)


def _header_frames(path: Path) -> int | None:
    """Samples per channel a WAV (RIFF, RIFX, RF64, Sony Wave64), AIFF, Sun AU or CAF
    header states; None where it states none (a streamed WAV's sizes 0 or 0xFFFFFFFF,
    an AU or CAF data size left unknown, a compressed CAF) or cannot be parsed."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12:
                return None
            if head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
                return _wav_frames(fh, ">" if head[:4] == b"RIFX" else "<", head[:4] == b"RF64")
            if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
                return _aiff_frames(fh)
            if head[:4] in (b".snd", b"dns."):
                return _au_frames(head + fh.read(12), ">" if head[:4] == b".snd" else "<")
            if head[:4] == b"caff":
                fh.seek(8)
                return _caf_frames(fh)
            if head[:4] == b"riff" and head[4:12] == _W64_GUID_TAIL[:8]:
                return _w64_frames(fh)
    except (OSError, struct.error, ValueError):
        return None
    return None


#: The last 12 bytes of Sony Wave64's "riff" GUID, and of its "wave", "fmt " and "data"
#: GUIDs (their first 4 bytes are the name).
_W64_GUID_TAIL = bytes.fromhex("2e91cf11a5d628db04c10000")
_W64_CHUNK_TAIL = bytes.fromhex("f3acd3118cd100c04f8edb8a")
#: Bytes per sample of the Sun AU encodings of fixed size (mu-law, 8/16/24/32-bit PCM,
#: float, double, A-law).
_AU_SAMPLE_BYTES = {1: 1, 2: 1, 3: 2, 4: 3, 5: 4, 6: 4, 7: 8, 27: 1}


def _w64_frames(fh: Any) -> int | None:
    """Sony Wave64: 16-byte chunk GUIDs and 64-bit little-endian sizes that count the
    24-byte chunk header, chunks aligned to 8 bytes."""
    fh.seek(40)  # the riff GUID, its size, the wave GUID
    block_align = 0
    for _ in range(1000):
        header = fh.read(24)
        if len(header) < 24:
            return None
        cid, size = header[:16], struct.unpack("<Q", header[16:])[0]
        if size < 24 or cid[4:] != _W64_CHUNK_TAIL:
            return None
        offset = fh.tell()
        if cid[:4] == b"fmt " and size >= 24 + 14:
            block_align = struct.unpack("<H", fh.read(14)[12:14])[0]
        elif cid[:4] == b"data":
            return (size - 24) // block_align if block_align else None
        fh.seek(offset - 24 + size + (-size % 8))
    return None


def _au_frames(head: bytes, endian: str) -> int | None:
    """Sun AU: data size (0xFFFFFFFF: unknown), encoding and channels in the header."""
    if len(head) < 24:
        return None
    _, size, encoding, _, channels = struct.unpack(endian + "5I", head[4:24])
    width = _AU_SAMPLE_BYTES.get(encoding)
    if size == 0xFFFFFFFF or not width or not channels:
        return None
    return size // (width * channels)


def _caf_frames(fh: Any) -> int | None:
    """Apple CAF: big-endian chunks with 64-bit sizes; the frames of a constant-size
    packet format from the 'desc' and 'data' chunks (the data size -1: unknown)."""
    bytes_per_packet = frames_per_packet = 0
    for _ in range(1000):
        header = fh.read(12)
        if len(header) < 12:
            return None
        cid, size = header[:4], struct.unpack(">q", header[4:])[0]
        offset = fh.tell()
        if cid == b"desc" and size >= 32:
            desc = fh.read(32)
            bytes_per_packet, frames_per_packet = struct.unpack(">II", desc[16:24])
        elif cid == b"pakt" and size >= 16:
            return int(struct.unpack(">q", fh.read(16)[8:16])[0])  # its valid frames
        elif cid == b"data":
            if size < 4 or not bytes_per_packet or not frames_per_packet:
                return None
            return (size - 4) // bytes_per_packet * frames_per_packet  # after the edit count
        if size < 0:
            return None
        fh.seek(offset + size)
    return None


def _chunks(fh: Any, endian: str) -> Iterator[tuple[bytes, int, int]]:
    """(id, size, offset of the data) of the chunks after a RIFF/FORM header; a bounded
    walk, so that a hostile header cannot loop."""
    for _ in range(1000):
        header = fh.read(8)
        if len(header) < 8:
            return
        size = struct.unpack(endian + "I", header[4:])[0]
        offset = fh.tell()
        yield header[:4], size, offset
        fh.seek(offset + size + (size & 1))


def _wav_frames(fh: Any, endian: str, rf64: bool) -> int | None:
    block_align = 0
    ds64_data = None
    for cid, size, offset in _chunks(fh, endian):
        if cid == b"ds64" and size >= 16:
            ds64_data = struct.unpack(endian + "Q", fh.read(16)[8:16])[0]
        elif cid == b"fmt " and size >= 14:
            block_align = struct.unpack(endian + "H", fh.read(14)[12:14])[0]
        elif cid == b"data":
            if rf64 and size == 0xFFFFFFFF and ds64_data is not None:
                size = ds64_data
            elif size in (0, 0xFFFFFFFF):  # streamed: the writer did not know the length
                return None
            return size // block_align if block_align else None
    return None


def _aiff_frames(fh: Any) -> int | None:
    for cid, size, offset in _chunks(fh, ">"):
        if cid == b"COMM" and size >= 6:
            return int(struct.unpack(">I", fh.read(6)[2:6])[0])
    return None


def _check_ogg_end(path: Path, seconds: float) -> None:
    """Refuse an Ogg file that stops without its end-of-stream page: Ogg states no length,
    so a file cut short is otherwise read as a complete, shorter recording."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            # the last page is at most 27 + 255 + 255 * 255 bytes long
            fh.seek(max(0, size - 65_307))
            tail = fh.read()
    except OSError:
        return
    at = len(tail)
    while True:
        at = tail.rfind(b"OggS", 0, at)
        if at < 0 or len(tail) - at < 27:
            if at < 0:
                break
            continue
        n_segments = tail[at + 26]
        table = tail[at + 27:at + 27 + n_segments]
        if tail[at + 4] == 0 and len(table) == n_segments \
                and at + 27 + n_segments + sum(table) == len(tail):
            if tail[at + 5] & 0x04:  # end-of-stream flag
                return
            break
    raise AudioError(f"{path}: the Ogg stream stops at {seconds:.2f} s without its "
                     f"end-of-stream page (the file is cut short)")


def audio_info(path: str | os.PathLike) -> tuple[float, int, int]:
    """Duration (seconds), native sample rate and channel count of an audio file.

    The duration is the one the file states; 0.0 where it states none (a pipe, a
    streamed WAV).

    Raises
    ------
    AudioError
        If the file is missing, empty, not audio, or holds less than its header states.
    """
    path = _path(path)
    with _open(path) as f:
        return f.frames / f.samplerate if f.samplerate else 0.0, f.samplerate, f.channels


def audio_blocks(audio: Any, *, config: AudioConfig | None = None) -> Iterator[np.ndarray]:
    """Input audio as consecutive mono float32 blocks at ``config.sample_rate``.

    Every block is downmixed, checked (finite, in range), resampled with a streaming soxr
    resampler and high-passed (``config.highpass_hz``); concatenated they are the whole
    signal, whatever the block size (the high-pass to float64 rounding: after the cast to
    float32 about one sample in a million of a decaying tail may differ by one unit in the
    last place).

    Parameters
    ----------
    audio : path-like or (array-like, number)
        A file (any format libsndfile or FFmpeg reads; of a file with several audio
        tracks the first, with an :class:`~diarize.errors.AudioWarning`; a pipe), or
        in-memory samples and their rate: shape (n_samples,), (n_samples, n_channels) or
        (n_channels, n_samples), a NumPy array or nested lists; integer samples are scaled
        to full scale 1.0 (unsigned 8-bit, as 8-bit WAV holds it, is centred on 128;
        integers wider than 16 bits by the 16, 24 or 32 bits they hold). Channels are
        averaged, with any channel in opposite phase to the loudest turned over first
        where averaging would cancel (:data:`DOWNMIX_MIN_ENERGY_SHARE`).
    config : AudioConfig, keyword-only

    Yields
    ------
    ndarray, shape (n,), float32

    Raises
    ------
    AudioError
        Missing, unreadable, empty, corrupt or non-audio file; a file with no audio
        track; decoding that stops short of the length the header states (WAV, AIFF,
        FLAC, MP3, mp4, mkv/webm, WMA) or an Ogg stream without its end page; integers
        beyond 32 bits; a sample rate that is not a whole number or is
        below ``config.min_sample_rate``; samples that are NaN, infinite or out of range.
    """
    cfg = config or AudioConfig()
    if isinstance(audio, (str, os.PathLike)):
        path = _path(audio)
        with _open(path) as f:
            if f.samplerate <= 0 or (f.frames <= 0 if isinstance(f, sf.SoundFile)
                                     else not f.has_samples):
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


def audio_spans(audio: Any, spans: Sequence[tuple[float, float]], *,
                config: AudioConfig | None = None) -> np.ndarray:
    """The signal of `audio` inside `spans`, the parts joined end to end.

    Read block by block (:func:`audio_blocks`, so the same samples as the whole signal
    sliced) and kept only inside the spans: memory grows with the spans' length, not the
    recording's, and reading stops after the last span.

    Parameters
    ----------
    audio : path-like or (array-like, number)
        As for :func:`audio_blocks`.
    spans : sequence of (float, float)
        (start, end) in seconds, in any order; overlapping or touching spans count once,
        and what lies past the end of the audio is not there.
    config : AudioConfig, keyword-only

    Returns
    -------
    ndarray, shape (n_samples,), float32
        At ``config.sample_rate``.

    Raises
    ------
    ParameterError
        A span that is not finite, starts before 0 or does not end after it starts.
    AudioError
        As :func:`audio_blocks`.
    """
    cfg = config or AudioConfig()
    rate = cfg.sample_rate
    for a, b in spans:
        if not (np.isfinite(a) and np.isfinite(b) and 0 <= a < b):
            raise ParameterError(f"audio span ({a}, {b}): not 0 <= start < end seconds")
    bounds: list[list[int]] = []
    for a, b in sorted((float(a), float(b)) for a, b in spans):
        lo, hi = int(round(a * rate)), int(round(b * rate))
        if bounds and lo <= bounds[-1][1]:
            bounds[-1][1] = max(bounds[-1][1], hi)
        elif hi > lo:
            bounds.append([lo, hi])
    parts: list[np.ndarray] = []
    at = k = 0
    if bounds:
        for block in audio_blocks(audio, config=cfg):
            end = at + len(block)
            while k < len(bounds) and bounds[k][0] < end:
                lo, hi = max(bounds[k][0], at), min(bounds[k][1], end)
                if hi > lo:
                    # a copy, not a view: a view would keep its whole block alive
                    parts.append(np.array(block[lo - at:hi - at], dtype=np.float32))
                if bounds[k][1] > end:
                    break  # the span goes on in the next block
                k += 1
            at = end
            if k == len(bounds):
                break
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


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


def prepare_signal(samples, *, sample_rate: Any, target_rate: int | None = None,
                   config: AudioConfig | None = None) -> np.ndarray:
    """Validate an in-memory signal and bring it to mono float32 at `target_rate`
    (default: ``config.sample_rate``, 16000 Hz without a config).

    The same blocks and the same arithmetic as for a file: integer samples are scaled to
    full scale 1.0 first, every channel is then converted to float32 and the channels are
    averaged in float32, so a file and its decoded samples (integer or float, mono or
    multichannel) give the same signal.

    Parameters
    ----------
    samples : array-like, shape (n_samples,), (n_samples, n_channels) or (n_channels, n_samples)
    sample_rate : number, keyword-only
        A whole number of Hz (``16000`` or ``16000.0``; ``16000.7`` is refused).
    target_rate : int, optional, keyword-only
        Overrides ``config.sample_rate``.
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
    if sample_rate is not None:
        cfg = dataclasses.replace(cfg, sample_rate=sample_rate)
    if block_seconds is not None:
        cfg = dataclasses.replace(cfg, block_seconds=block_seconds)
    return cfg


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


MAX_SAMPLE_RATE = 10_000_000
"""Highest input rate (Hz) taken: ten times any audio format's (768 kHz). The resampler
spends seconds setting up for 10 GHz and hangs for longer on absurd rates, which an
in-memory ``(samples, rate)`` can give."""


def _check_rate(rate: int, cfg: AudioConfig, where: str) -> None:
    """Refuse rates below the speech band, or beyond any audio's, before any resampling
    is attempted."""
    if rate < cfg.min_sample_rate:
        raise AudioError(f"{where}sample rate {rate} Hz is below the minimum of "
                         f"{cfg.min_sample_rate} Hz (audio.min_sample_rate)")
    if rate > MAX_SAMPLE_RATE:
        raise AudioError(f"{where}sample rate {rate} Hz is above the maximum of "
                         f"{MAX_SAMPLE_RATE} Hz")


def _check_peak(x: np.ndarray, where: str, *, narrowed: bool = False) -> None:
    """Refuse NaN, infinite and absurdly loud samples. `narrowed`: `x` was read as float32
    from 64-bit samples, where a finite sample beyond float32's range reads as infinite."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0  # NaN if any sample is NaN
    if not np.isfinite(peak):
        more = " (or beyond 3.4e38)" if narrowed else ""
        raise AudioError(f"{where}contains NaN or infinite samples{more}")
    if peak > MAX_ABS_SAMPLE:
        raise AudioError(f"{where}samples out of range (peak {peak:.3g}, full scale is 1.0)")


def _file_chunks(f: Reader, path: Path, cfg: AudioConfig
                 ) -> Iterator[tuple[np.ndarray, bool]]:
    """(mono block at the file's rate, is-last) pairs; the decoded length is checked
    against the header's."""
    sr_in, channels, n_header = f.samplerate, f.channels, f.frames
    block = max(1, min(int(cfg.block_seconds * sr_in), MAX_BLOCK_SAMPLES // channels))
    n_read = 0
    while True:
        if isinstance(f, sf.SoundFile):
            try:
                with _decoder_quiet(f.format == "MP3"):
                    data = f.read(block, dtype="float32", always_2d=True)
            except sf.LibsndfileError as exc:
                stop = n_read + _readable_from(path, n_read, sr_in)
                raise AudioError(f"{path}: decoding stopped at {stop / sr_in:.2f} s of the "
                                 f"{n_header / sr_in:.2f} s the header states (corrupt "
                                 f"data: {str(exc).split(':')[-1].strip()})") from None
        else:
            data = f.read(block)
        last = len(data) < block
        n_read += len(data)
        if len(data):
            mono = _downmix(data, 1)
            _check_peak(mono, f"{path}: ", narrowed=getattr(f, "subtype", "") == "DOUBLE")
        else:
            mono = np.zeros(0, dtype=np.float32)
        if last:
            if n_read == 0:
                raise AudioError(f"{path}: contains no audio samples")
            if n_read < n_header - DECODE_SHORTFALL_SECONDS * sr_in:
                raise _cut_short(path, n_read / sr_in, n_header / sr_in)
        yield mono, last
        if last:
            return


def _readable_from(path: Path, start: int, rate: int) -> int:
    """Samples libsndfile decodes from `start` before it fails: where a damaged file's
    decoding stopped, to the tenth of a second (a failed read of a whole block tells
    only which block)."""
    step = max(1, rate // 10)
    good = 0
    try:
        with sf.SoundFile(str(path) if _utf8(str(path)) else os.fsencode(path)) as f:
            f.seek(start)
            while True:
                got = len(f.read(step, dtype="float32", always_2d=True))
                good += got
                if got < step:
                    break
    except (sf.LibsndfileError, RuntimeError, OSError):
        pass
    return good


def _downmix(x: np.ndarray, channel_axis: int) -> np.ndarray:
    # squares of faint samples underflow, harmlessly: whatever the caller's np.seterr
    with np.errstate(under="ignore"):
        return _downmix_channels(x, channel_axis)


def _downmix_channels(x: np.ndarray, channel_axis: int) -> np.ndarray:
    """Mono float32 from float32 channels: their mean, unless the mean cancels.

    Parameters
    ----------
    x : ndarray, shape (n, n_channels) or (n_channels, n), float32
    channel_axis : int
        The axis of `x` that holds the channels.

    Returns
    -------
    ndarray, shape (n,), float32
    """
    if x.ndim == 1:
        return x
    if x.shape[channel_axis] == 1:
        return x[:, 0] if channel_axis == 1 else x[0]
    channels = x if channel_axis == 1 else x.T
    n, n_channels = channels.shape
    # each channel contiguous once: the sums below then run at memory speed (an
    # interleaved file's mean over its channel axis took six times as long)
    cols = [np.ascontiguousarray(channels[:, k]) for k in range(n_channels)]
    if n_channels < 8:
        mono = cols[0] + cols[1]  # in this order, x.mean(axis=channel_axis)'s float32 bits
        for col in cols[2:]:
            mono += col
        mono /= np.float32(n_channels)
    else:  # numpy sums 8 or more in an unrolled order of its own: its mean, its bits
        mono = x.mean(axis=channel_axis, dtype=np.float32)
    # the phase of each channel against the loudest, window by window: it may change
    # within a block (two takes joined, one of them with a channel turned over)
    whole = n - n % DOWNMIX_WINDOW
    loudest = cols[int(np.argmax([_window_sums(c * c, whole).sum() for c in cols]))]
    opposed = np.stack([_window_sums(c * loudest, whole) < 0 for c in cols], axis=1)
    if not opposed.any():
        return mono  # the plain mean: what every file whose channels agree has always had
    # a channel in opposite phase to the loudest, turned the right way up
    lengths = np.full(len(opposed), DOWNMIX_WINDOW)
    lengths[-1] = n - DOWNMIX_WINDOW * (len(opposed) - 1)
    sign = np.where(np.repeat(opposed, lengths, axis=0), np.float32(-1), np.float32(1))
    aligned = (channels * sign).mean(axis=1, dtype=np.float32)
    cancelled = (_window_sums(mono * mono, whole)
                 < DOWNMIX_MIN_ENERGY_SHARE * _window_sums(aligned * aligned, whole))
    if not cancelled.any():
        return mono  # channels that merely differ (two microphones, two speakers)
    return np.where(np.repeat(cancelled, lengths), aligned, mono)


def _window_sums(v: np.ndarray, whole: int) -> np.ndarray:
    """Sums of `v` (shape (n,)) over :data:`DOWNMIX_WINDOW` samples, the last window
    the `n - whole` left over (if any), in float64: shape (ceil(n / DOWNMIX_WINDOW),)."""
    sums = v[:whole].reshape(-1, DOWNMIX_WINDOW).sum(axis=1, dtype=np.float64)
    return np.append(sums, v[whole:].sum(dtype=np.float64)) if whole < len(v) else sums


def _int_scale(y: np.ndarray) -> tuple[float, float]:
    """(offset, full scale) of integer samples: ``(y - offset) / full_scale`` is in [-1, 1].

    Unsigned 8-bit (as 8-bit WAV holds it) is centred on 128. Integers wider than 16 bits
    are scaled by what they hold, not by their type: int32 or int64 arrays (a Python list
    of ints becomes int64) holding 16-bit values are 16-bit audio, and would otherwise be
    96 dB (int32) or 290 dB (int64) too quiet to find any speech in.

    Raises
    ------
    AudioError
        Integers beyond the 32-bit range: no audio format holds them.
    """
    info = np.iinfo(y.dtype)
    if y.dtype == np.uint8:
        return 128.0, 128.0
    if info.min == 0:
        return 0.0, float(info.max)
    if info.bits <= 16:
        return 0.0, float(-info.min)  # full scale 2**(bits-1), as libsndfile reads PCM
    peak = max(-int(y.min()), int(y.max())) if y.size else 0
    for bits in (16, 24, 32):
        if peak <= 1 << (bits - 1):
            return 0.0, float(1 << (bits - 1))
    raise AudioError(f"audio samples of type {y.dtype} reach {peak}, beyond the 32-bit range: "
                     f"give float samples in [-1, 1] or 16/24/32-bit integers")


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
    # one scale for the whole signal, so that every block has the same gain
    offset, scale = _int_scale(y) if np.issubdtype(y.dtype, np.integer) else (0.0, 1.0)
    for a in range(0, n, block):
        c = y[:, a:a + block] if channels_first else y[a:a + block]
        # Integers are scaled before the downmix: the mean of integer channels is a float
        # array, which would otherwise pass through unscaled (32767 times too loud for int16).
        if offset:
            c = (c - offset) / scale
        elif np.issubdtype(c.dtype, np.integer):
            c = c / scale
        _check_peak(c, "audio ")
        c = c.astype(np.float32)
        if c.ndim == 2:
            c = _downmix(c, 0 if channels_first else 1)
        _check_peak(c, "audio ")
        yield c, a + block >= n


def _condition(chunks: Iterator[tuple[np.ndarray, bool]], rate: int, cfg: AudioConfig
               ) -> Iterator[np.ndarray]:
    """Resample and high-pass mono blocks, carrying both filters' state across blocks."""
    stream = None
    if rate != cfg.sample_rate:
        import soxr  # type: ignore[import-untyped]  # deferred: only resampled input needs it

        stream = soxr.ResampleStream(rate, cfg.sample_rate, 1, dtype="float32",
                                     quality=RESAMPLE_QUALITY)
    highpass = highpass_filter(cfg)
    for mono, last in chunks:
        y = mono if stream is None else stream.resample_chunk(mono, last=last)
        if highpass is not None and len(y):
            # Starts as if the first sample's level had always been there: a DC offset
            # then gives no step response at the start of the recording.
            y = highpass(y)
        yield y

