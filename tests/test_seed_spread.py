"""scripts/seed_spread.py: which speech model each seed runs with."""

from __future__ import annotations

from conftest import script_module


def test_seed_zero_is_the_shipped_model_unless_the_folder_holds_one(tmp_path):
    with script_module("seed_spread.py", "seed_spread_under_test") as ss:
        (tmp_path / "seed3.npz").write_bytes(b"cached")
        assert ss.model_for(0, tmp_path) == ""
        # a cached seed is used as it is, not trained again
        assert ss.model_for(3, tmp_path) == str(tmp_path / "seed3.npz")
        (tmp_path / "seed0.npz").write_bytes(b"another recipe")
        assert ss.model_for(0, tmp_path) == str(tmp_path / "seed0.npz")
