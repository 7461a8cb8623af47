"""Train the speech/non-speech GMMs of ``sad.method = "model"``.

    python scripts/train_sad.py [--train-dir ../shared/train/speech] [--out diarize/data/sad_model.npz]

Material (all synthesised from the read-speech utterances, deterministic for a seed):

* each utterance, ``--copies`` times: silent lead-in/out of 0-2 s, maybe synthetic
  reverberation, additive noise (coloured noise of random spectral slope, hum with
  harmonics, band-limited noise, tones, clicks/bursts, at SNR 0-40 dB), impulsive bursts up to
  10 dB louder than the speech, maybe a telephone channel (300-3400 Hz band-pass or an 8 kHz
  round trip), and a gain putting the speech at -50..-5 dBFS;
* synthetic voices (pulse train through moving formant resonators), augmented the same way;
* with ``--high-voices N`` (0 by default, the shipped model), N utterances shifted up 4-12
  semitones, pitch and formants together (children's and other high voices), augmented the
  same way;
* pure non-speech clips of the same kinds of noise (and digital silence, dither) at
  -90..-5 dBFS;
* conversations: 2-5 turns of different speakers with short pauses, each speaker at its
  own level (up to 30 dB below the loudest, at least 10 dB above the noise floor), as a
  meeting's microphone hears near and far talkers.

Frame labels come from the clean utterance: speech = frames within 30 dB of its loud
(95th percentile) frames, gaps under 0.2 s closed, blips under 50 ms removed; frames where
an added burst dominates are non-speech. Features are computed with the runtime code
(:func:`diarize.features.mfcc` with its voicing, then :func:`diarize.sad.model_features`),
and one diagonal GMM is fitted per class. The model is saved with ``np.savez`` (plain arrays, no pickle).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import scipy.ndimage
import scipy.signal
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
from script_args import number, whole  # noqa: E402

from diarize.config import FeatureConfig  # noqa: E402
from diarize.features import mfcc  # noqa: E402
from diarize.gmm import GaussianMixture  # noqa: E402
from diarize.names import replace_atomically  # noqa: E402
from diarize.sad import model_features  # noqa: E402

SR = 16000
HOP = 160
#: Range of the upward shift (semitones) of ``--high-voices`` examples: an octave up takes
#: an adult's read speech near a child's pitch.
HIGH_SEMITONES = (4.0, 12.0)
#: Largest level difference (dB) between the speakers of a conversation example.
CONV_RANGE_DB = 30.0


# ----------------------------------------------------------------------------- noises
def coloured(rng, n):
    """Gaussian noise with power spectrum ~ f**alpha (alpha in [-2, 0.5]: brown..white..blue)."""
    alpha = rng.choice([0.0, -1.0, -2.0, rng.uniform(-2.0, 0.5)])
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    f[0] = f[1]
    spec *= f ** (alpha / 2)
    return np.fft.irfft(spec, n)


def bandlimited(rng, n):
    lo = rng.uniform(50, 3000)
    hi = min(7900, lo * rng.uniform(1.3, 6))
    sos = scipy.signal.butter(4, [lo, hi], btype="band", fs=SR, output="sos")
    return scipy.signal.sosfilt(sos, rng.standard_normal(n))


def hum(rng, n):
    f0 = rng.choice([50.0, 60.0])
    t = np.arange(n) / SR
    y = np.zeros(n)
    for k in range(1, int(rng.integers(2, 15))):
        y += rng.uniform(0, 1) / k ** rng.uniform(0, 1.5) * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3))
    return y + 0.01 * rng.standard_normal(n) * np.std(y)


def tone(rng, n):
    t = np.arange(n) / SR
    y = np.sin(2 * np.pi * rng.uniform(100, 4000) * t)
    if rng.random() < 0.5:  # beeps
        on = (np.sin(2 * np.pi * rng.uniform(0.5, 4) * t) > rng.uniform(-0.5, 0.5))
        y *= on
    return y + 1e-3 * rng.standard_normal(n)


def bursts(rng, n, background=0.01):
    """Clicks, knocks and short noise bursts over a faint background."""
    y = background * rng.standard_normal(n)
    for _ in range(int(rng.integers(1, 2 + n // SR * 2))):
        length = int(rng.uniform(0.002, 0.15) * SR)
        at = int(rng.integers(0, max(1, n - length)))
        b = rng.standard_normal(length) * np.exp(-np.arange(length) / (length * rng.uniform(0.1, 0.5)))
        if rng.random() < 0.5:
            sos = scipy.signal.butter(2, rng.uniform(200, 4000), btype=rng.choice(["low", "high"]),
                                      fs=SR, output="sos")
            b = scipy.signal.sosfilt(sos, b)
        y[at:at + length] += rng.uniform(0.3, 1.0) * b / (np.max(np.abs(b)) + 1e-12)
    return y


NOISES = [coloured, coloured, bandlimited, hum, tone, bursts]


def noise(rng, n):
    y = NOISES[int(rng.integers(len(NOISES)))](rng, n)
    if rng.random() < 0.3:  # mixture of two kinds
        z = NOISES[int(rng.integers(len(NOISES)))](rng, n)
        y = y / (np.std(y) + 1e-12) + rng.uniform(0.1, 1) * z / (np.std(z) + 1e-12)
    return y / (np.sqrt(np.mean(y ** 2)) + 1e-12)


def reverb(rng, y):
    rt60 = rng.uniform(0.2, 0.8)
    n = int(rt60 * SR)
    ir = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
    ir[0] = rng.uniform(1, 5)
    out = scipy.signal.fftconvolve(y, ir)[: len(y)]
    return out / (np.std(out) + 1e-12) * np.std(y)


def telephone(rng, y):
    if rng.random() < 0.5:
        sos = scipy.signal.butter(4, [300, 3400], btype="band", fs=SR, output="sos")
        return scipy.signal.sosfilt(sos, y)
    return scipy.signal.resample_poly(scipy.signal.resample_poly(y, 1, 2), 2, 1)[: len(y)]


def channel(rng, y):
    """A random microphone response at the same RMS: a first-order tilt (1 - a z^-1, a in
    [-0.9, 0.97]: low or high frequencies raised) or a 4th-order low-pass at 2-7 kHz."""
    rms = np.sqrt(np.mean(y ** 2)) + 1e-12
    if rng.random() < 0.5:
        out = scipy.signal.lfilter([1.0, -rng.uniform(-0.9, 0.97)], [1.0], y)
    else:
        sos = scipy.signal.butter(4, rng.uniform(2000, 7000), btype="low", fs=SR, output="sos")
        out = scipy.signal.sosfilt(sos, y)
    return out * rms / (np.sqrt(np.mean(out ** 2)) + 1e-12)


def maybe_channel(y, key, prob):
    """`y` through a random channel with probability `prob` (``--channel-prob``), drawn from
    a generator of its own (`key`), so that the examples are otherwise the ones they would
    be without."""
    if prob <= 0:
        return y
    rng = np.random.default_rng([*key, 3])
    return channel(rng, y) if rng.random() < prob else y


def db(x):
    return 10 * np.log10(np.mean(np.square(x)) + 1e-20)


def synthetic_voice(rng, seconds):
    """Source-filter vowel chains: a jittered glottal pulse train (F0 80-300 Hz, moving
    contour) through three formant resonators re-drawn every syllable (100-300 ms), with
    syllable envelopes and word pauses. Stands in for voices unlike the read speech
    (synthetic voices in the test fixtures, singing-like vowels)."""
    n = int(seconds * SR)
    f0_mean = rng.uniform(80, 300)
    knots = max(2, int(seconds * rng.uniform(2, 6)))
    f0 = np.interp(np.arange(n), np.linspace(0, n, knots),
                   f0_mean * np.exp(rng.uniform(0.05, 0.2) * rng.standard_normal(knots)))
    f0 *= 1 + 0.01 * rng.standard_normal(n)
    pulses = np.diff(np.floor(np.cumsum(f0 / SR)), prepend=0.0)
    source = scipy.signal.lfilter([1.0], [1.0, -rng.uniform(0.9, 0.99)], pulses)
    source += rng.uniform(0.005, 0.05) * rng.standard_normal(n)
    out = np.zeros(n)
    a = 0
    while a < n:
        b = min(n, a + int(rng.uniform(0.1, 0.3) * SR))
        x = source[a:b]
        for lo, hi, bw in ((250, 900, 80), (800, 2500, 110), (2000, 3500, 150)):
            r = np.exp(-np.pi * bw * rng.uniform(0.7, 1.5) / SR)
            f = rng.uniform(lo, hi)
            x = scipy.signal.lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / SR), r * r], x)
        out[a:b] = x * np.sin(np.linspace(0, np.pi, b - a)) ** rng.uniform(0.3, 1.0)
        a = b
        if rng.random() < 0.15:  # word/phrase pause
            a += int(rng.uniform(0.1, 0.6) * SR)
    return out / (np.max(np.abs(out)) + 1e-9) * 0.3


# ----------------------------------------------------------------------------- examples
def clean_labels(energy):
    e = energy
    speech = e > np.percentile(e, 95) - 30.0
    speech = scipy.ndimage.binary_closing(speech, np.ones(21, bool), border_value=0) | speech
    speech = scipy.ndimage.binary_opening(speech, np.ones(5, bool))
    return speech


def speech_level(y, lab):
    """Level (dB) of `y` over its speech frames (`lab`, one per HOP samples), or over all of
    it when no frame is speech."""
    return db(y[: len(lab) * HOP].reshape(-1, HOP)[lab]) if lab.any() else db(y)


def model_input(y):
    """The speech model's features of a float32 signal, as the pipeline computes them."""
    feats, energy, voicing = mfcc(y, sample_rate=SR, config=FeatureConfig(), voicing=True)
    return model_features(feats, energy, voicing)


