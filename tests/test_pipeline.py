"""Each stage on its own, and the whole pipeline against loose accuracy floors.

The floors are far below what the benchmark measures (see README), so they only fail on
a real regression; accuracy itself is measured by scripts/benchmark.py.
"""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from diarize.audio import load_audio
from diarize.cluster import agglomerative_bic, chunk_speech
from diarize.config import ClusterConfig, FeatureConfig, ResegConfig
from diarize.features import add_deltas, cmvn, mel_filterbank, mfcc
from diarize.rttm import read_rttm, read_uem
from diarize.metrics import evaluate
from diarize.pipeline import Diarizer
from diarize.resegment import resegment, viterbi
from conftest import EVAL

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "audio_fixtures"
SR = 16000


# ----------------------------------------------------------------------------- audio
def test_load_audio_downmixes_and_resamples(tmp_path):
    t = np.arange(44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t)], axis=1)
    path = tmp_path / "s.wav"
    sf.write(path, 0.5 * stereo, 44100, subtype="PCM_24")
    y = load_audio(path, block_seconds=0.1)  # many blocks: the streaming resampler path
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - SR) <= 2
    # the tone survives resampling: its level is 0.5 / sqrt(2) RMS
    assert np.sqrt(np.mean(y[1000:-1000] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)
    spectrum = np.abs(np.fft.rfft(y))
    assert np.argmax(spectrum) * SR / len(y) == pytest.approx(440, abs=2)


# ----------------------------------------------------------------------------- features
def test_mfcc_shapes_and_dtypes():
    y = np.random.default_rng(0).standard_normal(SR * 2).astype(np.float32) * 0.1
    feats, energy, _ = mfcc(y, sample_rate=SR, config=FeatureConfig())
    assert feats.shape == (200, 20) and feats.dtype == np.float32
    assert energy.shape == (200,) and energy.dtype == np.float32
    # white noise of RMS 0.1 is -20 dBFS
    assert np.median(energy) == pytest.approx(-20, abs=1)
    assert add_deltas(feats, width=9).shape == (200, 40)
    z = cmvn(feats)
    assert np.allclose(z.mean(0), 0, atol=1e-4) and np.allclose(z.std(0), 1, atol=1e-3)


@pytest.mark.slow
def test_mel_filterbank_is_librosas():
    librosa = pytest.importorskip("librosa")
    for sr, n_fft, n_mels, fmin, fmax in [(16000, 512, 40, 20, 7600), (16000, 512, 40, 200, 3700)]:
        ours = mel_filterbank(sample_rate=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
        theirs = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
        np.testing.assert_array_equal(ours, theirs)  # bit-identical


# ----------------------------------------------------------------------------- clustering
def test_chunks_cover_the_speech_frames():
    mask = np.zeros(1000, dtype=bool)
    mask[10:60] = mask[100:120] = mask[200:800] = True
    chunks = chunk_speech(mask, chunk_frames=100, max_chunks=2000)
    assert chunks[0, 0] == 0 and chunks[-1, 1] == mask.sum()
    assert (chunks[1:, 0] == chunks[:-1, 1]).all() and (np.diff(chunks, axis=1) > 0).all()


def test_bic_clustering_finds_two_sources():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3000, 8)) + 3.0
    b = rng.standard_normal((3000, 8)) * 1.5 - 3.0
    # alternating 5-s turns of two sources
    x = np.concatenate([a[:500], b[:500], a[500:1000], b[500:1000], a[1000:1500], b[1000:1500]])
    chunks = chunk_speech(np.ones(len(x), bool), chunk_frames=100, max_chunks=2000)
    res = agglomerative_bic(x.astype(np.float32), chunks, config=ClusterConfig(), frame_step=0.01)
    labels = np.repeat(res.chunk_labels, np.diff(chunks, axis=1)[:, 0])
    assert len(np.unique(labels)) == 2
    truth = np.repeat([0, 1, 0, 1, 0, 1], 500)
    assert (labels == truth).all() or (labels == 1 - truth).all()
    assert set(res.bic) >= {1, 2}


