"""Linking over a batch: the batch normalisation's prior, the chance level of a link, a
two-file batch of real voices, and the linking-error counts scripts/bench_link.py and
scripts/bench_voices.py print."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, script_module
from diarize import batch
from diarize.config import Config, VoicesConfig
from diarize.link import Voice, _batch_norm, chance_threshold, link_speakers
from diarize.segments import Turn
from diarize.speakers import VoiceStats, load_ubm, voice_statistics

TRAIN = REPO.parent / "shared" / "train"
UBM = load_ubm()


def _frames(offset: np.ndarray, frames: int, seed: int) -> VoiceStats:
    """UBM statistics of `frames` frames drawn from the UBM with its means moved by
    `offset` (one synthetic voice)."""
    g = UBM.gmm
    rng = np.random.default_rng(seed)
    comp = rng.choice(len(g.weights_), size=frames, p=g.weights_)
    x = (g.means_[comp] + offset[comp]
         + rng.standard_normal((frames, g.means_.shape[1])) * np.sqrt(g.covariances_[comp]))
    return voice_statistics(g, x, np.zeros(frames, dtype=int), n_labels=1)[0]


def _cross_scores(n_files: int, per_file: int, level: float, spread: float,
                  seed: int = 0) -> np.ndarray:
    """Symmetric scores of `n_files` x `per_file` speakers, -inf within a file (as
    link_voices gives _batch_norm), the others about `level` +- `spread`."""
    rng = np.random.default_rng(seed)
    n = n_files * per_file
    s = level + spread * rng.standard_normal((n, n))
    s = 0.5 * (s + s.T)
    f = np.repeat(np.arange(n_files), per_file)
    s[f[:, None] == f[None, :]] = -np.inf
    return s


def test_a_dozen_recordings_are_normalised_by_their_own_level_not_the_prior():
    """12 recordings of 3 speakers: each speaker has 33 scores with the batch, its
    location is the batch's level (1.4 here), not pulled towards the configured prior
    (0.3) as a speaker's 33 scores against 10 prior ones would be."""
    cfg = VoicesConfig()
    s = _cross_scores(12, 3, level=1.4, spread=0.5)
    loc, scale = _batch_norm(s, cfg)
    # (shrunk towards the fixed prior alone, 33 scores against 10 give 1.14 or less)
    assert abs(loc.mean() - 1.4) < 0.1 and np.all(np.abs(loc - 1.4) < 0.25)
    assert np.all(np.abs(scale - 0.5 / np.sqrt(2)) < 0.1)  # symmetrised: sd / sqrt 2
    # a speaker whose own scores sit lower keeps most of its own level
    s[0, 3:] -= 1.0
    s[3:, 0] -= 1.0
    loc2, _ = _batch_norm(s, cfg)
    assert loc2[0] < loc[0] - 0.6


def test_a_batch_of_few_speakers_leans_on_the_configured_prior():
    cfg = VoicesConfig()
    s = _cross_scores(2, 1, level=3.0, spread=0.0)  # one pair: no spread of its own
    loc, scale = _batch_norm(s, cfg)
    assert np.all(loc < 1.0)  # 1 score against 10 prior pseudo-scores, twice
    assert np.all(scale > 0.5)
    off = VoicesConfig(link_norm="cohort")
    loc, scale = _batch_norm(s, off)
    assert np.all(loc == 0.0) and np.all(scale == 1.0)


def test_chance_threshold_links_nothing_on_chance_alone_and_finds_planted_pairs():
    rng = np.random.default_rng(0)
    s = _cross_scores(12, 3, level=0.0, spread=np.sqrt(2.0))  # different voices: N(0, 1)
    pairs = s[np.triu_indices(len(s), 1)]
    top = pairs[np.isfinite(pairs)].max()
    assert top > 2.5  # what the fixed threshold alone would link
    assert chance_threshold(s, 0.1) >= top  # nothing above chance
    # ten pairs of one voice heard in several recordings, far above chance
    i, j = np.triu_indices(len(s), 1)
    cross = np.flatnonzero(np.isfinite(s[i, j]))
    for k in rng.choice(cross, size=10, replace=False):
        s[i[k], j[k]] = s[j[k], i[k]] = 5.0
    t = chance_threshold(s, 0.1)
    assert top - 1.0 < t < 5.0
    # one pair: chance gives a score of 3 once in 700 pairs, so it links
    assert chance_threshold(np.array([[-np.inf, 3.0], [3.0, -np.inf]]), 0.1) < 3.0
    assert chance_threshold(np.full((2, 2), -np.inf), 0.1) == -np.inf


