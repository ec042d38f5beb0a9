"""Where each stream's reading got to: its cursor, and the progress of its backfill.

A stream's cursor row is keyed by the stream's name. A stream with a `backfill` span also has a
row keyed `<stream>#backfill` while its older history is read: its value is the moment before
which that history is still to be read, and `done` once it has been. A stream from Xero has a
row keyed `<stream>#initial`: the newest change its first read found, at or before which a
record was in Xero before the source was added.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from xerobridge.store.db import Store
from xerobridge.store.models import Cursor

BACKFILL_SUFFIX = "#backfill"
INITIAL_SUFFIX = "#initial"
BACKFILL_DONE = "done"


def read(session: Session, source_id: int, stream: str) -> str | None:
    """The saved cursor of a stream (or of a backfill, by `backfill_key`)."""
    row = session.get(Cursor, (source_id, stream))
    return row.value or None if row else None


def save(session: Session, source_id: int, stream: str, value: str, at: datetime) -> None:
    """Save a cursor in the caller's transaction."""
    session.merge(Cursor(source_id=source_id, stream=stream, value=value, updated_at=at))


def save_now(store: Store, source_id: int, stream: str, value: str, at: datetime) -> None:
    """Save a cursor in a transaction of its own."""
    with store.transaction() as s:
        save(s, source_id, stream, value, at)


def backfill_key(stream: str) -> str:
    """The cursor row of a stream's backfill."""
    return f"{stream}{BACKFILL_SUFFIX}"


def initial_key(stream: str) -> str:
    """The row of the newest change a stream from Xero's first read found."""
    return f"{stream}{INITIAL_SUFFIX}"


def reading_state(session: Session, source_id: int, streams: list[str]) -> str:
    """`pending` while one of the streams has never been read or its history is still being
    read, else `connected`."""
    for stream in streams:
        if read(session, source_id, stream) is None:
            return "pending"
        older = read(session, source_id, backfill_key(stream))
        if older is not None and older != BACKFILL_DONE:
            return "pending"
    return "connected"
