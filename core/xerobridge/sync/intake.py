"""Reading changes from a source into the queue, with the cursor saved in the same transaction.

Reading a source is at-least-once; queueing is exactly-once: a chunk of changes and the cursor
that covers them are committed together, so a crash repeats a read but never skips one. The
cursor never passes the run's start (a record written during the read with an earlier
timestamp is caught next time), and the next read starts a lookback earlier than the cursor.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from xerobridge.contract.errors import Permanent
from xerobridge.contract.plugins import Plugins, aiterate
from xerobridge.contract.types import Change, Checkpoint, CursorKind, StreamSpec
from xerobridge.runtime.queue import NewJob, Queue
from xerobridge.store import cursors
from xerobridge.store.models import Link
from xerobridge.sync.runtimes import SourceRuntime

log = logging.getLogger(__name__)

CHUNK = 500


@dataclass
class IntakeResult:
    """What one read of a stream found."""

    read: int = 0
    queued: int = 0
    cursor: str | None = None
    errors: list[str] = field(default_factory=list)


def stream_priority(runtime: SourceRuntime, stream: str) -> int:
    """Records that others depend on go first: customers before orders before payments."""
    depth: dict[str, int] = {}

    def level(name: str) -> int:
        if name not in depth:
            spec = runtime.spec.stream(name)
            depth[name] = 1 + max((level(d) for d in spec.depends_on), default=0)
        return depth[name]

    deepest = max(level(s.name) for s in runtime.spec.streams)
    return 100 + (deepest - level(stream)) * 10


def push_job(runtime: SourceRuntime, change: Change, *, held: bool) -> NewJob:
    """The queued push of one change; Permanent, naming the field, when its data is not JSON
    (the queue keeps it as JSON, and `map_record` may see it again in another process)."""
    problem = json_problem(change.data, "data")
    if problem:
        raise Permanent(
            f"plugin {runtime.source.plugin!r}, {change.stream} {change.key}: Change.{problem}; "
            "give it as text, a number, a list or a mapping with text keys"
        )
    return NewJob(
        source_id=runtime.id,
        stream=change.stream,
        record_key=change.key,
        kind="push",
        op=change.op,
        payload={
            "data": dict(change.data),
            "updated_at": change.updated_at.isoformat() if change.updated_at else None,
            **({"hold": change.hold} if change.hold else {}),
        },
        connection_id=runtime.source.connection_id,
        held=held,
        priority=stream_priority(runtime, change.stream),
    )


def json_problem(value: object, path: str) -> str:
    """Where a value stops being JSON (`data['paid_at'] is a datetime`), or ""."""
    if value is None or isinstance(value, str | bool | int):
        return ""
    if isinstance(value, float):
        return "" if math.isfinite(value) else f"{path} is {value}, which JSON has no number for"
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            if problem := json_problem(item, f"{path}[{i}]"):
                return problem
        return ""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path} has the key {key!r}, not text"
            if problem := json_problem(item, f"{path}[{key!r}]"):
                return problem
        return ""
    return f"{path} is a {type(value).__name__}, not JSON"


async def read_stream(
    runtime: SourceRuntime,
    stream: StreamSpec,
    *,
    plugins: Plugins,
    queue: Queue,
    full: bool = False,
) -> IntakeResult:
    """Run `fetch_changes` for one stream and queue what it yields, cursor included.

    A stream with a `backfill` span reads its history newest first: its first run reads the
    span (the last 12 months, say) and saves the cursor, then reads everything older; until
    that older read has finished, every run takes it up again (see `cursors.reading_state`).
    """
    store = queue.store
    started = queue.clock.now()
    with store.transaction() as s:
        saved = None if full else cursors.read(s, runtime.id, stream.name)
        older = cursors.read(s, runtime.id, cursors.backfill_key(stream.name))
    asked = saved
    if saved and stream.cursor is CursorKind.TIMESTAMP:
        asked = (_parse(saved) - stream.lookback).isoformat()
    windowed = (
        not full
        and saved is None
        and older is None
        and stream.backfill is not None
        and stream.cursor is CursorKind.TIMESTAMP
    )
    if windowed:
        assert stream.backfill is not None
        asked = (started - stream.backfill).isoformat()
        older = asked
    result = await _read(runtime, stream, plugins, queue, started, since=asked, saved=saved)
    if result.cursor is None and saved is None and stream.cursor is CursorKind.TIMESTAMP:
        # A first read that found nothing still covered everything up to now (or the span):
        # the next run starts there, and the stream counts as read.
        first = asked or started.isoformat()
        cursors.save_now(store, runtime.id, stream.name, first, started)
        result.cursor = first
    if older is not None and older != cursors.BACKFILL_DONE and not full:
        progress = cursors.backfill_key(stream.name)
        cursors.save_now(store, runtime.id, progress, older, started)
        history = await _read(runtime, stream, plugins, queue, started, until=older)
        result.read += history.read
        result.queued += history.queued
        cursors.save_now(store, runtime.id, progress, cursors.BACKFILL_DONE, started)
    return result


async def _read(
    runtime: SourceRuntime,
    stream: StreamSpec,
    plugins: Plugins,
    queue: Queue,
    started: datetime,
    *,
    since: str | None = None,
    saved: str | None = None,
    until: str | None = None,
) -> IntakeResult:
    """One `fetch_changes` read queued in chunks; the stream's cursor moves only when `until`
    is None (a backfill window of older history never moves it)."""
    store = queue.store
    result = IntakeResult()
    held = runtime.ctx.settings.require_approval
    chunk: list[NewJob] = []
    newest: datetime | None = (
        _parse(saved) if saved and stream.cursor is CursorKind.TIMESTAMP else None
    )
    token: str | None = saved if stream.cursor is CursorKind.TOKEN else None
    limit = _parse(until) if until else None

    def flush(cursor: str | None) -> None:
        with store.transaction() as s:
            chunk[:] = _without_echoes(s, runtime.id, stream.name, chunk)
            result.queued += queue.enqueue(chunk, session=s)
            if cursor is not None and until is None:
                cursors.save(s, runtime.id, stream.name, cursor, started)
        result.cursor = cursor if until is None else None
        chunk.clear()

    result_iter = plugins.call(
        runtime.source.plugin,
        "fetch_changes",
        ctx=runtime.ctx,
        stream=stream,
        cursor=since,
        until=until,
    )
    async for item in aiterate(result_iter):
        if isinstance(item, Checkpoint):
            token = item.value
            flush(token)
            continue
        if not isinstance(item, Change):
            raise TypeError(f"fetch_changes yielded {type(item).__name__}, not a Change")
        if limit is not None and item.updated_at is not None and item.updated_at >= limit:
            continue  # the newer span's read has it; a plugin may ignore `until`
        result.read += 1
        chunk.append(push_job(runtime, item, held=held or bool(item.hold)))
        if item.updated_at is not None and (newest is None or item.updated_at > newest):
            newest = min(item.updated_at, started)  # never past the run's start
        if len(chunk) >= CHUNK:
            flush(_cursor_value(stream, newest, token))
    flush(_cursor_value(stream, newest, token))
    return result


async def read_records(
    runtime: SourceRuntime,
    stream: StreamSpec,
    keys: list[str],
    *,
    plugins: Plugins,
    queue: Queue,
    priority_boost: int = 0,
) -> tuple[int, list[str]]:
    """Queue pushes of the given records (a "Sync now", or dependencies); returns (queued,
    keys not found at the source)."""
    jobs: list[NewJob] = []
    seen: set[str] = set()
    result_iter = plugins.call(
        runtime.source.plugin, "fetch_records", ctx=runtime.ctx, stream=stream, keys=keys
    )
    async for change in aiterate(result_iter):
        job = push_job(runtime, change, held=False)
        jobs.append(NewJob(**{**job.__dict__, "priority": job.priority + priority_boost}))
        seen.add(change.key)
    queued = queue.enqueue(jobs)
    return queued, [k for k in keys if k not in seen]


async def reconcile_stream(
    runtime: SourceRuntime,
    stream: StreamSpec,
    *,
    plugins: Plugins,
    queue: Queue,
    chunk: int = 200,
) -> list[str]:
    """Find records the source deleted without trace: every linked key is read back with
    `fetch_records`, and each one missing is queued as a deletion. Returns the missing keys."""
    with queue.store.transaction() as s:
        keys = sorted(
            s.exec(
                select(Link.record_key).where(
                    Link.source_id == runtime.id, Link.stream == stream.name, Link.role == "main"
                )
            ).all()
        )
    missing: list[str] = []
    for start in range(0, len(keys), chunk):
        part = keys[start : start + chunk]
        seen = set()
        result = plugins.call(
            runtime.source.plugin, "fetch_records", ctx=runtime.ctx, stream=stream, keys=part
        )
        async for change in aiterate(result):
            seen.add(change.key)
        missing += [k for k in part if k not in seen]
    queue.enqueue(
        push_job(runtime, Change(stream.name, key, {}, op="delete"), held=False) for key in missing
    )
    return missing


def _without_echoes(s: Session, source_id: int, stream: str, jobs: list[NewJob]) -> list[NewJob]:
    """The jobs less the echoes of our own writes into the source: a record read back at the
    very change time our write left it with (`Written`, kept on its link)."""
    if not jobs:
        return jobs
    query = select(Link.record_key, Link.source_version).where(
        Link.source_id == source_id,
        Link.stream == stream,
        col(Link.record_key).in_({j.record_key for j in jobs}),
        Link.source_version != "",
    )
    versions: dict[str, str] = dict(s.exec(query).all())
    if not versions:
        return jobs
    kept = []
    for job in jobs:
        version = versions.get(job.record_key)
        at = (job.payload or {}).get("updated_at")
        if version and at and _parse(at) == _parse(version):
            log.info("%s %s: the echo of our own write into the source, not pushed", stream,
                     job.record_key)  # fmt: skip
            continue
        kept.append(job)
    return kept


def _cursor_value(stream: StreamSpec, newest: datetime | None, token: str | None) -> str | None:
    if stream.cursor is CursorKind.TOKEN:
        return token
    if stream.cursor is CursorKind.TIMESTAMP and newest is not None:
        return newest.astimezone(UTC).isoformat()
    return None


def _parse(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
