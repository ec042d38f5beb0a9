"""Keeping to the platform's 5 requests a second per API key, and to what a 429 says.

`Pacer` is the contract the client needs: `acquire(key)` before every request, `hold(key, s)`
when the platform answered 429. `SharedPacer` keeps it across every worker of the installation,
on the core's turns (`ctx.pace`, a row per key in the store); `WindowPacer` keeps it within one
process on the injected clock, for a client made outside a running core.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from xerobridge.sdk import Clock, Pace

log = logging.getLogger(__name__)


class Pacer(Protocol):
    """Permission to send one request with an API key."""

    async def acquire(self, key: str) -> None:
        """Wait until one more request with `key` keeps within the limit, and count it."""
        ...

    def hold(self, key: str, seconds: float) -> None:
        """No request with `key` for `seconds` from now (the platform answered 429)."""
        ...


@dataclass
class _KeyState:
    sent: deque[float] = field(default_factory=deque)
    held_until: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class WindowPacer:
    """At most `requests` per `per_seconds` for each key, counted over a sliding window.

    A sliding window rather than a token bucket with a burst: a bucket of 5 refilled at 5 a
    second lets 9 requests through within one second, which a server counting any one-second
    window refuses. Waiters for one key are served in arrival order.
    """

    def __init__(self, clock: Clock, *, requests: int = 5, per_seconds: float = 1.0) -> None:
        if requests < 1 or per_seconds <= 0:
            raise ValueError("a pacer needs at least one request per a positive time")
        self.clock = clock
        self.requests = requests
        self.per_seconds = per_seconds
        self._keys: dict[str, _KeyState] = {}

    @classmethod
    def per_second(cls, clock: Clock, rate: float) -> WindowPacer:
        """A pacer for `rate` requests a second (a fraction spreads one request wider)."""
        if rate >= 1:
            return cls(clock, requests=int(rate), per_seconds=int(rate) / rate)
        return cls(clock, requests=1, per_seconds=1 / rate)

    def _state(self, key: str) -> _KeyState:
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _KeyState()
        return state

    async def acquire(self, key: str) -> None:
        state = self._state(key)
        async with state.lock:
            while True:
                now = self.clock.monotonic()
                while state.sent and state.sent[0] <= now - self.per_seconds:
                    state.sent.popleft()
                wait = state.held_until - now
                if len(state.sent) >= self.requests:
                    wait = max(wait, state.sent[0] + self.per_seconds - now)
                if wait <= 0:
                    state.sent.append(now)
                    return
                await self.clock.sleep(wait)

    def hold(self, key: str, seconds: float) -> None:
        state = self._state(key)
        until = self.clock.monotonic() + max(0.0, seconds)
        if until > state.held_until:
            log.info("holding requests with API key %s for %.1f s (429)", key, seconds)
            state.held_until = until


class SharedPacer:
    """The core's turns, shared by every worker (`ctx.pace`), at one rate for every key."""

    def __init__(self, pace: Pace, per_second: float) -> None:
        self.pace = pace
        self.per_second = per_second

    async def acquire(self, key: str) -> None:
        await self.pace.acquire(key, self.per_second)

    def hold(self, key: str, seconds: float) -> None:
        self.pace.hold(key, seconds)
