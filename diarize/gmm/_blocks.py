"""One blockwise walk over the data, and the accumulators that gather what it yields.

A pass is three parts that each do one job:

* :class:`_Blocks` walks X in row blocks, centring each block on ``shift`` into a
  reused buffer (and appending the squared rows for 'diag'/'spherical');
* :class:`_EStep` turns a block into weighted log-probabilities and then, in place,
  into responsibilities (log-sum-exp, max-shifted);
* accumulators (:class:`_Accumulator` subclasses) each take one thing from every
  block: a per-frame output, a sum, or the M-step statistics.

:func:`_walk` drives them.  The arithmetic per block and its order are those of a
single loop, so results do not depend on which accumulators run together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ._kernels import _accumulate_product, _LogDensityPlan


class _Block:
    """Views of one block of rows ``[start, stop)``; valid until the next block.

    ``xc`` (b, D) is the centred block and ``z`` (b, 2D) or (b, D) the product input
    (``[xc, xc**2]`` for 'diag'/'spherical', else ``xc`` itself); ``r`` (K, b) holds
    log-probabilities, then responsibilities; ``w`` (b,) the sample weights or None;
    ``tmp`` (b, D) scratch for 'tied'/'full'.  The E-step sets ``lse`` (b,), the
    per-frame log-likelihood, ``log_s`` (b,), the log normaliser about the per-frame
    maximum, and, when asked, ``shifted`` (K, b), the max-shifted log-probabilities.
    """

    __slots__ = ("start", "stop", "z", "xc", "r", "w", "tmp", "lse", "log_s", "shifted")

    def __init__(self, start: int, stop: int, z: NDArray[np.floating], xc: NDArray[np.floating],
                 r: NDArray[np.floating], w: NDArray[np.float64] | None,
                 tmp: NDArray[np.floating] | None) -> None:
        self.start, self.stop = start, stop
        self.z, self.xc, self.r, self.w, self.tmp = z, xc, r, w, tmp
        self.lse: NDArray[np.floating] | None = None
        self.log_s: NDArray[np.floating] | None = None
        self.shifted: NDArray[np.floating] | None = None


class _Blocks:
    """Row blocks of X centred on ``shift``, in buffers of the working dtype.

    The data are never copied: one block of buffers is allocated and reused.
    """

    def __init__(self, X: NDArray[np.floating], sample_weight: NDArray[np.float64] | None, *,
                 shift: NDArray[np.float64], n_components: int, covariance_type: str,
                 dtype: DTypeLike, block: int) -> None:
        n_samples, n_features = X.shape
        dt = np.dtype(dtype)
        self.X, self.sample_weight = X, sample_weight
        self.shift = shift
        self.n_components = n_components
        self.block = block
        self.rows = min(block, n_samples)
        self.fused = covariance_type in ("diag", "spherical")
        self._shift_dt = shift.astype(dt)
        self._z = np.empty((self.rows, 2 * n_features if self.fused else n_features), dtype=dt)
        self._r = np.empty(self.rows * n_components, dtype=dt)
        self._tmp = None if self.fused else np.empty((self.rows, n_features), dtype=dt)

    @property
    def weight_sum(self) -> float:
        """Total sample weight (the number of rows when unweighted)."""
        w = self.sample_weight
        return float(self.X.shape[0] if w is None else w.sum())

    def __iter__(self) -> Iterator[_Block]:
        X, n_comp = self.X, self.n_components
        n_samples, n_features = X.shape
        for start in range(0, n_samples, self.block):
            stop = min(n_samples, start + self.block)
            b = stop - start
            zb = self._z[:b]
            xc = zb[:, :n_features]
            np.subtract(X[start:stop], self._shift_dt, out=xc, casting="same_kind")
            if self.fused:
                np.multiply(xc, xc, out=zb[:, n_features:])
            w = None if self.sample_weight is None else self.sample_weight[start:stop]
            # (K, b) view of the flat buffer, contiguous for every block length.
            r = self._r[: n_comp * b].reshape(n_comp, b)
            tmp = None if self._tmp is None else self._tmp[:b]
            yield _Block(start, stop, zb, xc, r, w, tmp)


class _EStep:
    """Weighted log-probabilities of a block, then responsibilities in place."""

    def __init__(self, plan: _LogDensityPlan, *, rows: int, n_components: int,
                 dtype: DTypeLike, keep_shifted: bool) -> None:
        dt = np.dtype(dtype)
        self.plan = plan
        self.n_components = n_components
        self._m = np.empty(rows, dtype=dt)
        self._s = np.empty(rows, dtype=dt)
        self._a = np.empty(rows * n_components, dtype=dt) if keep_shifted else None

    def log_prob(self, blk: _Block) -> None:
        """Fill ``blk.r`` with log p(x | k) + log weight_k (and the estimator's offset)."""
        self.plan(blk.z, blk.xc, blk.r, blk.tmp)

    def normalise(self, blk: _Block) -> None:
        """Turn ``blk.r`` into responsibilities (log-sum-exp about the per-frame max)."""
        r = blk.r
        b = r.shape[1]
        m = np.max(r, axis=0, out=self._m[:b])
        r -= m
        if self._a is not None:
            a = self._a[: self.n_components * b].reshape(self.n_components, b)
            np.copyto(a, r)
            blk.shifted = a
        np.exp(r, out=r)
        s = np.sum(r, axis=0, out=self._s[:b])
        log_s = np.log(s)
        blk.lse = log_s + m
        blk.log_s = log_s
        s = np.reciprocal(s, out=s)
        r *= s


class _Accumulator:
    """Takes one thing from every block of a pass.

    ``log_prob`` sees ``blk.r`` holding weighted log-probabilities (E-step passes
    only), ``resp`` sees it holding responsibilities.  An accumulator that changes
    ``blk.r`` sets ``changes_resp`` and runs after all the others.
    """

    needs_shifted = False
    changes_resp = False

    def log_prob(self, blk: _Block) -> None:
        pass

    def resp(self, blk: _Block) -> None:
        pass


class _WeightedLogProbOut(_Accumulator):
    """Writes log p(x | k) + log weight_k of every frame into ``out`` (N, K)."""

    def __init__(self, out: NDArray[np.float64]) -> None:
        self.out = out

    def log_prob(self, blk: _Block) -> None:
        self.out[blk.start : blk.stop] = blk.r.T


class _LabelsOut(_Accumulator):
    """Writes the most probable component of every frame into ``out`` (N,)."""

    def __init__(self, out: NDArray[np.intp]) -> None:
        self.out = out

    def log_prob(self, blk: _Block) -> None:
        self.out[blk.start : blk.stop] = np.argmax(blk.r, axis=0)


class _LogLikelihoodOut(_Accumulator):
    """Writes the log-likelihood log p(x) of every frame into ``out`` (N,)."""

    def __init__(self, out: NDArray[np.float64]) -> None:
        self.out = out

    def resp(self, blk: _Block) -> None:
        self.out[blk.start : blk.stop] = blk.lse


class _RespOut(_Accumulator):
    """Writes the responsibilities of every frame into ``out`` (N, K)."""

    def __init__(self, out: NDArray[np.float64]) -> None:
        self.out = out

    def resp(self, blk: _Block) -> None:
        self.out[blk.start : blk.stop] = blk.r.T


class _LogLikelihoodSum(_Accumulator):
    """The (sample-weighted) sum of the per-frame log-likelihoods, in float64."""

    def __init__(self) -> None:
        self.total = 0.0

    def resp(self, blk: _Block) -> None:
        assert blk.lse is not None  # set by the E-step
        if blk.w is None:
            self.total += float(np.sum(blk.lse, dtype=np.float64))
        else:
            self.total += float(blk.w @ blk.lse)


class _NegEntropySum(_Accumulator):
    """The (sample-weighted) sum of resp * log resp over frames and components."""

    needs_shifted = True

    def __init__(self) -> None:
        self.total = 0.0

    def resp(self, blk: _Block) -> None:
        # log resp = shifted - log_s, and the responsibilities of a frame sum to 1.
        assert blk.shifted is not None and blk.log_s is not None  # needs_shifted
        ent = np.einsum("kb,kb->b", blk.r, blk.shifted)
        ent -= blk.log_s
        w = blk.w
        self.total += float(np.sum(ent, dtype=np.float64) if w is None else w @ ent)


class _GaussianStats(_Accumulator):
    """The M-step statistics in float64: nk (K,), and the first and second moments
    of the responsibilities about the blocks' shift.

    ``s1`` is (K, D); ``s2`` is (K, D) for 'diag'/'spherical' (sums of squares),
    (D, D) for 'tied' and (K, D, D) for 'full'.  The sample weights are multiplied
    into ``blk.r`` in place.
    """

    changes_resp = True

    def __init__(self, *, n_components: int, n_features: int, covariance_type: str) -> None:
        self.n_features = n_features
        self.covariance_type = covariance_type
        self.fused = covariance_type in ("diag", "spherical")
        self.nk = np.zeros(n_components)
        if self.fused:
            # One product resp @ [xc, xc**2] per block gives both moments.
            self._s12 = np.zeros((n_components, 2 * n_features))
        else:
            self._s1 = np.zeros((n_components, n_features))
            shape = (n_features, n_features) if covariance_type == "tied" else (
                n_components, n_features, n_features)
            self._s2 = np.zeros(shape)

    def resp(self, blk: _Block) -> None:
        r, w, xc = blk.r, blk.w, blk.xc
        if w is not None:
            r *= w.astype(r.dtype)
        self.nk += np.sum(r, axis=1, dtype=np.float64)
        if self.fused:
            _accumulate_product(self._s12, r, blk.z)
            return
        _accumulate_product(self._s1, r, xc)
        if self.covariance_type == "tied":
            wxc = xc if w is None else xc * w[:, None].astype(r.dtype)
            _accumulate_product(self._s2, wxc.T, xc)
        else:
            t = blk.tmp
            assert t is not None  # 'full' blocks have a scratch buffer
            for k in range(r.shape[0]):
                np.multiply(xc, r[k][:, None], out=t)
                _accumulate_product(self._s2[k], t.T, xc)

    def moments(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(s1, s2)`` as described in the class docstring."""
        if self.fused:
            d = self.n_features
            return self._s12[:, :d].copy(), self._s12[:, d:].copy()
        return self._s1, self._s2


def _walk(blocks: _Blocks, accumulators: Sequence[_Accumulator], *,
          e_step: _EStep | None = None,
          resp_in: Callable[[int, int], NDArray[np.float64]] | None = None) -> None:
    """Feed every block to the accumulators.

    With ``e_step`` the responsibilities are those of the current parameters; with
    ``resp_in`` (a callable ``(start, stop) -> (stop - start, K) array``) they are
    given (initialisation).
    """
    # A stable sort: the accumulators that change blk.r run last, in the given order.
    ordered = sorted(accumulators, key=lambda acc: acc.changes_resp)
    for blk in blocks:
        if e_step is None:
            assert resp_in is not None, "_walk needs e_step or resp_in"
            blk.r[...] = resp_in(blk.start, blk.stop).T
        else:
            e_step.log_prob(blk)
            for acc in ordered:
                acc.log_prob(blk)
            e_step.normalise(blk)
        for acc in ordered:
            acc.resp(blk)
