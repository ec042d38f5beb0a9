"""Pushing a claimed batch of changes to Xero, each job settled on its own.

For each job: `map_record` says which Xero object the record is and what it needs first; what
it needs is linked already, or queued ahead of it (the job waits, it never fails for ordering);
`to_xero` builds the documents; a document whose hash equals the last pushed one is skipped
with no call. The rest are written in batches of up to 50 per document type: the links are
marked in flight with the stored attempt in one transaction before the write, and each element
of Xero's answer settles its own link or fails its own job. A record may need several rounds
(a credit note, then its allocation): `to_xero` is asked again with the new links until it
returns nothing new.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from xerobridge.clock import Clock
from xerobridge.contract.errors import NeedsPerson, Permanent, RetryLater
from xerobridge.contract.plugins import Plugins
from xerobridge.contract.settings import NotifyLevel
from xerobridge.contract.types import Change, Resolution, XeroDocument
from xerobridge.runtime import crashpoints
from xerobridge.runtime.queue import Queue
from xerobridge.store import links as linkstore
from xerobridge.store import synclog
from xerobridge.store.models import ActionLog, Job, Link
from xerobridge.sync import appends
from xerobridge.sync.intake import read_records
from xerobridge.sync.recovery import Recovery
from xerobridge.sync.runtimes import Runtimes, SourceRuntime
from xerobridge.xero.client import ElementResult, XeroClient, contact_problem
from xerobridge.xero.deeplinks import view_url
from xerobridge.xero.mirror import Mirror
from xerobridge.xero.objects import XeroObject, xero_object

log = logging.getLogger(__name__)

ROUNDS = 4
#: How many queued jobs behind a batch are asked what they need, when the batch lacks some.
LOOK_AHEAD = 1000
#: A record of the batch: (source id, stream, record key).
Record = tuple[int, str, str]
#: The links of the batch's records, by record and role.
OwnLinks = dict[Record, dict[str, Link]]
#: How long a job waits for a record it depends on before it is tried again.
DEPENDENCY_WAIT = 0.2
#: The sync log's message for a record whose documents are as last pushed.
UNCHANGED = "unchanged since the last push"
#: Xero's words when a create collides with an object that already holds the natural key.
_UNIQUE_HINTS = ("already", "must be unique", "unique")


class HoldBack(Exception):
    """The job must wait (for a dependency) without spending an attempt."""

    def __init__(self, reason: str, delay: float = DEPENDENCY_WAIT) -> None:
        super().__init__(reason)
        self.delay = delay


@dataclass
class Work:
    """One job on its way through the batch."""

    job: Job
    runtime: SourceRuntime
    change: Change
    resolution: Resolution
    links: dict[tuple[str, str, str], str]
    started: float
    docs: list[XeroDocument] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)  # created | updated per written document
    xero: list[tuple[str, str]] = field(default_factory=list)  # (kind, id) of main documents
    calls: int = 0
    error: Exception | None = None
    wrote: bool = False  # a document of this job was written in the current round
    #: Given back to the queue to be prepared afresh by a later batch (see `_write_chunk`).
    again: bool = False


@dataclass
class BatchStats:
    """What a batch did: (source id, stream, outcome) per job, where the outcome is created,
    updated, skipped, failed, held, retry or waiting."""

    outcomes: list[tuple[int, str, str]] = field(default_factory=list)


class Pusher:
    """Pushes batches of claimed push jobs of one connection."""

    def __init__(
        self,
        *,
        queue: Queue,
        plugins: Plugins,
        runtimes: Runtimes,
        client: XeroClient,
        recovery: Recovery,
        clock: Clock,
        worker_id: str,
        mirror: Mirror | None = None,
    ) -> None:
        self.mirror = mirror
        self.queue = queue
        self.store = queue.store
        self.plugins = plugins
        self.runtimes = runtimes
        self.client = client
        self.recovery = recovery
        self.clock = clock
        self.worker_id = worker_id
        #: Per source, the newest queued job `_look_ahead` has asked about.
        self._looked: dict[int, int] = {}
        #: Jobs given back after Xero refused a name their document held: the refused hash.
        self._retaken: dict[int, str] = {}
        #: Seconds per stage since the last `take_seconds`: map (hooks and dependencies),
        #: write (waiting for Xero) and link (the store's part of a push).
        self._seconds: dict[str, float] = defaultdict(float)

    def take_seconds(self) -> dict[str, float]:
        """The seconds spent per stage since the last call."""
        taken, self._seconds = self._seconds, defaultdict(float)
        return taken

    @contextlib.contextmanager
    def _timed(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self._seconds[stage] += time.perf_counter() - started

    async def push(self, jobs: list[Job]) -> BatchStats:
        """Take a batch from claimed to settled; every job ends completed, failed or released."""
        started = time.perf_counter()
        before = self._seconds["map"] + self._seconds["write"]
        try:
            return await self._push(jobs)
        finally:
            spent = time.perf_counter() - started
            self._seconds["link"] += spent - (
                self._seconds["map"] + self._seconds["write"] - before
            )

    async def _push(self, jobs: list[Job]) -> BatchStats:
        stats = BatchStats()
        self._done: list[tuple[int, dict[str, Any]]] = []
        try:
            await self._recover_own(jobs)
        except (RetryLater, NeedsPerson) as exc:
            # Unsettled writes must be settled before anything else of these records moves.
            for job in jobs:
                self._fail(job, None, exc, stats)
            return stats
        # The batch's own links, read once: decisions, map_record's look-ups, own links.
        own = self._load_own([(self.runtimes.get(j.source_id), j.stream, j.record_key)
                              for j in jobs])  # fmt: skip
        mapped: list[Work] = []
        for job in jobs:
            try:
                with self._timed("map"):
                    work = await self._map(job, own)
            except Exception as exc:
                self._fail(job, None, exc, stats)
                continue
            if work.resolution.action == "skip":
                self._complete(work, "skipped", work.resolution.reason or "nothing to do", stats)
                continue
            mapped.append(work)
        with self._timed("map"):
            problems = await self._dependencies(mapped)
        waiting: dict[float, list[int]] = defaultdict(list)
        works: list[Work] = []
        for work in mapped:
            problem = problems.get(id(work))
            if isinstance(problem, HoldBack):
                waiting[problem.delay].append(work.job.id)  # type: ignore[arg-type]
                stats.outcomes.append((work.job.source_id, work.job.stream, "waiting"))
                continue
            try:
                if problem is not None:
                    raise problem
                work.links.update(_xero_ids(own, work.runtime.id, work.change))
                with self._timed("map"):
                    work.docs = await self._documents(work)
            except Exception as exc:
                self._fail(work.job, None, exc, stats)
                continue
            works.append(work)
        for delay, ids in waiting.items():
            self.queue.release(self.worker_id, ids, delay=delay)
        for _ in range(ROUNDS):
            pending = self._to_write(works)
            if not pending:
                break
            await self._write(pending)
            await self._rebuild(works)
        again = [w.job.id for w in works if w.again and w.error is None]
        if again:
            self.queue.release(self.worker_id, again, delay=DEPENDENCY_WAIT)  # type: ignore[arg-type]
        for work in works:
            if work.again and work.error is None:
                stats.outcomes.append((work.job.source_id, work.job.stream, "waiting"))
            elif work.error is not None:
                self._fail(work.job, work, work.error, stats)
            elif work.actions:
                action = "created" if "created" in work.actions else "updated"
                self._complete(work, action, "OK", stats)
            else:
                self._complete(work, "skipped", UNCHANGED, stats)
        self._flush_completed()
        return stats

    # -- before the write -------------------------------------------------------------------------

    async def _recover_own(self, jobs: list[Job]) -> None:
        """A re-claimed job may carry a write that was never settled: settle it first."""
        records = defaultdict(list)
        for job in jobs:
            records[job.source_id].append((job.stream, job.record_key))
        stale: dict[int, list[int]] = defaultdict(list)
        with self.store.transaction() as s:
            for source_id, keys in records.items():
                for link in linkstore.of_records(s, source_id, keys).values():
                    if link.in_flight_at is not None:
                        runtime = self.runtimes.get(source_id)
                        conn_id = runtime.source.connection_id
                        assert conn_id is not None and link.id is not None
                        stale[conn_id].append(link.id)
        for conn_id, link_ids in stale.items():
            await self.recovery.resolve(conn_id, link_ids)

    def _load_own(self, records: list[tuple[SourceRuntime, str, str]]) -> OwnLinks:
        """Every link of the given records, in one query per source and stream."""
        by_source: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for runtime, stream, key in records:
            by_source[runtime.id].append((stream, key))
        found: OwnLinks = defaultdict(dict)
        with self.store.transaction() as s:
            for source_id, keys in by_source.items():
                for (stream, key, role), link in linkstore.of_records(s, source_id, keys).items():
                    found[(source_id, stream, key)][role] = link
        return found

    async def _map(self, job: Job, own: OwnLinks) -> Work:
        """Ask map_record what the record is; a person's decision overrides its answer."""
        runtime = self.runtimes.get(job.source_id)
        payload = job.payload or {}
        updated = payload.get("updated_at")
        change = Change(
            stream=job.stream,
            key=job.record_key,
            data=payload.get("data") or {},
            op="delete" if job.op == "delete" else "upsert",
            updated_at=_when(updated),
        )
        work = Work(job, runtime, change, Resolution.create(), {}, time.perf_counter())
        view = runtime.ctx.links
        links = own[(runtime.id, change.stream, change.key)]
        roles = {role: link.xero_id for role, link in links.items()}
        with (
            view.known({(change.stream, change.key): roles})
            if isinstance(view, linkstore.StoreLinkView)
            else contextlib.nullcontext()
        ):
            work.resolution = await self.plugins.acall(
                runtime.source.plugin, "map_record", ctx=runtime.ctx, change=change
            )
        main = links.get("main")
        decided = main if main is not None and main.method in ("chosen", "create") else None
        if decided is not None and work.resolution.action != "skip":
            # The plugin still says what the record needs; the person said what it is.
            needs = work.resolution.needs
            work.resolution = (
                Resolution.link(decided.xero_id, needs=needs)
                if decided.xero_id
                else Resolution.create(needs=needs)
            )
        resolution = work.resolution
        if resolution.action == "choose":
            raise NeedsPerson(resolution.reason, candidates=resolution.candidates)
        matched = resolution.action == "link" and resolution.xero_id and decided is None
        if matched and (main is None or main.xero_id != resolution.xero_id):
            assert resolution.xero_id is not None
            links["main"] = self._link(runtime, change, resolution.xero_id, method="matched")
        return work

    def _link(self, runtime: SourceRuntime, change: Change, xero_id: str, *, method: str) -> Link:
        stream = runtime.spec.stream(change.stream)
        with self.store.transaction() as s:
            return linkstore.set_link(
                s,
                source_id=runtime.id,
                key=(change.stream, change.key, "main"),
                xero_type=stream.xero_object,
                xero_id=xero_id,
                method=method,
                now=self.clock.now(),
            )

    async def _dependencies(self, works: list[Work]) -> dict[int, Exception]:
        """What stops each job (by `id(work)`): a dependency not in Xero yet (HoldBack; it is
        queued ahead if it was not), or one that failed or is gone (Permanent).

        The batch's dependencies are looked up together: one query per source and stream for
        their links, one for their jobs, and one read of the source per stream that lacks some.
        """
        problems: dict[int, Exception] = {}
        by_source: dict[int, list[Work]] = defaultdict(list)
        for work in works:
            if work.resolution.needs:
                by_source[work.runtime.id].append(work)
        for source_id, group in by_source.items():
            runtime = group[0].runtime
            records = {(d.stream, d.key) for w in group for d in w.resolution.needs}
            with self.store.transaction() as s:
                found = linkstore.of_records(s, source_id, records)
                rows = s.exec(
                    select(Job.stream, Job.record_key, Job.state, Job.last_error).where(
                        Job.source_id == source_id,
                        col(Job.stream).in_({st for st, _k in records}),  # lets ix_job_record serve
                        col(Job.record_key).in_({k for _st, k in records}),
                        Job.kind == "push",
                    )
                ).all()
            jobs: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
            for stream_name, key, state, error in rows:
                jobs[(stream_name, key)].append((state, error))
            missing: dict[str, set[str]] = defaultdict(set)
            unresolved: dict[int, list[str]] = defaultdict(list)
            for work in group:
                for dep in work.resolution.needs:
                    link = found.get((dep.stream, dep.key, dep.role))
                    if link is not None and link.xero_id and link.in_flight_at is None:
                        work.links[(dep.stream, dep.key, dep.role)] = link.xero_id
                        continue
                    if link is None or link.in_flight_at is None:
                        queued = jobs.get((dep.stream, dep.key), [])
                        dead = [error for state, error in queued if state == "dead"]
                        if dead:
                            problems[id(work)] = Permanent(
                                f"{work.change.stream} {work.change.key} needs {dep.stream} "
                                f"{dep.key}, which failed: {dead[0]}"
                            )
                            break
                        if not queued:
                            missing[dep.stream].add(dep.key)
                    unresolved[id(work)].append(f"{dep.stream} {dep.key}")
            if missing:
                for stream_name, keys in (await self._look_ahead(runtime, group)).items():
                    missing[stream_name] |= keys
            gone: set[tuple[str, str]] = set()
            for stream_name, keys in missing.items():
                _queued, lost = await read_records(
                    runtime, runtime.spec.stream(stream_name), sorted(keys), plugins=self.plugins,
                    queue=self.queue, priority_boost=50,
                )  # fmt: skip
                gone.update((stream_name, key) for key in lost)
            for work in group:
                if id(work) in problems:
                    continue
                lost = [f"{d.stream} {d.key}" for d in work.resolution.needs
                        if (d.stream, d.key) in gone]  # fmt: skip
                if lost:
                    problems[id(work)] = Permanent(
                        f"{work.change.stream} {work.change.key} needs {', '.join(lost)}, "
                        "which the source no longer has"
                    )
                elif unresolved.get(id(work)):
                    problems[id(work)] = HoldBack("waiting for " + ", ".join(unresolved[id(work)]))
        return problems

    async def _look_ahead(self, runtime: SourceRuntime, group: list[Work]) -> dict[str, set[str]]:
        """What the jobs queued behind this batch need that is neither in Xero nor queued.

        Records that exist only as dependencies (a guest's contact) are found when a record
        needing them is pushed. Found a batch at a time, they would be written in small
        batches between their dependants; found for the jobs queued behind too, they are read
        and queued together, and go to Xero in full batches ahead of those jobs.
        """
        streams = sorted({w.change.stream for w in group})
        mine = {w.job.id for w in group}
        after = self._looked.get(runtime.id, 0)
        with self.store.transaction() as s:
            rows = s.exec(
                select(Job.id, Job.stream, Job.record_key, Job.op, Job.payload)
                .where(
                    Job.source_id == runtime.id,
                    Job.kind == "push",
                    col(Job.stream).in_(streams),
                    Job.state == "queued",
                    col(Job.id) > after,
                )
                .order_by(col(Job.id))
                .limit(LOOK_AHEAD)
            ).all()
        if not rows:
            return {}
        self._looked[runtime.id] = max(row[0] for row in rows)
        needs: set[tuple[str, str]] = set()
        for job_id, stream, key, op, payload in rows:
            if job_id in mine:
                continue
            change = Change(stream, key, (payload or {}).get("data") or {},
                            op="delete" if op == "delete" else "upsert")  # fmt: skip
            try:
                resolution = await self.plugins.acall(
                    runtime.source.plugin, "map_record", ctx=runtime.ctx, change=change
                )
            except Exception:
                continue  # its own push will report it
            needs.update((d.stream, d.key) for d in resolution.needs)
        if not needs:
            return {}
        with self.store.transaction() as s:
            found = linkstore.of_records(s, runtime.id, needs)
            queued = set(
                s.exec(
                    select(Job.stream, Job.record_key).where(
                        Job.source_id == runtime.id,
                        col(Job.stream).in_({st for st, _k in needs}),
                        col(Job.record_key).in_({k for _st, k in needs}),
                        Job.kind == "push",
                    )
                ).all()
            )
        handled = {(st, k) for (st, k, _role), link in found.items()
                   if link.xero_id or link.in_flight_at is not None}  # fmt: skip
        missing: dict[str, set[str]] = defaultdict(set)
        for stream, key in needs - handled - queued:
            missing[stream].add(key)
        return missing

    async def _documents(self, work: Work) -> list[XeroDocument]:
        runtime = work.runtime
        docs = await self.plugins.acall(
            runtime.source.plugin,
            "to_xero",
            ctx=runtime.ctx,
            change=work.change,
            links=dict(work.links),
        )
        docs = list(docs or [])
        for doc in docs:
            if not isinstance(doc, XeroDocument):
                raise TypeError(f"to_xero returned {type(doc).__name__}, not a XeroDocument")
            if problem := contact_problem(doc.kind, doc.body):
                raise Permanent(f"{work.change.stream} {work.change.key}: {problem}")
        return docs

    # -- the write --------------------------------------------------------------------------------

    def _to_write(self, works: list[Work]) -> list[tuple[Work, XeroDocument, dict[str, Any], str]]:
        """The documents that differ from what was last pushed, with their final bodies."""
        pending = []
        live = [w for w in works if w.error is None and not w.again]
        own = self._load_own([(w.runtime, w.change.stream, w.change.key) for w in live])
        for work in live:
            for doc in work.docs:
                link = own[(work.runtime.id, work.change.stream, work.change.key)].get(doc.role)
                body = dict(doc.body)
                # The hash is of what the plugin made, before the id is added for updates.
                body_hash = linkstore.payload_hash(body)
                res = xero_object(doc.kind)
                if link is not None and link.xero_id and doc.kind != "Allocation" and res.updatable:
                    body.setdefault(res.id_field, link.xero_id)
                if link is not None and link.xero_id and link.pushed_hash == body_hash:
                    continue
                if link is not None and link.xero_id and doc.kind == "Allocation":
                    continue  # an allocation, once made, is not made again
                pending.append((work, doc, body, body_hash))
        return pending

    async def _write(self, pending: list[tuple[Work, XeroDocument, dict[str, Any], str]]) -> None:
        pending = await self._unchangeable(pending)
        groups: dict[tuple[int, str], list[tuple[Work, XeroDocument, dict[str, Any], str]]]
        groups = defaultdict(list)
        shared: dict[tuple[int, str, str], list[tuple[Work, XeroDocument, dict[str, Any], str]]]
        shared = defaultdict(list)
        for item in pending:
            conn_id = item[0].runtime.source.connection_id
            if conn_id is None:
                item[0].error = NeedsPerson(
                    f"source {item[0].runtime.source.name} has no Xero connection: "
                    "set one with `xerobridge sources add ... --connection`"
                )
                continue
            if item[1].append:
                shared[(conn_id, item[1].kind, item[1].natural_key)].append(item)
                continue
            groups[(conn_id, item[1].kind)].append(item)
        for (conn_id, kind), items in groups.items():
            size = xero_object(kind).write_size
            for start in range(0, len(items), size):
                await self._write_chunk(conn_id, kind, items[start : start + size])
        for (conn_id, kind, _key), items in shared.items():
            await self._write_shared(conn_id, kind, items)

    async def _unchangeable(
        self, pending: list[tuple[Work, XeroDocument, dict[str, Any], str]]
    ) -> list[tuple[Work, XeroDocument, dict[str, Any], str]]:
        """Changed documents of a kind Xero never updates (bank transfers) whose first version
        is in Xero: made afresh if a person deleted that one there, else failed saying what to
        do. Sending them would make a second transfer beside the first."""
        keep = []
        for item in pending:
            work, doc, _body, _hash = item
            conn_id = work.runtime.source.connection_id
            res = xero_object(doc.kind)
            if res.updatable or conn_id is None:
                keep.append(item)
                continue
            with self.store.transaction() as s:
                link = linkstore.get(
                    s, work.runtime.id, work.change.stream, work.change.key, doc.role
                )
            if link is None or not link.xero_id:
                keep.append(item)
                continue
            try:
                with self._timed("write"):
                    there = await self._still_in_xero(conn_id, res, link.xero_id)
            except (RetryLater, NeedsPerson, Permanent) as exc:
                work.error = work.error or exc
                continue
            work.calls += 1
            if not there:
                with self.store.transaction() as s:
                    fresh = s.get(Link, link.id)
                    if fresh is not None:
                        fresh.xero_id, fresh.pushed_hash = None, ""
                        s.add(fresh)
                keep.append(item)
                continue
            work.error = work.error or Permanent(
                f"{work.change.stream} {work.change.key}: the {doc.kind} {doc.natural_key} is "
                f"in Xero already ({link.xero_id}) and Xero cannot change a {doc.kind}; delete "
                f"it in Xero, then `xerobridge queue run-now {work.job.id}` makes it afresh; or "
                "reverse it in Xero yourself"
            )
        return keep

    async def _still_in_xero(self, conn_id: int, res: XeroObject, xero_id: str) -> bool:
        """Whether an object is in Xero and not deleted (one read by its id)."""
        response = await self.client.request(conn_id, "GET", f"{res.plural}/{xero_id}")
        if response.status_code == 404:
            return False
        if response.status_code >= 400:
            raise Permanent(
                f"Xero refused to show {res.kind} {xero_id} (HTTP {response.status_code})"
            )
        records = response.json().get(res.plural) or []
        return bool(records) and records[0].get("Status") != "DELETED"

    async def _write_shared(
        self,
        conn_id: int,
        kind: str,
        items: list[tuple[Work, XeroDocument, dict[str, Any], str]],
    ) -> None:
        """The lines of this batch's records on one shared document: one read, one write, under
        the document's lock (see appends.py: no in-flight mark is needed, since writing the
        same lines again changes nothing)."""
        doc = items[0][1]
        parts = [appends.Part(_marker(w, d), d.body) for w, d, _body, _h in items]
        try:
            with self._timed("write"):
                result = await appends.write(
                    self.client, self.store, conn_id, kind, doc.natural_key, doc.key_field, parts
                )
        except appends.Busy:
            for work, *_ in items:
                work.again = True  # back to the queue for a moment, without an attempt spent
            return
        except (RetryLater, NeedsPerson, Permanent) as exc:
            for work, *_ in items:
                work.error = work.error or exc
            return
        now = self.clock.now()
        with self.store.transaction() as s:
            for work, d, _body, body_hash in items:
                work.calls += 2 if work is items[0][0] else 0  # the read and the write, once
                if not result.ok or not result.xero_id:
                    work.error = Permanent(
                        f"{work.change.stream} {work.change.key}: Xero refused the {kind} "
                        f"{d.natural_key}: {result.message}"
                    )
                    continue
                link = linkstore.get(
                    s, work.runtime.id, work.change.stream, work.change.key, d.role
                )
                created = link is None or link.xero_id is None
                if link is None:
                    link = Link(
                        source_id=work.runtime.id,
                        stream=work.change.stream,
                        record_key=work.change.key,
                        role=d.role,
                        xero_type=kind,
                        natural_key=d.natural_key,
                    )
                linkstore.settle(
                    link, xero_id=result.xero_id, body_hash=body_hash, method="created", now=now
                )
                s.add(link)
                work.actions.append("created" if created else "updated")
                work.wrote = True
                work.links[(work.change.stream, work.change.key, d.role)] = result.xero_id
                if d.role == "main":
                    work.xero.append((kind, result.xero_id))

    async def _write_chunk(
        self,
        conn_id: int,
        kind: str,
        chunk: list[tuple[Work, XeroDocument, dict[str, Any], str]],
    ) -> None:
        now = self.clock.now()
        with self.store.transaction() as s:
            attempt = self.client.prepare_write(
                s, conn_id, kind, [body for _w, _d, body, _h in chunk]
            )
            assert attempt.id is not None
            for source_id in {w.runtime.id for w, *_ in chunk}:
                linkstore.mark_many_in_flight(
                    s,
                    source_id=source_id,
                    documents=[
                        ((w.change.stream, w.change.key, doc.role), doc.kind, doc.natural_key, h)
                        for w, doc, _body, h in chunk
                        if w.runtime.id == source_id
                    ],
                    attempt_id=attempt.id,
                    now=now,
                )
        crashpoints.reached("before_write")
        try:
            with self._timed("write"):
                results = await self.client.send_write(attempt)
        except RetryLater as exc:
            # The answer is unknown: the links stay in flight and the resend settles them.
            for work, *_ in chunk:
                work.error = work.error or exc
            return
        except NeedsPerson as exc:
            for work, *_ in chunk:
                work.error = work.error or exc
            return
        crashpoints.reached("after_commit")
        collisions: list[tuple[Work, XeroDocument, dict[str, Any], str]] = []
        unconfirmed: list[tuple[Work, XeroDocument, str, int]] = []
        remembered: list[Any] = []
        with self.store.transaction() as s:
            found: dict[tuple[int, str, str, str], Link] = {}
            for source_id in {w.runtime.id for w, *_ in chunk}:
                records = [(w.change.stream, w.change.key) for w, *_ in chunk
                           if w.runtime.id == source_id]  # fmt: skip
                for key, row in linkstore.of_records(s, source_id, records).items():
                    found[(source_id, *key)] = row
            for (work, doc, body, body_hash), result in zip(chunk, results, strict=True):
                work.calls += 1
                link = found[(work.runtime.id, work.change.stream, work.change.key, doc.role)]
                if result.ok and result.xero_id:
                    created = link.xero_id is None
                    method = "created" if created else "matched"
                    linkstore.settle(
                        link, xero_id=result.xero_id, body_hash=body_hash, method=method, now=now
                    )
                    s.add(link)
                    work.actions.append("created" if created else "updated")
                    work.wrote = True
                    work.links[(work.change.stream, work.change.key, doc.role)] = result.xero_id
                    if doc.role == "main":
                        work.xero.append((doc.kind, result.xero_id))
                    if self.mirror is not None and doc.kind in ("Contact", "Item"):
                        remembered.append(result.record)
                    continue
                if result.unconfirmed:
                    # Made, most likely, but Xero did not say as what: the link stays in
                    # flight for the read by natural key below.
                    assert link.id is not None
                    unconfirmed.append((work, doc, body_hash, link.id))
                    continue
                linkstore.clear_in_flight(link, now)
                s.add(link)
                if link.xero_id is None and _collision(result, doc):
                    collisions.append((work, doc, body, body_hash))
                    continue
                if _taken_by_batch(result) and self._retaken.get(work.job.id) != body_hash:
                    # Likely taken by a record of this very batch (two customers of one name):
                    # once that one is in the mirror, to_xero can tell them apart. The job goes
                    # back to the queue at once, to be written with the next batch's documents
                    # rather than in a call of its own; the same body refused twice here is not.
                    if len(self._retaken) > 10_000:
                        self._retaken.clear()  # a long-lived worker's memory stays small
                    self._retaken[work.job.id] = body_hash  # type: ignore[index]
                    work.again = True
                    continue
                if _taken_by_batch(result) and work.job.attempts <= 1:
                    work.error = RetryLater(
                        f"{work.change.stream} {work.change.key}: {result.message}"
                    )
                    continue
                work.error = Permanent(
                    f"{work.change.stream} {work.change.key}: Xero refused the {doc.kind} "
                    f"{doc.natural_key}: {result.message}"
                )
        crashpoints.reached("after_link")
        if remembered and self.mirror is not None:
            # Later records of this pass match against what we just made, at no API cost.
            self.mirror.remember(conn_id, kind, remembered)
        if collisions:
            await self._adopt(conn_id, kind, collisions)
        if unconfirmed:
            await self._confirm(conn_id, unconfirmed)

    async def _confirm(
        self, conn_id: int, unconfirmed: list[tuple[Work, XeroDocument, str, int]]
    ) -> None:
        """Find documents Xero took without returning their ids, with one read (the sweep)."""
        with self._timed("write"):
            await self.recovery.sweep(conn_id, self._links([i for *_, i in unconfirmed]))
        found = {link.id: link for link in self._links([i for *_, i in unconfirmed])}
        for work, doc, body_hash, link_id in unconfirmed:
            link = found.get(link_id)
            if link is not None and link.xero_id and link.pushed_hash == body_hash:
                work.actions.append("created")
                work.wrote = True
                work.links[(work.change.stream, work.change.key, doc.role)] = link.xero_id
                if doc.role == "main":
                    work.xero.append((doc.kind, link.xero_id))
                continue
            work.error = work.error or RetryLater(
                f"{work.change.stream} {work.change.key}: Xero did not confirm the {doc.kind} "
                f"{doc.natural_key} and it was not found by its key; it will be sent again"
            )

    async def _adopt(
        self,
        conn_id: int,
        kind: str,
        collisions: list[tuple[Work, XeroDocument, dict[str, Any], str]],
    ) -> None:
        """A create refused because the key exists: it is ours from an earlier, lost answer."""
        now = self.clock.now()
        with self.store.transaction() as s:
            ids = []
            for work, doc, _body, body_hash in collisions:
                link = linkstore.get(
                    s, work.runtime.id, work.change.stream, work.change.key, doc.role
                )
                assert link is not None and link.id is not None
                link.in_flight_at, link.in_flight_hash = now - timedelta(days=1), body_hash
                link.attempt_id = None
                s.add(link)
                ids.append(link.id)
        await self.recovery.sweep(conn_id, self._links(ids))
        with self.store.transaction() as s:
            for work, doc, _body, _h in collisions:
                link = linkstore.get(
                    s, work.runtime.id, work.change.stream, work.change.key, doc.role
                )
                if link is not None and link.xero_id:
                    link.pushed_hash = ""  # found ours: push our data onto it in the next round
                    s.add(link)
                    work.links[(work.change.stream, work.change.key, doc.role)] = link.xero_id
                else:
                    work.error = Permanent(
                        f"{work.change.stream} {work.change.key}: Xero says {doc.kind} "
                        f"{doc.natural_key} exists but it cannot be found by its key; a person "
                        "must link it with `xerobridge map`"
                    )

    def _links(self, ids: list[int]) -> list[Link]:
        with self.store.transaction() as s:
            return list(s.exec(select(Link).where(col(Link.id).in_(ids))).all())

    async def _rebuild(self, works: list[Work]) -> None:
        """Ask to_xero again, with the new links, for the jobs that wrote in this round."""
        wrote = [w for w in works if w.error is None and w.wrote]
        own = self._load_own([(w.runtime, w.change.stream, w.change.key) for w in wrote])
        for work in wrote:
            work.wrote = False
            work.links.update(_xero_ids(own, work.runtime.id, work.change))
            try:
                with self._timed("map"):
                    work.docs = await self._documents(work)
            except Exception as exc:
                work.error = exc

    # -- after ------------------------------------------------------------------------------------

    def _complete(self, work: Work, action: str, message: str, stats: BatchStats) -> None:
        """Note a job as done; `_flush_completed` logs and removes the batch's in one go."""
        stats.outcomes.append((work.runtime.id, work.change.stream, action))
        if work.xero:
            kind, xero_id = work.xero[0]
        else:
            kind = work.runtime.spec.stream(work.change.stream).xero_object
            xero_id = work.links.get((work.change.stream, work.change.key, "main"), "")
        conn = work.runtime.connection
        self._done.append(
            (
                work.job.id,  # type: ignore[arg-type]
                {
                    "at": self.clock.now(),
                    "source_id": work.runtime.id,
                    "stream": work.change.stream,
                    "record_key": work.change.key,
                    "action": action,
                    "status": "success",
                    "message": message,
                    "xero_type": kind,
                    "xero_id": xero_id or "",
                    "xero_url": view_url(conn.short_code if conn else "", kind, xero_id or ""),
                    "api_calls": work.calls,
                    "duration_ms": int((time.perf_counter() - work.started) * 1000),
                    "job_id": work.job.id,
                },
            )
        )

    def _flush_completed(self) -> None:
        """One transaction for the batch's finished jobs and their sync-log rows."""
        if not self._done:
            return
        notes = [note for _job_id, row in self._done if (note := self._note(row)) is not None]
        with self.store.transaction() as s:
            synclog.write_many(s, [row for _job_id, row in self._done])
            s.add_all(notes)
            self.queue.complete(self.worker_id, [job_id for job_id, _ in self._done], session=s)
        self._done.clear()

    def _note(self, row: dict[str, Any]) -> ActionLog | None:
        """With the source's `notify` set to all tasks, a finished task is an info entry too."""
        settings = self.runtimes.get(row["source_id"]).ctx.settings
        if settings.notify != NotifyLevel.ALL or row["message"] == UNCHANGED:
            return None
        outcome = row["action"] if row["message"] == "OK" else f"{row['action']}: {row['message']}"
        return ActionLog(
            at=row["at"],
            source_id=row["source_id"],
            level="info",
            message=f"{row['stream']} {row['record_key']} {outcome}",
            stream=row["stream"],
            record_key=row["record_key"],
        )

    def _fail(self, job: Job, work: Work | None, exc: Exception, stats: BatchStats) -> None:
        message = str(exc) or type(exc).__name__
        if not isinstance(exc, (RetryLater, NeedsPerson, Permanent)):
            log.exception("%s %s: unexpected error", job.stream, job.record_key, exc_info=exc)
            message = f"{job.stream} {job.record_key}: {type(exc).__name__}: {exc}"
        with self.store.transaction() as s:
            state = self.queue.fail(
                self.worker_id,
                job.id,  # type: ignore[arg-type]
                message,
                retry_after=exc.retry_after if isinstance(exc, RetryLater) else None,
                permanent=isinstance(exc, Permanent)
                or not isinstance(exc, (RetryLater, NeedsPerson)),
                needs_person=isinstance(exc, NeedsPerson),
                session=s,
            )
            if isinstance(exc, NeedsPerson) and exc.candidates:
                fresh = s.get(Job, job.id)
                if fresh is not None:
                    fresh.payload = {**(fresh.payload or {}), "candidates": [
                        {"xero_id": c.xero_id, "label": c.label, "reason": c.reason}
                        for c in exc.candidates
                    ]}  # fmt: skip
                    s.add(fresh)
            if state in ("dead", "held"):
                s.add(ActionLog(
                    at=self.clock.now(), source_id=job.source_id,
                    level="action" if state == "held" else "error",
                    message=message, stream=job.stream, record_key=job.record_key,
                ))  # fmt: skip
                synclog.write(
                    s,
                    at=self.clock.now(),
                    source_id=job.source_id,
                    stream=job.stream,
                    record_key=job.record_key,
                    action="failed",
                    status="error",
                    message=message,
                    api_calls=work.calls if work else 0,
                    job_id=job.id,
                )
        outcome = {"held": "held", "dead": "failed"}.get(state, "retry")
        stats.outcomes.append((job.source_id, job.stream, outcome))


