"""Errors mean what they say: data problems of the GMM engine are FitError, bad estimator
arguments ParameterError, unreadable saved models ModelError; ConfigError is left to the
configuration (and to model files named by it)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import numpy as np
import pytest

import diarize
import diarize.errors
import diarize.gmm
from batch_audio import make_recording
from diarize.errors import (ConfigError, DiarizeError, FitError, ModelError, ParameterError)
from diarize.gmm import BayesianGaussianMixture, GaussianMixture, load_arrays

GMM_DIR = Path(diarize.gmm.__file__).parent


def blobs(n=60, d=3, seed=0):
    rng = np.random.RandomState(seed)
    return np.vstack([rng.randn(n // 2, d) - 3.0, rng.randn(n - n // 2, d) + 3.0])


def raises_fit_error(call):
    with pytest.raises(FitError) as info:
        call()
    assert not isinstance(info.value, ConfigError)
    return str(info.value)


# --- data problems ----------------------------------------------------------------------


@pytest.mark.parametrize("cls", [GaussianMixture, BayesianGaussianMixture])
def test_nan_input_is_a_fit_error(cls):
    X = blobs()
    X[11, 2] = np.nan
    assert "row 11" in raises_fit_error(lambda: cls(2).fit(X))


def test_nan_at_prediction_is_a_fit_error():
    model = GaussianMixture(2, random_state=0).fit(blobs())
    X = blobs(seed=1)
    X[4, 0] = np.inf
    assert "row 4" in raises_fit_error(lambda: model.predict_proba(X))


@pytest.mark.parametrize("cls", [GaussianMixture, BayesianGaussianMixture])
def test_too_few_frames_is_a_fit_error(cls):
    X = np.random.RandomState(0).randn(3, 2)
    assert "n_samples" in raises_fit_error(lambda: cls(4).fit(X))
    raises_fit_error(lambda: cls(1).fit(X[:1]))


def test_singular_full_covariance_is_a_fit_error():
    x = np.random.RandomState(0).randn(50, 1)
    X = np.hstack([x, 2.0 * x])  # collinear columns: a singular covariance
    message = raises_fit_error(
        lambda: GaussianMixture(1, covariance_type="full", reg_covar=0.0).fit(X))
    assert "ill-defined covariance" in message


def test_zero_variance_is_a_fit_error():
    X = blobs()
    X[:, 1] = 5.0  # a constant feature has no variance without reg_covar
    raises_fit_error(lambda: GaussianMixture(1, reg_covar=0.0).fit(X))


def test_non_numeric_input_is_a_fit_error():
    X = np.array([["a", "b"]] * 10)
    assert "numeric" in raises_fit_error(lambda: GaussianMixture(2).fit(X))


def test_fit_error_is_a_value_error():
    assert issubclass(FitError, ValueError) and issubclass(FitError, DiarizeError)


# --- arguments --------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{"n_components": 0}, {"tol": -1.0},
                                    {"means_init": np.zeros((5, 3))}, {"random_state": "x"}])
def test_bad_arguments_are_parameter_errors(kwargs):
    with pytest.raises(ParameterError) as info:
        GaussianMixture(**{"n_components": 2, **kwargs}).fit(blobs())
    assert not isinstance(info.value, (ConfigError, FitError))


def test_bad_relevance_factor_is_a_parameter_error():
    model = GaussianMixture(2, random_state=0).fit(blobs())
    with pytest.raises(ParameterError, match="relevance_factor"):
        model.map_adapt(blobs(seed=1), relevance_factor=-1.0)


# --- saved models -----------------------------------------------------------------------


def _state():
    return GaussianMixture(2, random_state=0).fit(blobs()).to_dict()


@pytest.mark.parametrize("damage, words", [
    (lambda s: s.pop("attr:means_"), "missing key"),
    (lambda s: s.update({"param:no_such_knob": 3}), "unknown parameter"),
    (lambda s: s.update({"attr:means_": np.zeros(7)}), "damaged"),
    (lambda s: s.update({"format": "x"}), "format"),
    (lambda s: s.update({"class": "BayesianGaussianMixture"}), "from_dict"),
])
def test_damaged_saved_model_is_a_model_error(damage, words):
    state = _state()
    damage(state)
    with pytest.raises(ModelError, match=words):
        GaussianMixture.from_dict(state)


def test_unreadable_model_file_is_a_model_error(tmp_path):
    bad = tmp_path / "model.npz"
    bad.write_bytes(b"not a zip archive")
    with pytest.raises(ModelError, match="model.npz"):
        load_arrays(bad, what="UBM", names=("ubm/",))


def test_bad_sad_model_file_is_a_model_error_naming_the_file(tmp_path):
    from diarize.errors import ModelError
    from diarize.sad import load_model

    truncated = tmp_path / "truncated_sad.npz"
    truncated.write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(ModelError, match="truncated_sad.npz"):
        load_model(str(truncated))
    state = _state()
    state.pop("attr:covariances_")
    damaged = tmp_path / "damaged_sad.npz"
    np.savez(damaged, **{f"{p}{k}": np.asarray(v) for p in ("speech/", "nonspeech/")
                         for k, v in state.items()})
    with pytest.raises(ModelError, match=r"damaged_sad\.npz: not a SAD model"):
        load_model(str(damaged))


# --- where errors live ------------------------------------------------------------------


def test_the_gmm_package_never_mentions_config_error():
    offenders = [p.name for p in GMM_DIR.glob("*.py") if "ConfigError" in p.read_text()]
    assert offenders == []


def _package_modules():
    for info in pkgutil.walk_packages(diarize.__path__, "diarize."):
        try:
            yield importlib.import_module(info.name)
        except ImportError:  # an optional dependency (e.g. matplotlib) is missing
            continue


def test_public_exceptions_and_warnings_live_in_errors_and_are_exported():
    found = set()
    for module in _package_modules():
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and not name.startswith("_")
                    and issubclass(obj, (DiarizeError, Warning))
                    and obj.__module__.startswith("diarize")):
                assert obj.__module__ == "diarize.errors", (module.__name__, name)
                found.add(name)
    assert {"FitError", "ParameterError", "ModelError", "ConvergenceWarning"} <= found
    for name in found:
        assert name in diarize.__all__ and getattr(diarize, name) is getattr(diarize.errors, name)
    defined = set(re.findall(r"^class (\w+)", Path(diarize.errors.__file__).read_text(), re.M))
    assert found <= defined


# --- how a failed recording is reported -------------------------------------------------


def test_degenerate_recording_is_reported_as_a_fit_error(tmp_path, monkeypatch):
    from diarize import batch, pipeline
    from diarize.config import Config

    real_features = pipeline.speech_features

    def broken_front_end(*args, **kwargs):
        feats = real_features(*args, **kwargs).copy()
        feats[5] = np.nan  # a front end that produced a non-finite frame
        return feats

    monkeypatch.setattr(pipeline, "speech_features", broken_front_end)
    audio = make_recording(tmp_path / "rec.wav", seconds=4.0, seed=0)
    out = tmp_path / "rec.rttm"
    task = batch.Task(path=str(audio), uri="rec", output=str(out), fmt="rttm", config=Config())
    record = batch.process_one(task)
    assert record.status == "failed"
    assert record.error == "FitError", record.message
    assert not out.exists()