def speech_example(args, channel_prob=0.0):
    index, path, copy, seed, *rest = args
    high = bool(rest and rest[0])  # (..., True): a --high-voices example
    rng = np.random.default_rng([seed, copy, index])
    if path is None:
        y = synthetic_voice(rng, rng.uniform(3, 10))
    else:
        y, sr = sf.read(path, dtype="float64")
        assert sr == SR, path
    if high:
        # a higher voice: pitch and formants raised together (a shorter vocal tract, as a
        # child's), the read speech shifted up by 4-12 semitones
        import librosa

        # its own draw, so the example is otherwise the one this utterance would give
        shift = np.random.default_rng([seed, copy, index, 1]).uniform(*HIGH_SEMITONES)
        y = librosa.effects.pitch_shift(y, sr=SR, n_steps=float(shift))
    fcfg = FeatureConfig()
    e_clean = mfcc(y.astype(np.float32), sample_rate=SR, config=fcfg).energy
    lab = clean_labels(e_clean)
    pre = 0 if rng.random() < 0.2 else int(rng.uniform(0, 2) * SR) // HOP * HOP
    post = 0 if rng.random() < 0.2 else int(rng.uniform(0, 2) * SR) // HOP * HOP
    y = np.concatenate([np.zeros(pre), y, np.zeros(post)])
    lab = np.concatenate([np.zeros(pre // HOP, bool), lab, np.zeros(post // HOP, bool)])
    if rng.random() < 0.3:
        y = reverb(rng, y)
    speech_db = speech_level(y, lab)
    if rng.random() < 0.85:
        snr = rng.uniform(0, 40)
        nz = noise(rng, len(y))
        y = y + nz * 10 ** ((speech_db - snr) / 20)
    else:
        y = y + rng.standard_normal(len(y)) * 10 ** ((speech_db - rng.uniform(50, 70)) / 20)
    if rng.random() < 0.3:
        b = bursts(rng, len(y), background=0.0)
        b *= 10 ** ((speech_db + rng.uniform(-10, 10)) / 20) / (np.sqrt(np.mean(b[b != 0] ** 2)) + 1e-12)
        y = y + b
    if rng.random() < 0.25:
        y = telephone(rng, y)
    y = maybe_channel(y, (seed, copy, index), channel_prob)
    level = rng.uniform(-50, -5)
    y = y * 10 ** ((level - speech_db) / 20)
    x = model_input(np.clip(y, -1, 1).astype(np.float32))
    n = min(len(x), len(lab))
    # Labels come from the clean speech alone: a burst landing in a pause is non-speech.
    return x[:n], lab[:n]


def conversation_example(args, channel_prob=0.0):
    """Several speakers taking turns at different levels, as a meeting's microphones hear
    them: a quiet, distant speaker is still speech when it stands out from the noise floor,
    even 30 dB below the loudest one (single read utterances never show the model that)."""
    index, files, seed = args
    rng = np.random.default_rng([seed, 2 * 10 ** 6 + index])
    fcfg = FeatureConfig()
    n_turns = int(rng.integers(2, 6))
    picks = rng.choice(len(files), size=n_turns, replace=False)
    # every speaker at least 10 dB above the noise floor, at most CONV_RANGE_DB below the loudest
    snr = rng.uniform(10, 50)
    spread = min(CONV_RANGE_DB, snr - 10)
    gains = rng.uniform(-spread, 0, size=n_turns)
    gains[int(rng.integers(n_turns))] = 0.0
    parts, labs = [], []
    for i, g in zip(picks, gains):
        y, sr = sf.read(files[i], dtype="float64")
        assert sr == SR, files[i]
        if len(y) > 8 * SR:  # a turn, not a whole utterance
            a = int(rng.integers(0, len(y) - 4 * SR)) // HOP * HOP
            y = y[a:a + int(rng.uniform(1, 8) * SR) // HOP * HOP]
        y = y[: len(y) // HOP * HOP]
        e_clean = mfcc(y.astype(np.float32), sample_rate=SR, config=fcfg).energy
        lab = clean_labels(e_clean)  # one label per HOP samples of y
        parts.append(y * 10 ** ((g - speech_level(y, lab)) / 20))
        labs.append(lab)
        gap = int(rng.uniform(0.1, 1.5) * SR) // HOP * HOP
        parts.append(np.zeros(gap))
        labs.append(np.zeros(gap // HOP, bool))
    y = np.concatenate(parts)
    lab = np.concatenate(labs)
    if rng.random() < 0.3:
        y = reverb(rng, y)
    # the loudest speaker is at 0 dB (power over its speech frames) before the noise
    y = y + noise(rng, len(y)) * 10 ** (-snr / 20)
    if rng.random() < 0.25:
        y = telephone(rng, y)
    y = maybe_channel(y, (seed, 2 * 10 ** 6 + index), channel_prob)
    level = rng.uniform(-50, -5)
    x = model_input(np.clip(y * 10 ** (level / 20), -1, 1).astype(np.float32))
    n = min(len(x), len(lab))
    return x[:n], lab[:n]


def nonspeech_example(args, channel_prob=0.0):
    i, seed = args
    rng = np.random.default_rng([seed, 10 ** 6 + i])
    n = int(rng.uniform(2, 6) * SR)
    kind = rng.random()
    if kind < 0.05:
        y = np.zeros(n)
    elif kind < 0.1:
        y = rng.standard_normal(n) * 10 ** (rng.uniform(-100, -80) / 20)  # dither
    else:
        y = noise(rng, n)
        if rng.random() < 0.3:
            y = y + bursts(rng, n, background=0.0) * rng.uniform(1, 10)
        if rng.random() < 0.2:
            y = telephone(rng, y)
        y = maybe_channel(y, (seed, 10 ** 6 + i), channel_prob)
        y = y / (np.sqrt(np.mean(y ** 2)) + 1e-12) * 10 ** (rng.uniform(-90, -5) / 20)
    x = model_input(np.clip(y, -1, 1).astype(np.float32))
    return x, np.zeros(len(x), bool)


# ---------------------------------------------------------------------------- cache
#: The options that decide the training frames (the rest decide only the model fitted).
FRAME_OPTIONS = ("copies", "nonspeech_clips", "conversations", "synthetic_voices",
                 "high_voices", "channel_prob", "seed")


def frames_recipe(a: argparse.Namespace, files: list[Path]) -> str:
    """What the training frames are made from, as text a cache is checked against: the
    options of :data:`FRAME_OPTIONS` and the utterances' names."""
    return json.dumps({"options": {k: getattr(a, k) for k in FRAME_OPTIONS},
                       "utterances": [f.name for f in files]}, sort_keys=True)


def read_cache(path: str | Path, recipe: str) -> tuple[np.ndarray, np.ndarray]:
    """The cached frames and labels, when they were made by `recipe`.

    Raises
    ------
    ValueError
        The cache was made with other options or utterances, by an older version (no
        recipe), or is not a cache.
    """
    try:
        with np.load(path, allow_pickle=False) as d:
            made = str(d["recipe"]) if "recipe" in d else None
            x, y = d["x"], d["y"]
    except (OSError, ValueError, KeyError, EOFError) as e:
        raise ValueError(f"not a training-frame cache ({e})") from None
    if made is None:
        raise ValueError("made without a record of its options (an older version): "
                         "delete it or give another --cache")
    if made != recipe:
        theirs, ours = json.loads(made), json.loads(recipe)
        diff = sorted(k for k in ours["options"]
                      if theirs["options"].get(k) != ours["options"][k])
        what = ", ".join(f"--{k.replace('_', '-')} {theirs['options'].get(k)} "
                         f"(now {ours['options'][k]})" for k in diff)
        if theirs["utterances"] != ours["utterances"]:
            what = ", ".join(filter(None, [what, "other utterances"]))
        raise ValueError(f"made with {what}: delete it or give another --cache")
    return x, y


def write_cache(path: str | Path, x: np.ndarray, y: np.ndarray, recipe: str) -> None:
    """Write the frames, labels and recipe to `path` atomically
    (:func:`diarize.names.replace_atomically`)."""
    replace_atomically(path, lambda f: np.savez(f, x=x, y=y, recipe=np.array(recipe)),
                       binary=True)


# ----------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-dir", default=str(ROOT.parent / "shared" / "train" / "speech"))
    ap.add_argument("--out", default=str(ROOT / "diarize" / "data" / "sad_model.npz"))
    ap.add_argument("--copies", type=whole(1), default=3, help="augmented copies per utterance")
    ap.add_argument("--nonspeech-clips", type=whole(0), default=400)
    ap.add_argument("--conversations", type=whole(0), default=400,
                    help="examples of several speakers at different levels")
    ap.add_argument("--synthetic-voices", type=whole(0), default=100,
                    help="extra speech examples from a formant synthesiser")
    ap.add_argument("--high-voices", type=whole(0), default=0,
                    help="extra speech examples: utterances shifted up 4-12 semitones "
                         "(children's and other high voices)")
    ap.add_argument("--channel-prob", type=number(0, 1), default=0.0,
                    help="share of examples passed through a random microphone channel "
                         "(a spectral tilt or a 2-7 kHz low-pass; 0: none)")
    ap.add_argument("--components", type=whole(1), default=64)
    ap.add_argument("--max-frames", type=whole(1), default=200000, help="frames per class for EM")
    ap.add_argument("--n-init", type=whole(1), default=1,
                    help="EM runs per class; the one with the best likelihood is kept")
    ap.add_argument("--seed", type=whole(0), default=0)
    ap.add_argument("--jobs", type=whole(1), default=2)
    ap.add_argument("--cache", default=None,
                    help="npz file caching the training frames, with the options that made "
                         "them (a cache made with other ones is refused)")
    a = ap.parse_args(argv)
    files = sorted(Path(a.train_dir).glob("*.flac"))
    if not files:
        print(f"no .flac files in {a.train_dir}", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    recipe = frames_recipe(a, files)
    if a.cache and Path(a.cache).exists():
        try:
            x, y = read_cache(a.cache, recipe)
        except ValueError as e:
            print(f"{a.cache}: {e}", file=sys.stderr)
            return 2
    else:
        jobs = [(i, p, c, a.seed) for c in range(a.copies) for i, p in enumerate(files)]
        jobs += [(10 ** 5 + i, None, 0, a.seed) for i in range(a.synthetic_voices)]
        jobs += [(3 * 10 ** 5 + i, files[i * 7919 % len(files)], 0, a.seed, True)
                 for i in range(a.high_voices)]
        prob = {"channel_prob": a.channel_prob}
        with Pool(a.jobs) as pool:
            sp = pool.map(partial(speech_example, **prob), jobs, chunksize=8)
            ns = pool.map(partial(nonspeech_example, **prob),
                          [(i, a.seed) for i in range(a.nonspeech_clips)], chunksize=8)
            cv = pool.map(partial(conversation_example, **prob),
                          [(i, files, a.seed) for i in range(a.conversations)], chunksize=4)
        x = np.concatenate([v[0] for v in sp + ns + cv])
        y = np.concatenate([v[1] for v in sp + ns + cv])
        if a.cache:
            write_cache(a.cache, x, y, recipe)
    print(f"{len(files)} utterances x {a.copies} + {a.synthetic_voices} synthetic voices + "
          f"{a.nonspeech_clips} noise clips + {a.conversations} conversations: "
          f"{y.sum()} speech / {(~y).sum()} non-speech frames ({time.perf_counter() - t0:.0f} s)", flush=True)
    rng = np.random.default_rng(a.seed)
    out = {}
    for name, sel in (("speech", y), ("nonspeech", ~y)):
        xs = x[sel]
        if len(xs) > a.max_frames:
            xs = xs[np.sort(rng.choice(len(xs), a.max_frames, replace=False))]
        g = GaussianMixture(a.components, covariance_type="diag", max_iter=100, tol=1e-3,
                            reg_covar=1e-3, random_state=a.seed, init_params="k-means++", n_init=a.n_init,
                            dtype=np.float32).fit(xs)
        print(f"{name}: {len(xs)} frames, {a.components} components, "
              f"mean log-lik {g.score(xs):.2f} ({time.perf_counter() - t0:.0f} s)", flush=True)
        for k, v in g.to_dict().items():
            out[f"{name}/{k}"] = np.asarray(v)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez(a.out, **out)
    print(f"wrote {a.out} ({Path(a.out).stat().st_size // 1024} KB)")
    return 0


#: BLAS threads of training, whatever the machine: sums of products taken in another
#: order give other bits, and the shipped models were made with 2 (the development
#: machine's default; with 1, every array of the speech model differed).
TRAINING_BLAS_THREADS = 2


if __name__ == "__main__":
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=TRAINING_BLAS_THREADS, user_api="blas"):
        raise SystemExit(main())
