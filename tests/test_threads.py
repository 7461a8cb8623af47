"""The pipeline's own threads (diarize._threads): read_ahead and worker_pool keep the
items, their order and the errors as they are without threads."""

import threading

import pytest

from diarize._threads import WORKERS_ENV_VAR, pipeline_workers, read_ahead, worker_pool


@pytest.mark.parametrize("workers", [1, 2])
def test_read_ahead_yields_the_items_in_order(workers):
    assert list(read_ahead(iter(range(50)), workers=workers)) == list(range(50))


@pytest.mark.parametrize("workers", [1, 2])
def test_read_ahead_raises_a_producer_error_in_its_place(workers):
    def items():
        yield 1
        yield 2
        raise ValueError("bad block")

    got = []
    with pytest.raises(ValueError, match="bad block"):
        for x in read_ahead(items(), workers=workers):
            got.append(x)
    assert got == [1, 2]


def test_read_ahead_closed_early_stops_and_closes_the_producer():
    closed = threading.Event()
    produced = []

    def items():
        try:
            for i in range(10_000):
                produced.append(i)
                yield i
        finally:
            closed.set()

    gen = read_ahead(items(), workers=2)
    assert next(gen) == 0
    gen.close()
    assert closed.is_set()  # close() waits for the producer to finish
    assert len(produced) < 10  # it stopped a few items ahead, not at the end


def test_pipeline_workers_follow_the_environment(monkeypatch):
    monkeypatch.setenv(WORKERS_ENV_VAR, "3")
    assert pipeline_workers() == 3
    monkeypatch.setenv(WORKERS_ENV_VAR, "0")  # not a worker count: the default
    assert 1 <= pipeline_workers() <= 2
    with worker_pool(1) as pool:
        assert pool is None
