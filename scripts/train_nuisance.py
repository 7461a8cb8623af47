#!/usr/bin/env python
"""Train the nuisance (session and channel) subspace of the UBM's supervector space.

    python scripts/train_nuisance.py [--train-dir ../shared/train]
        [--out diarize/data/nuisance.npz] [--rank 64] [--chunk-seconds 6] [--chunks 3]
        [--copies 4] [--centre speaker|chunk] [--speakers N] [--seed 0]

Nuisance attribute projection (NAP; Solomonoff, Campbell et al., 2005): the directions in
which the models of one voice differ from session to session (what was said, the room,
the noise, the line) are found on training voices and projected out of every model scored
(``voices.nuisance_rank``; :func:`diarize.speakers.with_nuisance`).

Sessions: every training speaker's speech (``../shared/train``, ``speakers.csv``) is joined
and cut into ``--chunks`` chunks of ``--chunk-seconds``; each chunk is taken clean and in
``--copies`` degraded copies made with :func:`diarize.voices.degrade` (velvet-noise rooms,
IIR pink/brown/white noise, a telephone band with mu-law; a room and noise together for
every fourth copy), each from its own generator seeded with ``--seed``, the speaker, the
chunk and the copy. These are not the generators of scripts/bench_voices.py, which measures
the result. Each session's statistics are those of an enrolment of that audio
(:meth:`diarize.pipeline.Diarizer.speech_voice`: the pipeline's front end and speech
detector, each voice's frames normalised by their own mean and spread), MAP-adapted with
``voices.relevance_factor`` into a supervector of mean offsets in the UBM-whitened,
weight-scaled space (:func:`diarize.speakers.supervector_offsets`). Each speaker's mean
supervector is removed, and the top ``--rank`` principal directions of what remains (the
within-speaker scatter) are saved, strongest first, with the fingerprint of the UBM they
belong to, as plain arrays (no pickle). Deterministic for a seed, on 1 BLAS thread or 2.

The shipped ``diarize/data/nuisance.npz`` was made at commit 14c9a33, whose tree makes it
byte for byte; since 133b177 (the degraded copies' filters in numpy instead of scipy)
this script gives directions within 3e-8 of it (an audit of session 22), which the loader's
re-orthonormalisation does not tell apart.

Caveat: ``../shared/train`` holds the voices of ``../shared/eval/sim`` and of the UBM's own
training, and those of scripts/bench_voices.py's conversations.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
from script_args import number, span, whole  # noqa: E402

from diarize._threads import pipeline_threads  # noqa: E402
from diarize.config import Config  # noqa: E402
from diarize.pipeline import Diarizer  # noqa: E402
from diarize.speakers import load_ubm, save_nuisance, supervector_offsets  # noqa: E402
from diarize.voices import degrade  # noqa: E402

#: Kinds of degraded copies, in turn; "reverb+noise" is a room, then noise on it.
KINDS = ("reverb", "noise", "telephone", "reverb+noise")


def read_speakers(train_dir: Path) -> dict[str, list[Path]]:
    """speaker -> its utterance files, sorted."""
    files: dict[str, list[Path]] = defaultdict(list)
    with open(train_dir / "speakers.csv", newline="") as f:
        for row in csv.DictReader(f):
            files[row["speaker"]].append(train_dir / row["file"])
    return {s: sorted(v) for s, v in sorted(files.items())}


def read_audio(paths: list[Path], sr: int) -> np.ndarray:
    parts = []
    for p in paths:
        y, file_sr = sf.read(p, dtype="float32", always_2d=True)
        if file_sr != sr:
            raise SystemExit(f"train_nuisance: error: {p}: {file_sr} Hz, expected {sr}")
        parts.append(y.mean(axis=1))
    return np.concatenate(parts)


def degraded(y: np.ndarray, sr: int, kind: str, rng: np.random.Generator, *,
             snr_db: tuple[float, float], rt60: tuple[float, float],
             band: tuple[float, float]) -> np.ndarray:
    """One degraded copy of `y` (:func:`diarize.voices.degrade`, a room then noise for
    "reverb+noise")."""
    opts = dict(snr_db=snr_db, rt60=rt60, band=band)
    for k in kind.split("+"):
        y, _ = degrade(y, sr, k, rng, **opts)  # type: ignore[arg-type]
    return y


def sessions(config: Config, audio: dict[str, np.ndarray], *, chunk_seconds: float,
             chunks: int, copies: int, seed: int, snr_db: tuple[float, float],
             rt60: tuple[float, float], band: tuple[float, float]
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The session supervectors of every speaker: (n_sessions, C * D), the speaker index
    of each and the index of its chunk (over all speakers)."""
    sr = config.audio.sample_rate
    diarizer = Diarizer(config)
    ubm = load_ubm(config.cluster.ubm_path or None)
    rf = config.voices.relevance_factor
    n = int(round(chunk_seconds * sr))
    vectors, owners, pieces_of = [], [], []
    chunk_id = 0
    for s, (speaker, y) in enumerate(audio.items()):
        pieces = [y[a * n:(a + 1) * n] for a in range(min(chunks, len(y) // n))]
        if not pieces:  # a speaker shorter than one chunk: all of it, once
            pieces = [y]
        for c, piece in enumerate(pieces):
            versions = [piece]
            for k in range(copies):
                rng = np.random.default_rng([seed, s, c, k])
                versions.append(degraded(piece, sr, KINDS[k % len(KINDS)], rng,
                                         snr_db=snr_db, rt60=rt60, band=band))
            for v in versions:
                stats, seconds = diarizer.speech_voice((v, sr))
                if stats.frames <= 0:
                    continue
                vectors.append(supervector_offsets(
                    ubm.gmm, stats.means(ubm.gmm, relevance_factor=rf)[None])[0])
                owners.append(s)
                pieces_of.append(chunk_id)
            chunk_id += 1
    return (np.asarray(vectors), np.asarray(owners, dtype=np.int64),
            np.asarray(pieces_of, dtype=np.int64))


def nuisance_directions(vectors: np.ndarray, owners: np.ndarray, rank: int) -> np.ndarray:
    """The top `rank` principal directions of the within-group scatter of `vectors`
    (each group's mean removed, `owners` its index: a speaker, or a chunk and its copies;
    groups of one add nothing), orthonormal columns, strongest first, each signed so that
    its largest entry is positive.

    Returns
    -------
    ndarray, shape (n_dims, rank), float64
    """
    x = np.array(vectors, dtype=np.float64)
    for s in np.unique(owners):
        sel = owners == s
        x[sel] -= x[sel].mean(axis=0)
    # eigenvectors of the (dims x dims) scatter: its size does not grow with the sessions
    scatter = x.T @ x
    vals, vecs = np.linalg.eigh(scatter)
    order = np.argsort(-vals, kind="stable")[:rank]
    u = vecs[:, order]
    flip = np.sign(u[np.argmax(np.abs(u), axis=0), np.arange(u.shape[1])])
    return u * np.where(flip == 0, 1.0, flip)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-dir", type=Path, default=ROOT.parent / "shared" / "train")
    ap.add_argument("--out", type=Path, default=ROOT / "diarize" / "data" / "nuisance.npz")
    ap.add_argument("--rank", type=whole(1), default=64, help="directions kept (strongest first)")
    ap.add_argument("--chunk-seconds", type=number(0, above=True), default=6.0,
                    help="audio per session (as a conversation's share of one voice)")
    ap.add_argument("--chunks", type=whole(1), default=3, help="chunks per speaker, at most")
    ap.add_argument("--copies", type=whole(1), default=4, help="degraded copies of every chunk")
    ap.add_argument("--snr", type=span(-100, 200), default="5,30", help="noise SNR range, dB")
    ap.add_argument("--rt60", type=span(0, 10), default="0.2,0.8", help="room reverberation time range, s")
    ap.add_argument("--band", type=span(1, 8000), default="300,3400", help="telephone band, Hz")
    ap.add_argument("--speakers", type=whole(0), default=0,
                    help="only the first N speakers (0: all; a quick check)")
    ap.add_argument("--centre", choices=("speaker", "chunk"), default="speaker",
                    help="remove each speaker's mean (session: content and channel) or "
                         "each chunk's over its copies (channel alone)")
    ap.add_argument("--seed", type=whole(0), default=0)
    a = ap.parse_args(argv)

    if not (a.train_dir / "speakers.csv").is_file():
        print(f"train_nuisance: error: {a.train_dir}: no speakers.csv (expected "
              "../shared/train)", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    config = Config()
    speakers = read_speakers(a.train_dir)
    names = list(speakers)[:a.speakers] if a.speakers > 0 else list(speakers)
    sr = config.audio.sample_rate
    audio = {s: read_audio(speakers[s], sr) for s in names}
    rng_of = [float(v) for v in a.snr.split(",")], [float(v) for v in a.rt60.split(",")]
    band = [float(v) for v in a.band.split(",")]
    with pipeline_threads():
        vectors, owners, chunk_ids = sessions(config, audio, chunk_seconds=a.chunk_seconds,
                                   chunks=a.chunks, copies=a.copies, seed=a.seed,
                                   snr_db=(rng_of[0][0], rng_of[0][1]),
                                   rt60=(rng_of[1][0], rng_of[1][1]), band=(band[0], band[1]))
        u = nuisance_directions(vectors, owners if a.centre == "speaker" else chunk_ids,
                                a.rank)
    print(f"{len(names)} speakers, {len(vectors)} sessions of {vectors.shape[1]} dimensions "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)
    recipe = json.dumps({"rank": a.rank, "chunk_seconds": a.chunk_seconds, "chunks": a.chunks,
                         "copies": a.copies, "snr": a.snr, "rt60": a.rt60, "band": a.band,
                         "speakers": len(names), "seed": a.seed, "centre": a.centre,
                         "relevance_factor": config.voices.relevance_factor}, sort_keys=True)
    ubm = load_ubm(config.cluster.ubm_path or None)
    save_nuisance(a.out, u, ubm=ubm, recipe=recipe)
    print(f"wrote {a.out} ({a.out.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
