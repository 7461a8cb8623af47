"""scripts/split_train.py: two disjoint halves of the training voices, each a --train
folder for scripts/bench_voices.py and an exclusion list for scripts/train_ubm.py."""

from __future__ import annotations

import csv
import json

from conftest import script_module


def test_halves_are_disjoint_cover_every_voice_and_link_the_audio(tmp_path):
    train = tmp_path / "train"
    (train / "speech").mkdir(parents=True)
    rows = []
    for i, voice in enumerate(["LS1", "LS2", "LS3", "LS4", "LS5"]):
        for u in range(2):
            name = f"speech/{voice}_{u}.flac"
            (train / name).write_bytes(b"x" * (i + 1))
            rows.append({"file": name, "speaker": voice, "gender": "F", "duration_s": "1.0"})
    with open(train / "speakers.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with script_module("split_train.py", "split_train_under_test") as split:
        assert split.main(["--train", str(train), "--out", str(tmp_path / "out")]) == 0
    got = {}
    for half in "AB":
        listed = json.loads((tmp_path / "out" / f"{half}.json").read_text())["speakers"]
        with open(tmp_path / "out" / half / "speakers.csv", newline="") as f:
            table = list(csv.DictReader(f))
        assert sorted({r["speaker"] for r in table}) == sorted(listed)
        for r in table:  # every utterance of the half, its audio reachable through the link
            assert (tmp_path / "out" / half / r["file"]).read_bytes() == (train / r["file"]).read_bytes()
        assert len(table) == 2 * len(listed)
        got[half] = set(listed)
    assert not got["A"] & got["B"] and got["A"] | got["B"] == {"LS1", "LS2", "LS3", "LS4", "LS5"}


def test_more_parts_are_disjoint_and_cover_every_voice(tmp_path):
    train = tmp_path / "train"
    (train / "speech").mkdir(parents=True)
    voices = [f"LS{i}" for i in range(7)]
    with open(train / "speakers.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["file", "speaker", "gender", "duration_s"])
        w.writeheader()
        for v in voices:
            (train / f"speech/{v}.flac").write_bytes(b"x")
            w.writerow({"file": f"speech/{v}.flac", "speaker": v, "gender": "M", "duration_s": "1"})
    with script_module("split_train.py", "split_train_under_test") as split:
        assert split.main(["--train", str(train), "--out", str(tmp_path / "out"),
                           "--parts", "3"]) == 0
    parts = [set(json.loads((tmp_path / "out" / f"{p}.json").read_text())["speakers"])
             for p in "ABC"]
    assert sorted(len(p) for p in parts) == [2, 2, 3]
    assert set().union(*parts) == set(voices) and sum(len(p) for p in parts) == len(voices)
    assert not (tmp_path / "out" / "D.json").exists()


def test_a_missing_table_is_one_line_and_status_1(tmp_path, capsys):
    with script_module("split_train.py", "split_train_under_test") as split:
        assert split.main(["--train", str(tmp_path), "--out", str(tmp_path / "out")]) == 1
    assert "no " in capsys.readouterr().err
