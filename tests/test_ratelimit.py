"""Xero's limits kept from our side: 5 in flight, 60 a window, parking; across processes too."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from xerobridge.clock import FakeClock
from xerobridge.store import usage
from xerobridge.store.db import Store
from xerobridge.store.models import Connection
from xerobridge.xero.ratelimit import Limits, RateLimiter

WORKER = Path(__file__).with_name("limiter_worker.py")


@pytest.fixture
def connection_id(store: Store) -> int:
    """One Xero organisation."""
    with store.transaction() as s:
        conn = Connection(name="demo-org")
        s.add(conn)
        s.flush()
        assert conn.id is not None
        return conn.id


def test_no_more_than_five_calls_in_flight(store: Store, connection_id: int) -> None:
    """The sixth concurrent call waits until one of the five ends."""
    limiter = RateLimiter(store)
    slots = [limiter.try_acquire(connection_id, "w")[0] for _ in range(5)]
    assert all(slots)
    refused, wait = limiter.try_acquire(connection_id, "w")
    assert refused is None and 0 < wait <= 1
    limiter.release(slots[0])  # type: ignore[arg-type]
    assert limiter.try_acquire(connection_id, "w")[0] is not None


def test_no_more_than_sixty_calls_a_minute(
    store: Store, clock: FakeClock, connection_id: int
) -> None:
    """The 61st call in a minute waits until the oldest call is a minute old."""
    limiter = RateLimiter(store)
    for _ in range(60):
        slot, _ = limiter.try_acquire(connection_id, "w")
        assert slot is not None
        limiter.release(slot)
        clock.advance(0.5)
    refused, wait = limiter.try_acquire(connection_id, "w")
    assert refused is None
    assert wait == pytest.approx(60 - 30, abs=0.01)
    clock.advance(wait)
    assert limiter.try_acquire(connection_id, "w")[0] is not None


def test_a_dead_holders_slot_expires(store: Store, clock: FakeClock, connection_id: int) -> None:
    """Slots of a process that died without releasing free themselves."""
    limiter = RateLimiter(store, limits=Limits(slot_timeout=timedelta(seconds=30)))
    for _ in range(5):
        assert limiter.try_acquire(connection_id, "dead")[0]
    assert limiter.try_acquire(connection_id, "live")[0] is None
    clock.advance(31)
    assert limiter.try_acquire(connection_id, "live")[0] is not None


def test_a_parked_connection_makes_no_calls_until_the_time(
    store: Store, clock: FakeClock, connection_id: int
) -> None:
    """A 429's Retry-After, or a spent day, stops every call on that connection."""
    limiter = RateLimiter(store)
    limiter.park(connection_id, clock.now() + timedelta(seconds=42), "429 minute limit")
    refused, wait = limiter.try_acquire(connection_id, "w")
    assert refused is None and wait == pytest.approx(42)
    clock.advance(42)
    assert limiter.try_acquire(connection_id, "w")[0] is not None


def test_acquire_waits_by_the_injected_clock(
    store: Store, clock: FakeClock, connection_id: int
) -> None:
    """acquire() sleeps on the clock, so a test moves time instead of waiting."""
    limiter = RateLimiter(store)
    start = clock.now()

    async def take(n: int) -> None:
        for _ in range(n):
            limiter.release(await limiter.acquire(connection_id, "w"))

    asyncio.run(take(61))
    assert clock.now() - start >= timedelta(seconds=60)


def test_connections_do_not_share_limits(store: Store, connection_id: int) -> None:
    """One organisation's busy minute leaves another's untouched."""
    with store.transaction() as s:
        other = Connection(name="second-org")
        s.add(other)
        s.flush()
        other_id = other.id
    assert other_id is not None
    limiter = RateLimiter(store)
    for _ in range(5):
        assert limiter.try_acquire(connection_id, "w")[0]
    assert limiter.try_acquire(other_id, "w")[0] is not None


@pytest.mark.slow
def test_four_processes_together_keep_the_limits(store_url: str) -> None:
    """4 processes on one store: never more than 5 in flight, nor 60 in any window."""
    store = Store(store_url)
    with store.transaction() as s:
        conn = Connection(name="shared-org")
        s.add(conn)
        s.flush()
        conn_id = conn.id
    store.dispose()
    window = 1.0  # a Xero minute in a second
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), store_url, str(conn_id), "45", str(window)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    calls: list[tuple[float, float]] = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        calls += [tuple(json.loads(line)) for line in out.splitlines()]  # type: ignore[misc]
    assert len(calls) == 180
    events = sorted([(start, 1) for start, _ in calls] + [(end, -1) for _, end in calls])
    level = peak = 0
    for _, delta in events:
        level += delta
        peak = max(peak, level)
    assert peak <= 5
    starts = sorted(start for start, _ in calls)
    busiest = max(sum(1 for t in starts if s <= t < s + window) for s in starts)
    assert busiest <= 60
    assert starts[-1] - starts[0] >= 2 * window  # 180 calls at 60 a window take 2+ windows


def test_the_daily_budget_is_kept_from_our_own_count(
    store: Store, clock: FakeClock, connection_id: int
) -> None:
    """Once the day's counted calls reach the limit, no slot until the next UTC day."""
    with store.transaction() as s:
        conn = s.get(Connection, connection_id)
        assert conn is not None
        conn.daily_limit = 3
        s.add(conn)
        for _ in range(3):
            usage.count_call(s, connection_id, clock.now().date(), status=200,
                             dialect=store.dialect)  # fmt: skip
    limiter = RateLimiter(store)
    refused, wait = limiter.try_acquire(connection_id, "w")
    assert refused is None and wait == pytest.approx(86400)  # the FakeClock starts at midnight
    clock.advance(wait)
    assert limiter.try_acquire(connection_id, "w")[0] is not None
