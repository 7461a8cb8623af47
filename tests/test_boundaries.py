"""Frame-level speech boundaries (diarize.boundaries) and how the pipeline uses them."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from diarize.boundaries import refine_boundaries, two_state_viterbi
from diarize.config import SadConfig
from diarize.frames import runs
from diarize.sad import detect_speech, detect_speech_regions

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "audio_fixtures"


# ------------------------------------------------------------------- the Viterbi

def _brute_force(score, min_speech, min_pause, switch_cost):
    """Best total over every labelling that keeps the run-length rules (edge runs free)."""
    best, best_path = -np.inf, None
    n = len(score)
    for bits in itertools.product((0, 1), repeat=n):
        s, e, v = runs(np.array(bits))
        ok = all(b - a >= (min_speech if val else min_pause)
                 for a, b, val in zip(s, e, v) if a > 0 and b < n)
        if not ok:
            continue
        total = float(np.dot(bits, score)) - switch_cost * (len(s) - 1)
        if total > best + 1e-9:
            best, best_path = total, bits
    return best, best_path


def _total(path, score, switch_cost):
    return float(np.dot(path, score)) - switch_cost * (len(runs(path)[0]) - 1)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(40))
def test_viterbi_finds_the_best_labelling(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 12))
    score = rng.normal(0.0, 2.0, n)
    min_speech, min_pause = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    switch_cost = float(rng.choice([0.0, 0.5, 2.0]))
    path = two_state_viterbi(score, min_speech=min_speech, min_pause=min_pause,
                             switch_cost=switch_cost)
    best, _ = _brute_force(score, min_speech, min_pause, switch_cost)
    assert _total(path.astype(int), score, switch_cost) == pytest.approx(best)
    s, e, v = runs(path)
    for a, b, val in zip(s, e, v):
        if 0 < a and b < n:
            assert b - a >= (min_speech if val else min_pause)


def test_viterbi_splits_a_long_pause_and_bridges_a_short_one():
    score = np.full(200, 5.0)
    score[50:80] = -10.0      # 30 frames of clear pause: worth more than two changes
    score[130:140] = -10.0    # 10 frames: shorter than min_pause
    path = two_state_viterbi(score, min_speech=25, min_pause=30, switch_cost=100.0)
    assert not path[50:80].any()
    assert path[:50].all() and path[80:].all()


def test_viterbi_keeps_a_weak_pause_as_speech():
    score = np.full(200, 5.0)
    score[50:80] = -1.0       # 30 frames, but only 180 of evidence against 200 of changes
    path = two_state_viterbi(score, min_speech=25, min_pause=30, switch_cost=100.0)
    assert path.all()


def test_viterbi_edges_and_empty():
    assert two_state_viterbi(np.zeros(0), min_speech=3, min_pause=3, switch_cost=1.0).shape == (0,)
    score = np.array([3.0, 3.0, -5.0, -5.0, -5.0, 3.0])
    path = two_state_viterbi(score, min_speech=3, min_pause=3, switch_cost=0.0)
    assert path.tolist() == [True, True, False, False, False, True]   # edge runs may be short


# ---------------------------------------------------------- refine_boundaries

def _recording(n=600):
    """Silence, 2 s of speech with a 0.4 s pause, silence: frame LLRs and energies."""
    llr = np.full(n, -8.0)
    llr[150:450] = 5.0
    llr[280:320] = -12.0
    energy = np.where(llr > 0, -20.0, -60.0)
    return llr, energy


def test_a_clipped_onset_comes_back_and_a_pause_is_split():
    llr, energy = _recording()
    smoothed = np.zeros(len(llr), dtype=bool)
    smoothed[160:440] = True            # onset and offset cut by 0.1 s, pause bridged
    out = refine_boundaries(llr, smoothed, energy, config=SadConfig(), frame_step=0.01)
    s, e, v = runs(out)
    speech = [(a, b) for a, b, val in zip(s, e, v) if val]
    assert len(speech) == 2
    assert abs(speech[0][0] - 150) <= 2 and abs(speech[1][1] - 450) <= 2
    assert abs(speech[0][1] - 280) <= 3 and abs(speech[1][0] - 320) <= 3


def test_no_speech_beyond_the_window_nor_below_the_floor():
    cfg = SadConfig()
    llr = np.full(600, 6.0)             # everything looks like speech
    energy = np.full(600, -20.0)
    energy[230:260] = -120.0            # digital silence inside
    smoothed = np.zeros(600, dtype=bool)
    smoothed[200:300] = True
    out = refine_boundaries(llr, smoothed, energy, config=cfg, frame_step=0.01)
    reach = int(round(cfg.boundary_window / 0.01))
    assert not out[:200 - reach].any() and not out[300 + reach:].any()
    assert not out[230:260].any()


def test_speech_like_background_raises_the_evidence_level():
    # The frames next to the speech score +2. In a background scoring +3 they are not
    # evidence for speech; in a quiet one (-8) they are, and the speech reaches them.
    cfg = SadConfig()
    reach = int(round(cfg.boundary_window / 0.01))
    llr = np.full(1000, 3.0)
    llr[400 - reach:600 + reach] = 2.0
    llr[400:600] = 9.0
    energy = np.full(1000, -30.0)
    smoothed = np.zeros(1000, dtype=bool)
    smoothed[400:600] = True
    out = refine_boundaries(llr, smoothed, energy, config=cfg, frame_step=0.01)
    assert out[405:595].all() and not out[:395].any() and not out[605:].any()
    quiet = np.where(llr == 3.0, -8.0, llr)       # the same, in a quiet background
    out = refine_boundaries(quiet, smoothed, energy, config=cfg, frame_step=0.01)
    assert out[400 - reach + 5:600 + reach - 5].all() and not out[:400 - reach].any()


def test_refinement_off_and_energy_method_give_one_mask():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(500, 20)).astype(np.float32)
    energy = rng.uniform(-60, -10, 500).astype(np.float32)
    voicing = rng.uniform(0, 1, 500).astype(np.float32)
    for cfg in (SadConfig(refine_boundaries=False), SadConfig(method="energy")):
        m = detect_speech_regions(feats, energy, voicing, config=cfg, frame_step=0.01)
        assert np.array_equal(m.speech, m.modelled)
    m = detect_speech_regions(feats, energy, voicing, config=SadConfig(), frame_step=0.01)
    assert not (m.speech & ~m.modelled).any()
    assert np.array_equal(
        detect_speech(feats, energy, voicing, config=SadConfig(), frame_step=0.01), m.speech)


# ---------------------------------------------------------------- the pipeline

@pytest.mark.slow
@pytest.mark.skipif(not FIXTURES.is_dir(), reason="audio_fixtures/ is absent")
def test_turns_follow_the_speech_mask_and_keep_the_shortest_turn():
    from diarize import Diarizer

    wav = sorted(FIXTURES.glob("*.wav"))[0]
    d = Diarizer()
    result = d(str(wav))
    step = result.frame_step
    mask = result.speech_mask
    assert result.turns
    shortest = d.config.reseg.min_output_turn
    for t in result.turns:
        assert t.duration >= shortest - 1e-9
        a, b = int(round(t.start / step)), int(round(t.end / step))
        assert mask[a:b].all(), f"turn {t} covers a pause"
