"""The pacer: 5 requests in any second per key, a 429's hold, keys apart, arrival order."""

from __future__ import annotations

import asyncio

from xerobridge.sdk import FakeClock
from xerobridge_payments.pacer import WindowPacer


def send_times(pacer: WindowPacer, clock: FakeClock, key: str, count: int) -> list[float]:
    async def go() -> list[float]:
        times = []
        for _ in range(count):
            await pacer.acquire(key)
            times.append(clock.monotonic())
        return times

    return asyncio.run(go())


def test_no_second_holds_more_than_five_requests(clock: FakeClock) -> None:
    pacer = WindowPacer(clock)
    times = send_times(pacer, clock, "k", 23)
    assert times[:5] == [0.0] * 5 and times[5] == 1.0
    for n in range(len(times) - 5):
        assert times[n + 5] - times[n] >= 1.0 - 1e-9


def test_a_hold_delays_the_next_request_and_only_for_that_key(clock: FakeClock) -> None:
    pacer = WindowPacer(clock)
    pacer.hold("a", 3)
    assert send_times(pacer, clock, "b", 1) == [0.0]
    assert send_times(pacer, clock, "a", 1) == [3.0]


def test_concurrent_waiters_are_paced_together(clock: FakeClock) -> None:
    pacer = WindowPacer(clock)
    seen: list[float] = []

    async def one() -> None:
        await pacer.acquire("k")
        seen.append(clock.monotonic())

    async def go() -> None:
        await asyncio.gather(*(one() for _ in range(12)))

    asyncio.run(go())
    assert sorted(seen) == seen and seen[-1] >= 2.0
    assert sum(1 for t in seen if t < 1.0) == 5


def test_a_fractional_rate_spreads_requests(clock: FakeClock) -> None:
    pacer = WindowPacer.per_second(clock, 0.5)
    assert send_times(pacer, clock, "k", 3) == [0.0, 2.0, 4.0]
