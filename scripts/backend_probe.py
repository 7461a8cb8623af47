#!/usr/bin/env python
"""Probe: naming scored by a trained back-end on MAP supervectors (within-voice
normalisation or LDA, length normalisation, cosine or two-covariance PLDA), against and
fused with today's cohort-normalised GMM-UBM score.

Usage::

    python scripts/naming_probe.py [run options]        # first: the captures
    python scripts/backend_probe.py [the same run options] [--lda 0] [--pca 100]
        [--kinds cosine,plda] [--enrol clean,mean,max] [--fuse 0.25,0.5,1]
        [--target-fa 2.5,5] [--chunk-seconds 4] [--chunks 4] [--copies 4]

Reads naming_probe.py's captures of bench_naming.py's runs (each output speaker's
statistics before naming and the run's voiceprints). One back-end is trained per UBM on
the voices that UBM heard: all of ``--train`` for the training-voice runs, the voices
outside the part for a never-heard part. Each voice's speech is cut into ``--chunks``
chunks of ``--chunk-seconds``, clean and in ``--copies`` degraded copies
(scripts/train_nuisance.py's sessions, seed 7), and each session MAP-adapted into a
supervector of the UBM-whitened, weight-scaled space; kept in ``WORKDIR/backend_*.npz``.

The back-end (:class:`Backend`): PCA to ``--pca`` dimensions; then ``--lda`` N > 0
dimensions of LDA, or with 0 the PCA space whitened by its within-voice scatter (WCCN);
length normalisation; scored by ``cosine`` or ``plda`` (the two-covariance model's
log-likelihood ratio). A voiceprint is embedded from its clean statistics (``clean``),
as the mean of its clean and condition models' embeddings (``mean``), or scored by the
best of them (``max``). ``--fuse W`` adds ``base + 10 W cosine`` and ``base + W plda``.

Every rule is named as the pipeline names (:func:`diarize.voices.assign`, best pair
first) at each threshold of a grid over its own scores; printed per set is the threshold
that names the most enrolled time with pooled named time right >= 95 % and pooled
never-enrolled time named <= each ``--target-fa``: an oracle threshold, which flatters
every rule alike (the base rule included), so that curves are compared, not defaults.
Probe only: nothing here is shipped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import bench_naming  # noqa: E402
import naming_probe  # noqa: E402
from bench_voices import score, shares  # noqa: E402


def sessions_for(cfg, train_dir: Path, left_out: set[str], cache: Path, *,
                 chunk_seconds: float, chunks: int, copies: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Session supervectors (n, C * D) of the voices of `train_dir` outside `left_out`
    and the voice index of each, made once and kept in `cache`."""
    if cache.exists():
        d = np.load(cache)
        return d["x"], d["owner"]
    import train_nuisance as tn

    from diarize._threads import pipeline_threads
    from diarize.names import replace_atomically

    speakers = {k: v for k, v in tn.read_speakers(train_dir).items() if k not in left_out}
    sr = cfg.audio.sample_rate
    audio = {s: tn.read_audio(v, sr) for s, v in speakers.items()}
    with pipeline_threads():
        x, owner, _ = tn.sessions(cfg, audio, chunk_seconds=chunk_seconds, chunks=chunks,
                                  copies=copies, seed=7, snr_db=(5.0, 30.0),
                                  rt60=(0.2, 0.8), band=(300.0, 3400.0))
    replace_atomically(cache, lambda f: np.savez(f, x=x, owner=owner), binary=True)
    return x, owner


