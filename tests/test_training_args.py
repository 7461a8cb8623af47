"""The training scripts refuse bad arguments with argparse's one-line usage error (exit
2) before any work, not with a traceback from inside it."""

import pytest

from conftest import script_module

BAD = [
    ("train_ubm.py", ["--out", "x.npz", "--jobs", "0"], "--jobs: must be at least 1"),
    ("train_ubm.py", ["--out", "x.npz", "--copies", "-1"], "--copies: must be at least 1"),
    ("train_ubm.py", ["--out", "x.npz", "--relevance-factor", "0"], "--relevance-factor"),
    ("train_sad.py", ["--copies", "-1"], "--copies: must be at least 1"),
    ("train_sad.py", ["--channel-prob", "1.5"], "--channel-prob: must be in [0, 1]"),
    ("train_sad.py", ["--max-frames", "ten"], "not a whole number"),
    ("train_nuisance.py", ["--snr", "30,5"], "30 is above 5"),
    ("train_nuisance.py", ["--rt60", "0.2"], "expected two numbers"),
    ("train_nuisance.py", ["--chunk-seconds", "nan"], "--chunk-seconds: must be in"),
]


@pytest.mark.parametrize("script, argv, message", BAD, ids=[f"{s}:{a[-2]}" for s, a, _ in BAD])
def test_a_bad_argument_is_a_usage_error(script, argv, message, capsys, tmp_path,
                                         monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written, wherever it would go
    with script_module(script, script[:-3] + "_args_probe") as module:
        with pytest.raises(SystemExit) as exc:
            module.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_the_nuisance_recipe_keeps_the_ranges_as_written():
    # the shipped nuisance file records its recipe's text; the checked type keeps it
    with script_module("script_args.py", "script_args_probe") as module:
        assert module.span(0, 10)("0.2,0.8") == "0.2,0.8"
        assert module.whole(0)("3") == 3
        assert module.number(0, above=True)("16") == 16.0
