"""MFCC extraction (and a per-frame voicing measure), computed in blocks with scipy's pocketfft
(:mod:`diarize._fft`).

Frame ``i`` covers ``[i * hop, i * hop + win)`` of the (pre-emphasised) signal, whose
start is padded by ``(win - hop) / 2`` so that frame ``i`` is centred on the interval
``[i * hop, (i + 1) * hop)``: frame times are simply ``i * hop_length`` seconds.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _fft
from .config import FeatureConfig
from .melscale import hz_to_mel as _hz_to_mel, mel_to_hz as _mel_to_hz

#: Frames processed per block (bounds the temporary spectra to a few MB).
BLOCK_FRAMES = 4096
#: Frames per storage chunk of :class:`MfccStream` (about 1.5 hours): large enough that
#: each chunk is its own memory mapping, given back to the system as soon as it is freed.
CHUNK_FRAMES = 1 << 19
#: Floor added to mel energies before the log (avoids log(0) on digital silence).
MEL_FLOOR = 1e-10


def n_frames_for(n_samples: int, *, sample_rate: int, hop_length: float) -> int:
    """Number of analysis frames for a signal of `n_samples` samples."""
    hop = int(round(hop_length * sample_rate))
    return n_samples // hop


class FrameFeatures(NamedTuple):
    """The frame-level arrays of one signal, as :func:`mfcc` and :meth:`MfccStream.finish`
    return them (always these three fields, whether or not voicing was asked for)."""

    mfcc: np.ndarray
    """shape (n_frames, n_mfcc), float32: cepstra c0..c{n_mfcc-1} (DCT-II, orthonormal,
    of the log mel energies)"""
    energy: np.ndarray
    """shape (n_frames,), float32: frame energy in dB relative to full scale (a full-scale
    sine is about -3 dB)"""
    voicing: np.ndarray | None
    """shape (n_frames,), float32: the frame's periodicity, 0..1; None unless asked for"""


def mfcc(y: np.ndarray, *, sample_rate: int, config: FeatureConfig | None = None,
         voicing: bool = False) -> FrameFeatures:
    """MFCCs and frame log-energy of a mono signal (and its voicing, on request).

    Parameters
    ----------
    y : ndarray, shape (n_samples,), float32
    sample_rate : int, keyword-only
        Samples per second of `y` (``audio.sample_rate`` of the configuration).
    config : FeatureConfig, keyword-only
        Window, hop, filterbank and cepstrum sizes. `deltas` and `cmvn` are *not* applied
        here (see :func:`add_deltas`, :func:`cmvn`): they depend on which frames are speech.
    voicing : bool, keyword-only
        Also compute each frame's periodicity (see :class:`MfccStream`).

    Returns
    -------
    FrameFeatures
        ``mfcc`` (n_frames, n_mfcc), ``energy`` (n_frames,) and ``voicing`` (n_frames,)
        or None without ``voicing=True``; all float32.
    """
    stream = MfccStream(sample_rate=sample_rate, config=config, voicing=voicing)
    stream.push(y)
    return stream.finish()


