"""What an audit of the command line with hostile paths found, kept fixed: an output never
replaces one of the command's inputs, a device, a named pipe or a symbolic link; a closed
standard output is one line; JSON nested too deeply is a bad input, not a crash; a named
pipe in a batch folder is not waited on; a voiceprint "folder" that is a file says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import FIXTURES, cli_runner
from diarize.cli import main
from diarize.names import replace_atomically

RTTM = FIXTURES / "two_speakers.rttm"
WAV = FIXTURES / "two_speakers.wav"
# deep enough for a RecursionError on every Python (3.13's json parses 5000 levels)
DEEP = "[" * 100_000 + "]" * 100_000


def _one_line(result, status: int, *words: str) -> None:
    assert result.exit_code == status, result.stderr
    err = result.stderr.strip()
    assert "\n" not in err and "Traceback" not in err, err
    for word in words:
        assert word in err, err


# ------------------------------------------------------------ outputs over inputs
def test_eval_words_and_tune_never_write_over_their_input(tmp_path):
    ref = tmp_path / "ref.rttm"
    ref.write_bytes(RTTM.read_bytes())
    srt = tmp_path / "talk.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    before = {p: p.read_bytes() for p in (ref, srt)}
    run = cli_runner().invoke
    _one_line(run(main, ["eval", "--ref", str(ref), "--hyp", str(ref), "-o", str(ref)]), 2,
              "would overwrite the input")
    for target in (srt, ref):
        _one_line(run(main, ["words", str(ref), str(srt), "-o", str(target)]), 2,
                  "would overwrite the input")
    toml = tmp_path / "base.toml"
    toml.write_text("seed = 1\n")
    before[toml] = toml.read_bytes()
    _one_line(run(main, ["tune", str(tmp_path), "--ref", str(ref), "--config", str(toml),
                         "-o", str(toml)]), 2, "would overwrite the input")
    assert {p: p.read_bytes() for p in before} == before
    # through a link to the input, too
    link = tmp_path / "link.rttm"
    link.symlink_to(ref)
    _one_line(run(main, ["eval", "--ref", str(ref), "--hyp", str(ref), "-o", str(link)]), 2,
              "would overwrite the input")


# ------------------------------------------------ links, devices and named pipes
def test_an_atomic_write_goes_through_a_link_and_keeps_it(tmp_path):
    target = tmp_path / "real.txt"
    target.write_text("old\n")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    replace_atomically(link, lambda f: f.write("new\n"))
    assert link.is_symlink() and target.read_text() == "new\n"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_an_atomic_write_into_a_named_pipe_writes_into_it(tmp_path):
    # Renaming over a pipe (or /dev/null) would replace it with a file.
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    replace_atomically(fifo, lambda f: f.write("through\n"))
    reader.join(timeout=10)
    assert got == [b"through\n"]
    assert fifo.is_fifo() and sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_in_a_batch_folder_is_not_waited_on(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.wav").write_bytes(WAV.read_bytes())
    os.mkfifo(src / "b.wav")  # nobody ever writes to it
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "diarize", "batch", str(src), "-o", str(out),
                        "-j", "1"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert sorted(x.name for x in out.iterdir()) == ["a.rttm"]
    assert "not audio" in p.stderr and "b.wav" in p.stderr


# ------------------------------------------------------------ closed stdout
@pytest.mark.slow
@pytest.mark.parametrize("args, status", [(["eval", "--ref", str(RTTM), "--hyp", str(RTTM)], 1),
                                          (["--version"], 1)])
def test_a_closed_standard_output_is_one_line(args, status):
    p = subprocess.run([sys.executable, "-m", "diarize", *args], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, timeout=120,
                       preexec_fn=lambda: os.close(1))
    assert p.returncode == status
    err = p.stderr.strip()
    assert "\n" not in err and "Traceback" not in err
    assert "cannot write to standard output" in err


# ------------------------------------------------------------ JSON nested too deeply
def test_json_nested_too_deeply_is_a_bad_input(tmp_path):
    transcript = tmp_path / "deep.json"
    transcript.write_text(DEEP)
    _one_line(cli_runner().invoke(main, ["words", str(RTTM), str(transcript)]), 1,
              "deep.json", "nested too deeply")
    manifest = tmp_path / "list.jsonl"
    manifest.write_text(json.dumps({"path": str(WAV)}) + "\n" + DEEP + "\n")
    _one_line(cli_runner().invoke(main, ["batch", str(manifest), "-o", str(tmp_path / "o")]),
              2, "list.jsonl:2", "nested too deeply")


def test_a_json_output_nested_too_deeply_is_not_ours_and_not_replaced(tmp_path):
    from diarize.writers import check_replaceable
    from diarize.errors import ForeignOutputError

    out = tmp_path / "two_speakers.json"
    out.write_text(DEEP)
    with pytest.raises(ForeignOutputError):
        check_replaceable(out, fmt="json", uri="two_speakers")
    assert out.read_text() == DEEP


# ------------------------------------------------------------ voiceprint folders
def test_a_voiceprint_folder_that_is_a_file_says_so(tmp_path):
    not_a_folder = tmp_path / "voices"
    not_a_folder.write_text("")
    for args in (["enroll", "--voices", str(not_a_folder), "ann", str(WAV)],
                 ["voices", str(not_a_folder)]):
        _one_line(cli_runner().invoke(main, args), 4, "not a folder")
