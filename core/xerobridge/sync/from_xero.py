"""From Xero into the sources: each `apply` job (one per Xero record and source, queued by
`xero_intake`) makes its writes in the source exactly once. A job

1. drops the record if it is the echo of our own write to Xero;
2. asks the plugin, while the record is not linked, whether it is an existing source record
   (`match_xero_record`: link, create, a person's choice, or skip), and waits for the records it
   needs (an invoice's contact) to be linked first;
3. asks the plugin what to write (`on_xero_update`, pure), leaves out each write the link says is
   already made (same fingerprint), and makes the rest (`apply_write`);
4. stores the link of each write (source stream and key to the Xero object, with the write's
   fingerprint) as soon as it is made, so a job run again makes none of them twice.

A create is exactly once: before its call the link is written provisionally (key `?<xero id>`,
in flight), so a retry after a crash or a lost answer asks the plugin to find what the earlier
try made (`find_written`, by the Xero id the create carried) before it creates anything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from xerobridge.contract.errors import NeedsChoice, Permanent
from xerobridge.contract.plugins import Plugins
from xerobridge.contract.types import (
    Direction,
    Notice,
    Resolution,
    SourceWrite,
    StreamSpec,
    Written,
    XeroEvent,
)
from xerobridge.runtime import crashpoints
from xerobridge.runtime.queue import NewJob, Queue
from xerobridge.store import cursors, links
from xerobridge.store.models import ActionLog, Job, Link
from xerobridge.store.states import JobKind, JobState, LinkMethod
from xerobridge.sync import xero_intake
from xerobridge.sync.batch import AwaitsXero
from xerobridge.sync.runtimes import Runtimes, SourceRuntime
from xerobridge.xero.mirror import parse_xero_datetime
from xerobridge.xero.objects import xero_object
from xerobridge.xero.reading import changed_at

log = logging.getLogger(__name__)

#: Our own write, seen back through a webhook, arrives within this of the link's update.
ECHO_WINDOW = timedelta(seconds=5)
#: The key prefix of a link written before a create's call, until the source's key is known.
PROVISIONAL = "?"


@dataclass(frozen=True)
class Applied:
    """What became of one Xero record: created, updated or skipped in the source, or ""
    while it waits (given back for a record it needs)."""

    outcome: str
    message: str
    kind: str = ""
    xero_id: str = ""
    source_key: str = ""  # the source record it is, once known


def fingerprint(write: SourceWrite) -> str:
    """What a write leaves in the source record: a create and a later update that carries the
    same data leave the same, so the update is not made."""
    return links.payload_hash(dict(write.data))


class Apply:
    """Runs `apply` jobs for one worker."""

    def __init__(self, *, queue: Queue, plugins: Plugins, runtimes: Runtimes, worker_id: str):
        self.queue = queue
        self.store = queue.store
        self.plugins = plugins
        self.runtimes = runtimes
        self.worker_id = worker_id

    async def run(self, job: Job, record: dict[str, Any] | None) -> Applied:
        """Apply one Xero record to its source."""
        runtime = self.runtimes.get(job.source_id)
        payload = job.payload or {}
        kind = str(payload.get("kind", ""))
        if record is None:
            return Applied("skipped", f"{kind} {job.record_key} is not in Xero (deleted, or "
                           "filtered out)", kind, job.record_key)  # fmt: skip
        xero_id = str(record.get(xero_object(kind).id_field) or job.record_key)
        stream = xero_intake.stream_of(runtime.spec, job.stream)
        with self.store.transaction() as s:
            known = list(
                s.exec(
                    select(Link).where(
                        Link.source_id == runtime.id, Link.xero_type == kind,
                        col(Link.xero_id).in_({xero_id, xero_id.lower()}),
                    )
                ).all()
            )  # fmt: skip
        mine = [lk for lk in known if stream is not None and lk.stream == stream.name]
        settled = [lk for lk in mine if not lk.record_key.startswith(PROVISIONAL)]
        pushed = [lk for lk in known if lk not in mine and lk.role == "main"]
        at = changed_at(record) or _event_at(payload) or self.queue.clock.now()
        if stream is not None and not settled and pushed:
            # The source put this object into Xero: it is not news for its stream from Xero.
            ours = pushed[0]
            return Applied("skipped", f"{kind} {xero_id} is {ours.stream} {ours.record_key} of "
                           "this source", kind, xero_id)  # fmt: skip
        if not settled and pushed:
            ours = pushed[0]
            if ours.updated_at is not None and ours.updated_at >= at - ECHO_WINDOW:
                return Applied("skipped", "echo of our own write: dropped", kind, xero_id,
                               ours.record_key)  # fmt: skip
        linked = settled[0] if settled else (pushed[0] if pushed else None)
        event = XeroEvent(
            tenant_id=runtime.connection.tenant_id if runtime.connection else "",
            resource=kind.upper(),
            resource_id=xero_id,
            event_type="CREATE" if payload.get("event_type") == "CREATE" else "UPDATE",
            event_time=at,
            record=record,
            linked=(linked.stream, linked.record_key) if linked else None,
            stream=stream.name if stream is not None else None,
            initial=stream is not None and self._initial(runtime, stream, at),
        )
        # A person asked for a new source record (`xerobridge map --create`), or a create began
        # (then `find` looks for what it made): either way there is nothing to match.
        decided = any(lk not in settled for lk in mine)
        if linked is None and stream is not None and not decided:
            resolution = await self.plugins.acall(
                runtime.source.plugin, "match_xero_record", ctx=runtime.ctx, event=event
            )
            step = self._resolved(job, runtime, stream, xero_id, resolution)
            if isinstance(step, tuple):
                return Applied(*step, kind, xero_id)
            if step is not None:
                event = XeroEvent(**{**event.__dict__, "linked": (stream.name, step)})
        writes = await self.plugins.acall(
            runtime.source.plugin, "on_xero_update", ctx=runtime.ctx, event=event
        ) or []  # fmt: skip
        made, kept, key = 0, 0, event.linked[1] if event.linked else ""
        provisional = mine[0] if mine and not settled else None
        notices = [w for w in writes if isinstance(w, Notice)]
        if notices:
            self._ask(runtime, stream.name if stream else job.stream, xero_id, notices)
        for write in writes:
            if isinstance(write, Notice):
                continue
            if not isinstance(write, SourceWrite):
                raise TypeError(f"on_xero_update gave {type(write).__name__}, not a SourceWrite")
            written = await self._write(job, runtime, kind, xero_id, write, provisional)
            if written is None:
                kept += 1
            else:
                made, key = made + 1, key or written
        if made == 0:
            message = "unchanged: nothing to write" if kept else "nothing to write"
            if notices:
                message = "a person is asked: " + "; ".join(n.message for n in notices)
            return Applied("skipped", message, kind, xero_id, key)
        outcome = "updated" if event.linked else "created"
        return Applied(outcome, f"{made} write(s) made in the source", kind, xero_id, key)

    def _ask(
        self, runtime: SourceRuntime, stream: str, xero_id: str, notices: list[Notice]
    ) -> None:
        """Add each notice to the action log, once per Xero record and message."""
        with self.store.transaction() as s:
            for notice in notices:
                message = f"{notice.message} {notice.url}".strip()
                there = s.exec(
                    select(ActionLog.id).where(
                        ActionLog.source_id == runtime.id, ActionLog.stream == stream,
                        ActionLog.record_key == xero_id, ActionLog.message == message,
                    )
                ).first()  # fmt: skip
                if there is None:
                    s.add(ActionLog(at=self.queue.clock.now(), source_id=runtime.id,
                                    level="action", message=message, stream=stream,
                                    record_key=xero_id))  # fmt: skip

    def _initial(self, runtime: SourceRuntime, stream: StreamSpec, at: datetime) -> bool:
        """Whether a record last changed at `at` was in Xero before the source was added: its
        change is no newer than what the stream's first read found (all, until that is in)."""
        with self.store.transaction() as s:
            mark = cursors.read(s, runtime.id, cursors.initial_key(stream.name))
        return mark is None or at <= xero_intake.parse(mark)

    def _resolved(
        self,
        job: Job,
        runtime: SourceRuntime,
        stream: StreamSpec,
        xero_id: str,
        resolution: Resolution,
    ) -> str | tuple[str, str] | None:
        """Act on the plugin's match: the source key it linked, None to create, or the job's
        outcome when it ends (skipped) or waits (a person, a record it needs)."""
        if not isinstance(resolution, Resolution):
            raise TypeError(f"match_xero_record returned {type(resolution).__name__}")
        if resolution.action == "skip":
            return "skipped", resolution.reason or "skipped by the plugin"
        if resolution.action == "choose":
            raise NeedsChoice(resolution.reason, candidates=resolution.candidates)
        missing = self._missing(runtime, resolution)
        if missing:
            return self._wait(job, runtime, missing)
        if resolution.action == "link" and resolution.xero_id:
            with self.store.transaction() as s:
                links.set_link(
                    s, source_id=runtime.id, key=(stream.name, resolution.xero_id, "main"),
                    xero_type=stream.xero_object, xero_id=xero_id, method=LinkMethod.MATCHED,
                    now=self.queue.clock.now(),
                )  # fmt: skip
                self.queue.wake(s, {(runtime.id, stream.name, resolution.xero_id),
                                    (runtime.id, stream.name, xero_id.lower())})  # fmt: skip
            return resolution.xero_id
        return None

    def _missing(self, runtime: SourceRuntime, resolution: Resolution) -> list[tuple[str, str]]:
        """The records from Xero the resolution needs that are not linked yet (stream, id)."""
        needs = [
            (need.stream, need.key)
            for need in resolution.needs
            if runtime.spec.stream(need.stream).direction is Direction.FROM_XERO
        ]
        if not needs:
            return []
        ids = {k for _s, k in needs} | {k.lower() for _s, k in needs}
        with self.store.transaction() as s:
            have = {
                (lk.stream, (lk.xero_id or "").lower())
                for lk in s.exec(
                    select(Link).where(Link.source_id == runtime.id, col(Link.xero_id).in_(ids))
                ).all()
                if not lk.record_key.startswith(PROVISIONAL)
            }
        return [(st, key) for st, key in needs if (st, key.lower()) not in have]

    def _wait(
        self, job: Job, runtime: SourceRuntime, missing: list[tuple[str, str]]
    ) -> tuple[str, str]:
        """Give the job back until the records it needs are in; queue their reads (no attempt
        spent). A need held for a person holds this job too, until that is decided."""
        wanted = [
            NewJob(
                source_id=runtime.id,
                stream=stream,
                record_key=key.lower(),
                kind=JobKind.APPLY,
                payload={
                    "kind": runtime.spec.stream(stream).xero_object,
                    "event_type": "UPDATE",
                    "event_at": None,
                },
                connection_id=runtime.source.connection_id,
                priority=job.priority + 10,
            )
            for stream, key in missing
        ]
        needs = {(st, k.lower()) for st, k in missing}
        names = ", ".join(f"{st} {key}" for st, key in missing)
        with self.store.transaction() as s:
            found = s.exec(
                select(Job).where(
                    Job.source_id == runtime.id,
                    Job.kind == JobKind.APPLY,
                    col(Job.record_key).in_({k for _s, k in needs}),
                )
            ).all()
            pending = {(j.stream, j.record_key) for j in found}
            live = {(j.stream, j.record_key) for j in found if j.state != JobState.DEAD}
            before = {tuple(r) for r in (job.payload or {}).get("waited") or []}
            if needs <= before and not needs & live:
                # It waited for them once, they were read and are still not linked (skipped
                # or failed): waiting again would loop. It fails, and goes again by itself
                # once one of them is linked.
                raise AwaitsXero(
                    f"needs {names} from Xero, which did not come into the source: see the "
                    f"sync log of {names} for why; this record goes again by itself once it has",
                    awaited=tuple(sorted(needs)),
                )
            row = s.get(Job, job.id)
            if row is not None:
                row.payload = {**(row.payload or {}), "waited": sorted(needs | before)}
                s.add(row)
        self.queue.enqueue(j for j in wanted if (j.stream, j.record_key) not in pending)
        # Queued again at once (behind the records it needs, which go first), or held while
        # one of them waits for a person.
        self.queue.hold(
            self.worker_id, job.id,  # type: ignore[arg-type]
            f"waits for {names} from Xero", awaited=[(st, k.lower()) for st, k in missing],
        )  # fmt: skip
        return "", f"waits for {names}"

    async def _write(
        self,
        job: Job,
        runtime: SourceRuntime,
        kind: str,
        xero_id: str,
        write: SourceWrite,
        provisional: Link | None,
    ) -> str | None:
        """Make one write unless its link says it is made; the source key it wrote, or None."""
        print_ = fingerprint(write)
        target = runtime.spec.stream(write.stream)
        linked = target.direction is Direction.FROM_XERO
        write = SourceWrite(write.stream, write.key, write.action, write.data,
                            xero_id=write.xero_id or xero_id, create=write.create)  # fmt: skip
        with self.store.transaction() as s:
            link = None if write.create else links.get(s, runtime.id, write.stream, write.key)
            if linked and link is not None and link.pushed_hash == print_:
                return None
        ctx = runtime.ctx
        key: str | None = None
        if write.create:
            if provisional is not None and provisional.in_flight_at is not None:
                # An earlier try may have made it and died (or lost the answer) before its link.
                key = await self.plugins.acall(runtime.source.plugin, "find_written", ctx=ctx,
                                               write=write)  # fmt: skip
            if key is None:
                self._provisional(runtime, write, kind, xero_id, print_)
                crashpoints.reached("before_source_write")
        version = ""
        if key is None:
            answer = await self.plugins.acall(runtime.source.plugin, "apply_write", ctx=ctx,
                                              write=write)  # fmt: skip
            crashpoints.reached("after_source_write")
            if isinstance(answer, Written):
                key = answer.key
                version = answer.updated_at.isoformat() if answer.updated_at else ""
            else:
                key = answer
        if write.create and not key:
            raise Permanent(
                f"plugin {runtime.source.plugin!r}: apply_write made {write.stream} for Xero "
                f"{kind} {xero_id} but returned no key; return the new record's key"
            )
        key = str(key or write.key)
        if linked:
            with self.store.transaction() as s:
                self._settle(s, runtime, write, key, kind, xero_id, print_)
        elif version:
            # A record the source pushes to Xero: its echo, read back, is not pushed.
            with self.store.transaction() as s:
                s.execute(
                    sa.update(Link)
                    .where(col(Link.source_id) == runtime.id, col(Link.stream) == write.stream,
                           col(Link.record_key) == key)
                    .values(source_version=version)
                )  # fmt: skip
        return key

    def _provisional(
        self, runtime: SourceRuntime, write: SourceWrite, kind: str, xero_id: str, print_: str
    ) -> None:
        """The link of a create about to be made, kept until the source's key is known."""
        now = self.queue.clock.now()
        with self.store.transaction() as s:
            key = PROVISIONAL + xero_id.lower()
            link = links.get(s, runtime.id, write.stream, key) or Link(
                source_id=runtime.id, stream=write.stream, record_key=key, xero_type=kind
            )
            link.xero_id, link.method, link.updated_at = xero_id, LinkMethod.CREATED, now
            link.in_flight_at, link.in_flight_hash = now, print_
            s.add(link)

    def _settle(
        self,
        s: Session,
        runtime: SourceRuntime,
        write: SourceWrite,
        key: str,
        kind: str,
        xero_id: str,
        print_: str,
    ) -> None:
        """Store the link of a write made, replacing a provisional one."""
        now = self.queue.clock.now()
        if write.create:
            stale = links.get(s, runtime.id, write.stream, PROVISIONAL + xero_id.lower())
            if stale is not None:
                s.delete(stale)
                s.flush()
        link = links.get(s, runtime.id, write.stream, key) or Link(
            source_id=runtime.id, stream=write.stream, record_key=key, xero_type=kind,
            method=LinkMethod.CREATED if write.create else LinkMethod.MATCHED,
        )  # fmt: skip
        link.xero_type, link.xero_id, link.pushed_hash, link.updated_at = kind, xero_id, print_, now
        link.in_flight_at, link.in_flight_hash = None, ""
        s.add(link)
        # Records that failed for want of this one go again now (`AwaitsXero`): records to
        # Xero name it by its source key, records from Xero by its Xero id.
        self.queue.wake(s, {(runtime.id, write.stream, key),
                            (runtime.id, write.stream, xero_id.lower())})  # fmt: skip


def _event_at(payload: dict[str, Any]) -> datetime | None:
    return parse_xero_datetime(payload.get("event_at"))
