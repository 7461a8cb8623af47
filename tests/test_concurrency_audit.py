"""Session 23's audit of crash safety and concurrency: a ledger line torn by a full disk,
two enrolments of one name at once, two enrolments making one folder. Each test fails
without its fix."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from diarize import writers
from diarize.cli import main
from diarize.errors import OutputWriteError
from diarize.voices import Voiceprint, add_voice
from test_voices import _voiceprint

FIXTURE = Path(__file__).resolve().parents[1] / "audio_fixtures" / "two_speakers.wav"


# ------------------------------------------------------------------ the ownership ledger
def test_an_entry_after_a_torn_ledger_line_is_still_read(tmp_path):
    # the disk filled in the middle of an earlier entry: the next one must not be glued
    # onto the fragment, or our own output is refused as foreign forever
    (tmp_path / writers.OUTPUT_LEDGER).write_bytes(b"4fe6a796738f074f28fe6dcaf638f8")
    out = tmp_path / "rec.csv"
    writers.atomic_write_text(out, "uri,start,end\n", ledger=True)
    writers._ledgers.clear()
    assert writers.is_ours(out, fmt="csv", uri="rec")


def test_a_short_ledger_write_is_a_write_error(tmp_path, monkeypatch):
    real_write = os.write

    def half(fd, data):
        return real_write(fd, data[:len(data) // 2])

    monkeypatch.setattr(writers.os, "write", half)
    out = tmp_path / "rec.csv"
    with pytest.raises(OutputWriteError, match="cannot write output"):
        writers.atomic_write_text(out, "uri,start,end\n", ledger=True)
    assert not out.exists()  # the entry comes first: no output without its entry
    monkeypatch.setattr(writers.os, "write", real_write)
    writers.atomic_write_text(out, "uri,start,end\n", ledger=True)  # space again: a rerun
    writers._ledgers.clear()
    assert writers.is_ours(out, fmt="csv", uri="rec")


# ------------------------------------------------------------------ enrolment
def test_enrolments_of_one_name_at_once_are_all_kept(tmp_path, monkeypatch):
    real_load = Voiceprint.load

    def slow_load(path):  # widen the read-extend-write window, as a slow disk would
        v = real_load(path)
        time.sleep(0.02)
        return v

    monkeypatch.setattr(Voiceprint, "load", staticmethod(slow_load))
    threads = [threading.Thread(target=add_voice, args=(tmp_path, _voiceprint(rng=i)))
               for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert real_load(tmp_path / "Ann.npz").enrolments == 6
    assert [p.name for p in tmp_path.iterdir()] == ["Ann.npz"]  # no lock file left


def test_enrolling_into_a_folder_another_run_just_made(runner, tmp_path, monkeypatch):
    # the other run creates the folder between this one's check and its mkdir
    real_mkdir = Path.mkdir

    def raced(self, *args, **kwargs):
        os.makedirs(self, exist_ok=True)
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", raced)
    voices = tmp_path / "voices"
    result = runner.invoke(main, ["enroll", "--voices", str(voices), "ann", str(FIXTURE), "-q"])
    assert result.exit_code == 0, result.stderr
    assert (voices / "ann.npz").exists()


def test_a_probe_left_by_a_killed_run_is_removed_by_a_batch_rerun(tmp_path, monkeypatch):
    # the run is killed between making the write probe and removing it
    from diarize.batch import remove_stale_temps

    def killed(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(writers.os, "unlink", killed)
    with pytest.raises(KeyboardInterrupt):
        writers.check_writable_dir(tmp_path)
    monkeypatch.undo()
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".diarize-probe.")
    remove_stale_temps(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_recording_warnings_are_kept_per_thread():
    # threads side by side each keep their own recordings' warnings, and no others
    from diarize.errors import NoSpeechWarning, recording_warnings, warn_recording

    barrier = threading.Barrier(2)
    kept: dict = {}

    def worker(name):
        with recording_warnings() as collected:
            barrier.wait()
            warn_recording(f"no speech found in {name}", NoSpeechWarning)
            barrier.wait()
        kept[name] = list(collected)

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert kept == {"a": ["no speech found in a"], "b": ["no speech found in b"]}
    with pytest.warns(NoSpeechWarning, match="outside"):  # no list open: a warning
        warn_recording("no speech found outside", NoSpeechWarning)
