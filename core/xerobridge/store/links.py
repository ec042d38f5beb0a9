"""Record links: source record X of source S, in a role, is Xero object Y.

A link also remembers the hash of what was last pushed (so an unchanged record costs no call)
and, while a write is unresolved, that it is in flight: when, with which body hash, and in
which stored write attempt. An in-flight link is settled by the write's answer, by a quick
resend of the identical attempt, or by the recovery sweep; never by a blind second create.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func
from sqlmodel import Session, col, select

from xerobridge.store import claims
from xerobridge.store.db import Store
from xerobridge.store.models import Link

LinkKey = tuple[str, str, str]  # stream, record key, role


def payload_hash(body: Mapping[str, Any]) -> str:
    """A stable hash of a document as it would be sent."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def get(session: Session, source_id: int, stream: str, key: str, role: str = "main") -> Link | None:
    """The link of one record in one role, if any."""
    return session.exec(
        select(Link).where(
            Link.source_id == source_id,
            Link.stream == stream,
            Link.record_key == key,
            Link.role == role,
        )
    ).first()


def of_records(
    session: Session, source_id: int, records: Iterable[tuple[str, str]]
) -> dict[LinkKey, Link]:
    """Every link (all roles) of the given (stream, key) records, in one query per stream."""
    by_stream: dict[str, set[str]] = {}
    for stream, key in records:
        by_stream.setdefault(stream, set()).add(key)
    found: dict[LinkKey, Link] = {}
    for stream, keys in by_stream.items():
        rows = session.exec(
            select(Link).where(
                Link.source_id == source_id, Link.stream == stream, col(Link.record_key).in_(keys)
            )
        ).all()
        for row in rows:
            found[(row.stream, row.record_key, row.role)] = row
    return found


def mark_in_flight(
    session: Session,
    *,
    source_id: int,
    key: LinkKey,
    xero_type: str,
    natural_key: str,
    body_hash: str,
    attempt_id: int,
    now: datetime,
    known: Mapping[LinkKey, Link] | None = None,
) -> Link:
    """Record, before the write is sent, that this record's document is being written.

    `known` is the record's links as already loaded in this session (`of_records`), which
    spares a look-up per document; a key missing from it is a new link.
    """
    stream, record_key, role = key
    current = known.get(key) if known is not None else get(session, source_id, *key)
    link = current or Link(
        source_id=source_id, stream=stream, record_key=record_key, role=role, xero_type=xero_type
    )
    link.xero_type = xero_type
    link.natural_key = natural_key
    link.in_flight_at = now
    link.in_flight_hash = body_hash
    link.attempt_id = attempt_id
    link.updated_at = now
    session.add(link)
    return link


def mark_many_in_flight(
    session: Session,
    *,
    source_id: int,
    documents: Iterable[tuple[LinkKey, str, str, str]],
    attempt_id: int,
    now: datetime,
) -> None:
    """`mark_in_flight` for a batch's documents of one source, given as (key, Xero type,
    natural key, body hash): the existing links are read in one query, the new ones inserted
    in one statement."""
    docs = {
        key: (xero_type, natural, body_hash) for key, xero_type, natural, body_hash in documents
    }
    known = of_records(session, source_id, {(stream, key) for stream, key, _role in docs})
    new = []
    for key, (xero_type, natural_key, body_hash) in docs.items():
        if key in known:
            mark_in_flight(session, source_id=source_id, key=key, xero_type=xero_type,
                           natural_key=natural_key, body_hash=body_hash, attempt_id=attempt_id,
                           now=now, known=known)  # fmt: skip
            continue
        stream, record_key, role = key
        new.append({
            "source_id": source_id, "stream": stream, "record_key": record_key, "role": role,
            "xero_type": xero_type, "xero_id": None, "natural_key": natural_key, "method": "",
            "pushed_hash": "", "in_flight_at": now, "in_flight_hash": body_hash,
            "attempt_id": attempt_id, "updated_at": now,
        })  # fmt: skip
    if new:
        session.execute(sa.insert(Link), new)


