"""The queue on each store: coalescing, leases, backoff, dead letters, what a person does."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlmodel import select

from xerobridge.clock import FakeClock
from xerobridge.runtime.queue import Backoff, NewJob, Queue
from xerobridge.store.db import Store
from xerobridge.store.models import Job, Source, SyncLog


@pytest.fixture
def source_id(store: Store) -> int:
    """A configured source for the jobs to belong to."""
    with store.transaction() as s:
        src = Source(name="shop", plugin="example", key_prefix="SHOP")
        s.add(src)
        s.flush()
        assert src.id is not None
        return src.id


@pytest.fixture
def queue(store: Store, clock: FakeClock) -> Queue:
    """A queue with a seeded backoff, so jitter is repeatable."""
    return Queue(store, clock=clock, backoff=Backoff(base=5, cap=600, rng=random.Random(7)))


def push(source_id: int, key: str, **payload: object) -> NewJob:
    """A push job for one customer record."""
    return NewJob(source_id=source_id, stream="customers", record_key=key, payload=dict(payload))


def all_jobs(store: Store) -> list[Job]:
    """Every job in the table."""
    with store.transaction() as s:
        return list(s.exec(select(Job).order_by(Job.id)).all())


def test_five_edits_before_a_push_make_one_job_with_the_newest_data(
    queue: Queue, store: Store, source_id: int
) -> None:
    """Coalescing: edits of a waiting record merge into its one job."""
    for version in range(5):
        queue.enqueue([push(source_id, "1001", version=version)])
    queue.enqueue([push(source_id, "1002", version=0)])
    jobs = all_jobs(store)
    assert [(j.record_key, j.payload) for j in jobs] == [
        ("1001", {"version": 4}),
        ("1002", {"version": 0}),
    ]


def test_edits_in_one_batch_coalesce_too(queue: Queue, store: Store, source_id: int) -> None:
    """A single enqueue call holding several edits of a record keeps the last."""
    queue.enqueue([push(source_id, "7", v=1), push(source_id, "7", v=2)])
    assert [j.payload for j in all_jobs(store)] == [{"v": 2}]


def test_an_edit_after_the_claim_makes_a_new_job_that_waits_for_the_first(
    queue: Queue, store: Store, source_id: int
) -> None:
    """New edits merge only into unclaimed jobs, and one record never runs twice at once."""
    queue.enqueue([push(source_id, "1", v=1)])
    first = queue.claim("w1")
    queue.enqueue([push(source_id, "1", v=2)])
    assert len(all_jobs(store)) == 2
    assert queue.claim("w2") == []  # the record is busy under w1's lease
    queue.complete("w1", [first[0].id])
    second = queue.claim("w2")
    assert [j.payload for j in second] == [{"v": 2}]


def test_claim_takes_at_most_limit_and_no_job_twice(queue: Queue, source_id: int) -> None:
    """Claims split the due jobs between workers."""
    queue.enqueue([push(source_id, str(i)) for i in range(120)])
    a = queue.claim("a", limit=50)
    b = queue.claim("b", limit=50)
    c = queue.claim("c", limit=50)
    ids = [j.id for j in a + b + c]
    assert (len(a), len(b), len(c)) == (50, 50, 20)
    assert len(set(ids)) == 120


def test_claim_can_be_limited_to_one_connection(queue: Queue, source_id: int) -> None:
    """A worker batch holds the jobs of one Xero connection."""
    queue.enqueue(
        [
            NewJob(source_id=source_id, stream="customers", record_key="a", connection_id=1),
            NewJob(source_id=source_id, stream="customers", record_key="b", connection_id=2),
        ]
    )
    assert [j.record_key for j in queue.claim("w", connection_id=2)] == ["b"]


def test_a_lease_not_renewed_frees_the_jobs_and_heartbeat_keeps_them(
    queue: Queue, clock: FakeClock, source_id: int
) -> None:
    """A dead worker's jobs come back after the lease; a live worker's do not."""
    queue.enqueue([push(source_id, "1"), push(source_id, "2")])
    live = queue.register_worker("live")
    claimed = queue.claim(live, limit=1)
    dead = queue.claim("dead", limit=1)
    assert len(claimed) == len(dead) == 1
    for _ in range(5):
        clock.advance(queue.lease.total_seconds() * 0.6)
        assert queue.heartbeat(live) == 1
    retaken = queue.claim("other")
    assert [j.id for j in retaken] == [dead[0].id]
    assert retaken[0].attempts == 2  # a crash counts as an attempt


def test_a_worker_that_lost_its_lease_cannot_complete_or_fail(
    queue: Queue, clock: FakeClock, source_id: int
) -> None:
    """Once another worker holds the job, the first one's answer is ignored."""
    queue.enqueue([push(source_id, "1")])
    job = queue.claim("slow")[0]
    clock.advance(queue.lease.total_seconds() + 1)
    assert queue.claim("fast")
    assert queue.complete("slow", [job.id]) == 0
    assert queue.fail("slow", job.id, "late") == "lost"
    assert queue.complete("fast", [job.id]) == 1


