"""Xero's wire formats for dates: MS-JSON `/Date(ms+0000)/` out, several forms in."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from email.utils import parsedate_to_datetime

_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def _epoch_ms(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp() * 1000)


def ms_datetime(moment: datetime) -> str:
    """A record timestamp (UpdatedDateUTC) as Xero writes it: `/Date(1551399321043+0000)/`."""
    return f"/Date({_epoch_ms(moment)}+0000)/"


def ms_envelope(moment: datetime) -> str:
    """The envelope's DateTimeUTC, which Xero writes without an offset: `/Date(1551213568047)/`."""
    return f"/Date({_epoch_ms(moment)})/"


def ms_date(day: date) -> str:
    """A document date (Date, DueDate): midnight of that day, as `/Date(ms+0000)/`."""
    return ms_datetime(datetime.combine(day, time(), tzinfo=UTC))


def iso_utc(moment: datetime) -> str:
    """UpdatedDateUTCString as in the spec's examples: `2019-03-05T19:05:02Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def webhook_utc(moment: datetime) -> str:
    """A webhook eventDateUtc: no offset, milliseconds (`2024-06-21T01:15:39.902`)."""
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return text[:-3]


def parse_ms(value: str) -> datetime | None:
    """A `/Date(ms[+hhmm])/` string as an aware datetime, or None when it is not one."""
    match = _MS_DATE.match(value.strip())
    if not match:
        return None
    moment = datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC)
    offset = match.group(2)
    if offset:
        sign = -1 if offset[0] == "-" else 1
        delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
        moment = moment.astimezone(timezone(sign * delta))
    return moment


def parse_document_date(value: object) -> date:
    """A request's Date/DueDate: `YYYY-MM-DD`, an ISO datetime (its date part) or MS-JSON.

    Xero takes the calendar date as written; a datetime with an offset is reduced to its own
    local date, not converted to UTC first (converting is the day-shift bug of pitfall P15).
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValueError("empty date")
    text = value.strip()
    ms = parse_ms(text)
    if ms is not None:
        return ms.date()
    return datetime.fromisoformat(text.replace("Z", "+00:00")).date()


def parse_if_modified_since(value: str) -> datetime:
    """The If-Modified-Since header: ISO 8601 (what the spec shows) or an RFC 7231 HTTP-date.

    A naive ISO value is read as UTC. Xero's handling of an offset-less value is not documented;
    UTC is the reading that matches the header name of the field it is compared with.
    """
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = parsedate_to_datetime(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