def test_voices_heard_once_are_not_linked_on_their_best_impostor_pairs():
    """Twelve recordings of three voices each, all different: with the chance level no
    two speakers share a label; the threshold alone links a few of them."""
    rng = np.random.default_rng(5)
    offsets = [rng.standard_normal(UBM.gmm.means_.shape) * np.sqrt(UBM.gmm.covariances_)
               * 0.5 for _ in range(36)]
    voices = []
    for f in range(12):
        for k in range(3):
            x = _frames(offsets[3 * f + k], 300, seed=100 * f + k)
            voices.append(Voice(f"r{f:02d}", f"SPEAKER_{k:02d}", x, 3.0))
    linked = link_speakers(voices, ubm=UBM, config=VoicesConfig())
    assert len(set(linked.values())) == 36
    alone = link_speakers(voices, ubm=UBM, config=VoicesConfig(link_fdr=0.0))
    assert len(set(alone.values())) < 36


# ---------------------------------------------------------------------- bench_link's counts
@pytest.fixture(scope="module")
def bench_link():
    with script_module("bench_link.py", "bench_link_under_test") as module:
        yield module


@pytest.fixture(scope="module")
def bench_voices():
    with script_module("bench_voices.py", "bench_voices_under_test") as module:
        yield module


def test_link_errors_count_wrong_merges_and_missed_links(bench_link):
    refs = {"a": [Turn(0, 10, "X"), Turn(10, 20, "Y")],
            "b": [Turn(0, 10, "X"), Turn(10, 20, "Z")],
            "c": [Turn(0, 10, "X"), Turn(10, 14, "Y"), Turn(14, 20, "Y")]}
    local = {"a": [Turn(0, 10, "s0"), Turn(10, 20, "s1")],
             "b": [Turn(0, 9, "s0"), Turn(9, 20, "s1")],
             "c": [Turn(0, 10, "s0"), Turn(10, 14, "s1"), Turn(14, 20, "s2")]}
    right = {("a", "s0"): "G0", ("b", "s0"): "G0", ("c", "s0"): "G0",
             ("a", "s1"): "G1", ("c", "s1"): "G1", ("c", "s2"): "G2", ("b", "s1"): "G3"}
    # c's Y split by the diarization: two groups for Y is the least there can be
    assert bench_link.link_errors(refs, local, right) == {
        "wrong": 0, "missed": 0, "wrong_degraded": 0, "missed_degraded": 0}
    wrong = {**right, ("b", "s1"): "G1"}  # Z put with Y
    tags = {"a": "clean", "b": "degraded", "c": "clean"}
    assert bench_link.link_errors(refs, local, wrong, tags) == {
        "wrong": 1, "missed": 0, "wrong_degraded": 1, "missed_degraded": 0}
    missed = {**right, ("b", "s0"): "G4"}  # X of b left alone
    assert bench_link.link_errors(refs, local, missed, tags) == {
        "wrong": 0, "missed": 1, "wrong_degraded": 0, "missed_degraded": 1}
    # one timeline, one mapping: the missed link costs b's X time, per file nothing
    hyps = {u: [Turn(t.start, t.end, missed[(u, t.speaker)]) for t in ts]
            for u, ts in local.items()}
    regions = {u: [(0.0, 20.0)] for u in refs}
    per_file = bench_link.score(refs, hyps, regions, one_timeline=False)
    whole = bench_link.score(refs, hyps, regions, one_timeline=True)
    assert whole > per_file + 10.0


# ---------------------------------------------------------------------- real voices
def _utterances() -> dict[str, list[Path]]:
    files: dict[str, list[Path]] = {}
    with open(TRAIN / "speakers.csv", newline="") as f:
        for row in csv.DictReader(f):
            files.setdefault(row["speaker"], []).append(TRAIN / row["file"])
    return files


