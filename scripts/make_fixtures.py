#!/usr/bin/env python3
"""Build the example recordings of ``audio_fixtures/`` from real read speech, with exact references.

    python scripts/make_fixtures.py [OUTDIR] [--source DIR]

Writes ``two_speakers.wav`` (30 s, two speakers) and ``three_speakers.wav`` (40 s, three
speakers), 16 kHz mono PCM_16, each with a reference ``.rttm``. The speech is LibriSpeech
(CC BY 4.0), read from ``../shared/train`` beside the checkout (``--source`` to point
elsewhere); see ``audio_fixtures/README.md`` for the attribution. The conversations are
built like the simulated ones of ``../shared/eval/sim`` (without overlap or degradation):

* **Speakers.** The pool is the speakers with at least 60 s of speech in
  ``speakers.csv`` (five: three female, two male), so that every turn is new material and
  cut points can be chosen freely. ``numpy.random.default_rng(SEED)`` shuffles the female
  and the male speakers (sorted by id) once; the two-speaker file takes the first female and
  the first male, the three-speaker file the other two females and the other male. Nothing
  depends on how a diarizer does on the result.
* **Turns.** Each speaker's utterances are used in id order, from the start. A turn is cut
  from one utterance: its speech lasts 2-8 s (the cut closest to a target drawn uniformly)
  and it ends in the middle of a pause of at least 0.15 s or at the utterance end, so no
  word is chopped; a turn never spans two utterances (an utterance with no such turn left is
  skipped). The next speaker is, of those who did not just speak, the one with the least
  speech so far (ties drawn at random): two speakers alternate, three take turns about
  equally. Once no 2-8 s turn fits before the end of the file, turns of 1-2 s (and the
  other speakers) are tried, so the conversation fills the file.
* **Pauses.** Between one turn's last speech frame and the next turn's first there are
  0.2-0.8 s (drawn uniformly, on the 10 ms grid); each piece keeps up to 0.1 s of its own
  room tone on either side, faded in and out. The first speech starts at 0.5 s; the file is
  padded to its length, ending with at least 0.5 s without speech. No overlap.
* **Levels.** Each speaker is scaled to one reference level (the median over their
  utterances of the 95th-percentile frame level, set to -20 dBFS), then given a gain of
  -3..+3 dB drawn at random, so the speakers differ by a few dB. A steady white noise floor
  at -60 dBFS runs under the whole file, so the pauses are not digital silence.

**Reference.** Exact to 10 ms, from each clean piece before any gain or noise, by an energy
criterion on 10 ms frames: the frame level (dB) of the utterance high-passed at 100 Hz
(zero phase; some recordings carry hum below it) counts as speech when it is above
``max(p95 - 30 dB, p10 + 6 dB)`` of that utterance's frame levels (p95 stands for its loud
speech, p10 for its room tone); speech runs under 50 ms are dropped (clicks), then pauses
under 0.25 s inside a piece are closed, so pauses of 0.25 s or more are non-speech. One RTTM
line per speech run, labelled with the LibriSpeech speaker id (``LS<id>``).

Deterministic: the same source gives byte-identical files on every run.
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
# Beside the checkout, as the test suite and benchmark scripts expect the shared data.
DEFAULT_SOURCE = ROOT.parent / "shared" / "train"
SR = 16000
HOP = 160  # 10 ms frames: the reference's time grid
SEED = 13
POOL_MIN_SECONDS = 60.0
REF_LEVEL_DBFS = -20.0
GAIN_DB = 3.0  # speaker gains are drawn from [-GAIN_DB, +GAIN_DB]
FLOOR_DBFS = -60.0
TURN_S = (2.0, 8.0)
LAST_TURN_S = 1.0  # shortest turn once no TURN_S turn fits before the end of the file
PAUSE_S = (0.2, 0.8)
LEAD_S = 0.5
TAIL_S = 0.5
MARGIN_FRAMES = 10  # room tone kept around each piece (0.1 s)
FADE = 80  # samples (5 ms) of fade at the edges of a piece, inside its margin
CUT_PAUSE_FRAMES = 15  # a turn ends in a pause of at least 0.15 s
BLIP_FRAMES = 5  # speech runs shorter than 50 ms are clicks
CLOSE_FRAMES = 25  # pauses under 0.25 s inside a turn count as speech
DB_BELOW_LOUD = 30.0
DB_ABOVE_FLOOR = 6.0
HIGHPASS_HZ = 100.0
FIXTURES = (("two_speakers", 30.0), ("three_speakers", 40.0))


@dataclass
class Utterance:
    """One source utterance and its frame-level analysis."""

    uid: str
    samples: np.ndarray  # float64, clean, as read
    levels: np.ndarray  # dB per 10 ms frame of the high-passed signal
    threshold: float  # dB: frames above it are speech
    speech: np.ndarray = field(init=False)  # bool per frame, clicks dropped, no gap closing

    def __post_init__(self) -> None:
        self.speech = drop_short_runs(self.levels > self.threshold, value=True, min_len=BLIP_FRAMES)


@dataclass
class Speaker:
    """A LibriSpeech speaker, their utterances in id order and where the next turn starts."""

    sid: str
    gender: str
    utterances: list[Utterance]
    gain: float = 1.0  # linear, applied to the clean samples
    offset_db: float = 0.0  # the drawn level difference
    current: int = 0  # utterance index
    position: int = 0  # frame index inside it
    spoken: int = 0  # frames of speech used so far
    used: list[str] = field(default_factory=list)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, end)`` index pairs of the runs of True in a boolean array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def drop_short_runs(mask: np.ndarray, *, value: bool, min_len: int, interior_only: bool = False) -> np.ndarray:
    """Flip runs of ``value`` shorter than ``min_len`` frames.

    Parameters
    ----------
    mask : np.ndarray, shape (n,), bool
    value : bool
        Which runs to flip: True drops short speech runs, False closes short pauses.
    min_len : int
        Runs of fewer frames are flipped.
    interior_only : bool
        Leave runs touching either end alone (a pause at the edge of a piece is not inside it).
    """
    out = mask.copy()
    for a, b in runs(mask == value):
        if b - a < min_len and not (interior_only and (a == 0 or b == len(mask))):
            out[a:b] = not value
    return out


def frame_levels(samples: np.ndarray) -> np.ndarray:
    """dB level of each whole 10 ms frame of the signal high-passed at 100 Hz, shape (n_frames,)."""
    sos = scipy.signal.butter(4, HIGHPASS_HZ, btype="highpass", fs=SR, output="sos")
    x = scipy.signal.sosfiltfilt(sos, samples)
    n = len(x) // HOP
    return 10 * np.log10(np.mean(x[:n * HOP].reshape(n, HOP) ** 2, axis=1) + 1e-12)


def piece_speech(levels: np.ndarray, *, threshold: float) -> list[tuple[int, int]]:
    """Reference speech runs (frame indices) of one clean piece, by the documented criterion."""
    speech = drop_short_runs(levels > threshold, value=True, min_len=BLIP_FRAMES)
    return runs(drop_short_runs(speech, value=False, min_len=CLOSE_FRAMES, interior_only=True))


def load_speakers(source: Path) -> dict[str, Speaker]:
    """Every speaker of ``speakers.csv`` with at least POOL_MIN_SECONDS of speech, analysed."""
    table = source / "speakers.csv"
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    total: dict[str, float] = {}
    for row in rows:
        total[row["speaker"]] = total.get(row["speaker"], 0.0) + float(row["duration_s"])
    speakers: dict[str, Speaker] = {}
    for row in sorted(rows, key=lambda r: r["file"]):
        sid = row["speaker"]
        if total[sid] < POOL_MIN_SECONDS:
            continue
        samples, rate = sf.read(source / row["file"], dtype="float64")
        if rate != SR or samples.ndim != 1:
            raise SystemExit(f"make_fixtures.py: {row['file']} is not 16 kHz mono")
        levels = frame_levels(samples)
        threshold = max(np.percentile(levels, 95) - DB_BELOW_LOUD, np.percentile(levels, 10) + DB_ABOVE_FLOOR)
        uid = Path(row["file"]).stem.split("_", 1)[1]
        spk = speakers.setdefault(sid, Speaker(sid=sid, gender=row["gender"], utterances=[]))
        spk.utterances.append(Utterance(uid=uid, samples=samples, levels=levels, threshold=float(threshold)))
    return speakers


@dataclass(frozen=True)
class Piece:
    """One turn: a stretch of clean source speech and its reference."""

    samples: np.ndarray  # clean, as read, edges faded
    speech: list[tuple[int, int]]  # reference speech runs, frames from the piece start
    uid: str  # the LibriSpeech utterance it was cut from
    source_start: int  # frames into that utterance

    @property
    def lead(self) -> int:
        """Frames of room tone before the first speech frame."""
        return self.speech[0][0]


def next_turn(spk: Speaker, *, target: int, shortest: int, longest: int) -> Piece | None:
    """Cut the speaker's next turn from their current utterance.

    Parameters
    ----------
    spk : Speaker
        Advanced past the material used.
    target : int
        Wanted speech length in frames, from the first to the last speech frame.
    shortest : int
        Shortest acceptable speech length, frames.
    longest : int
        Longest speech length that still fits in the file, frames.

    Returns
    -------
    Piece or None
        None when no turn of at least ``shortest`` fits.
    """
    if longest < shortest:
        return None
    # Utterances where no turn of the wanted length can be cut (too little speech left, or
    # no pause before 8 s) are skipped: a turn never spans two utterances.
    while spk.current < len(spk.utterances):
        utt = spk.utterances[spk.current]
        voiced = np.flatnonzero(utt.speech[spk.position:]) + spk.position
        best = None
        if len(voiced):
            first = int(voiced[0])
            # Ends of candidate turns: the middle of each long enough pause, and the utterance end.
            cuts = [(a + b) // 2 for a, b in runs(~utt.speech) if b - a >= CUT_PAUSE_FRAMES and a > first]
            cuts.append(len(utt.speech))
            ends = [(cut, int(np.flatnonzero(utt.speech[first:cut])[-1]) + first + 1) for cut in cuts]
            fitting = [(cut, last) for cut, last in ends if shortest <= last - first <= longest]
            if fitting:
                best = min(fitting, key=lambda end: abs(end[1] - first - target))
            elif any(shortest <= last - first <= TURN_S[1] * 100 for _, last in ends):
                return None  # a turn is there, but the file is too full for it: the end
        if best is None:
            spk.current += 1
            spk.position = 0
            continue
        cut, last = best
        start = max(spk.position, first - MARGIN_FRAMES)
        end = min(cut, last + MARGIN_FRAMES)
        speech = piece_speech(utt.levels[start:end], threshold=utt.threshold)
        piece = utt.samples[start * HOP:end * HOP].copy()
        fade(piece, lead=(first - start) * HOP, tail=(end - last) * HOP)
        if utt.uid not in spk.used:
            spk.used.append(utt.uid)
        spk.position = cut
        spk.spoken += sum(b - a for a, b in speech)
        return Piece(samples=piece, speech=speech, uid=utt.uid, source_start=start)
    return None


def fade(piece: np.ndarray, *, lead: int, tail: int) -> None:
    """Fade the cut edges of a piece in place, within its room-tone margins (never over speech)."""
    for n, edge in ((min(FADE, lead), slice(None)), (min(FADE, tail), slice(None, None, -1))):
        if n:
            view = piece[edge]
            view[:n] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)


def build(name: str, *, speakers: list[Speaker], seconds: float, rng: np.random.Generator
          ) -> tuple[np.ndarray, list[str], list[str]]:
    """Assemble one conversation.

    Returns
    -------
    (samples, rttm_lines, sources)
        ``samples``: float32, shape (seconds * SR,); ``rttm_lines``: its reference;
        ``sources``: one line per turn saying where it was cut from.
    """
    n_frames = int(round(seconds * 100))
    out = 10 ** (FLOOR_DBFS / 20) * rng.standard_normal(n_frames * HOP)
    lines: list[str] = []
    sources: list[str] = []
    onset = int(round(LEAD_S * 100))  # frame where the next turn's speech starts
    previous = None
    while True:
        # The next speaker: of those who did not just speak, the one with the least speech so
        # far (ties in random order); the others are tried when near the end that one's
        # material has no turn that fits.
        others = [speakers[i] for i in rng.permutation(len(speakers)) if speakers[i] is not previous]
        others.sort(key=lambda s: s.spoken)
        target = int(round(rng.uniform(*TURN_S) * 100))
        longest = min(int(round(TURN_S[1] * 100)), n_frames - int(round(TAIL_S * 100)) - onset)
        turn = None
        for spk in others:
            # Near the end, a shorter turn lets the conversation fill the file instead of
            # leaving seconds of silence.
            for shortest in (TURN_S[0], LAST_TURN_S):
                turn = next_turn(spk, target=target, shortest=int(round(shortest * 100)), longest=longest)
                if turn is not None:
                    break
            if turn is not None:
                break
        if turn is None:
            break
        at = onset - turn.lead  # frame where the piece starts
        out[at * HOP:at * HOP + len(turn.samples)] += spk.gain * turn.samples
        for a, b in turn.speech:
            lines.append(f"SPEAKER {name} 1 {(at + a) / 100:.3f} {(b - a) / 100:.3f} "
                         f"<NA> <NA> {spk.sid} <NA> <NA>\n")
        span = len(turn.samples) // HOP
        sources.append(f"{at / 100:6.2f}-{(at + span) / 100:6.2f} s  {spk.sid:7s} {turn.uid} "
                       f"{turn.source_start / 100:.2f}-{(turn.source_start + span) / 100:.2f} s")
        onset = at + turn.speech[-1][1] + int(round(rng.uniform(*PAUSE_S) * 100))
        previous = spk
    peak = np.max(np.abs(out))
    if peak > 0.95:  # never clip: the PCM_16 writer would
        out *= 0.95 / peak
    return out.astype(np.float32), lines, sources


def choose(pool: dict[str, Speaker], *, rng: np.random.Generator) -> list[list[Speaker]]:
    """The speakers of each fixture, by the documented rule (one shuffle per gender)."""
    female = [pool[s] for s in rng.permutation(sorted(s for s in pool if pool[s].gender == "F"))]
    male = [pool[s] for s in rng.permutation(sorted(s for s in pool if pool[s].gender == "M"))]
    if len(female) < 3 or len(male) < 2:
        raise SystemExit("make_fixtures.py: the source has too few speakers with 60 s of speech")
    return [[female[0], male[0]], [female[1], female[2], male[1]]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", nargs="?", type=Path, default=ROOT / "audio_fixtures")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="folder with speakers.csv and speech/ (default: ../shared/train beside the checkout)")
    args = parser.parse_args(argv)
    if not (args.source / "speakers.csv").is_file():
        raise SystemExit(f"make_fixtures.py: no LibriSpeech source at {args.source} (speakers.csv missing). "
                         "The fixtures are built from the shared training data, expected at ../shared/train "
                         "beside the checkout; pass --source DIR if it is elsewhere.")
    pool = load_speakers(args.source)
    chosen = choose(pool, rng=np.random.default_rng(SEED))
    args.outdir.mkdir(parents=True, exist_ok=True)
    for index, ((name, seconds), speakers) in enumerate(zip(FIXTURES, chosen), start=1):
        # One generator per file, so that changing one fixture leaves the other as it was.
        rng = np.random.default_rng((SEED, index))
        for spk in speakers:
            loud = np.median([np.percentile(u.levels, 95) for u in spk.utterances])
            spk.offset_db = round(float(rng.uniform(-GAIN_DB, GAIN_DB)), 1)
            spk.gain = float(10 ** ((REF_LEVEL_DBFS - loud + spk.offset_db) / 20))
        samples, lines, sources = build(name, speakers=speakers, seconds=seconds, rng=rng)
        sf.write(args.outdir / f"{name}.wav", samples, SR, subtype="PCM_16")
        (args.outdir / f"{name}.rttm").write_text("".join(lines), encoding="utf-8")
        print(f"{name}: {seconds:.0f} s, {len(lines)} reference lines")
        for spk in speakers:
            print(f"  {spk.sid} ({spk.gender}) {spk.offset_db:+.1f} dB, "
                  f"{spk.spoken / 100:.2f} s of speech from {', '.join(spk.used)}")
        print("  turns (file span, speaker, utterance, span in the utterance):")
        print("".join(f"    {line}\n" for line in sources), end="")
    print(f"wrote fixtures to {args.outdir}")


if __name__ == "__main__":
    main()