def test_failures_back_off_exponentially_with_jitter(
    queue: Queue, store: Store, clock: FakeClock, source_id: int
) -> None:
    """Each retry waits base * 2^(n-1) seconds, times a jitter in [0.5, 1]."""
    queue.enqueue([push(source_id, "1")])
    waits = []
    for attempt in range(1, 6):
        job = queue.claim("w")[0]
        assert job.attempts == attempt
        assert queue.fail("w", job.id, "Xero answered 503") == "queued"
        (stored,) = all_jobs(store)
        wait = (stored.run_after - clock.now()).total_seconds()
        waits.append(wait)
        assert 5 * 2 ** (attempt - 1) * 0.5 <= wait <= 5 * 2 ** (attempt - 1)
        assert queue.claim("w") == []  # not due yet
        clock.advance(wait)
    assert waits == sorted(waits)


def test_retry_after_is_honoured_when_longer_than_the_backoff(
    queue: Queue, store: Store, clock: FakeClock, source_id: int
) -> None:
    """A RetryLater with retry_after waits at least that long."""
    queue.enqueue([push(source_id, "1")])
    job = queue.claim("w")[0]
    queue.fail("w", job.id, "throttled", retry_after=120)
    (stored,) = all_jobs(store)
    assert stored.run_after - clock.now() == timedelta(seconds=120)


def test_after_max_attempts_a_job_is_dead_with_its_last_error(
    store: Store, clock: FakeClock, source_id: int
) -> None:
    """Dead letter: the job stops retrying and keeps the error a person needs."""
    queue = Queue(store, clock=clock, max_attempts=3, backoff=Backoff(base=1, cap=1))
    queue.enqueue([push(source_id, "1")])
    states = []
    for n in range(3):
        job = queue.claim("w")[0]
        states.append(queue.fail("w", job.id, f"error {n + 1}"))
        clock.advance(5)
    assert states == ["queued", "queued", "dead"]
    (dead,) = all_jobs(store)
    assert (dead.state, dead.last_error) == ("dead", "error 3")
    assert queue.claim("w") == []


def test_permanent_and_needs_person_failures_do_not_retry(
    queue: Queue, store: Store, source_id: int
) -> None:
    """Bad input dies at once; an ambiguous mapping waits for a person."""
    queue.enqueue([push(source_id, "bad"), push(source_id, "ambiguous")])
    bad, ambiguous = queue.claim("w")
    assert queue.fail("w", bad.id, "Email is not valid", permanent=True) == "dead"
    assert queue.fail("w", ambiguous.id, "two contacts fit", needs_person=True) == "held"
    states = {j.record_key: (j.state, j.hold_reason) for j in all_jobs(store)}
    assert states == {"bad": ("dead", ""), "ambiguous": ("held", "mapping")}


def test_a_new_edit_revives_a_dead_job(queue: Queue, store: Store, source_id: int) -> None:
    """A fixed record can be retried: its next edit queues the dead job afresh."""
    queue.enqueue([push(source_id, "1", email="not-an-email")])
    job = queue.claim("w")[0]
    queue.fail("w", job.id, "Email is not valid", permanent=True)
    queue.enqueue([push(source_id, "1", email="ok@example.com")])
    (revived,) = all_jobs(store)
    assert (revived.state, revived.attempts, revived.last_error) == ("queued", 0, "")
    assert revived.payload == {"email": "ok@example.com"}