class Backend:
    """A back-end trained on session supervectors `x` (n, C * D) of voices `owner` (n,):
    PCA to `pca` dimensions, then LDA to `dim` (or, `dim` 0, whitening by the
    within-voice scatter), length normalisation, and a two-covariance PLDA model of the
    normalised embeddings."""

    def __init__(self, x: np.ndarray, owner: np.ndarray, *, dim: int, pca: int = 400):
        self.mean = x.mean(axis=0)
        xc = x - self.mean
        # PCA first: the supervectors (C*D) outnumber what the sessions can estimate
        u, s, vt = np.linalg.svd(xc, full_matrices=False)
        k = min(pca, len(s))
        self.pca = vt[:k].T / np.maximum(s[:k], 1e-9) * np.sqrt(len(x))
        y = xc @ self.pca
        sw, sb = self._scatter(y, owner)
        # LDA: generalised eigenproblem sb v = l sw v
        sw += 1e-3 * np.trace(sw) / len(sw) * np.eye(len(sw))
        lw = np.linalg.cholesky(sw)
        li = np.linalg.inv(lw)
        if dim > 0:
            vals, vecs = np.linalg.eigh(li @ sb @ li.T)
            order = np.argsort(-vals)[:dim]
            self.lda = self.pca @ (li.T @ vecs[:, order])
        else:  # WCCN alone: the PCA space whitened by its within-voice scatter
            self.lda = self.pca @ li.T
        z = self._norm(xc @ self.lda)
        self.zmean = z.mean(axis=0)
        z = z - self.zmean
        w, b = self._scatter(z, owner)
        self.W, self.B = w, b
        t = b + w
        # log N([x1;x2]; 0, [[T,B],[B,T]]) - log N(x1;0,T) - log N(x2;0,T) as quadratic forms
        big = np.block([[t, b], [b, t]])
        ib = np.linalg.inv(big)
        it = np.linalg.inv(t)
        d = len(t)
        self.Q = it - ib[:d, :d]  # x1' Q x1 + x2' Q x2 + 2 x1' P x2 (halved below)
        self.P = -ib[:d, d:]
        self.const = 0.5 * (2 * np.linalg.slogdet(t)[1] - np.linalg.slogdet(big)[1])

    @staticmethod
    def _scatter(y, owner):
        sw = np.zeros((y.shape[1], y.shape[1]))
        means = []
        n = 0
        for s in np.unique(owner):
            ys = y[owner == s]
            m = ys.mean(axis=0)
            means.append(m)
            sw += (ys - m).T @ (ys - m)
            n += len(ys)
        sw /= n
        mm = np.array(means)
        mm = mm - mm.mean(axis=0)
        sb = mm.T @ mm / len(mm)
        return sw, sb

    @staticmethod
    def _norm(z):
        return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12) * np.sqrt(z.shape[1])

    def embed(self, x):
        return self._norm((x - self.mean) @ self.lda) - self.zmean

    def plda(self, a, b):
        qa = 0.5 * np.einsum("id,de,ie->i", a, self.Q, a)
        qb = 0.5 * np.einsum("id,de,ie->i", b, self.Q, b)
        return self.const + qa[:, None] + qb[None, :] + a @ self.P @ b.T

    def cosine(self, a, b):
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
        return a @ b.T


