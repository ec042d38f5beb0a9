"""The store's record of logged-in dashboard sessions: started at login, checked on every
request (a session ended here opens nothing, wherever a copy of its cookie is), listed on the
sessions page, and ended one by one or all but the one in use."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select

from xerobridge.store.db import Store
from xerobridge.store.models import DashboardSession

#: How stale `seen_at` may get before a request writes it again (not on every request).
SEEN_EVERY = timedelta(minutes=1)
#: Ended sessions are forgotten after this long.
KEEP_ENDED = timedelta(days=7)


def start(store: Store, username: str, *, address: str, agent: str) -> str:
    """A new session's id."""
    now = store.clock.now()
    sid = secrets.token_urlsafe(24)
    with store.transaction() as s:
        s.add(DashboardSession(id=sid, username=username, created_at=now, seen_at=now,
                               address=address[:100], agent=agent[:200]))  # fmt: skip
        s.execute(sa.delete(DashboardSession).where(
            col(DashboardSession.ended_at) < now - KEEP_ENDED))  # fmt: skip
    return sid


def alive(store: Store, sid: str, username: str) -> bool:
    """Whether the session is open (and is that login's); notes that it was seen."""
    if not sid:
        return False
    now = store.clock.now()
    with store.transaction() as s:
        row = s.get(DashboardSession, sid)
        if row is None or row.ended_at is not None or row.username != username:
            return False
        if now - row.seen_at > SEEN_EVERY:
            row.seen_at = now
            s.add(row)
    return True


def end(store: Store, username: str, sid: str) -> bool:
    """End one of a login's sessions; whether there was one to end."""
    now = store.clock.now()
    with store.transaction() as s:
        row = s.get(DashboardSession, sid)
        if row is None or row.username != username or row.ended_at is not None:
            return False
        row.ended_at = now
        s.add(row)
    return True


def end_others(store: Store, username: str, keep: str) -> int:
    """End every open session of a login but `keep`; how many."""
    with store.transaction() as s:
        done = s.execute(
            sa.update(DashboardSession)
            .where(col(DashboardSession.username) == username,
                   col(DashboardSession.id) != keep,
                   col(DashboardSession.ended_at).is_(None))
            .values(ended_at=store.clock.now())
        )  # fmt: skip
    return int(done.rowcount or 0)  # type: ignore[attr-defined]


def open_sessions(store: Store, username: str, *, since: datetime) -> list[DashboardSession]:
    """A login's open sessions seen since `since`, the most recently seen first."""
    with store.transaction() as s:
        return list(s.exec(
            select(DashboardSession)
            .where(DashboardSession.username == username,
                   col(DashboardSession.ended_at).is_(None),
                   DashboardSession.seen_at >= since)
            .order_by(col(DashboardSession.seen_at).desc())
        ).all())  # fmt: skip
