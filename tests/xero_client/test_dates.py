"""Documents are dated in the organisation's time zone, never by a UTC conversion."""

from __future__ import annotations

from datetime import UTC, datetime

from xerobridge.xero.dates import org_date


def test_an_auckland_morning_is_that_day_in_xero() -> None:
    """21:30 UTC on the 1st is the morning of the 2nd in New Zealand (UTC+13 in summer)."""
    moment = datetime(2026, 1, 1, 21, 30, tzinfo=UTC)
    assert org_date(moment, "NEWZEALANDSTANDARDTIME") == "2026-01-02"
    assert org_date(moment, "GMTSTANDARDTIME") == "2026-01-01"
    assert org_date(moment, "PACIFICSTANDARDTIME") == "2026-01-01"


def test_an_unknown_zone_falls_back_to_utc() -> None:
    """A zone missing from the table dates in UTC rather than failing the record."""
    assert org_date(datetime(2026, 3, 1, 23, 59, tzinfo=UTC), "MARSSTANDARDTIME") == "2026-03-01"
