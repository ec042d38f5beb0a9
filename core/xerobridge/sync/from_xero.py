"""From Xero back to the sources: webhook events become `on_xero_update` jobs, and the writes
plugins ask for become queued, retried `apply_write` jobs.

An event is handed to the queue exactly once: the rows are taken and the jobs enqueued in one
transaction. A job fetches the changed object once, drops it if it is the echo of our own write
(the record's link was written at or after the event), and asks the plugin what to change in
the source.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from xerobridge.contract.errors import Permanent
from xerobridge.contract.plugins import Plugins
from xerobridge.contract.types import SourceWrite, XeroEvent
from xerobridge.runtime.queue import NewJob, Queue
from xerobridge.store.models import Connection, Job, Link, Source, XeroEventRow
from xerobridge.sync.runtimes import Runtimes
from xerobridge.xero.client import XeroClient
from xerobridge.xero.objects import by_category

log = logging.getLogger(__name__)

#: Our own write, seen back through a webhook, arrives within this of the link's update.
ECHO_WINDOW = timedelta(seconds=5)


def dispatch(queue: Queue, plugins: Plugins, *, limit: int = 200) -> int:
    """Turn received events into one `apply` job per interested source; returns how many."""
    store = queue.store
    now = queue.clock.now()
    jobs: list[NewJob] = []
    with store.transaction() as s:
        query = select(XeroEventRow).where(col(XeroEventRow.processed_at).is_(None))
        query = query.order_by(col(XeroEventRow.id)).limit(limit)
        if not store.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        events = list(s.exec(query).all())
        if not events:
            return 0
        tenants = {e.tenant_id for e in events}
        by_tenant: dict[str, list[Source]] = {}
        for conn in s.exec(select(Connection).where(col(Connection.tenant_id).in_(tenants))):
            by_tenant[conn.tenant_id] = list(
                s.exec(
                    select(Source).where(
                        Source.connection_id == conn.id,
                        Source.enabled == True,  # noqa: E712
                    )
                )
            )
        for event in events:
            for source in by_tenant.get(event.tenant_id, []):
                info = plugins.infos.get(source.plugin)
                if info is None or info.spec is None or event.category not in info.spec.xero_events:
                    continue
                jobs.append(
                    NewJob(
                        source_id=source.id,  # type: ignore[arg-type]
                        stream=f"xero:{event.category.lower()}",
                        record_key=event.resource_id,
                        kind="apply",
                        payload={
                            "tenant_id": event.tenant_id,
                            "category": event.category,
                            "event_type": event.event_type,
                            "event_at": event.event_at.isoformat(),
                        },
                        connection_id=source.connection_id,
                    )
                )
            event.processed_at = now
            s.add(event)
        queue.enqueue(jobs, session=s)
    return len(jobs)


async def apply_event(
    job: Job, *, runtimes: Runtimes, plugins: Plugins, client: XeroClient, queue: Queue
) -> str:
    """Run one `apply` job: fetch, drop echoes, ask the plugin, queue its writes. A message."""
    payload = job.payload or {}
    runtime = runtimes.get(job.source_id)
    obj = by_category(str(payload.get("category", "")))
    if obj is None:
        raise Permanent(f"Xero event category {payload.get('category')!r} is not handled")
    kind, plural = obj.kind, obj.plural
    event_at = datetime.fromisoformat(payload["event_at"])
    with queue.store.transaction() as s:
        link = s.exec(
            select(Link).where(
                Link.source_id == runtime.id, Link.xero_type == kind, Link.xero_id == job.record_key
            )
        ).first()
    if link is not None and link.updated_at and link.updated_at >= event_at - ECHO_WINDOW:
        return "echo of our own write: dropped"
    conn_id = runtime.source.connection_id
    assert conn_id is not None
    body = await client.get_json(conn_id, f"{plural}/{job.record_key}")
    records = body.get(plural) or []
    record: dict[str, Any] | None = records[0] if records else None
    event = XeroEvent(
        tenant_id=payload.get("tenant_id", ""),
        resource=payload["category"],
        resource_id=job.record_key,
        event_type=payload.get("event_type", "UPDATE"),
        event_time=event_at,
        record=record,
        linked=(link.stream, link.record_key) if link else None,
    )
    writes = await plugins.acall(runtime.source.plugin, "on_xero_update", ctx=runtime.ctx,
                                 event=event) or []  # fmt: skip
    jobs = []
    for write in writes:
        if not isinstance(write, SourceWrite):
            raise TypeError(f"on_xero_update returned {type(write).__name__}, not a SourceWrite")
        jobs.append(
            NewJob(
                source_id=runtime.id,
                stream=write.stream,
                record_key=write.key,
                kind="write",
                payload={"action": write.action, "data": dict(write.data)},
                connection_id=conn_id,
            )
        )
    queue.enqueue(jobs)
    return f"{len(jobs)} write(s) for the source"


async def apply_write(job: Job, *, runtimes: Runtimes, plugins: Plugins) -> str:
    """Run one `write` job through the plugin's `apply_write`."""
    runtime = runtimes.get(job.source_id)
    payload = job.payload or {}
    write = SourceWrite(job.stream, job.record_key, payload.get("action", ""),
                        payload.get("data") or {})  # fmt: skip
    await plugins.acall(runtime.source.plugin, "apply_write", ctx=runtime.ctx, write=write)
    return f"{write.action} done"
