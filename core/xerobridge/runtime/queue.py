"""The durable job queue: coalescing enqueue, leased claims, retries with backoff, dead letters.

A job is claimed under a lease that its worker renews by heartbeat. A worker that dies stops
renewing, and once the lease runs out any worker may claim the job again. Jobs for one record
never run at the same time: a job is not claimable while another job of the same record is held
under a live lease. Finished jobs are deleted (their story is in the sync log), so claims stay
fast however long the history grows.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import defer
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from xerobridge.clock import Clock, SystemClock
from xerobridge.store import synclog
from xerobridge.store.db import Store
from xerobridge.store.models import Job, Source, Worker
from xerobridge.store.states import HoldReason, JobKind, JobState

log = logging.getLogger(__name__)

#: States of a job that waits for something; a record has at most one job in them.
WAITING = ("queued", "held", "dead")


#: Why a held job waits for a person (a choice, a record behind one, the setup).
_FOR_PEOPLE = (HoldReason.MAPPING, HoldReason.WAITING, HoldReason.SETUP)


@dataclass(frozen=True)
class NewJob:
    """A job to enqueue; a pending job of the same record absorbs it instead."""

    source_id: int
    stream: str
    record_key: str
    kind: str = "push"  # fetch | push | apply
    op: str = "upsert"
    payload: dict[str, Any] | None = None
    connection_id: int | None = None
    held: bool = False
    priority: int = 0


@dataclass
class Backoff:
    """Exponential backoff with jitter: base * 2^(attempt-1), capped, times a factor in [0.5, 1]."""

    base: float = 5.0
    cap: float = 3600.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the given failed attempt (1-based)."""
        raw = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        # Jitter spreads the retries of a batch that failed together.
        return raw * (0.5 + 0.5 * self.rng.random())


