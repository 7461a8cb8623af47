"""Linking speakers across recordings: one label per distinct voice over a batch.

Each recording is diarized on its own and its output speakers' UBM statistics are kept
(:class:`diarize.speakers.VoiceStats`). Linking then works on those statistics alone, so
its cost grows with the number of speakers, not with the audio:

1. Every pair of speakers gets a symmetric score: the mean of the two directions of the
   cohort-normalised verification score (:func:`diarize.speakers.voice_scores`), each
   voice's statistics against the other's MAP-adapted model. With ``voices.link_norm =
   "batch"`` that score is then read against both speakers' scores with the speakers of
   the other recordings (S-norm; each speaker's few scores lean on those of the whole
   batch, and a batch of a few speakers on ``voices.link_prior_*``), which keeps one
   threshold usable on recordings unlike the cohort's voices.
2. Agglomerative clustering merges the best-scoring pair while its score is above
   ``voices.link_threshold`` and, with the batch normalisation, above the score that
   chance alone gives so many pairs (:func:`chance_threshold`, ``voices.link_fdr``: a
   batch of voices each heard once links nothing on its best impostor pairs). Two
   speakers of the same recording are never merged (the diarization already told them
   apart). ``voices.link_linkage`` says how a merged group is scored: ``"pooled"``
   pools the group's statistics and scores them as one voice, ``"average"`` /
   ``"complete"`` take the mean / least of its members' pair scores.
3. Groups are numbered ``SPEAKER_00``, ``SPEAKER_01``, ... by their first appearance in
   (recording uri, local label) order; a naming step (enrolled voiceprints, say) may give
   some of them names first (:func:`label_groups`).

The result is deterministic and independent of the order the voices are given in. The
work is O(S^2) scores for S speakers (each a C x D product; the pooled linkage rescores a
merged group against the others, O(S) per merge), and memory O(S^2) numbers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .config import VoicesConfig
from .errors import ParameterError
from .names import LABEL_FORMAT, OUTPUT_LABEL, TIME_DECIMALS
from .speakers import (MIN_COHORT_STD, BackgroundModel, VoiceStats, cohort_norm,
                       linear_scores, load_nuisance, model_offsets, offset_llr,
                       ubm_fingerprint, with_nuisance)

__all__ = ["Voice", "SpeakerGroup", "link_voices", "label_groups", "link_speakers",
           "symmetric_scores", "chance_threshold", "speakers_report", "ubm_fingerprint",
           "LABEL_FORMAT"]


@dataclass(frozen=True)
class Voice:
    """One output speaker of one recording, as linking sees it.

    Attributes
    ----------
    uri : str
        The recording.
    local : str
        Its label in that recording's own diarization.
    stats : VoiceStats
        Its UBM statistics (no frames: it is never linked to another speaker).
    seconds : float
        Its talk time in the recording.
    """

    uri: str
    local: str
    stats: VoiceStats
    seconds: float = 0.0


@dataclass(frozen=True)
class SpeakerGroup:
    """One distinct voice over the batch: the speakers linked into it.

    Attributes
    ----------
    members : tuple of Voice
        In (uri, local) order; at most one per recording.
    stats : VoiceStats
        Their pooled statistics (what a naming step scores).
    """

    members: tuple[Voice, ...]
    stats: VoiceStats

    @property
    def seconds(self) -> float:
        """Talk time over all its recordings."""
        return float(sum(v.seconds for v in self.members))


def _as_voices(voices: Iterable[Voice | tuple]) -> list[Voice]:
    out = [v if isinstance(v, Voice) else Voice(*v) for v in voices]
    keys = [(v.uri, v.local) for v in out]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise ParameterError(f"link: speaker {dup[1]!r} of {dup[0]!r} given twice")
    # One fixed order whatever the input order: the result cannot depend on it.
    return sorted(out, key=lambda v: (v.uri, v.local))


class _Scorer:
    """Cohort-normalised scores of voices' statistics against models, with each voice's
    cohort normalisation computed once (the T-norm of :func:`voice_scores`)."""

    def __init__(self, ubm: BackgroundModel, *, relevance_factor: float) -> None:
        self.ubm = ubm
        self.relevance_factor = relevance_factor

    def norm(self, stats: VoiceStats) -> tuple[float, float]:
        return cohort_norm(self.ubm, stats)

    def means(self, stats: VoiceStats) -> np.ndarray:
        # projected off the UBM's nuisance subspace, if it has one (as its cohort is)
        means = stats.means(self.ubm.gmm, relevance_factor=self.relevance_factor)
        return self.ubm.project(means[None])[0]

    def offset_scores(self, stats: VoiceStats, norm: tuple[float, float], dm: np.ndarray,
                      off: np.ndarray) -> np.ndarray:
        """Scores of one voice against models given by their offsets from the UBM
        (:func:`diarize.speakers.model_offsets`, each (M, C, D), worked out once for many
        voices): shape (M,)."""
        if len(dm) == 0:
            return np.zeros(0)
        return (offset_llr(self.ubm.gmm, stats, dm, off) - norm[0]) / norm[1]


#: Models scored at a time when filling the score matrix (bounds its memory).
_MODEL_BLOCK = 256


def symmetric_scores(stats: Sequence[VoiceStats], *, ubm: BackgroundModel,
                     relevance_factor: float) -> np.ndarray:
    """The symmetric linking score of every pair of voices.

    ``S[i, j]`` is the mean of voice i's statistics scored against voice j's MAP model
    and the reverse, each normalised by the cohort as in :func:`voice_scores`.

    Parameters
    ----------
    stats : sequence of VoiceStats
        S voices, each with some frames.
    ubm : BackgroundModel, keyword-only
    relevance_factor : float, keyword-only
        MAP relevance factor of the voices' models.

    Returns
    -------
    ndarray, shape (S, S)
        Symmetric; the diagonal is each voice against its own model.
    """
    scorer = _Scorer(ubm, relevance_factor=relevance_factor)
    n = len(stats)
    t = np.zeros((n, n))
    norms = [scorer.norm(s) for s in stats]
    for a in range(0, n, _MODEL_BLOCK):
        # the block's models as the ratio needs them, once for every voice scored
        dm, off = model_offsets(ubm.gmm, np.stack([scorer.means(s)
                                                    for s in stats[a:a + _MODEL_BLOCK]]))
        for i, s in enumerate(stats):
            t[i, a:a + len(dm)] = scorer.offset_scores(s, norms[i], dm, off)
    # made symmetric in place, a pair of blocks at a time (no S x S temporaries)
    for a in range(0, n, _MODEL_BLOCK):
        for b in range(a, n, _MODEL_BLOCK):
            mean = 0.5 * (t[a:a + _MODEL_BLOCK, b:b + _MODEL_BLOCK]
                          + t[b:b + _MODEL_BLOCK, a:a + _MODEL_BLOCK].T)
            t[a:a + _MODEL_BLOCK, b:b + _MODEL_BLOCK] = mean
            t[b:b + _MODEL_BLOCK, a:a + _MODEL_BLOCK] = mean.T
    return t


def _link_rank(ubm: BackgroundModel, config: VoicesConfig) -> int:
    """``config.link_nuisance_rank``, or 0 where it would take the shipped subspace (no
    ``nuisance_path``) to a UBM it was not trained for (another ``cluster.ubm_path``):
    the default rank must not make linking fail with a UBM of one's own."""
    rank = config.link_nuisance_rank
    if rank > 0 and not config.nuisance_path and ubm.nuisance is None:
        if load_nuisance(None)[1] != ubm_fingerprint(ubm):
            return 0
    return rank


