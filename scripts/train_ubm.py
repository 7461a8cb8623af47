"""Train the universal background model (UBM) that speaker comparison MAP-adapts.

    python scripts/train_ubm.py --out UBM.npz [--train-dir ../shared/train]
        [--components 64] [--copies 2] [--exclude-speakers-of SIM.json ...]

The shipped ``diarize/data/ubm.npz`` was made by this script at commit a79c57b, whose
tree still makes it byte for byte (``git archive a79c57b | tar -x -C DIR``, then this
command there with ``--out``). Today's script trains another model: it picks its frames
with today's speech detector, which has changed since (frame-level boundaries from
06137c0, retrained speech models later); docs/stability.md (session 17) measured such a
retrained UBM and kept the shipped one. ``--out`` is therefore required, so that no run
replaces the shipped file (and the nuisance subspace tied to it) by accident.

The UBM is a diagonal-covariance GMM of what voices in general look like, in exactly the
features the pipeline compares speakers with (:func:`diarize.features.speaker_features`):
MFCC c1.. normalised over the speech of the *recording*. A training utterance holds one
voice, and normalising it alone would remove that voice's mean, so utterances are first
grouped into pseudo-recordings of several speakers (``--speakers-per-group``), and each
group goes through the runtime front end: MFCCs, the shipped speech detector, and CMVN
over the group's speech. ``--copies`` - 1 further copies of every group are degraded the
way ``scripts/train_sad.py`` degrades speech (reverberation, coloured or hum noise at
5-30 dB SNR, telephone band), because recordings are rarely as clean as read speech.

Material: ``../shared/train/speech`` (LibriSpeech, CC BY 4.0: 176 utterances, 131
speakers, 32 minutes). ``--exclude-speakers-of`` drops the speakers listed in simulated
conversations' ``.json`` files, to measure on those conversations as if their voices were
new. ``--cohort`` training speakers' MAP-adapted means are saved with the UBM: the cohort
against which linking normalises its scores (``cluster.link_norm = "cohort"``). The model
is saved with ``np.savez`` (plain arrays, no pickle) together with the front end it was
trained on. Deterministic for a seed (BLAS threads are pinned: TRAINING_BLAS_THREADS).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
from script_args import number, whole  # noqa: E402

from diarize.config import FeatureConfig, SadConfig  # noqa: E402
from diarize.features import mfcc, speaker_features  # noqa: E402
from diarize.gmm import GaussianMixture  # noqa: E402
from diarize.sad import detect_speech  # noqa: E402
from diarize.speakers import FRONT_END_FIELDS, save_ubm  # noqa: E402
from train_sad import noise, reverb, telephone  # noqa: E402

SR = 16000
HOP = 160


def read_speakers(train_dir: Path) -> dict[str, str]:
    """utterance path (relative to train_dir) -> speaker id."""
    with open(train_dir / "speakers.csv", newline="") as f:
        return {row["file"]: row["speaker"] for row in csv.DictReader(f)}


def make_groups(utterances: list[tuple[Path, str]], *, per_group: int, rng) -> list[list[Path]]:
    """Shuffle utterances into groups of `per_group` utterances of distinct speakers."""
    pool = list(utterances)
    order = rng.permutation(len(pool))
    pool = [pool[i] for i in order]
    groups: list[list[Path]] = []
    while pool:
        group, speakers, rest = [], set(), []
        for path, spk in pool:
            if len(group) < per_group and spk not in speakers:
                group.append(path)
                speakers.add(spk)
            else:
                rest.append((path, spk))
        groups.append(group)
        pool = rest
    return groups


def group_features(args) -> tuple[np.ndarray, np.ndarray]:
    """Speech frames of one pseudo-recording, in the pipeline's speaker features, and
    the index (into the group) of the utterance each frame comes from."""
    paths, degrade, seed, deltas = args
    rng = np.random.default_rng(seed)
    parts = []
    owner = []
    for u, p in enumerate(paths):
        y, sr = sf.read(p, dtype="float64")
        if sr != SR:
            raise SystemExit(f"{p}: expected {SR} Hz, got {sr}")
        gain = 10 ** (rng.uniform(-6, 6) / 20)  # speakers at different levels, as in meetings
        parts.append(y * gain)
        pause = np.zeros(int(rng.uniform(0.2, 1.0) * SR))
        parts.append(pause)
        owner += [u] * len(y) + [-1] * len(pause)
    y = np.concatenate(parts)
    owner = np.asarray(owner)
    if degrade:
        if rng.random() < 0.5:
            y = reverb(rng, y)
        if rng.random() < 0.7:
            level = 10 * np.log10(np.mean(y ** 2) + 1e-20)
            y = y + noise(rng, len(y)) * 10 ** ((level - rng.uniform(5, 30)) / 20)
        if rng.random() < 0.25:
            y = telephone(rng, y)
    y = y / (np.max(np.abs(y)) + 1e-9) * 10 ** (rng.uniform(-30, -3) / 20)
    feats, energy, voicing = mfcc(y.astype(np.float32), sample_rate=SR, config=FeatureConfig(),
                                  voicing=True)
    mask = detect_speech(feats, energy, voicing, config=SadConfig(),
                         frame_step=FeatureConfig().hop_length)
    # The utterance a frame belongs to: the one under the frame's centre sample.
    centre = np.minimum(np.arange(len(mask)) * HOP + HOP // 2, len(owner) - 1)
    frame_owner = owner[centre]
    mask &= frame_owner >= 0
    if not mask.any():
        return (np.zeros((0, (feats.shape[1] - 1) * (2 if deltas else 1)), dtype=np.float32),
                np.zeros(0, dtype=np.int64))
    x = speaker_features(feats, mask, deltas=deltas)
    return x[mask], frame_owner[mask]


def cohort_models(ubm: GaussianMixture, frames: list[np.ndarray], owners: list[np.ndarray],
                  speakers: list[list[str]], *, size: int, relevance_factor: float,
                  seed: int) -> np.ndarray:
    """MAP-adapted means of `size` training speakers (all their frames, every copy).

    Returns
    -------
    ndarray, shape (size, C, D), float32
    """
    from diarize.gmm import map_adapted_means

    per_speaker: dict[str, list[np.ndarray]] = {}
    for x, own, names in zip(frames, owners, speakers):
        for u, name in enumerate(names):
            per_speaker.setdefault(name, []).append(x[own == u])
    names = sorted(per_speaker)
    rng = np.random.default_rng([seed, 7])
    chosen = sorted(rng.choice(len(names), min(size, len(names)), replace=False))
    out = []
    for i in chosen:
        st = ubm.sufficient_statistics(np.concatenate(per_speaker[names[i]]))
        out.append(map_adapted_means(ubm.means_, st.n, st.first, relevance_factor=relevance_factor))
    print(f"cohort: {len(out)} speakers", flush=True)
    return np.asarray(out, dtype=np.float32)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-dir", type=Path, default=ROOT.parent / "shared" / "train")
    ap.add_argument("--out", type=Path, required=True,
                    help="where to write the UBM (the shipped one is diarize/data/ubm.npz)")
    ap.add_argument("--components", type=whole(1), default=64)
    ap.add_argument("--copies", type=whole(1), default=2, help="copies of every group: 1 clean, the rest degraded")
    ap.add_argument("--speakers-per-group", type=whole(1), default=4)
    ap.add_argument("--deltas", action="store_true", help="model MFCCs and their deltas")
    ap.add_argument("--max-frames", type=whole(1), default=400000, help="frames used for EM (subsampled)")
    ap.add_argument("--exclude-speakers-of", nargs="*", type=Path, default=[],
                    help="simulated conversations' .json files whose speakers are left out")
    ap.add_argument("--relevance-factor", type=number(0, above=True), default=16.0,
                    help="MAP relevance factor of the cohort models (as cluster.relevance_factor)")
    ap.add_argument("--cohort", type=whole(0), default=64,
                    help="speakers whose MAP-adapted means are saved as a score-normalisation cohort")
    ap.add_argument("--ubm", type=Path, help="reuse this UBM's GMM instead of training one")
    ap.add_argument("--seed", type=whole(0), default=0)
    ap.add_argument("--jobs", type=whole(1), default=2)
    a = ap.parse_args(argv)

    train = a.train_dir
    if not (train / "speakers.csv").is_file():
        print(f"train_ubm: error: {train}: no speakers.csv (expected ../shared/train)", file=sys.stderr)
        return 1
    spk_of = read_speakers(train)
    excluded: set[str] = set()
    for j in a.exclude_speakers_of:
        excluded.update(json.loads(j.read_text())["speakers"])
    utterances = sorted((train / f, s) for f, s in spk_of.items() if s not in excluded)
    if not utterances:
        print("train_ubm: error: no training utterances left", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    rng = np.random.default_rng(a.seed)
    jobs = []
    for copy in range(a.copies):
        for g, paths in enumerate(make_groups(utterances, per_group=a.speakers_per_group, rng=rng)):
            jobs.append(([str(p) for p in paths], copy > 0, [a.seed, copy, g], a.deltas))
    with Pool(a.jobs) as pool:
        out = pool.map(group_features, jobs, chunksize=4)
    frames = [f for f, _ in out]
    owners = [o for _, o in out]
    spk_of_path = {str(p): s for p, s in utterances}
    group_speakers = [[spk_of_path[p] for p in job[0]] for job in jobs]
    x = np.concatenate(frames)
    print(f"{len(utterances)} utterances of {len({s for _, s in utterances})} speakers "
          f"({len(excluded)} speakers excluded), {len(jobs)} pseudo-recordings: "
          f"{len(x)} speech frames ({time.perf_counter() - t0:.0f} s)", flush=True)
    if len(x) > a.max_frames:
        x = x[np.sort(rng.choice(len(x), a.max_frames, replace=False))]
    if a.ubm is not None:
        from diarize.speakers import load_ubm
        ubm = load_ubm(str(a.ubm)).gmm
    else:
        ubm = GaussianMixture(a.components, covariance_type="diag", max_iter=200, tol=1e-4,
                              reg_covar=1e-3, random_state=a.seed, init_params="k-means++",
                              dtype=np.float32).fit(x)
    print(f"UBM: {a.components} components on {len(x)} frames of {x.shape[1]} features, "
          f"mean log-likelihood {ubm.score(x):.3f}, {ubm.n_iter_} EM iterations "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)
    fcfg = FeatureConfig()
    front = {k: getattr(fcfg, k) for k in FRONT_END_FIELDS}
    front["deltas"] = bool(a.deltas)
    front["delta_width"] = fcfg.delta_width
    cohort = None
    if a.cohort > 0:
        cohort = cohort_models(ubm, frames, owners, group_speakers, size=a.cohort,
                               relevance_factor=a.relevance_factor, seed=a.seed)
    save_ubm(a.out, ubm, front_end=front, cohort=cohort)
    print(f"wrote {a.out} ({a.out.stat().st_size // 1024} KB)")
    return 0


#: BLAS threads of training, whatever the machine: sums of products taken in another
#: order give other bits, and the shipped models were made with 2 (the development
#: machine's default; with 1, every array of the speech model differed).
TRAINING_BLAS_THREADS = 2


if __name__ == "__main__":
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=TRAINING_BLAS_THREADS, user_api="blas"):
        raise SystemExit(main())
