"""What reaches the queue from Xero: the records of streams from Xero, and webhook events.

A stream from Xero is read by the core (`read_stream`): If-Modified-Since on Xero's clock, its
history newest first, each page's records queued as `apply` jobs with its cursor in one
transaction, so a crash repeats a page and never skips one. Webhook events and polls become
`apply` jobs too (`dispatch`), naming their record; `fill` reads those back 50 ids a call. What
a job then does with its record is `from_xero.Apply`'s.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from xerobridge.contract.errors import Permanent
from xerobridge.contract.plugins import Plugins
from xerobridge.contract.types import Direction, SourceSpec, StreamSpec
from xerobridge.runtime.queue import NewJob, Queue
from xerobridge.store import cursors
from xerobridge.store.models import Connection, Job, Source, XeroEventRow
from xerobridge.store.states import JobKind, JobState
from xerobridge.sync.intake import stream_priority
from xerobridge.sync.runtimes import Runtimes, SourceRuntime
from xerobridge.xero.client import XeroClient
from xerobridge.xero.mirror import parse_xero_datetime
from xerobridge.xero.objects import by_category, xero_object
from xerobridge.xero.reading import by_ids, changed_at, changed_before, changed_since

log = logging.getLogger(__name__)

#: History is read only while the connection has this many calls left today (a fifth of Xero's
#: 5,000), so that the day's writes never wait for an import of old records.
HISTORY_RESERVE = 1000


def from_xero_stream(spec: SourceSpec, kind: str) -> StreamSpec | None:
    """The source's stream that reads a Xero object, if it has one."""
    for stream in spec.streams:
        if stream.direction is Direction.FROM_XERO and stream.xero_object == kind:
            return stream
    return None


def _wants(spec: SourceSpec, category: str) -> StreamSpec | str | None:
    """Where a source takes a Xero event: its stream of the object, the event's own stream
    (`xero:contact`, for a plugin that hears of it, `xero_events`), or nowhere."""
    obj = by_category(category)
    stream = from_xero_stream(spec, obj.kind) if obj else None
    if stream is not None:
        return stream
    return f"xero:{category.lower()}" if category in spec.xero_events else None