def test_viterbi_respects_minimum_run():
    ll = np.zeros((40, 2))
    ll[:, 0] = 1.0
    ll[20:22, 1] = 2.0  # a two-block blip of speaker 1: +2 over speaker 0, minus 1 in switches
    assert (viterbi(ll, switch_penalty=0.5, min_blocks=1)[20:22] == 1).all()
    # a 5-block run would cost 3 more blocks at -1 each: not worth it
    assert (viterbi(ll, switch_penalty=0.5, min_blocks=5) == 0).all()
    ll[20:22, 1] = 5.0  # worth it now (+8 - 3 - 1): exactly the minimum run
    path = viterbi(ll, switch_penalty=0.5, min_blocks=5)
    assert path.sum() == 5 and (path[20:22] == 1).all()


def test_resegmentation_fixes_a_wrong_boundary():
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.standard_normal((800, 6)) + 2, rng.standard_normal((800, 6)) - 2])
    labels = np.repeat([0, 1], [600, 1000])  # the boundary is 2 s too early
    out = resegment(x.astype(np.float32), labels, config=ResegConfig(), frame_step=0.01)
    assert abs(np.flatnonzero(np.diff(out.labels))[0] + 1 - 800) <= 10
    assert out.posteriors.shape == (1600, 2)
    assert np.allclose(out.posteriors.sum(1), 1, atol=1e-5)


# ----------------------------------------------------------------------------- pipeline
def test_silence_and_a_tone_give_no_turns():
    from diarize.errors import NoSpeechWarning

    t = np.arange(SR * 5) / SR
    for y in (np.zeros(SR * 5, np.float32), 0.3 * np.sin(2 * np.pi * 1000 * t)):
        with pytest.warns(NoSpeechWarning, match="no speech"):  # and says so
            assert len(Diarizer()((y, SR))) == 0


def _fair_der(ref_path, hyp, uem_path=None):
    ref = read_rttm(ref_path)
    uem = read_uem(uem_path) if uem_path and Path(uem_path).exists() else None
    key = next(iter(ref))
    return evaluate(ref, {key: hyp.turns}, uem=uem, collar=0.25, skip_overlap=True).total


@pytest.mark.slow
@pytest.mark.parametrize("name, floor", [("two_speakers", 20.0), ("three_speakers", 20.0)])
def test_accuracy_floor_on_fixtures(name, floor):
    # The quick start's promise: the shipped conversations get the right speaker count.
    result = Diarizer()(FIXTURES / f"{name}.wav")
    score = _fair_der(FIXTURES / f"{name}.rttm", result)
    assert score.der < floor
    ref_speakers = {turn.speaker for turns in read_rttm(FIXTURES / f"{name}.rttm").values()
                    for turn in turns}
    assert len(result.speakers) == len(ref_speakers)


@pytest.mark.slow
def test_known_count_is_honoured():
    result = Diarizer(num_speakers=2)(FIXTURES / "three_speakers.wav")
    assert len(result.speakers) == 2


@pytest.mark.skipif(not EVAL.is_dir(), reason="../shared/eval not present")
@pytest.mark.parametrize("name, floor", [("sim/dev014.flac", 15.0), ("sim/dev009.flac", 15.0),
                                         ("real/falcon-test.wav", 25.0),
                                         ("real/diarizationExample.wav", 20.0)])
@pytest.mark.slow
def test_accuracy_floor_on_shared_data(name, floor):
    path = EVAL / name
    result = Diarizer()(path)
    stem = path.with_suffix("")
    score = _fair_der(stem.with_suffix(".rttm"), result, stem.with_suffix(".uem"))
    assert score.der < floor


@pytest.mark.parametrize("overrides", [
    {},
    {"cluster__link_method": "ubm"},
    # a decoder that switches speaker freely leaves slivers everywhere
    {"reseg__switch_penalty": 0.0, "reseg__block_frames": 1, "reseg__decoder_min_turn": 0.0},
    {"reseg__min_output_turn": 1.0},
])
@pytest.mark.slow
def test_no_turn_shorter_than_min_output_turn(overrides):
    diarizer = Diarizer(**overrides)
    result = diarizer(FIXTURES / "two_speakers.wav")
    shortest = diarizer.config.reseg.min_output_turn
    assert shortest > 0 and result.turns
    for turn in result.turns:
        assert turn.end - turn.start >= shortest - 1e-9, turn
    # turns of one speaker do not overlap or touch (a touching pair would be one turn)
    for spk in {t.speaker for t in result.turns}:
        own = sorted((t.start, t.end) for t in result.turns if t.speaker == spk)
        assert all(b[0] > a[1] for a, b in zip(own, own[1:]))


