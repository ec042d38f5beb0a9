"""What a source may put in Xero once only, held by the first record whose document carries it.

A subscription's billing period goes on one invoice: the document that bills it names it in
`XeroDocument.claims`, and the pusher takes the claims in the transaction that records the
write before sending it. A record that finds one held by another record is rebuilt (its build
sees the holder through `LinkView.claimed_by`) instead of being written; the unique constraint
makes the first taker win however many workers race.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from xerobridge.store.models import Claim

LinkKey = tuple[str, str, str]  # stream, record key, role


def holders(session: Session, source_id: int, claims: Iterable[str]) -> dict[str, LinkKey]:
    """Who holds each of these claims (those nobody holds are absent)."""
    wanted = sorted(set(claims))
    if not wanted:
        return {}
    rows = session.exec(
        select(Claim).where(Claim.source_id == source_id, col(Claim.claim).in_(wanted))
    ).all()
    return {row.claim: (row.stream, row.record_key, row.role) for row in rows}


def take(
    session: Session, source_id: int, owner: LinkKey, claims: Iterable[str], now: datetime
) -> dict[str, LinkKey]:
    """Take the claims for `owner`; returns those another record holds (nothing taken then)."""
    wanted = sorted(set(claims))
    if not wanted:
        return {}
    held = holders(session, source_id, wanted)
    others = {c: who for c, who in held.items() if who != owner}
    if others:
        return others
    rows = [
        {"source_id": source_id, "claim": c, "stream": owner[0], "record_key": owner[1],
         "role": owner[2], "created_at": now}
        for c in wanted if c not in held
    ]  # fmt: skip
    if rows:
        dialect = session.get_bind().dialect.name
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Claim)
        session.execute(insert.on_conflict_do_nothing(), rows)
        # A worker that took one between the look-up and the insert wins it.
        held = holders(session, source_id, wanted)
        others = {c: who for c, who in held.items() if who != owner}
        if others:
            release(session, source_id, owner, [c for c in wanted if held.get(c) == owner])
    return others


def release(session: Session, source_id: int, owner: LinkKey, claims: Iterable[str] | None = None
            ) -> None:  # fmt: skip
    """Give back the owner's claims (all of them when `claims` is None)."""
    query = sa.delete(Claim).where(
        col(Claim.source_id) == source_id,
        col(Claim.stream) == owner[0],
        col(Claim.record_key) == owner[1],
        col(Claim.role) == owner[2],
    )
    if claims is not None:
        query = query.where(col(Claim.claim).in_(list(claims)))
    session.execute(query)
