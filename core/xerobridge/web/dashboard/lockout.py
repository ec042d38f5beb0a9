"""Failed logins limited per username and per address: after `MAX_FAILURES` failures within
`WINDOW`, logins for that username or address are refused until `LOCK` has passed, and the
action log says so. Kept in the store, so every process of the daemon counts the same."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from xerobridge.store.db import Store
from xerobridge.store.models import ActionLog, LoginFailure

log = logging.getLogger(__name__)

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
LOCK = timedelta(minutes=5)


def keys(username: str, address: str) -> tuple[str, ...]:
    """What failures are counted against: the username, and the address they come from."""
    found = [f"user:{username.strip().lower()}"]
    if address:
        found.append(f"addr:{address}")
    return tuple(found)


def locked_until(store: Store, username: str, address: str) -> datetime | None:
    """When logins for this username or address may be tried again, if they are locked now."""
    now = store.clock.now()
    with store.transaction() as s:
        until = [
            row.locked_until
            for key in keys(username, address)
            if (row := s.get(LoginFailure, key)) is not None
            and row.locked_until is not None
            and row.locked_until > now
        ]
    return max(until) if until else None


def failed(store: Store, username: str, address: str) -> datetime | None:
    """Count a failed login; when it reaches the limit, lock and say so. The lock's end."""
    now = store.clock.now()
    locked: datetime | None = None
    with store.transaction() as s:
        for key in keys(username, address):
            row = s.get(LoginFailure, key, with_for_update=True)
            if row is None:
                row = LoginFailure(key=key, failures=0, window_start=now)
            if now - row.window_start > WINDOW:
                row.failures, row.window_start = 0, now
            row.failures += 1
            if row.failures >= MAX_FAILURES:
                row.locked_until = now + LOCK
                row.failures, row.window_start = 0, now
                locked = max(locked or row.locked_until, row.locked_until)
                what = "user" if key.startswith("user:") else "address"
                message = (
                    f"dashboard logins for {what} {key.split(':', 1)[1]} locked until "
                    f"{row.locked_until:%H:%M} UTC after {MAX_FAILURES} failed attempts within "
                    f"{int(WINDOW.total_seconds() // 60)} minutes"
                )
                s.add(ActionLog(at=now, level="error", message=message))
                log.warning("%s", message)
            s.add(row)
    return locked


def succeeded(store: Store, username: str) -> None:
    """A right password clears the username's count (an address's stays: it may try others)."""
    with store.transaction() as s:
        row = s.get(LoginFailure, keys(username, "")[0])
        if row is not None:
            s.delete(row)
