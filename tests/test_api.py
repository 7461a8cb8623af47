"""The Python API: Turn, Diarization, Diarizer, the public names of `diarize`, doctests."""

from __future__ import annotations

import dataclasses
import doctest
import io
import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import diarize
from diarize.errors import ConfigError, ParameterError
from diarize.writers import format_rttm, write_rttm
from diarize.segments import Diarization, Turn
from conftest import EVAL

REPO = Path(__file__).resolve().parents[1]
SHARED_EVAL = EVAL / "real"
PIPELINE_STAGES = ["features", "speech", "clustering", "resegmentation"]


# --------------------------------------------------------------------------- Turn
def test_turn_times_are_plain_floats():
    t = Turn(np.float64(1.5), np.int64(2), "A")
    assert type(t.start) is float and type(t.end) is float and repr(t) == \
        "Turn(start=1.5, end=2.0, speaker='A')"


def test_turn_is_frozen_and_ordered():
    t = Turn(1.0, 2.5, "A")
    assert t.duration == 1.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.start = 0.0  # type: ignore[misc]
    assert sorted([Turn(2, 3, "B"), Turn(1, 4, "A"), Turn(1, 2, "C")]) == [
        Turn(1, 2, "C"), Turn(1, 4, "A"), Turn(2, 3, "B")]


# --------------------------------------------------------------------------- Diarization
def _example() -> Diarization:
    return Diarization([Turn(3.0, 6.0, "B"), Turn(0.0, 4.0, "A"), Turn(7.0, 8.0, "A")],
                       uri="demo", duration=9.0, bic={1: -3.0, 2: -5.0})


def test_diarization_is_an_ordered_collection():
    d = _example()
    assert [t.start for t in d] == [0.0, 3.0, 7.0]
    assert len(d) == 3 and d[0] == Turn(0.0, 4.0, "A")
    assert d.speakers == ["A", "B"]
    assert repr(d) == "<Diarization uri='demo' duration=9.000 speakers=2 turns=3>"
    assert d == _example() and d != d.exclusive()


def test_equality_compares_arrays_by_value():
    mask = np.array([True, False, True])
    a = Diarization([Turn(0, 1, "A")], speech_mask=mask, frame_step=0.01)
    assert a == Diarization([Turn(0, 1, "A")], speech_mask=mask.copy(), frame_step=0.01)
    assert a != Diarization([Turn(0, 1, "A")], speech_mask=~mask, frame_step=0.01)
    assert a != Diarization([Turn(0, 1, "A")], speech_mask=mask, frame_step=0.02)
    assert a != Diarization([Turn(0, 1, "A")])


def test_frame_arrays_need_their_frame_step():
    # no default: a step taken for granted would put every frame at the wrong time
    with pytest.raises(ParameterError, match="frame_step"):
        Diarization([Turn(0, 1, "A")], speech_mask=np.ones(3, dtype=bool))
    assert Diarization([Turn(0, 1, "A")]).frame_step is None  # turns alone need none


def test_to_rttm_is_a_real_method():
    # the writers are methods of the class, not attached by importing the pipeline
    assert "to_rttm" in Diarization.__dict__
    d = _example()
    assert d.to_rttm() == format_rttm(d.turns, "demo")


def test_write_rttm_takes_a_diarization(tmp_path):
    d = _example()
    write_rttm(tmp_path / "a.rttm", d)
    first, rest = (tmp_path / "a.rttm").read_text().split("\n", 1)
    assert rest == d.to_rttm()  # after the provenance record of every file we write
    assert first.startswith(f"SPKR-INFO {d.uri} 1 <NA> <NA> <NA> unknown gmm-diarize ")
    write_rttm(tmp_path / "b.rttm", d.turns, "other")
    assert (tmp_path / "b.rttm").read_text().split()[1] == "other"
    with pytest.raises(TypeError, match="uri"):
        write_rttm(tmp_path / "c.rttm", d.turns)


