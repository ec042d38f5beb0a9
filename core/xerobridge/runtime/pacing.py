"""Requests to a source's API spaced out across every worker that shares the store.

A source's API may allow a few requests a second per API key (the payments platform: 5), and
workers each keeping to that on their own would together go past it. Each key has one row in
`pace`: the earliest time its next request may go. Taking a turn moves that time on by
1/rate, in a transaction that holds the row (FOR UPDATE on PostgreSQL; SQLite's write lock), so
no two turns overlap: at most `rate` requests in any second, whichever process sends them. A
429's wait (Retry-After) moves it on for every worker at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from xerobridge.clock import Clock
from xerobridge.store.db import Store
from xerobridge.store.models import Pace

log = logging.getLogger(__name__)


class SharedPacer:
    """Turns to call a source's API, per key, shared through the store (`ctx.pace`)."""

    def __init__(self, store: Store, *, clock: Clock | None = None, prefix: str = "") -> None:
        self.store = store
        self.clock = clock or store.clock
        #: Keeps plugins' keys apart (the plugin's name).
        self.prefix = prefix

    def take(self, key: str, per_second: float) -> float:
        """Take the key's next turn; the seconds to wait until it comes."""
        if per_second <= 0:
            raise ValueError("a pace needs a positive number of requests a second")
        now = self.clock.now()
        gap = timedelta(seconds=1 / per_second)
        at = self._move(key, lambda next_at: max(now, next_at), gap)
        return max(0.0, (at - now).total_seconds())

    async def acquire(self, key: str, per_second: float) -> None:
        """Wait for the key's next turn."""
        wait = self.take(key, per_second)
        if wait > 0:
            await self.clock.sleep(wait)

    def hold(self, key: str, seconds: float) -> None:
        """No turn for the key until `seconds` from now (the API answered 429)."""
        until = self.clock.now() + timedelta(seconds=max(0.0, seconds))
        self._move(key, lambda next_at: max(until, next_at), timedelta())
        log.info("requests with %s%s held for %.1f s (429)", self.prefix, key, seconds)

    def _move(self, key: str, start: Callable[[datetime], datetime], gap: timedelta) -> datetime:
        """Move the key's row on: its next time becomes start(next time) + gap; the start."""
        name = self.prefix + key
        for _ in range(2):  # a second try when another worker made the row first
            try:
                with self.store.transaction() as s:
                    query = select(Pace).where(Pace.key == name)
                    if not self.store.is_sqlite:
                        query = query.with_for_update()
                    row = s.exec(query).first()
                    if row is None:
                        row = Pace(key=name, next_at=self.clock.now())
                    at = start(row.next_at)
                    row.next_at = at + gap
                    s.add(row)
                    return at
            except IntegrityError:
                continue
        raise RuntimeError(f"could not take a turn for {name!r}")
