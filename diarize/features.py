"""MFCC extraction, computed in blocks with scipy.fft.

Frame ``i`` covers ``[i * hop, i * hop + win)`` of the (pre-emphasised) signal, whose
start is padded by ``(win - hop) / 2`` so that frame ``i`` is centred on the interval
``[i * hop, (i + 1) * hop)``: frame times are simply ``i * hop_length`` seconds.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from .config import FeatureConfig
from .melscale import hz_to_mel as _hz_to_mel, mel_to_hz as _mel_to_hz

#: Frames processed per block (bounds the temporary spectra to a few MB).
BLOCK_FRAMES = 4096
#: Floor added to mel energies before the log (avoids log(0) on digital silence).
MEL_FLOOR = 1e-10


def n_frames_for(n_samples: int, *, sample_rate: int, hop_length: float) -> int:
    """Number of analysis frames for a signal of `n_samples` samples."""
    hop = int(round(hop_length * sample_rate))
    return n_samples // hop


def mfcc(y: np.ndarray, *, sample_rate: int = 16000, config: FeatureConfig | None = None
         ) -> tuple[np.ndarray, np.ndarray]:
    """MFCCs and frame log-energy of a mono signal.

    Parameters
    ----------
    y : ndarray, shape (n_samples,), float32
    sample_rate : int, keyword-only
    config : FeatureConfig, keyword-only
        Window, hop, filterbank and cepstrum sizes. `deltas` and `cmvn` are *not* applied
        here (see :func:`add_deltas`, :func:`cmvn`): they depend on which frames are speech.

    Returns
    -------
    mfccs : ndarray, shape (n_frames, n_mfcc), float32
        Cepstra c0..c{n_mfcc-1} (DCT-II, orthonormal, of the log mel energies).
    log_energy : ndarray, shape (n_frames,), float32
        Frame energy in dB relative to full scale (a full-scale sine is about -3 dB).
    """
    cfg = config or FeatureConfig()
    hop = int(round(cfg.hop_length * sample_rate))
    win = int(round(cfg.win_length * sample_rate))
    n_fft = max(cfg.n_fft, 1 << (win - 1).bit_length())
    n = n_frames_for(len(y), sample_rate=sample_rate, hop_length=cfg.hop_length)
    fmax = min(cfg.fmax, sample_rate / 2)
    mel_fb = mel_filterbank(sample_rate=sample_rate, n_fft=n_fft, n_mels=cfg.n_mels,
                            fmin=cfg.fmin, fmax=fmax).astype(np.float32)
    # rfft output viewed as interleaved (re, im) float32 pairs: squaring it and multiplying
    # by the filterbank with each row doubled gives mel energies in one matmul.
    mel_pairs = np.repeat(mel_fb.T, 2, axis=0)
    dct = scipy.fft.dct(np.eye(cfg.n_mels, dtype=np.float32), type=2, norm="ortho",
                        axis=1)[:, : cfg.n_mfcc].astype(np.float32)
    # periodic Hamming window (scipy's get_window("hamming", win, fftbins=True))
    window = np.hamming(win + 1)[:-1].astype(np.float32)
    out = np.empty((n, cfg.n_mfcc), dtype=np.float32)
    energy = np.empty(n, dtype=np.float32)
    pad = (win - hop) // 2
    buf = np.zeros((BLOCK_FRAMES, n_fft), dtype=np.float32)
    for b0 in range(0, n, BLOCK_FRAMES):
        b1 = min(n, b0 + BLOCK_FRAMES)
        nb = b1 - b0
        # Samples needed for frames b0..b1-1, plus one before for pre-emphasis.
        s0 = b0 * hop - pad
        s1 = (b1 - 1) * hop - pad + win
        seg = _slice_padded(y, s0 - 1, s1)
        # Energy is measured before pre-emphasis so that it reads as dBFS.
        raw = np.lib.stride_tricks.sliding_window_view(seg[1:], win)[::hop][:nb]
        energy[b0:b1] = 10.0 * np.log10(np.einsum("ij,ij->i", raw, raw) / win + MEL_FLOOR)
        seg[1:] -= cfg.pre_emphasis * seg[:-1].copy()
        frames = np.lib.stride_tricks.sliding_window_view(seg[1:], win)[::hop][:nb]
        np.multiply(frames, window, out=buf[:nb, :win])
        spec = scipy.fft.rfft(buf[:nb], axis=1).view(np.float32)
        np.square(spec, out=spec)
        mel = spec @ mel_pairs
        np.log(mel + MEL_FLOOR, out=mel)
        out[b0:b1] = mel @ dct
    return out, energy


def mel_filterbank(*, sample_rate: int, n_fft: int, n_mels: int, fmin: float,
                   fmax: float) -> np.ndarray:
    """librosa's mel filterbank (``librosa.filters.mel`` with its defaults: Slaney mel
    scale, Slaney area normalisation), computed here so that a run does not pay the
    second it takes to import ``librosa.filters``; a test checks it equals librosa's.

    Returns
    -------
    ndarray, shape (n_mels, 1 + n_fft // 2), float32
    """
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(np.array([fmin]))[0],
                                   _hz_to_mel(np.array([fmax]))[0], n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    # librosa stores the triangles in float32, then normalises in float32: same here,
    # so the filterbank is bit-identical to librosa's.
    weights = np.maximum(0.0, np.minimum(lower, upper)).astype(np.float32)
    weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    return weights


def _slice_padded(y: np.ndarray, start: int, stop: int) -> np.ndarray:
    """``y[start:stop]`` with zeros where the range falls outside the signal."""
    if start >= 0 and stop <= len(y):
        return y[start:stop].astype(np.float32, copy=True)
    out = np.zeros(stop - start, dtype=np.float32)
    a, b = max(start, 0), min(stop, len(y))
    if b > a:
        out[a - start: b - start] = y[a:b]
    return out


def add_deltas(x: np.ndarray, *, width: int = 9) -> np.ndarray:
    """Append first-order deltas (regression over `width` frames).

    Parameters
    ----------
    x : ndarray, shape (n_frames, n_features)

    Returns
    -------
    ndarray, shape (n_frames, 2 * n_features), float32
    """
    if len(x) == 0:
        return np.zeros((0, 2 * x.shape[1]), dtype=np.float32)
    half = width // 2
    taps = np.arange(-half, half + 1, dtype=np.float32)
    taps /= np.sum(taps ** 2)
    padded = np.pad(x, ((half, half), (0, 0)), mode="edge").astype(np.float32)
    d = np.zeros(x.shape, dtype=np.float32)
    for k, tap in enumerate(taps):  # d[t] = sum_k taps[k] * x[t + k - half]
        d += tap * padded[k:k + len(x)]
    return np.hstack([x, d])


def cmvn(x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Mean/variance normalise each column using the statistics of the `mask` rows.

    Parameters
    ----------
    x : ndarray, shape (n_frames, n_features)
    mask : ndarray of bool, shape (n_frames,), optional
        Rows whose statistics are used (e.g. speech frames); all rows if None or empty.

    Returns
    -------
    ndarray, shape (n_frames, n_features), float32
    """
    ref = x if mask is None or not mask.any() else x[mask]
    if len(ref) == 0:
        return x.astype(np.float32, copy=True)
    mu = ref.mean(axis=0, dtype=np.float64)
    sd = ref.std(axis=0, dtype=np.float64)
    sd[sd < 1e-6] = 1.0
    # float32 statistics keep the normalised copy (the only full-size temporary) float32
    out = x - mu.astype(np.float32)
    out /= sd.astype(np.float32)
    return out


def speaker_features(feats: np.ndarray, mask: np.ndarray, *, deltas: bool = False,
                     delta_width: int = 9, normalise: bool = True) -> np.ndarray:
    """The features speakers are modelled on: MFCC c1.., optional deltas, CMVN over speech.

    c0 is dropped because it is loudness, not voice. Normalisation uses the statistics
    of the whole recording's speech, so differences between its speakers are kept.

    Parameters
    ----------
    feats : ndarray, shape (n_frames, n_mfcc)
        MFCCs c0.. from :func:`mfcc`.
    mask : ndarray of bool, shape (n_frames,)
        Speech frames (the CMVN statistics).
    deltas : bool, keyword-only
        Append first-order deltas.
    delta_width : int, keyword-only
        Frames in the delta regression window.
    normalise : bool, keyword-only
        Mean/variance normalise each column over the speech frames.

    Returns
    -------
    ndarray, shape (n_frames, n_mfcc - 1) or (n_frames, 2 * (n_mfcc - 1)), float32
    """
    x = feats[:, 1:]
    if deltas:
        x = add_deltas(x, width=delta_width)
    if normalise:
        x = cmvn(x, mask)
    return x
