"""speakers.linear_scores (its three layouts) and speakers.cohort_moments."""

import numpy as np
import pytest

from diarize import speakers
from diarize.errors import ParameterError
from diarize.speakers import VoiceStats, cohort_moments, linear_scores, load_ubm


def _stats(rng, gmm, k):
    c, d = np.shape(gmm.means_)
    n = rng.gamma(0.5, 40.0, size=(k, c))
    first = n[:, :, None] * (gmm.means_ + rng.normal(0, 0.5, (k, c, d))
                             * np.sqrt(gmm.covariances_))
    return [VoiceStats(n[i], first[i]) for i in range(k)]


def test_the_three_layouts_give_the_same_scores():
    gmm = load_ubm().gmm
    rng = np.random.default_rng(1)
    voices = _stats(rng, gmm, 4)
    models = np.stack([v.means(gmm, relevance_factor=16.0) for v in _stats(rng, gmm, 3)])
    dm, off = speakers.model_offsets(gmm, models)
    mu = np.asarray(gmm.means_, dtype=np.float64)
    counts = np.stack([v.n for v in voices])
    centred = np.stack([v.centred(mu) for v in voices])
    frames = np.array([v.frames for v in voices])
    table = linear_scores(counts, centred, dm, off, frames=frames)              # (T, M)
    assert table.shape == (4, 3)
    for t, v in enumerate(voices):                                              # (M,)
        np.testing.assert_allclose(table[t], speakers.aligned_llr(gmm, v, models), rtol=1e-9)
    for m in range(3):                                                          # (T,)
        np.testing.assert_allclose(table[:, m], linear_scores(counts, centred, dm[m], off[m],
                                                              frames=frames), rtol=1e-9)
    np.testing.assert_allclose(linear_scores(counts, centred, dm, off),
                               table * frames[:, None], rtol=1e-9)
    with pytest.raises(ParameterError):
        linear_scores(counts[0], centred[0], dm[0], off[0])


def test_cohort_moments_is_the_floored_z_norm_of_each_row():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(3, 9))
    mean, spread = cohort_moments(z[0])
    assert (float(mean), float(spread)) == (float(z[0].mean()), float(z[0].std()))
    mean, spread = cohort_moments(z, trim=2)
    kept = np.sort(z, axis=1)[:, :7]
    np.testing.assert_array_equal(mean, kept.mean(axis=1))
    np.testing.assert_array_equal(spread, kept.std(axis=1))
    # no trim where it would leave fewer than two scores; a flat row's spread is floored
    assert float(cohort_moments(z[0], trim=8)[0]) == float(z[0].mean())
    assert float(cohort_moments(np.ones(5))[1]) == speakers.MIN_COHORT_STD
