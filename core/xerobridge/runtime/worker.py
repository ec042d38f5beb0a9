"""A worker: claims jobs under a lease it keeps alive by heartbeat, and runs them.

Fetch jobs read a source into the queue; push jobs go to Xero in batches of one connection.
While a worker waits (on a rate limit, on Xero) its heartbeat keeps running, so its leases
hold; when it dies they run out and other workers take its jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

import sqlalchemy as sa
from sqlmodel import col, select

from xerobridge.clock import Clock
from xerobridge.contract.errors import NeedsPerson, Permanent, RetryLater
from xerobridge.contract.plugins import Plugins
from xerobridge.contract.types import Direction
from xerobridge.runtime import crashpoints
from xerobridge.runtime.queue import NewJob, Queue
from xerobridge.store import synclog
from xerobridge.store.models import Job
from xerobridge.store.states import JobKind
from xerobridge.sync import failures, from_xero, xero_intake
from xerobridge.sync.intake import read_records, read_stream, reconcile_stream
from xerobridge.sync.push import BatchStats, Pusher
from xerobridge.sync.recovery import Recovery
from xerobridge.sync.runtimes import Runtimes
from xerobridge.xero.client import XeroClient
from xerobridge.xero.deeplinks import view_url
from xerobridge.xero.mirror import Mirror
from xerobridge.xero.objects import BATCH_SIZE
from xerobridge.xero.polling import Poller
from xerobridge.xero.reading import IDS_PER_CALL

T = TypeVar("T")

log = logging.getLogger(__name__)

#: How often a worker checks whether a poll of Xero is due.
POLL_CHECK = timedelta(seconds=30)
#: How old the mirror of a connection may be when a batch for it is pushed.
MIRROR_FRESH = timedelta(minutes=10)


@dataclass
class StreamCounts:
    """Per stream: records read from the source, and what became of them."""

    read: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    held: int = 0
    retry: int = 0  # attempts that will be tried again (Xero or the source unavailable)
    waiting: int = 0  # times a record waited for one it needs


@dataclass
class Progress:
    """What a worker has done so far (read by progress bars and summaries)."""

    streams: dict[tuple[str, str], StreamCounts] = field(
        default_factory=lambda: defaultdict(StreamCounts)
    )
    #: Seconds spent per stage: claim, fetch, and a push's map, write (Xero) and link (store).
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    #: Sources that could not be read in this run (down, unreachable, throttling), by id, with
    #: why: a foreground pass does not wait for them.
    unavailable: dict[int, str] = field(default_factory=dict)

    def counts(self, source: str, stream: str) -> StreamCounts:
        """The counts of one stream of one source."""
        return self.streams[(source, stream)]


class Worker:
    """Runs jobs for every source and connection of an installation."""

    def __init__(
        self,
        *,
        queue: Queue,
        plugins: Plugins,
        runtimes: Runtimes,
        client: XeroClient,
        mirror: Mirror,
        clock: Clock,
        worker_id: str,
        batch: int = 4 * BATCH_SIZE,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.queue = queue
        self.store = queue.store
        self.plugins = plugins
        self.runtimes = runtimes
        self.client = client
        self.clock = clock
        self.worker_id = worker_id
        # A claim takes several write calls' worth of jobs: each document type of a batch is
        # cut into calls of 50 with one part-filled call at the end, so bigger claims leave
        # fewer part-filled calls per record (about half a call per type per claim).
        self.batch = batch
        self.mirror = mirror
        self.recovery = Recovery(self.store, client, clock=clock)
        self.poller = Poller(self.store, client, plugins, clock=clock)
        self._poll_check_at: datetime | None = None
        self.pusher = Pusher(
            queue=queue,
            plugins=plugins,
            runtimes=runtimes,
            client=client,
            recovery=self.recovery,
            clock=clock,
            worker_id=worker_id,
            mirror=mirror,
        )
        self.apply = from_xero.Apply(
            queue=queue, plugins=plugins, runtimes=runtimes, worker_id=worker_id
        )
        self.progress = Progress()
        self.on_progress = on_progress
        #: The state the last failed attempt left its job in (queued, held, dead ...).
        self._failed_as = ""

    # -- loops ------------------------------------------------------------------------------------

    async def run_until_idle(self, *, max_wait: float = 120.0) -> Progress:
        """Work until nothing is due, waiting (by the clock) for jobs due within `max_wait` s."""
        self.queue.register_worker(self.worker_id)
        beat = asyncio.create_task(self._heartbeat())
        try:
            while True:
                if await self.step():
                    continue
                wait = self._next_due()
                if wait is None or wait > max_wait:
                    return self.progress
                await self.clock.sleep(max(wait, 0.01))
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            self.queue.forget_worker(self.worker_id)

    async def run_forever(self, stop: asyncio.Event, *, idle: float = 1.0) -> None:
        """Work until `stop` is set; then give back what is claimed and leave."""
        self.queue.register_worker(self.worker_id)
        beat = asyncio.create_task(self._heartbeat())
        try:
            while not stop.is_set():
                if not await self.step():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=idle)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            self.queue.forget_worker(self.worker_id)

    async def step(self) -> bool:
        """Claim and run one batch; whether there was anything to do."""
        seconds = self.progress.seconds
        started = time.perf_counter()
        fetches = self.queue.claim(self.worker_id, limit=5, kinds=["fetch"])
        claimed = time.perf_counter()
        seconds["claim"] += claimed - started
        for job in fetches:
            crashpoints.reached("after_claim")
            await self._fetch(job)
        started = time.perf_counter()
        seconds["fetch"] += started - claimed
        pushes = self.queue.claim(self.worker_id, limit=self.batch, kinds=["push"], one_stream=True)
        seconds["claim"] += time.perf_counter() - started
        if pushes:
            crashpoints.reached("after_claim")
            by_connection: dict[int | None, list[Job]] = defaultdict(list)
            for job in pushes:
                by_connection[job.connection_id].append(job)
            for conn_id, jobs in by_connection.items():
                if conn_id is not None:
                    await self._fresh_mirror(conn_id)
                self._count(await self.pusher.push(jobs))
            for stage, spent in self.pusher.take_seconds().items():
                seconds[stage] += spent
        await self._poll_xero()
        xero_intake.dispatch(self.queue, self.plugins)
        # As many as one `IDs=` read carries: records named by events come back in one call.
        inbound = self.queue.claim(self.worker_id, limit=IDS_PER_CALL, kinds=[JobKind.APPLY])
        if inbound:
            await self._inbound(inbound)
        if self.on_progress is not None and (fetches or pushes or inbound):
            self.on_progress(self.progress)
        return bool(fetches or pushes or inbound)

    async def _fresh_mirror(self, connection_id: int) -> None:
        """Bring the connection's mirror up to date when it is older than `MIRROR_FRESH`."""
        try:
            await self.mirror.refresh_if_stale(connection_id, MIRROR_FRESH)
        except (RetryLater, NeedsPerson, Permanent) as exc:
            # Pushes still find their own documents by natural key; mapping uses what it has.
            log.info("mirror of connection %s not refreshed now: %s", connection_id, exc)

    async def _poll_xero(self) -> None:
        """Poll Xero for changes the sources asked to hear of, when due (see xero/polling.py)."""
        now = self.clock.now()
        if self._poll_check_at is not None and now < self._poll_check_at:
            return  # the due check itself costs a query: once in a while is enough
        self._poll_check_at = now + POLL_CHECK
        try:
            await self.poller.poll_due()
        except Exception:  # a poll is a safety net; its failure must not stop the pushes
            log.exception("polling Xero for changes failed; the next check tries again")

    async def _inbound(self, jobs: list[Job]) -> None:
        """`apply` jobs: their Xero records, read back together where needed, into the sources."""
        records = await xero_intake.fill(jobs, runtimes=self.runtimes, client=self.client)
        for job in jobs:
            record = records.get(job.id)  # type: ignore[arg-type]

            async def failed(exc: Exception = record) -> from_xero.Applied:  # type: ignore[assignment]
                raise exc

            work = failed() if isinstance(record, Exception) else self.apply.run(job, record)
            done = await self._attempt(job, work)
            runtime = self.runtimes.get(job.source_id)
            counts = self.progress.counts(runtime.source.name, job.stream)
            if done is None:
                outcome = {"held": "held", "queued": "retry"}.get(self._failed_as, "failed")
                setattr(counts, outcome, getattr(counts, outcome) + 1)
                continue
            if not done.outcome:
                counts.waiting += 1
                continue
            counts.read += 1
            setattr(counts, done.outcome, getattr(counts, done.outcome) + 1)
            conn = runtime.connection
            self._finish(
                job, done.outcome, done.message, record_key=done.source_key or job.record_key,
                xero_type=done.kind, xero_id=done.xero_id,
                xero_url=view_url(conn.short_code if conn else "", done.kind, done.xero_id),
            )  # fmt: skip

    async def _attempt(self, job: Job, work: Awaitable[T]) -> T | None:
        """Await a job's work; a failure is recorded on the job (retry, held or dead)."""
        try:
            return await work
        except Exception as exc:
            with self.store.transaction() as s:
                state = failures.record(s, self.queue, self.worker_id, job, exc)
            self._failed_as = state
            log.warning("%s %s %s: %s (%s)", job.kind, job.stream, job.record_key, exc, state)
            if job.kind == JobKind.FETCH and isinstance(exc, RetryLater):
                self.progress.unavailable.setdefault(job.source_id, failures.message_of(job, exc))
            return None

    def _finish(
        self, job: Job, action: str, message: str, *, log_it: bool = True, **fields: str
    ) -> None:
        """Remove a finished job, with its sync-log row (`fields` override the job's key and
        add the Xero object)."""
        with self.store.transaction() as s:
            if log_it:
                synclog.write(
                    s, **{"record_key": job.record_key, **fields}, at=self.clock.now(),
                    source_id=job.source_id, stream=job.stream, action=action,
                    status="success", message=message, job_id=job.id,
                )  # fmt: skip
            self.queue.complete(self.worker_id, [job.id], session=s)  # type: ignore[list-item]

    async def _heartbeat(self) -> None:
        every = self.queue.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)  # real time: leases are real time for other processes
            try:
                self.queue.heartbeat(self.worker_id)
            except sa.exc.SQLAlchemyError as exc:  # the store blinked; the next beat retries
                log.warning("heartbeat failed: %s", exc)

    def _next_due(self) -> float | None:
        """Seconds until the next queued job is due, or None if none is queued; the jobs of a
        source that could not be read in this run are not waited for."""
        query = select(sa.func.min(Job.run_after)).where(col(Job.state).in_(("queued", "running")))
        if self.progress.unavailable:
            query = query.where(col(Job.source_id).not_in(list(self.progress.unavailable)))
        with self.store.transaction() as s:
            soonest = s.exec(query).one()
        if soonest is None:
            return None
        return max(0.0, (soonest - self.clock.now()).total_seconds())

    # -- fetch jobs -------------------------------------------------------------------------------

    async def _fetch(self, job: Job) -> None:
        message = await self._attempt(job, self._read(job))
        if message is None:
            return
        # A read that found nothing leaves no row: immediate mode polls every few seconds.
        self._finish(job, "fetched", message, log_it=not message.startswith("read 0 "))

    async def _read(self, job: Job) -> str:
        payload = job.payload or {}
        runtime = self.runtimes.get(job.source_id)
        stream = runtime.spec.stream(job.stream)
        counts = self.progress.counts(runtime.source.name, job.stream)
        if not runtime.ctx.settings.stream_enabled(stream.name):
            return "stream is switched off"
        if stream.direction is Direction.FROM_XERO:
            read = await xero_intake.read_stream(
                runtime, stream, client=self.client, queue=self.queue,
                full=bool(payload.get("full")),
            )  # fmt: skip
            if read.paused.startswith("writes"):
                # Take history up again once the writes queued now have gone.
                self.queue.enqueue([NewJob(
                    source_id=job.source_id, stream=job.stream, record_key=job.record_key,
                    kind=JobKind.FETCH, connection_id=job.connection_id, priority=job.priority - 5,
                )])  # fmt: skip
            return f"read {read.read} changed record(s) from Xero" + (
                f"; history paused: {read.paused}" if read.paused else ""
            )
        if payload.get("reconcile"):
            gone = await reconcile_stream(runtime, stream, plugins=self.plugins, queue=self.queue)
            return f"searched for deletions: {len(gone)} gone" + (
                f" ({', '.join(gone[:20])}{' ...' if len(gone) > 20 else ''})" if gone else ""
            )
        if keys := payload.get("keys"):
            queued, gone = await read_records(
                runtime, stream, list(keys), plugins=self.plugins, queue=self.queue
            )
            counts.read += queued
            return f"read {queued} record(s)" + (f"; gone: {', '.join(gone)}" if gone else "")
        result = await read_stream(
            runtime, stream, plugins=self.plugins, queue=self.queue,
            full=bool(payload.get("full")),
        )  # fmt: skip
        counts.read += result.read
        return f"read {result.read} changed record(s)"

    def _count(self, stats: BatchStats) -> None:
        for source_id, stream, outcome in stats.outcomes:
            counts = self.progress.counts(self.runtimes.get(source_id).source.name, stream)
            if hasattr(counts, outcome):
                setattr(counts, outcome, getattr(counts, outcome) + 1)
