"""File ids, output names and voiceprint names are the same in every locale.

Python reads file names and arguments with the locale's encoding: under ``LC_ALL=C`` with
UTF-8 mode off, ``é.wav`` (UTF-8 bytes) reads as lone surrogates, and writing ``é.rttm``
back through that encoding failed (batch: "internal error", run: a UnicodeEncodeError
message). Names are now read as UTF-8 from the bytes and written as UTF-8 bytes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from diarize.names import name_text, os_name, output_name, typed_text, uri_for

REPO = Path(__file__).resolve().parents[1]
WAV = REPO / "audio_fixtures" / "two_speakers.wav"
ASCII = {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
UTF8 = {"LC_ALL": "C.UTF-8", "PYTHONUTF8": "1"}


def _diarize(args, *, env, cwd):
    return subprocess.run([sys.executable, "-m", "diarize", *args], cwd=cwd,
                          capture_output=True, env={**os.environ, **env}, timeout=300)


def _ascii_locale_works(tmp_path) -> bool:
    done = subprocess.run([sys.executable, "-c", "import sys; print(sys.getfilesystemencoding())"],
                          capture_output=True, text=True, env={**os.environ, **ASCII})
    return done.stdout.strip() == "ascii"


@pytest.fixture
def names_dir(tmp_path):
    if not _ascii_locale_works(tmp_path):
        pytest.skip("this system gives Python no ASCII file-system encoding under LC_ALL=C")
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("é.wav", "日本 x.wav"):
        shutil.copy(WAV, folder / name)
    return folder


def test_batch_in_an_ascii_locale_writes_the_utf8_run_s_files(names_dir, tmp_path):
    ascii_run = _diarize(["batch", str(names_dir), "-o", "a", "-f", "rttm,json", "-q"],
                         env=ASCII, cwd=tmp_path)
    assert ascii_run.returncode == 0, ascii_run.stderr
    utf8_run = _diarize(["batch", str(names_dir), "-o", "u", "-f", "rttm,json", "-q"],
                        env=UTF8, cwd=tmp_path)
    assert utf8_run.returncode == 0, utf8_run.stderr
    listed = sorted(os.listdir(os.fsencode(tmp_path / "a")))
    assert listed == sorted(os.listdir(os.fsencode(tmp_path / "u")))
    assert "é.rttm".encode() in listed and "日本_x.json".encode() in listed
    for name in listed:
        assert (tmp_path / "a" / os.fsdecode(name)).read_bytes() == \
            (tmp_path / "u" / os.fsdecode(name)).read_bytes()
    assert (tmp_path / "a" / "é.rttm").read_text(encoding="utf-8").split()[1] == "é"


def test_run_and_a_manifest_in_an_ascii_locale(names_dir, tmp_path):
    done = _diarize([str(names_dir / "é.wav"), "-o", "r", "--uri", "ü 1"], env=ASCII,
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert os.listdir(os.fsencode(tmp_path / "r")) == ["ü_1.rttm".encode()]
    (tmp_path / "m.csv").write_text("path,uri\nin/日本 x.wav,\nin/é.wav,ö\n", encoding="utf-8")
    done = _diarize(["batch", "m.csv", "-o", "m", "-q"], env=ASCII, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(os.fsencode(tmp_path / "m"))) == sorted(
        ["日本_x.rttm".encode(), "ö.rttm".encode()])


def test_a_voiceprint_enrolled_in_an_ascii_locale_is_read_in_utf8(names_dir, tmp_path):
    done = _diarize(["enroll", "-q", "--voices", "v", "José", str(WAV)], env=ASCII,
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert os.listdir(os.fsencode(tmp_path / "v")) == ["José.npz".encode()]
    for env in (UTF8, ASCII):
        listed = _diarize(["voices", "v"], env=env, cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.decode("utf-8").split()[0] == "José"


def test_name_helpers_are_the_identity_on_utf8_names():
    # this process runs in a UTF-8 locale, where nothing may change
    if sys.getfilesystemencoding().lower() not in ("utf-8", "utf8"):
        pytest.skip("the test process does not run in a UTF-8 locale")
    for text in ("meeting", "é 日本", "😀"):
        assert name_text(text) == text and typed_text(text) == text
        assert os_name(text) == text
    bad = os.fsdecode(b"bad\xff")
    assert name_text(bad) == "bad\\xff" == uri_for(bad + ".wav")
    assert typed_text(bad) == bad  # refused where it names something, as before
    assert os_name("\ud800") is None
    assert output_name("é", ".rttm") == "é.rttm"


def test_a_csv_output_is_resumed_in_another_locale(names_dir, tmp_path):
    # the ledger of csv outputs held the name as the locale decoded it: refused as foreign
    first = _diarize(["batch", str(names_dir), "-o", "o", "-f", "csv", "-q"], env=UTF8,
                     cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = _diarize(["batch", str(names_dir), "-o", "o", "-f", "csv"], env=ASCII,
                     cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert b"2 recordings already done" in again.stderr


def test_a_long_non_ascii_name_gets_a_temporary_file_in_an_ascii_locale(names_dir, tmp_path):
    # past 160 bytes the temporary file's prefix is cut, and was made of text the ASCII
    # file-system encoding could not write
    long = names_dir / ("é" * 100 + ".wav")
    shutil.copy(WAV, long)
    done = _diarize([str(long), "-o", "o"], env=ASCII, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert os.listdir(os.fsencode(tmp_path / "o")) == [("é" * 100 + ".rttm").encode()]


def test_a_model_path_in_a_toml_file_is_found_in_an_ascii_locale(names_dir, tmp_path):
    from diarize.speakers import UBM_PATH

    folder = tmp_path / "mödel"
    folder.mkdir()
    shutil.copy(UBM_PATH, folder / "ubm.npz")
    (tmp_path / "c.toml").write_text(f'[cluster]\nubm_path = "{folder}/ubm.npz"\n',
                                     encoding="utf-8")
    for args in (["--config", "c.toml"], ["--set", f'cluster.ubm_path="{folder}/ubm.npz"']):
        done = _diarize([str(names_dir / "é.wav"), "--stdout", *args], env=ASCII,
                        cwd=tmp_path)
        assert done.returncode == 0, done.stderr


def test_a_manifest_path_with_python_s_escapes_names_a_file_that_is_not_utf8(tmp_path):
    bad = os.fsdecode(b"bad\xff.wav")
    assert os_name(bad) == bad  # json.dumps(str(path)) writes it as "bad\udcff.wav"
    assert os_name("x\ud800") is None


def test_a_voiceprint_written_in_latin1_by_an_earlier_version_is_read(tmp_path):
    from diarize.voices import Voiceprint, voiceprint_path

    made = tmp_path / "utf8"
    made.mkdir()
    from diarize import enroll

    enroll("Zoë", WAV, made)
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    # an earlier version in a Latin-1 locale named the file with the name's Latin-1 bytes
    old_file = legacy / os.fsdecode("Zoë.npz".encode("latin-1"))
    shutil.copy(made / "Zoë.npz", old_file)
    assert Voiceprint.load(old_file).name == "Zoë"
    assert voiceprint_path(legacy, "Zoë") == old_file  # enrolling again adds to it
    assert voiceprint_path(made, "Zoë") == made / "Zoë.npz"
    # a file renamed to another voice's name is still caught
    shutil.copy(made / "Zoë.npz", legacy / "Ann.npz")
    with pytest.raises(Exception, match="corrupt voiceprint"):
        Voiceprint.load(legacy / "Ann.npz")