def test_held_for_approval_until_approved(queue: Queue, store: Store, source_id: int) -> None:
    """Jobs created without processing wait for a person's approval, one or all of a source."""
    queue.enqueue(
        [
            NewJob(source_id=source_id, stream="orders", record_key=str(i), held=True)
            for i in range(3)
        ]
    )
    queue.enqueue([NewJob(source_id=source_id, stream="orders", record_key="0", held=True)])
    assert queue.claim("w") == []
    first = all_jobs(store)[0]
    assert first.state == "held"  # a new edit keeps a held job held
    assert queue.approve(job_ids=[first.id]) == 1
    assert [j.record_key for j in queue.claim("w")] == ["0"]
    assert queue.approve(source_id=source_id) == 2
    assert len(queue.claim("w")) == 2


def test_cancel_removes_waiting_jobs_and_logs_it(
    queue: Queue, store: Store, source_id: int
) -> None:
    """Cancel takes waiting jobs off the queue, leaves running ones, and says so in the log."""
    queue.enqueue([push(source_id, "1"), push(source_id, "2")])
    running = queue.claim("w", limit=1)[0]
    waiting = next(j for j in all_jobs(store) if j.id != running.id)
    assert queue.cancel([running.id, waiting.id]) == 1
    assert [j.id for j in all_jobs(store)] == [running.id]
    with store.transaction() as s:
        log = s.exec(select(SyncLog)).all()
    assert [(r.record_key, r.action) for r in log] == [(waiting.record_key, "cancelled")]


def test_run_now_makes_a_backed_off_or_dead_job_due(
    queue: Queue, store: Store, source_id: int
) -> None:
    """Run now skips the wait and starts the attempts afresh."""
    queue.enqueue([push(source_id, "1"), push(source_id, "2")])
    a, b = queue.claim("w")
    queue.fail("w", a.id, "503")
    queue.fail("w", b.id, "bad", permanent=True)
    assert queue.claim("w") == []
    assert queue.run_now([a.id, b.id]) == 2
    again = queue.claim("w")
    assert sorted(j.id for j in again) == sorted([a.id, b.id])
    assert all(j.attempts == 1 for j in again)


def test_enqueue_all_queues_one_full_read_of_the_stream(
    queue: Queue, store: Store, source_id: int
) -> None:
    """ "Add all data to queue" asks for a full read; asking twice still makes one."""
    queue.enqueue_all(source_id, "products")
    queue.enqueue_all(source_id, "products")
    (job,) = all_jobs(store)
    assert (job.kind, job.stream, job.payload) == ("fetch", "products", {"full": True})
    assert queue.claim("w", kinds=["push"]) == []
    assert [j.kind for j in queue.claim("w", kinds=["fetch"])] == ["fetch"]


def test_finished_jobs_leave_the_table(queue: Queue, store: Store, source_id: int) -> None:
    """Completion deletes the job, so the hot table holds only work still to do."""
    queue.enqueue([push(source_id, str(i)) for i in range(10)])
    jobs = queue.claim("w", limit=10)
    assert queue.complete("w", [j.id for j in jobs]) == 10
    assert all_jobs(store) == []


def test_a_job_that_kills_every_worker_ends_dead(
    store: Store, clock: FakeClock, source_id: int
) -> None:
    """A poison job is not handed out forever: after max attempts of crashes it is dead."""
    queue = Queue(store, clock=clock, max_attempts=2)
    queue.enqueue([push(source_id, "poison")])
    for _ in range(2):
        assert queue.claim("w")
        clock.advance(queue.lease.total_seconds() + 1)
    assert queue.claim("w") == []
    (job,) = all_jobs(store)
    assert job.state == "dead"
    assert "stopped 2 times" in job.last_error


def test_release_returns_jobs_without_spending_an_attempt(
    queue: Queue, clock: FakeClock, source_id: int
) -> None:
    """A worker that must wait (rate limit) gives its jobs back unharmed."""
    queue.enqueue([push(source_id, "1")])
    job = queue.claim("w")[0]
    assert queue.release("w", [job.id], delay=30) == 1
    assert queue.claim("w") == []
    clock.advance(30)
    assert queue.claim("w")[0].attempts == 1


def test_backoff_is_capped() -> None:
    """However many attempts, no wait exceeds the cap."""
    backoff = Backoff(base=5, cap=60, rng=random.Random(1))
    assert max(backoff.delay(n) for n in range(1, 40)) <= 60