def supervectors(ubm, stats, rf):
    from diarize.speakers import supervector_offsets

    means = np.stack([s.means(ubm.gmm, relevance_factor=rf) for s in stats])
    return supervector_offsets(ubm.gmm, means)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bench_naming.add_run_args(ap)
    ap.add_argument("--lda", type=int, default=0, help="LDA dimensions (0: WCCN)")
    ap.add_argument("--pca", type=int, default=100)
    ap.add_argument("--fuse", default="", help="weights W of base + 10 W cosine and base + W plda")
    ap.add_argument("--chunk-seconds", type=float, default=4.0)
    ap.add_argument("--chunks", type=int, default=4)
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--thresholds", default="")
    ap.add_argument("--enrol", default="clean,mean,max")
    ap.add_argument("--kinds", default="plda,cosine")
    ap.add_argument("--target-fa", default="2.5,5",
                    help="never-enrolled time named (%%) allowed, pooled")
    a = ap.parse_args(argv)
    if not bench_naming.check_run_args(ap, a, prog="backend_probe"):
        return 1
    runs, prepare = bench_naming.plan(a)
    missing = [r for r in runs if not (r.counts.parent / "probe.pkl").exists()]
    if missing:
        print(f"backend_probe: error: no capture of run {missing[0].name} in "
              f"{missing[0].counts.parent} (run scripts/naming_probe.py with the same "
              "options first)", file=sys.stderr)
        return 1
    for cmd in prepare:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    from diarize.cluster import speaker_ubm
    from diarize.voices import assign, match_scores

    backends: dict[str, Backend] = {}
    groups: dict[str, list] = {"training": [], "never-heard": []}
    for r in runs:
        saved = pickle.loads((r.counts.parent / "probe.pkl").read_bytes())
        cfg = naming_probe.run_config(saved["overrides"])
        ubm = speaker_ubm(cfg.cluster)
        left_out: set[str] = set()
        if r.group == "never-heard":  # the part's voices, which its UBM never heard
            part = Path(r.argv[r.argv.index("--train") + 1])
            left_out = set(json.loads(part.with_suffix(".json").read_text())["speakers"])
        key = (f"{cfg.cluster.ubm_path}|{sorted(left_out)}|{a.chunk_seconds}|{a.chunks}|"
               f"{a.copies}")
        tag = hashlib.sha1(key.encode()).hexdigest()[:10]
        if key not in backends:
            x, owner = sessions_for(cfg, a.train, left_out, a.workdir / f"backend_{tag}.npz",
                                    chunk_seconds=a.chunk_seconds, chunks=a.chunks,
                                    copies=a.copies)
            backends[key] = Backend(x, owner, dim=min(a.lda, len(np.unique(owner)) - 1), pca=a.pca)
            print(f"backend {tag}: {len(x)} sessions, {len(np.unique(owner))} voices",
                  flush=True)
        be = backends[key]
        rf = cfg.voices.relevance_factor
        prints = saved["prints"]
        per_conv = []
        # each voiceprint's models (clean first, then its condition copies) embedded once
        print_emb = [be.embed(supervectors(ubm, p.models(), rf)) for p in prints]
        enrolled_as = {"clean": [e[:1] for e in print_emb],
                       "mean": [e.mean(axis=0, keepdims=True) for e in print_emb],
                       "max": print_emb}
        for c in saved["convs"]:
            s_base = match_scores(ubm, c["stats"], prints, config=cfg)
            te = be.embed(supervectors(ubm, c["stats"], rf))
            out = {"base": s_base}
            for kind in a.kinds.split(","):
                f = be.plda if kind == "plda" else be.cosine
                for how in a.enrol.split(","):
                    # a voiceprint scores the best of its embeddings (one but for "max")
                    cols = [f(te, e).max(axis=1) for e in enrolled_as[how]]
                    out[f"{kind}-{how}"] = (np.stack(cols, axis=1) if cols
                                            else np.zeros((len(te), 0)))
            for w in [float(v) for v in a.fuse.split(",") if v]:
                for k in [k for k in list(out) if k.startswith("cosine")]:
                    out[f"base+{w}{k}"] = s_base + w * 10 * out[k]
                for k in [k for k in list(out) if k.startswith("plda")]:
                    out[f"base+{w}{k}"] = s_base + w * out[k]
            per_conv.append(out)
        groups[r.group].append((saved, per_conv))

    def counts(group, rule, t):
        res = []
        for saved, per_conv in groups[group]:
            names = [p.name for p in saved["prints"]]
            enrolled = set(saved["enrolled"])
            total = np.zeros(6)
            for c, sc in zip(saved["convs"], per_conv):
                s = sc[rule]
                mapping = assign(s, threshold=t)
                rename = {c["speakers"][i]: names[j] for i, j in mapping.items()}
                total += score(c["conv"], [(x, y, rename.get(z, z)) for x, y, z in c["turns"]],
                               enrolled)
            res.append(total)
        return res

    rules = list(groups["training"][0][1][0]) if groups["training"] else list(groups["never-heard"][0][1][0])
    print("rule, then per set: threshold at which pooled never-enrolled named <= target:"
          " enrolled right / named right / never-enrolled named (mean over runs)")
    for rule in rules:
        for group in groups:
            if not groups[group]:
                continue
            allv = np.concatenate([sc[rule].ravel() for _, pc in groups[group]
                                   for sc in pc if sc[rule].size])
            grid = np.quantile(allv, np.linspace(0.85, 0.9999, 300))
            table = []
            for t in grid:
                cs = counts(group, rule, t)
                m = np.mean([shares(c) for c in cs], axis=0)
                p = shares(np.sum(cs, axis=0))
                table.append((t, m, p))
            for fa in [float(v) for v in a.target_fa.split(",")]:
                ok = [row for row in table if row[2][2] <= fa and row[2][1] >= 95]
                if ok:
                    t, m, p = max(ok, key=lambda row: row[2][0])
                    print(f"{rule:<14} {group:<12} fa<={fa:3.0f}%  t={t:8.3f}  mean {m[0]:5.1f} / "
                          f"{m[1]:5.1f} / {m[2]:4.1f}   pooled {p[0]:5.1f} / {p[1]:5.1f} / {p[2]:4.1f}",
                          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
