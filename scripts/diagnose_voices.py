#!/usr/bin/env python
"""Where named speakers lose enrolled time: the conversations of scripts/bench_voices.py,
each enrolled voice's lost time put down to one cause.

    python scripts/diagnose_voices.py [--design short|long] [--workdir DIR]
        [--conversations 12] [--seed 0] [--reference speech|chunks] [--recurring]
        [--purity 0.8] [--pause-db 30] [--set KEY=VALUE ...] [--detail]

The conversations, enrolment and scoring are bench_voices' own (its ``build`` and
``score``; the same seeds give the same test). Every scored frame of an enrolled voice V
(10 ms, outside the 0.25 s collars) that is not given V's name is lost to one cause, read
off the output speaker S that holds it (the diarization before naming) and off how the
reference voices share S's scored frames:

* ``pause``: no speaker, and the frame is a pause inside the reference turn (its level
  ``--pause-db`` or more below the voice's loud frames, the 95th percentile of its
  frames' levels in the conversation): reference "speech" no detector should find (the
  silences inside and around the LibriSpeech utterances a turn is cut from: with the
  default ``--reference speech`` only pauses under 0.25 s remain in it, with ``--reference
  chunks`` all of them, as when this diagnosis was first run). Noise fills
  pauses: in the degraded conversations the criterion counts fewer of them (``--pause-db
  20`` counts more);
* ``missed``: no speaker at all, and not such a pause (speech detection, or the turns);
* ``absorbed``: S is mostly another voice (V's frames a minority of S): V merged into
  another voice's speaker, or confused with it frame by frame;
* ``merged``: V is S's largest voice but S is impure (under ``--purity`` of its frames
  V's), and S is not named V;
* ``split``: S is V's and pure, but V has a larger pure speaker elsewhere (one name per
  speaker: only one part of a split voice is named);
* ``low score``: S is V's main, pure speaker, not named; its score against V's
  voiceprint and seconds are listed with ``--detail``;
* ``misnamed``: S is V's main, pure speaker and took another voiceprint's name.

Also printed: "oracle naming", the enrolled time named right if every output speaker
were given its largest voice's name where that is enrolled, one speaker per name (the
largest) -- what perfect scoring could do with this diarization.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_voices import (COLLAR, STEP, add_conversation_args, build_from_args,  # noqa: E402
                          check_conversation_args, frame_labels, score)

CAUSES = ("pause", "missed", "absorbed", "merged", "split", "low score", "misnamed")


def scored_frames(conv, n: int) -> np.ndarray:
    """bench_voices.score's scored frames: reference speech outside the collars."""
    ref = frame_labels(conv.turns, n)
    scored = ref != ""
    for a, b, _ in conv.turns:
        for edge in (a, b):
            lo, hi = int(round((edge - COLLAR) / STEP)), int(round((edge + COLLAR) / STEP))
            scored[max(lo, 0):max(hi, 0)] = False
    return scored


