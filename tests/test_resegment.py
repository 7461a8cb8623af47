"""diarize.resegment.absorb_short_turns: no speaker run shorter than min_frames."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diarize.resegment import absorb_short_turns

FAST = settings(max_examples=300, deadline=None, derandomize=True)


def runs_of(labels):
    """(start, end, value) of every run of equal values, ends exclusive."""
    out = []
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            out.append((start, i, int(labels[start])))
            start = i
    return out


def speech_stretches(labels):
    """(start, end) of every maximal stretch of speech (labels >= 0)."""
    return [(a, b) for a, b, v in runs_of(np.asarray(labels) >= 0) if v]


@st.composite
def frame_labels(draw):
    n_runs = draw(st.integers(0, 12))
    parts = []
    for _ in range(n_runs):
        value = draw(st.integers(-1, 3))
        length = draw(st.integers(1, 15))
        parts.append(np.full(length, value, dtype=np.int64))
    labels = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return labels, draw(st.integers(0, 12))


@pytest.mark.slow
@FAST
@given(frame_labels())
def test_properties(case):
    labels, min_frames = case
    original = labels.copy()
    out = absorb_short_turns(labels, min_frames=min_frames)
    np.testing.assert_array_equal(labels, original)  # input untouched
    assert out.shape == labels.shape
    assert out.dtype.kind == "i"

    # 1. no speaker run shorter than min_frames
    for a, b, v in runs_of(out):
        if v >= 0:
            assert b - a >= min_frames, (a, b, v)

    # 2. non-speech stays non-speech
    assert np.all(out[labels < 0] == -1)

    # 3. a changed frame becomes non-speech or takes a label from its own stretch of
    #    speech (labels never cross a pause); a stretch too short for one turn becomes
    #    non-speech as a whole, any other stays speech throughout.
    for a, b in speech_stretches(labels):
        seg_in, seg_out = labels[a:b], out[a:b]
        if b - a < max(min_frames, 1):
            assert np.all(seg_out == -1)
        else:
            assert np.all(seg_out >= 0)
            assert set(seg_out.tolist()) <= set(seg_in.tolist())

    # 4. runs already long enough keep their frames' labels
    for a, b, v in runs_of(labels):
        if v >= 0 and b - a >= min_frames:
            assert np.all(out[a:b] == v)

    # 5. nothing left to do the second time
    np.testing.assert_array_equal(absorb_short_turns(out, min_frames=min_frames), out)


@pytest.mark.slow
@FAST
@given(frame_labels())
def test_input_without_short_runs_is_unchanged(case):
    labels, min_frames = case
    # lengthen every speaker run to at least min_frames
    parts = [np.full(max(b - a, min_frames) if v >= 0 else b - a, v)
             for a, b, v in runs_of(labels)]
    labels = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    np.testing.assert_array_equal(absorb_short_turns(labels, min_frames=min_frames), labels)


def seq(*parts):
    return np.concatenate([np.full(n, v, dtype=np.int64) for v, n in parts])


@pytest.mark.parametrize("labels, expected", [
    # a 3-frame sliver goes to the longer of the two speakers it touches
    (seq((0, 10), (1, 3), (2, 20)), seq((0, 10), (2, 23))),
    (seq((0, 20), (1, 3), (2, 10)), seq((0, 23), (2, 10))),
    # an isolated short island between pauses becomes non-speech
    (seq((-1, 5), (1, 3), (-1, 5), (0, 10)), seq((-1, 13), (0, 10))),
    (seq((1, 4), (-1, 6)), seq((-1, 10))),
    # a sliver between a speaker and a pause goes to that speaker
    (seq((0, 10), (1, 3), (-1, 5)), seq((0, 13), (-1, 5))),
    (seq((-1, 5), (1, 2), (0, 10), (-1, 2)), seq((-1, 5), (0, 12), (-1, 2))),
    # shortest first: the 2-frame run joins 0, after which the 4-frame run touches the
    # now longer run of 0 (22 frames) and speaker 3 (20 frames)
    (seq((0, 20), (1, 2), (2, 4), (3, 20)), seq((0, 26), (3, 20))),
    # the 2-frame run goes first (to speaker 3, longer than the 4-frame run), and only
    # then the 4-frame run (to speaker 0, 20 frames against 12); taking the 4-frame run
    # first would have left speaker 3 with 10 frames
    (seq((0, 20), (1, 4), (2, 2), (3, 10)), seq((0, 24), (3, 12))),
    # a sliver inside one speaker's turn joins the turn
    (seq((0, 10), (1, 2), (0, 10)), seq((0, 22))),
    # runs that are long enough are left alone, however many there are
    (seq((0, 5), (1, 5), (-1, 1), (0, 5)), seq((0, 5), (1, 5), (-1, 1), (0, 5))),
])
def test_hand_examples(labels, expected):
    np.testing.assert_array_equal(absorb_short_turns(labels, min_frames=5), expected)


def test_trivial_cases():
    lab = seq((0, 1), (1, 1), (-1, 1), (2, 1))
    np.testing.assert_array_equal(absorb_short_turns(lab, min_frames=1), lab)
    np.testing.assert_array_equal(absorb_short_turns(lab, min_frames=0), lab)
    assert len(absorb_short_turns(np.zeros(0, dtype=np.int64), min_frames=5)) == 0
    allpause = np.full(7, -1)
    np.testing.assert_array_equal(absorb_short_turns(allpause, min_frames=5), allpause)
    # a list works as input too
    assert absorb_short_turns([0, 0, 1, 0, 0], min_frames=2).tolist() == [0] * 5


def test_scalar_viterbi_takes_the_array_viterbi_path():
    # The list-of-floats decoder must choose exactly as the array one, ties included
    # (equal speakers, rounded scores, all-equal blocks), for every chain length.
    from diarize.resegment import _viterbi_arrays, _viterbi_scalar

    rng = np.random.default_rng(7)
    for trial in range(600):
        K, m, T = int(rng.integers(2, 7)), int(rng.integers(1, 5)), int(rng.integers(1, 40))
        ll = rng.normal(0, 5, (T, K))
        if trial % 3 == 0:
            ll = np.round(ll)
        if trial % 5 == 0:
            ll[:, 1] = ll[:, 0]
        if trial % 11 == 0:
            ll[:] = 0.0
        pen = float(rng.choice([0.0, 3.0, 50.0]))
        assert np.array_equal(_viterbi_scalar(ll, switch_penalty=pen, m=m),
                              _viterbi_arrays(ll, switch_penalty=pen, m=m))
