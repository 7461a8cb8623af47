"""Speech activity detection: the shipped model and the detector's behaviour."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from diarize.config import Config, SadConfig
from diarize.features import mfcc
from diarize.frames import fill_short_runs, runs
from diarize.sad import MODEL_PATH, detect_speech, load_model, model_features
from conftest import EVAL

ROOT = Path(__file__).resolve().parent.parent
SR = 16000
SHARED_EVAL = EVAL


def _mask(y, **sad):
    feats, energy, voicing = mfcc(np.asarray(y, dtype=np.float32), sample_rate=SR, voicing=True)
    return detect_speech(feats, energy, voicing, config=SadConfig(**sad), frame_step=0.01)


def test_model_file_loads_without_pickle():
    assert MODEL_PATH.is_file()
    assert MODEL_PATH.stat().st_size < 200_000
    with np.load(MODEL_PATH, allow_pickle=False) as d:
        assert all(d[k].dtype != object for k in d.files)
    speech, nonspeech = load_model()
    n_features = model_features(np.zeros((3, 20), np.float32), np.zeros(3, np.float32),
                                np.zeros(3, np.float32)).shape[1]
    assert speech.means_.shape[1] == nonspeech.means_.shape[1] == n_features


def test_default_method_is_model():
    assert Config().sad.method == "model"


@pytest.mark.parametrize("method", ["model", "energy"])
def test_digital_silence_is_not_speech(method):
    assert not _mask(np.zeros(3 * SR), method=method).any()


def test_empty_and_tiny_inputs():
    assert _mask(np.zeros(0)).shape == (0,)
    assert _mask(np.zeros(300)).shape == (1,)


@pytest.mark.parametrize("freq", [100.0, 440.0, 1000.0, 3000.0])
@pytest.mark.parametrize("level_db", [-50.0, -10.0])
def test_sine_tone_is_not_speech(freq, level_db):
    t = np.arange(4 * SR) / SR
    y = 10 ** (level_db / 20) * np.sqrt(2) * np.sin(2 * np.pi * freq * t)
    assert _mask(y).mean() < 0.05


@pytest.mark.parametrize("level_db", [-80.0, -60.0, -40.0, -20.0, -6.0])
def test_white_noise_at_any_level_is_not_speech(level_db):
    rng = np.random.default_rng(1)
    y = 10 ** (level_db / 20) * rng.standard_normal(5 * SR)
    assert _mask(y).mean() < 0.05


def test_noise_then_silence_then_noise_is_not_speech():
    rng = np.random.default_rng(2)
    y = 0.05 * rng.standard_normal(6 * SR)
    y[2 * SR:4 * SR] *= 1e-3
    assert _mask(y).mean() < 0.05


def _ref_mask(rttm: Path, n: int) -> np.ndarray:
    ref = np.zeros(n, bool)
    for line in rttm.read_text().splitlines():
        f = line.split()
        a, d = float(f[3]), float(f[4])
        ref[int(round(a * 100)):int(round((a + d) * 100))] = True
    return ref


@pytest.mark.parametrize("name", ["two_speakers", "three_speakers"])
def test_fixture_speech_is_found(name):
    wav = ROOT / "audio_fixtures" / f"{name}.wav"
    y, sr = sf.read(wav, dtype="float32")
    assert sr == SR
    mask = _mask(y)
    ref = _ref_mask(wav.with_suffix(".rttm"), len(mask))
    assert mask[ref].mean() > 0.8  # real read speech, exact reference
    # The fixtures open with a noise floor (-60 dBFS) before the first word; allow 0.1 s of
    # the speaker's own room tone before it.
    first = int(np.argmax(ref))
    assert first >= 30 and not mask[:first - 10].any()


def test_quiet_fixture_still_works():
    wav = ROOT / "audio_fixtures" / "two_speakers.wav"
    y, _ = sf.read(wav, dtype="float32")
    loud = _mask(y)
    quiet = _mask(y * 10 ** (-30 / 20))  # speech near -50 dBFS
    ref = _ref_mask(wav.with_suffix(".rttm"), len(quiet))
    assert quiet[ref].mean() > 0.6
    assert (loud == quiet).mean() > 0.9


def test_deterministic():
    wav = ROOT / "audio_fixtures" / "three_speakers.wav"
    y, _ = sf.read(wav, dtype="float32")
    assert np.array_equal(_mask(y), _mask(y))


def test_runs_and_fill_short_runs_still_exported():
    m = np.array([1, 1, 0, 1, 1, 1, 0, 0, 0, 0], bool)
    s, e, v = runs(m)
    assert list(s) == [0, 2, 3, 6] and list(v) == [True, False, True, False]
    assert fill_short_runs(m, value=False, max_len=2)[2]


def test_bad_model_path_raises():
    from diarize.errors import ModelError
    with pytest.raises(ModelError, match="sad_model.npz"):
        _mask(np.zeros(SR), model_path="/nonexistent/sad_model.npz")


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_EVAL / "sim").is_dir(), reason="shared eval data absent")
def test_sim_fair_floor():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "eval_sad.py"), "--folders", "sim",
                          "--quiet", "--eval-dir", str(SHARED_EVAL)],
                         capture_output=True, text=True, check=True).stdout
    line = [ln for ln in out.splitlines() if "TOTAL" in ln][0]
    total = float(line.split("sum")[1].split("%")[0])
    assert total < 10.0, line


def test_front_end_mismatch_is_detected():
    from diarize.config import FeatureConfig, load_config
    from diarize.sad import model_feature_config
    assert model_feature_config(FeatureConfig()) is None
    tel = load_config(preset="telephone").features
    front = model_feature_config(tel)
    if tel.fmax != FeatureConfig().fmax or tel.fmin != FeatureConfig().fmin:
        assert front is not None and front.fmax == FeatureConfig().fmax


@pytest.mark.slow
def test_pipeline_with_telephone_preset_finds_speech():
    from diarize import Diarizer
    y, sr = sf.read(ROOT / "audio_fixtures" / "two_speakers.wav", dtype="float32")
    result = Diarizer.from_preset("telephone")((y, sr))
    assert result.speech_mask.mean() > 0.5


def test_the_detector_reads_the_features_floor():
    from diarize.config import FeatureConfig
    from diarize.sad import model_feature_config

    # the floor is relative to the recording: the detector's front end keeps it
    assert model_feature_config(FeatureConfig(floor_db=80.0)) is None
    narrow = model_feature_config(FeatureConfig(fmin=300.0, fmax=3400.0, floor_db=80.0,
                                                floor_quantile=0.9))
    assert narrow is not None and narrow.fmin == FeatureConfig().fmin
    assert (narrow.floor_db, narrow.floor_quantile) == (80.0, 0.9)
