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


def test_two_batches_on_one_cluster_at_once(tmp_path, cluster):
    # task keys were the same in both (diarize-<i>-<uri>): Dask gave the second batch
    # the first one's tasks, and it failed with a KeyError
    import threading

    audio = tmp_path / "in"
    for i in range(2):
        make_recording(audio / f"rec{i}.wav", seconds=4.0 + i, seed=i)
    results: dict = {}

    def batch(name):
        try:
            results[name] = run([audio], tmp_path / name, scheduler=cluster.scheduler_address)
        except BaseException as exc:  # noqa: BLE001 - shown by the assertion below
            import traceback
            results[name] = "".join(traceback.format_exception(exc))

    threads = [threading.Thread(target=batch, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name in ("a", "b"):
        assert not isinstance(results[name], str), results[name]
        assert (results[name].succeeded, results[name].failed) == (2, 0)
        assert sorted(p.name for p in (tmp_path / name).iterdir()) == ["rec0.rttm", "rec1.rttm"]


def test_an_address_that_is_no_scheduler_is_refused_in_time(tmp_path, monkeypatch):
    # a server that takes the connection and never answers as a scheduler (an HTTP
    # dashboard waits for a request line): Dask waited for its answer forever
    import socket

    from diarize import batch
    from diarize.errors import BatchInputError

    monkeypatch.setattr(batch, "DASK_CONNECT_SECONDS", 2.0)
    make_recording(tmp_path / "in" / "rec.wav", seconds=4.0, seed=0)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)  # the kernel completes the connection; nobody reads
        with pytest.raises(BatchInputError, match="no answer in 2 s"):
            run([tmp_path / "in"], tmp_path / "out",
                scheduler=f"tcp://127.0.0.1:{silent.getsockname()[1]}")
    with pytest.raises(BatchInputError, match="empty address"):
        run([tmp_path / "in"], tmp_path / "out", scheduler="")


# distributed's own noise while its local cluster starts and stops, not ours
@pytest.mark.filterwarnings("ignore:Port .* is already in use")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_a_cluster_without_workers_fails_the_recordings_instead_of_waiting(tmp_path,
                                                                          monkeypatch):
    from diarize import batch

    monkeypatch.setattr(batch, "DASK_NO_WORKERS_SECONDS", 1.0)
    monkeypatch.setattr(batch, "DASK_POLL_SECONDS", 0.2)
    make_recording(tmp_path / "in" / "rec.wav", seconds=4.0, seed=0)
    with distributed.LocalCluster(n_workers=0, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as empty:
        summary = run([tmp_path / "in"], tmp_path / "out", scheduler=empty.scheduler_address)
    assert (summary.succeeded, summary.failed) == (0, 1)
    assert "no workers" in (tmp_path / "out" / "errors.tsv").read_text()


def test_a_dask_worker_reports_a_recordings_warnings(tmp_path, cluster):
    # a Dask worker runs recordings in threads, where the warnings were not kept at all
    import numpy as np
    import soundfile as sf

    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "silence.wav", np.zeros(16000 * 3, np.float32), 16000)
    summary = run([tmp_path / "in"], tmp_path / "out", scheduler=cluster.scheduler_address)
    (record,) = summary.records
    assert record.status == "ok"
    assert record.warnings == ("no speech found in silence",)
