"""scripts/bench_naming.py: the two sets of naming runs it plans (the training voices; each
half of them with a UBM trained without it), and how it reads bench_voices.py's counts."""

from __future__ import annotations

import csv

import pytest

from conftest import script_module


def _train(tmp_path):
    train = tmp_path / "train"
    train.mkdir()
    with open(train / "speakers.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["file", "speaker", "gender", "duration_s"])
        w.writeheader()
        w.writerow({"file": "speech/a.flac", "speaker": "LS1", "gender": "F", "duration_s": "1"})
    return train


def _argv(cmd):
    return [str(x) for x in cmd]


def test_never_heard_runs_score_each_half_with_the_ubm_trained_without_it(tmp_path):
    train = _train(tmp_path)
    with script_module("bench_naming.py", "bench_naming_under_test") as bn:
        a = bn.argparse.Namespace(runs="never-heard", train=train, workdir=tmp_path / "w",
                                  seeds="0,2", training_runs="s0", parts=2, overrides=[
                                      "cluster.ubm_path='/elsewhere.npz'", "voices.threshold=4"])
        runs, prepare = bn.plan(a)
    # the split, then one UBM per half, each leaving that half's voices out
    assert "split_train.py" in prepare[0][1]
    for half, cmd in zip("AB", prepare[1:]):
        assert "train_ubm.py" in cmd[1]
        excluded = cmd[cmd.index("--exclude-speakers-of") + 1]
        assert excluded == str(tmp_path / "w" / "split" / f"{half}.json")
        assert cmd[cmd.index("--out") + 1] == str(tmp_path / "w" / f"ubm_without_{half}.npz")
    assert [r.name for r in runs] == ["A0", "A2", "B0", "B2"]
    for r in runs:
        argv = _argv(r.argv)
        half, seed = r.name[0], r.name[1:]
        assert argv[argv.index("--train") + 1] == str(tmp_path / "w" / "split" / half)
        assert argv[argv.index("--seed") + 1] == seed
        sets = [argv[i + 1] for i, x in enumerate(argv) if x == "--set"]
        # the caller's settings reach every run, and the half's UBM is the last word
        assert "voices.threshold=4" in sets
        assert sets[-1] == f'cluster.ubm_path="{tmp_path / "w" / f"ubm_without_{half}.npz"}"'
        assert argv[argv.index("--json") + 1] == str(r.counts)
        assert len({r.counts for r in runs}) == len(runs)  # no two runs share a folder


def test_more_parts_each_scored_with_a_ubm_trained_without_it_in_their_own_folders(tmp_path):
    train = _train(tmp_path)
    w = tmp_path / "w"
    with script_module("bench_naming.py", "bench_naming_under_test") as bn:
        a = bn.argparse.Namespace(runs="never-heard", train=train, workdir=w, seeds="1",
                                  training_runs="", parts=4, overrides=[])
        runs, prepare = bn.plan(a)
    split = _argv(prepare[0])
    assert split[split.index("--parts") + 1] == "4"
    assert split[split.index("--out") + 1] == str(w / "split4")
    # four UBMs, none of them the halves' (which a two-part plan finds and reuses)
    assert [_argv(c)[_argv(c).index("--out") + 1] for c in prepare[1:]] == [
        str(w / f"ubm4_without_{p}.npz") for p in "ABCD"]
    assert [r.name for r in runs] == ["A1", "B1", "C1", "D1"]
    for r in runs:
        argv = _argv(r.argv)
        assert argv[argv.index("--train") + 1] == str(w / "split4" / r.name[0])
        assert argv[argv.index("--workdir") + 1] == str(w / "runs" / f"never_heard4_{r.name}")


def test_made_ubms_are_not_trained_again_and_training_runs_use_the_shipped_one(tmp_path):
    train = _train(tmp_path)
    w = tmp_path / "w"
    (w / "split").mkdir(parents=True)
    for name in ("split/A.json", "split/B.json", "ubm_without_A.npz", "ubm_without_B.npz"):
        (w / name).write_text("{}")
    with script_module("bench_naming.py", "bench_naming_under_test") as bn:
        a = bn.argparse.Namespace(runs="both", train=train, workdir=w, seeds="1",
                                  training_runs="s3,l1", parts=2, overrides=[])
        runs, prepare = bn.plan(a)
        assert prepare == []
        training = [r for r in runs if r.group == "training"]
        assert [r.name for r in training] == ["s3", "l1"]
        long_run = _argv(training[1].argv)
        assert long_run[long_run.index("--design") + 1] == "long"
        assert all("cluster.ubm_path" not in " ".join(_argv(r.argv)) for r in training)
        a.training_runs = "x9"
        with pytest.raises(SystemExit, match="unknown training run"):
            bn.plan(a)


def test_shares_are_the_three_rates_of_the_counts():
    with script_module("bench_naming.py", "bench_naming_under_test") as bn:
        assert bn.shares([200, 150, 160, 152, 40, 2]) == pytest.approx((75.0, 95.0, 5.0))
        assert bn.shares([0, 0, 0, 0, 0, 0]) == (0.0, 0.0, 0.0)


def test_a_missing_train_folder_is_one_line_and_status_1(tmp_path, capsys):
    with script_module("bench_naming.py", "bench_naming_under_test") as bn:
        assert bn.main(["--train", str(tmp_path / "nowhere"), "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "speakers.csv" in err
