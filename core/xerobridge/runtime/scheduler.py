"""The scheduler decides WHEN a source is read; the queue and its workers decide WHO reads it.

Per enabled source, its `schedule` setting gives a calendar of slots (scheduled times, UTC):

- `every N minutes`: every multiple of N minutes since the Unix epoch (00:00, 00:05 ... for 5);
- `daily at HH`: HH:00 every day;
- `immediate`: a poll every `poll` seconds (10 by default); polling a source costs no Xero
  calls, and a source that can notify (`POST /sources/<source>/notify`) is read at once too.

Streams that delete without trace (`DeleteMode.RECONCILE`) are also searched for deletions on
the source's `reconcile` calendar (daily at 03:00 by default), as a second task with its own
slot row, so that a search and a read never block or undo each other.

A tick fires, per source, the newest slot at or before now if it is newer than the last slot
fired: one transaction moves the source's row in `schedule_slot` forward (only if it is behind)
and enqueues a fetch job for each enabled stream. The slot comes from the calendar, never from
the moment a scheduler happened to look, so two schedulers that overlap (a failover, a deploy,
a leader cut off from the database for a while) compute the same slot, race on one row, and
exactly one of them enqueues. Slots missed while no scheduler ran are caught up with one read,
not one per missed slot; a new source is read at the first tick.

APScheduler (in process) is the timer: every second it asks the leader lock and, while this
process leads, runs a tick. What it cannot hold is the record of fired slots: its only
persistent job store cannot be shared between processes (its FAQ: "You can't"), its in-memory
store forgets what fired when the leader changes, and its jobs do not get their scheduled fire
time. So the slots live in the store as above, and `tick` can be driven by a FakeClock in tests.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from xerobridge.clock import Clock
from xerobridge.config import sources
from xerobridge.contract.errors import UserError
from xerobridge.contract.plugins import Plugins
from xerobridge.contract.settings import Schedule
from xerobridge.contract.types import DeleteMode
from xerobridge.runtime.leader import LeaderLock
from xerobridge.runtime.queue import NewJob, Queue
from xerobridge.store.db import Store
from xerobridge.store.models import Job, ScheduleSlot, Source

log = logging.getLogger(__name__)

#: Seconds between polls of a source in immediate mode.
POLL_SECONDS = 10
#: The `schedule_slot` tasks: a scheduled read, and a scheduled search for deletions.
READ = "read"
RECONCILE = "reconcile"
#: The record key of a stream's reconcile job (a read of the whole stream is "*").
RECONCILE_KEY = "#reconcile"
#: A fetch that died is tried again by a later tick once it has been dead this long.
RETRY_DEAD_AFTER = timedelta(minutes=5)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def latest_slot(schedule: Schedule, now: datetime, *, poll: int = POLL_SECONDS) -> datetime:
    """The newest scheduled time at or before `now` (UTC) in the schedule's calendar."""
    now = now.astimezone(UTC)
    if schedule.mode == "daily":
        slot = now.replace(hour=schedule.hour, minute=0, second=0, microsecond=0)
        return slot if slot <= now else slot - timedelta(days=1)
    period = schedule.minutes * 60 if schedule.mode == "interval" else max(1, int(poll))
    elapsed = int((now - _EPOCH).total_seconds())
    return _EPOCH + timedelta(seconds=elapsed - elapsed % period)


@dataclass(frozen=True)
class Due:
    """A source whose schedule has a slot at or before now: the read the tick would fire."""

    source_id: int
    source: str
    slot: datetime
    streams: tuple[str, ...]
    connection_id: int | None
    task: str = READ


