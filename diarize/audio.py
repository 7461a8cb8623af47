"""Audio loading: any file libsndfile reads, any rate, any channel count -> mono float32.

The file is read in blocks; each block is downmixed and fed to a streaming soxr
resampler (the resampler librosa uses), and written into one preallocated float32
array, so the only full-length copy of the signal ever held is the output.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .errors import AudioError

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
        return sf.SoundFile(str(path))
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


def load_audio(path: str | os.PathLike, *, sample_rate: int = 16000,
               block_seconds: float = 30.0) -> np.ndarray:
    """Read an audio file as mono float32 at `sample_rate`.

    Parameters
    ----------
    path : path-like
        Any format libsndfile reads (WAV, FLAC, OGG, MP3, ...), integer or float samples.
    sample_rate : int, keyword-only
        Target rate in Hz.
    block_seconds : float, keyword-only
        Seconds of input read at a time.

    Returns
    -------
    y : ndarray, shape (n_samples,), float32
        Channel mean, resampled with soxr.

    Raises
    ------
    AudioError
        Missing, unreadable, empty, corrupt or non-audio file, no samples, or samples
        that are NaN or infinite.
    """
    path = Path(path)
    with _open(path) as f:
        sr_in, channels, n_in = f.samplerate, f.channels, f.frames
        if n_in <= 0 or sr_in <= 0:
            raise AudioError(f"{path}: contains no audio samples")
        block = max(1, int(block_seconds * sr_in))
        # Allocate the output once; soxr's total output length is n_in * ratio rounded.
        expected = int(np.ceil(n_in * sample_rate / sr_in)) + 16
        out = np.empty(expected, dtype=np.float32)
        pos = 0
        stream = None if sr_in == sample_rate else soxr.ResampleStream(
            sr_in, sample_rate, 1, dtype="float32", quality=RESAMPLE_QUALITY)
        n_read = 0
        try:
            while True:
                data = f.read(block, dtype="float32", always_2d=True)
                last = len(data) < block
                n_read += len(data)
                if len(data):
                    mono = data.mean(axis=1, dtype=np.float32) if channels > 1 else data[:, 0]
                    peak = float(np.max(np.abs(mono)))  # NaN if any sample is NaN
                    if not np.isfinite(peak):
                        raise AudioError(f"{path}: contains NaN or infinite samples")
                    if peak > MAX_ABS_SAMPLE:
                        raise AudioError(f"{path}: samples out of range (peak {peak:.3g}, "
                                         f"full scale is 1.0)")
                else:
                    mono = np.zeros(0, dtype=np.float32)
                chunk = mono if stream is None else stream.resample_chunk(mono, last=last)
                if pos + len(chunk) > len(out):  # header understated the length
                    out = np.resize(out, pos + len(chunk) + block)
                out[pos:pos + len(chunk)] = chunk
                pos += len(chunk)
                if last:
                    break
        except sf.LibsndfileError as exc:
            raise AudioError(f"{path}: corrupt audio data ({exc})") from None
    if n_read == 0 or pos == 0:
        raise AudioError(f"{path}: contains no audio samples")
    return out[:pos] if pos < len(out) else out


def read_audio(audio, *, sample_rate: int = 16000, block_seconds: float = 30.0) -> np.ndarray:
    """The one entry point for input audio: a file path or a ``(samples, rate)`` pair.

    Parameters
    ----------
    audio : path-like or (array-like, number)
        A file (see :func:`load_audio`) or in-memory samples and their rate (see
        :func:`prepare_signal`).
    sample_rate : int, keyword-only
        Target rate in Hz.
    block_seconds : float, keyword-only
        Seconds of input read at a time from a file.

    Returns
    -------
    y : ndarray, shape (n_samples,), float32

    Raises
    ------
    AudioError
        Anything that is not usable audio.
    """
    if isinstance(audio, (str, os.PathLike)):
        return load_audio(audio, sample_rate=sample_rate, block_seconds=block_seconds)
    try:
        samples, rate = audio
    except (TypeError, ValueError):
        raise AudioError("audio must be a path or a (samples, sample_rate) pair") from None
    return prepare_signal(samples, sample_rate=int(rate), target_rate=sample_rate)


def prepare_signal(samples, *, sample_rate: int, target_rate: int = 16000) -> np.ndarray:
    """Validate an in-memory signal and bring it to mono float32 at `target_rate`.

    The same checks and the same arithmetic as :func:`load_audio`: integer samples are
    scaled to full scale 1.0 first, every channel is then converted to float32 and the
    channels are averaged in float32, so a file and its decoded samples (integer or
    float, mono or multichannel) give the same signal.

    Parameters
    ----------
    samples : array-like, shape (n_samples,), (n_samples, n_channels) or (n_channels, n_samples)
        Float samples, or integer samples (scaled by the dtype's maximum).
    sample_rate : int, keyword-only
    target_rate : int, keyword-only

    Returns
    -------
    ndarray, shape (n_samples',), float32

    Raises
    ------
    AudioError
        Wrong shape, non-positive rate, NaN or infinite samples, or samples out of range
        (magnitude above :data:`MAX_ABS_SAMPLE`).
    """
    rate, target = sample_rate, target_rate
    y = np.asarray(samples)
    if y.ndim not in (1, 2):
        raise AudioError(f"audio array must be 1-D or 2-D, got shape {np.shape(samples)}")
    if rate <= 0:
        raise AudioError(f"sample rate must be positive, got {rate}")
    if y.dtype.kind not in "biuf":
        raise AudioError(f"audio samples must be real numbers, got dtype {y.dtype}")
    # Integers are scaled before the downmix: the mean of integer channels is a float array,
    # which would otherwise pass through unscaled (32767 times too loud for int16).
    if np.issubdtype(y.dtype, np.integer):
        y = y / float(np.iinfo(y.dtype).max)
    peak = float(np.max(np.abs(y))) if y.size else 0.0  # NaN if any sample is NaN
    if not np.isfinite(peak):
        raise AudioError("audio contains NaN or infinite samples")
    if peak > MAX_ABS_SAMPLE:
        raise AudioError(f"audio samples out of range (peak {peak:.3g}, full scale is 1.0)")
    y = y.astype(np.float32)
    if y.ndim == 2:
        # (n_samples, n_channels) as soundfile returns, or (n_channels, n_samples) as librosa
        y = y.mean(axis=1 if y.shape[0] >= y.shape[1] else 0, dtype=np.float32)
    if not np.isfinite(y).all():
        raise AudioError("audio contains NaN or infinite samples")
    if rate != target:
        y = soxr.resample(y, rate, target, quality=RESAMPLE_QUALITY).astype(np.float32)
    return y
