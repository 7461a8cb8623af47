#!/usr/bin/env python
"""Cost of linking speakers across a large batch (``diarize batch --link-speakers``).

    python scripts/bench_link_scale.py [--episodes 100,300,1000] [--seed 0]

Linking works on each recording's kept speaker statistics alone, so its cost is a
function of the number of speakers, not of the audio. This builds the statistics of a
podcast without any audio: R episodes, the same two hosts in every one and a guest of
its own in each (3R speakers, 2(R - 1) links to find), each speaker's UBM statistics
drawn around a voice of its own (component counts from a gamma distribution, first-order
statistics with the UBM's spread), deterministic for ``--seed``. These synthetic guests
are alike enough that linking joins them all into one group besides the two hosts': the
most merges a batch of that size can have (3R - 3), each rescoring the merged group, a
worst case of the pooled linkage's cost. It times
:func:`diarize.link.link_voices` with the default configuration in this process, and
prints the number of groups and a hash of who was linked with whom, so that two trees can
be compared on the same batches (run the script from each, or with ``PYTHONPATH`` set to
the other tree's root). Synthetic voices are not a test of linking's accuracy
(``scripts/bench_link.py`` and ``scripts/bench_voices.py --link-only`` are).
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from diarize.config import VoicesConfig  # noqa: E402
from diarize.link import Voice, link_voices  # noqa: E402
from diarize.speakers import VoiceStats, load_ubm  # noqa: E402

#: How far (in UBM standard deviations) a voice's means lie from the UBM's.
VOICE_SPREAD = 0.5
#: Mean frames per UBM component of a speaker (a gamma of shape 2): about a minute.
MEAN_FRAMES = 60.0


def podcast(episodes: int, *, seed: int = 0):
    """(UBM, voices): two hosts in every episode and one guest each."""
    ubm = load_ubm(None)
    c, d = ubm.gmm.means_.shape
    rng = np.random.default_rng(seed)
    sd = np.sqrt(ubm.gmm.covariances_)
    hosts = ubm.gmm.means_[None] + VOICE_SPREAD * sd * rng.standard_normal((2, c, d))
    voices = []
    for r in range(episodes):
        guest = ubm.gmm.means_ + VOICE_SPREAD * sd * rng.standard_normal((c, d))
        for j, proto in enumerate([hosts[0], hosts[1], guest]):
            n = rng.gamma(2.0, MEAN_FRAMES / 2.0, c)
            first = n[:, None] * proto + np.sqrt(n)[:, None] * sd * rng.standard_normal((c, d))
            voices.append(Voice(f"ep{r:05d}", f"SPEAKER_{j:02d}", VoiceStats(n, first), 60.0))
    return ubm, voices


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", default="100,300,1000")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    print("| episodes | speakers | groups | link seconds | peak RSS MiB | who with whom |")
    print("|---|---|---|---|---|---|")
    for r in (int(x) for x in args.episodes.split(",")):
        ubm, voices = podcast(r, seed=args.seed)
        t = time.perf_counter()
        groups = link_voices(voices, ubm=ubm, config=VoicesConfig())
        took = time.perf_counter() - t
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        key = repr([[(v.uri, v.local) for v in g.members] for g in groups]).encode()
        print(f"| {r} | {len(voices)} | {len(groups)} | {took:.1f} | {rss:.0f} | "
              f"{hashlib.sha256(key).hexdigest()[:12]} |", flush=True)
    print("\nPeak RSS is the process's so far (it only grows): read each row as an upper "
          "bound for its batch.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
