"""Settling writes whose answer was never seen (a crash, a lost response, a lost lease).

Within Xero's Idempotency-Key memory (about 6 minutes) the stored attempt is simply sent again:
same bytes, same key, so Xero answers from memory if the first one landed and does the work if
it did not. After that, one read per connection and document type finds what landed, matched by
natural key (InvoiceNumbers for invoices; If-Modified-Since for the rest, 1,000 a page), so
recovering n records costs about n/1000 calls, never n. Only a create can be told landed by a
read: an update's document is there either way, so a lost update is sent again (harmless, as
it carries the whole document).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta

from sqlmodel import select

from xerobridge.clock import Clock
from xerobridge.store.db import Store
from xerobridge.store.links import clear_in_flight, settle
from xerobridge.store.models import Link, WriteAttempt
from xerobridge.xero.client import ElementResult, XeroClient
from xerobridge.xero.objects import xero_object

log = logging.getLogger(__name__)

#: Resend an attempt only while Xero still remembers its key (6 minutes, with a margin).
RESEND_WITHIN = timedelta(minutes=5)
#: Reading back from a little before the oldest write covers clock skew between us and Xero.
SKEW = timedelta(minutes=5)
#: The field of each document type that carries our natural key.
KEY_FIELD = {
    "Contact": "ContactNumber",
    "Item": "Code",
    "Invoice": "InvoiceNumber",
    "CreditNote": "CreditNoteNumber",
    "Payment": "Reference",
    "BankTransaction": "Reference",
    # Xero keeps a transfer's Reference but not unique, so a lost create is found only by
    # reading. Its list does not page and its If-Modified-Since returns the transfers
    # "created or modified since": the read since the oldest in-flight mark is one call for
    # any number of transfers, where a `where` naming each Reference grows with them and
    # would have to be split to keep the URL short. Deleted transfers are left out of it, so
    # one a person deleted to have it made afresh is not taken for the new one.
    "BankTransfer": "Reference",
}


class Recovery:
    """Resolves in-flight links of one connection."""

    def __init__(self, store: Store, client: XeroClient, *, clock: Clock | None = None) -> None:
        self.store = store
        self.client = client
        self.clock = clock or store.clock
        self.calls = 0  # API calls spent recovering, for the figures

    async def resolve(self, connection_id: int, link_ids: Iterable[int]) -> None:
        """Settle the given in-flight links: resend young attempts, sweep for old ones."""
        now = self.clock.now()
        with self.store.transaction() as s:
            rows = s.exec(select(Link).where(Link.id.in_(list(link_ids)))).all()  # type: ignore[union-attr]
            attempts = {
                a.id: a
                for a in s.exec(
                    select(WriteAttempt).where(
                        WriteAttempt.id.in_({r.attempt_id for r in rows if r.attempt_id})  # type: ignore[union-attr]
                    )
                ).all()
            }
        young: dict[int, WriteAttempt] = {}
        old: list[Link] = []
        for link in rows:
            if link.in_flight_at is None:
                continue
            attempt = attempts.get(link.attempt_id or -1)
            if attempt and attempt.prepared_at and now - attempt.prepared_at < RESEND_WITHIN:
                young[attempt.id] = attempt  # type: ignore[index]
            else:
                old.append(link)
        for attempt in young.values():
            await self.resend(attempt)
        if old:
            await self.sweep(connection_id, old)

    async def resend(self, attempt: WriteAttempt) -> list[ElementResult]:
        """Send a stored attempt again and settle every link it carried."""
        self.calls += 1
        results = await self.client.send_write(attempt)
        now = self.clock.now()
        with self.store.transaction() as s:
            links = s.exec(select(Link).where(Link.attempt_id == attempt.id)).all()
            by_key = {link.natural_key: link for link in links}
            field = KEY_FIELD.get(attempt.xero_type)
            unconfirmed: list[Link] = []
            for result in results:
                link = by_key.get(str(result.record.get(field, ""))) if field else None
                if link is None and len(links) == 1:
                    link = links[0]
                if link is None:
                    continue
                if result.ok and result.xero_id:
                    settle(link, xero_id=result.xero_id, body_hash=link.in_flight_hash,
                           method="created", now=now)  # fmt: skip
                elif result.unconfirmed:
                    unconfirmed.append(link)  # made without its id: the read below finds it
                    continue
                else:
                    clear_in_flight(link, now)
                s.add(link)
        if unconfirmed:
            await self.sweep(attempt.connection_id, unconfirmed)
        return results

    async def sweep(self, connection_id: int, links: list[Link]) -> None:
        """Find what landed with one read per document type; settle or clear each link."""
        by_type: dict[str, list[Link]] = defaultdict(list)
        updates: list[Link] = []
        for link in links:
            # An update finds its document by key whether or not the update landed: only a
            # create can be told landed by a read. Sending an update again is harmless.
            (updates if link.xero_id else by_type[link.xero_type]).append(link)
        now = self.clock.now()
        if updates:
            with self.store.transaction() as s:
                for link in updates:
                    fresh = s.get(Link, link.id)
                    if fresh is not None and fresh.in_flight_at is not None:
                        clear_in_flight(fresh, now)
                        s.add(fresh)
        for kind, group in by_type.items():
            field = KEY_FIELD.get(kind)
            if field is None:
                # No natural key Xero keeps (allocations): the plugin re-derives it from the
                # parent document; clearing lets the next pass decide afresh.
                with self.store.transaction() as s:
                    for link in group:
                        clear_in_flight(link, now)
                        s.add(link)
                continue
            wanted = {link.natural_key: link for link in group}
            found: dict[str, str] = {}
            id_field = xero_object(kind).id_field
            params: dict[str, str] = {}
            since = None
            if kind == "Invoice":
                params["InvoiceNumbers"] = ",".join(sorted(wanted))
            else:
                oldest = min(link.in_flight_at for link in group if link.in_flight_at)
                since = oldest - SKEW
            before = _calls(self.client)
            async for record in self.client.records(
                connection_id, kind, if_modified_since=since, params=params
            ):
                number = str(record.get(field) or "")
                if number in wanted and record.get(id_field):
                    if number in found and record.get("Status") == "DELETED":
                        continue  # a live one of the same key is ours, not one deleted since
                    found[number] = str(record[id_field])
            self.calls += _calls(self.client) - before
            with self.store.transaction() as s:
                for number, link in wanted.items():
                    fresh = s.get(Link, link.id)
                    if fresh is None or fresh.in_flight_at is None:
                        continue
                    if number in found:
                        settle(fresh, xero_id=found[number], body_hash=fresh.in_flight_hash,
                               method="created", now=now)  # fmt: skip
                    else:
                        clear_in_flight(fresh, now)
                    s.add(fresh)
            log.info(
                "recovery: %d %s link(s) in flight, %d found in Xero", len(group), kind, len(found)
            )


def _calls(client: XeroClient) -> int:
    return client.calls
