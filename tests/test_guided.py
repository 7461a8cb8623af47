"""Guided diarization (``voices.guide``): enrolled voices as extra speakers that take whole
turns from the recording's speakers (:func:`diarize.guide.guided_labels`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from diarize.guide import guided_labels
from diarize.rttm import read_rttm
from diarize.speakers import load_ubm, voice_statistics

FIXTURES = Path(__file__).resolve().parents[1] / "audio_fixtures"
TWO = FIXTURES / "two_speakers.wav"
TURN = 200  # frames per synthetic turn


def _voice(rng, gmm, scale=0.7):
    """A synthetic voice: an offset of each UBM component's mean, in its own spread."""
    return rng.normal(0.0, scale, gmm.means_.shape) * np.sqrt(gmm.covariances_)


def _frames(rng, gmm, shift, n):
    comp = rng.choice(len(gmm.weights_), size=n, p=gmm.weights_)
    sd = np.sqrt(gmm.covariances_[comp])
    return gmm.means_[comp] + shift[comp] + sd * rng.standard_normal((n, gmm.means_.shape[1]))


def _stats(gmm, x):
    return voice_statistics(gmm, x, np.zeros(len(x), dtype=np.int64), n_labels=1)[0]


@pytest.fixture(scope="module")
def merged():
    """Voices A and B in turns of 2 s (alternating, A first), clustered as one speaker;
    A's enrolment, and a voice C that does not speak."""
    gmm = load_ubm().gmm
    rng = np.random.default_rng(3)
    a, b, c = (_voice(rng, gmm) for _ in range(3))
    x = np.concatenate([_frames(rng, gmm, a if k % 2 == 0 else b, TURN) for k in range(6)])
    truth = np.repeat(np.arange(6) % 2, TURN)
    return dict(gmm=gmm, x=x, truth=truth, regions=np.repeat(np.arange(6), TURN),
                enrol_a=_stats(gmm, _frames(rng, gmm, a, 800)),
                enrol_c=_stats(gmm, _frames(rng, gmm, c, 800)))


def _guide(m, voices, **kw):
    return guided_labels(m["x"], np.zeros(len(m["x"]), dtype=np.int64), voices, ubm=m["gmm"],
                         regions=m["regions"], relevance_factor=16.0, iterations=2,
                         speaker_cmvn=False, min_frames=TURN, **kw)


def test_enrolled_voice_splits_a_merged_speaker_turn_by_turn(merged):
    labels, voice = _guide(merged, [merged["enrol_a"]])
    assert sorted(voice.tolist()) == [-1, 0]
    enrolled = int(np.flatnonzero(voice == 0)[0])
    # every turn of A goes to A's state, every turn of B stays with the speaker
    np.testing.assert_array_equal(labels == enrolled, merged["truth"] == 0)


def test_a_voice_that_does_not_speak_takes_nothing(merged):
    labels, voice = _guide(merged, [merged["enrol_c"]])
    assert voice.tolist() == [-1]
    assert (labels == 0).all()


def test_no_voices_no_change(merged):
    labels, voice = _guide(merged, [])
    assert (labels == 0).all() and voice.tolist() == [-1]


def _conversation(tmp_path):
    """two_speakers' reference turns, in order, with 0.6 s of silence between them."""
    y, sr = sf.read(TWO, dtype="float32")
    (ref,) = read_rttm(TWO.with_suffix(".rttm")).values()
    parts, turns, t = [], [], 0.0
    gap = np.zeros(int(0.6 * sr), dtype=np.float32)
    for turn in ref:
        piece = y[int(turn.start * sr):int(turn.end * sr)]
        turns.append((t, t + len(piece) / sr, turn.speaker))
        parts += [piece, gap]
        t += (len(piece) + len(gap)) / sr
    sf.write(tmp_path / "conv.wav", np.concatenate(parts), sr)
    ann = np.concatenate([y[int(x.start * sr):int(x.end * sr)] for x in ref
                          if x.speaker == "LS533"])
    sf.write(tmp_path / "ann.wav", ann, sr)
    return tmp_path / "conv.wav", tmp_path / "ann.wav", turns


