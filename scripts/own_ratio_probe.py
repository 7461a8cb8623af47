#!/usr/bin/env python
"""How well linking's pair scores tell one voice from two, with and without each voice's
own ratio: the probe behind ``cluster.link_self_weight`` (docs/stability.md).

    python scripts/own_ratio_probe.py [DIR ...] [--jobs 2] [--purity 0.7]

Every recording of the folders (default ``../shared/eval/real`` and ``../shared/eval/sim``)
is diarized with the shipped configuration up to linking, and the clusters linking starts
from are kept. Each cluster is labelled by its main reference speaker (frames where one
reference speaker talks), and every pair of clusters at least ``--purity`` pure is "one
voice" or "two". Each cluster's own ratio is the cross-likelihood ratio between the two
halves (in time) of all its frames, each half's model MAP-adapted to that half alone
(cohort Z-normalised as linking does; no prior). The script prints the area under the ROC
curve of one voice against two, pooled over the recordings of each corpus (one threshold
for all: the AMI clips, the other real recordings, sim/), for the plain ratio and for the
ratio less a weight times the pair's mean own ratio, or times the recording's mean own
ratio (one shift per recording).
"""

from __future__ import annotations

import argparse
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))
EVAL = REPO.parent / "shared" / "eval"
STEP = 0.01  # seconds per frame
WEIGHTS = (0.25, 0.5, 0.75, 1.0)


def reference_frames(rttm: Path, n: int) -> np.ndarray:
    """Index of the one reference speaker of each frame, -1 where none or several talk."""
    speakers: dict[str, int] = {}
    label = np.full(n, -1)
    count = np.zeros(n, dtype=np.int64)
    for line in rttm.read_text(encoding="utf-8").splitlines():
        f = line.split()
        if len(f) < 8 or f[0] != "SPEAKER":
            continue
        s = speakers.setdefault(f[7], len(speakers))
        a = max(int(round(float(f[3]) / STEP)), 0)
        b = min(int(round((float(f[3]) + float(f[4])) / STEP)), n)
        count[a:b] += 1
        label[a:b] = s
    label[count != 1] = -1
    return label


def linking_input(path: Path) -> dict:
    """The UBM features, initial labels, UBM and speech mask linking is given."""
    import diarize.cluster as cluster
    import diarize.pipeline as pipeline

    seen: dict = {}
    link, cluster_speakers = cluster.link_clusters_clr, pipeline.cluster_speakers

    def spy_link(X, labels, **kw):
        seen.update(X=X, labels=np.asarray(labels), ubm=kw["ubm"])
        return link(X, labels, **kw)

    def spy_cluster(X, *, speech, **kw):
        seen["speech"] = speech
        return cluster_speakers(X, speech=speech, **kw)

    cluster.link_clusters_clr = spy_link
    pipeline.cluster_speakers = spy_cluster
    try:
        pipeline.Diarizer()(str(path))
    finally:
        cluster.link_clusters_clr, pipeline.cluster_speakers = link, cluster_speakers
    return seen