class Queue:
    """Jobs in the store, shared by every worker process of an installation."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        lease: timedelta = timedelta(seconds=10),
        backoff: Backoff | None = None,
        max_attempts: int = 8,
    ) -> None:
        self.store = store
        self.clock = clock or store.clock or SystemClock()
        self.lease = lease
        self.backoff = backoff or Backoff()
        self.max_attempts = max_attempts

    # -- enqueue ----------------------------------------------------------------------------------

    def enqueue(self, jobs: Iterable[NewJob], *, session: Session | None = None) -> int:
        """Queue jobs; each merges into its record's waiting job if there is one. Returns count.

        A merge keeps a job held for approval held; a dead or mapping-held job is queued again,
        because the new data may be the fix.

        Pass the session of a surrounding transaction to save something with the jobs
        atomically (the fetch saves its cursor this way).
        """
        now = self.clock.now()
        latest: dict[tuple[int, str, str, str], NewJob] = {}
        for job in jobs:
            # One statement may not touch a row twice: the newest edit of a record wins.
            latest[(job.source_id, job.kind, job.stream, job.record_key)] = job
        if not latest:
            return 0
        rows = [
            {
                "source_id": j.source_id,
                "connection_id": j.connection_id,
                "kind": j.kind,
                "stream": j.stream,
                "record_key": j.record_key,
                "op": j.op,
                "payload": j.payload,
                "state": "held" if j.held else "queued",
                "hold_reason": "approval" if j.held else "",
                "priority": j.priority,
                "attempts": 0,
                "max_attempts": self.max_attempts,
                "run_after": now,
                "created_at": now,
                "updated_at": now,
                "last_error": "",
            }
            for j in latest.values()
        ]
        insert = (postgresql.insert if not self.store.is_sqlite else sqlite.insert)(Job)
        excluded = insert.excluded
        approval = sa.and_(col(Job.state) == "held", col(Job.hold_reason) == "approval")
        stmt = insert.on_conflict_do_update(
            index_elements=["source_id", "kind", "stream", "record_key"],
            # Literal SQL: an expanding IN cannot be used with executemany.
            index_where=sa.text("state IN ('queued', 'held', 'dead')"),
            set_={
                "op": excluded.op,
                "payload": excluded.payload,
                "connection_id": excluded.connection_id,
                "updated_at": excluded.updated_at,
                # New data may be the fix for the last error: try it at once, afresh.
                "attempts": 0,
                "run_after": excluded.run_after,
                "last_error": "",
                "state": sa.case((approval, "held"), else_="queued"),
                "hold_reason": sa.case((approval, "approval"), else_=""),
            },
        )
        with self._tx(session) as s:
            for chunk in _chunks(rows, 500):
                s.execute(stmt, chunk)
        return len(rows)

    def enqueue_all(self, source_id: int, stream: str, *, connection_id: int | None = None) -> int:
        """Queue a full read of a stream: every record of it becomes a push job when it runs."""
        return self.enqueue(
            [
                NewJob(
                    source_id=source_id,
                    stream=stream,
                    record_key="*",
                    kind="fetch",
                    payload={"full": True},
                    connection_id=connection_id,
                    priority=10,
                )
            ]
        )

    # -- claim and lease --------------------------------------------------------------------------

    def claim(
        self,
        worker_id: str,
        *,
        limit: int = 50,
        connection_id: int | None = None,
        kinds: Sequence[str] | None = None,
        one_stream: bool = False,
    ) -> list[Job]:
        """Take up to `limit` due jobs under a lease: queued ones and those whose lease ran out.

        With `one_stream`, only jobs of the first due job's source, stream and connection are
        taken, so that a batch becomes as few write calls as its documents allow.
        """
        now = self.clock.now()
        with self.store.transaction() as s:
            # A few more than asked: an expired job and a queued one of one record both come.
            rows = self._candidates(s, now, limit + 10, connection_id, kinds)
            picked: list[Job] = []
            records: set[tuple[int, str, str, str]] = set()
            dead: list[Job] = []
            first: tuple[int, str, int | None] | None = None
            for job in rows:
                group = (job.source_id, job.stream, job.connection_id)
                if one_stream and first is not None and group != first:
                    continue
                first = first or group
                rec = (job.source_id, job.kind, job.stream, job.record_key)
                if rec in records:
                    continue  # the older job of this record goes first
                records.add(rec)
                if job.state == "running" and job.attempts >= job.max_attempts:
                    dead.append(job)  # it took a worker down every time it ran
                    continue
                picked.append(job)
                if len(picked) == limit:
                    break
            superseded = set()
            if dead:
                ids = [j.id for j in dead]
                superseded = set(
                    s.execute(sa.select(col(Job.id)).where(col(Job.id).in_(ids), _WAITING_TWIN))
                    .scalars()
                    .all()
                )
            for job in dead:
                if job.id in superseded:
                    s.delete(job)  # a newer job of the record waits; it carries the newer data
                    continue
                job.state = "dead"
                job.lease_owner = None
                job.last_error = (
                    f"the worker holding this job stopped {job.attempts} times; it may crash "
                    "workers: look at the record before retrying"
                )
                job.updated_at = now
                s.add(job)
            if not picked:
                return []
            until = now + self.lease
            ids = [j.id for j in picked]
            s.execute(
                sa.update(Job)
                .where(col(Job.id).in_(ids))
                .values(
                    state="running",
                    lease_owner=worker_id,
                    lease_until=until,
                    attempts=col(Job.attempts) + 1,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            payloads = dict(
                s.execute(
                    sa.select(col(Job.id), col(Job.payload)).where(col(Job.id).in_(ids))
                ).all()
            )
            for job in picked:
                # Loaded as committed values: the session must not write them back.
                set_committed_value(job, "payload", payloads.get(job.id))
                set_committed_value(job, "state", "running")
                set_committed_value(job, "lease_owner", worker_id)
                set_committed_value(job, "lease_until", until)
                set_committed_value(job, "attempts", job.attempts + 1)
            return picked

    def _candidates(
        self,
        s: Session,
        now: datetime,
        limit: int,
        connection_id: int | None,
        kinds: Sequence[str] | None,
    ) -> list[Job]:
        """Claimable jobs, most urgent first (payloads not loaded): those whose lease ran out,
        then queued ones of the highest due priority.

        Reading one priority at a time lets `ix_job_due` hand the rows over in order, so a
        claim costs the same with ten queued jobs or a hundred thousand; ordering every due job
        by (priority, id) would read them all.
        """

        def query(*where: Any) -> Any:
            q = select(Job).options(defer(col(Job.payload))).where(*where, ~_BUSY)  # type: ignore[arg-type]
            if connection_id is not None:
                q = q.where(col(Job.connection_id) == connection_id)
            if kinds:
                q = q.where(col(Job.kind).in_(kinds))
            q = q.order_by(col(Job.priority).desc(), col(Job.id)).limit(limit)
            if not self.store.is_sqlite:
                q = q.with_for_update(skip_locked=True, of=Job)
            return q

        at = {"now": now}
        queued = sa.and_(col(Job.state) == "queued", col(Job.run_after) <= now)
        expired = sa.and_(col(Job.state) == "running", col(Job.lease_until) < now)
        if not kinds:
            return list(s.exec(query(sa.or_(queued, expired)), params=at).all())
        # Few rows: at most the leases of workers that died.
        rows = list(s.exec(query(expired), params=at).all())
        top = select(col(Job.priority)).where(queued, col(Job.kind).in_(kinds))
        if connection_id is not None:
            top = top.where(col(Job.connection_id) == connection_id)
        priority = s.exec(top.order_by(col(Job.priority).desc()).limit(1)).first()
        if priority is not None:
            found = list(s.exec(query(queued, col(Job.priority) == priority), params=at).all())
            if not found:
                # Every job of that priority waits for its record's running job: look further.
                found = list(s.exec(query(queued), params=at).all())
            rows = sorted([*rows, *found], key=lambda j: (-j.priority, j.id or 0))[:limit]
        return rows

    def heartbeat(self, worker_id: str) -> int:
        """Renew the worker's leases and its heartbeat; returns how many jobs it still holds."""
        now = self.clock.now()
        with self.store.transaction() as s:
            s.execute(sa.update(Worker).where(col(Worker.id) == worker_id).values(heartbeat_at=now))
            result = s.execute(
                sa.update(Job)
                .where(col(Job.lease_owner) == worker_id, col(Job.state) == "running")
                .values(lease_until=now + self.lease)
            )
            return _count(result)

    def register_worker(self, worker_id: str | None = None) -> str:
        """Record a worker process and return its id."""
        worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        now = self.clock.now()
        with self.store.transaction() as s:
            s.merge(
                Worker(
                    id=worker_id,
                    hostname=socket.gethostname(),
                    pid=os.getpid(),
                    started_at=now,
                    heartbeat_at=now,
                )
            )
        return worker_id

    def forget_worker(self, worker_id: str) -> None:
        """Remove a worker that stops cleanly, giving its leased jobs back at once."""
        with self.store.transaction() as s:
            mine = sa.and_(col(Job.lease_owner) == worker_id, col(Job.state) == "running")
            s.execute(sa.delete(Job).where(mine, _WAITING_TWIN))
            s.execute(
                sa.update(Job)
                .where(mine)
                .values(state="queued", lease_owner=None, lease_until=None)
            )
            s.execute(sa.delete(Worker).where(col(Worker.id) == worker_id))

    # -- finish -----------------------------------------------------------------------------------

    def complete(
        self, worker_id: str, job_ids: Iterable[int], *, session: Session | None = None
    ) -> int:
        """Remove finished jobs the worker still holds; returns how many it held."""
        ids = list(job_ids)
        if not ids:
            return 0
        with self._tx(session) as s:
            done = s.execute(
                sa.select(col(Job.source_id), col(Job.stream), col(Job.record_key)).where(
                    col(Job.id).in_(ids),
                    col(Job.lease_owner) == worker_id,
                    col(Job.state) == "running",
                )
            ).all()
            result = s.execute(
                sa.delete(Job).where(
                    col(Job.id).in_(ids),
                    col(Job.lease_owner) == worker_id,
                    col(Job.state) == "running",
                )
            )
            self.wake(s, {(row[0], row[1], row[2]) for row in done})
            return _count(result)

    def waiting_for_people(self, source: str | None = None) -> int:
        """How many jobs wait for a person (a choice, a record behind one, the setup), of one
        source or all."""
        query = (
            sa.select(sa.func.count())
            .select_from(Job)
            .where(
                col(Job.state) == JobState.HELD,
                col(Job.hold_reason).in_(
                    (HoldReason.MAPPING, HoldReason.WAITING, HoldReason.SETUP)
                ),
            )
        )
        if source is not None:
            query = query.join(Source, col(Source.id) == col(Job.source_id)).where(
                col(Source.name) == source
            )
        with self.store.transaction() as s:
            return int(s.execute(query).scalar_one())

    def setup_reasons(self, source_ids: Sequence[int], limit: int = 5) -> list[str]:
        """Why jobs of these sources wait for their setup (credentials refused, an account
        missing), each reason once, the commonest first."""
        if not source_ids:
            return []
        with self.store.transaction() as s:
            rows = s.execute(
                sa.select(col(Job.last_error), sa.func.count())
                .where(
                    col(Job.state) == JobState.HELD,
                    col(Job.hold_reason) == HoldReason.SETUP,
                    col(Job.source_id).in_(list(source_ids)),
                )
                .group_by(col(Job.last_error))
                .order_by(sa.func.count().desc(), col(Job.last_error))
                .limit(limit)
            ).all()
        return [str(error) for error, _n in rows if error]

    def hold(
        self, worker_id: str, job_id: int, reason: str, *, awaited: Iterable[tuple[str, str]]
    ) -> str:
        """Hold a job that needs records waiting for a person (no attempt spent); it wakes when
        one of them is done. Queued again at once if none of them waits any more."""
        records = sorted({(stream, key) for stream, key in awaited})
        with self.store.transaction() as s:
            job = s.get(Job, job_id)
            if job is None or job.lease_owner != worker_id or job.state != "running":
                return "lost"
            still = s.execute(
                sa.select(col(Job.stream), col(Job.record_key)).where(
                    col(Job.source_id) == job.source_id,
                    col(Job.stream).in_({st for st, _k in records}),
                    col(Job.record_key).in_({k for _st, k in records}),
                    col(Job.kind).in_((JobKind.PUSH, JobKind.APPLY)),
                    col(Job.state) == JobState.HELD,
                )
            ).all()
            job.lease_owner, job.lease_until = None, None
            job.attempts = max(job.attempts - 1, 0)  # waiting is not an attempt
            job.updated_at = self.clock.now()
            if not {(row[0], row[1]) for row in still} & set(records):
                job.state, job.run_after = JobState.QUEUED, self.clock.now()
                s.add(job)
                return job.state
            job.state, job.hold_reason, job.last_error = JobState.HELD, HoldReason.WAITING, reason
            job.payload = {**(job.payload or {}), "waiting_for": [list(r) for r in records]}
            s.add(job)
            return job.state

    def wake(self, s: Session, done: set[tuple[int, str, str]]) -> int:
        """Queue again the jobs waiting for any of these records (source, stream, key): held
        for them, or failed because they had not come from Xero (`AwaitsXero`)."""
        if not done:
            return 0
        # By state first, so that `ix_job_due` finds the few held and dead jobs: the source's
        # index would walk every job the source has queued (thousands, in a history import).
        sources = {source for source, _st, _k in done}
        waiting = [
            job
            for job in s.exec(
                select(Job).where(col(Job.state).in_((JobState.HELD, JobState.DEAD)))
            ).all()
            if job.source_id in sources
            and (job.state == JobState.DEAD or job.hold_reason == HoldReason.WAITING)
        ]
        now, woken = self.clock.now(), 0
        for job in waiting:
            awaited = {tuple(r) for r in (job.payload or {}).get("waiting_for") or []}
            if any((job.source_id, st, k) in done for st, k in awaited):
                job.state, job.hold_reason, job.run_after = JobState.QUEUED, "", now
                job.attempts, job.last_error = 0, ""
                job.payload = {k: v for k, v in (job.payload or {}).items() if k != "waiting_for"}
                s.add(job)
                woken += 1
        return woken

    def fail(
        self,
        worker_id: str,
        job_id: int,
        error: str,
        *,
        retry_after: float | None = None,
        permanent: bool = False,
        needs_person: bool = False,
        hold_reason: str = HoldReason.MAPPING,
        candidates: Sequence[Mapping[str, str]] = (),
        awaited: Sequence[tuple[str, str]] = (),
        transient: bool = False,
        session: Session | None = None,
    ) -> str:
        """Record a failed attempt; returns the job's new state (queued, held or dead), or
        "superseded" when a newer job of the record waits (it carries the newer data, and the
        record may have one waiting job only), or "lost" when the lease ran out.

        `transient`: the failure was a condition of the moment (a system down or throttling),
        not of the record: the attempt is given back and the job waits, backing off by how
        many times in a row it has had to, however long that lasts."""
        now = self.clock.now()
        with self._tx(session) as s:
            job = s.get(Job, job_id)
            if job is None or job.lease_owner != worker_id or job.state != "running":
                return "lost"  # the lease ran out and someone else has it now
            if s.execute(
                sa.select(col(Job.id)).where(col(Job.id) == job_id, _WAITING_TWIN)
            ).first():
                s.delete(job)
                return "superseded"
            job.last_error = error
            job.lease_owner = None
            job.lease_until = None
            job.updated_at = now
            if needs_person:
                job.state, job.hold_reason = JobState.HELD, hold_reason
                if hold_reason != HoldReason.MAPPING:
                    job.attempts = max(job.attempts - 1, 0)  # a setup to fix is not an attempt
                if candidates:  # what a person chooses from (`xerobridge map`)
                    job.payload = {
                        **(job.payload or {}),
                        "candidates": [dict(c) for c in candidates],
                    }
            elif transient and not permanent:
                job.attempts = max(job.attempts - 1, 0)
                in_a_row = int((job.payload or {}).get("waits", 0)) + 1
                job.payload = {**(job.payload or {}), "waits": in_a_row}
                delay = self.backoff.delay(in_a_row)
                if retry_after is not None:
                    delay = max(delay, retry_after)
                job.state = "queued"
                job.run_after = now + timedelta(seconds=delay)
            elif permanent or job.attempts >= job.max_attempts:
                job.state = "dead"
                if awaited:  # woken (`wake`) once one of these records is in
                    waits = [list(r) for r in awaited]
                    job.payload = {**(job.payload or {}), "waiting_for": waits}
            else:
                delay = self.backoff.delay(job.attempts)
                if retry_after is not None:
                    delay = max(delay, retry_after)
                job.state = "queued"
                job.run_after = now + timedelta(seconds=delay)
            s.add(job)
            return job.state

    def release(self, worker_id: str, job_ids: Iterable[int], *, delay: float = 0.0) -> int:
        """Give jobs back without counting an attempt (a rate limit, a shutdown)."""
        ids = list(job_ids)
        if not ids:
            return 0
        now = self.clock.now()
        mine = sa.and_(
            col(Job.id).in_(ids), col(Job.lease_owner) == worker_id, col(Job.state) == "running"
        )
        with self.store.transaction() as s:
            # A newer job of the record waits already: it carries the newer data; this one goes.
            gone = _count(s.execute(sa.delete(Job).where(mine, _WAITING_TWIN)))
            result = s.execute(
                sa.update(Job)
                .where(mine)
                .values(
                    state="queued",
                    lease_owner=None,
                    lease_until=None,
                    attempts=col(Job.attempts) - 1,
                    run_after=now + timedelta(seconds=delay),
                )
            )
            return gone + _count(result)

    # -- what a person does -----------------------------------------------------------------------

    def cancel(self, job_ids: Iterable[int]) -> int:
        """Remove waiting jobs from the queue (running ones cannot be cancelled); logs each."""
        ids = list(job_ids)
        now = self.clock.now()
        with self.store.transaction() as s:
            jobs = s.exec(
                select(Job).where(col(Job.id).in_(ids), col(Job.state).in_(WAITING))
            ).all()
            for job in jobs:
                synclog.write(
                    s,
                    at=now,
                    source_id=job.source_id,
                    stream=job.stream,
                    record_key=job.record_key,
                    action="cancelled",
                    status="success",
                    message="removed from the queue by a person",
                    job_id=job.id,
                )
                s.delete(job)
            return len(jobs)

    def run_now(self, job_ids: Iterable[int]) -> int:
        """Make waiting, held or dead jobs due at once, with a fresh count of attempts."""
        ids = list(job_ids)
        with self.store.transaction() as s:
            result = s.execute(
                sa.update(Job)
                .where(col(Job.id).in_(ids), col(Job.state).in_(WAITING))
                .values(
                    state="queued",
                    hold_reason="",
                    run_after=self.clock.now(),
                    attempts=0,
                    last_error="",
                )
            )
            return _count(result)

    def retry_failed(
        self,
        *,
        source_id: int | None = None,
        stream: str | None = None,
        keys: Sequence[str] | None = None,
    ) -> int:
        """Make the failed (dead) jobs of a source or stream, and those held for its setup, due
        again with fresh attempts: what a person does once the cause is fixed (a setting, an
        account in Xero, a credential)."""
        setup = sa.and_(col(Job.state) == JobState.HELD, col(Job.hold_reason) == HoldReason.SETUP)
        query = sa.update(Job).where(sa.or_(col(Job.state) == JobState.DEAD, setup))
        if source_id is not None:
            query = query.where(col(Job.source_id) == source_id)
        if stream is not None:
            query = query.where(col(Job.stream) == stream)
        if keys is not None:
            query = query.where(col(Job.record_key).in_(list(keys)))
        values = {"state": JobState.QUEUED, "hold_reason": "", "attempts": 0, "last_error": ""}
        with self.store.transaction() as s:
            return _count(s.execute(query.values(run_after=self.clock.now(), **values)))

    def approve(self, *, job_ids: Iterable[int] | None = None, source_id: int | None = None) -> int:
        """Release jobs held for approval: the given ones, or all of a source."""
        query = sa.update(Job).where(col(Job.state) == "held", col(Job.hold_reason) == "approval")
        if job_ids is not None:
            query = query.where(col(Job.id).in_(list(job_ids)))
        if source_id is not None:
            query = query.where(col(Job.source_id) == source_id)
        with self.store.transaction() as s:
            result = s.execute(
                query.values(state="queued", hold_reason="", run_after=self.clock.now())
            )
            return _count(result)

    def jobs(
        self,
        *,
        source_id: int | None = None,
        stream: str | None = None,
        state: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Job]:
        """Jobs for showing, oldest first, filtered."""
        query = select(Job)
        if source_id is not None:
            query = query.where(col(Job.source_id) == source_id)
        if stream:
            query = query.where(col(Job.stream) == stream)
        if state:
            query = query.where(col(Job.state) == state)
        query = query.order_by(col(Job.id)).offset(offset).limit(limit)
        with self.store.transaction() as s:
            return list(s.exec(query).all())

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state."""
        with self.store.transaction() as s:
            rows = s.execute(
                sa.select(col(Job.state), sa.func.count()).group_by(col(Job.state))
            ).all()
        return {state: n for state, n in rows}  # noqa: C416  (rows are Row objects)

    def held_for_approval(self) -> dict[int, int]:
        """How many jobs wait for approval, per source id."""
        query = (
            sa.select(col(Job.source_id), sa.func.count())
            .where(col(Job.state) == "held", col(Job.hold_reason) == "approval")
            .group_by(col(Job.source_id))
        )
        with self.store.transaction() as s:
            return {source_id: n for source_id, n in s.execute(query).all()}  # noqa: C416

    @contextmanager
    def _tx(self, session: Session | None) -> Iterator[Session]:
        if session is not None:
            yield session
        else:
            with self.store.transaction() as s:
                yield s


def _count(result: Any) -> int:
    """The rows an UPDATE or DELETE touched."""
    return cast(CursorResult[Any], result).rowcount or 0


#: The stored type of a lease's end, for the `:now` the claim binds.
_LEASE_TYPE = Job.__table__.c.lease_until.type  # type: ignore[attr-defined]


def _busy() -> Any:
    """Whether another job of the same record runs under a live lease (at :now)."""
    other = sa.orm.aliased(Job)
    return (
        sa.select(col(other.id))
        .where(
            col(other.source_id) == col(Job.source_id),
            col(other.kind) == col(Job.kind),
            col(other.stream) == col(Job.stream),
            col(other.record_key) == col(Job.record_key),
            col(other.state) == "running",
            col(other.lease_until) >= sa.bindparam("now", type_=_LEASE_TYPE),
            col(other.id) != col(Job.id),
        )
        .exists()
    )


#: Built once: adapting an aliased table is costly, and claims run many times a second.
_BUSY = _busy()


def _waiting_twin() -> Any:
    """Whether another job of the same record waits (queued, held or dead).

    A running job goes back to waiting (released, failed, its worker stopping) only when no
    other job of its record waits: an edit enqueued while it ran made a new waiting job, and
    the record may have one waiting job only (`ux_job_pending`).
    """
    other = sa.orm.aliased(Job)
    return (
        sa.select(col(other.id))
        .where(
            col(other.source_id) == col(Job.source_id),
            col(other.kind) == col(Job.kind),
            col(other.stream) == col(Job.stream),
            col(other.record_key) == col(Job.record_key),
            col(col(other.state)).in_(WAITING),
            col(other.id) != col(Job.id),
        )
        .exists()
    )


_WAITING_TWIN = _waiting_twin()


def as_dict(job: Job, source_names: Mapping[int | None, str]) -> dict[str, Any]:
    """One job as `xerobridge queue list --json` and `/api/queue` show it."""
    return {
        "id": job.id,
        "source": source_names.get(job.source_id, str(job.source_id)),
        "kind": job.kind,
        "stream": job.stream,
        "record": job.record_key,
        "state": job.state + (f" ({job.hold_reason})" if job.hold_reason else ""),
        "attempts": job.attempts,
        "run_after": job.run_after.isoformat() if job.run_after else "",
        "last_error": job.last_error,
    }


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]