def link_voices(voices: Iterable[Voice | tuple], *, ubm: BackgroundModel,
                config: VoicesConfig) -> list[SpeakerGroup]:
    """Group the speakers of many recordings into distinct voices.

    Parameters
    ----------
    voices : iterable of Voice or (uri, local, VoiceStats, seconds)
        Every output speaker of every recording to link.
    ubm : BackgroundModel, keyword-only
        The UBM the statistics were gathered under (with its cohort).
    config : VoicesConfig, keyword-only
        ``link_threshold``, ``link_fdr``, ``link_linkage``, ``link_nuisance_rank`` and
        ``relevance_factor``.

    Returns
    -------
    list of SpeakerGroup
        Every voice in exactly one group, groups in order of their first member in
        (uri, local) order.

    Raises
    ------
    ParameterError
        The same (uri, local) speaker given twice.
    """
    items = _as_voices(voices)
    n = len(items)
    if n == 0:
        return []
    ubm = with_nuisance(ubm, _link_rank(ubm, config), config.nuisance_path or None,
                        key="voices.link_nuisance_rank")
    # each recording as a number: who may join whom is a question of these
    uris = [v.uri for v in items]
    names, code = np.unique(np.array(uris, dtype=object), return_inverse=True)
    code = code.astype(np.int64)
    linkable = [v.stats.frames > 0 for v in items]
    scorer = _Scorer(ubm, relevance_factor=config.relevance_factor)
    idx = [i for i in range(n) if linkable[i]]
    if len(idx) == n:
        s = symmetric_scores([v.stats for v in items], ubm=ubm,
                             relevance_factor=config.relevance_factor)
    else:
        s = np.full((n, n), -np.inf)
        if idx:
            s[np.ix_(idx, idx)] = symmetric_scores([items[i].stats for i in idx], ubm=ubm,
                                                   relevance_factor=config.relevance_factor)
    # Never merge a group with itself or two speakers of one recording (a block of rows
    # at a time: no S x S mask).
    for a in range(0, n, _MODEL_BLOCK):
        rows = s[a:a + _MODEL_BLOCK]
        rows[code[a:a + _MODEL_BLOCK, None] == code[None, :]] = -np.inf
    loc, scale = _batch_norm(s, config)
    for a in range(0, n, _MODEL_BLOCK):
        s[a:a + _MODEL_BLOCK] = _normalised(s[a:a + _MODEL_BLOCK], loc[a:a + _MODEL_BLOCK],
                                            scale[a:a + _MODEL_BLOCK], loc, scale)

    members: list[list[int]] = [[i] for i in range(n)]
    pooled: list[VoiceStats] = [v.stats for v in items]
    files: list[set[int]] = [{int(c)} for c in code]
    # the live groups holding a speaker of each recording (a merged group's row blocks
    # them all), kept as groups merge instead of intersecting every group's recordings
    holding: list[set[int]] = [set() for _ in names]
    for i, c in enumerate(code):
        holding[int(c)].add(i)
    alive = np.ones(n, dtype=bool)
    pool = _PooledScores(scorer, pooled) if config.link_linkage == "pooled" else None
    linkage = config.link_linkage
    threshold = config.link_threshold
    if config.link_norm == "batch" and config.link_fdr > 0:
        threshold = max(threshold, chance_threshold(s, config.link_fdr))
    # Each row's first maximum, kept up to date: the pair picked is the first maximum of
    # the whole matrix (a fixed order on ties) without scanning it at every merge.
    best = s.argmax(axis=1)
    best_val = s[np.arange(n), best]
    while True:
        a = int(np.argmax(best_val))
        b = int(best[a])
        if not np.isfinite(best_val[a]) or best_val[a] <= threshold:
            break
        a, b = min(a, b), max(a, b)
        size_a, size_b = len(members[a]), len(members[b])
        members[a] = sorted(members[a] + members[b])
        pooled[a] = pooled[a] + pooled[b]
        for c in files[b]:
            holding[c].discard(b)
            holding[c].add(a)
        files[a] |= files[b]
        alive[b] = False
        others = np.flatnonzero(alive)
        others = others[others != a]
        if linkage == "average":
            row = (size_a * s[a, others] + size_b * s[b, others]) / (size_a + size_b)
        elif linkage == "complete":
            row = np.minimum(s[a, others], s[b, others])
        else:  # pooled: the merged group is one voice, scored afresh
            assert pool is not None
            # its normalisation: its members', weighted by their number
            loc[a] = (size_a * loc[a] + size_b * loc[b]) / (size_a + size_b)
            scale[a] = (size_a * scale[a] + size_b * scale[b]) / (size_a + size_b)
            pool.merged(a, b)
            row = _normalised(pool.row(a, others), loc[a], scale[a], loc[others],
                              scale[others])
        # A group holding a speaker of a recording never joins another speaker of it.
        blocked = set().union(*(holding[c] for c in files[a]))
        row = np.where(np.isin(others, np.fromiter(blocked, dtype=np.int64)), -np.inf, row)
        s[a, others] = row
        s[others, a] = row
        s[b, :] = -np.inf
        s[:, b] = -np.inf
        best_val[b] = -np.inf
        # rows whose first maximum may have moved: a's own, those that pointed at a or b,
        # and those a now beats or ties
        stale = others[(best[others] == a) | (best[others] == b) | (s[others, a] >= best_val[others])]
        for k in (a, *stale.tolist()):
            best[k] = int(np.argmax(s[k]))
            best_val[k] = s[k, best[k]]
    groups = [SpeakerGroup(tuple(items[i] for i in members[g]), pooled[g])
              for g in np.flatnonzero(alive)]
    # alive in index order = order of each group's first member (members are sorted)
    return groups


