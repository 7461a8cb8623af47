"""scripts/train_sad.py's examples (the training itself is measured by the scripts, not here)."""

from pathlib import Path

import numpy as np
import pytest

from conftest import script_module

FIXTURE = Path(__file__).resolve().parents[1] / "audio_fixtures" / "two_speakers.wav"


def test_high_voice_examples_keep_the_timing_and_change_the_voice():
    with script_module("train_sad.py", "train_sad_under_test") as ts:
        x, lab = ts.speech_example((0, str(FIXTURE), 0, 0))
        xh, labh = ts.speech_example((0, str(FIXTURE), 0, 0, True))
        again, _ = ts.speech_example((0, str(FIXTURE), 0, 0, True))
    # the shift keeps the duration, so the frames and their speech labels line up
    assert abs(len(xh) - len(x)) <= 1
    n = min(len(lab), len(labh))
    assert np.mean(lab[:n] == labh[:n]) > 0.8
    # but not the voice, and the same arguments give the same example
    assert not np.allclose(xh[:n], x[:n])
    np.testing.assert_array_equal(again, xh)


def test_channel_examples_change_only_when_asked():
    with script_module("train_sad.py", "train_sad_under_test") as ts:
        plain, lab = ts.speech_example((0, str(FIXTURE), 0, 0))
        chan, lab_c = ts.speech_example((0, str(FIXTURE), 0, 0), channel_prob=1.0)
        again, _ = ts.speech_example((0, str(FIXTURE), 0, 0), channel_prob=1.0)
        off, _ = ts.speech_example((0, str(FIXTURE), 0, 0), channel_prob=0.0)
    # the channel changes the features, not the timing or the labels
    np.testing.assert_array_equal(lab_c, lab)
    assert not np.allclose(chan, plain)
    np.testing.assert_array_equal(again, chan)
    # and without it the example is the one it was
    np.testing.assert_array_equal(off, plain)


def test_channel_keeps_the_rms():
    with script_module("train_sad.py", "train_sad_under_test") as ts:
        y = np.random.default_rng(1).standard_normal(16000)
        for seed in range(6):  # both kinds of channel
            out = ts.channel(np.random.default_rng(seed), y)
            assert np.sqrt(np.mean(out ** 2)) == pytest.approx(np.sqrt(np.mean(y ** 2)))


def _train_dir(tmp_path):
    import soundfile as sf

    y, sr = sf.read(FIXTURE)
    d = tmp_path / "train"
    d.mkdir()
    sf.write(d / "a.flac", y, sr)
    return d


def test_the_frame_cache_keeps_its_recipe_and_refuses_another(tmp_path):
    with script_module("train_sad.py", "train_sad_under_test") as ts:
        files = [Path("a.flac"), Path("b.flac")]
        ap = ts.argparse.Namespace(copies=3, nonspeech_clips=400, conversations=400,
                                   synthetic_voices=100, high_voices=0, channel_prob=0.0,
                                   seed=0)
        recipe = ts.frames_recipe(ap, files)
        x, y = np.arange(12.0).reshape(6, 2), np.array([1, 0, 1, 1, 0, 0], bool)
        cache = tmp_path / "frames.npz"
        ts.write_cache(cache, x, y, recipe)
        assert not list(tmp_path.glob("*.tmp*"))  # written whole, then renamed
        got_x, got_y = ts.read_cache(cache, recipe)
        np.testing.assert_array_equal(got_x, x)
        np.testing.assert_array_equal(got_y, y)
        # another channel probability: refused, naming the option and both values
        ap.channel_prob = 0.3
        with pytest.raises(ValueError, match=r"--channel-prob 0.0 \(now 0.3\)"):
            ts.read_cache(cache, ts.frames_recipe(ap, files))
        ap.channel_prob = 0.0
        with pytest.raises(ValueError, match="other utterances"):
            ts.read_cache(cache, ts.frames_recipe(ap, files[:1]))
        # a cache of an older version (no recipe), and a file that is no cache
        np.savez(tmp_path / "old.npz", x=x, y=y)
        with pytest.raises(ValueError, match="older version"):
            ts.read_cache(tmp_path / "old.npz", recipe)
        (tmp_path / "junk.npz").write_bytes(b"not an npz")
        with pytest.raises(ValueError, match="not a training-frame cache"):
            ts.read_cache(tmp_path / "junk.npz", recipe)


def test_training_refuses_a_cache_made_with_other_options(tmp_path, capsys):
    train = _train_dir(tmp_path)
    with script_module("train_sad.py", "train_sad_under_test") as ts:
        ap = ts.argparse.Namespace(copies=3, nonspeech_clips=400, conversations=400,
                                   synthetic_voices=100, high_voices=0, channel_prob=0.0,
                                   seed=0)
        cache = tmp_path / "frames.npz"
        ts.write_cache(cache, np.zeros((2, 2)), np.zeros(2, bool),
                       ts.frames_recipe(ap, [train / "a.flac"]))
        out = tmp_path / "model.npz"
        rc = ts.main(["--train-dir", str(train), "--out", str(out), "--cache", str(cache),
                      "--channel-prob", "0.5"])
    assert rc == 2
    err = capsys.readouterr().err
    assert str(cache) in err and "--channel-prob 0.0 (now 0.5)" in err
    assert not out.exists()
