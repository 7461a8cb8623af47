"""speakers.matched_voice_scores: each pair read against the cohort adapted as much as
the model scored (``voices.cohort_match``)."""

from __future__ import annotations

import numpy as np
import pytest

from diarize import speakers
from diarize.config import Config
from diarize.speakers import (VoiceStats, aligned_llr, load_ubm, matched_voice_scores,
                              voice_scores)
from diarize.voices import Voiceprint, match_scores


@pytest.fixture(scope="module")
def ubm():
    return load_ubm()


def _voice(ubm, rng, frames, offset):
    """Statistics of `frames` frames of a voice whose means sit `offset` from the UBM's."""
    c, d = ubm.gmm.means_.shape
    w = rng.dirichlet(np.ones(c))
    n = w * frames
    return VoiceStats(n, n[:, None] * (ubm.gmm.means_ + offset)
                      + np.sqrt(n)[:, None] * rng.normal(0, 1, (c, d)))


def test_scores_are_those_of_a_cohort_shrunk_as_the_model(ubm):
    """Each pair's cohort mean and spread are the test voice's ratios under the cohort
    models with their offsets from the UBM shrunk per component by n / (n + r)."""
    rng = np.random.default_rng(0)
    c, d = ubm.gmm.means_.shape
    offset = rng.normal(0, 0.3, (c, d))
    tests = [_voice(ubm, rng, 400, offset), _voice(ubm, rng, 2000, -offset)]
    models = [_voice(ubm, rng, 300, offset), _voice(ubm, rng, 5000, 0.5 * offset)]
    r, trim = 16.0, 2
    got = matched_voice_scores(ubm, tests, models, relevance_factor=r, trim=trim)
    mu = ubm.gmm.means_
    for t, T in enumerate(tests):
        for m, M in enumerate(models):
            a = M.n / (M.n + r)
            shrunk = mu + a[None, :, None] * (ubm.cohort - mu)
            z = np.sort(aligned_llr(ubm.gmm, T, shrunk))[:len(ubm.cohort) - trim]
            raw = aligned_llr(ubm.gmm, T, M.means(ubm.gmm, relevance_factor=r)[None])[0]
            want = (raw - z.mean()) / max(z.std(), speakers.MIN_COHORT_STD)
            assert got[t, m] == pytest.approx(want, rel=1e-9, abs=1e-9)


def _one_voice_both_ways(ubm, seed, *, spread, test_frames, model_frames):
    """(matched, plain) scores of `test_frames` of a voice against a model of
    `model_frames` of the same voice."""
    rng = np.random.default_rng(seed)
    c, d = ubm.gmm.means_.shape
    offset = rng.normal(0, spread, (c, d))
    tests = [_voice(ubm, rng, test_frames, offset)]
    models = [_voice(ubm, rng, model_frames, offset)]
    means = np.stack([m.means(ubm.gmm, relevance_factor=16.0) for m in models])
    return (matched_voice_scores(ubm, tests, models, relevance_factor=16.0, trim=2),
            voice_scores(ubm, tests, means, trim=2))


def test_fully_adapted_models_score_as_one_norm_per_voice(ubm):
    """Counts far above the relevance factor: the matched cohort is the cohort."""
    matched, plain = _one_voice_both_ways(ubm, 1, spread=0.3, test_frames=500,
                                          model_frames=1e13)
    np.testing.assert_allclose(matched, plain, rtol=1e-6)


def test_a_short_model_of_the_voice_scores_higher_than_against_the_full_cohort(ubm):
    """A model of a few seconds moves little from the UBM: read against fully adapted
    cohort models its true score is low; against a cohort moved as little, it is not."""
    matched, plain = _one_voice_both_ways(ubm, 2, spread=0.4, test_frames=1500,
                                          model_frames=300)
    assert matched[0, 0] > plain[0, 0]


def test_match_scores_follows_the_setting(ubm):
    rng = np.random.default_rng(3)
    c, d = ubm.gmm.means_.shape
    offset = rng.normal(0, 0.3, (c, d))
    tests = [_voice(ubm, rng, 300, offset), _voice(ubm, rng, 800, -offset)]
    prints = [Voiceprint(name=name, stats=_voice(ubm, rng, 1200, o), seconds=12.0,
                         enrolments=1, sources=(), ubm="", front_end="")
              for name, o in (("ann", offset), ("bob", -offset))]
    on = Config()
    off = Config().replace(voices__cohort_match=False)
    assert on.voices.cohort_match and not off.voices.cohort_match
    plain = match_scores(ubm, tests, prints, config=off)
    np.testing.assert_array_equal(match_scores(ubm, tests, prints, config=on, matched=False),
                                  plain)
    matched = match_scores(ubm, tests, prints, config=on)
    np.testing.assert_array_equal(match_scores(ubm, tests, prints, config=off, matched=True),
                                  matched)
    assert not np.allclose(matched, plain)
    # each voice still scores highest against its own voiceprint
    assert list(np.argmax(matched, axis=1)) == [0, 1]


def test_kept_terms_are_those_of_the_values_scored(ubm):
    rng = np.random.default_rng(4)
    c, d = ubm.gmm.means_.shape
    stats = _voice(ubm, rng, 300, rng.normal(0, 0.3, (c, d)))
    g, h = speakers.cohort_terms(ubm, stats)
    assert g.shape == h.shape == (len(ubm.cohort), c)
    g2, _ = speakers.cohort_terms(ubm, VoiceStats(stats.n.copy(), stats.first.copy()))
    assert g2 is g  # the same values: the kept terms
    stats.first[0] += 5.0
    g3, _ = speakers.cohort_terms(ubm, stats)
    assert not np.array_equal(g3, g)
    assert len(speakers._terms) <= speakers.NORM_CACHE_SIZE


def test_the_same_bits_whatever_the_blas_threads(ubm):
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(5)
    c, d = ubm.gmm.means_.shape
    tests = [_voice(ubm, rng, 300 + 100 * i, rng.normal(0, 0.3, (c, d))) for i in range(4)]
    models = [_voice(ubm, rng, 500 + 200 * i, rng.normal(0, 0.3, (c, d))) for i in range(9)]
    runs = []
    for threads in (1, 4):
        with threadpool_limits(limits=threads, user_api="blas"):
            runs.append(matched_voice_scores(ubm, tests, models, relevance_factor=16.0, trim=2))
    np.testing.assert_array_equal(runs[0], runs[1])
