"""Reading a Xero object's records by their change time, a page at a time, skipping none.

Page numbers are the cheapest way through a list (one call per 1,000 records) but not a safe
one while it changes: a record edited between two pages moves to the end, the records after it
move up one, and the one that crosses the page boundary is never seen. So a read by page checks
at its end that it saw as many records as Xero counts (`pagination.itemCount`); if not, it reads
again from the change time each page ended on (`If-Modified-Since` going forward,
`UpdatedDateUTC<DateTime(...)` going back into history), leaving out what it has. Both header
and filter are whole seconds, so a page number counts up only while one second holds more
records than a page.

Records that changed since a moment come oldest first; history comes newest first. Records
named by id come 50 a call where Xero takes `IDs=` (more GUIDs make the URL too long for Xero),
else one call each.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from xerobridge.xero.client import PAGE_SIZE, XeroClient
from xerobridge.xero.mirror import parse_xero_datetime
from xerobridge.xero.objects import XeroObject, xero_object

log = logging.getLogger(__name__)

#: Most ids one `IDs=` read carries.
IDS_PER_CALL = 50


def changed_at(record: dict[str, Any]) -> datetime | None:
    """A record's `UpdatedDateUTC`: Xero's own clock."""
    return parse_xero_datetime(record.get("UpdatedDateUTC"))


def _datetime_literal(moment: datetime) -> str:
    """`DateTime(y,m,d,h,mi,s)` of the whole second after `moment`'s, in UTC: a filter
    `UpdatedDateUTC<` it keeps all of `moment`'s own second."""
    t = moment.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
    return f"DateTime({t.year},{t.month:02},{t.day:02},{t.hour:02},{t.minute:02},{t.second:02})"


def _joined(where: str | None, condition: str) -> str:
    return f"({where}) AND {condition}" if where else condition


def _query(obj: XeroObject, where: str | None, order: str) -> dict[str, Any]:
    query: dict[str, Any] = {"order": f"UpdatedDateUTC {order}"}
    if where:
        query["where"] = where
    if obj.unitdp:
        query["unitdp"] = 4
    return query


def _ids(obj: XeroObject, records: list[dict[str, Any]]) -> set[str]:
    return {str(r.get(obj.id_field)) for r in records}


def _complete(obj: XeroObject, body: dict[str, Any], seen: set[str]) -> bool:
    """Whether a page-numbered read saw every record the list holds now (Xero's count)."""
    if not obj.paged:
        return True
    count = (body.get("pagination") or {}).get("itemCount")
    return isinstance(count, int) and len(seen) >= count


async def changed_since(
    client: XeroClient,
    connection_id: int,
    kind: str,
    *,
    since: datetime | None,
    where: str | None = None,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Pages of the records changed at or after `since` (all, when None), oldest change first."""
    obj = xero_object(kind)
    query = _query(obj, where, "ASC")
    seen: set[str] = set()
    start, page, by_time = since, 1, False
    while True:
        if obj.paged:
            query.update(page=page, pageSize=PAGE_SIZE)
        body = await client.get_json(
            connection_id, obj.plural, params=query, if_modified_since=start
        )
        items = body.get(obj.plural) or []
        fresh = [r for r in items if str(r.get(obj.id_field)) not in seen]
        seen |= _ids(obj, items)
        if fresh:
            yield fresh
        last = changed_at(items[-1]) if items else None
        if _last_page(obj.paged, body, items, page):
            if by_time or _complete(obj, body, seen):
                return
            log.info("the %s changed while they were read by page: reading them again by time",
                     kind)  # fmt: skip
            start, page, by_time = since, 1, True
        elif (
            by_time
            and last is not None
            and (start is None or int(last.timestamp()) > int(start.timestamp()))
        ):
            start, page = last, 1  # the next page starts where this one ended
        else:
            page += 1


async def changed_before(
    client: XeroClient,
    connection_id: int,
    kind: str,
    *,
    before: datetime,
    where: str | None = None,
) -> AsyncIterator[tuple[list[dict[str, Any]], datetime]]:
    """Pages of the records last changed at or before `before`, newest first, each with the
    moment the rest of history lies at or before (where a resumed read starts)."""
    obj = xero_object(kind)
    query = _query(obj, None, "DESC")
    seen: set[str] = set()
    bound, page, by_time = before, 1, False
    while True:
        query["where"] = _joined(where, f"UpdatedDateUTC<{_datetime_literal(bound)}")
        if obj.paged:
            query.update(page=page, pageSize=PAGE_SIZE)
        body = await client.get_json(connection_id, obj.plural, params=query)
        items = body.get(obj.plural) or []
        fresh = [r for r in items
                 if str(r.get(obj.id_field)) not in seen and _at_or_before(r, before)]  # fmt: skip
        seen |= _ids(obj, items)
        last = changed_at(items[-1]) if items else None
        done = _last_page(obj.paged, body, items, page)
        yield fresh, (bound if done or last is None else min(bound, last))
        if done:
            if by_time or _complete(obj, body, seen):
                return
            log.info("the %s changed while they were read by page: reading them again by time",
                     kind)  # fmt: skip
            bound, page, by_time = before, 1, True
        elif by_time and last is not None and int(last.timestamp()) < int(bound.timestamp()):
            bound, page = last, 1  # the next page starts where this one ended
        else:
            page += 1


def _at_or_before(record: dict[str, Any], moment: datetime) -> bool:
    at = changed_at(record)
    return at is None or at <= moment


async def by_ids(
    client: XeroClient,
    connection_id: int,
    kind: str,
    ids: Sequence[str],
    *,
    where: str | None = None,
) -> dict[str, dict[str, Any]]:
    """The records with these ids that exist (and pass `where`), by id in lower case."""
    obj = xero_object(kind)
    found: dict[str, dict[str, Any]] = {}
    base: dict[str, Any] = {"unitdp": 4} if obj.unitdp else {}
    if where:
        base["where"] = where
    if obj.by_ids:
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), IDS_PER_CALL):
            part = unique[start : start + IDS_PER_CALL]
            params = {**base, "IDs": ",".join(part)}
            if obj.paged:
                params.update(page=1, pageSize=PAGE_SIZE)
            body = await client.get_json(connection_id, obj.plural, params=params)
            for record in body.get(obj.plural) or []:
                found[str(record.get(obj.id_field)).lower()] = record
        return found
    for xero_id in dict.fromkeys(ids):
        body = await client.get_json(connection_id, f"{obj.plural}/{xero_id}", params=base or None)
        for record in body.get(obj.plural) or []:
            found[str(record.get(obj.id_field)).lower()] = record
    return found


def _last_page(paged: bool, body: dict[str, Any], items: list[Any], page: int) -> bool:
    """Whether no page follows: a short page, or the last Xero counts (`pagination`, sent
    since 2024), which saves asking for an empty page after an exact multiple of the size."""
    if not paged or len(items) < PAGE_SIZE:
        return True
    count = (body.get("pagination") or {}).get("pageCount")
    return isinstance(count, int) and page >= count
