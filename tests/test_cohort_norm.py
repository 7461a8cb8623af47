"""speakers.cohort_norm keeps the norms it computed, by the statistics' values."""

from __future__ import annotations

import numpy as np

from diarize import speakers
from diarize.speakers import VoiceStats, aligned_llr, cohort_norm, load_ubm


def _direct(ubm, stats, trim=0):
    z = aligned_llr(ubm.gmm, stats, ubm.cohort)
    if trim:
        z = np.sort(z)[:len(z) - trim]
    return float(z.mean()), max(float(z.std()), speakers.MIN_COHORT_STD)


def test_kept_norms_are_those_of_the_values_scored():
    ubm = load_ubm()
    rng = np.random.default_rng(0)
    c, d = ubm.gmm.means_.shape
    n = rng.random(c) * 50
    stats = VoiceStats(n, n[:, None] * (ubm.gmm.means_ + rng.normal(0, 0.3, (c, d))))
    first = cohort_norm(ubm, stats, trim=2)
    assert first == _direct(ubm, stats, trim=2)
    # the same values in other arrays: the kept norm
    assert cohort_norm(ubm, VoiceStats(n.copy(), stats.first.copy()), trim=2) == first
    assert cohort_norm(ubm, stats, trim=0) == _direct(ubm, stats)
    # the arrays changed in place: computed again
    stats.first[0] += 5.0
    again = cohort_norm(ubm, stats, trim=2)
    assert again != first and again == _direct(ubm, stats, trim=2)
    # a model without a cohort: no norm, whatever is kept
    assert cohort_norm(speakers.BackgroundModel(ubm.gmm, ubm.front_end), stats) == (0.0, 1.0)
    assert len(speakers._norms) <= speakers.NORM_CACHE_SIZE
