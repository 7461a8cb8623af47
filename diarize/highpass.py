"""The audio stage's Butterworth high-pass, designed and run with numpy alone.

``scipy.signal`` (``butter`` and ``sosfilt``) did this before, but importing it costs
0.6-0.9 s of every run (scipy's docstring machinery and ``scipy.stats``, which it pulls
in), longer than diarizing a short file. The filter here is the same one:

Design
    The analog Butterworth prototype's poles, moved to the cutoff by the high-pass
    transform and to the z-plane by the bilinear transform with pre-warping, exactly as
    ``scipy.signal.butter(order, cutoff, btype="highpass", fs=rate)`` does. Every zero
    lies at z = 1 (DC).
Filtering
    A cascade of sections, one per conjugate pole pair (and one per real pole). Each
    section, ``k (1 - z^-1)^m / prod(1 - p z^-1)``, is split into partial fractions,
    ``c0 + sum_i r_i / (1 - p_i z^-1)``, so that it only needs the one-pole recursion
    ``w[n] = p w[n-1] + x[n]`` per complex pole (of a conjugate pair only one is run: the
    other's output is its conjugate). That recursion is evaluated a block of ``L``
    samples at a time with numpy: inside a block ``w[n] = p^n cumsum(p^-k x[k])[n] +
    p^(n+1) w[-1]``, and only the state (the last ``w`` of each block) is carried from
    block to block in a loop. ``L`` is chosen per pole so that ``|p|^-L`` stays small,
    which keeps the cumulative sum as accurate as the plain recursion.

The output agrees with ``sosfilt``'s to about 1e-12 of full scale (6e-13 at 16 kHz,
6e-12 at 48 kHz, an audit of session 22, where a long-double reference put nearly all of
it on sosfilt's side); after the cast to float32 a sample in millions differs by one
unit in the last place, from sosfilt or from another block size.
"""

from __future__ import annotations

import math

import numpy as np

from .config import AudioConfig

#: Largest growth ``|p|^-L`` allowed inside one block of the one-pole recursion: the
#: cumulative sum then loses at most log10 of it (4) of float64's 16 digits.
MAX_BLOCK_GROWTH = 1e4
#: Most samples per block of the one-pole recursion (bounds the work per block for poles
#: very close to the unit circle; the state loop then runs once per this many samples).
MAX_BLOCK_LEN = 2048


def butterworth_highpass_poles(*, order: int, cutoff_hz: float, sample_rate: float
                               ) -> tuple[np.ndarray, float]:
    """z-plane poles and gain of a digital Butterworth high-pass (all zeros at z = 1).

    Parameters
    ----------
    order : int, keyword-only
    cutoff_hz : float, keyword-only
        -3 dB frequency, below ``sample_rate / 2``.
    sample_rate : float, keyword-only

    Returns
    -------
    poles : ndarray of complex128, shape (order,)
    gain : float
        ``H(z) = gain * (1 - z^-1)^order / prod(1 - p z^-1)``.
    """
    # scipy.signal.butter: the analog prototype on the unit circle, pre-warped to the
    # cutoff (with fs = 2 after normalising), high-pass transformed, then bilinear.
    proto = butterworth_prototype(order)
    fs2 = 2.0 * 2.0
    warped = 2.0 * 2.0 * math.tan(math.pi * (cutoff_hz / (sample_rate / 2.0)) / 2.0)
    analog = warped / proto
    poles = (fs2 + analog) / (fs2 - analog)
    # The high-pass transform's gain is 1 / prod(-p_proto) = 1 (prototype gain 1); the
    # bilinear transform's is prod(fs2 - z) / prod(fs2 - p) with every analog zero at 0.
    gain = float(np.real(1.0 / np.prod(-proto)) * np.real(fs2 ** order / np.prod(fs2 - analog)))
    return poles, gain


def butterworth_prototype(order: int) -> np.ndarray:
    """Poles of the analog Butterworth low-pass prototype (cutoff 1 rad/s, gain 1), in
    ``scipy.signal.buttap``'s order; shape (order,), complex128."""
    return -np.exp(1j * np.pi * np.arange(-order + 1, order, 2) / (2 * order))


#: Roots whose imaginary part is at most this are real (np.roots leaves a few ulps there).
REAL_ROOT_TOL = 1e-12


def conjugate_groups(roots: np.ndarray) -> list[np.ndarray]:
    """Roots (poles or zeros) grouped into sections: each conjugate pair, the upper root
    first, sorted by real then imaginary part; then each real root alone, by value."""
    upper = sorted((r for r in roots if r.imag > REAL_ROOT_TOL),
                   key=lambda r: (r.real, r.imag))
    real = sorted((r for r in roots if abs(r.imag) <= REAL_ROOT_TOL), key=lambda r: r.real)
    out = [np.array([r, np.conj(r)]) for r in upper]
    out += [np.array([complex(r.real, 0.0)]) for r in real]
    return out


