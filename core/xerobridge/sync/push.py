"""Pushing a claimed batch of changes to Xero exactly once, each job settled on its own.

The protocol runs in three stages, a module each: resolve.py (what each record is in Xero, what
it needs first, its documents), write.py (only what changed, in batches of up to 50, each link
marked in flight before the call and settled by Xero's answer or by recovery.py after a crash)
and settle.py (each job completed or failed with its sync-log row). A record may need several
rounds (a credit note, then its allocation): `to_xero` is asked again with the new links until it
returns nothing new.
"""

from __future__ import annotations

import time
from collections import defaultdict

from xerobridge.contract.errors import NeedsPerson, RetryLater
from xerobridge.store import links as linkstore
from xerobridge.store.models import Job
from xerobridge.sync.batch import (
    DEPENDENCY_WAIT,
    BatchStats,
    HoldBack,
    Work,
    own_xero_ids,
)
from xerobridge.sync.resolve import Resolve
from xerobridge.sync.settle import Settle
from xerobridge.sync.write import Write

__all__ = ["BatchStats", "Pusher"]

ROUNDS = 4


class Pusher(Resolve, Write, Settle):
    """Pushes batches of claimed push jobs of one connection."""

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
        self._done = []
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
            if isinstance(problem, HoldBack) and problem.awaited:
                # Nothing to do until a person decides: held, it costs no call and no claim.
                self.queue.hold(
                    self.worker_id, work.job.id or 0, str(problem), awaited=problem.awaited
                )
                stats.outcomes.append((work.job.source_id, work.job.stream, "held"))
                continue
            if isinstance(problem, HoldBack):
                waiting[problem.delay].append(work.job.id)  # type: ignore[arg-type]
                stats.outcomes.append((work.job.source_id, work.job.stream, "waiting"))
                continue
            try:
                if problem is not None:
                    raise problem
                work.links.update(own_xero_ids(own, work.runtime.id, work.change))
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
                self._complete(work, *self._unchanged(work, own), stats)
        self._flush_completed()
        return stats

    async def _recover_own(self, jobs: list[Job]) -> None:
        """A re-claimed job may carry a write that was never settled: settle it first."""
        records = defaultdict(list)
        for job in jobs:
            records[job.source_id].append((job.stream, job.record_key))
        stale: dict[int, list[int]] = defaultdict(list)
        # Read before the transaction: a runtime due a fresh look opens one of its own.
        connection_of = {sid: self.runtimes.get(sid).source.connection_id for sid in records}
        with self.store.transaction() as s:
            for source_id, keys in records.items():
                for link in linkstore.of_records(s, source_id, keys).values():
                    if link.in_flight_at is not None:
                        conn_id = connection_of[source_id]
                        assert conn_id is not None and link.id is not None
                        stale[conn_id].append(link.id)
        for conn_id, link_ids in stale.items():
            await self.recovery.resolve(conn_id, link_ids)