# -- what is read --------------------------------------------------------------------------------


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
            obj = by_category(event.category)
            for source in by_tenant.get(event.tenant_id, []):
                info = plugins.infos.get(source.plugin)
                wanted = _wants(info.spec, event.category) if info and info.spec else None
                if wanted is None or obj is None:
                    continue
                stream = wanted if isinstance(wanted, str) else wanted.name
                jobs.append(
                    NewJob(
                        source_id=source.id,  # type: ignore[arg-type]
                        stream=stream,
                        record_key=event.resource_id.lower(),
                        kind=JobKind.APPLY,
                        payload={
                            "kind": obj.kind,
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


@dataclass
class ReadResult:
    """What one read of a from-Xero stream found."""

    read: int = 0
    paused: str = ""  # why the history read stopped before its end


def _apply_job(runtime: SourceRuntime, stream: StreamSpec, record: dict[str, Any]) -> NewJob:
    obj = xero_object(stream.xero_object)
    at = changed_at(record)
    return NewJob(
        source_id=runtime.id,
        stream=stream.name,
        record_key=str(record.get(obj.id_field, "")).lower(),
        kind=JobKind.APPLY,
        payload={
            "kind": obj.kind,
            "event_type": "UPDATE",
            "event_at": at.isoformat() if at else None,
            "record": record,
        },
        connection_id=runtime.source.connection_id,
        priority=stream_priority(runtime, stream.name),
    )


async def read_stream(
    runtime: SourceRuntime,
    stream: StreamSpec,
    *,
    client: XeroClient,
    queue: Queue,
    full: bool = False,
) -> ReadResult:
    """Read a from-Xero stream's changed records into `apply` jobs, each page with its cursor.

    The cursor is the newest `UpdatedDateUTC` read (Xero's clock); a read starts the stream's
    lookback before it. With a `backfill` span the first read takes the span, then history
    newest first, a page at a time; history yields after each page to the connection's queued
    writes and stops while fewer than `HISTORY_RESERVE` calls are left of Xero's day.
    """
    store = queue.store
    conn_id = runtime.source.connection_id
    if conn_id is None:
        raise Permanent(f"source {runtime.source.name!r} has no Xero connection to read from")
    started = queue.clock.now()
    with store.transaction() as s:
        saved = None if full else cursors.read(s, runtime.id, stream.name)
        older = None if full else cursors.read(s, runtime.id, cursors.backfill_key(stream.name))
    since: datetime | None = None
    if saved:
        since = parse(saved) - stream.lookback
    elif stream.backfill is not None and older is None and not full:
        since = started - stream.backfill
        older = since.isoformat()
    newest = parse(saved) if saved else None
    result = ReadResult()
    async for page in changed_since(client, conn_id, stream.xero_object, since=since,
                                    where=stream.where):  # fmt: skip
        for record in page:
            at = changed_at(record)
            if at is not None and (newest is None or at > newest):
                newest = at
        with store.transaction() as s:
            queue.enqueue([_apply_job(runtime, stream, r) for r in page], session=s)
            if newest is not None:
                cursors.save(s, runtime.id, stream.name, newest.isoformat(), started)
        result.read += len(page)
    if newest is None:
        # Nothing there yet: the stream counts as read up to the start of this read.
        cursors.save_now(store, runtime.id, stream.name, (since or started).isoformat(), started)
    if saved is None and not full:
        # What the first read found was in Xero before the source (`XeroEvent.initial`).
        mark = (newest or started).isoformat()
        cursors.save_now(store, runtime.id, cursors.initial_key(stream.name), mark, started)
    if older is None or older == cursors.BACKFILL_DONE:
        return result
    progress = cursors.backfill_key(stream.name)
    cursors.save_now(store, runtime.id, progress, older, started)
    result.paused = _history_waits(queue, client, conn_id)
    if result.paused:
        return result
    async for page, rest in changed_before(client, conn_id, stream.xero_object,
                                           before=parse(older), where=stream.where):  # fmt: skip
        with store.transaction() as s:
            queue.enqueue([_apply_job(runtime, stream, r) for r in page], session=s)
            cursors.save(s, runtime.id, progress, rest.isoformat(), started)
        result.read += len(page)
        result.paused = _history_waits(queue, client, conn_id)
        if result.paused:
            return result
    cursors.save_now(store, runtime.id, progress, cursors.BACKFILL_DONE, started)
    return result


def _history_waits(queue: Queue, client: XeroClient, connection_id: int) -> str:
    """Why a history read should stop for now, or ""."""
    left = client.limiter.day_left(connection_id)
    if left < HISTORY_RESERVE:
        return f"{left} calls left of Xero's day, kept for writes"
    with queue.store.transaction() as s:
        writes = s.exec(
            select(Job.id)
            .where(
                Job.connection_id == connection_id,
                Job.kind == JobKind.PUSH,
                Job.state == JobState.QUEUED,
            )
            .limit(1)
        ).first()
    return "writes to Xero are queued" if writes is not None else ""


async def fill(
    jobs: Iterable[Job], *, runtimes: Runtimes, client: XeroClient
) -> dict[int, dict[str, Any] | Exception | None]:
    """The Xero record of each `apply` job (None when Xero no longer has it, or an error):
    the job's own, else read back with as few calls as Xero allows."""
    found: dict[int, dict[str, Any] | Exception | None] = {}
    wanted: dict[tuple[int, str, str | None], list[Job]] = defaultdict(list)
    for job in jobs:
        payload = job.payload or {}
        if payload.get("record") is not None:
            found[job.id] = dict(payload["record"])  # type: ignore[index]
            continue
        runtime = runtimes.get(job.source_id)
        stream = stream_of(runtime.spec, job.stream)
        where = stream.where if stream is not None else None
        wanted[(job.connection_id or 0, str(payload.get("kind", "")), where)].append(job)
    for (conn_id, kind, where), group in wanted.items():
        try:
            records = await by_ids(client, conn_id, kind, [j.record_key for j in group],
                                   where=where)  # fmt: skip
        except Exception as exc:  # each job of the read fails with it, as its own attempt
            for job in group:
                found[job.id] = exc  # type: ignore[index]
            continue
        for job in group:
            found[job.id] = records.get(job.record_key.lower())  # type: ignore[index]
    return found


# -- what is written -----------------------------------------------------------------------------


def stream_of(spec: SourceSpec, name: str) -> StreamSpec | None:
    """The from-Xero stream a job is for; None for an event's own stream (`xero:invoice`)."""
    if name.startswith("xero:"):
        return None
    stream = spec.stream(name)
    return stream if stream.direction is Direction.FROM_XERO else None


def parse(value: str) -> datetime:
    """A stored time (ISO, or Xero's `/Date(...)/`) as an aware datetime."""
    moment = parse_xero_datetime(value)
    if moment is None:
        raise ValueError(f"not a time: {value!r}")
    return moment