def _marker(work: Work, doc: XeroDocument) -> str:
    """What tells a record's lines apart on a shared document: its source, stream and key."""
    role = "" if doc.role == "main" else f":{doc.role}"
    return f"{work.runtime.source.key_prefix}:{work.change.stream}:{work.change.key}{role}"


def _collision(result: ElementResult, doc: XeroDocument) -> bool:
    """Whether Xero refused a create because our natural key is taken (by an earlier write
    whose answer we lost), as opposed to another rule such as a duplicate contact name."""
    text = result.message.lower()
    if not any(hint in text for hint in _UNIQUE_HINTS):
        return False
    # Invoice and credit-note numbers are refused without naming the number.
    return doc.natural_key.lower() in text or "# must be unique" in text


def _taken_by_batch(result: ElementResult) -> bool:
    """Whether Xero refused a value another object holds (a name), which may be ours."""
    text = result.message.lower()
    return "already assigned" in text or "must be unique" in text


def _xero_ids(own: OwnLinks, source_id: int, change: Change) -> dict[tuple[str, str, str], str]:
    """The record's own links that name a Xero object, as `to_xero` gets them."""
    return {
        (change.stream, change.key, role): link.xero_id
        for role, link in own[(source_id, change.stream, change.key)].items()
        if link.xero_id
    }


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None
