"""scripts/naming_probe.py: the score rules it names offline with, and its refusals."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import script_module


def test_rules_keep_the_shape_and_base_is_the_scores_themselves():
    s = np.array([[5.0, 1.0, 2.0], [2.0, 4.0, 1.5]])
    with script_module("naming_probe.py", "naming_probe_under_test") as probe:
        for name, rule in probe.RULES.items():
            assert rule(s).shape == s.shape, name
        assert np.array_equal(probe.RULES["base"](s), s)
        # one other speaker (k = 1) takes a third of its score off each voiceprint's
        col = probe.RULES["column"](s)
        assert col[0, 0] == pytest.approx(5.0 - 2.0 / 3)
        assert col[1, 1] == pytest.approx(4.0 - 1.0 / 3)
        # the conversation's own spread: its median reads 0
        z = probe.RULES["recording-z"](s)
        assert np.median(z) == pytest.approx(0.0)
        # a speaker alone and a folder of two voiceprints are left as they are
        assert np.array_equal(probe.RULES["column"](s[:1]), s[:1])
        assert np.array_equal(probe.RULES["row"](s[:, :2]), s[:, :2])


def test_an_unknown_rule_and_a_missing_train_folder_are_refused(tmp_path, capsys):
    with script_module("naming_probe.py", "naming_probe_under_test") as probe:
        with pytest.raises(SystemExit):
            probe.main(["--rules", "nonsense", "--train", str(tmp_path)])
        assert "unknown rule 'nonsense'" in capsys.readouterr().err
        assert probe.main(["--train", str(tmp_path)]) == 1
        assert "no " in capsys.readouterr().err