def pairs_of(path: Path) -> tuple[list[dict], float | None]:
    """One row per pair of initial clusters (the plain ratio, both own ratios, whether the
    clusters' main reference speakers are one, the lesser purity), and the recording's
    mean own ratio, the clusters' weighed by their frames."""
    from diarize.cluster import link_clusters_clr
    from diarize.config import ClusterConfig

    seen = linking_input(path)
    if "labels" not in seen:  # no linking (no speech, or one cluster)
        return [], None
    X, labels, ubm = seen["X"], seen["labels"], seen["ubm"]
    ref = reference_frames(path.with_suffix(".rttm"), len(seen["speech"]))
    ref = ref[np.flatnonzero(seen["speech"])]
    k0 = int(labels.max()) + 1
    # Linking's own score of two groups of frames, every frame scored: the plain ratio
    # (cohort Z-normalised), read off the one merge a linking of the two would consider.
    plain = ClusterConfig(link_self_weight=0.0, link_bic_veto=0.0, link_threshold=1e9,
                          link_max_frames=100000)

    def ratio(first: np.ndarray, second: np.ndarray) -> float:
        if not len(first) or not len(second):
            return float("nan")
        two = np.repeat([0, 1], [len(first), len(second)])
        res = link_clusters_clr(X[np.concatenate([first, second])], two, ubm=ubm,
                                config=plain, frame_step=STEP)
        return float(res.similarity[1])

    members = [np.flatnonzero(labels == k) for k in range(k0)]
    own = np.array([ratio(m[:len(m) // 2], m[len(m) // 2:]) for m in members])
    main, purity = [], []
    for k in range(k0):
        r = ref[labels == k]
        r = r[r >= 0]
        m = int(np.bincount(r).argmax()) if len(r) else -1
        main.append(m)
        purity.append(float(np.mean(r == m)) if len(r) else 0.0)
    rows = []
    for i in range(k0):
        for j in range(i + 1, k0):
            rows.append(dict(file=path.name, one=main[i] == main[j],
                             purity=min(purity[i], purity[j]),
                             ratio=ratio(members[i], members[j]), own_i=own[i], own_j=own[j]))
    sizes = np.bincount(labels, minlength=k0)
    ok = np.isfinite(own)
    return rows, float(np.sum(own[ok] * sizes[ok]) / np.sum(sizes[ok]))


def corpus(path: Path) -> str:
    if path.parent.name == "sim":
        return "sim/"
    return "AMI" if re.match(r"(dev|tr.|tst)\d\d$", path.stem) else "other real"


def auc(one: list[float], two: list[float]) -> float:
    """P(a one-voice pair scores above a two-voice pair), ties counting half."""
    if not one or not two:
        return float("nan")
    p, q = np.asarray(one)[:, None], np.asarray(two)[None, :]
    return float(np.mean(p > q) + 0.5 * np.mean(p == q))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="*", type=Path, default=[EVAL / "real", EVAL / "sim"])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--purity", type=float, default=0.7)
    args = ap.parse_args(argv)
    files = sorted(p for d in args.dirs for p in d.iterdir()
                   if p.suffix in (".wav", ".flac") and p.with_suffix(".rttm").exists())
    with ProcessPoolExecutor(args.jobs) as pool:
        per_file = list(pool.map(pairs_of, files))
    rows = [dict(r, corpus=corpus(p)) for p, (rs, _) in zip(files, per_file) for r in rs
            if r["purity"] >= args.purity
            and np.isfinite([r["ratio"], r["own_i"], r["own_j"]]).all()]
    own_mean = {p.name: m for p, (_, m) in zip(files, per_file) if m is not None}
    scores = {"the ratio": lambda r: r["ratio"]}
    for w in WEIGHTS:
        scores[f"ratio - {w} x mean own ratio"] = (
            lambda r, w=w: r["ratio"] - w * 0.5 * (r["own_i"] + r["own_j"]))
    scores["ratio - 0.5 x the recording's mean own ratio"] = (
        lambda r: r["ratio"] - 0.5 * own_mean[r["file"]])
    sets = ["AMI", "other real", "sim/", "all"]
    counts = {c: (sum(1 for r in rows if (c == "all" or r["corpus"] == c) and r["one"]),
                  sum(1 for r in rows if (c == "all" or r["corpus"] == c) and not r["one"]))
              for c in sets}
    print("| score | " + " | ".join(f"{c} ({counts[c][0]} / {counts[c][1]} pairs)"
                                     for c in sets) + " |")
    print("|---" * (len(sets) + 1) + "|")
    for name, f in scores.items():
        cells = []
        for c in sets:
            sel = [r for r in rows if c == "all" or r["corpus"] == c]
            cells.append(f"{auc([f(r) for r in sel if r['one']], [f(r) for r in sel if not r['one']]):.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\nArea under the ROC curve of one voice against two (pairs of initial linking "
          f"clusters at least {args.purity:.0%} pure), pooled over each corpus's recordings.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
