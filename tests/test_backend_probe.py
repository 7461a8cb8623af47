"""scripts/backend_probe.py: its trained back-end's algebra, and its refusals."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from conftest import script_module


def _voices(rng, *, n_voices=40, sessions=6, dims=12):
    """Sessions of voices drawn from a two-covariance model: a voice's point plus a
    session's offset, each Gaussian."""
    between = rng.standard_normal((dims, dims)) / np.sqrt(dims)
    # a rotated session spread of every direction's own size, well conditioned
    q, _ = np.linalg.qr(rng.standard_normal((dims, dims)))
    within = q * rng.uniform(0.2, 0.4, dims)
    centres = rng.standard_normal((n_voices, dims)) @ between.T + 3.0
    x = np.repeat(centres, sessions, axis=0) + rng.standard_normal(
        (n_voices * sessions, dims)) @ within.T
    return x, np.repeat(np.arange(n_voices), sessions)


def test_the_plda_ratio_is_the_two_covariance_models_own():
    rng = np.random.default_rng(0)
    x, owner = _voices(rng)
    with script_module("backend_probe.py", "backend_probe_under_test") as probe:
        be = probe.Backend(x, owner, dim=0, pca=12)
        a, b = be.embed(x[:1]), be.embed(x[7:8])
        t = be.B + be.W
        same = np.block([[t, be.B], [be.B, t]])
        want = (multivariate_normal(np.zeros(2 * len(t)), same).logpdf(np.r_[a[0], b[0]])
                - multivariate_normal(np.zeros(len(t)), t).logpdf(a[0])
                - multivariate_normal(np.zeros(len(t)), t).logpdf(b[0]))
        assert be.plda(a, b)[0, 0] == pytest.approx(want, rel=1e-9, abs=1e-9)
        # symmetric in its two sides
        assert be.plda(b, a)[0, 0] == pytest.approx(be.plda(a, b)[0, 0])


@pytest.mark.parametrize("dim", [0, 8])
def test_unseen_voices_score_higher_with_themselves(dim):
    rng = np.random.default_rng(1)
    x, owner = _voices(rng, n_voices=60)
    train, test = owner < 40, owner >= 40  # scored on voices it was not trained on
    with script_module("backend_probe.py", "backend_probe_under_test") as probe:
        be = probe.Backend(x[train], owner[train], dim=dim, pca=12)
        z = be.embed(x[test])
        who = owner[test]
        same = who[:, None] == who[None, :]
        off = ~np.eye(len(z), dtype=bool)
        for scores in (be.plda(z, z), be.cosine(z, z)):
            targets, others = scores[same & off], scores[~same]
            # the share of (target, non-target) pairs in the right order
            auc = np.mean(targets[:, None] > others[None, ::7])
            assert auc > 0.9


def test_wccn_whitens_the_within_voice_scatter():
    rng = np.random.default_rng(2)
    x, owner = _voices(rng)
    with script_module("backend_probe.py", "backend_probe_under_test") as probe:
        be = probe.Backend(x, owner, dim=0, pca=12)
        y = (x - be.mean) @ be.lda
        within, _ = probe.Backend._scatter(y, owner)
        # identity up to the ridge that keeps the scatter invertible
        assert np.allclose(within, np.eye(len(within)), atol=0.02)


def test_a_missing_capture_and_train_folder_are_refused(tmp_path, capsys):
    with script_module("backend_probe.py", "backend_probe_under_test") as probe:
        assert probe.main(["--train", str(tmp_path)]) == 1
        assert "no " in capsys.readouterr().err
        train = tmp_path / "train"
        train.mkdir()
        (train / "speakers.csv").write_text("file,speaker,gender,duration_s\n")
        assert probe.main(["--train", str(train), "--workdir", str(tmp_path / "w"),
                           "--runs", "training", "--training-runs", "s0"]) == 1
        assert "no capture of run s0" in capsys.readouterr().err
