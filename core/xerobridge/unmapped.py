"""Records waiting for a person: an ambiguous or missing mapping, and the decision that frees them.

A job whose `map_record` could not decide (two Xero contacts fit; a worklog type Xero lacks) is
held with reason "mapping" and the candidates the plugin offered. A person picks one (`--to`)
or asks for a new Xero object (`--create`); the job is queued again carrying that choice, which
the engine honours instead of asking the plugin again. The decision is kept on the record's
link (method "chosen", or "create" with no Xero id yet), so later edits of the record keep it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from xerobridge import links, sources
from xerobridge.models import Job
from xerobridge.plugins import Plugins
from xerobridge.store import Store
from xerobridge.types import UserError


@dataclass(frozen=True)
class Unmapped:
    """One record waiting for a person."""

    job_id: int
    source: str
    stream: str
    key: str
    reason: str
    candidates: list[dict[str, Any]]


def waiting(session: Session, source: str | None = None) -> list[Unmapped]:
    """The records held for a mapping decision, oldest first."""
    names = {s.id: s.name for s in sources.list_all(session)}
    query = select(Job).where(Job.state == "held", Job.hold_reason == "mapping")
    if source:
        query = query.where(Job.source_id == sources.get(session, source).id)
    return [
        Unmapped(
            job_id=job.id or 0,
            source=names.get(job.source_id, str(job.source_id)),
            stream=job.stream,
            key=job.record_key,
            reason=job.last_error,
            candidates=list((job.payload or {}).get("candidates") or []),
        )
        for job in session.exec(query.order_by(col(Job.id))).all()
    ]


def decide(
    store: Store,
    plugins: Plugins,
    source: str,
    stream: str,
    key: str,
    *,
    to: str | None,
    create: bool,
) -> None:
    """Record a person's decision for one held record and queue it again at once."""
    if bool(to) == bool(create):
        raise UserError("say either --to <Xero id> or --create")
    with store.transaction() as s:
        src = sources.get(s, source)
        job = s.exec(
            select(Job).where(
                Job.source_id == src.id,
                Job.kind == "push",
                Job.stream == stream,
                Job.record_key == key,
                Job.state == "held",
            )
        ).first()
        if job is None:
            raise UserError(
                f"{source} {stream} {key} is not waiting for a decision; "
                "see `xerobridge map --list`"
            )
        xero_type = plugins.spec(src.plugin).stream(stream).xero_object
        link = links.set_link(
            s,
            source_id=src.id,  # type: ignore[arg-type]
            key=(stream, key, "main"),
            xero_type=xero_type,
            xero_id=to or "",
            method="chosen" if to else "create",
            now=store.clock.now(),
        )
        link.xero_id = to or None
        job.state, job.hold_reason, job.attempts, job.last_error = "queued", "", 0, ""
        job.run_after = store.clock.now()
        s.add(job)