def _seconds_named(result, turns, name):
    """Seconds of each reference voice inside turns given `name`."""
    out: dict[str, float] = {}
    for a, b, who in turns:
        for t in result:
            if t.speaker == name:
                out[who] = out.get(who, 0.0) + max(0.0, min(b, t.end) - max(a, t.start))
    return out


def test_pipeline_splits_a_speaker_merged_from_an_enrolled_voice(tmp_path):
    from diarize import Diarizer, enroll

    conv, ann, turns = _conversation(tmp_path)
    (tmp_path / "voices").mkdir()
    enroll("Ann", ann, tmp_path / "voices")
    # linking told to merge everything (BIC not asked): one speaker of both voices
    merge = dict(cluster__link_threshold=-50.0, cluster__link_bic_veto=0.0)
    plain = Diarizer(voices=tmp_path / "voices", voices__guide=False, **merge)(conv)
    guided = Diarizer(voices=tmp_path / "voices", voices__guide=True, **merge)(conv)
    assert len(plain.speakers) == 1
    assert len(guided.speakers) == 2 and "Ann" in guided.speakers
    got = _seconds_named(guided, turns, "Ann")
    total = {w: sum(b - a for a, b, x in turns if x == w) for w in ("LS533", "LS1688")}
    assert got.get("LS533", 0.0) > 0.8 * total["LS533"]
    assert got.get("LS1688", 0.0) < 0.2 * total["LS1688"]


def test_guidance_acts_only_with_voices_and_no_count_asked(tmp_path):
    from diarize import Diarizer, enroll

    conv, ann, _ = _conversation(tmp_path)
    (tmp_path / "voices").mkdir()
    enroll("Ann", ann, tmp_path / "voices")
    merge = dict(cluster__link_threshold=-50.0, cluster__link_bic_veto=0.0)
    assert (list(Diarizer(voices__guide=True, **merge)(conv))
            == list(Diarizer(voices__guide=False, **merge)(conv)))
    asked = dict(num_speakers=1, **merge)
    assert (list(Diarizer(voices=tmp_path / "voices", voices__guide=True, **asked)(conv))
            == list(Diarizer(voices=tmp_path / "voices", voices__guide=False, **asked)(conv)))


