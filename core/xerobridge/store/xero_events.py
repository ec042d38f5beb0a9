"""Xero's change events as stored: from webhooks and polls alike, each kept once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from xerobridge.store.db import Store
from xerobridge.store.models import XeroEventRow


def _event_time(raw: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError:
        return datetime.now(UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def record_events(store: Store, events: list[dict[str, Any]], tenants: set[str]) -> int:
    """Store the events of the given tenants; duplicates are ignored. Returns how many were new."""
    rows = [
        {
            "tenant_id": str(e.get("tenantId", "")),
            "category": str(e.get("eventCategory", "")),
            "event_type": str(e.get("eventType", "")),
            "resource_id": str(e.get("resourceId", "")),
            "event_at": _event_time(e.get("eventDateUtc")),
            "received_at": store.clock.now(),
        }
        for e in events
        if str(e.get("tenantId", "")) in tenants
    ]
    if not rows:
        return 0
    insert = (sqlite.insert if store.is_sqlite else postgresql.insert)(XeroEventRow)
    stmt = insert.on_conflict_do_nothing(
        index_elements=["tenant_id", "category", "resource_id", "event_type", "event_at"]
    )
    with store.transaction() as s:
        result = s.execute(stmt.returning(col(XeroEventRow.id)), rows)
        return len(result.all())
