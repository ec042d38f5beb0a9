"""The queue shared by real worker processes, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from xerobridge.clock import FakeClock
from xerobridge.runtime.queue import NewJob, Queue
from xerobridge.store.db import Store
from xerobridge.store.models import Job, Source, SyncLog, Worker

WORKER = Path(__file__).with_name("queue_worker.py")


def start(url: str, *args: str) -> subprocess.Popen[str]:
    """Start a worker process on the store."""
    return subprocess.Popen(
        [sys.executable, str(WORKER), url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def fill(store: Store, n: int) -> list[int]:
    """Enqueue n push jobs of one source and return their ids."""
    with store.transaction() as s:
        src = Source(name="shop", plugin="example", key_prefix="SHOP")
        s.add(src)
        s.flush()
        source_id = src.id
    assert source_id is not None
    Queue(store).enqueue(
        NewJob(source_id=source_id, stream="orders", record_key=str(i)) for i in range(n)
    )
    with store.transaction() as s:
        return list(s.exec(select(Job.id)).all())


@pytest.mark.slow
def test_two_workers_drain_5000_jobs_each_claimed_once(store_url: str) -> None:
    """No job is claimed by both workers, and every job is finished exactly once."""
    store = Store(store_url)
    ids = fill(store, 5000)
    workers = [start(store_url, f"w{i}", "drain") for i in range(2)]
    claimed: list[list[int]] = []
    for proc in workers:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        claimed.append([i for line in out.splitlines() for i in json.loads(line)])
    a, b = (set(c) for c in claimed)
    assert not a & b
    assert sum(len(c) for c in claimed) == len(a | b) == 5000
    assert a | b == set(ids)
    assert min(len(a), len(b)) > 0  # both really took part
    with store.transaction() as s:
        assert s.exec(select(sa.func.count()).select_from(Job)).one() == 0
        done = s.exec(select(SyncLog.job_id)).all()
    assert sorted(done) == sorted(ids)
    store.dispose()


@pytest.mark.slow
def test_a_killed_workers_jobs_are_claimable_once_its_lease_runs_out(store_url: str) -> None:
    """SIGKILL with a batch claimed: its jobs return within one lease of the last heartbeat."""
    store = Store(store_url)
    ids = fill(store, 80)
    lease = 2.0
    proc = start(store_url, "doomed", "hold", "50", str(lease))
    held = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
    assert len(held) == 50
    # Wait for a heartbeat after the claim, so the kill lands on a live, renewing worker.
    with store.transaction() as s:
        first = s.get(Worker, "doomed")
    assert first is not None and first.heartbeat_at is not None
    while True:
        with store.transaction() as s:
            beat = s.get(Worker, "doomed")
        assert beat is not None and beat.heartbeat_at is not None
        if beat.heartbeat_at > first.heartbeat_at:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    last_beat = beat.heartbeat_at

    with store.transaction() as s:
        leases = {j.lease_until for j in s.exec(select(Job).where(Job.lease_owner == "doomed"))}
    assert leases and max(leases) <= last_beat + timedelta(seconds=lease + 1)

    clock = FakeClock(last_beat)
    queue = Queue(store, clock=clock)
    others = queue.claim("survivor", limit=100)
    assert sorted(j.id for j in others) == sorted(set(ids) - set(held))  # the dead one's are leased
    clock.advance(lease + 1.0)  # "within seconds": one lease after the last heartbeat
    retaken = queue.claim("survivor", limit=100)
    assert sorted(j.id for j in retaken) == sorted(held)
    with store.transaction() as s:
        queue.complete("survivor", ids, session=s)
        for job_id in ids:
            s.add(SyncLog(job_id=job_id, action="created", message="OK"))
    with store.transaction() as s:
        assert s.exec(select(sa.func.count()).select_from(Job)).one() == 0
        done = s.exec(select(SyncLog.job_id)).all()
    assert sorted(done) == sorted(ids)  # every job done once
    store.dispose()
