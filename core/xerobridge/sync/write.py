"""The second stage of a push: the exactly-once write.

A document whose hash equals the last pushed one is skipped with no call. The rest are written in
batches of up to 50 per document type: the links are marked in flight with the stored attempt in
one transaction before the write (the mark is what recovery.py settles after a crash or a lost
answer), and each element of Xero's answer settles its own link or fails its own job. A create
refused because its key exists is ours from a lost answer and is adopted; lines shared by several
records go to one document under its lock (appends.py).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from xerobridge.contract.errors import NeedsPerson, Permanent, RetryLater
from xerobridge.contract.types import XeroDocument
from xerobridge.runtime import crashpoints
from xerobridge.store import claims as claimstore
from xerobridge.store import links as linkstore
from xerobridge.store.models import Link
from xerobridge.sync import appends
from xerobridge.sync.batch import (
    Stage,
    Work,
)
from xerobridge.xero.client import ElementResult
from xerobridge.xero.objects import XeroObject, xero_object

#: Xero's words when a create collides with an object that already holds the natural key.
_UNIQUE_HINTS = ("already", "must be unique", "unique")


class Write(Stage):
    """Send what changed, in batches, each element settled on its own."""

    def _to_write(self, works: list[Work]) -> list[tuple[Work, XeroDocument, dict[str, Any], str]]:
        """The documents that differ from what was last pushed, with their final bodies."""
        pending = []
        live = [w for w in works if w.error is None and not w.again]
        own = self._load_own([(w.runtime, w.change.stream, w.change.key) for w in live])
        for work in live:
            for doc in work.docs:
                link = own[(work.runtime.id, work.change.stream, work.change.key)].get(doc.role)
                body = dict(doc.body)
                # The hash is of what the plugin made, before the id is added for updates.
                body_hash = linkstore.payload_hash(body)
                res = xero_object(doc.kind)
                if link is not None and link.xero_id and doc.kind != "Allocation" and res.updatable:
                    body.setdefault(res.id_field, link.xero_id)
                if link is not None and link.xero_id and link.pushed_hash == body_hash:
                    continue
                if link is not None and link.xero_id and doc.kind == "Allocation":
                    continue  # an allocation, once made, is not made again
                pending.append((work, doc, body, body_hash))
        return pending

    async def _write(self, pending: list[tuple[Work, XeroDocument, dict[str, Any], str]]) -> None:
        pending = await self._unchangeable(self._claimed(pending))
        groups: dict[tuple[int, str], list[tuple[Work, XeroDocument, dict[str, Any], str]]]
        groups = defaultdict(list)
        shared: dict[tuple[int, str, str], list[tuple[Work, XeroDocument, dict[str, Any], str]]]
        shared = defaultdict(list)
        for item in pending:
            conn_id = item[0].runtime.source.connection_id
            if conn_id is None:
                item[0].error = NeedsPerson(
                    f"source {item[0].runtime.source.name} has no Xero connection: "
                    "set one with `xerobridge sources add ... --connection`"
                )
                continue
            if item[1].append:
                shared[(conn_id, item[1].kind, item[1].natural_key)].append(item)
                continue
            groups[(conn_id, item[1].kind)].append(item)
        for (conn_id, kind), items in groups.items():
            size = xero_object(kind).write_size
            for start in range(0, len(items), size):
                await self._write_chunk(conn_id, kind, items[start : start + size])
        for (conn_id, kind, _key), items in shared.items():
            await self._write_shared(conn_id, kind, items)

    def _claimed(
        self, pending: list[tuple[Work, XeroDocument, dict[str, Any], str]]
    ) -> list[tuple[Work, XeroDocument, dict[str, Any], str]]:
        """The documents whose claims their record holds, taken now if free: a record whose
        document carries a claim another record holds is not written but built again, when its
        build leaves that out (a billing period already on another invoice)."""
        if not any(doc.claims for _w, doc, _b, _h in pending):
            return pending
        lost: set[int] = set()
        now = self.clock.now()
        with self.store.transaction() as s:
            for work, doc, _body, body_hash in pending:
                if not doc.claims or id(work) in lost:
                    continue
                owner = (work.change.stream, work.change.key, doc.role)
                held = claimstore.take(s, work.runtime.id, owner, doc.claims, now)
                if not held:
                    continue
                lost.add(id(work))
                job_id = work.job.id or 0
                if self._outclaimed.get(job_id) == body_hash:
                    claim, (stream, key, _role) = sorted(held.items())[0]
                    work.error = Permanent(
                        f"{work.change.stream} {work.change.key}: its {doc.kind} "
                        f"{doc.natural_key} carries {claim}, which {stream} {key} holds; the "
                        "plugin's build must leave out what `ctx.links.claimed_by` says "
                        "another record holds"
                    )
                    continue
                if len(self._outclaimed) > 10_000:
                    self._outclaimed.clear()  # a long-lived worker's memory stays small
                self._outclaimed[job_id] = body_hash
                work.again = True  # built again at once, without an attempt spent
        return [item for item in pending if id(item[0]) not in lost]

    async def _unchangeable(
        self, pending: list[tuple[Work, XeroDocument, dict[str, Any], str]]
    ) -> list[tuple[Work, XeroDocument, dict[str, Any], str]]:
        """Changed documents of a kind Xero never updates (bank transfers) whose first version
        is in Xero: made afresh if a person deleted that one there, else failed saying what to
        do. Sending them would make a second transfer beside the first."""
        keep = []
        for item in pending:
            work, doc, _body, _hash = item
            conn_id = work.runtime.source.connection_id
            res = xero_object(doc.kind)
            if res.updatable or conn_id is None:
                keep.append(item)
                continue
            with self.store.transaction() as s:
                link = linkstore.get(
                    s, work.runtime.id, work.change.stream, work.change.key, doc.role
                )
            if link is None or not link.xero_id:
                keep.append(item)
                continue
            try:
                with self._timed("write"):
                    there = await self._still_in_xero(conn_id, res, link.xero_id)
            except (RetryLater, NeedsPerson, Permanent) as exc:
                work.error = work.error or exc
                continue
            work.calls += 1
            if not there:
                with self.store.transaction() as s:
                    fresh = s.get(Link, link.id)
                    if fresh is not None:
                        fresh.xero_id, fresh.pushed_hash = None, ""
                        s.add(fresh)
                keep.append(item)
                continue
            work.error = work.error or Permanent(
                f"{work.change.stream} {work.change.key}: the {doc.kind} {doc.natural_key} is "
                f"in Xero already ({link.xero_id}) and Xero cannot change a {doc.kind}; delete "
                f"it in Xero, then `xerobridge queue run-now {work.job.id}` makes it afresh; or "
                "reverse it in Xero yourself"
            )
        return keep

    async def _still_in_xero(self, conn_id: int, res: XeroObject, xero_id: str) -> bool:
        """Whether an object is in Xero and not deleted (one read by its id)."""
        response = await self.client.request(conn_id, "GET", f"{res.plural}/{xero_id}")
        if response.status_code == 404:
            return False
        if response.status_code >= 400:
            raise Permanent(
                f"Xero refused to show {res.kind} {xero_id} (HTTP {response.status_code})"
            )
        records = response.json().get(res.plural) or []
        return bool(records) and records[0].get("Status") != "DELETED"

    async def _write_shared(
        self,
        conn_id: int,
        kind: str,
        items: list[tuple[Work, XeroDocument, dict[str, Any], str]],
    ) -> None:
        """The lines of this batch's records on one shared document: one read, one write, under
        the document's lock (see appends.py: no in-flight mark is needed, since writing the
        same lines again changes nothing)."""
        doc = items[0][1]
        parts = [appends.Part(_marker(w, d), d.body) for w, d, _body, _h in items]
        try:
            with self._timed("write"):
                result = await appends.write(
                    self.client, self.store, conn_id, kind, doc.natural_key, doc.key_field, parts
                )
        except appends.Busy:
            for work, *_ in items:
                work.again = True  # back to the queue for a moment, without an attempt spent
            return
        except (RetryLater, NeedsPerson, Permanent) as exc:
            for work, *_ in items:
                work.error = work.error or exc
            return
        now = self.clock.now()
        with self.store.transaction() as s:
            for work, d, _body, body_hash in items:
                work.calls += 2 if work is items[0][0] else 0  # the read and the write, once
                if not result.ok or not result.xero_id:
                    work.error = Permanent(
                        f"{work.change.stream} {work.change.key}: Xero refused the {kind} "
                        f"{d.natural_key}: {result.message}"
                    )
                    continue
                link = linkstore.get(
                    s, work.runtime.id, work.change.stream, work.change.key, d.role
                )
                created = link is None or link.xero_id is None
                if link is None:
                    link = Link(
                        source_id=work.runtime.id,
                        stream=work.change.stream,
                        record_key=work.change.key,
                        role=d.role,
                        xero_type=kind,
                        natural_key=d.natural_key,
                    )
                linkstore.settle(
                    link, xero_id=result.xero_id, body_hash=body_hash, method="created", now=now
                )
                s.add(link)
                work.actions.append("created" if created else "updated")
                work.wrote = True
                work.links[(work.change.stream, work.change.key, d.role)] = result.xero_id
                if d.role == "main":
                    work.xero.append((kind, result.xero_id))

    async def _write_chunk(
        self,
        conn_id: int,
        kind: str,
        chunk: list[tuple[Work, XeroDocument, dict[str, Any], str]],
    ) -> None:
        now = self.clock.now()
        with self.store.transaction() as s:
            attempt = self.client.prepare_write(
                s, conn_id, kind, [body for _w, _d, body, _h in chunk]
            )
            assert attempt.id is not None
            for source_id in {w.runtime.id for w, *_ in chunk}:
                linkstore.mark_many_in_flight(
                    s,
                    source_id=source_id,
                    documents=[
                        ((w.change.stream, w.change.key, doc.role), doc.kind, doc.natural_key, h)
                        for w, doc, _body, h in chunk
                        if w.runtime.id == source_id
                    ],
                    attempt_id=attempt.id,
                    now=now,
                )
        crashpoints.reached("before_write")
        try:
            with self._timed("write"):
                results = await self.client.send_write(attempt)
        except RetryLater as exc:
            # The answer is unknown: the links stay in flight and the resend settles them.
            for work, *_ in chunk:
                work.error = work.error or exc
            return
        except NeedsPerson as exc:
            for work, *_ in chunk:
                work.error = work.error or exc
            return
        crashpoints.reached("after_commit")
        collisions: list[tuple[Work, XeroDocument, dict[str, Any], str]] = []
        unconfirmed: list[tuple[Work, XeroDocument, str, int]] = []
        remembered: list[Any] = []
        with self.store.transaction() as s:
            found: dict[tuple[int, str, str, str], Link] = {}
            for source_id in {w.runtime.id for w, *_ in chunk}:
                records = [(w.change.stream, w.change.key) for w, *_ in chunk
                           if w.runtime.id == source_id]  # fmt: skip
                for key, row in linkstore.of_records(s, source_id, records).items():
                    found[(source_id, *key)] = row
            for (work, doc, body, body_hash), result in zip(chunk, results, strict=True):
                work.calls += 1
                link = found[(work.runtime.id, work.change.stream, work.change.key, doc.role)]
                if result.ok and result.xero_id:
                    created = link.xero_id is None
                    method = "created" if created else "matched"
                    linkstore.settle(
                        link, xero_id=result.xero_id, body_hash=body_hash, method=method, now=now
                    )
                    s.add(link)
                    work.actions.append("created" if created else "updated")
                    work.wrote = True
                    work.links[(work.change.stream, work.change.key, doc.role)] = result.xero_id
                    if doc.role == "main":
                        work.xero.append((doc.kind, result.xero_id))
                    if self.mirror is not None and doc.kind in ("Contact", "Item"):
                        remembered.append(result.record)
                    continue
                if result.unconfirmed:
                    # Made, most likely, but Xero did not say as what: the link stays in
                    # flight for the read by natural key below.
                    assert link.id is not None
                    unconfirmed.append((work, doc, body_hash, link.id))
                    continue
                linkstore.clear_in_flight(link, now)
                s.add(link)
                if link.xero_id is None and _collision(result, doc):
                    collisions.append((work, doc, body, body_hash))
                    continue
                if (
                    _taken_by_batch(result)
                    and self._retaken.get(job_id := work.job.id or 0) != body_hash
                ):
                    # Likely taken by a record of this very batch (two customers of one name):
                    # once that one is in the mirror, to_xero can tell them apart. The job goes
                    # back to the queue at once, to be written with the next batch's documents
                    # rather than in a call of its own; the same body refused twice here is not.
                    if len(self._retaken) > 10_000:
                        self._retaken.clear()  # a long-lived worker's memory stays small
                    self._retaken[job_id] = body_hash
                    work.again = True
                    continue
                if _taken_by_batch(result) and work.job.attempts <= 1:
                    work.error = RetryLater(
                        f"{work.change.stream} {work.change.key}: {result.message}"
                    )
                    continue
                work.error = Permanent(
                    f"{work.change.stream} {work.change.key}: Xero refused the {doc.kind} "
                    f"{doc.natural_key}: {result.message}"
                )
                if doc.claims and link.xero_id is None:
                    # Not in Xero: what it would have billed is free for another record.
                    claimstore.release(s, work.runtime.id, (work.change.stream, work.change.key,
                                                            doc.role), doc.claims)  # fmt: skip
        crashpoints.reached("after_link")
        if remembered and self.mirror is not None:
            # Later records of this pass match against what we just made, at no API cost.
            self.mirror.remember(conn_id, kind, remembered)
        if collisions:
            await self._adopt(conn_id, kind, collisions)
        if unconfirmed:
            await self._confirm(conn_id, unconfirmed)

    async def _confirm(
        self, conn_id: int, unconfirmed: list[tuple[Work, XeroDocument, str, int]]
    ) -> None:
        """Find documents Xero took without returning their ids, with one read (the sweep)."""
        with self._timed("write"):
            await self.recovery.sweep(conn_id, self._links([i for *_, i in unconfirmed]))
        found = {link.id: link for link in self._links([i for *_, i in unconfirmed])}
        for work, doc, body_hash, link_id in unconfirmed:
            link = found.get(link_id)
            if link is not None and link.xero_id and link.pushed_hash == body_hash:
                work.actions.append("created")
                work.wrote = True
                work.links[(work.change.stream, work.change.key, doc.role)] = link.xero_id
                if doc.role == "main":
                    work.xero.append((doc.kind, link.xero_id))
                continue
            work.error = work.error or RetryLater(
                f"{work.change.stream} {work.change.key}: Xero did not confirm the {doc.kind} "
                f"{doc.natural_key} and it was not found by its key; it will be sent again"
            )

    async def _adopt(
        self,
        conn_id: int,
        kind: str,
        collisions: list[tuple[Work, XeroDocument, dict[str, Any], str]],
    ) -> None:
        """A create refused because the key exists: it is ours from an earlier, lost answer."""
        now = self.clock.now()
        with self.store.transaction() as s:
            ids = []
            for work, doc, _body, body_hash in collisions:
                link = linkstore.get(
                    s, work.runtime.id, work.change.stream, work.change.key, doc.role
                )
                assert link is not None and link.id is not None
                link.in_flight_at, link.in_flight_hash = now - timedelta(days=1), body_hash
                link.attempt_id = None
                s.add(link)
                ids.append(link.id)
        await self.recovery.sweep(conn_id, self._links(ids))
        with self.store.transaction() as s:
            for work, doc, _body, _h in collisions:
                link = linkstore.get(
                    s, work.runtime.id, work.change.stream, work.change.key, doc.role
                )
                if link is not None and link.xero_id:
                    link.pushed_hash = ""  # found ours: push our data onto it in the next round
                    s.add(link)
                    work.links[(work.change.stream, work.change.key, doc.role)] = link.xero_id
                else:
                    work.error = Permanent(
                        f"{work.change.stream} {work.change.key}: Xero says {doc.kind} "
                        f"{doc.natural_key} exists but it cannot be found by its key; a person "
                        "must link it with `xerobridge map`"
                    )

    def _links(self, ids: list[int]) -> list[Link]:
        with self.store.transaction() as s:
            return list(s.exec(select(Link).where(col(Link.id).in_(ids))).all())


def _marker(work: Work, doc: XeroDocument) -> str:
    """What tells a record's lines apart on a shared document: its source, stream and key."""
    role = "" if doc.role == "main" else f":{doc.role}"
    return f"{work.runtime.source.key_prefix}:{work.change.stream}:{work.change.key}{role}"


def _collision(result: ElementResult, doc: XeroDocument) -> bool:
    """Whether Xero refused a create because our natural key is taken (by an earlier write
    whose answer we lost), as opposed to another rule such as a duplicate contact name."""
    text = result.message.lower()
    if not any(hint in text for hint in _UNIQUE_HINTS):
        return False
    # Invoice and credit-note numbers are refused without naming the number.
    return doc.natural_key.lower() in text or "# must be unique" in text


def _taken_by_batch(result: ElementResult) -> bool:
    """Whether Xero refused a value another object holds (a name), which may be ours."""
    text = result.message.lower()
    return "already assigned" in text or "must be unique" in text
