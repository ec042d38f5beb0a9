"""The sync log: one row per finished job, saying what was synced and how it went."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from xerobridge.contract.errors import UserError
from xerobridge.store.models import SyncLog

_AGE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def write(session: Session, **fields: Any) -> SyncLog:
    """Add one row in the caller's transaction (so it lands with the job's removal)."""
    row = SyncLog(**fields)
    session.add(row)
    return row


def write_many(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add rows in one statement (a batch's finished jobs); each row names every column."""
    if rows:
        session.execute(sa.insert(SyncLog), list(rows))


def writes_of(
    session: Session, source_id: int, stream: str, record_key: str
) -> list[tuple[str, datetime]]:
    """When the record was logged created or updated in Xero, as (action, at)."""
    stmt = select(SyncLog.action, SyncLog.at).where(
        SyncLog.source_id == source_id,
        SyncLog.stream == stream,
        SyncLog.record_key == record_key,
        col(SyncLog.action).in_(("created", "updated")),
    )
    return [(action, at) for action, at in session.exec(stmt).all() if at is not None]


@dataclass(frozen=True)
class LogFilter:
    """What part of the log to show."""

    source_id: int | None = None
    stream: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    action: str | None = None
    record_key: str | None = None
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
    if flt.until is not None:
        stmt = stmt.where(col(SyncLog.at) < flt.until)
    if flt.action:
        stmt = stmt.where(SyncLog.action == flt.action)
    if flt.record_key:
        stmt = stmt.where(SyncLog.record_key == flt.record_key)
    stmt = stmt.order_by(col(SyncLog.at).desc(), col(SyncLog.id).desc())
    return list(session.exec(stmt.offset(flt.offset).limit(flt.limit)).all())


def as_dict(row: SyncLog, source_names: Mapping[int | None, str]) -> dict[str, Any]:
    """One row as `xerobridge log --json` and `/api/log` show it."""
    return {
        "at": row.at.isoformat() if row.at else "",
        "source": source_names.get(row.source_id, ""),
        "stream": row.stream,
        "record": row.record_key,
        "action": row.action,
        "status": row.status,
        "message": row.message,
        "xero_id": row.xero_id,
        "xero_url": row.xero_url,
        "api_calls": row.api_calls,
        "duration_ms": row.duration_ms,
    }


def moment(raw: str | None, now: datetime, what: str) -> datetime | None:
    """A time a person typed: an ISO date or time (UTC unless it says), or an age back from
    `now` (30m, 2h, 3d, 1w); None for nothing typed. `what` names the field in the error."""
    text = (raw or "").strip()
    if not text:
        return None
    if m := _AGE.match(text):
        try:
            return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
        except OverflowError:
            raise UserError(f"{what} {text!r} reaches back before any date there is") from None
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(
            f"{what} {text!r} is not a time; use a date like 2026-11-01, a time like "
            "2026-11-01T14:30, or an age like 2h, 3d, 1w"
        ) from None
    return found if found.tzinfo else found.replace(tzinfo=UTC)
