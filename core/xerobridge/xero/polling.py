"""Xero's changes read by If-Modified-Since polls and filed as webhook events would be.

Webhooks can be missed (the daemon down, a delivery Xero gave up on) or not set up at all, so
each connection whose sources asked for a category (`SourceSpec.xero_events`) is also polled:
every 5 minutes without a webhook key, hourly with one. One call per category and interval asks
Xero for what changed since the newest `UpdatedDateUTC` seen (Xero's clock, not ours), and each
changed object becomes an event row; the unique key on events drops what a webhook already
brought, and `xero_intake.dispatch` takes it from there (echoes of our own writes included).

Any worker may poll. A poll is claimed by moving the category's cursor row forward only if it
is due, in one statement, so that workers racing for it poll once. The first poll of a category
only starts the watch: history is the sources' business, not a flood of events.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from xerobridge.clock import Clock
from xerobridge.contract.errors import RetryLater
from xerobridge.contract.plugins import Plugins
from xerobridge.store.db import Store
from xerobridge.store.models import Connection, MirrorCursor, Source
from xerobridge.store.xero_events import record_events
from xerobridge.xero.client import XeroClient
from xerobridge.xero.mirror import parse_xero_datetime
from xerobridge.xero.objects import by_category

log = logging.getLogger(__name__)

EVERY = timedelta(minutes=5)
EVERY_WITH_WEBHOOKS = timedelta(hours=1)
#: The mirror_cursor row of a category's poll.
CURSOR_PREFIX = "events:"


class Poller:
    """Polls each connection's wanted categories when due."""

    def __init__(
        self, store: Store, client: XeroClient, plugins: Plugins, *, clock: Clock | None = None
    ) -> None:
        self.store = store
        self.client = client
        self.plugins = plugins
        self.clock = clock or store.clock

    def wanted(self) -> list[tuple[Connection, str]]:
        """(connection, category) for each category an enabled source of a connection asked for."""
        pairs: dict[tuple[int, str], Connection] = {}
        with self.store.transaction() as s:
            rows = s.exec(
                select(Source, Connection)
                .join(Connection, col(Connection.id) == col(Source.connection_id))
                .where(Source.enabled == True, Connection.status == "connected")  # noqa: E712
            ).all()
        for source, conn in rows:
            info = self.plugins.infos.get(source.plugin)
            if info is None or info.spec is None:
                continue
            for category in info.spec.xero_events:
                if by_category(category) is not None:
                    pairs[(conn.id, category)] = conn  # type: ignore[index]
        return [(conn, category) for (_, category), conn in sorted(pairs.items())]

    async def poll_due(self) -> int:
        """Poll every category that is due; returns how many new events were filed."""
        filed = 0
        for conn, category in self.wanted():
            every = EVERY_WITH_WEBHOOKS if conn.webhook_key else EVERY
            since = self._claim(conn.id, category, every)  # type: ignore[arg-type]
            if since is None:
                continue
            try:
                filed += await self._poll(conn, category, since)
            except RetryLater as exc:
                # The claim stands: the next poll is due an interval later, and the cursor
                # has not moved, so it asks for everything this one missed.
                log.info("poll of %s for %s put off: %s", category, conn.name, exc)
        return filed

    def _claim(self, connection_id: int, category: str, every: timedelta) -> datetime | None:
        """Take the poll if due: the time to ask If-Modified-Since for, or None."""
        now = self.clock.now()
        kind = CURSOR_PREFIX + category
        insert = (sqlite.insert if self.store.is_sqlite else postgresql.insert)(MirrorCursor)
        stmt = (
            insert.values(
                connection_id=connection_id, kind=kind, modified_since=now, refreshed_at=now
            )
            .on_conflict_do_update(
                index_elements=["connection_id", "kind"],
                set_={"refreshed_at": now},
                where=col(MirrorCursor.refreshed_at) <= now - every,
            )
            .returning(col(MirrorCursor.kind))
        )
        with self.store.transaction() as s:
            before = s.get(MirrorCursor, (connection_id, kind))
            claimed = s.execute(stmt).first()
        if claimed is None or before is None:
            return None  # not due, or the first poll: the watch starts now
        return before.modified_since

    async def _poll(self, conn: Connection, category: str, since: datetime) -> int:
        obj = by_category(category)
        assert obj is not None  # wanted() keeps only categories the registry knows
        kind = obj.kind
        newest = since
        events = []
        async for record in self.client.records(conn.id, kind, if_modified_since=since):  # type: ignore[arg-type]
            updated = parse_xero_datetime(record.get("UpdatedDateUTC"))
            if updated is None:
                continue
            newest = max(newest, updated)
            events.append(
                {
                    "tenantId": conn.tenant_id,
                    "eventCategory": category,
                    "eventType": "UPDATE",
                    "resourceId": record.get(f"{kind}ID", ""),
                    "eventDateUtc": updated.isoformat(),
                }
            )
        filed = record_events(self.store, events, {conn.tenant_id}) if events else 0
        with self.store.transaction() as s:
            row = s.get(MirrorCursor, (conn.id, CURSOR_PREFIX + category))
            if row is not None and (row.modified_since is None or newest > row.modified_since):
                row.modified_since = newest
                s.add(row)
        if filed:
            log.info("poll of %s for %s: %d change(s)", category, conn.name, filed)
        return filed
