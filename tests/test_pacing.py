"""Turns to call a source's API, shared by every worker through the store, on both stores."""

from __future__ import annotations

import asyncio

from xerobridge.clock import FakeClock
from xerobridge.runtime.pacing import SharedPacer
from xerobridge.store.db import Store


def test_two_workers_share_one_pace_per_key(store: Store, clock: FakeClock) -> None:
    """Turns alternate between two workers' pacers: five a second for the key, not ten."""
    first, second = SharedPacer(store, prefix="payments:"), SharedPacer(store, prefix="payments:")
    waits = [(first if n % 2 else second).take("key-1", 5) for n in range(10)]
    assert [round(w, 6) for w in waits] == [round(n * 0.2, 6) for n in range(10)]
    # Another key, or another plugin's key of the same name, has turns of its own.
    assert first.take("key-2", 5) == 0
    assert SharedPacer(store, prefix="other:").take("key-1", 5) == 0


def test_a_429_holds_the_key_for_every_worker(store: Store, clock: FakeClock) -> None:
    first, second = SharedPacer(store), SharedPacer(store)
    assert first.take("key", 5) == 0
    second.hold("key", 30)
    assert round(first.take("key", 5), 6) == 30
    clock.advance(60)
    assert first.take("key", 5) == 0


def test_acquire_waits_for_the_turn_on_the_clock(store: Store, clock: FakeClock) -> None:
    pacer = SharedPacer(store)
    start = clock.now()

    async def three() -> None:
        for _ in range(3):
            await pacer.acquire("key", 2)

    asyncio.run(three())
    assert (clock.now() - start).total_seconds() == 1.0  # turns at 0, 0.5 and 1.0 s
