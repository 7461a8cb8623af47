#!/usr/bin/env python
"""How many transcript words get the right speaker: sim/ with word times from its references.

    python scripts/bench_words.py [--sim ../shared/eval/sim] [--hyp DIR] [--per-file]
        [--seed 0] [--workdir /tmp/bench_words]

sim/ has no transcripts, but its references are exact to 10 ms, so a word-level
transcript whose truth is known can be built from them: every reference turn is cut into
"words" of 0.3 to 0.5 s separated by gaps of 0.02 to 0.08 s (a random generator seeded
with ``--seed`` and the file id, so the words are the same on every run), each word
belonging to the turn's speaker. Words inside overlapped speech belong to the turn they
were cut from, so about half of them cannot be labelled right by any rule that looks
only at the diarization; they are part of the count.

Three measurements, for the two bars of issue 24 (the second bar's wording, "Diarization.assign
labels > 97 % of words right on a test built from sim/ references", names no
diarization: both readings are measured):

reference
    ``diarize words REF.rttm WORDS.json -f json`` (the command line, run in-process),
    the transcript written as Whisper JSON: the share of words whose speaker is the true
    one (bar: > 98 %).
assign
    ``Diarization.assign`` with the reference turns (the API, no files): the same share.
system
    ``Diarization.assign`` with our own diarization (the RTTMs in ``--hyp``, e.g. from
    ``diarize batch ../shared/eval/sim -o DIR``; without ``--hyp`` every file is diarized
    here with the default configuration), its speakers renamed by the optimal one-to-one
    mapping to the reference (``diarize.metrics.speaker_mapping``, the mapping of DER):
    the share of words labelled right (bar: > 97 %). A system speaker left out of the
    mapping counts as wrong.

Shares are over all the words of all files (not a mean of per-file shares).
"""

from __future__ import annotations

import argparse
import json
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SIM = REPO.parent / "shared" / "eval" / "sim"

WORD_SECONDS = (0.3, 0.5)
"""Range of word durations cut from a reference turn (uniform)."""
GAP_SECONDS = (0.02, 0.08)
"""Range of the gaps between the words of one turn (uniform)."""
MIN_TAIL = 0.15
"""A remainder of a turn shorter than this joins the word before it (no 10 ms words)."""


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str
    speaker: str


def make_words(turns, *, seed: int, uri: str) -> list[Word]:
    """Words cut from reference `turns`, in time order; deterministic for (seed, uri).

    Parameters
    ----------
    turns : iterable of Turn
    seed : int, keyword-only
    uri : str, keyword-only
        Mixed into the seed, so that each file has its own words.

    Returns
    -------
    list of Word
    """
    rng = np.random.default_rng([seed, zlib.crc32(uri.encode("utf-8"))])
    words: list[Word] = []
    for turn in sorted(turns):
        t = turn.start
        while turn.end - t > 1e-9:
            end = min(t + rng.uniform(*WORD_SECONDS), turn.end)
            if turn.end - end < MIN_TAIL:
                end = turn.end
            words.append(Word(round(t, 3), round(end, 3), f" w{len(words)}", turn.speaker))
            t = end + rng.uniform(*GAP_SECONDS)
    return sorted(words, key=lambda w: (w.start, w.end))


def whisper_json(words: list[Word]) -> str:
    """`words` as a Whisper transcript: one segment holding every word."""
    segment = {"start": words[0].start if words else 0.0,
               "end": words[-1].end if words else 0.0,
               "text": "".join(w.text for w in words),
               "words": [{"word": w.text, "start": w.start, "end": w.end} for w in words]}
    return json.dumps({"segments": [segment]})


def reference_turns(rttm: Path, uri: str):
    from diarize.rttm import read_rttm

    return [t for key, ts in read_rttm(rttm).items() if key.uri == uri for t in ts]


def cli_labels(rttm: Path, transcript: Path, output: Path) -> list:
    """Speakers ``diarize words RTTM TRANSCRIPT -f json`` gives, in transcript order."""
    from diarize.cli import main

    main(["words", str(rttm), str(transcript), "-f", "json", "-o", str(output), "-q"],
         standalone_mode=False)
    return [row["speaker"] for row in json.loads(output.read_text(encoding="utf-8"))]


def system_labels(hyp_turns, ref_turns, words: list[Word], *, uri: str) -> list:
    """Speakers ``Diarization.assign`` gives with the system's turns, mapped to the reference."""
    from diarize.metrics import speaker_mapping
    from diarize.segments import Diarization

    hyp = Diarization(list(hyp_turns), uri=uri)
    mapping = speaker_mapping(hyp.turns, ref_turns)
    # Renamed through a prefix first, so that a system label equal to a reference
    # label it is not mapped to cannot pass for right.
    hyp = hyp.rename({s: f"\x00{s}" for s in hyp.speakers})
    hyp = hyp.rename({f"\x00{s}": r for s, r in mapping.items()})
    return [w.speaker for w in hyp.assign([(w.start, w.end, w.text) for w in words])]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim", type=Path, default=SIM)
    ap.add_argument("--hyp", type=Path, default=None,
                    help="folder of our RTTMs for sim/ (default: diarize here)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench_words"))
    ap.add_argument("--per-file", action="store_true")
    a = ap.parse_args(argv)
    refs = sorted(a.sim.glob("*.rttm"))
    if not refs:
        print(f"bench_words: error: no references in {a.sim}", file=sys.stderr)
        return 1
    a.workdir.mkdir(parents=True, exist_ok=True)
    diarizer = None
    totals = {"words": 0, "reference": 0, "assign": 0, "system": 0}
    for rttm in refs:
        uri = rttm.stem
        ref_turns = reference_turns(rttm, uri)
        words = make_words(ref_turns, seed=a.seed, uri=uri)
        truth = [w.speaker for w in words]
        transcript = a.workdir / f"{uri}.json"
        transcript.write_text(whisper_json(words), encoding="utf-8")
        by_ref = cli_labels(rttm, transcript, a.workdir / f"{uri}.words.json")
        if a.hyp is not None:
            hyp_turns = reference_turns(a.hyp / f"{uri}.rttm", uri)
        else:
            if diarizer is None:
                from diarize import Diarizer

                diarizer = Diarizer()
            audio = next(p for p in (a.sim / f"{uri}.flac", a.sim / f"{uri}.wav") if p.exists())
            hyp_turns = diarizer(audio).turns
        from diarize.segments import Diarization

        by_api = [w.speaker for w in Diarization(ref_turns, uri=uri).assign(
            [(w.start, w.end, w.text) for w in words])]
        by_sys = system_labels(hyp_turns, ref_turns, words, uri=uri)
        right_ref = sum(p == t for p, t in zip(by_ref, truth))
        right_sys = sum(p == t for p, t in zip(by_sys, truth))
        if a.per_file:
            print(f"{uri}\t{len(words)} words\treference {100 * right_ref / len(words):6.2f} %"
                  f"\tsystem {100 * right_sys / len(words):6.2f} %")
        totals["words"] += len(words)
        totals["reference"] += right_ref
        totals["system"] += right_sys
        totals["assign"] += sum(p == t for p, t in zip(by_api, truth))
    n = totals["words"]
    print(f"{len(refs)} files, {n} words (seed {a.seed})")
    print(f"reference RTTM, diarize words:        {100 * totals['reference'] / n:6.2f} % right (bar > 98 %)")
    print(f"reference turns, Diarization.assign:  {100 * totals['assign'] / n:6.2f} % right (bar > 97 %)")
    print(f"our diarization, Diarization.assign:  {100 * totals['system'] / n:6.2f} % right (bar > 97 %, if meant)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