class Section:
    """One section of a filter in partial fractions, ``direct + residue / (1 - p u)``
    (``u = z^-1``; for a conjugate pair, the upper pole `pole` with twice its residue:
    its partner's term is the conjugate of its own, and only the real part is kept), its
    one-pole state carried across calls. :func:`highpass_section` makes the high-pass's,
    :mod:`diarize._iir` the others'."""

    def __init__(self, pole: complex, residue: complex, direct: float):
        p = complex(pole)
        self.direct = float(direct)
        self.pole = p
        self.residue = complex(residue)
        length = math.log(MAX_BLOCK_GROWTH) / max(-math.log(abs(p)), 1e-300)
        self.block = int(max(1, min(MAX_BLOCK_LEN, length)))
        k = np.arange(self.block)
        self.down = self.pole ** (-k.astype(np.float64))  # p^-k
        self.up = self.pole ** k.astype(np.float64)  # p^k
        self.step = self.pole ** self.block  # p^L
        # residue * p^j: the one-pole output's weight in the section's output.
        self.weight = self.residue * self.up
        self.state: complex | None = None

    def settle(self, level: float) -> None:
        """Start as if the input had always been `level` (the steady state of a step)."""
        self.state = level / (1.0 - self.pole)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The section's output (float64) for input `x` (float64), continuing the state."""
        n = len(x)
        L = self.block
        nb = -(-n // L)
        if nb * L != n:
            x = np.concatenate([x, np.zeros(nb * L - n)])
        # Block b's zero-state response, divided by p^j: cumsum_j(p^-k x[k]).
        w = x.reshape(nb, L) * self.down
        np.cumsum(w, axis=1, out=w)
        # The carried state's response adds p^(j+1) * (state before the block).
        state = 0j if self.state is None else self.state
        starts = np.empty(nb, dtype=np.complex128)
        ends = w[:, L - 1] * self.up[L - 1]
        for b in range(nb):
            starts[b] = state
            state = self.step * state + ends[b]
        # The last block may be padded: the state after the true last sample is kept.
        last = (n - 1) % L
        self.state = complex((w[-1, last] + starts[-1] * self.pole) * self.up[last])
        w += (starts * self.pole)[:, None]
        w *= self.weight
        out = self.direct * x[:n]
        out += w.real.reshape(-1)[:n]
        return out


def highpass_section(poles: np.ndarray, gain: float) -> Section:
    """The section ``k (1 - u)^m / prod(1 - p_i u)`` of one real pole or one conjugate
    pair (`poles`, the upper first), every zero at z = 1."""
    m = len(poles)
    direct = float(np.real(gain / np.prod(poles)))
    p = poles[0]
    others = poles[1:]
    residue = gain * (1.0 - 1.0 / p) ** m / np.prod(1.0 - others / p)
    return Section(p, complex(residue) * (2.0 if m == 2 else 1.0), direct)


class ButterworthHighpass:
    """Streaming Butterworth high-pass: call it on consecutive blocks of one signal.

    The first sample's level is taken as having always been there (as
    ``scipy.signal.sosfilt_zi`` times the first sample), so a DC offset gives no step
    response at the start.

    Parameters
    ----------
    order : int, keyword-only
    cutoff_hz : float, keyword-only
    sample_rate : float, keyword-only
    """

    def __init__(self, *, order: int, cutoff_hz: float, sample_rate: float):
        poles, gain = butterworth_highpass_poles(order=order, cutoff_hz=cutoff_hz,
                                                 sample_rate=sample_rate)
        groups = conjugate_groups(poles)
        # The whole gain goes to the first section (as scipy's zpk2sos does).
        self._sections = [highpass_section(g, gain if i == 0 else 1.0)
                          for i, g in enumerate(groups)]
        self._started = False

    def __call__(self, y: np.ndarray) -> np.ndarray:
        """The filtered block.

        Parameters
        ----------
        y : ndarray of float, shape (n,)

        Returns
        -------
        ndarray of float32, shape (n,)
        """
        x = np.asarray(y, dtype=np.float64)
        if not len(x):
            return np.zeros(0, dtype=np.float32)
        if not self._started:
            # Only the first section sees the level; a high-pass passes no DC to the rest.
            self._sections[0].settle(float(x[0]))
            self._started = True
        for section in self._sections:
            x = section(x)
        return x.astype(np.float32)


def highpass_filter(cfg: AudioConfig) -> ButterworthHighpass | None:
    """The audio stage's high-pass, or None when it is off (``cfg.highpass_hz`` 0).

    Parameters
    ----------
    cfg : AudioConfig

    Returns
    -------
    ButterworthHighpass or None
    """
    if cfg.highpass_hz <= 0:
        return None
    return ButterworthHighpass(order=cfg.highpass_order, cutoff_hz=cfg.highpass_hz,
                               sample_rate=cfg.sample_rate)