class MfccStream:
    """:func:`mfcc` of a signal that arrives block by block, holding only the samples
    the next block of frames needs.

    Frames are computed in the same groups of :data:`BLOCK_FRAMES` as for the whole
    signal, from the same samples, so the result is bit-identical to :func:`mfcc` of the
    joined blocks whatever the block sizes.

    The voicing of a frame (``voicing=True``) is the highest peak of its normalised
    autocorrelation over the lags of ``voicing_fmax``..``voicing_fmin`` Hz: the inverse FFT
    of the power spectrum the MFCCs come from (the pre-emphasised, windowed frame), over its
    lag-0 value and over the window's own autocorrelation at that lag (Boersma's
    correction, so that a periodic frame scores near 1 whatever its period). The lags
    stop at half the FFT size, where the circular autocorrelation turns back. Voiced
    speech scores high, noise, breath and clicks low; digital silence scores 0.

    With ``config.floor_db > 0`` every frame also gets the expected contribution of white
    noise ``floor_db`` below the recording's loud frames (:meth:`noise_floor`): to its mel
    energies, its mean square and the lag-0 value of its autocorrelation (white noise adds
    nothing at the pitch lags). The level is known only at the end, so until
    :meth:`finish` the stream holds each frame's mel energies, mean square and the
    voicing's two terms instead of its cepstra.

    With ``config.band_floor`` the stream also holds each frame's mel energies until
    :meth:`finish`, which floors each band the noise outweighs at the recording's own
    noise in it and keeps those cepstra in :attr:`speaker_mfcc`, beside the usual ones it
    returns (None where no band needs the floor).

    Parameters
    ----------
    sample_rate : int, keyword-only
        Samples per second of the signal (``audio.sample_rate`` of the configuration).
    config : FeatureConfig, keyword-only
    voicing : bool, keyword-only
        Also compute each frame's voicing (:attr:`FrameFeatures.voicing` of :meth:`finish`).
    """

    def __init__(self, *, sample_rate: int, config: FeatureConfig | None = None,
                 voicing: bool = False) -> None:
        cfg = config or FeatureConfig()
        self.config = cfg
        self.sample_rate = sample_rate
        self.hop = hop = int(round(cfg.hop_length * sample_rate))
        self.win = win = int(round(cfg.win_length * sample_rate))
        self.n_fft = n_fft = max(cfg.n_fft, 1 << (win - 1).bit_length())
        fmax = min(cfg.fmax, sample_rate / 2)
        mel_fb = mel_filterbank(sample_rate=sample_rate, n_fft=n_fft, n_mels=cfg.n_mels,
                                fmin=cfg.fmin, fmax=fmax).astype(np.float32)
        # rfft output viewed as interleaved (re, im) float32 pairs: squaring it and
        # multiplying by the filterbank with each row doubled gives mel energies in one matmul.
        self._mel_pairs = np.repeat(mel_fb.T, 2, axis=0)
        self._dct = _fft.dct(np.eye(cfg.n_mels, dtype=np.float32), type=2,
                             norm="ortho")[:, : cfg.n_mfcc].astype(np.float32)
        # periodic Hamming window (scipy's get_window("hamming", win, fftbins=True))
        self._window = np.hamming(win + 1)[:-1].astype(np.float32)
        self.voicing = voicing
        # floor_db > 0: frames are held as mel energies, frame mean squares and the two
        # terms of the voicing until finish() knows the recording's level
        self.floored = cfg.floor_db > 0
        # band_floor: the mel energies are held as well (the floored path holds them
        # already) until finish() knows each band's noise
        self.band_floor = cfg.band_floor
        self.speaker_mfcc: np.ndarray | None = None
        """shape (n_frames, n_mfcc), float32: after :meth:`finish` with ``band_floor``,
        the cepstra of the band-floored mel energies (for speaker modelling); else, or
        where the noise outweighs no band, None"""
        if self.floored:
            self._noise_mel, self._noise_lag0 = _white_noise_terms(
                self._window, n_fft=n_fft, pre_emphasis=cfg.pre_emphasis, mel_fb=mel_fb)
        # lags of voicing_fmax..voicing_fmin Hz, weighted by the inverse of the window's
        # circular autocorrelation (lag 0 = 1) at n_fft, the one the frames get
        lag_lo = max(1, int(np.floor(sample_rate / cfg.voicing_fmax)))
        lag_hi = max(lag_lo, min(int(np.ceil(sample_rate / cfg.voicing_fmin)), n_fft // 2))
        w_ac = _fft.irfft(np.abs(_fft.rfft(self._window.astype(np.float64), n_fft)) ** 2, n_fft)
        self._lags = slice(lag_lo, lag_hi + 1)
        self._lag_weight = (w_ac[0] / w_ac[self._lags]).astype(np.float32)
        # frame i starts at i * hop - pad: centred on [i * hop, (i + 1) * hop)
        self._pad = (win - hop) // 2
        self._buf = np.zeros((BLOCK_FRAMES, n_fft), dtype=np.float32)
        self._tail: np.ndarray = np.zeros(0, dtype=np.float32)  # samples _tail_start.. of the signal
        self._tail_start = 0
        self.n_samples = 0
        self._next = 0  # first frame not computed yet
        # frames are written into chunks of CHUNK_FRAMES rows, allocated as needed
        self._chunks: list[tuple[np.ndarray, ...]] = []

    def push(self, y: np.ndarray) -> None:
        """Add the next samples and compute every group of frames they complete.

        Parameters
        ----------
        y : ndarray, shape (n,), float32
        """
        if len(y) == 0:
            return
        self._tail = np.concatenate([self._tail, np.asarray(y, dtype=np.float32)])
        self.n_samples += len(y)
        while self._stop(self._next + BLOCK_FRAMES) <= self.n_samples:
            self._compute(self._next, self._next + BLOCK_FRAMES)
        keep_from = max(0, self._next * self.hop - self._pad - 1)  # the next group's first
        if keep_from > self._tail_start:
            self._tail = self._tail[keep_from - self._tail_start:].copy()
            self._tail_start = keep_from

    def finish(self) -> FrameFeatures:
        """The frames of the whole signal pushed, as :func:`mfcc` returns them.

        Returns
        -------
        FrameFeatures
            ``voicing`` is None unless the stream computes it.
        """
        n = self.n_samples // self.hop
        while self._next < n:
            self._compute(self._next, min(n, self._next + BLOCK_FRAMES))
        self._tail = np.zeros(0, dtype=np.float32)
        chunks, self._chunks = self._chunks, []
        var = self._floor_variance(chunks, n) if self.floored else 0.0
        self.speaker_mfcc = self._band_floored(chunks, n, var) if self.band_floor else None
        if self.floored:
            chunks = self._apply_floor(chunks, n, var)
        elif self.band_floor:
            chunks = [c[:-1] for c in chunks]  # the held mel energies are used up
        outs: tuple[np.ndarray, ...]
        if not chunks:
            outs = tuple(np.zeros(shape, dtype=np.float32) for shape in self._shapes(0))
        elif len(chunks) == 1:
            # A view: the chunk's rows past n were never written, so never made resident.
            outs = tuple(a[:n] for a in chunks[0])
        else:
            outs = self._join(chunks, n)
        return FrameFeatures(outs[0], outs[1], outs[2] if self.voicing else None)

    def noise_floor(self, power: np.ndarray) -> float:
        """Variance of the white noise whose expected spectrum is the floor, from the frame
        mean squares of the whole recording (``floor_db`` below their ``floor_quantile``,
        digital silence left out). A recording of digital silence alone gets the level
        of :data:`MEL_FLOOR`, the absolute floor of the front end without it."""
        cfg = self.config
        live = power[power > 0]
        if not len(live):
            return MEL_FLOOR
        ref = float(np.quantile(live.astype(np.float64), cfg.floor_quantile))
        return ref * 10.0 ** (-cfg.floor_db / 10.0)

    def _floor_variance(self, chunks: list, n: int) -> float:
        """:meth:`noise_floor` of the held chunks' frame mean squares."""
        power = np.concatenate([c[1][:min(CHUNK_FRAMES, n - i * CHUNK_FRAMES)]
                                for i, c in enumerate(chunks)]) if chunks else np.zeros(0)
        return self.noise_floor(power)

    def _band_floored(self, chunks: list, n: int, var: float) -> np.ndarray | None:
        """Cepstra of the held mel energies (with the white floor of variance `var` where
        the stream is floored), each band the noise outweighs floored at its noise
        (``band_floor``, ``band_floor_range_db``); None where no band is (the plain
        cepstra serve).

        Returns
        -------
        ndarray, shape (n, n_mfcc), float32, or None
        """
        cfg = self.config
        col = 0 if self.floored else -1  # where the held chunks keep the mel energies
        held = [c[col][:min(CHUNK_FRAMES, n - i * CHUNK_FRAMES)] for i, c in enumerate(chunks)]
        white = (var * self._noise_mel).astype(np.float32) if self.floored else None
        live = np.concatenate([h.max(axis=1) > 0 for h in held]) if held else np.zeros(0, bool)
        floor = np.zeros(cfg.n_mels, dtype=np.float32)
        if live.any():
            loud = np.zeros(cfg.n_mels, dtype=np.float64)
            # one band at a time: a float32 column of the recording, not a float64 copy of
            # the whole matrix
            for b in range(cfg.n_mels):
                band = np.concatenate([h[:, b] for h in held])[live]
                if white is not None:
                    band += white[b]
                floor[b], loud[b] = np.quantile(
                    band, [cfg.band_floor_quantile, cfg.band_floor_loud_quantile])
            # A band whose loud frames barely stand above its noise holds the noise's
            # random variation, alike for every voice; one the voices rise well above
            # keeps what they say there (a floor in a room's reverberant tail, say, cuts
            # into the voices).
            noisy = loud < floor.astype(np.float64) * 10.0 ** (cfg.band_floor_range_db / 10.0)
            if not noisy.any():
                return None
            floor *= np.float32(10.0 ** (cfg.band_floor_db / 10.0))
            floor[~noisy] = 0.0
        out = np.empty((n, cfg.n_mfcc), dtype=np.float32)
        pos = 0
        for h in held:
            for a in range(0, len(h), BLOCK_FRAMES):
                mel = h[a:a + BLOCK_FRAMES].copy()
                if white is not None:
                    mel += white
                np.maximum(mel, floor, out=mel)
                mel += np.float32(MEL_FLOOR)
                np.log(mel, out=mel)
                out[pos:pos + len(mel)] = mel @ self._dct
                pos += len(mel)
        return out

    def _apply_floor(self, chunks: list, n: int, var: float) -> list:
        """The held chunks turned into the frames :meth:`finish` returns, with the floor
        of the whole recording's level (variance `var`) added; each held chunk is freed
        once turned."""
        # at least float32's smallest normal number: a floor that underflows to 0 on a
        # recording of digital silence and faint noise would take the log of 0
        mel_floor = np.maximum(var * self._noise_mel, np.finfo(np.float32).tiny
                               ).astype(np.float32)
        lag0_floor = np.float32(var * self._noise_lag0)
        out = []
        for i in range(len(chunks)):
            rows = min(CHUNK_FRAMES, n - i * CHUNK_FRAMES)
            held = chunks[i]
            chunks[i] = None
            turned = tuple(np.empty((CHUNK_FRAMES,) + shape[1:], np.float32)
                           for shape in self._shapes(0))
            for a in range(0, rows, BLOCK_FRAMES):
                b = min(rows, a + BLOCK_FRAMES)
                mel = held[0][a:b] + mel_floor
                np.log(mel, out=mel)
                turned[0][a:b] = mel @ self._dct
                turned[1][a:b] = 10.0 * np.log10(held[1][a:b] + np.float32(var) + MEL_FLOOR)
                if self.voicing:
                    turned[2][a:b] = _voicing_ratio(held[2][a:b], held[3][a:b] + lag0_floor)
            out.append(turned)
        return out

    def _join(self, chunks: list, n: int) -> tuple[np.ndarray, ...]:
        """The chunks' first `n` rows as one array per kind, freeing each chunk as it is
        copied: the frames are held twice only one chunk at a time."""
        outs = tuple(np.empty(shape, dtype=np.float32) for shape in self._shapes(n))
        for i in range(len(chunks)):
            a = i * CHUNK_FRAMES
            b = min(n, a + CHUNK_FRAMES)
            for out, part in zip(outs, chunks[i]):
                out[a:b] = part[:b - a]
            chunks[i] = None
        return outs

    def _shapes(self, n: int) -> list[tuple[int, ...]]:
        """Shapes of the arrays computed for `n` frames: mfcc, energy (and voicing)."""
        return [(n, self.config.n_mfcc), (n,)] + ([(n,)] if self.voicing else [])

    def _held_shapes(self) -> list[tuple[int, ...]]:
        """Row shapes of the arrays held per frame until :meth:`finish`: those of
        :meth:`_shapes`, or with the floor mel energies, mean square (and the voicing's
        peak and lag-0 terms)."""
        if not self.floored:
            return ([shape[1:] for shape in self._shapes(0)]
                    + ([(self.config.n_mels,)] if self.band_floor else []))
        return [(self.config.n_mels,), ()] + ([(), ()] if self.voicing else [])

    def _stop(self, b1: int) -> int:
        """One past the last sample frames ..b1-1 need."""
        return (b1 - 1) * self.hop - self._pad + self.win

    def _compute(self, b0: int, b1: int) -> None:
        cfg, hop, win = self.config, self.hop, self.win
        nb = b1 - b0
        # Samples needed for frames b0..b1-1, plus one before for pre-emphasis.
        s0 = b0 * hop - self._pad
        seg = self._samples(s0 - 1, self._stop(b1))
        # Energy is measured before pre-emphasis so that it reads as dBFS.
        raw = np.lib.stride_tricks.sliding_window_view(seg[1:], win)[::hop][:nb]
        power = np.einsum("ij,ij->i", raw, raw) / win
        seg[1:] -= cfg.pre_emphasis * seg[:-1].copy()
        frames = np.lib.stride_tricks.sliding_window_view(seg[1:], win)[::hop][:nb]
        buf = self._buf
        np.multiply(frames, self._window, out=buf[:nb, :win])
        spec = _fft.rfft(buf[:nb]).view(np.float32)
        np.square(spec, out=spec)
        mel = spec @ self._mel_pairs
        if self.floored:
            parts = [mel, power]
            if self.voicing:
                parts.extend(self._voicing_terms(spec))
        else:
            held = mel.copy() if self.band_floor else None
            np.log(mel + MEL_FLOOR, out=mel)
            parts = [mel @ self._dct, 10.0 * np.log10(power + MEL_FLOOR)]
            if self.voicing:
                parts.append(_voicing_ratio(*self._voicing_terms(spec)))
            if held is not None:
                parts.append(held)
        self._store(b0, parts)
        self._next = b1

    def _voicing_terms(self, spec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(weighted autocorrelation peak, lag-0 value) of frames from their squared rfft
        as interleaved (re, im) pairs: the voicing is their ratio."""
        power = spec[:, 0::2] + spec[:, 1::2]
        # the DCT-I of the power spectrum is the circular autocorrelation (times n_fft) at
        # lags 0..n_fft/2: a real transform, cheaper than irfft
        ac = _fft.dct(power, type=1, overwrite_x=True)
        peak = np.max(ac[:, self._lags] * self._lag_weight, axis=1)
        return peak, ac[:, 0].copy()

    def _store(self, b0: int, parts: list[np.ndarray]) -> None:
        pos, n = 0, len(parts[0])
        while pos < n:
            k, r = divmod(b0 + pos, CHUNK_FRAMES)
            if k == len(self._chunks):
                self._chunks.append(tuple(np.empty((CHUNK_FRAMES,) + shape, np.float32)
                                          for shape in self._held_shapes()))
            take = min(n - pos, CHUNK_FRAMES - r)
            for chunk, part in zip(self._chunks[k], parts):
                chunk[r:r + take] = part[pos:pos + take]
            pos += take

    def _samples(self, start: int, stop: int) -> np.ndarray:
        """A copy of samples ``start:stop`` of the signal, zeros outside it."""
        a, b = start - self._tail_start, stop - self._tail_start
        if start >= 0 and a >= 0 and stop <= self.n_samples:
            return self._tail[a:b].astype(np.float32, copy=True)
        out = np.zeros(stop - start, dtype=np.float32)
        lo, hi = max(start, 0, self._tail_start), min(stop, self.n_samples)
        if hi > lo:
            out[lo - start: hi - start] = self._tail[lo - self._tail_start: hi - self._tail_start]
        return out


def _voicing_ratio(peak: np.ndarray, lag0: np.ndarray) -> np.ndarray:
    """Voicing from the weighted autocorrelation peak and the lag-0 value of frames."""
    live = lag0 > 0
    out = np.zeros(len(lag0), dtype=np.float32)
    out[live] = peak[live] / lag0[live]
    # the weighted peak of a noisy frame can pass 1 at long lags, where the window's
    # autocorrelation is small
    return np.clip(out, 0.0, 1.0, out=out)


def _white_noise_terms(window: np.ndarray, *, n_fft: int, pre_emphasis: float,
                       mel_fb: np.ndarray) -> tuple[np.ndarray, float]:
    """Expected mel energies and lag-0 autocorrelation (as the voicing measures it, times
    n_fft) of a frame of unit-variance white noise, after pre-emphasis and the window.

    Pre-emphasised white noise is correlated at lags 0 (1 + a**2) and 1 (-a) only, so the
    expected power at bin k is ``(1 + a**2) * sum(w**2) - 2 a sum(w[n] w[n+1])
    cos(2 pi k / n_fft)``: no pitch lag of the voicing sees it, only its lag-0 value.

    Returns
    -------
    (ndarray, shape (n_mels,), float64; float)
    """
    w = window.astype(np.float64)
    a = float(pre_emphasis)
    k = np.arange(n_fft // 2 + 1)
    bins = (1.0 + a * a) * np.dot(w, w) - 2.0 * a * np.dot(w[:-1], w[1:]) * np.cos(
        2.0 * np.pi * k / n_fft)
    # the DCT-I at lag 0: bins 0 and n_fft/2 once, the others twice
    lag0 = float(bins[0] + bins[-1] + 2.0 * bins[1:-1].sum())
    return mel_fb.astype(np.float64) @ bins, lag0


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


def speech_features(feats: np.ndarray, rows: np.ndarray, *, deltas: bool = False,
                    delta_width: int = 9, normalise: bool = True) -> np.ndarray:
    """``speaker_features(feats, mask, ...)[rows]`` for ``rows = flatnonzero(mask)``,
    bit-identical, without any full-length temporary: only the speech rows are built,
    deltas and the normalisation statistics are computed a block of frames at a time, and
    the normalisation is done in place.

    Parameters
    ----------
    feats : ndarray, shape (n_frames, n_mfcc)
    rows : ndarray of int, shape (n_rows,)
        Increasing frame indices (the speech frames): the CMVN statistics.

    Returns
    -------
    ndarray, shape (n_rows, n_mfcc - 1) or (n_rows, 2 * (n_mfcc - 1)), float32
    """
    rows = np.asarray(rows)
    if not deltas:
        x = np.ascontiguousarray(feats[rows, 1:], dtype=np.float32)
    else:
        n, half = len(feats), delta_width // 2
        x = np.empty((len(rows), 2 * (feats.shape[1] - 1)), dtype=np.float32)
        for b0 in range(0, n, STATS_BLOCK):
            i0, i1 = np.searchsorted(rows, [b0, b0 + STATS_BLOCK])
            if i1 == i0:
                continue
            # context of half a window on each side, clipped only at the recording's edges,
            # where add_deltas repeats the edge frame as it does for the whole recording
            lo, hi = max(0, b0 - half), min(n, b0 + STATS_BLOCK + half)
            x[i0:i1] = add_deltas(feats[lo:hi, 1:], width=delta_width)[rows[i0:i1] - lo]
    if normalise and len(x):
        mu, sd = _column_stats(x)
        sd[sd < 1e-6] = 1.0
        x -= mu.astype(np.float32)
        x /= sd.astype(np.float32)
    return x


#: Rows per block of :func:`speech_features` (bounds its float64 temporaries).
STATS_BLOCK = 65536


def _column_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and standard deviation in float64, block by block, bit-identical to
    ``x.mean(axis=0, dtype=float64)`` and ``x.std(axis=0, dtype=float64)``: numpy sums
    the rows of a C-ordered array one after another, and so does this, carrying the sum
    from block to block."""
    total = np.zeros(x.shape[1])
    for a in range(0, len(x), STATS_BLOCK):
        total = np.concatenate([total[None], x[a:a + STATS_BLOCK]]).sum(axis=0)
    mu = total / len(x)
    total = np.zeros(x.shape[1])
    for a in range(0, len(x), STATS_BLOCK):
        d = x[a:a + STATS_BLOCK] - mu
        np.multiply(d, d, out=d)
        total = np.concatenate([total[None], d]).sum(axis=0)
    return mu, np.sqrt(total / len(x))


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
