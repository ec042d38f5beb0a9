"""Dates as Xero keeps them: plain dates in the organisation's time zone.

A source's timestamp (UTC unless it says otherwise) becomes the organisation's calendar date,
so that an order placed on a New Zealand morning is dated that day, not the UTC day before.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from xerobridge.contract.context import OrgFacts
from xerobridge.contract.errors import Permanent

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def moment(value: Any, *, record: str, source: str) -> datetime:
    """A source timestamp (`YYYY-MM-DD HH:MM:SS`, ISO 8601, naive meaning UTC) as an instant."""
    text = str(value or "").strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Permanent(
            f"{record}: date {value!r} is not a date and time {source} writes "
            "(YYYY-MM-DD HH:MM:SS); fix the record and sync again"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def document_date(org: OrgFacts, value: Any, *, record: str, source: str) -> str:
    """The Xero date (YYYY-MM-DD) of a source's timestamp, in the organisation's time zone; a
    plain date is taken as the organisation's already."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    text = str(value or "").strip()
    if _DATE_ONLY.match(text):
        return text
    return org.date_of(moment(value, record=record, source=source)).isoformat()


_MS_JSON = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def xero_date(value: Any, *, record: str) -> date:
    """A date Xero sent (`/Date(ms+0000)/`, or ISO 8601 as its `...String` fields have it) as
    the plain date it names: Xero's dates are midnight of the organisation's day, sent as UTC."""
    text = str(value or "").strip()
    if found := _MS_JSON.match(text):
        return datetime.fromtimestamp(int(found.group(1)) / 1000, tz=UTC).date()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise Permanent(f"{record}: {value!r} is not a date Xero writes") from None
