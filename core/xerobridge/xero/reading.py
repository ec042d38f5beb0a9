"""Reading a Xero object's records by their change time, a page at a time, skipping none.

Page numbers are not a safe way through a list that changes while it is read: a record edited
between two pages moves to the end, the records after it move up one, and the one that crosses
the page boundary is never seen. So each page asks again from the change time the last page
ended on (`If-Modified-Since` going forward, `UpdatedDateUTC<DateTime(...)` going back into
history), and a page number counts up only while one second holds more records than a page.
Records read twice at a boundary are dropped by id. Both header and filter are whole seconds.

Records that changed since a moment come oldest first; history comes newest first. Records
named by id come 50 a call where Xero takes `IDs=` (more GUIDs make the URL too long for Xero),
else one call each.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from xerobridge.xero.client import PAGE_SIZE, XeroClient
from xerobridge.xero.mirror import parse_xero_datetime
from xerobridge.xero.objects import xero_object

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
    query: dict[str, Any] = {"order": "UpdatedDateUTC ASC"}
    if where:
        query["where"] = where
    if obj.unitdp:
        query["unitdp"] = 4
    seen: set[str] = set()
    page = 1
    while True:
        if obj.paged:
            query.update(page=page, pageSize=PAGE_SIZE)
        body = await client.get_json(
            connection_id, obj.plural, params=query, if_modified_since=since
        )
        items = body.get(obj.plural) or []
        fresh = [r for r in items if str(r.get(obj.id_field)) not in seen]
        if fresh:
            yield fresh
        if not obj.paged or len(items) < PAGE_SIZE:
            return
        last = changed_at(items[-1])
        if last is not None and (since is None or int(last.timestamp()) > int(since.timestamp())):
            since, page = last, 1  # the next page starts where this one ended
            seen = {str(r.get(obj.id_field)) for r in items if _same_second(r, last)}
        else:
            page += 1  # a page of one second: page on within it
            seen |= {str(r.get(obj.id_field)) for r in items}


async def changed_before(
    client: XeroClient,
    connection_id: int,
    kind: str,
    *,
    before: datetime,
    where: str | None = None,
) -> AsyncIterator[tuple[list[dict[str, Any]], datetime]]:
    """Pages of the records last changed before `before`, newest first, each with the moment
    the rest of history lies at or before (where a resumed read starts)."""
    obj = xero_object(kind)
    query: dict[str, Any] = {"order": "UpdatedDateUTC DESC"}
    if obj.unitdp:
        query["unitdp"] = 4
    seen: set[str] = set()
    bound, page = before, 1
    while True:
        query["where"] = _joined(where, f"UpdatedDateUTC<{_datetime_literal(bound)}")
        if obj.paged:
            query.update(page=page, pageSize=PAGE_SIZE)
        body = await client.get_json(connection_id, obj.plural, params=query)
        items = body.get(obj.plural) or []
        fresh = [
            r for r in items
            if str(r.get(obj.id_field)) not in seen and (changed_at(r) or before) <= before
        ]  # fmt: skip
        last = changed_at(items[-1]) if items else None
        done = not obj.paged or len(items) < PAGE_SIZE
        rest = bound if done or last is None else min(bound, last)
        if fresh or done:
            yield fresh, rest
        if done:
            return
        if last is not None and int(last.timestamp()) < int(bound.timestamp()):
            bound, page = rest, 1
            seen = {str(r.get(obj.id_field)) for r in items if _same_second(r, last)}
        else:
            page += 1
            seen |= {str(r.get(obj.id_field)) for r in items}


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


def _same_second(record: dict[str, Any], moment: datetime) -> bool:
    at = changed_at(record)
    return at is not None and int(at.timestamp()) == int(moment.timestamp())
