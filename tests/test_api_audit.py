"""Session 23's audit of the Python API: each test fails without its fix."""

from __future__ import annotations

import os
import shutil
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from diarize import Diarizer, read_rttm, write_rttm
from diarize.config import Config, FeatureConfig
from diarize.errors import (AudioError, ConfigError, ConvergenceWarning, ForeignOutputError,
                            ParameterError, RTTMError, VoiceNameError)
from diarize.segments import Diarization, Turn
from diarize.voices import check_name

FIXTURES = Path(__file__).resolve().parents[1] / "audio_fixtures"
WAV = FIXTURES / "two_speakers.wav"


@pytest.fixture(scope="module")
def result():
    return Diarizer()(WAV)


def test_calls_from_several_threads_leave_the_warning_filters_alone():
    # the decoder's fits used a process-wide warnings filter, which overlapping calls
    # let through and then left behind for good
    before = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: Diarizer()(FIXTURES / "three_speakers.wav"), range(6)))
        after = list(warnings.filters)[1:]  # without the "always" set just above
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert after == before


def test_write_rttm_keeps_a_file_it_did_not_write(tmp_path, result):
    reference = tmp_path / "two_speakers.rttm"
    shutil.copy(FIXTURES / "two_speakers.rttm", reference)
    original = reference.read_bytes()
    with pytest.raises(ForeignOutputError, match="replace_foreign=True"):
        write_rttm(reference, result)
    assert reference.read_bytes() == original
    ours = tmp_path / "out.rttm"
    write_rttm(ours, result.rename({result.speakers[0]: "A"}))
    write_rttm(ours, result)  # a file of ours is replaced
    write_rttm(reference, result, replace_foreign=True)
    assert reference.read_bytes() == ours.read_bytes()


@pytest.mark.parametrize("setting", [{"all": "raise"}, {"under": "raise"}, {"all": "warn"}])
def test_the_hosts_numpy_error_handling_changes_nothing(setting, result):
    old = np.seterr(**setting)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            again = Diarizer()(WAV)
    finally:
        np.seterr(**old)
    assert again.to_json() == result.to_json()
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize("section", [{"sample_rate": 8000}, FeatureConfig()])
def test_a_section_of_the_wrong_type_is_a_config_error(section):
    with pytest.raises(ConfigError, match=r"audio must be a section \(AudioConfig\)"):
        Diarizer(Config(audio=section))


@pytest.mark.parametrize("signal, message", [
    (np.zeros((16000, 2), np.float32), "1-D array"),
    ("x.wav", "1-D array"),
    (np.zeros(16000, np.int16), "int16"),
    (np.full(16000, np.nan, np.float32), "NaN"),
])
def test_diarize_signal_checks_its_samples(signal, message):
    with pytest.raises(AudioError, match=message):
        Diarizer().diarize_signal(signal)


@pytest.mark.parametrize("duration", [float("nan"), float("inf"), -1.0, "long"])
def test_a_diarization_duration_is_a_finite_number_of_seconds(duration):
    with pytest.raises(ParameterError, match="duration"):
        Diarization([Turn(0.0, 1.0, "A")], duration=duration)


def test_a_start_of_minus_zero_is_written_as_zero():
    d = Diarization([Turn(-0.0, 1.0, "A")], uri="x", duration=1.0)
    for text in (d.to_rttm(), d.to_csv(), d.to_audacity()):
        assert "-0.0" not in text


def test_misleading_messages_name_the_real_problem(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.rttm").write_text("SPEAKER a 1 0 1 <NA> <NA> A <NA> <NA>\n")
    with pytest.raises(AudioError, match="empty file name"):
        Diarizer()("")
    with pytest.raises(RTTMError, match="empty file name"):
        read_rttm("")  # it read every RTTM of the current folder
    with pytest.raises(VoiceNameError, match="must be a str"):
        check_name(5)  # type: ignore[arg-type]


def test_an_absurd_sample_rate_is_refused_at_once():
    with pytest.raises(AudioError, match="above the maximum"):
        Diarizer()((np.zeros(16000, np.float32), 10**15))


def test_write_rttm_fills_an_empty_file(tmp_path, result):
    import tempfile

    fd, name = tempfile.mkstemp(suffix=".rttm", dir=tmp_path)
    os.close(fd)
    write_rttm(name, result)  # nothing there to lose
    assert Path(name).read_text().startswith("SPKR-INFO two_speakers")


def test_loading_faint_stereo_under_a_strict_seterr(tmp_path):
    import soundfile as sf

    from diarize.audio import load_audio

    path = tmp_path / "faint.wav"
    rng = np.random.default_rng(0)
    sf.write(path, (rng.standard_normal((16000, 2)) * 1e-20).astype(np.float32), 16000,
             subtype="FLOAT")
    old = np.seterr(all="raise")
    try:
        assert load_audio(path).shape == (16000,)
    finally:
        np.seterr(**old)


@pytest.mark.parametrize("channels", [2, 3, 8, 12])
def test_the_downmix_of_agreeing_channels_is_numpys_mean_bit_for_bit(channels):
    from diarize.audio import _downmix

    rng = np.random.default_rng(channels)
    x = rng.standard_normal((48_017, channels)).astype(np.float32)
    x[:, 1:] = 0.7 * x[:, :1] + 0.3 * x[:, 1:]  # in phase, as a stereo or array recording
    assert np.array_equal(_downmix(x, 1), x.mean(axis=1, dtype=np.float32))
    y = np.ascontiguousarray(x.T)
    assert np.array_equal(_downmix(y, 0), y.mean(axis=0, dtype=np.float32))