def test_unit_statistics_are_label_statistics(merged):
    from diarize.speakers import label_statistics, unit_statistics

    gmm, x = merged["gmm"], merged["x"]
    unit = np.repeat(np.arange(len(x) // 50), 50)[: len(x)]
    want = np.arange(unit.max() + 1) % 3 != 0
    n0, f0 = label_statistics(gmm, x, unit, n_labels=len(want))
    n = np.full((len(want), n0.shape[1]), 7.0)
    f = np.full((len(want), *f0.shape[1:]), 7.0)
    unit_statistics(gmm, x, unit, want=want, n=n, first=f)
    # the wanted frames' posteriors are computed without the others: a product of fewer
    # rows may round its last bits differently (OpenBLAS's kernels on some CPUs)
    # (in the GMM's own precision, float32 for the UBM)
    tol = 100 * np.finfo(gmm.dtype).eps
    for got, ref in ((n, n0), (f, f0)):
        np.testing.assert_allclose(got[want], ref[want], rtol=tol,
                                   atol=tol * np.abs(ref).max())
    assert (n[~want] == 7.0).all()  # the rows not asked for are left alone


def _speaker_frames():
    from diarize import Diarizer
    from diarize.cluster import speaker_ubm

    d = Diarizer(keep_voices=True)
    ubm = speaker_ubm(d.config.cluster)
    gmm = ubm.gmm
    rng = np.random.default_rng(5)
    a, b = _voice(rng, gmm), _voice(rng, gmm)
    x = np.concatenate([_frames(rng, gmm, a, 3000), _frames(rng, gmm, b, 3000)])
    return d, ubm, x, np.repeat([0, 1], 3000)


def test_thinned_screening_statistics_are_close_to_the_full_ones():
    from diarize.speakers import aligned_llr

    d, ubm, x, labels = _speaker_frames()
    full = d._voice_stats(x, labels, ["a", "b"])
    known: dict = {}
    thin = d._voice_stats(x, labels, ["a", "b"], known=known, step=4)
    assert not known  # an estimate is not kept for later
    rf = d.config.voices.relevance_factor
    means = np.stack([full[k].means(ubm.gmm, relevance_factor=rf) for k in ("a", "b")])
    for i, k in enumerate(("a", "b")):
        # the counts keep their scale
        assert abs(thin[k].frames - full[k].frames) < 0.02 * full[k].frames
        # scored against the full models, the thinned statistics score as the full
        # ones do: far closer to them than to the other voice
        got = aligned_llr(ubm.gmm, thin[k], means)
        want = aligned_llr(ubm.gmm, full[k], means)
        assert int(np.argmax(got)) == i
        assert np.abs(got - want).max() < 0.1 * abs(want[0] - want[1])


def test_kept_statistics_are_reused_by_their_frames():
    d, ubm, x, labels = _speaker_frames()
    known: dict = {}
    first = d._voice_stats(x, labels, ["a", "b"], known=known)
    assert len(known) == 2
    # one speaker keeps its frames, the other's are split: only the split ones are new
    split = np.where((labels == 1) & (np.arange(len(labels)) % 2 == 0), 2, labels)
    again = d._voice_stats(x, split, ["a", "b", "c"], known=known)
    assert again["a"] is first["a"]
    fresh = d._voice_stats(x, split, ["a", "b", "c"])
    for k in ("a", "b", "c"):
        np.testing.assert_array_equal(again[k].n, fresh[k].n)
        np.testing.assert_array_equal(again[k].first, fresh[k].first)


def test_a_stranger_below_the_naming_threshold_does_not_join_an_enrolled_voice(tmp_path):
    """A speaker left after guiding joins the enrolled voice that took turns only with the
    score a name needs: with every voiceprint nominated (screen far below), the other
    voice of the conversation, never enrolled, keeps its own label."""
    from diarize import Diarizer, enroll

    conv, ann, turns = _conversation(tmp_path)
    (tmp_path / "voices").mkdir()
    enroll("Ann", ann, tmp_path / "voices")
    guided = Diarizer(voices=tmp_path / "voices", voices__guide=True,
                      voices__guide_screen=-1000.0)(conv)
    assert "Ann" in guided.speakers and len(guided.speakers) == 2
    got = _seconds_named(guided, turns, "Ann")
    total = {w: sum(b - a for a, b, x in turns if x == w) for w in ("LS533", "LS1688")}
    assert got.get("LS533", 0.0) > 0.8 * total["LS533"]
    assert got.get("LS1688", 0.0) < 0.2 * total["LS1688"]


def _two_voices():
    """Frames of two synthetic voices, 600 each (A then B), resegmented as two speakers."""
    from diarize.config import ResegConfig
    from diarize.resegment import resegment

    gmm = load_ubm().gmm
    rng = np.random.default_rng(5)
    a, b = (_voice(rng, gmm, scale=1.5) for _ in range(2))
    x = np.concatenate([_frames(rng, gmm, a, 600), _frames(rng, gmm, b, 600)]).astype(np.float32)
    cfg = ResegConfig()
    before = resegment(x, np.repeat([0, 1], 600), config=cfg, frame_step=0.01)
    return x, cfg, before


def test_refit_reuses_the_models_and_loglik_of_the_same_frames():
    from diarize.resegment import refit

    x, cfg, before = _two_voices()
    assert before.loglik is not None and before.loglik.shape == (len(x) // 20, 2)
    again = refit(x, before.labels, config=cfg, before=before)
    assert again.models[0] is before.models[0] and again.models[1] is before.models[1]
    fresh = refit(x, before.labels, config=cfg)
    assert fresh.models[0] is not before.models[0]
    # the kept log-likelihoods are those the models give: the same posteriors as fitted anew
    np.testing.assert_array_equal(again.posteriors, fresh.posteriors)
    np.testing.assert_array_equal(again.loglik, fresh.loglik)


def test_refit_keeps_the_model_of_a_speaker_that_changed_little():
    from diarize.resegment import refit

    x, cfg, before = _two_voices()
    moved = before.labels.copy()
    last_a = np.flatnonzero(before.labels == 0)[-20:]
    moved[last_a] = 1  # the last 20 of A's frames to B: both keep over 95 % of their frames
    exact = refit(x, moved, config=cfg, before=before)
    assert not any(m is o for m in exact.models for o in before.models)
    kept = refit(x, moved, config=cfg, before=before, keep_share=0.95)
    assert [m is o for m, o in zip(kept.models, before.models)] == [True, True]
    np.testing.assert_array_equal(kept.labels, exact.labels)
    assert kept.fitted_on is None  # the models are not of these frames
    # a share above what they kept: fitted anew
    again = refit(x, moved, config=cfg, before=before, keep_share=0.99)
    assert not any(m is o for m in again.models for o in before.models)


def test_naming_links_on_the_loud_frames_and_only_naming(tmp_path, monkeypatch):
    # voices.cluster_level_db replaces cluster.link_level_db while voices name the
    # speakers; without voices (or at 0) linking has cluster.link_level_db's frames.
    import diarize.pipeline as pipeline
    from diarize import Diarizer, enroll

    conv, ann, _ = _conversation(tmp_path)
    (tmp_path / "voices").mkdir()
    enroll("Ann", ann, tmp_path / "voices")
    seen = []
    real = pipeline.cluster_speakers

    def spy(*args, **kw):
        seen.append(kw.get("link_frames"))
        return real(*args, **kw)

    monkeypatch.setattr(pipeline, "cluster_speakers", spy)
    Diarizer()(conv)
    Diarizer(voices=tmp_path / "voices", voices__cluster_level_db=0.0)(conv)
    Diarizer(voices=tmp_path / "voices", voices__cluster_level_db=20.0)(conv)
    Diarizer(cluster__link_level_db=20.0)(conv)
    Diarizer(voices=tmp_path / "voices", voices__cluster_level_db=10.0,
             cluster__link_level_db=20.0)(conv)
    plain, off, named, clustered, narrower = seen
    assert plain is None and off is None
    assert named is not None and 0.3 < named.mean() < 1.0
    np.testing.assert_array_equal(named, clustered)
    # the naming value wins over the clustering one: within 10 dB, fewer frames
    assert narrower.sum() < named.sum() and not (narrower & ~named).any()


def test_without_models_the_guided_turns_and_names_are_the_same(tmp_path):
    from diarize import Diarizer, enroll

    conv, ann, _ = _conversation(tmp_path)
    (tmp_path / "voices").mkdir()
    enroll("Ann", ann, tmp_path / "voices")
    # merged by linking, so that guiding changes the speakers and refitting is skipped
    merge = dict(cluster__link_threshold=-50.0, cluster__link_bic_veto=0.0)
    kept = Diarizer(voices=tmp_path / "voices", **merge)(conv)
    lean = Diarizer(voices=tmp_path / "voices", keep_models=False, **merge)(conv)
    assert len(kept.speakers) == 2 and "Ann" in kept.speakers  # guiding split the speaker
    assert list(lean) == list(kept)
    assert {k: (m.name, m.best_score) for k, m in lean.voice_matches.items()} \
        == {k: (m.name, m.best_score) for k, m in kept.voice_matches.items()}
    assert kept.posteriors is not None and kept.posteriors.shape[1] == len(kept.speakers)
    assert set(kept.speaker_models) == set(kept.speakers)
    assert lean.posteriors is None and lean.speaker_models == {}


def test_per_label_normalisation_is_each_labels_standardise(monkeypatch):
    # label by label, in blocks, from float32 frames: the numbers of standardise on each
    # label's frames of the float64 copy (a column with no spread only centred)
    import diarize.guide as guide

    rng = np.random.default_rng(4)
    X = rng.standard_normal((1000, 5)).astype(np.float32)
    labels = np.repeat(rng.integers(0, 4, 50), 20)
    X[labels == 2, 1] = 3.0
    monkeypatch.setattr(guide, "CMVN_BLOCK_FRAMES", 64)
    got = guide._per_label_cmvn(X, labels)
    want = X.astype(np.float64)
    for k in np.unique(labels):
        part = want[labels == k]
        guide.standardise(part)
        want[labels == k] = part
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, want)
    assert np.all(got[labels == 2, 1] == 0.0)
