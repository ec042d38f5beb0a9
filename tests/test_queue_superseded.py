"""A running job whose record was enqueued again while it ran, on each store.

The record may have one waiting job only (`ux_job_pending`). When the running one goes back to
waiting (released, failed, its worker stopping, its lease dead too often), the newer job, which
carries the newer data, stays and the older one goes; before, the store refused the update and
the worker died (seen with 4 workers on PostgreSQL).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from xerobridge.clock import FakeClock
from xerobridge.runtime.queue import NewJob, Queue
from xerobridge.store.db import Store
from xerobridge.store.models import Job, Source


@pytest.fixture
def queue(store: Store, clock: FakeClock) -> Queue:
    """A queue on the test's clock, with one source."""
    with store.transaction() as s:
        s.add(Source(name="shop", plugin="example", key_prefix="SHOP"))
    return Queue(store, clock=clock)


def edit(queue: Queue, key: str, version: int) -> None:
    """Enqueue an edit of one guest record."""
    with queue.store.transaction() as s:
        source_id = s.exec(select(Source.id)).one()
    assert source_id is not None
    queue.enqueue(
        [NewJob(source_id=source_id, stream="guests", record_key=key, payload={"v": version})]
    )


def waiting(queue: Queue) -> list[tuple[str, str, object]]:
    """(key, state, payload) of every job, oldest first."""
    with queue.store.transaction() as s:
        jobs = s.exec(select(Job).order_by(Job.id)).all()
    return [(j.record_key, j.state, j.payload) for j in jobs]


@pytest.fixture
def running_and_newer(queue: Queue) -> int:
    """Guest a runs under w1's lease (version 1) while version 2 of it waits; b runs alone."""
    edit(queue, "a", 1)
    edit(queue, "b", 1)
    claimed = queue.claim("w1", limit=10)
    assert sorted(j.record_key for j in claimed) == ["a", "b"]
    edit(queue, "a", 2)
    return next(j.id for j in claimed if j.record_key == "a")  # type: ignore[return-value]


def test_release_keeps_the_newer_job_of_a_record(queue: Queue, running_and_newer: int) -> None:
    """Giving back a job whose record waits again drops the older one; the others go back."""
    with queue.store.transaction() as s:
        b = s.exec(select(Job.id).where(Job.record_key == "b")).one()
    assert queue.release("w1", [running_and_newer, b]) == 2
    assert waiting(queue) == [("b", "queued", {"v": 1}), ("a", "queued", {"v": 2})]


def test_a_stopping_worker_leaves_one_job_per_record(queue: Queue, running_and_newer: int) -> None:
    """forget_worker gives back what it holds, except what a newer job replaces."""
    queue.forget_worker("w1")
    assert waiting(queue) == [("b", "queued", {"v": 1}), ("a", "queued", {"v": 2})]


@pytest.mark.parametrize("permanent", [False, True], ids=["retry", "dead"])
def test_a_failure_is_superseded_by_the_newer_job(
    queue: Queue, running_and_newer: int, permanent: bool
) -> None:
    """A failed attempt whose record waits again is not kept, queued or dead."""
    state = queue.fail("w1", running_and_newer, "Xero said no", permanent=permanent)
    assert state == "superseded"
    assert [row for row in waiting(queue) if row[0] == "a"] == [("a", "queued", {"v": 2})]


def test_a_job_that_kept_killing_workers_gives_way_to_the_newer_one(
    queue: Queue, running_and_newer: int, clock: FakeClock
) -> None:
    """At its last attempt a job whose lease ran out is dead, unless a newer job waits."""
    with queue.store.transaction() as s:
        job = s.get(Job, running_and_newer)
        assert job is not None
        job.attempts = job.max_attempts
        s.add(job)
    clock.advance(queue.lease.total_seconds() + 1)
    assert [j.record_key for j in queue.claim("w2", limit=10)] == ["b"]
    assert [row for row in waiting(queue) if row[0] == "a"] == [("a", "queued", {"v": 2})]
    assert [(j.record_key, j.payload) for j in queue.claim("w2")] == [("a", {"v": 2})]


def test_a_lone_job_still_goes_back_to_waiting(queue: Queue, clock: FakeClock) -> None:
    """Without a newer job nothing changes: the released job waits, as before."""
    edit(queue, "c", 1)
    (job,) = queue.claim("w1")
    assert queue.release("w1", [job.id], delay=30) == 1  # type: ignore[list-item]
    assert waiting(queue) == [("c", "queued", {"v": 1})]
    clock.advance(timedelta(seconds=31).total_seconds())
    assert [j.record_key for j in queue.claim("w2")] == ["c"]
