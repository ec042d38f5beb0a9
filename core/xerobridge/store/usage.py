"""Xero API calls counted per connection per day, for the request report and the daily budget."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from xerobridge.store.models import ApiUsage, Connection


def count_call(
    session: Session, connection_id: int, day: date, *, status: int, dialect: str
) -> None:
    """Add one call (and its 429 or error) to the day's counters, safely across processes."""
    limited = 1 if status == 429 else 0
    failed = 1 if status >= 500 else 0
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(ApiUsage)
    stmt = insert.values(
        connection_id=connection_id, day=day, calls=1, rate_limited=limited, errors=failed
    ).on_conflict_do_update(
        index_elements=["connection_id", "day"],
        set_={
            "calls": ApiUsage.calls + 1,
            "rate_limited": ApiUsage.rate_limited + limited,
            "errors": ApiUsage.errors + failed,
        },
    )
    session.execute(stmt)


@dataclass(frozen=True)
class DayUsage:
    """One row of the request report."""

    connection: str
    day: date
    calls: int
    daily_limit: int
    rate_limited: int
    errors: int

    @property
    def remaining(self) -> int:
        """Calls left of the day's budget."""
        return max(0, self.daily_limit - self.calls)

    def as_dict(self) -> dict[str, object]:
        """The JSON shape of `report requests --json`."""
        return {
            "connection": self.connection,
            "day": self.day.isoformat(),
            "calls": self.calls,
            "daily_limit": self.daily_limit,
            "remaining": self.remaining,
            "rate_limited": self.rate_limited,
            "errors": self.errors,
        }


def report(session: Session, *, since: date) -> list[DayUsage]:
    """API calls per connection per day from `since`, newest day first."""
    rows = session.exec(
        select(ApiUsage, Connection)
        .join(Connection, col(Connection.id) == ApiUsage.connection_id)
        .where(col(ApiUsage.day) >= since)
        .order_by(col(ApiUsage.day).desc(), col(Connection.name))
    ).all()
    return [
        DayUsage(
            connection=conn.name,
            day=usage.day,
            calls=usage.calls,
            daily_limit=conn.daily_limit,
            rate_limited=usage.rate_limited,
            errors=usage.errors,
        )
        for usage, conn in rows
    ]


def days_back(today: date, days: int) -> date:
    """The first day of a report covering `days` days up to today."""
    return today - timedelta(days=max(1, days) - 1)