def settle(link: Link, *, xero_id: str, body_hash: str, method: str, now: datetime) -> None:
    """The write is known to have landed: remember the object and what it holds."""
    link.xero_id = xero_id
    link.pushed_hash = body_hash
    link.method = link.method or method
    link.in_flight_at = None
    link.in_flight_hash = ""
    link.attempt_id = None
    link.updated_at = now


def clear_in_flight(link: Link, now: datetime) -> None:
    """The write is known not to have landed (refused, or not found by the sweep)."""
    link.in_flight_at = None
    link.in_flight_hash = ""
    link.attempt_id = None
    link.updated_at = now


def set_link(
    session: Session,
    *,
    source_id: int,
    key: LinkKey,
    xero_type: str,
    xero_id: str,
    method: str,
    now: datetime,
) -> Link:
    """Link a record to an existing Xero object (matched, or chosen by a person)."""
    stream, record_key, role = key
    link = get(session, source_id, stream, record_key, role) or Link(
        source_id=source_id, stream=stream, record_key=record_key, role=role, xero_type=xero_type
    )
    link.xero_type, link.xero_id, link.method, link.updated_at = xero_type, xero_id, method, now
    link.pushed_hash = ""  # our data has not been pushed onto it yet
    session.add(link)
    return link


class StoreLinkView:
    """The LinkView hooks get: look-ups between a source's keys and Xero ids.

    While a batch runs, the pusher hands it the links of the batch's own records (`known`),
    which it loaded in one query anyway: a hook asking about one of those records is answered
    from memory. The batch holds those records exclusively, so the answer cannot go stale.
    """

    def __init__(self, store: Store, source_id: int) -> None:
        self.store = store
        self.source_id = source_id
        self._known: dict[tuple[str, str], dict[str, str | None]] = {}

    @contextmanager
    def known(self, links: Mapping[tuple[str, str], Mapping[str, str | None]]) -> Iterator[None]:
        """Answer look-ups of these (stream, key) records from `links` (role to Xero id)."""
        self._known = {record: dict(roles) for record, roles in links.items()}
        try:
            yield
        finally:
            self._known = {}

    def xero_id(self, stream: str, key: str, role: str = "main") -> str | None:
        """The Xero id of a record in a role, once it is known."""
        roles = self._known.get((stream, key))
        if roles is not None:
            return roles.get(role)
        with self.store.transaction() as s:
            link = get(s, self.source_id, stream, key, role)
        return link.xero_id if link else None

    def source_key(self, xero_object: str, xero_id: str) -> tuple[str, str] | None:
        """The (stream, key) of the record linked to a Xero object, if any."""
        with self.store.transaction() as s:
            link = s.exec(
                select(Link).where(
                    Link.source_id == self.source_id,
                    Link.xero_type == xero_object,
                    Link.xero_id == xero_id,
                )
            ).first()
        return (link.stream, link.record_key) if link else None

    def natural_key(self, stream: str, key: str, role: str = "main") -> str | None:
        """The natural key of the document a record was written as, once it is in Xero."""
        with self.store.transaction() as s:
            link = get(s, self.source_id, stream, key, role)
        return link.natural_key if link and link.xero_id else None

    def linked(self, stream: str, prefix: str = "", role: str = "main") -> dict[str, str]:
        """The records of a stream linked in a role whose key starts with `prefix`."""
        query = select(Link.record_key, Link.xero_id).where(
            Link.source_id == self.source_id,
            Link.stream == stream,
            Link.role == role,
            col(Link.xero_id).is_not(None),
        )
        if prefix:
            # A LIKE pattern would treat the key's own % and _ as wildcards.
            query = query.where(func.substr(Link.record_key, 1, len(prefix)) == prefix)
        with self.store.transaction() as s:
            return {key: str(xero_id) for key, xero_id in s.exec(query).all()}

    def claimed_by(self, claim: str) -> tuple[str, str] | None:
        """The (stream, key) of the record holding a claim, if any."""
        with self.store.transaction() as s:
            held = claims.holders(s, self.source_id, [claim]).get(claim)
        return (held[0], held[1]) if held else None
