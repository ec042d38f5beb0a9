"""A source that takes its clients and bills from Xero, kept in memory: the from-Xero tests'
plugin, written on the SDK as a plugin author would write one.

Clients come from Xero's contacts and are matched by name on their first sync (one client of
the name is linked, several ask a person); bills come from Xero's sales invoices and need their
contact's client first. Every create carries the Xero id, so a create whose answer was lost is
found again.
"""

from __future__ import annotations

import itertools
import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from xerobridge.sdk import (
    Candidate,
    Change,
    Dependency,
    Direction,
    NeedsPerson,
    Resolution,
    RetryLater,
    Source,
    SourceContext,
    SourceSettings,
    SourceWrite,
    Stream,
    XeroDocument,
    XeroEvent,
)

#: stream -> key -> record.
DATA: dict[str, dict[str, dict[str, Any]]] = {"clients": {}, "bills": {}, "receipts": {}}
#: Every write made: (stream, action, key).
WRITES: list[tuple[str, str, str]] = []
#: Per Xero id, whether its last change came with the stream's first read or history.
INITIAL: dict[str, bool] = {}
#: Xero ids whose next create is made but its answer lost.
LOSE: set[str] = set()
#: While set, the ledger refuses every write as a source refuses a revoked token.
REFUSE: list[str] = []
#: Names the JSON file the ledger lives in, for tests with several processes (else memory).
DATA_ENV = "LEDGER_DATA"
_keys = itertools.count(1)


def _load() -> None:
    """Take up the file's ledger, when there is one: another process may have written to it."""
    path = os.environ.get(DATA_ENV)
    if path and Path(path).exists():
        DATA.update(json.loads(Path(path).read_text()))


def _save() -> None:
    path = os.environ.get(DATA_ENV)
    if path:
        Path(path).write_text(json.dumps(DATA))


def reset() -> None:
    """Empty the source."""
    for records in DATA.values():
        records.clear()
    WRITES.clear()
    LOSE.clear()
    INITIAL.clear()
    REFUSE.clear()


class LedgerSettings(SourceSettings):
    """Nothing to set: the ledger lives in memory."""


class FromXero(Stream[LedgerSettings]):
    """What clients and bills share: a create carries the Xero id, and is found by it."""

    direction = Direction.FROM_XERO
    backfill = timedelta(days=365)

    def data(self, ctx: SourceContext[LedgerSettings], record: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def on_xero(self, ctx: SourceContext[LedgerSettings], event: XeroEvent) -> list[SourceWrite]:
        assert event.record is not None
        INITIAL[event.resource_id] = event.initial
        data = self.data(ctx, dict(event.record))
        if event.linked:
            return [SourceWrite(self.name, event.linked[1], "update", data)]
        return [SourceWrite(self.name, "", "create", data, create=True)]

    async def apply(self, ctx: SourceContext[LedgerSettings], write: SourceWrite) -> str | None:
        if REFUSE:
            raise NeedsPerson(REFUSE[0])
        _load()
        records = DATA[self.name]
        if write.create:
            key = f"{self.name[0].upper()}{next(_keys)}"
            while key in records:  # keys another process gave out
                key = f"{self.name[0].upper()}{next(_keys)}"
            records[key] = {**write.data, "xero_id": write.xero_id}
            _save()
            WRITES.append((self.name, "create", key))
            if write.xero_id in LOSE:
                LOSE.discard(write.xero_id)
                raise RetryLater("the ledger did not answer")
            return key
        records[write.key].update({**write.data, "xero_id": write.xero_id})
        _save()
        WRITES.append((self.name, "update", write.key))
        return write.key

    async def find(self, ctx: SourceContext[LedgerSettings], write: SourceWrite) -> str | None:
        _load()
        found = [k for k, r in DATA[self.name].items() if r.get("xero_id") == write.xero_id]
        return found[0] if found else None


class Clients(FromXero):
    """Xero's contacts, as the ledger's clients."""

    name = "clients"
    xero_object = "Contact"

    def match(self, ctx: SourceContext[LedgerSettings], event: XeroEvent) -> Resolution:
        assert event.record is not None
        name = str(event.record.get("Name", ""))
        same = [
            key for key, r in DATA["clients"].items()
            if r["name"].lower() == name.lower() and not r.get("xero_id")
        ]  # fmt: skip
        if len(same) == 1:
            return Resolution.link(same[0])
        if len(same) > 1:
            return Resolution.choose(
                f"{len(same)} clients are called {name}",
                tuple(Candidate(key, DATA["clients"][key]["name"]) for key in same),
            )
        return Resolution.create()

    def data(self, ctx: SourceContext[LedgerSettings], record: dict[str, Any]) -> dict[str, Any]:
        return {"name": record["Name"], "email": record.get("EmailAddress") or ""}


class Bills(FromXero):
    """Xero's sales invoices, as the ledger's bills of its clients."""

    name = "bills"
    xero_object = "Invoice"
    where = 'Type=="ACCREC"'
    depends_on = ("clients",)

    def match(self, ctx: SourceContext[LedgerSettings], event: XeroEvent) -> Resolution:
        assert event.record is not None
        contact = str(event.record["Contact"]["ContactID"])
        return Resolution.create(needs=(Dependency("clients", contact),))

    def data(self, ctx: SourceContext[LedgerSettings], record: dict[str, Any]) -> dict[str, Any]:
        client = ctx.links.source_key("Contact", str(record["Contact"]["ContactID"]))
        return {
            "number": record.get("InvoiceNumber") or "",
            "reference": record.get("Reference") or "",
            "client": client[1] if client else "",
            "total": record.get("Total"),
            "due": record.get("AmountDue"),
            "status": record.get("Status"),
        }


class Receipts(Stream[LedgerSettings]):
    """Money the ledger received from a client, to Xero as a sales invoice of its contact."""

    name = "receipts"
    xero_object = "Invoice"

    def fetch(
        self, ctx: SourceContext[LedgerSettings], cursor: str | None, until: str | None
    ) -> list[Change]:
        return [Change(self.name, key, r) for key, r in DATA["receipts"].items()]

    def resolve(self, ctx: SourceContext[LedgerSettings], change: Change) -> Resolution:
        missing = "make its contact in Xero (the ledger takes clients from it)"
        client = Dependency("clients", str(change.data["client"]), missing=missing)
        return Resolution.create(needs=(client,))

    def build(
        self, ctx: SourceContext[LedgerSettings], change: Change, links: Any
    ) -> list[XeroDocument]:
        number = f"{ctx.key_prefix}-R-{change.key}"
        body = {
            "Type": "ACCREC", "InvoiceNumber": number, "Status": "AUTHORISED",
            "Contact": {"ContactID": links[("clients", str(change.data["client"]), "main")]},
            "Date": "2026-11-02", "DueDate": "2026-12-02", "LineAmountTypes": "NoTax",
            "LineItems": [{"Description": "Receipt", "Quantity": 1,
                           "UnitAmount": change.data["amount"], "AccountCode": "200"}],
        }  # fmt: skip
        return [XeroDocument("Invoice", body, number, "InvoiceNumber")]


source = Source(
    name="ledger",
    title="Ledger",
    settings=LedgerSettings,
    streams=[Clients(), Bills(), Receipts()],
    description="Clients and bills from Xero, for the tests.",
)