def diagnose(conv, kept, named, scores: dict[tuple[str, str], float], energy: np.ndarray, *,
             purity: float, pause_db: float
             ) -> tuple[dict[str, float], list[str], float, dict[str, float], list[tuple]]:
    """Seconds lost per cause, detail lines, the oracle-named seconds of `conv`, the
    never-enrolled seconds named per cause (WRONG), and one row per pure output speaker:
    (enrolled?, its speech seconds, its score against its own voiceprint if enrolled,
    else its best score).

    `kept`: the diarization with SPEAKER_xx labels; `named`: the same named;
    `scores`: (output speaker, voice) -> score; `energy`: each 10 ms frame's level (dB)."""
    n = int(round(max(b for _, b, _ in conv.turns) / STEP)) + 100
    scored = scored_frames(conv, n)
    level = np.full(n, -200.0)
    level[:min(n, len(energy))] = energy[:n]
    level = level[scored]
    ref = frame_labels(conv.turns, n)[scored]
    spk = frame_labels([(t.start, t.end, t.speaker) for t in kept.exclusive()], n)[scored]
    nam = frame_labels([(t.start, t.end, t.speaker) for t in named.exclusive()], n)[scored]
    rename = {}
    for s in set(spk.tolist()) - {""}:
        got, counts = np.unique(nam[spk == s].astype(str), return_counts=True)
        rename[s] = str(got[np.argmax(counts)])
    # share of each output speaker's scored frames by reference voice
    comp: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r, s in zip(ref, spk):
        if s:
            comp[s][r] += 1
    major = {s: max(c.items(), key=lambda kv: (kv[1], kv[0]))[0] for s, c in comp.items()}
    pure = {s: comp[s][major[s]] / sum(comp[s].values()) >= purity for s in comp}
    lost = {c: 0.0 for c in CAUSES}
    detail = []
    oracle = 0.0
    taken: set[str] = set()
    # oracle naming: largest speaker per enrolled voice, among those it is largest in
    for v in conv.enrolled:
        own = [(comp[s][v], s) for s in comp if major[s] == v]
        if own:
            best = max(own)[1]
            taken.add(best)
            oracle += comp[best][v] * STEP
    for v in conv.enrolled:
        mine = ref == v
        own = sorted(((comp[s][v], s) for s in comp if major[s] == v and pure[s]),
                     reverse=True)
        main = own[0][1] if own else None
        loud = np.percentile(level[mine], 95) if np.any(mine) else 0.0
        quiet = level < loud - pause_db
        for s in sorted(set(spk[mine].tolist())):
            k = int(np.count_nonzero(spk[mine] == s)) * STEP
            if s and rename.get(s) == v:
                continue
            if not s:
                q = int(np.count_nonzero(mine & (spk == s) & quiet)) * STEP
                lost["pause"] += q
                lost["missed"] += k - q
                detail.append(f"    {conv.uri} {v:>6}: {k:5.1f} s missed, {q:.1f} s of it "
                              "pauses")
                continue
            elif major[s] != v:
                cause = "absorbed"
            elif not pure[s]:
                cause = "merged"
            elif s != main:
                cause = "split"
            elif rename.get(s, s).startswith("SPEAKER_"):
                cause = "low score"
            else:
                cause = "misnamed"
            lost[cause] += k
            share = comp[s][v] / sum(comp[s].values())
            detail.append(f"    {conv.uri} {v:>6}: {k:5.1f} s in {s} ({cause}; "
                          f"{100 * share:.0f} % of its {sum(comp[s].values()) * STEP:.1f} "
                          f"s are {v}; score vs {v} {scores.get((s, v), float('nan')):.2f}, "
                          f"named {rename.get(s, s)})")
    # never-enrolled time that took a name: in its own pure speaker (a voice scoring like
    # an enrolled one), or inside a speaker it shares with other voices
    wrong = {c: 0.0 for c in WRONG}
    for u in conv.unenrolled:
        for sp in sorted(set(spk[ref == u].tolist()) - {""}):
            if rename.get(sp, sp).startswith("SPEAKER_"):
                continue
            k = int(np.count_nonzero((ref == u) & (spk == sp))) * STEP
            wrong["alike" if major[sp] == u and pure[sp] else "merged"] += k
    rows = []
    for sp in comp:
        if not pure[sp] or not major[sp]:
            continue
        v = major[sp]
        mine = [x for (o, _), x in scores.items() if o == sp]
        value = scores.get((sp, v)) if v in conv.enrolled else (max(mine) if mine else None)
        if value is not None:
            rows.append((v in conv.enrolled, sum(comp[sp].values()) * STEP, value))
    return lost, detail, oracle, wrong, rows


