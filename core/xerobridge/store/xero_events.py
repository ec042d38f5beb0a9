"""Xero's change events as stored: from webhooks and polls alike, each kept once.

An event is known by its tenant, category, resource, type and Xero's own time for it, so a
replayed delivery changes nothing; an event whose time cannot be read is refused (stored with
the time it arrived, its replays would not be recognised). Events handed on are kept `KEPT` for
recognising late replays, then dropped.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from xerobridge.store.db import Store
from xerobridge.store.models import XeroEventRow

log = logging.getLogger(__name__)


#: How long a handed-on event is kept to recognise its replays (Xero retries for a day).
KEPT = timedelta(days=30)


def _event_time(raw: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def record_events(store: Store, events: list[dict[str, Any]], tenants: set[str]) -> int:
    """Store the events of the given tenants; duplicates are ignored. Returns how many were new."""
    rows = []
    for e in events:
        if str(e.get("tenantId", "")) not in tenants:
            continue
        at = _event_time(e.get("eventDateUtc"))
        if at is None:
            log.warning("a Xero event with the unreadable time %r refused", e.get("eventDateUtc"))
            continue
        rows.append(
            {
                "tenant_id": str(e.get("tenantId", "")),
                "category": str(e.get("eventCategory", "")),
                "event_type": str(e.get("eventType", "")),
                "resource_id": str(e.get("resourceId", "")),
                "event_at": at,
                "received_at": store.clock.now(),
            }
        )
    if not rows:
        return 0
    insert = (sqlite.insert if store.is_sqlite else postgresql.insert)(XeroEventRow)
    stmt = insert.on_conflict_do_nothing(
        index_elements=["tenant_id", "category", "resource_id", "event_type", "event_at"]
    )
    with store.transaction() as s:
        result = s.execute(stmt.returning(col(XeroEventRow.id)), rows)
        new = len(result.all())
        s.execute(
            sa.delete(XeroEventRow).where(col(XeroEventRow.processed_at) < store.clock.now() - KEPT)
        )
        return new