def test_exclusive_first_started_turn_wins():
    d = _example().exclusive()
    assert [(t.start, t.end, t.speaker) for t in d] == [
        (0.0, 4.0, "A"), (4.0, 6.0, "B"), (7.0, 8.0, "A")]
    # the evidence is carried over
    assert d.bic == {1: -3.0, 2: -5.0} and d.uri == "demo" and d.duration == 9.0


def test_exclusive_ties_and_nesting():
    # same start: the longer turn wins; a turn nested in another disappears
    d = Diarization([Turn(0, 2, "short"), Turn(0, 5, "long"), Turn(1, 2, "inner")])
    assert [(t.start, t.end, t.speaker) for t in d.exclusive()] == [(0, 5, "long")]
    # same start and end: the smaller label wins
    d = Diarization([Turn(0, 1, "b"), Turn(0, 1, "a")])
    assert [t.speaker for t in d.exclusive()] == ["a"]
    assert len(Diarization([]).exclusive()) == 0


_turns = st.lists(
    st.tuples(st.integers(0, 50), st.integers(1, 20), st.sampled_from("ABCD")).map(
        lambda x: Turn(x[0] / 10, (x[0] + x[1]) / 10, x[2])),
    max_size=25)


def _union(turns):
    out = []
    for t in sorted(turns):
        if out and t.start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], t.end)
        else:
            out.append([t.start, t.end])
    return out


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(_turns)
def test_exclusive_properties(turns):
    out = Diarization(turns).exclusive().turns
    for a, b in zip(out, out[1:]):
        assert a.end <= b.start  # no overlap
    assert _union(out) == _union(turns)  # speech time unchanged
    for t in out:  # every piece is part of an input turn of the same speaker
        assert any(u.speaker == t.speaker and u.start <= t.start and t.end <= u.end
                   for u in _union_by_speaker(turns, t.speaker))


def _union_by_speaker(turns, speaker):
    return [Turn(a, b, speaker) for a, b in _union([t for t in turns if t.speaker == speaker])]


def test_to_dataframe():
    pd = pytest.importorskip("pandas")
    df = _example().to_dataframe()
    assert list(df.columns) == ["uri", "start", "end", "duration", "speaker"]
    assert df["speaker"].tolist() == ["A", "B", "A"]
    assert isinstance(df, pd.DataFrame)


