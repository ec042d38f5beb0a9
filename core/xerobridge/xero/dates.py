"""Dates as Xero wants them: plain dates in the organisation's own time zone.

Xero's Organisation.Timezone is a Windows zone id, upper-cased without spaces
(NEWZEALANDSTANDARDTIME). A document dated from a UTC timestamp must be dated in that zone, or
an order placed on the morning of the 2nd in Auckland lands in Xero on the 1st.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from functools import cache
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

#: Windows zone ids of Xero's main markets to their IANA names (the CLDR correspondence).
WINDOWS_TO_IANA: dict[str, str] = {
    "NEWZEALANDSTANDARDTIME": "Pacific/Auckland",
    "CHATHAMISLANDSSTANDARDTIME": "Pacific/Chatham",
    "AUSEASTERNSTANDARDTIME": "Australia/Sydney",
    "EAUSTRALIASTANDARDTIME": "Australia/Brisbane",
    "TASMANIASTANDARDTIME": "Australia/Hobart",
    "CENAUSTRALIASTANDARDTIME": "Australia/Adelaide",
    "AUSCENTRALSTANDARDTIME": "Australia/Darwin",
    "WAUSTRALIASTANDARDTIME": "Australia/Perth",
    "GMTSTANDARDTIME": "Europe/London",
    "GREENWICHSTANDARDTIME": "Atlantic/Reykjavik",
    "UTC": "UTC",
    "WEUROPESTANDARDTIME": "Europe/Berlin",
    "ROMANCESTANDARDTIME": "Europe/Paris",
    "SOUTHAFRICASTANDARDTIME": "Africa/Johannesburg",
    "SINGAPORESTANDARDTIME": "Asia/Singapore",
    "CHINASTANDARDTIME": "Asia/Shanghai",
    "TOKYOSTANDARDTIME": "Asia/Tokyo",
    "INDIASTANDARDTIME": "Asia/Kolkata",
    "ARABIANSTANDARDTIME": "Asia/Dubai",
    "EASTERNSTANDARDTIME": "America/New_York",
    "CENTRALSTANDARDTIME": "America/Chicago",
    "MOUNTAINSTANDARDTIME": "America/Denver",
    "USMOUNTAINSTANDARDTIME": "America/Phoenix",
    "PACIFICSTANDARDTIME": "America/Los_Angeles",
    "ALASKANSTANDARDTIME": "America/Anchorage",
    "HAWAIIANSTANDARDTIME": "Pacific/Honolulu",
    "ATLANTICSTANDARDTIME": "America/Halifax",
    "NEWFOUNDLANDSTANDARDTIME": "America/St_Johns",
    "CANADACENTRALSTANDARDTIME": "America/Regina",
    "FIJISTANDARDTIME": "Pacific/Fiji",
}


@cache
def zone(xero_timezone: str) -> ZoneInfo:
    """The IANA zone of Xero's Timezone value (UTC, with one warning, when it is unknown)."""
    name = WINDOWS_TO_IANA.get(xero_timezone.upper())
    if name is None:
        log.warning("Xero time zone %r is not known here; dating documents in UTC", xero_timezone)
        name = "UTC"
    return ZoneInfo(name)


def org_date(moment: datetime, xero_timezone: str) -> str:
    """The organisation's calendar date of a moment, as Xero's plain `YYYY-MM-DD`."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone(xero_timezone)).date().isoformat()


def org_day(moment: datetime, xero_timezone: str) -> date:
    """The organisation's calendar date of a moment."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone(xero_timezone)).date()