@pytest.mark.skipif(not (TRAIN / "speakers.csv").exists(), reason=f"{TRAIN} not present")
def test_two_recordings_link_the_voice_they_share_and_no_other(tmp_path):
    """File a: voices X and Y; file b: X (other utterances) and Z. Linked: X one label in
    both, Y and Z labels of their own."""
    import soundfile as sf

    utts = _utterances()
    x, y, z = "LS1688", "LS103", "LS1040"  # X male, Y female, Z male
    sr = 16000

    def turns(*parts: Path) -> np.ndarray:
        out = [np.zeros(sr // 2, dtype=np.float32)]
        for p in parts:
            a, rate = sf.read(p, dtype="float32")
            assert rate == sr
            out += [a, np.zeros(sr * 3 // 10, dtype=np.float32)]
        return np.concatenate(out)

    folder = tmp_path / "in"
    folder.mkdir()
    xa, xb = utts[x][0], utts[x][1]  # 15.0 s and 12.6 s of X
    ya, zb = utts[y][0], utts[z][0]  # 14.1 s of Y, 14.6 s of Z
    sf.write(folder / "a.wav", turns(xa, ya), sr, subtype="PCM_16")
    sf.write(folder / "b.wav", turns(zb, xb), sr, subtype="PCM_16")
    out = tmp_path / "out"
    summary = batch.run([str(folder / "a.wav"), str(folder / "b.wav")], out, jobs=1,
                        config=Config(), link_speakers=True)
    assert not summary.failed
    doc = json.loads((out / batch.SPEAKERS_FILE).read_text())
    where = {label: {r["uri"]: r["seconds"] for r in e["recordings"]}
             for label, e in doc["speakers"].items()}
    # X speaks the first 15 s of a and the last 12.6 s of b
    x_label = max(where, key=lambda k: where[k].get("a", 0.0) + where[k].get("b", 0.0))
    assert where[x_label].get("a", 0.0) > 10.0 and where[x_label].get("b", 0.0) > 8.0
    # Y (only in a) and Z (only in b) are not linked to each other nor to X
    others = [k for k in where if k != x_label and sum(where[k].values()) > 5.0]
    assert len(others) == 2
    assert all(len(where[k]) == 1 for k in others)


@pytest.mark.skipif(not (TRAIN / "speakers.csv").exists(), reason=f"{TRAIN} not present")
def test_bench_voices_recurring_voices_speak_other_utterances(tmp_path, bench_voices):
    """scripts/bench_voices.py --recurring: the voices of 60 s or more speak in 2-3
    conversations, a whole utterance of theirs in each, never the same one and never one
    that holds enrolment audio; every other voice speaks in one conversation."""
    convs, enrolled = bench_voices.build(TRAIN, tmp_path, n_conv=12, seed=0,
                                         enroll_seconds=10.0, recurring=True,
                                         reference="chunks")  # whole utterances timed
    utts = {}
    with open(TRAIN / "speakers.csv", newline="") as f:
        for row in csv.DictReader(f):
            utts.setdefault(row["speaker"], []).append(float(row["duration_s"]))
    heard: dict[str, list[float]] = {}
    for c in convs:
        assert 2 <= len(c.enrolled) and len(c.unenrolled) <= 2
        for v in c.enrolled + c.unenrolled:
            heard.setdefault(v, []).append(sum(b - a for a, b, s in c.turns if s == v))
    recurring = {v for v, t in heard.items() if len(t) > 1}
    assert recurring == {v for v, d in utts.items() if sum(d) >= 60.0}
    for v in recurring:
        assert 2 <= len(heard[v]) <= 3
        # each conversation's share of the voice is one whole utterance after the
        # enrolment audio's (durations in speakers.csv are rounded to 1 ms)
        first = int(np.searchsorted(np.cumsum(utts[v]), 10.0)) + 1
        left = [round(d, 3) for d in utts[v][first:]]
        spoken = [round(t, 3) for t in heard[v]]
        for t in spoken:
            assert t in left
            left.remove(t)
        assert v in enrolled


def test_bench_voices_reference_leaves_pauses_out(bench_voices):
    """The bench's reference speech (as ../shared/eval/sim's): a pause of 0.25 s or more
    inside a turn and the quiet at its ends are not speech; a shorter pause is."""
    sr = bench_voices.SR
    rng = np.random.default_rng(0)

    def voiced(seconds):
        return 0.1 * rng.standard_normal(int(seconds * sr))

    quiet = lambda seconds: np.zeros(int(seconds * sr))  # noqa: E731
    chunk = np.concatenate([quiet(0.3), voiced(1.0), quiet(0.4), voiced(0.5),
                            quiet(0.1), voiced(0.5), quiet(0.2)])
    runs = bench_voices.speech_runs(chunk, bench_voices._loud_level(chunk))
    assert len(runs) == 2
    (a0, b0), (a1, b1) = runs
    assert abs(a0 - 0.3) < 0.03 and abs(b0 - 1.3) < 0.03   # leading quiet cut
    assert abs(a1 - 1.7) < 0.03 and abs(b1 - 2.8) < 0.03   # 0.1 s pause kept, tail cut
