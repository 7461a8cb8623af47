"""Change-point chunks (cluster.segmentation = "change"): diarize.cluster.change_chunks.

Synthetic Gaussian sources switching at known frames; expected cuts come from that ground
truth and from the configured bounds, never from the implementation's own output.
"""

import numpy as np
import pytest

from diarize.cluster import change_chunks, change_curve, cluster_speakers
from diarize.config import ClusterConfig, Config

D = 12
STEP = 0.01  # seconds per frame


def sources(turns, *, seed=0):
    """Frames of Gaussian sources (distinct means and scales) in turns of (source,
    frames); returns the frames and the frames at which the source switches."""
    rng = np.random.RandomState(seed)
    centres = rng.randn(4, D) * 1.0
    scales = [1.0, 1.6, 0.7, 1.2]
    X = np.vstack([centres[v] + scales[v] * rng.randn(n, D) for v, n in turns])
    ends = np.cumsum([n for _, n in turns])
    switches = [int(e) for e, (a, _), (b, _) in zip(ends[:-1], turns[:-1], turns[1:]) if a != b]
    return X.astype(np.float32), switches


def change_config(**kw):
    return ClusterConfig(segmentation="change", **kw)


def check_cover(chunks, n):
    assert chunks.dtype == np.int64 and chunks.shape[1] == 2
    assert chunks[0, 0] == 0 and chunks[-1, 1] == n
    np.testing.assert_array_equal(chunks[1:, 0], chunks[:-1, 1])
    assert np.all(chunks[:, 1] > chunks[:, 0])


@pytest.mark.parametrize("covariance", ["full", "diag"])
@pytest.mark.parametrize("seed", [0, 1])
def test_switches_between_sources_are_found(covariance, seed):
    turns = [(0, 700), (1, 500), (0, 900), (2, 600), (3, 800)]
    X, switches = sources(turns, seed=seed)
    cc = change_config(covariance=covariance, change_max_seconds=60.0)
    chunks = change_chunks(X, np.ones(len(X), bool), config=cc, frame_step=STEP)
    check_cover(chunks, len(X))
    cuts = chunks[1:, 0]
    for s in switches:  # every switch has a cut within 0.2 s
        assert np.min(np.abs(cuts - s)) <= 20, (s, cuts)
    # and, with no length cap, nothing but the switches (of these well-separated sources)
    assert len(cuts) == len(switches)


@pytest.mark.parametrize("seed", range(4))
def test_one_source_has_only_the_length_cuts(seed):
    # The height is relative to the recording's own curve, so one source's noise has
    # peaks of a few robust deviations (up to ~5 on these 30 s); a high change_peak
    # leaves only the even cuts of the length cap.
    X, _ = sources([(0, 3000)], seed=seed)
    cc = change_config(change_peak=6.0, change_max_seconds=8.0)
    chunks = change_chunks(X, np.ones(len(X), bool), config=cc, frame_step=STEP)
    # 30 s cut evenly into pieces of at most 8 s: 4 pieces of 7.5 s.
    np.testing.assert_array_equal(chunks[:, 0], [0, 750, 1500, 2250])
    check_cover(chunks, len(X))


def test_chunk_lengths_are_bounded():
    X, _ = sources([(0, 2500), (1, 400), (2, 3100)], seed=1)
    cc = change_config(change_min_seconds=1.0, change_max_seconds=3.0)
    chunks = change_chunks(X, np.ones(len(X), bool), config=cc, frame_step=STEP)
    lengths = chunks[:, 1] - chunks[:, 0]
    assert lengths.max() <= 300
    assert lengths[:-1].min() >= 100


def test_chunks_respect_speech_runs_and_max_segments():
    X, _ = sources([(0, 1500), (1, 1500), (2, 1500)], seed=2)
    # Speech runs of 450 frames with pauses of 30 between them (pauses are not in X).
    mask = np.concatenate([np.r_[np.ones(450, bool), np.zeros(30, bool)] for _ in range(10)])
    run_ends = np.arange(450, 4501, 450)
    cc = change_config(change_max_seconds=60.0)
    chunks = change_chunks(X, mask, config=cc, frame_step=STEP)
    check_cover(chunks, len(X))
    # runs longer than the shortest chunk end a chunk
    assert set(run_ends.tolist()) <= set(chunks[:, 1].tolist())
    few = change_chunks(X, mask, config=change_config(max_segments=5), frame_step=STEP)
    check_cover(few, len(X))
    assert len(few) <= 5


def test_curve_needs_both_windows_in_one_run():
    X, _ = sources([(0, 600)])
    mask = np.r_[np.ones(300, bool), np.zeros(50, bool), np.ones(300, bool)]
    pos, curve = change_curve(X, mask, window_steps=10, step_frames=10, diag=False)
    # windows of 100 frames either side, inside [0, 300) or [300, 600)
    np.testing.assert_array_equal(pos, [100, 110, 120, 130, 140, 150, 160, 170, 180, 190,
                                        200, 400, 410, 420, 430, 440, 450, 460, 470, 480,
                                        490, 500])
    assert np.all(curve >= -1e-9)


def test_deterministic_and_short_input():
    X, _ = sources([(0, 800), (1, 900)])
    cc = change_config()
    a = change_chunks(X, np.ones(len(X), bool), config=cc, frame_step=STEP)
    b = change_chunks(X.copy(), np.ones(len(X), bool), config=cc, frame_step=STEP)
    np.testing.assert_array_equal(a, b)
    short = change_chunks(X[:30], np.ones(30, bool), config=cc, frame_step=STEP)
    np.testing.assert_array_equal(short, [[0, 30]])
    assert change_chunks(X[:0], np.zeros(5, bool), config=cc, frame_step=STEP).shape == (0, 2)


def test_cluster_speakers_with_change_chunks_finds_the_sources():
    turns = [(0, 400), (1, 500), (2, 450), (0, 600), (1, 350), (2, 500)]
    X, _ = sources(turns, seed=4)
    truth = np.repeat([v for v, _ in turns], [n for _, n in turns])
    cfg = Config().replace(cluster__link_method="none", cluster__bic_penalty=0.32,
                           cluster__segmentation="change").validate()
    res = cluster_speakers(X, speech=np.ones(len(X), bool), config=cfg)
    assert res.n_clusters == 3
    # labels are numbered by first appearance, as the sources are
    assert np.mean(res.labels == truth) > 0.97