class Scheduler:
    """Fires each enabled source's due slot once, whichever scheduler gets there first."""

    def __init__(
        self,
        store: Store,
        plugins: Plugins,
        *,
        clock: Clock | None = None,
        poll: int = POLL_SECONDS,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.plugins = plugins
        self.clock = clock or store.clock
        self.poll = poll
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self.queue = Queue(store, clock=self.clock)
        self._warned: set[str] = set()
        self._leading = False

    # -- decisions --------------------------------------------------------------------------------

    def plan(self) -> list[Due]:
        """Each enabled source's newest slot and the streams it reads (settings read afresh)."""
        now = self.clock.now()
        planned: list[Due] = []
        with self.store.transaction() as s:
            enabled = s.exec(
                select(Source).where(Source.enabled == True).order_by(col(Source.id))  # noqa: E712
            ).all()
            for src in enabled:
                info = self.plugins.infos.get(src.plugin)
                if info is None or info.status != "ok":
                    self._warn(src.name, f"source {src.name}: plugin {src.plugin} is not loaded")
                    continue
                spec = self.plugins.spec(src.plugin)
                try:
                    settings = sources.load_settings(s, src, spec)
                except UserError as exc:
                    self._warn(src.name, f"source {src.name} is not scheduled: {exc}")
                    continue
                self._warned.discard(src.name)
                streams = tuple(st.name for st in spec.streams if settings.stream_enabled(st.name))
                if not streams:
                    continue
                assert src.id is not None
                slot = latest_slot(settings.schedule, now, poll=self.poll)
                planned.append(Due(src.id, src.name, slot, streams, src.connection_id))
                gone_quietly = tuple(
                    st.name
                    for st in spec.streams
                    if st.deletes is DeleteMode.RECONCILE and st.name in streams
                )
                if gone_quietly:
                    planned.append(
                        Due(
                            src.id,
                            src.name,
                            latest_slot(settings.reconcile, now, poll=self.poll),
                            gone_quietly,
                            src.connection_id,
                            task=RECONCILE,
                        )
                    )
        return planned

    def tick(self) -> list[Due]:
        """Fire every due slot not fired yet (by anyone); returns those this call fired."""
        return [due for due in self.plan() if self.fire(due)]

    def fire(self, due: Due) -> bool:
        """Claim the slot and enqueue its reads in one transaction; False if it was taken."""
        now = self.clock.now()
        insert = (sqlite.insert if self.store.is_sqlite else postgresql.insert)(ScheduleSlot)
        claim = (
            insert.values(
                source_id=due.source_id,
                task=due.task,
                slot=due.slot,
                fired_at=now,
                fired_by=self.owner,
            )
            .on_conflict_do_update(
                index_elements=["source_id", "task"],
                set_={
                    "slot": insert.excluded.slot,
                    "fired_at": insert.excluded.fired_at,
                    "fired_by": insert.excluded.fired_by,
                },
                # Only forward: on PostgreSQL a racing upsert waits on the row lock and then
                # re-checks this against the winner's slot; SQLite writers are serialised.
                where=col(ScheduleSlot.slot) < insert.excluded.slot,
            )
            # A row comes back only if this statement moved the slot.
            .returning(col(ScheduleSlot.source_id))
        )
        with self.store.transaction() as s:
            if s.execute(claim).first() is None:
                return False
            key = "*" if due.task == READ else RECONCILE_KEY
            skip = self._pending_reads(s, due.source_id, now, key)
            jobs = [
                NewJob(
                    source_id=due.source_id,
                    stream=stream,
                    record_key=key,
                    kind="fetch",
                    payload={"reconcile": True} if due.task == RECONCILE else None,
                    connection_id=due.connection_id,
                    # A search for deletions waits behind the reads and pushes.
                    priority=10 if due.task == READ else 200,
                )
                for stream in due.streams
                if stream not in skip
            ]
            self.queue.enqueue(jobs, session=s)
        log.debug(
            "scheduled %s of %s for %s: %s",
            due.task,
            due.source,
            due.slot.isoformat(),
            ", ".join(j.stream for j in jobs) or "already queued",
        )
        return True

    def _pending_reads(self, s: Session, source_id: int, now: datetime, key: str) -> set[str]:
        """Streams whose whole-stream read already waits; merging would undo its backoff.

        A queued read keeps its `run_after` (a source that is down is not hammered every poll)
        and its payload (a queued full read stays full). A dead read is left for a person
        until it has been dead for a while, then tried again.
        """
        rows = s.execute(
            sa.select(col(Job.stream), col(Job.state), col(Job.updated_at)).where(
                col(Job.source_id) == source_id,
                col(Job.kind) == "fetch",
                col(Job.record_key) == key,
                col(Job.state).in_(("queued", "held", "dead")),
            )
        ).all()
        return {
            stream
            for stream, state, updated in rows
            if state != "dead" or updated is None or now - updated < RETRY_DEAD_AFTER
        }

    def _warn(self, source: str, message: str) -> None:
        if source not in self._warned:
            self._warned.add(source)
            log.warning(message)

    # -- the loop ---------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, lock: LeaderLock, *, every: float = 1.0) -> None:
        """Until `stop`: every `every` s (real time) try to lead, and while leading, tick."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        timer = AsyncIOScheduler(timezone=UTC)
        # One round at a time; rounds missed while one ran long are dropped, not queued up.
        timer.add_job(
            self._round,
            "interval",
            seconds=every,
            args=[lock],
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=datetime.now(UTC),
        )
        timer.start()
        try:
            await stop.wait()
        finally:
            timer.shutdown(wait=False)
            await asyncio.to_thread(lock.release)

    async def _round(self, lock: LeaderLock) -> None:
        """One timer round: check the lock, and tick if this process leads."""
        try:
            leading = await asyncio.to_thread(lock.hold)
        except Exception:  # never let the timer's job die: the next round tries again
            log.exception("checking the scheduler lock failed")
            leading = False
        if leading != self._leading:
            self._leading = leading
            log.info("scheduler: %s", "leading" if leading else "following")
        if leading:
            try:
                await asyncio.to_thread(self.tick)
            except Exception:
                log.exception("scheduler tick failed; the next one retries")