class _PooledScores:
    """The pooled linkage's rescoring of a merged group against the others, with what
    does not change between merges kept: each group's model (as its offsets from the
    UBM), its statistics centred on the UBM and its cohort normalisation (a group's
    change only when it merges), so a merge costs O(groups) array work, not O(groups)
    models adapted again.
    """

    def __init__(self, scorer: _Scorer, pooled: list[VoiceStats]) -> None:
        self.scorer = scorer
        self.pooled = pooled
        gmm = scorer.ubm.gmm
        c, d = np.shape(gmm.means_)
        self._mu = np.asarray(gmm.means_, dtype=np.float64)
        n = len(pooled)
        self.dm = np.zeros((n, c, d))
        self.off = np.zeros((n, c, d))
        self.fresh = np.zeros(n, dtype=bool)  # dm[k], off[k] are group k's model's
        self.counts = np.stack([np.asarray(p.n, dtype=np.float64) for p in pooled])
        self.centred = np.stack([p.centred(self._mu) for p in pooled])
        self.frames = np.array([p.frames for p in pooled], dtype=np.float64)
        # each group's cohort normalisation (mean, spread), filled in as first needed
        self.norms = np.zeros((n, 2))
        self.normed = np.zeros(n, dtype=bool)

    def merged(self, a: int, b: int) -> None:
        """Group `a` now holds group `b` too (``pooled[a]`` already summed)."""
        group = self.pooled[a]
        self.counts[a] = group.n
        self.centred[a] = group.centred(self._mu)
        self.frames[a] = group.frames
        self.fresh[a] = False
        self.normed[a] = False

    def _models(self, ks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        todo = ks[~self.fresh[ks]]
        if len(todo):
            means = np.stack([self.scorer.means(self.pooled[k]) for k in todo.tolist()])
            self.dm[todo], self.off[todo] = model_offsets(self.scorer.ubm.gmm, means)
            self.fresh[todo] = True
        return self.dm[ks], self.off[ks]

    def _norms(self, ks: np.ndarray) -> np.ndarray:
        """The cohort normalisations of groups `ks`: shape (len(ks), 2)."""
        for k in ks[~self.normed[ks]].tolist():
            self.norms[k] = (self.scorer.norm(self.pooled[k]) if self.pooled[k].frames > 0
                             else (0.0, 1.0))
            self.normed[k] = True
        return self.norms[ks]

    def row(self, a: int, others: np.ndarray) -> np.ndarray:
        """Symmetric scores of group `a`'s pooled statistics against the groups
        `others`' (each direction cohort-normalised)."""
        if len(others) == 0:
            return np.zeros(0)
        if self.pooled[a].frames <= 0:
            return np.full(len(others), -np.inf)
        mean, spread = self._norms(np.array([a]))[0]
        forward = self.scorer.offset_scores(self.pooled[a], (float(mean), float(spread)),
                                            *self._models(others))
        # every other group's statistics under group a's model, at once
        dm, off = (x[0] for x in self._models(np.array([a])))
        llr = linear_scores(self.counts[others], self.centred[others], dm, off,
                            frames=self.frames[others])
        norms = self._norms(others)
        backward = np.where(self.frames[others] > 0, (llr - norms[:, 0]) / norms[:, 1],
                            -np.inf)
        return 0.5 * (forward + backward)


def _batch_norm(s: np.ndarray, config: VoicesConfig) -> tuple[np.ndarray, np.ndarray]:
    """Each voice's location and scale for ``link_norm = "batch"``; zeros and ones for
    ``"cohort"``.

    Its scores with the voices of other recordings (the finite entries of its row of
    `s`) are mostly scores of different voices, but a voice heard in many recordings
    (the hosts of a podcast) has many scores of its own voice among them, at the top.
    So the location and scale are read robustly (:func:`_robust_location`) from the row,
    then shrunk towards a prior by ``link_prior_weight`` pseudo-scores: a voice of a
    small batch has a few dozen scores, too few for a spread of its own. That prior is
    the batch's: the same robust location and scale of all its pairs of speakers of
    different recordings (hundreds of scores for a dozen recordings), itself shrunk
    towards ``link_prior_mean``/``link_prior_std`` by the same weight (which then rule a
    batch of a few speakers only). Scores of different voices move with the recordings
    and the diarization (how much speech each speaker has), so the batch knows its level
    better than a fixed prior.
    """
    n = len(s)
    if config.link_norm != "batch":
        return np.zeros(n), np.ones(n)
    pairs = _upper_pairs(s)
    m0, sd0 = _shrunk(pairs[np.isfinite(pairs)], config.link_prior_mean,
                      config.link_prior_std, config)
    loc, scale = np.full(n, m0), np.full(n, sd0)
    for i in range(n):
        row = s[i][np.isfinite(s[i])]
        loc[i], scale[i] = _shrunk(row, m0, sd0, config)
    return loc, scale


def _upper_pairs(s: np.ndarray) -> np.ndarray:
    """``s[np.triu_indices(len(s), 1)]`` (every pair once, row by row) without its two
    index arrays, each as large as the pairs."""
    n = len(s)
    out = np.empty(n * (n - 1) // 2, dtype=s.dtype)
    at = 0
    for i in range(n - 1):
        out[at:at + n - 1 - i] = s[i, i + 1:]
        at += n - 1 - i
    return out


def _shrunk(scores: np.ndarray, m0: float, sd0: float, config: VoicesConfig
            ) -> tuple[float, float]:
    """The robust location and scale of `scores` (1-D) shrunk towards `m0`, `sd0` by
    ``link_prior_weight`` pseudo-scores (`m0`, `sd0` themselves when there are none)."""
    if len(scores) == 0:
        return m0, sd0
    mean, sd, k = _robust_location(scores, config)
    w = config.link_prior_weight
    loc = (k * mean + w * m0) / (k + w)
    var = (k * sd ** 2 + w * sd0 ** 2) / (k + w)
    return float(loc), max(float(np.sqrt(var)), MIN_COHORT_STD)


def _robust_location(scores: np.ndarray, config: VoicesConfig) -> tuple[float, float, int]:
    """Mean, standard deviation and number of the scores of `scores` (1-D, non-empty)
    read as scores of different voices.

    A rough Gaussian estimate from the ``q/3`` and ``q`` quantiles (``q =
    link_norm_quantile``), which holds while under ``1 - q`` of them are scores of a
    voice with itself, picks the scores to use: those below ``link_norm_trim`` rough
    standard deviations above the rough mean, whose mean and spread are returned (all
    the information on the different voices, not a few points).
    """
    q_hi = config.link_norm_quantile
    q_lo = q_hi / 3.0
    z_lo, z_hi = _gaussian_quantile(q_lo), _gaussian_quantile(q_hi)
    lo, hi = np.quantile(scores, [q_lo, q_hi])
    sd = max((hi - lo) / (z_hi - z_lo), MIN_COHORT_STD)
    mean = hi - z_hi * sd
    kept = scores[scores < mean + config.link_norm_trim * sd]
    if len(kept) > 1:
        mean, sd = float(kept.mean()), float(kept.std())
    return float(mean), float(sd), len(kept)


@functools.lru_cache(maxsize=16)
def _gaussian_quantile(q: float) -> float:
    """The standard normal quantile function at `q`, once per value (every voice of a
    batch asks for the same two, and scipy's takes milliseconds)."""
    from scipy.stats import norm as gaussian

    return float(gaussian.ppf(q))


def chance_threshold(s: np.ndarray, fdr: float) -> float:
    """The score above which at most a share `fdr` of the pairs are there by chance.

    After the batch normalisation two different voices' score is about standard normal,
    and a batch of P pairs of speakers of different recordings draws about ``P *
    Phi(-t)`` of them above ``t`` by chance alone: a few above 3 in a batch of a dozen
    recordings that has no voice twice. The threshold is the lowest pair score ``t``
    with at most ``fdr`` times as many chance pairs expected above it as there are
    (Benjamini and Hochberg's false discovery rate), so a batch of many recurring voices
    (many pairs far above chance) links from a lower score than one of voices heard
    once, whose best pairs are no more than chance gives.

    Parameters
    ----------
    s : ndarray, shape (S, S)
        Normalised symmetric pair scores, ``-inf`` where two speakers cannot link.
    fdr : float
        The share, in (0, 1].

    Returns
    -------
    float
        Links need a score above it; the best pair's score when none qualifies, -inf
        when there is no pair.
    """
    from scipy.stats import norm as gaussian

    v = _upper_pairs(s)
    v = np.sort(v[np.isfinite(v)])[::-1]
    if len(v) == 0:
        return -np.inf
    chance = len(v) * gaussian.sf(v)
    ok = np.flatnonzero(chance <= fdr * np.arange(1, len(v) + 1))
    if len(ok) == 0:
        return float(v[0])
    return float(np.nextafter(v[int(np.max(ok))], -np.inf))


def _normalised(s: np.ndarray, loc_a: np.ndarray | float, scale_a: np.ndarray | float,
                loc_b: np.ndarray | float, scale_b: np.ndarray | float) -> np.ndarray:
    """Scores read against both voices' normalisation: the mean of the two z-scores
    (rows by `loc_a`/`scale_a`, columns by `loc_b`/`scale_b`)."""
    la, sa = np.asarray(loc_a, dtype=np.float64), np.asarray(scale_a, dtype=np.float64)
    lb, sb = np.asarray(loc_b, dtype=np.float64), np.asarray(scale_b, dtype=np.float64)
    if s.ndim == 2:
        la, sa = la[:, None], sa[:, None]
        lb, sb = lb[None, :], sb[None, :]
    with np.errstate(invalid="ignore"):
        return 0.5 * ((s - la) / sa + (s - lb) / sb)


#: A naming step: the pooled statistics of each linked voice -> a name or None for each.
Namer = Callable[[Sequence[VoiceStats]], Sequence["str | None"]]


def label_groups(groups: Sequence[SpeakerGroup], *, namer: Namer | None = None
                 ) -> list[str]:
    """The global label of each group.

    Parameters
    ----------
    groups : sequence of SpeakerGroup
        In the order :func:`link_voices` returns them.
    namer : callable, optional, keyword-only
        Given the pooled :class:`VoiceStats` of every group, returns a name (an enrolled
        voice's, say) or None for each; the groups it does not name are numbered
        ``SPEAKER_00``, ``SPEAKER_01``, ... in order.

    Raises
    ------
    ParameterError
        The namer gave two groups one name, a name that is not a non-empty string, or a
        name of the ``SPEAKER_xx`` form the other groups get.
    """
    names: Sequence[str | None] = [None] * len(groups)
    if namer is not None:
        names = list(namer([g.stats for g in groups]))
        if len(names) != len(groups):
            raise ParameterError(f"link: the naming step gave {len(names)} names for "
                                 f"{len(groups)} speakers")
    given = [x for x in names if x is not None]
    if len(set(given)) != len(given):
        raise ParameterError("link: the naming step gave two speakers one name")
    for x in given:
        if not isinstance(x, str) or not x or OUTPUT_LABEL.fullmatch(x):
            raise ParameterError(f"link: unusable speaker name {x!r} from the naming step")
    out: list[str] = []
    k = 0
    for name in names:
        if name is None:
            out.append(LABEL_FORMAT.format(k))
            k += 1
        else:
            out.append(name)
    return out


def link_speakers(voices: Iterable[Voice | tuple], *, ubm: BackgroundModel,
                  config: VoicesConfig, namer: Namer | None = None
                  ) -> dict[tuple[str, str], str]:
    """One global label per distinct voice: ``(uri, local label) -> global label``.

    :func:`link_voices`, then :func:`label_groups`; see those for the parameters.
    """
    groups = link_voices(voices, ubm=ubm, config=config)
    labels = label_groups(groups, namer=namer)
    return {(v.uri, v.local): label for g, label in zip(groups, labels) for v in g.members}


def speakers_report(groups: Sequence[SpeakerGroup], labels: Sequence[str], *,
                    matches: Sequence[Any] | None = None) -> dict[str, dict]:
    """For each global label, its recordings and seconds there (``speakers.json``),
    and, given each group's voice match (:class:`diarize.voices.VoiceMatch`, from
    ``batch --link-speakers --voices``), its evidence under ``"voice"``."""
    out: dict[str, dict] = {}
    for k, (g, label) in enumerate(zip(groups, labels)):
        out[label] = {
            "seconds": round(g.seconds, TIME_DECIMALS),
            "recordings": [{"uri": v.uri, "local": v.local,
                            "seconds": round(v.seconds, TIME_DECIMALS)}
                           for v in g.members],
        }
        if matches is not None:
            out[label]["voice"] = matches[k].as_dict()
    return out
