"""Speech detection's second pass with models adapted to the recording (sad.adapt)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import EVAL, FIXTURES, needs_eval
from diarize.audio import load_audio
from diarize.config import Config, SadConfig, config_from_dict
from diarize.errors import ConfigError
from diarize.features import mfcc
from diarize.sad import (adaptation_frames, adapted_llr, detect_speech_regions, model_llr,
                         _decide)

#: Seconds per frame of _features.
STEP = Config().features.hop_length


def _features(path):
    cfg = Config()
    y = load_audio(path, config=cfg.audio)
    return mfcc(y, sample_rate=cfg.audio.sample_rate, config=cfg.features, voicing=True)


def _first_pass(feats, energy, voicing, cfg):
    llr, mask = _decide(model_llr(feats, energy, voicing, config=cfg), energy, cfg=cfg,
                        frame_step=0.01)
    return llr, mask


# ------------------------------------------------------------- which frames adapt

def test_adaptation_frames_keep_away_from_boundaries_and_digital_silence():
    n = 1000
    mask = np.zeros(n, bool)
    mask[300:700] = True
    llr = np.where(mask, 10.0, -10.0) + np.linspace(0.0, 1.0, n)
    energy = np.full(n, -40.0)
    energy[:100] = -120.0  # digital silence: never a model's business
    cfg = SadConfig(adapt=True, adapt_speech_fraction=1.0, adapt_nonspeech_fraction=1.0)
    sp, ns = adaptation_frames(llr, mask, energy, config=cfg, frame_step=0.01)
    assert not (sp & ns).any()
    assert sp.any() and ns.any()
    assert not sp[~mask].any() and not ns[mask].any()
    # 0.5 s window: nothing within 50 frames of a boundary on either side
    assert not sp[:350].any() and not sp[650:].any() and sp[350:650].all()
    assert not ns[250:750].any() and ns[750:].all() and ns[100:250].all()
    assert not ns[:100].any()


def test_adaptation_fractions_pick_the_extremes():
    n = 2000
    mask = np.zeros(n, bool)
    mask[1000:] = True
    rng = np.random.default_rng(0)
    llr = np.where(mask, 5.0, -5.0) + rng.normal(size=n)
    energy = np.full(n, -40.0)
    cfg = SadConfig(adapt=True, adapt_speech_fraction=0.1, adapt_nonspeech_fraction=0.0)
    sp, ns = adaptation_frames(llr, mask, energy, config=cfg, frame_step=0.01)
    assert not ns.any()
    assert 0 < sp.sum() <= 0.1 * n + 1
    assert llr[sp].min() >= np.quantile(llr, 0.9) - 1e-12


def test_non_speech_share_is_of_the_recording_or_of_its_non_speech():
    # dense speech: 80 % of the frames; a share of the recording reaches far into the
    # non-speech, the same share of the non-speech stays at its quietest
    n = 5000
    mask = np.zeros(n, bool)
    mask[500:4500] = True
    rng = np.random.default_rng(1)
    llr = np.where(mask, 5.0, -5.0) + rng.normal(size=n)
    energy = np.full(n, -40.0)
    whole = SadConfig(adapt=True, adapt_nonspeech_fraction=0.1, adapt_nonspeech_scope="recording")
    part = SadConfig(adapt=True, adapt_nonspeech_fraction=0.1, adapt_nonspeech_scope="nonspeech")
    _, ns_whole = adaptation_frames(llr, mask, energy, config=whole, frame_step=0.01)
    _, ns_part = adaptation_frames(llr, mask, energy, config=part, frame_step=0.01)
    outer = np.ones(n, bool)
    outer[450:4550] = False  # 0.5 s window: 50 frames on either side of the speech
    assert not ns_part[~outer].any() and not ns_whole[~outer].any()
    # the recording's lowest 10 % (500 frames) are nearly all inside its 900 outer frames
    assert 450 <= ns_whole.sum() <= 500
    assert abs(int(ns_part.sum()) - 90) <= 1
    assert llr[ns_part].max() <= np.quantile(llr[outer], 0.1) + 1e-12
    # the non-speech share takes the outer frames' quietest: a subset of the other
    assert not (ns_part & ~ns_whole).any()


def test_non_speech_scope_is_checked():
    with pytest.raises(ConfigError, match="adapt_nonspeech_scope"):
        config_from_dict({"sad": {"adapt_nonspeech_scope": "pauses"}}, source="t")


def test_adapt_ranges_are_checked():
    for key, value in (("adapt_speech_fraction", 1.5), ("adapt_nonspeech_fraction", -0.1),
                       ("adapt_relevance", -1.0)):
        with pytest.raises(ConfigError, match=key):
            config_from_dict({"sad": {key: value}}, source="t")


# ------------------------------------------------------------- the adapted ratio

@pytest.mark.skipif(not FIXTURES.is_dir(), reason="audio_fixtures/ is absent")
def test_no_confident_frames_leave_the_ratio_unchanged():
    feats, energy, voicing = _features(sorted(FIXTURES.glob("*.wav"))[0])
    cfg = SadConfig(adapt=True, adapt_speech_fraction=0.0, adapt_nonspeech_fraction=0.0)
    llr, mask = _first_pass(feats, energy, voicing, cfg)
    np.testing.assert_array_equal(adapted_llr(feats, energy, voicing, llr, mask, config=cfg,
                                              frame_step=STEP),
                                  model_llr(feats, energy, voicing, config=cfg))


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="audio_fixtures/ is absent")
def test_adapting_non_speech_lowers_the_ratio_of_its_frames_and_is_deterministic():
    feats, energy, voicing = _features(sorted(FIXTURES.glob("*.wav"))[0])
    cfg = SadConfig(adapt=True, adapt_speech_fraction=0.0, adapt_nonspeech_fraction=0.2)
    llr, mask = _first_pass(feats, energy, voicing, cfg)
    _, ns = adaptation_frames(llr, mask, energy, config=cfg, frame_step=0.01)
    assert ns.sum() > 50
    before = model_llr(feats, energy, voicing, config=cfg)
    after = adapted_llr(feats, energy, voicing, llr, mask, config=cfg, frame_step=STEP)
    assert after[ns].mean() < before[ns].mean()
    np.testing.assert_array_equal(after, adapted_llr(feats, energy, voicing, llr, mask,
                                                     config=cfg, frame_step=STEP))


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="audio_fixtures/ is absent")
def test_modelling_keeps_the_first_pass_whether_or_not_adapting():
    feats, energy, voicing = _features(sorted(FIXTURES.glob("*.wav"))[0])
    assert SadConfig().adapt is True
    a = detect_speech_regions(feats, energy, voicing, config=SadConfig(), frame_step=STEP)
    b = detect_speech_regions(feats, energy, voicing, config=SadConfig(adapt=True),
                              frame_step=STEP)
    c = detect_speech_regions(feats, energy, voicing, config=SadConfig(adapt=False),
                              frame_step=STEP)
    np.testing.assert_array_equal(a.speech, b.speech)
    np.testing.assert_array_equal(a.modelled, c.modelled)
    np.testing.assert_array_equal(b.modelled, c.modelled)
    assert b.speech.shape == c.speech.shape


@needs_eval("real", "trn01.wav")
def test_non_speech_adaptation_rejects_the_noise_of_an_ami_clip():
    # trn01: 30 s of meeting room with 3.3 s of speech; the shipped model finds its noise
    # speech-like, the recording's own non-speech model does not.
    feats, energy, voicing = _features(EVAL / "real" / "trn01.wav")
    one = detect_speech_regions(feats, energy, voicing, config=SadConfig(adapt=False),
                                frame_step=STEP)
    two = detect_speech_regions(feats, energy, voicing, config=SadConfig(adapt=True),
                                frame_step=STEP)
    assert two.speech.sum() < 0.5 * one.speech.sum()
    # speaker modelling keeps the first pass
    np.testing.assert_array_equal(two.modelled, one.modelled)
