"""Nuisance attribute projection (``voices.nuisance_rank``): the shipped subspace, the
projection, scoring with it, and its training script."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from conftest import REPO, script_module
from diarize.config import Config, VoicesConfig
from diarize.errors import ModelError
from diarize.link import link_voices
from diarize.speakers import (BackgroundModel, VoiceStats, aligned_llr, load_nuisance,
                              load_ubm, save_nuisance, supervector_offsets, ubm_fingerprint,
                              voice_scores, voice_statistics, with_nuisance)
from diarize.voices import Voiceprint, match_scores

TRAIN = REPO.parent / "shared" / "train"
UBM = load_ubm()


def _voice(speaker: int, seed: int | None = None, frames: int = 600) -> VoiceStats:
    """UBM statistics of frames drawn from the UBM with voice `speaker`'s random mean
    shift (`seed`: of the frames, default the speaker's)."""
    g = UBM.gmm
    offset = (np.random.default_rng([99, speaker]).standard_normal(g.means_.shape)
              * np.sqrt(g.covariances_) * 0.5)
    rng = np.random.default_rng(speaker if seed is None else [speaker, seed])
    comp = rng.choice(len(g.weights_), size=frames, p=g.weights_)
    x = (g.means_[comp] + offset[comp]
         + rng.standard_normal((frames, g.means_.shape[1])) * np.sqrt(g.covariances_[comp]))
    return voice_statistics(g, x, np.zeros(frames, dtype=int), n_labels=1)[0]


def _models(seeds) -> np.ndarray:
    return np.stack([_voice(s).means(UBM.gmm, relevance_factor=16.0) for s in seeds])


def test_shipped_subspace_loads_orthonormal_and_belongs_to_the_shipped_ubm():
    u, fp = load_nuisance()
    c, d = UBM.gmm.means_.shape
    assert u.shape[0] == c * d and u.shape[1] >= 40
    assert fp == ubm_fingerprint(UBM)
    np.testing.assert_allclose(u.T @ u, np.eye(u.shape[1]), atol=1e-12)
    assert with_nuisance(UBM, u.shape[1]).nuisance.shape == (c * d, u.shape[1])


def test_projection_is_idempotent_orthogonal_and_keeps_the_ubm():
    comp = with_nuisance(UBM, 10)
    models = _models(range(5))
    once = comp.project(models)
    np.testing.assert_allclose(comp.project(once), once, rtol=0, atol=1e-12)
    off = supervector_offsets(UBM.gmm, once)
    # nothing left along the nuisance directions; what was removed lies along them alone
    assert np.abs(off @ comp.nuisance).max() < 1e-12
    removed = supervector_offsets(UBM.gmm, models) - off
    np.testing.assert_allclose(removed, (removed @ comp.nuisance) @ comp.nuisance.T,
                               atol=1e-12)
    # the UBM is its own projection (no offset), and the cohort is projected
    np.testing.assert_allclose(comp.project(UBM.gmm.means_[None])[0], UBM.gmm.means_,
                               atol=1e-12)
    assert UBM.cohort is not None and comp.cohort is not None
    np.testing.assert_allclose(comp.cohort, comp.project(UBM.cohort), atol=1e-12)
    assert not np.allclose(comp.cohort, UBM.cohort)


def test_rank_zero_is_the_unprojected_scoring_itself():
    assert with_nuisance(UBM, 0) is UBM
    models = _models(range(3))
    assert UBM.project(models) is models
    tests = [_voice(10), _voice(11)]
    cfg = Config()
    assert cfg.voices.nuisance_rank == 0
    prints = [Voiceprint(name=f"v{i}", stats=_voice(i), seconds=8.0, enrolments=1,
                         sources=("x",), ubm="", front_end="") for i in range(3)]
    off = match_scores(UBM, tests, prints, config=cfg)
    np.testing.assert_array_equal(
        off, match_scores(UBM, tests, prints,
                          config=cfg.replace(**{"voices.nuisance_rank": 0})))
    on = match_scores(UBM, tests, prints, config=cfg.replace(**{"voices.nuisance_rank": 10}))
    assert on.shape == off.shape and not np.allclose(on, off)


def test_projecting_the_test_statistics_too_changes_no_score():
    """The linear score of a projected model against statistics projected by the same
    (orthogonal, idempotent) projection is its score against the statistics as they are:
    projecting the models alone is projecting both sides."""
    comp = with_nuisance(UBM, 20)
    stats = _voice(3)
    models = comp.project(_models([1, 2, 3]))
    g = UBM.gmm
    mu = np.asarray(g.means_, dtype=np.float64)
    scale = np.sqrt(np.asarray(g.weights_)[:, None] * np.asarray(g.covariances_))
    centred = ((stats.first - stats.n[:, None] * mu) / scale).reshape(-1)
    centred = centred - comp.nuisance @ (comp.nuisance.T @ centred)
    projected = VoiceStats(stats.n, stats.n[:, None] * mu + centred.reshape(mu.shape) * scale)
    np.testing.assert_allclose(aligned_llr(g, projected, models), aligned_llr(g, stats, models),
                               rtol=1e-9, atol=1e-12)
    # and scoring with the compensated UBM projects the models it is given
    np.testing.assert_allclose(voice_scores(comp, [stats], _models([1, 2, 3])),
                               voice_scores(comp, [stats], models), rtol=1e-12, atol=1e-12)


def test_subspace_of_another_ubm_or_too_few_directions_refused(tmp_path):
    other = BackgroundModel(UBM.gmm, dict(UBM.front_end, n_mels=UBM.front_end["n_mels"] + 1),
                            UBM.cohort)
    with pytest.raises(ModelError, match="another UBM.*voices.nuisance_rank = 0"):
        with_nuisance(other, 5)
    # the message names the setting that asked for the projection
    with pytest.raises(ModelError, match="another UBM.*cluster.link_nuisance_rank = 0"):
        with_nuisance(other, 5, key="cluster.link_nuisance_rank")
    u, _ = load_nuisance()
    with pytest.raises(ModelError, match="more than"):
        with_nuisance(UBM, u.shape[1] + 1)
    path = tmp_path / "small.npz"
    save_nuisance(path, u[:, :3], ubm=UBM, recipe="test")
    assert with_nuisance(UBM, 3, str(path)).nuisance.shape[1] == 3
    bad = tmp_path / "bad.npz"
    np.savez(bad, directions=np.zeros((u.shape[0], 2), dtype=np.float32),
             ubm=np.array(ubm_fingerprint(UBM)))
    with pytest.raises(ModelError, match="not a nuisance subspace"):
        load_nuisance(str(bad))


def test_batch_linking_scores_with_the_projection():
    voices = [("a", "SPEAKER_00", _voice(1, 1), 5.0), ("b", "SPEAKER_00", _voice(1, 2), 5.0),
              ("c", "SPEAKER_00", _voice(7), 5.0)]
    for rank in (0, 10):
        groups = link_voices(voices, ubm=UBM, config=VoicesConfig(link_nuisance_rank=rank))
        assert sorted(len(g.members) for g in groups) == [1, 2]
    with pytest.raises(ModelError, match="more than"):
        link_voices(voices, ubm=UBM, config=VoicesConfig(link_nuisance_rank=1000))


def test_default_link_rank_leaves_a_ubm_of_ones_own_unprojected():
    # the shipped subspace belongs to the shipped UBM: the default rank falls back to none
    # for another one (cluster.ubm_path) instead of failing; a subspace named is checked
    other = BackgroundModel(UBM.gmm, dict(UBM.front_end, n_mels=UBM.front_end["n_mels"] + 1),
                            UBM.cohort)
    voices = [("a", "SPEAKER_00", _voice(1, 1), 5.0), ("b", "SPEAKER_00", _voice(1, 2), 5.0),
              ("c", "SPEAKER_00", _voice(7), 5.0)]
    assert VoicesConfig().link_nuisance_rank > 0
    got = link_voices(voices, ubm=other, config=VoicesConfig())
    plain = link_voices(voices, ubm=other, config=VoicesConfig(link_nuisance_rank=0))
    assert [[(m.uri, m.local) for m in g.members] for g in got] == \
        [[(m.uri, m.local) for m in g.members] for g in plain]
    with pytest.raises(ModelError, match="another UBM"):
        link_voices(voices, ubm=other, config=VoicesConfig(
            nuisance_path=str(REPO / "diarize" / "data" / "nuisance.npz")))


@pytest.mark.skipif(not (TRAIN / "speakers.csv").exists(), reason=f"{TRAIN} not present")
def test_training_script_deterministic_on_a_tiny_subset(tmp_path):
    with script_module("train_nuisance.py", "train_nuisance_under_test") as module:
        args = ["--train-dir", str(TRAIN), "--speakers", "2", "--chunks", "1", "--copies", "2",
                "--chunk-seconds", "4", "--rank", "3"]
        for name in ("a", "b"):
            assert module.main(args + ["--out", str(tmp_path / f"{name}.npz")]) == 0
    a, b = (np.load(tmp_path / f"{n}.npz") for n in "ab")
    assert sorted(a.files) == ["directions", "recipe", "ubm"]
    for k in a.files:
        assert a[k].tobytes() == b[k].tobytes()
    u, fp = load_nuisance(str(tmp_path / "a.npz"))
    assert u.shape == (UBM.gmm.means_.size, 3) and fp == ubm_fingerprint(UBM)
    assert replace(with_nuisance(UBM, 3, str(tmp_path / "a.npz")), nuisance=None).gmm is UBM.gmm


def test_voiceprint_folder_opened_with_an_impossible_rank_is_refused_up_front(tmp_path):
    from diarize.voices import VoiceLibrary, front_end_of

    cfg = Config().replace(voices__enroll_copies=0)  # a voiceprint of clean statistics
    Voiceprint(name="ann", stats=_voice(1), seconds=8.0, enrolments=1, sources=("x",),
               ubm=ubm_fingerprint(UBM), front_end=front_end_of(cfg)).save(tmp_path / "ann.npz")
    assert VoiceLibrary.open(tmp_path, config=cfg.replace(**{"voices.nuisance_rank": 10}),
                             ubm=UBM).names == ["ann"]
    with pytest.raises(ModelError, match="more than"):
        VoiceLibrary.open(tmp_path, config=cfg.replace(**{"voices.nuisance_rank": 1000}),
                          ubm=UBM)
