"""Where UBM linking stops (diarize.cluster.stop_linking, cluster.link_stop): the global
threshold and the rules relative to the recording, on synthetic score matrices whose true
grouping is known."""

import numpy as np
import pytest

from diarize.cluster import _agglomerate, gap_cut, mixture_threshold, stop_linking
from diarize.config import ClusterConfig
from diarize.frames import relabel

T = ClusterConfig().link_threshold


def grouped_scores(groups, *, within, between, noise=0.3, seed=0):
    """A (K, K) pair-score matrix of K clusters in `groups` (the true group of each):
    pairs of one group score about `within`, pairs of two about `between`."""
    rng = np.random.RandomState(seed)
    g = np.asarray(groups)
    s = np.where(g[:, None] == g[None, :], within, between) + noise * rng.randn(len(g), len(g))
    s = (s + s.T) / 2
    np.fill_diagonal(s, -np.inf)
    return s


def average_merge(score):
    """A merge callback for _agglomerate / stop_linking: average linkage by cluster size,
    on an untouched copy of the initial scores."""
    base = score.copy()
    members = [[i] for i in range(len(score))]

    def merge(i, j, active):
        members[i].extend(members[j])
        for m in map(int, np.flatnonzero(active)):
            if m != i:
                score[i, m] = score[m, i] = base[np.ix_(members[i], members[m])].mean()

    return merge


def link(score, stop, width=1.5, lo=1, hi=10, weights=None):
    cfg = ClusterConfig(link_stop=stop, link_stop_width=width)
    lut, similarity, tau = stop_linking(score, average_merge(score), config=cfg, lo=lo, hi=hi,
                                        weights=weights)
    return relabel(lut), similarity, tau


GROUPS = [0, 1, 0, 2, 1, 0, 2, 1, 2, 0]


@pytest.mark.parametrize("stop", ["threshold", "mixture", "gap"])
def test_well_separated_voices_give_their_count(stop):
    score = grouped_scores(GROUPS, within=T + 3, between=T - 4)
    labels, _, tau = link(score, stop)
    assert labels.max() + 1 == 3
    assert len(set(zip(labels.tolist(), GROUPS))) == 3  # each cluster one voice
    assert T - 1.5 <= tau <= T + 1.5


@pytest.mark.parametrize("stop", ["mixture", "gap"])
def test_one_voice_is_not_split(stop):
    # every pair of one voice: the scores spread (two "modes" of them) but all lie above
    # the band, so no rule relative to the recording may split them
    rng = np.random.RandomState(1)
    k = 12
    s = np.where(rng.rand(k, k) < 0.5, T + 2.0, T + 5.0) + 0.2 * rng.randn(k, k)
    s = (s + s.T) / 2
    np.fill_diagonal(s, -np.inf)
    labels, _, _ = link(s, stop)
    assert labels.max() == 0


def test_threshold_rule_is_plain_agglomeration():
    score = grouped_scores(GROUPS, within=T + 0.5, between=T - 0.5, noise=1.0, seed=3)
    ref_score = score.copy()
    ref_lut, ref_sim = _agglomerate(ref_score, average_merge(ref_score), threshold=T,
                                    lo=1, hi=10)
    labels, sim, tau = link(score, "threshold")
    assert (labels == relabel(ref_lut)).all() and sim == ref_sim and tau == T


def test_mixture_threshold_lies_between_the_two_groups_of_scores():
    rng = np.random.RandomState(2)
    same, other = 8.0 + 0.5 * rng.randn(20), -2.0 + 0.5 * rng.randn(40)
    t = mixture_threshold(np.r_[same, other])
    assert other.max() < t < same.min()
    # equal groups, equal spreads: the crossing is halfway
    t = mixture_threshold(np.r_[8.0 + 0.5 * rng.randn(200), -2.0 + 0.5 * rng.randn(200)])
    assert abs(t - 3.0) < 0.5


def test_mixture_weights_move_the_threshold_towards_the_lighter_group():
    rng = np.random.RandomState(4)
    x = np.r_[6.0 + rng.randn(30), 0.0 + rng.randn(30)]
    plain = mixture_threshold(x)
    heavy_high = mixture_threshold(x, np.r_[np.full(30, 10.0), np.ones(30)])
    assert heavy_high < plain  # more prior mass on "same voice": its region grows


@pytest.mark.parametrize("scores", [[], [1.0], [1.0, 2.0], [3.0, 3.0, 3.0],
                                    [np.inf, -np.inf, 1.0]])
def test_mixture_threshold_needs_three_distinct_scores(scores):
    assert mixture_threshold(np.array(scores, dtype=float)) is None


def test_gap_cut_takes_the_largest_gap_in_the_band_not_the_threshold():
    # threshold 5 stops before 4.9 (2 merges); in [3.5, 6.5] the gap 4.9 -> 2 is the
    # widest range of thresholds giving one count (3 merges)
    n, tau = gap_cut([7.0, 5.2, 4.9, 2.0], n_made=3, n_forced=0, threshold=5.0, width=1.5)
    assert n == 3 and 3.5 <= tau < 4.9
    # width 0 would be the threshold itself; a tiny width keeps the threshold's cut
    n, tau = gap_cut([7.0, 5.2, 4.9, 2.0], n_made=3, n_forced=0, threshold=5.0, width=0.01)
    assert n == 2 and 4.9 <= tau < 5.2


