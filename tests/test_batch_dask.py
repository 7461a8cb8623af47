"""Batch on a real Dask distributed cluster (scheduler + two worker processes on loopback)."""

from __future__ import annotations

import pytest

from batch_audio import make_recording
from diarize.batch import run

# Whole recordings, subprocesses or worker pools: deselected by -m "not slow".
pytestmark = pytest.mark.slow

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  host="127.0.0.1", dashboard_address=None) as c:
        yield c


def test_dask_output_matches_local_run(tmp_path, cluster):
    audio = tmp_path / "in"
    for i in range(6):
        make_recording(audio / f"rec{i}.wav", seconds=4.0 + i, seed=i)
    (audio / "broken.wav").write_text("not audio")
    local = run([audio], tmp_path / "local", jobs=1)
    remote = run([audio], tmp_path / "remote", scheduler=cluster.scheduler_address)
    assert (remote.succeeded, remote.failed) == (local.succeeded, local.failed) == (6, 1)
    assert [r.uri for r in remote.records] == [r.uri for r in local.records]
    names = sorted(p.name for p in (tmp_path / "local").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "remote").iterdir())
    for name in names:
        if name != "errors.tsv":  # holds absolute paths, same here, but not the point
            assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "remote" / name).read_bytes()
    assert (tmp_path / "remote" / "errors.tsv").read_text().count("\n") == 2
    # Resume works the same on the cluster: nothing left to do but the broken file.
    again = run([audio], tmp_path / "remote", scheduler=cluster.scheduler_address)
    assert (again.succeeded, again.skipped, again.failed) == (0, 6, 1)