#: Causes of never-enrolled time named: its own pure speaker scoring above the threshold
#: ('alike'), or inside a speaker merged with another voice ('merged').
WRONG = ("alike", "merged")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_conversation_args(ap, workdir="/tmp/diagnose_voices")
    ap.add_argument("--purity", type=float, default=0.8,
                    help="share of an output speaker's frames its largest voice must hold "
                         "for it to be that voice's pure speaker")
    ap.add_argument("--pause-db", type=float, default=30.0,
                    help="a missed frame this many dB below the voice's loud frames is a pause")
    ap.add_argument("--detail", action="store_true", help="one line per voice and speaker lost")
    ap.add_argument("--scores", action="store_true",
                    help="also the scores of pure output speakers: enrolled voices' against "
                         "their own voiceprint by speech seconds, never-enrolled voices' best")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    a = ap.parse_args(argv)
    check_conversation_args(ap, a)
    from benchmark import parse_set

    from diarize import Config, Diarizer, enroll
    from diarize.cluster import speaker_ubm
    from diarize.voices import VoiceLibrary, match_scores

    if not (a.train / "speakers.csv").exists():
        print(f"diagnose_voices: error: no {a.train / 'speakers.csv'}", file=sys.stderr)
        return 1
    cfg = Config()
    if a.overrides:
        cfg = cfg.replace(**parse_set(a.overrides)).validate()
    convs, enroll_files = build_from_args(a)
    voices_dir = a.workdir / "voices"
    voices_dir.mkdir(exist_ok=True)
    for p in voices_dir.iterdir():
        p.unlink()
    for s, path in sorted(enroll_files.items()):
        enroll(s, path, voices_dir, config=cfg)
    enrolled = set(enroll_files)
    ubm = speaker_ubm(cfg.cluster)
    library = VoiceLibrary.open(voices_dir, config=cfg, ubm=ubm)
    unnamed = Diarizer(cfg, voices=library)
    guided: list[bool] = []  # whether each run was guided: its naming scores conditions then

    def keep_unnamed(result, *, guided=False, _runs=guided):
        _runs.append(guided)
        return result
    unnamed._name_speakers = keep_unnamed  # type: ignore[method-assign]
    halves = {h: {"lost": {c: 0.0 for c in CAUSES}, "total": np.zeros(6), "oracle": 0.0,
                  "wrong": {c: 0.0 for c in WRONG}} for h in ("clean", "degraded")}
    score_rows: list[tuple] = []
    details = []
    for c in convs:
        path = a.workdir / "conv" / f"{c.uri}.wav"
        # The diarization the names are put on (with any option that acts only when
        # voices are given), then named as the pipeline names it.
        kept = unnamed(path)
        named = library.name_speakers(kept, ubm=ubm, config=cfg, conditions=guided[-1])
        stats = [kept.voice_stats[s] for s in kept.speakers if s in kept.voice_stats]
        labels = [s for s in kept.speakers if s in kept.voice_stats]
        sc = match_scores(ubm, stats, library.scored(conditions=guided[-1]), config=cfg)
        scores = {(s, v): float(sc[i, j]) for i, s in enumerate(labels)
                  for j, v in enumerate(library.names)}
        energy = np.asarray(unnamed.extract(path).energy, dtype=np.float64)
        lost, detail, oracle, wrong, rows = diagnose(c, kept, named, scores, energy,
                                                     purity=a.purity, pause_db=a.pause_db)
        score_rows.extend(rows)
        h = halves["degraded" if c.degraded else "clean"]
        for k, v in lost.items():
            h["lost"][k] += v
        for k, v in wrong.items():
            h["wrong"][k] += v
        h["total"] += score(c, [(t.start, t.end, t.speaker) for t in named.exclusive()],
                            enrolled)
        h["oracle"] += oracle
        n_ref = len(c.enrolled) + len(c.unenrolled)
        details.append(f"  {c.uri} ({'degraded' if c.degraded else 'clean'}): {n_ref} voices, "
                       f"{len(kept.speakers)} output speakers")
        details.extend(detail)
    print(f"design {a.design!r}, purity {a.purity:g}, voices.threshold {cfg.voices.threshold:g}")
    print(f"{'':10} {'enrolled s':>10} {'right %':>8} {'oracle %':>9} "
          + " ".join(f"{c:>10}" for c in CAUSES) + "   (seconds lost per cause)")
    for half, h in halves.items():
        t = h["total"]
        print(f"{half:10} {t[0] * STEP:10.1f} {100 * t[1] / max(t[0], 1):8.1f} "
              f"{100 * h['oracle'] / max(t[0] * STEP, 1e-9):9.1f} "
              + " ".join(f"{h['lost'][c]:10.1f}" for c in CAUSES))
    print("never-enrolled time named (s): "
          + "; ".join(f"{half} {h['wrong']['alike']:.1f} as its own pure speaker, "
                      f"{h['wrong']['merged']:.1f} inside a merged one"
                      for half, h in halves.items()))
    if a.scores:
        print(f"scores of pure speakers (purity {a.purity:g}): median / max, or 10th "
              "percentile / median")
        for lo, hi in ((0, 3), (3, 5), (5, 8), (8, 15), (15, 1e9)):
            t = [x for e, sec, x in score_rows if e and lo <= sec < hi]
            u = [x for e, sec, x in score_rows if not e and lo <= sec < hi]
            span = f"{lo:g}-{hi:g} s" if hi < 1e9 else f"{lo:g} s or more"
            print(f"  {span:>11}: enrolled vs own voiceprint n={len(t):3d}"
                  + (f" p10 {np.percentile(t, 10):5.2f} median {np.median(t):5.2f}" if t else "")
                  + f" | never-enrolled, best n={len(u):3d}"
                  + (f" median {np.median(u):5.2f} max {max(u):5.2f}" if u else ""))
    if a.detail:
        print("\n".join(details))
    return 0


if __name__ == "__main__":
    sys.exit(main())
