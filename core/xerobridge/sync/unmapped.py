"""Records waiting for a person: an ambiguous or missing mapping, and the decision that frees them.

A job whose `map_record` could not decide (two Xero contacts fit; a worklog type Xero lacks) is
held with reason "mapping" and the candidates the plugin offered. A person picks one (`--to`)
or asks for a new Xero object (`--create`); the job is queued again carrying that choice, which
the engine honours instead of asking the plugin again. The decision is kept on the record's
link (method "chosen", or "create" with no Xero id yet), so later edits of the record keep it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from xerobridge.config import sources
from xerobridge.contract.errors import UserError
from xerobridge.contract.plugins import Plugins
from xerobridge.store import links
from xerobridge.store.db import Store
from xerobridge.store.models import Job, MirrorRecord
from xerobridge.store.states import JobKind
from xerobridge.sync.from_xero import PROVISIONAL
from xerobridge.xero.objects import xero_object


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
        _unmapped(job, names.get(job.source_id, str(job.source_id)))
        for job in session.exec(query.order_by(col(Job.id))).all()
    ]


def _unmapped(job: Job, source: str) -> Unmapped:
    return Unmapped(
        job_id=job.id or 0,
        source=source,
        stream=job.stream,
        key=job.record_key,
        reason=job.last_error,
        candidates=list((job.payload or {}).get("candidates") or []),
    )


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
                col(Job.kind).in_((JobKind.PUSH, JobKind.APPLY)),
                Job.stream == stream,
                Job.record_key == key,
                Job.state == "held",
            )
        ).first()
        if job is None:
            raise UserError(
                f"{source} {stream} {key} is not waiting for a decision; "
                "`xerobridge map` lists those that are"
            )
        xero_type = plugins.spec(src.plugin).stream(stream).xero_object
        if job.kind == JobKind.APPLY:
            # A record from Xero: `to` names the source record it is.
            if to:
                record = (job.payload or {}).get("record") or {}
                links.set_link(
                    s, source_id=src.id, key=(stream, to, "main"),  # type: ignore[arg-type]
                    xero_type=xero_type,
                    xero_id=str(record.get(xero_object(xero_type).id_field) or key),
                    method="chosen", now=store.clock.now(),
                )  # fmt: skip
            else:
                # Kept on a provisional link, as a create's is, so a re-read keeps the decision.
                links.set_link(
                    s, source_id=src.id, key=(stream, PROVISIONAL + key.lower(), "main"),  # type: ignore[arg-type]
                    xero_type=xero_type, xero_id=key, method="create", now=store.clock.now(),
                )  # fmt: skip
        else:
            if to:
                check_choice(s, plugins, _unmapped(job, source), to)
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


#: Xero object types the mirror holds, so a typed id can be checked without an API call.
_MIRRORED = frozenset({"Contact", "Item"})
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def check_choice(session: Session, plugins: Plugins, held: Unmapped, to: str) -> None:
    """Refuse a Xero id that cannot be the record: not a candidate, and not an object of the
    stream's Xero type in the organisation's mirror (or, for types not mirrored, not an id)."""
    if any(str(c.get("xero_id")) == to for c in held.candidates):
        return
    src = sources.get(session, held.source)
    xero_type = plugins.spec(src.plugin).stream(held.stream).xero_object
    if xero_type not in _MIRRORED:
        if not _GUID.match(to):
            raise UserError(
                f"{to!r} is not a Xero id (they look like 0b5c1e9e-...); "
                "copy it from the object's address in Xero"
            )
        return
    found = session.exec(
        select(MirrorRecord).where(
            MirrorRecord.connection_id == src.connection_id, MirrorRecord.xero_id == to
        )
    ).first()
    if found is None:
        raise UserError(
            f"no Xero {xero_type.lower()} with id {to!r} is known in the organisation; "
            "choose a candidate or check the id"
        )
    if found.kind != xero_type:
        raise UserError(
            f"{to!r} is a Xero {found.kind.lower()}, but {held.stream} records become "
            f"{xero_type.lower()}s; give the id of a {xero_type.lower()}"
        )


def candidate_details(session: Session, held: Unmapped) -> dict[str, dict[str, Any]]:
    """What the organisation's mirror holds about each candidate, by Xero id."""
    ids = [str(c.get("xero_id")) for c in held.candidates if c.get("xero_id")]
    if not ids:
        return {}
    src = sources.get(session, held.source)
    rows = session.exec(
        select(MirrorRecord).where(
            MirrorRecord.connection_id == src.connection_id, col(MirrorRecord.xero_id).in_(ids)
        )
    ).all()
    return {row.xero_id: dict(row.data or {}) for row in rows}
