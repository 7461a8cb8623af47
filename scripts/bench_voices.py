#!/usr/bin/env python
"""Named speakers measured: enrolled voices found, named right, never-enrolled ones left alone.

    python scripts/bench_voices.py [--train ../shared/train] [--workdir /tmp/bench_voices]
        [--conversations 12] [--seed 0] [--design short|long] [--thresholds 1,2,3,4,5]
        [--no-batch] [--cost-hour [N]] [--cost-process N [--cost-compare TREE]]
        [--recurring] [--no-link | --link-only]
        [--link-thresholds 2,2.5,3] [--link-fdr 0,0.1] [--set KEY=VALUE ...]

Builds its own test from ``../shared/train`` (LibriSpeech utterances, ``speakers.csv``),
seeded and deterministic:

* Enrolled voices: speakers with at least 15 s of audio. Their utterances are joined; the
  first ``--enroll-seconds`` (10 s of audio, 5-8 s of speech) are the enrolment audio, the rest
  goes to one conversation only. Enrolment audio is never inside the conversation it is
  tested on. All enrolled voices form one voiceprint folder, so every conversation is
  named against all of them (the others are distractors).
* Never-enrolled voices: other speakers with at least 6 s of audio, whole.
* Each voice speaks in one conversation (the short design), or the few voices with 60 s
  or more of audio in several: all of them in the long design (20 s windows of their
  remainder, which may overlap from one conversation to the next) and, with
  ``--recurring``, in 2-3 conversations of the short design, one other utterance in each.
* Conversations: 2-4 enrolled and 0-2 never-enrolled voices, their audio cut into turns of
  1.5-5 s, interleaved at random with 0.15-0.8 s pauses, each voice at +-4 dB; every odd
  conversation degraded (reverberation with an exponential-decay room response, RT60
  0.2-0.5 s, and/or white or pink noise at 10-30 dB SNR), as in ``../shared/eval/sim``.

The reference, as in ``../shared/eval/sim``, is exact to 10 ms and comes from the clean
sources: a turn's speech is its audio less its pauses (frames 30 dB or more below the
voice's loud frames) of 0.25 s or more and the quiet at its ends (``--reference chunks``:
whole turns, pauses included, as earlier releases scored). Scored on 10 ms frames of
reference speech outside 0.25 s collars (around every reference turn boundary; the turns
do not overlap): the share of enrolled voices' time given their
name, the share of named time that is the right voice, and the share of never-enrolled
voices' time given any name. Measured through the API (``Diarizer(voices=DIR)``) and, unless
``--no-batch``, through ``diarize batch DIR -o OUT --voices VOICES -f json``.

Linking (unless ``--no-link``; alone with ``--link-only``): ``diarize batch CONV -o OUT
--link-speakers``, then again with ``--voices`` (which only links and names again), each
scored like ``scripts/bench_link.py`` scores ../shared/eval: fair DER (md-eval collar
0.25 s, overlap skipped) per file with each file's own speaker mapping, next to the whole
batch on one timeline with ONE mapping, also for the clean and the degraded halves apart;
the per-file DER without linking (the API run) beside them; then the same kept voices
linked at each ``--link-fdr`` and ``--link-thresholds``, with linking's wrong merges and
missed links. Where every voice speaks in one conversation, every link is a wrong one.

``--thresholds`` names the thresholds at which the same diarizations are named again (from
their kept statistics, :meth:`diarize.voices.VoiceLibrary.name_speakers`), to show how the
three numbers move with ``voices.threshold``.

Multi-condition enrolment (``--set voices.enroll_copies=3``) enrols degraded copies of the
enrolment audio too; they come from :func:`diarize.voices.degrade` (velvet-noise room
responses with a darkened tail, IIR pink and brown noise, a telephone band with mu-law),
not from this script's degradations (Gaussian exponential-decay room responses, FFT-shaped
pink noise, no telephone band), with their own seeds: the recipe is not the test's.

Caveat printed with the results: the shipped UBM and its cohort were trained on these very
speakers (``../shared/train`` are the voices of ``../shared/eval/sim``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from train_nuisance import read_speakers  # noqa: E402  (speaker -> utterance files)

SR = 16000
STEP = 0.01
COLLAR = 0.25


@dataclass
class Conversation:
    uri: str
    enrolled: list[str]
    unenrolled: list[str]
    turns: list[tuple[float, float, str]] = field(default_factory=list)
    degraded: str = ""


def _read(paths: list[Path]) -> np.ndarray:
    parts = []
    for p in paths:
        y, sr = sf.read(p, dtype="float32", always_2d=True)
        assert sr == SR, p
        parts.append(y.mean(axis=1))
    return np.concatenate(parts)


def _rir(rng: np.random.Generator, rt60: float) -> np.ndarray:
    n = int(rt60 * SR)
    t = np.arange(n) / SR
    h = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)  # -60 dB at rt60
    h[0] = 1.0
    return (h / np.sqrt(np.sum(h * h))).astype(np.float64)


def _noise(rng: np.random.Generator, n: int, colour: str) -> np.ndarray:
    w = rng.standard_normal(n)
    if colour == "pink":  # 1/f power: shape white noise in the frequency domain
        spec = np.fft.rfft(w)
        f = np.arange(len(spec), dtype=np.float64)
        f[0] = 1.0
        w = np.fft.irfft(spec / np.sqrt(f), n)
    return w / np.std(w)


#: Reference turns (``reference="speech"``): a frame is a pause when its power is this many
#: dB below the voice's loud frames (:func:`_loud_level`); pauses of MIN_PAUSE seconds or
#: more inside a turn, and those at its ends, are not speech; runs of speech shorter than
#: MIN_RUN seconds (a click, a breath) are dropped.
PAUSE_DB = 30.0
MIN_PAUSE = 0.25
MIN_RUN = 0.1
#: Frames of the reference's speech/pause decision (10 ms steps of 25 ms windows).
FRAME = int(0.025 * SR)
HOP = int(STEP * SR)


def _frame_power_db(y: np.ndarray) -> np.ndarray:
    """Power (dB) of 25 ms frames every 10 ms; frame i covers [i * 10 ms, i * 10 ms + 25 ms)."""
    if len(y) < FRAME:
        y = np.pad(y, (0, FRAME - len(y)))
    n = 1 + (len(y) - FRAME) // HOP
    idx = np.arange(FRAME)[None, :] + HOP * np.arange(n)[:, None]
    return 10 * np.log10(np.mean(np.square(y[idx], dtype=np.float64), axis=1) + 1e-12)


def _loud_level(y: np.ndarray) -> float:
    """A voice's loud level (dB): the 95th percentile of its frames' power."""
    return float(np.percentile(_frame_power_db(y), 95))


def speech_runs(chunk: np.ndarray, loud: float) -> list[tuple[float, float]]:
    """The speech of one clean turn, as (start, end) seconds from its start.

    Frames more than :data:`PAUSE_DB` below `loud` are quiet; quiet stretches shorter than
    :data:`MIN_PAUSE` inside the speech are filled, quiet at both ends is cut, and runs
    shorter than :data:`MIN_RUN` are dropped.
    """
    active = _frame_power_db(chunk) >= loud - PAUSE_DB
    dur = len(chunk) / SR
    runs: list[list[float]] = []
    i = 0
    while i < len(active):
        if not active[i]:
            i += 1
            continue
        j = i
        while j < len(active) and active[j]:
            j += 1
        a, b = i * STEP, min((j - 1) * STEP + FRAME / SR, dur)
        if runs and a - runs[-1][1] < MIN_PAUSE:
            runs[-1][1] = b
        else:
            runs.append([a, b])
        i = j
    return [(round(a, 3), round(b, 3)) for a, b in runs if b - a >= MIN_RUN]


def build(train: Path, out: Path, *, n_conv: int, seed: int, enroll_seconds: float,
          design: str = "short", recurring: bool = False, reference: str = "speech"
          ) -> tuple[list[Conversation], dict[str, Path]]:
    """Write the conversations (``out/conv/*.wav``) and enrolment audio
    (``out/enroll/*.wav``); return the conversations and enrolment files by voice.

    ``design="short"``: every voice with 15 s or more is enrolled from its first
    `enroll_seconds` and speaks its remainder (5-7 s) in one conversation.
    ``design="long"``: the voices with 60 s or more are enrolled from their first 17 s and
    speak 20 s windows of their remainder, in several conversations; the other voices of
    15 s or more are enrolled as in "short" but never speak (distractors).
    `recurring` (short design only): the voices with 60 s or more (several LibriSpeech
    utterances) speak in 2-3 conversations each instead, one utterance of their remainder
    (not the one the enrolment audio ends in) per conversation, as a podcast's hosts do;
    the other voices still speak in one conversation.
    `reference` "speech": each turn's reference is the speech inside it, as in
    ``../shared/eval/sim`` (pauses of :data:`MIN_PAUSE` or more inside a turn, and the
    quiet at its ends, are not speech; :func:`speech_runs`); "chunks": the whole chunk of
    audio, pauses included (the references of earlier releases)."""
    rng = np.random.default_rng(seed)
    spk = read_speakers(train)
    audio = {s: _read(p) for s, p in spk.items()}
    rich = [s for s in spk if len(audio[s]) >= 15 * SR]
    rng.shuffle(rich)
    recur: dict[str, list[np.ndarray]] = {}  # recurring voice -> one utterance per conversation
    slots: dict[int, list[str]] = defaultdict(list)  # conversation -> its recurring voices
    if recurring and design == "short":
        # its own generator: the draws of the voices that recur leave the others' alone
        rrng = np.random.default_rng([seed, 1])
        for s in sorted(x for x in rich if len(audio[x]) >= 60 * SR):
            lengths = np.cumsum([len(_read([p])) for p in spk[s]])
            first = int(np.searchsorted(lengths, int(enroll_seconds * SR), side="left")) + 1
            utts = [_read([p]) for p in spk[s][first:]]
            k = min(int(rrng.integers(2, 4)), len(utts), n_conv)
            recur[s] = [utts[i] for i in sorted(rrng.choice(len(utts), size=k, replace=False))]
            for c in sorted(rrng.choice(n_conv, size=k, replace=False).tolist()):
                slots[c].append(s)
        rich = [x for x in rich if x not in recur]
    other = [s for s in spk if s not in rich and s not in recur and len(audio[s]) >= 6 * SR]
    rng.shuffle(other)
    (out / "conv").mkdir(parents=True, exist_ok=True)
    (out / "enroll").mkdir(parents=True, exist_ok=True)
    for old in (out / "conv").iterdir():
        old.unlink()
    for old in (out / "enroll").iterdir():
        old.unlink()
    long_voices = sorted(s for s in rich if len(audio[s]) >= 60 * SR)
    enroll_cut = {s: int(enroll_seconds * SR) for s in [*rich, *recur]}
    if design == "long":
        enroll_cut.update({s: 17 * SR for s in long_voices})
    enroll_files = {}
    for s, cut in sorted(enroll_cut.items()):
        sf.write(out / "enroll" / f"{s}.wav", audio[s][:cut], SR, subtype="PCM_16")
        enroll_files[s] = out / "enroll" / f"{s}.wav"
    convs = []
    ei = ui = 0
    for c in range(n_conv):
        k_enr = int(rng.integers(2, 5))
        k_un = int(rng.integers(0, 3))
        if design == "long":
            enrolled = sorted(rng.choice(long_voices, size=min(k_enr, len(long_voices)),
                                         replace=False).tolist())
        else:
            fresh = max(k_enr - len(slots[c]), 0)
            enrolled = slots[c] + rich[ei:ei + fresh]
            ei += fresh
        unenrolled = other[ui:ui + k_un]
        ui += len(unenrolled)
        if len(enrolled) < 2:
            break
        convs.append(Conversation(f"conv{c:02d}", enrolled, unenrolled,
                                  degraded="yes" if c % 2 else ""))
    heard: dict[str, int] = defaultdict(int)
    for conv in convs:
        pieces: dict[str, list[np.ndarray]] = {}
        loud: dict[str, float] = {}
        for s in conv.enrolled + conv.unenrolled:
            y = audio[s]
            if s in recur:
                y = recur[s][heard[s]]
                heard[s] += 1
            elif s in conv.enrolled:
                y = y[enroll_cut[s]:]  # enrolment audio never in a conversation
                if design == "long":
                    a = int(rng.integers(0, max(len(y) - 20 * SR, 1)))
                    y = y[a:a + 20 * SR]
            gain = 10 ** (rng.uniform(-4, 4) / 20)
            loud[s] = _loud_level(gain * y)
            chunks, a = [], 0
            while a < len(y):
                n = int(rng.uniform(1.5, 5.0) * SR)
                if len(y) - (a + n) < 1.0 * SR:
                    n = len(y) - a
                chunks.append(gain * y[a:a + n])
                a += n
            pieces[s] = chunks
        order = [s for s, ch in pieces.items() for _ in ch]
        rng.shuffle(order)
        # no voice speaks twice in a row where another can come between
        for i in range(1, len(order)):
            if order[i] == order[i - 1]:
                for j in range(i + 1, len(order)):
                    if order[j] != order[i]:
                        order[i], order[j] = order[j], order[i]
                        break
        nxt = {s: 0 for s in pieces}
        parts = [np.zeros(int(0.5 * SR))]
        t = 0.5
        for s in order:
            ch = pieces[s][nxt[s]]
            nxt[s] += 1
            if reference == "speech":
                conv.turns.extend((t + a, t + b, s) for a, b in speech_runs(ch, loud[s]))
            else:
                conv.turns.append((t, t + len(ch) / SR, s))
            parts.append(ch)
            t += len(ch) / SR
            gap = rng.uniform(0.15, 0.8)
            parts.append(np.zeros(int(round(gap * SR))))
            t = (sum(len(p) for p in parts)) / SR
        y = np.concatenate(parts).astype(np.float64)
        if conv.degraded:
            what = []
            kind = rng.integers(0, 3)  # 0 reverb, 1 noise, 2 both
            if kind in (0, 2):
                rt60 = rng.uniform(0.2, 0.5)
                y = np.convolve(y, _rir(rng, rt60))[:len(y)]
                what.append(f"rt60 {rt60:.2f} s")
            if kind in (1, 2):
                snr = rng.uniform(10, 30)
                colour = "pink" if rng.integers(0, 2) else "white"
                level = np.sqrt(np.mean(y[np.abs(y) > 1e-4] ** 2))
                y = y + _noise(rng, len(y), colour) * level * 10 ** (-snr / 20)
                what.append(f"{colour} noise {snr:.0f} dB")
            conv.degraded = ", ".join(what)
        y = 0.5 * y / max(np.max(np.abs(y)), 1e-9)
        sf.write(out / "conv" / f"{conv.uri}.wav", y.astype(np.float32), SR, subtype="PCM_16")
    return convs, enroll_files


def frame_labels(turns, n: int) -> np.ndarray:
    lab = np.full(n, "", dtype=object)
    for a, b, s in sorted(turns):
        lab[int(round(a / STEP)):int(round(b / STEP))] = s
    return lab


def score(conv: Conversation, hyp_turns, enrolled: set[str]) -> np.ndarray:
    """(enrolled frames, enrolled named right, named frames, named right,
    never-enrolled frames, never-enrolled named) on scored frames."""
    n = int(round(max(b for _, b, _ in conv.turns) / STEP)) + 100
    ref = frame_labels(conv.turns, n)
    hyp = frame_labels(hyp_turns, n)
    scored = ref != ""
    for a, b, _ in conv.turns:
        for edge in (a, b):
            lo, hi = int(round((edge - COLLAR) / STEP)), int(round((edge + COLLAR) / STEP))
            scored[max(lo, 0):max(hi, 0)] = False
    r, h = ref[scored], hyp[scored]
    is_enr = np.array([x in conv.enrolled for x in r], dtype=bool)
    is_un = ~is_enr
    named = np.array([x in enrolled for x in h], dtype=bool)
    right = r == h
    return np.array([is_enr.sum(), (is_enr & right).sum(), named.sum(), (named & right).sum(),
                     is_un.sum(), (is_un & named).sum()], dtype=np.float64)


def shares(total: np.ndarray) -> tuple[float, float, float]:
    return (100 * total[1] / max(total[0], 1), 100 * total[3] / max(total[2], 1),
            100 * total[5] / max(total[4], 1))


def line(label: str, total: np.ndarray) -> str:
    a, b, c = shares(total)
    return (f"{label:<28} enrolled named right {a:6.2f} %   named right {b:6.2f} %   "
            f"never-enrolled named {c:5.2f} %")


def add_conversation_args(ap: argparse.ArgumentParser, *, workdir: str) -> None:
    """The options that say which conversations :func:`build` makes (this script's and
    scripts/diagnose_voices.py's); :func:`build_from_args` reads them."""
    ap.add_argument("--train", type=Path, default=REPO.parent / "shared" / "train")
    ap.add_argument("--workdir", type=Path, default=Path(workdir))
    ap.add_argument("--conversations", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--enroll-seconds", type=float, default=10.0)
    ap.add_argument("--design", choices=("short", "long"), default="short")
    ap.add_argument("--reference", choices=("speech", "chunks"), default="speech",
                    help="reference turns: the speech inside each turn, pauses of 0.25 s or "
                         "more left out as in ../shared/eval/sim (default), or whole chunks "
                         "(earlier releases)")
    ap.add_argument("--recurring", action="store_true",
                    help="short design: the voices with 60 s or more speak in 2-3 "
                         "conversations each (other utterances), the others in one")


def check_conversation_args(ap: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    """Refuse (``ap.error``) options of :func:`add_conversation_args` that do not go together."""
    if a.recurring and a.design == "long":
        ap.error("--recurring is for the short design (the long design's voices recur)")


def build_from_args(a: argparse.Namespace) -> tuple[list[Conversation], dict[str, Path]]:
    """:func:`build` with the options of :func:`add_conversation_args`."""
    return build(a.train, a.workdir, n_conv=a.conversations, seed=a.seed,
                 enroll_seconds=a.enroll_seconds, design=a.design, recurring=a.recurring,
                 reference=a.reference)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_conversation_args(ap, workdir="/tmp/bench_voices")
    ap.add_argument("--thresholds", default="0,1,2,3,4,5,6")
    ap.add_argument("--margins", default="0.6,0.8,1.0",
                    help="voices.margin values to name the same diarizations with (1000: off)")
    ap.add_argument("--no-batch", action="store_true")
    ap.add_argument("--no-link", action="store_true",
                    help="skip the linking measurement (diarize batch --link-speakers)")
    ap.add_argument("--link-only", action="store_true",
                    help="the linking measurement alone (no naming sweeps)")
    ap.add_argument("--link-thresholds", default="2,2.5,3,3.5,4",
                    help="voices.link_threshold values to link the same kept voices at")
    ap.add_argument("--link-fdr", default="0,0.1",
                    help="voices.link_fdr values to link the same kept voices at (0: the "
                         "threshold alone)")
    ap.add_argument("--cost-hour", type=int, nargs="?", const=1, default=0, metavar="N",
                    help="also time N runs each (default 1) on 1 h of the conversations "
                         "joined, with and without the voiceprints, alternating in this "
                         "process (wall and CPU seconds, and the naming steps' CPU)")
    ap.add_argument("--cost-process", type=int, default=0, metavar="N",
                    help="also time N whole processes each of diarize on that hour with and "
                         "without --voices, alternating (wall and CPU seconds)")
    ap.add_argument("--cost-compare", type=Path, action="append", default=[], metavar="TREE",
                    help="with --cost-process: also time the checkout TREE (its root) the "
                         "same way, interleaved with this one in every round")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--json", type=Path, default=None,
                    help="also write the naming counts (10 ms frames: enrolled, enrolled "
                         "named right, named, named right, never-enrolled, never-enrolled "
                         "named) of the API run, its clean and degraded halves and the "
                         "batch run here (scripts/bench_naming.py reads it)")
    a = ap.parse_args(argv)
    check_conversation_args(ap, a)
    if a.no_link and a.link_only:
        ap.error("--no-link and --link-only: nothing to measure")
    from benchmark import parse_set

    from diarize import Config, Diarizer, enroll
    from diarize.cluster import speaker_ubm
    from diarize.voices import VoiceLibrary

    if not (a.train / "speakers.csv").exists():
        print(f"bench_voices: error: no {a.train / 'speakers.csv'}", file=sys.stderr)
        return 1
    cfg = Config()
    if a.overrides:
        cfg = cfg.replace(**parse_set(a.overrides)).validate()
    convs, enroll_files = build_from_args(a)
    voices_dir = a.workdir / "voices"
    if voices_dir.exists():
        for p in voices_dir.iterdir():
            p.unlink()
    voices_dir.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    seconds = []
    for s, path in sorted(enroll_files.items()):
        seconds.append(enroll(s, path, voices_dir, config=cfg).seconds)
    t_enroll = time.perf_counter() - t0
    enrolled = set(enroll_files)
    n_un = sum(len(c.unenrolled) for c in convs)
    print(f"design {a.design!r}{' with recurring voices' if a.recurring else ''}")
    audio_s = sum(sf.info(a.workdir / "conv" / f"{c.uri}.wav").duration for c in convs)
    print(f"{len(convs)} conversations ({audio_s:.0f} s, half degraded), {len(enrolled)} "
          f"enrolled voices ({min(seconds):.1f}-{max(seconds):.1f} s of enrolment speech, "
          f"{t_enroll:.1f} s to enrol all), {n_un} never-enrolled voices")
    for c in convs:
        print(f"  {c.uri}: {len(c.enrolled)} enrolled + {len(c.unenrolled)} never-enrolled"
              f"{'; ' + c.degraded if c.degraded else ''}")
    heard: dict[str, int] = defaultdict(int)
    for c in convs:
        for v in c.enrolled + c.unenrolled:
            heard[v] += 1
    again = sorted(v for v, k in heard.items() if k > 1)
    print(f"{len(heard)} distinct voices, {len(again)} of them in several conversations"
          + (f" ({', '.join(f'{v} x{heard[v]}' for v in again)})" if again else ""))
    if a.link_only:
        print(link_measure(a, convs, voices_dir, cfg, plain=None))
        return 0

    ubm = speaker_ubm(cfg.cluster)
    library = VoiceLibrary.open(voices_dir, config=cfg, ubm=ubm)
    plain = Diarizer(cfg, keep_voices=True)
    named = Diarizer(cfg, voices=library)
    thresholds = [float(x) for x in a.thresholds.split(",") if x]
    margins = [float(x) for x in a.margins.split(",") if x]
    sweep = {t: np.zeros(6) for t in thresholds}
    msweep = {m: np.zeros(6) for m in margins}
    api = np.zeros(6)
    halves = {"clean": np.zeros(6), "degraded": np.zeros(6)}
    t_plain = t_name = 0.0
    plain_turns = {}
    for c in convs:
        path = a.workdir / "conv" / f"{c.uri}.wav"
        t1 = time.perf_counter()
        kept = plain(path)
        t_plain += time.perf_counter() - t1
        plain_turns[c.uri] = list(kept.turns)
        t1 = time.perf_counter()
        result = named(path)
        t_name += time.perf_counter() - t1
        got = score(c, [(t.start, t.end, t.speaker) for t in result.exclusive()], enrolled)
        api += got
        halves["degraded" if c.degraded else "clean"] += got
        for t in thresholds:
            cfg_t = replace(cfg, voices=replace(cfg.voices, threshold=t))
            # unguided diarizations: named as the pipeline names those, clean models alone
            r = library.name_speakers(kept, ubm=ubm, config=cfg_t, conditions=False)
            sweep[t] += score(c, [(x.start, x.end, x.speaker) for x in r.exclusive()], enrolled)
        for m in margins:
            cfg_m = replace(cfg, voices=replace(cfg.voices, margin=m))
            r = library.name_speakers(kept, ubm=ubm, config=cfg_m, conditions=False)
            msweep[m] += score(c, [(x.start, x.end, x.speaker) for x in r.exclusive()], enrolled)
    print(f"\nvoices.threshold = {cfg.voices.threshold:g}, margin_floor = "
          f"{cfg.voices.margin_floor:g}, margin = {cfg.voices.margin:g}")
    print(line("API Diarizer(voices=DIR)", api))
    for half, total in halves.items():
        print(line(f"  {half} conversations", total))
    if not a.no_batch:
        out = a.workdir / "batch_out"
        if out.exists():
            for p in out.iterdir():
                p.unlink()
        cmd = [sys.executable, "-m", "diarize", "batch", str(a.workdir / "conv"), "-o", str(out),
               "--voices", str(voices_dir), "-f", "json", "--jobs", "1", "-q"]
        if a.overrides:
            toml = a.workdir / "bench.toml"
            toml.write_text(cfg.to_toml(), encoding="utf-8")
            cmd += ["--config", str(toml)]
        subprocess.run(cmd, check=True)
        batch = np.zeros(6)
        for c in convs:
            doc = json.loads((out / f"{c.uri}.json").read_text(encoding="utf-8"))
            turns = [(t["start"], t["end"], t["speaker"]) for t in doc["turns"]]
            # as exclusive(): in an overlap the turn that started first wins
            batch += score(c, _exclusive(turns), enrolled)
        print(line("diarize batch --voices", batch))
    print("\nthe same diarizations named at other thresholds:")
    for t in thresholds:
        print(line(f"  threshold {t:g}", sweep[t]))
    print("the same diarizations named with other margins:")
    for m in margins:
        print(line(f"  margin {m:g}", msweep[m]))
    if not a.no_link:
        print(link_measure(a, convs, voices_dir, cfg, plain=plain_turns))
    if a.json is not None:
        counts = {"api": api.tolist(), **{k: v.tolist() for k, v in halves.items()}}
        if not a.no_batch:
            counts["batch"] = batch.tolist()
        a.json.write_text(json.dumps(counts, indent=1) + "\n", encoding="utf-8")
    print(f"\ncost: diarization {t_plain:.1f} s, with naming {t_name:.1f} s "
          f"({100 * (t_name - t_plain) / max(t_plain, 1e-9):+.1f} %)")
    if a.cost_hour:
        print(cost_hour(a.workdir, cfg, library, repeat=a.cost_hour))
    if a.cost_process > 0:
        print(cost_process(a.workdir, voices_dir, cfg, repeat=a.cost_process,
                           overrides=bool(a.overrides), compare=a.cost_compare))
    print("caveat: the shipped UBM and its cohort were trained on ../shared/train, the "
          "speakers of this test")
    return 0


def link_measure(a, convs: list[Conversation], voices_dir: Path, cfg, *, plain) -> str:
    """``diarize batch CONV -o OUT --link-speakers`` (then again with ``--voices``) on the
    conversations, scored as scripts/bench_link.py scores sim/: per-file fair DER next to
    the whole batch on one timeline with one speaker mapping; then the same kept voices
    linked at each of ``--link-thresholds``. `plain`: the turns of each conversation
    diarized without linking (the API run), whose per-file DER linking must not worsen."""
    import shutil

    from bench_link import HEADER, kept_voices, row_line, score, sweep, written_turns

    from diarize.cluster import speaker_ubm
    from diarize.segments import Turn

    out = a.workdir / "link_out"
    shutil.rmtree(out, ignore_errors=True)
    refs = {c.uri: [Turn(x, y, v) for x, y, v in c.turns] for c in convs}
    regions = {c.uri: [(0.0, float(sf.info(a.workdir / "conv" / f"{c.uri}.wav").duration))]
               for c in convs}
    tags = {c.uri: "degraded" if c.degraded else "clean" for c in convs}
    # the reference, for other looks at the kept voices of OUT
    (a.workdir / "reference.json").write_text(json.dumps(
        {c.uri: {"turns": c.turns, "degraded": c.degraded} for c in convs}, indent=1),
        encoding="utf-8")
    uris = [c.uri for c in convs]
    cmd = [sys.executable, "-m", "diarize", "batch", str(a.workdir / "conv"), "-o", str(out),
           "--link-speakers", "-f", "rttm", "--jobs", "1", "-q"]
    if a.overrides:
        toml = a.workdir / "bench.toml"
        toml.write_text(cfg.to_toml(), encoding="utf-8")
        cmd += ["--config", str(toml)]
    lines = [f"\nlinking (fair DER %, collar 0.25 s, overlap skipped; batch: all "
             f"conversations on one timeline, one mapping), link_threshold "
             f"{cfg.voices.link_threshold:g}, link_fdr {cfg.voices.link_fdr:g}, "
             f"{cfg.voices.link_linkage} linkage:"]
    subprocess.run(cmd, check=True)
    linked = written_turns(out, uris)
    # the voices' own turns in the run (a rerun with --voices only links again: kept)
    ubm = speaker_ubm(cfg.cluster)
    kept = kept_voices(out, uris, ubm=ubm)
    own = {u: list(kv.result.turns) for u, kv in kept.items()}

    def both(hyps) -> tuple[float, float]:
        return (score(refs, hyps, regions, one_timeline=False),
                score(refs, hyps, regions, one_timeline=True))

    halves = {h: [c.uri for c in convs if tags[c.uri] == h] for h in ("clean", "degraded")}
    if plain is not None:
        pf = score(refs, plain, regions, one_timeline=False)
        lines.append(f"  {'without linking (API)':<40} per-file {pf:6.2f}")
    pf = score(refs, own, regions, one_timeline=False)
    lines.append(f"  {'--link-speakers, own labels':<40} per-file {pf:6.2f}")
    pf, whole = both(linked)
    lines.append(f"  {'--link-speakers':<40} per-file {pf:6.2f}   batch {whole:6.2f}   "
                 f"{whole - pf:+6.2f} points")
    subprocess.run(cmd + ["--voices", str(voices_dir)], check=True)
    named = written_turns(out, uris)
    pf, whole = both(named)
    lines.append(f"  {'--link-speakers --voices':<40} per-file {pf:6.2f}   batch {whole:6.2f}   "
                 f"{whole - pf:+6.2f} points")
    # every voiceprint of the folder is enrolled, as main() counts them: a speaker given
    # the name of one that speaks in no conversation is a wrong name
    enrolled = {p.name[:-len(".npz")] for p in voices_dir.glob("*.npz")}
    total = sum((score_names(c, named[c.uri], enrolled) for c in convs), np.zeros(6))
    lines.append("  " + line("--link-speakers --voices", total).strip())
    for h, us in halves.items():
        sub = {u: linked[u] for u in us}
        pf = score({u: refs[u] for u in us}, sub, {u: regions[u] for u in us},
                   one_timeline=False)
        whole = score({u: refs[u] for u in us}, sub, {u: regions[u] for u in us},
                      one_timeline=True)
        lines.append(f"  {'  the ' + h + ' conversations alone':<40} per-file {pf:6.2f}   "
                     f"batch {whole:6.2f}   {whole - pf:+6.2f} points")
    thresholds = [float(x) for x in a.link_thresholds.split(",") if x]
    fdrs = [float(x) for x in a.link_fdr.split(",") if x]
    lines.append("the same kept voices linked at other chance levels and thresholds (wrong "
                 "merges / missed links: all/in degraded conversations):")
    lines.append("  " + HEADER)
    for r in sweep(a.design + ("+rec" if a.recurring else ""), kept, refs, regions, ubm=ubm,
                   config=cfg, thresholds=thresholds, linkages=[cfg.voices.link_linkage],
                   fdrs=fdrs, tags=tags):
        lines.append("  " + row_line(r))
    return "\n".join(lines)


def score_names(conv: Conversation, turns, enrolled: set[str]) -> np.ndarray:
    """:func:`score` of turns given as :class:`diarize.segments.Turn`."""
    return score(conv, _exclusive([(t.start, t.end, t.speaker) for t in turns]), enrolled)


def cost_hour(workdir: Path, cfg, library, *, repeat: int = 1) -> str:
    """Seconds of runs on an hour of the conversations joined end to end with and
    without the voiceprints, alternating in one process (`repeat` each; medians): the
    whole run's wall and CPU time, and the CPU of keeping the voices' statistics,
    guiding and naming inside it. The run with voices also links on its loud frames
    (``voices.cluster_level_db``), which costs less than linking on every frame: the
    difference of the whole runs is the cost, not the sum of the steps. Like the
    command, the runs keep no speaker models (``keep_models=False``)."""
    from diarize.pipeline import Diarizer

    y = _hour(workdir)
    keys = ("stats", "guide", "name")
    runs: dict[str, list[dict[str, float]]] = {"without": [], "with": []}
    for _ in range(repeat):
        for kind in ("without", "with"):
            spent = dict.fromkeys(keys, 0.0)
            active: list[str] = []  # a call inside another timed one counts in the outer one
            d = Diarizer(cfg, voices=library if kind == "with" else None, keep_models=False)
            for key, attr in zip(keys, ("_voice_stats", "_guided", "_name_speakers")):
                f = getattr(d, attr)

                def timed(*args, _f=f, _key=key, _spent=spent, **kw):
                    c = time.process_time()
                    active.append(_key)
                    try:
                        return _f(*args, **kw)
                    finally:
                        active.pop()
                        if not active:
                            _spent[_key] += time.process_time() - c
                setattr(d, attr, timed)
            c, w = time.process_time(), time.perf_counter()
            r = d((y, SR))
            spent["cpu"] = time.process_time() - c
            spent["wall"] = time.perf_counter() - w
            spent["speakers"] = len(r.speakers)
            runs[kind].append(spent)

    def med(kind: str, key: str) -> float:
        return float(np.median([x[key] for x in runs[kind]]))

    out = []
    for key in ("wall", "cpu"):
        a, b = med("without", key), med("with", key)
        out.append(f"{key} {a:.2f} s without, {b:.2f} s with voices "
                   f"({100 * (b - a) / max(a, 1e-9):+.1f} %)")
    steps = sum(med("with", k) for k in keys)
    return (f"cost on 1 h ({med('without', 'speakers'):.0f} speakers without voices, "
            f"{med('with', 'speakers'):.0f} with; {len(library.voices)} voiceprints; "
            f"{repeat} alternating runs each in one process, medians): "
            + "; ".join(out) + f"; inside the run with voices, keeping the voices' "
            f"statistics {med('with', 'stats'):.2f} s CPU, guided diarization "
            f"{med('with', 'guide'):.2f} s and naming {med('with', 'name'):.2f} s "
            f"({100 * steps / max(med('with', 'cpu') - steps, 1e-9):.1f} % of the rest "
            f"of that run)")


def _hour(workdir: Path) -> np.ndarray:
    """One hour of the conversations joined end to end, repeated as needed."""
    parts = [sf.read(p, dtype="float32")[0] for p in sorted((workdir / "conv").glob("*.wav"))]
    y = np.concatenate(parts)
    return np.tile(y, int(np.ceil(3600 * SR / len(y))))[:3600 * SR]


def cost_process(workdir: Path, voices_dir: Path, cfg, *, repeat: int,
                 overrides: bool, compare: list[Path] = ()) -> str:
    """Wall and CPU seconds of whole ``diarize HOUR.wav`` processes without and with
    ``--voices``, alternating `repeat` times each: what a user times. Each checkout in
    `compare` (its root) is timed the same way in every round, interleaved with this one,
    its ``diarize`` imported from there (``PYTHONPATH``)."""
    hour = workdir / "hour.wav"
    sf.write(hour, _hour(workdir), SR, subtype="PCM_16")
    out = workdir / "cost_out"
    base = [sys.executable, "-m", "diarize", str(hour), "-o", str(out), "-q"]
    if overrides:
        toml = workdir / "bench.toml"
        toml.write_text(cfg.to_toml(), encoding="utf-8")
        base += ["--config", str(toml)]
    trees = [Path(__file__).resolve().parents[1], *(Path(c).resolve() for c in compare)]
    times: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for _ in range(repeat):
        for t, tree in enumerate(trees):
            env = {**os.environ, "PYTHONPATH": str(tree)}
            for key, extra in (("without", []), ("with", ["--voices", str(voices_dir)])):
                before = os.times()
                w = time.perf_counter()
                subprocess.run(base + extra, check=True, env=env)
                wall = time.perf_counter() - w
                after = os.times()
                cpu = ((after.children_user - before.children_user)
                       + (after.children_system - before.children_system))
                times.setdefault((t, key), []).append((wall, cpu))
    lines = []
    for t, tree in enumerate(trees):
        med = {k: (float(np.median([w for w, _ in times[(t, k)]])),
                   float(np.median([c for _, c in times[(t, k)]])))
               for k in ("without", "with")}
        spread = {k: f"{min(w for w, _ in times[(t, k)]):.2f}-"
                     f"{max(w for w, _ in times[(t, k)]):.2f}" for k in ("without", "with")}
        (w0, c0), (w1, c1) = med["without"], med["with"]
        name = "" if len(trees) == 1 else f" [{tree}]"
        lines.append(
            f"whole processes on 1 h{name}, {repeat} each, medians: without voices {w0:.2f} s "
            f"wall ({spread['without']}), {c0:.2f} s CPU; with --voices {w1:.2f} s wall "
            f"({spread['with']}), {c1:.2f} s CPU ({100 * (w1 - w0) / max(w0, 1e-9):+.1f} % "
            f"wall, {100 * (c1 - c0) / max(c0, 1e-9):+.1f} % CPU)")
    return "\n".join(lines)


def _exclusive(turns):
    out = []
    end = 0.0
    for a, b, s in sorted(turns):
        a = max(a, end)
        if b > a:
            out.append((a, b, s))
            end = b
    return out


if __name__ == "__main__":
    sys.exit(main())