# --- cluster.link_level_db: which speech frames speaker linking models ------------------

def test_loud_frames_are_those_near_the_loudest_around_them():
    from diarize.config import Config
    from diarize.pipeline import _loud_frames

    # 1 s of loud speech at -20 dB, its tail fading 1 dB per frame, then quiet speech
    # at -50 dB far from it: the tail's frames more than 20 dB down are left out, the
    # quiet speech is judged against its own neighbourhood and kept.
    energy = np.concatenate([np.full(100, -20.0), -20.0 - np.arange(1, 41),
                             np.full(200, -90.0), np.full(100, -50.0)])
    idx = np.arange(len(energy))
    cfg = Config().replace(**{"cluster.link_level_db": 20.0,
                              "cluster.link_level_window": 1.0})
    loud = _loud_frames(energy, idx, config=cfg)
    assert loud is not None and loud.shape == idx.shape
    assert loud[:120].all()                # within 20 dB of the loud speech
    assert not loud[121:140].any()         # the tail beyond 20 dB
    assert loud[-50:].all()                # quiet speech, alone in its window
    # only the given frames are answered for
    assert np.array_equal(_loud_frames(energy, idx[::3], config=cfg), loud[::3])
    # a gain moves every frame alike and changes nothing
    assert np.array_equal(_loud_frames(energy - 17.0, idx, config=cfg), loud)
    # off: every frame
    assert _loud_frames(energy, idx, config=Config()) is None


# --- features.band_floor: speaker modelling on band-floored cepstra -----------------------

def test_band_floor_changes_nothing_where_the_voices_stand_above_every_band():
    from diarize.config import Config

    plain = Diarizer()
    floored = Diarizer(Config().replace(**{"features.band_floor": True}))
    a = plain.extract(FIXTURES / "two_speakers.wav")
    b = floored.extract(FIXTURES / "two_speakers.wav")
    np.testing.assert_array_equal(b.mfcc, a.mfcc)
    assert b.ubm_mfcc is None
    assert plain.diarize_features(a).turns == floored.diarize_features(b).turns


def test_band_floor_reaches_speaker_modelling_and_not_the_speech_detector():
    from diarize.config import Config

    plain = Diarizer()
    # every band floored (the fixture's voices stand above its noise in every band)
    floored = Diarizer(Config().replace(**{"features.band_floor": True,
                                           "features.band_floor_range_db": 1000.0}))
    a = plain.extract(FIXTURES / "two_speakers.wav")
    b = floored.extract(FIXTURES / "two_speakers.wav")
    # the detector reads the cepstra it was trained on; the speaker stages the floored ones
    np.testing.assert_array_equal(b.sad_mfcc, a.mfcc)
    np.testing.assert_array_equal(b.energy, a.energy)
    np.testing.assert_array_equal(b.voicing, a.voicing)
    assert b.mfcc.shape == a.mfcc.shape and np.abs(b.mfcc - a.mfcc).max() > 0.1
    assert b.front_end != a.front_end
    # linking and naming read the UBM's front end as it was trained: the plain cepstra
    assert a.ubm_mfcc is None
    np.testing.assert_array_equal(b.ubm_mfcc, a.mfcc)
    front = floored.front_end
    assert front.sad_features is None and front.ubm_features is None
    result = floored.diarize_features(b)
    assert result.turns


def test_band_floor_leaves_separate_detector_and_ubm_streams_plain():
    from diarize.config import load_config

    # the telephone preset narrows the filterbank: the detector and the UBM get streams
    # of their own, which the band floor must not reach
    plain = Diarizer(load_config(preset="telephone"))
    floored = Diarizer(load_config(preset="telephone").replace(
        **{"features.band_floor": True, "features.band_floor_range_db": 1000.0}))
    assert floored.front_end.sad_features is not None
    assert floored.front_end.ubm_features is not None
    assert not floored.front_end.sad_features.band_floor
    assert not floored.front_end.ubm_features.band_floor
    a = plain.extract(FIXTURES / "two_speakers.wav")
    b = floored.extract(FIXTURES / "two_speakers.wav")
    np.testing.assert_array_equal(b.sad_mfcc, a.sad_mfcc)
    np.testing.assert_array_equal(b.ubm_mfcc, a.ubm_mfcc)
    assert np.abs(b.mfcc - a.mfcc).max() > 0.1
