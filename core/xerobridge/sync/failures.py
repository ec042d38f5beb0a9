"""What a failed job leaves: its new state in the queue (tried again, held for a person, or
dead), and, when a person must act, a line in the action log and a failed row in the sync log.

Every kind of job fails this way (a push in a batch, a fetch, a record from Xero), so that the
dashboard's action log and sync log show them all alike.
"""

from __future__ import annotations

import logging

from sqlmodel import Session, select

from xerobridge.contract.errors import NeedsChoice, NeedsPerson, Permanent, RetryLater, UserError
from xerobridge.runtime.queue import Queue
from xerobridge.store import synclog
from xerobridge.store.models import ActionLog, Job
from xerobridge.store.states import HoldReason, JobKind

log = logging.getLogger(__name__)


def message_of(job: Job, exc: BaseException) -> str:
    """The line a person reads: the error's own for the kinds the core knows, else one naming
    the record and the unexpected error (logged with its traceback for the developers)."""
    if isinstance(exc, (RetryLater, NeedsPerson, Permanent, UserError)):
        return str(exc) or type(exc).__name__
    log.error("%s %s %s: unexpected error", job.kind, job.stream, job.record_key, exc_info=exc)
    return f"{job.stream} {job.record_key}: {type(exc).__name__}: {exc}"


def record(
    s: Session, queue: Queue, worker_id: str, job: Job, exc: BaseException, *, api_calls: int = 0
) -> str:
    """Record a failed attempt in the caller's transaction; the job's new state."""
    message = message_of(job, exc)
    # A UserError from a hook is a setting a person must change (a refused token, a wrong
    # URL): the record waits for the setup like any NeedsPerson, and spends no attempt.
    person = isinstance(exc, (NeedsPerson, UserError))
    state = queue.fail(
        worker_id,
        job.id,  # type: ignore[arg-type]
        message,
        retry_after=exc.retry_after if isinstance(exc, RetryLater) else None,
        permanent=not (person or isinstance(exc, RetryLater)),
        needs_person=person,
        # Only a choice of object is a mapping; credentials or an account wait for the setup.
        hold_reason=HoldReason.MAPPING if isinstance(exc, NeedsChoice) else HoldReason.SETUP,
        candidates=exc.choices() if isinstance(exc, NeedsPerson) else (),
        awaited=getattr(exc, "awaited", ()) if isinstance(exc, Permanent) else (),
        # A system down or throttling is no fault of the record: no attempt is spent on it.
        transient=isinstance(exc, RetryLater),
        session=s,
    )
    if state == "queued" and job.kind == JobKind.FETCH and isinstance(exc, RetryLater):
        unavailable(s, queue, job, message)
    if state in ("dead", "held"):
        now = queue.clock.now()
        s.add(ActionLog(
            at=now, source_id=job.source_id, level="action" if state == "held" else "error",
            message=message, stream=job.stream, record_key=job.record_key,
        ))  # fmt: skip
        synclog.write(
            s, at=now, source_id=job.source_id, stream=job.stream, record_key=job.record_key,
            action="failed", status="error", message=message, api_calls=api_calls, job_id=job.id,
        )  # fmt: skip
    return state


def unavailable(s: Session, queue: Queue, job: Job, message: str) -> None:
    """A source that cannot be read now (down, unreachable, throttling): a row in the sync log
    each time, and one line in the action log until a person acknowledges it."""
    now = queue.clock.now()
    synclog.write(
        s, at=now, source_id=job.source_id, stream=job.stream, record_key=job.record_key,
        action="failed", status="error", message=message, job_id=job.id,
    )  # fmt: skip
    said = s.exec(
        select(ActionLog.id).where(
            ActionLog.source_id == job.source_id,
            ActionLog.message == message,
            ActionLog.acknowledged == False,  # noqa: E712 - SQL, not Python
        )
    ).first()
    if said is None:
        s.add(ActionLog(at=now, source_id=job.source_id, level="error", message=message,
                        stream=job.stream, record_key=job.record_key))  # fmt: skip
