"""The last stage of a push: each job ends completed, failed, held or released, with its sync
log row and action-log entry, the batch's completions in one transaction."""

from __future__ import annotations

import logging
import time
from typing import Any

from xerobridge.contract.settings import NotifyLevel
from xerobridge.store import synclog
from xerobridge.store.models import ActionLog, Job
from xerobridge.sync import failures
from xerobridge.sync.batch import (
    UNCHANGED,
    BatchStats,
    OwnLinks,
    Stage,
    Work,
)
from xerobridge.xero.deeplinks import view_url

log = logging.getLogger(__name__)

#: What the sync log says of a write whose run stopped before logging it.
RECOVERED = "written by an earlier run of this job that stopped before it finished"


class Settle(Stage):
    """Complete or fail the batch's jobs."""

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

    def _unchanged(self, work: Work, own: OwnLinks) -> tuple[str, str]:
        """Nothing left to send: skipped, unless a run of this job that stopped before it
        finished (a crash, or recovery finding its lost write) wrote the record's documents
        without logging it; then the write is logged now, as what it was."""
        job = work.job
        written = [
            link.updated_at
            for link in own[(work.runtime.id, work.change.stream, work.change.key)].values()
            if link.xero_id and link.updated_at and job.created_at
            and link.updated_at >= job.created_at
        ]  # fmt: skip
        if not written:
            return "skipped", UNCHANGED
        with self.store.transaction() as s:
            logged = synclog.writes_of(s, work.runtime.id, work.change.stream, work.change.key)
        if any(at >= min(written) for _action, at in logged):
            return "skipped", UNCHANGED
        return ("updated" if logged else "created"), RECOVERED

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
        with self.store.transaction() as s:
            state = failures.record(s, self.queue, self.worker_id, job, exc,
                                    api_calls=work.calls if work else 0)  # fmt: skip
        outcome = {"held": "held", "dead": "failed"}.get(state, "retry")
        stats.outcomes.append((job.source_id, job.stream, outcome))
