"""The sync log: one row per finished job, saying what was synced and how it went."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from xerobridge.models import SyncLog


def write(session: Session, **fields: Any) -> SyncLog:
    """Add one row in the caller's transaction (so it lands with the job's removal)."""
    row = SyncLog(**fields)
    session.add(row)
    return row


@dataclass(frozen=True)
class LogFilter:
    """What part of the log to show."""

    source_id: int | None = None
    stream: str | None = None
    status: str | None = None
    since: datetime | None = None
    limit: int = 100
    offset: int = 0


def query(session: Session, flt: LogFilter) -> list[SyncLog]:
    """Rows matching the filter, newest first."""
    stmt = select(SyncLog)
    if flt.source_id is not None:
        stmt = stmt.where(SyncLog.source_id == flt.source_id)
    if flt.stream:
        stmt = stmt.where(SyncLog.stream == flt.stream)
    if flt.status:
        stmt = stmt.where(SyncLog.status == flt.status)
    if flt.since is not None:
        stmt = stmt.where(col(SyncLog.at) >= flt.since)
    stmt = stmt.order_by(col(SyncLog.at).desc(), col(SyncLog.id).desc())
    return list(session.exec(stmt.offset(flt.offset).limit(flt.limit)).all())