def test_gap_cut_ignores_forced_merges():
    # the first two merges are forced (above the maximum count): their low scores do not
    # bound the thresholds of the later cuts
    n, _ = gap_cut([1.0, 0.5, 9.0, 0.0], n_made=4, n_forced=2, threshold=5.0, width=1.5)
    assert n == 3


def test_gap_rule_keeps_the_first_merges_of_its_cut():
    # four tight voices; A-B link at T + 0.2, C-D at T - 0.1, all else far below: the
    # threshold links A-B only (3 clusters); in T +- 1.5 the widest range of thresholds
    # giving one count is below both links (2 clusters: AB and CD)
    groups = [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]
    g = np.asarray(groups)
    s = np.full((12, 12), T - 4.0)
    s[g[:, None] == g[None, :]] = T + 3.0
    for x, y, v in ((0, 1, T + 0.2), (2, 3, T - 0.1)):
        s[np.ix_(g == x, g == y)] = s[np.ix_(g == y, g == x)] = v
    np.fill_diagonal(s, -np.inf)
    thr, _, _ = link(s.copy(), "threshold")
    gap, sim, tau = link(s.copy(), "gap")
    assert partition(thr) == partition(np.array([0, 0, 1, 2] * 3))
    assert partition(gap) == partition(np.array([0, 0, 1, 1] * 3))
    assert T - 1.5 <= tau < T - 0.1
    # the merges it made and the first it declined
    assert min(sim) == 1 and sim[1] == pytest.approx(T - 4.0)


def partition(labels):
    return {frozenset(np.flatnonzero(labels == k)) for k in np.unique(labels)}


@pytest.mark.parametrize("stop", ["mixture", "gap"])
def test_an_exact_count_overrides_the_rule(stop):
    score = grouped_scores(GROUPS, within=T + 3, between=T - 4)
    labels, _, _ = link(score, stop, lo=2, hi=2)
    assert labels.max() + 1 == 2


# ---- clusters too small to be speakers (cluster.link_absorb_small) -----------------------

def test_small_clusters_join_their_best_partner_below_the_threshold():
    """Two voices, each split into a large cluster and small pieces scoring below the
    threshold with it (short clusters' ratios are low): the pieces join their own voice,
    the two large clusters stay apart."""
    groups = [0, 1, 0, 1, 0]
    sizes = np.array([900.0, 800.0, 120.0, 90.0, 60.0])
    score = grouped_scores(groups, within=T - 1, between=T - 3, noise=0.1)
    plain = link(score.copy(), "threshold", weights=sizes)[0]
    assert plain.max() + 1 == 5  # nothing scores above the threshold
    cfg = ClusterConfig(link_stop="threshold")
    s = score.copy()
    lut, similarity, _ = stop_linking(s, average_merge(s), config=cfg, lo=1, hi=10,
                                      weights=sizes, min_frames=200)
    assert relabel(lut).tolist() == [0, 1, 0, 1, 0]
    # the count evidence keeps the threshold's story: the first merge it declined
    assert list(similarity) == [4] and similarity[4] <= T


def test_small_clusters_join_speakers_never_each_other():
    """Two small pieces that score best with each other (short clusters of one voice do)
    still each join a speaker: the speakers are those the threshold left. With no
    cluster large enough to be a speaker nothing joins (resegmentation keeps the
    largest)."""
    cfg = ClusterConfig(link_stop="threshold")

    def run(sizes):
        score = np.array([[-np.inf, T - 4, T - 3], [T - 4, -np.inf, T - 1],
                          [T - 3, T - 1, -np.inf]])
        lut, _, _ = stop_linking(score, average_merge(score), config=cfg, lo=1, hi=10,
                                 weights=np.array(sizes, dtype=float), min_frames=200)
        return relabel(lut).tolist()

    assert run([900, 150, 150]) == [0, 0, 0]
    assert run([150, 150, 150]) == [0, 1, 2]


def test_small_clusters_do_not_join_where_bic_vetoes_and_respect_the_fewest():
    from diarize.cluster import VETO_OFFSET

    sizes = np.array([900.0, 800.0, 100.0])
    cfg = ClusterConfig(link_stop="threshold")

    def scores(veto):
        off = VETO_OFFSET if veto else 0.0
        return np.array([[-np.inf, T - 3, T - 1 - off], [T - 3, -np.inf, T - 2 - off],
                         [T - 1 - off, T - 2 - off, -np.inf]])

    def run(score, lo):
        lut, _, _ = stop_linking(score, average_merge(score), config=cfg, lo=lo, hi=10,
                                 weights=sizes, min_frames=200)
        return relabel(lut).tolist()

    assert run(scores(veto=True), 1) == [0, 1, 2]  # BIC says it is a voice of its own
    assert run(scores(veto=False), 1) == [0, 1, 0]
    assert run(scores(veto=False), 3) == [0, 1, 2]  # never below the fewest asked
