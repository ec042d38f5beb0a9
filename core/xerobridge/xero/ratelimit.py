"""Xero's per-organisation limits, kept from our side across every process that shares the store.

Before each call a worker takes a slot for the connection: a row in `api_call`, taken in a
transaction that holds the connection's row lock (FOR UPDATE on PostgreSQL; SQLite's write lock
does the same), so that no two processes can both see room for one more call. A slot is refused
while 5 calls are in flight, while 60 have been running within the last minute, or while the
connection is parked (a 429 said to wait), or while the day's calls counted in `api_usage` reach
the connection's daily limit. A slot whose holder died expires.

A call counts in the minute until a minute after it ended, not after it started: Xero counts it
when the request arrives, which is some time after the slot was taken, so a window counted from
the slots' starts would let a 61st call reach Xero while the first is still in Xero's minute.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa
from sqlmodel import col, select

from xerobridge.clock import Clock
from xerobridge.store.db import Store
from xerobridge.store.models import ApiCall, ApiUsage, Connection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """One organisation's limits; `window` is a Xero minute (shorter in time-scaled runs)."""

    concurrent: int = 5
    per_window: int = 60
    window: timedelta = timedelta(seconds=60)
    #: A slot not released by then is taken to belong to a dead process.
    slot_timeout: timedelta = timedelta(seconds=120)
    #: Waiting for an in-flight call to end is polled this often.
    poll: float = 0.05


@dataclass(frozen=True)
class Slot:
    """Permission for one call to Xero."""

    id: int
    connection_id: int
    started_at: datetime


class RateLimiter:
    """Slots for calls to Xero, per connection, shared through the store."""

    def __init__(self, store: Store, *, clock: Clock | None = None, limits: Limits | None = None):
        self.store = store
        self.clock = clock or store.clock
        self.limits = limits or Limits()

    def try_acquire(self, connection_id: int, holder: str) -> tuple[Slot | None, float]:
        """A slot now, or None and how many seconds to wait before asking again."""
        now = self.clock.now()
        lim = self.limits
        with self.store.transaction() as s:
            lock = select(Connection.parked_until, Connection.daily_limit).where(
                Connection.id == connection_id
            )
            if not self.store.is_sqlite:
                lock = lock.with_for_update()
            row = s.exec(lock).first()
            parked_until, daily_limit = row if row is not None else (None, 0)
            if parked_until is not None and parked_until > now:
                return None, (parked_until - now).total_seconds()
            spent = s.exec(
                select(ApiUsage.calls).where(
                    ApiUsage.connection_id == connection_id, ApiUsage.day == now.date()
                )
            ).first()
            if daily_limit and spent is not None and spent >= daily_limit:
                # The day's budget is spent by our own count: wait for the next UTC day.
                tomorrow = datetime.combine(now.date() + timedelta(days=1), time(), tzinfo=UTC)
                return None, (tomorrow - now).total_seconds()
            recent = s.exec(
                select(ApiCall.started_at, ApiCall.finished_at, ApiCall.expires_at)
                .where(
                    ApiCall.connection_id == connection_id,
                    sa.or_(
                        col(ApiCall.finished_at) > now - lim.window,
                        col(ApiCall.finished_at).is_(None),
                    ),
                )
                .order_by(col(ApiCall.started_at))
            ).all()
            # Running calls count (until they end or expire), and ended ones for a window.
            in_flight = [r for r in recent if r[1] is None and r[2] > now]
            ends = sorted(r[1] for r in recent if r[1] is not None)
            if len(in_flight) + len(ends) >= lim.per_window:
                if len(ends) <= len(in_flight) + len(ends) - lim.per_window:
                    return None, lim.poll  # only the end of a running call makes room
                oldest = ends[len(in_flight) + len(ends) - lim.per_window]
                return None, max(lim.poll, (oldest + lim.window - now).total_seconds())
            if len(in_flight) >= lim.concurrent:
                return None, lim.poll
            call = ApiCall(
                connection_id=connection_id,
                holder=holder,
                started_at=now,
                expires_at=now + lim.slot_timeout,
            )
            s.add(call)
            s.flush()
            assert call.id is not None
            return Slot(call.id, connection_id, now), 0.0

    def day_left(self, connection_id: int) -> int:
        """Calls left of the connection's daily limit today, by our own count."""
        now = self.clock.now()
        with self.store.transaction() as s:
            limit = s.exec(
                select(Connection.daily_limit).where(Connection.id == connection_id)
            ).first()
            spent = s.exec(
                select(ApiUsage.calls).where(
                    ApiUsage.connection_id == connection_id, ApiUsage.day == now.date()
                )
            ).first()
        return max(0, (limit or 0) - (spent or 0))

    async def acquire(self, connection_id: int, holder: str) -> Slot:
        """Wait, by the injected clock, until a slot is free, and take it."""
        while True:
            slot, wait = self.try_acquire(connection_id, holder)
            if slot is not None:
                return slot
            await self.clock.sleep(wait)

    def release(self, slot: Slot) -> None:
        """The call has ended; drop slots older than the window on the way."""
        now = self.clock.now()
        with self.store.transaction() as s:
            s.execute(sa.update(ApiCall).where(col(ApiCall.id) == slot.id).values(finished_at=now))
            s.execute(
                sa.delete(ApiCall).where(
                    col(ApiCall.connection_id) == slot.connection_id,
                    col(ApiCall.started_at) < now - 2 * self.limits.window,
                    sa.or_(col(ApiCall.finished_at).is_not(None), col(ApiCall.expires_at) < now),
                )
            )

    def park(self, connection_id: int, until: datetime, reason: str) -> None:
        """Stop all calls on a connection until `until` (a 429's Retry-After, a spent day)."""
        with self.store.transaction() as s:
            conn = s.get(Connection, connection_id)
            if conn is None:
                return
            if conn.parked_until is None or conn.parked_until < until:
                conn.parked_until = until
                s.add(conn)
        log.warning("connection %s parked until %s: %s", connection_id, until.isoformat(), reason)