def test_to_dataframe_without_pandas(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` fail
    with pytest.raises(ImportError, match="pip install pandas") as err:
        _example().to_dataframe()
    assert isinstance(err.value, diarize.DiarizeError)  # every error of ours is one


# --------------------------------------------------------------------------- package
def test_public_names_are_the_objects_of_their_modules():
    import diarize.config
    import diarize.errors
    import diarize.pipeline
    import diarize.rttm
    import diarize.segments
    import diarize.writers

    homes = {"Diarizer": diarize.pipeline, "enroll": diarize.pipeline,
             "Diarization": diarize.segments,
             "Turn": diarize.segments, "Config": diarize.config,
             "load_config": diarize.config, "available_presets": diarize.config,
             "read_rttm": diarize.rttm, "write_rttm": diarize.writers}
    assert len(set(diarize.__all__)) == len(diarize.__all__)
    for name in diarize.__all__:
        if name != "__version__":  # errors and warnings: diarize.errors
            assert getattr(diarize, name) is getattr(homes.get(name, diarize.errors), name), name
    with pytest.raises(AttributeError):
        diarize.no_such_name  # noqa: B018


def test_read_rttm_is_exported(tmp_path):
    import diarize.rttm
    import diarize.writers

    assert "read_rttm" in diarize.__all__ and "write_rttm" in diarize.__all__
    assert diarize.read_rttm is diarize.rttm.read_rttm
    assert diarize.write_rttm is diarize.writers.write_rttm
    diarize.write_rttm(tmp_path / "x.rttm", _example())
    turns = [t for ts in dict(diarize.read_rttm(tmp_path / "x.rttm")).values() for t in ts]
    assert sorted(turns) == _example().turns


def test_package_data_ships_typing_marker_and_schema():
    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")

    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    package_data = data["tool"]["setuptools"]["package-data"]["diarize"]
    assert "py.typed" in package_data and "schemas/*.json" in package_data
    assert (REPO / "diarize" / "py.typed").is_file()
    assert (REPO / "diarize" / "schemas" / "diarization.schema.json").is_file()


DOCTEST_MODULES = ["diarize", "diarize.segments", "diarize.rttm", "diarize.names",
                   "diarize.config",
                   "diarize.pipeline", "diarize.plot"]


@pytest.mark.parametrize("name", DOCTEST_MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"


# --------------------------------------------------------------------------- Diarizer
def _two_voices(sample_rate: int = 16000) -> np.ndarray:
    """Alternating 'voices' (harmonic tones of different pitch and timbre) with pauses."""
    rng = np.random.default_rng(0)
    t = np.arange(int(1.5 * sample_rate)) / sample_rate
    voices = [sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 8)) for f0 in (110, 240)]
    pause = np.zeros(int(0.3 * sample_rate))
    parts = []
    for i in range(6):
        parts += [0.3 * voices[i % 2] * (1 + 0.2 * np.sin(2 * np.pi * 3 * t)), pause]
    y = np.concatenate(parts)
    return (y + 1e-3 * rng.standard_normal(len(y))).astype(np.float32)


@pytest.mark.slow
def test_diarizer_on_an_array_returns_the_evidence():
    calls = []
    result = diarize.Diarizer(seed=0)((_two_voices(), 16000), hook=lambda *a: calls.append(a))
    assert isinstance(result, Diarization) and result.uri == "audio"
    assert result.duration == pytest.approx(6 * 1.8)
    assert [c[0] for c in calls if c[1] == 0] == PIPELINE_STAGES
    assert all(0 <= done <= total for _, done, total in calls)
    n_frames = len(result.speech_mask)
    assert result.speech_mask.dtype == bool and result.speech_mask.any()
    assert result.posteriors.shape == (n_frames, len(result.speaker_models))
    assert result.bic and all(isinstance(k, int) for k in result.bic)
    assert set(result.speakers) <= set(result.speaker_models)
    assert all(0 <= t.start < t.end <= result.duration + result.frame_step for t in result)


def test_diarizer_overrides_and_presets():
    assert diarize.Diarizer(num_speakers=2, reseg__decoder_min_turn=0.3).config.reseg.decoder_min_turn == 0.3
    assert diarize.Diarizer.from_preset("meeting").config.max_speakers == 8
    assert diarize.Diarizer.from_preset("telephone", seed=3).config.seed == 3
    with pytest.raises(ConfigError, match="unknown preset"):
        diarize.Diarizer.from_preset("no-such-preset")
    with pytest.raises(ConfigError, match="unknown configuration key"):
        diarize.Diarizer(no_such_key=1)
    # a path or a dict where a Config belongs: our error, saying what to pass
    for wrong in ("configs/default.toml", {"num_speakers": 2}):
        with pytest.raises(ConfigError, match="load_config"):
            diarize.Diarizer(wrong)


@pytest.mark.slow
def test_diarizer_on_a_file_is_deterministic():
    # The shipped two-speaker conversation: always present, so this never skips.
    path = Path(__file__).resolve().parents[1] / "audio_fixtures" / "two_speakers.wav"
    a = diarize.Diarizer()(path)
    b = diarize.Diarizer()(str(path))
    assert a.uri == "two_speakers" and a == b  # arrays compared by value
    assert a.to_json() == b.to_json()
    assert len(a.speakers) >= 2 and len(a) >= 4  # a conversation, not an empty result
    # exclusive(): no overlap left, the same speech time; a no-op exactly when nothing overlaps
    ex = a.exclusive()
    assert not _overlaps(ex.turns)
    assert _speech_time(ex.turns) == pytest.approx(_speech_time(a.turns), abs=1e-6)
    assert (ex.turns == a.turns) == (not _overlaps(a.turns))
    assert ex.exclusive() == ex


def _overlaps(turns) -> bool:
    """Whether any two turns (of any speakers) share time."""
    end = -np.inf
    for t in sorted(turns):
        if t.start < end:
            return True
        end = max(end, t.end)
    return False


def _speech_time(turns) -> float:
    """Seconds covered by at least one turn."""
    total, start, end = 0.0, None, None
    for t in sorted(turns):
        if end is None or t.start > end:
            if end is not None:
                total += end - start
            start, end = t.start, t.end
        else:
            end = max(end, t.end)
    return total + (end - start if end is not None else 0.0)


@pytest.mark.slow
def test_stereo_int16_and_float_signals_give_the_same_result():
    """Integer samples are scaled to full scale before the downmix: int16 stereo,
    its float32 and float64 versions, channels first or last, all give one result."""
    from hostile_helpers import voices

    sr = 16000
    mono = voices(8.0, sr, seed=5, n_speakers=2)
    stereo = np.stack([mono, 0.5 * mono], axis=1)  # (n_samples, 2), as soundfile reads
    pcm = np.round(stereo / np.abs(stereo).max() * 0.5 * 32767).astype(np.int16)
    as_float = (pcm / 32768).astype(np.float32)  # full scale 2**15, as libsndfile reads
    d = diarize.Diarizer(seed=1)
    ref = d((as_float, sr))
    assert len(ref) > 0, "expected speech turns"
    assert d((pcm, sr)) == ref
    assert d((pcm.T, sr)) == ref  # (n_channels, n_samples), as librosa returns
    assert d((pcm / 32768, sr)).turns == ref.turns  # float64
    # A loudness-independent front end would hide the bug: the signal itself must match.
    from diarize.audio import prepare_signal

    np.testing.assert_array_equal(prepare_signal(pcm, sample_rate=sr),
                                  prepare_signal(as_float, sample_rate=sr))
    assert np.abs(prepare_signal(pcm, sample_rate=sr)).max() <= 1.0
    # as the same samples read from a file
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, pcm, sr, format="WAV", subtype="PCM_16")
    buf.seek(0)
    from_file, _ = sf.read(buf, dtype="float32")
    np.testing.assert_array_equal(prepare_signal(pcm, sample_rate=sr),
                                  prepare_signal(from_file, sample_rate=sr))


@pytest.mark.parametrize("samples, message", [
    (np.array([[1e13, 0.0], [0.0, 0.0]]), "out of range"),  # 2-D: checked before the downmix
    (np.array([0.0, 1e13]), "out of range"),
    (np.array([[np.nan, 0.0], [0.0, 0.0]]), "NaN"),
    (np.array([1 + 1j, 0j]), "real numbers"),
])
def test_signal_range_checked_on_every_path(samples, message):
    with pytest.raises(diarize.AudioError, match=message):
        diarize.Diarizer()((samples, 16000))


# ---------------------------------------------------------------------- docstrings
def _public_without_docstring() -> list[str]:
    """Public functions, classes and methods of the package (no leading underscore, defined
    in the module) that have no docstring."""
    import inspect
    import pkgutil

    import diarize

    missing = []
    for info in pkgutil.walk_packages(diarize.__path__, "diarize."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            members = [(name, obj)] + ([(f"{name}.{k}", v) for k, v in vars(obj).items()
                                        if not k.startswith("_") and inspect.isfunction(v)]
                                       if inspect.isclass(obj) else [])
            missing += [f"{module.__name__}.{n}" for n, o in members
                        if not (o.__doc__ or "").strip()]
    return missing


def test_every_public_function_class_and_method_has_a_docstring():
    missing = _public_without_docstring()
    assert not missing, "no docstring: " + ", ".join(missing)
