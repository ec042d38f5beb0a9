"""A small source plugin for the engine's tests: customers, their invoices and the shop's
payouts (money moved from a clearing bank account to the business account), kept in memory.

It is a real plugin (hooks, spec, settings) whose "source system" is the `DATA` dict, so the
engine's tests control every record and every edit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from xerobridge import hookimpl
from xerobridge.contract.context import SourceContext
from xerobridge.contract.errors import Permanent, RetryLater, UserError
from xerobridge.contract.settings import SourceSettings
from xerobridge.contract.types import (
    AccountNeed,
    Candidate,
    Change,
    DeleteMode,
    Dependency,
    Resolution,
    SourceSpec,
    SourceWrite,
    StreamSpec,
    Written,
    XeroDocument,
    XeroEvent,
)

#: stream -> key -> record; every record has "updated_at" (aware datetime).
DATA: dict[str, dict[str, dict[str, Any]]] = {
    "customers": {},
    "invoices": {},
    "usage": {},
    "payouts": {},
}
#: Every fetch_changes call: (stream, cursor, until).
READS: list[tuple[str, str | None, str | None]] = []
#: Streams whose fetch_changes fails, as a source that is down.
FAIL_READS: set[str] = set()
#: Streams whose reads of older history (a backfill's second read) fail.
FAIL_HISTORY: set[str] = set()
#: Streams whose fetch_changes cannot reach the source, as when it is down or its address wrong.
UNREACHABLE: set[str] = set()
#: When set, a rename from Xero moves the customer's updated_at to this time, as most systems
#: would, and says so (`Written`).
TOUCH_AT: list[datetime] = []


class EngineSettings(SourceSettings):
    """The accounts it needs, by name."""

    bank_account: str = "Shop Bank"
    sales_account: str = "Sales"


def reset() -> None:
    """Empty the source."""
    for records in DATA.values():
        records.clear()
    READS.clear()
    FAIL_READS.clear()
    FAIL_HISTORY.clear()
    UNREACHABLE.clear()
    TOUCH_AT.clear()


def put(stream: str, key: str, when: datetime, **fields: Any) -> None:
    """Create or edit a record at the source."""
    DATA[stream][key] = {**DATA[stream].get(key, {}), **fields, "updated_at": when}


@hookimpl
def source_spec() -> SourceSpec:
    """Customers become contacts; invoices need their customer."""
    return SourceSpec(
        name="enginetest",
        title="Engine test source",
        streams=(
            StreamSpec("customers", "Contact", deletes=DeleteMode.RECONCILE),
            StreamSpec(
                "invoices", "Invoice", depends_on=("customers",), backfill=timedelta(days=365)
            ),
            # A month's usage charges of a customer are lines on one shared draft invoice.
            StreamSpec("usage", "Invoice", depends_on=("customers",)),
            # A payout is one transfer from the clearing account (091, a bank account) to the
            # business account (090).
            StreamSpec("payouts", "BankTransfer"),
        ),
        settings=EngineSettings,
        xero_events=frozenset({"CONTACT"}),
        xero_accounts=(
            AccountNeed("bank_account", "BANK", "Shop Bank"),
            AccountNeed("sales_account", "REVENUE", "Sales"),
        ),
    )


def _change(stream: str, key: str, record: Mapping[str, Any]) -> Change:
    data = {k: v for k, v in record.items() if k != "updated_at"}
    return Change(stream, key, data, updated_at=record["updated_at"])


@hookimpl
async def fetch_changes(
    stream: StreamSpec, cursor: str | None, until: str | None
) -> AsyncIterator[Change]:
    """Records changed at or after the cursor (and before `until`), oldest first."""
    READS.append((stream.name, cursor, until))
    if stream.name in UNREACHABLE:
        raise RetryLater("could not reach the shop at http://127.0.0.1:9; check its base_url")
    if stream.name in FAIL_READS or (until and stream.name in FAIL_HISTORY):
        raise RuntimeError(f"the source is down for {stream.name}")
    since = datetime.fromisoformat(cursor) if cursor else datetime.min.replace(tzinfo=UTC)
    before = datetime.fromisoformat(until) if until else datetime.max.replace(tzinfo=UTC)
    rows = sorted(DATA[stream.name].items(), key=lambda kv: (kv[1]["updated_at"], kv[0]))
    for key, record in rows:
        if since <= record["updated_at"] < before:
            yield _change(stream.name, key, record)


@hookimpl
def fetch_records(stream: StreamSpec, keys: list[str]) -> list[Change]:
    """The records that still exist."""
    return [_change(stream.name, k, DATA[stream.name][k]) for k in keys if k in DATA[stream.name]]


@hookimpl
def map_record(ctx: SourceContext, change: Change) -> Resolution:
    """Customers match existing contacts by name; invoices need their customer."""
    if change.op == "delete":
        return Resolution.skip(f"{change.stream} {change.key} was deleted at the source")
    if change.stream == "payouts":
        return Resolution.create()
    if change.data.get("refused_token"):  # as a plugin's client says a setting is wrong
        raise UserError("the shop refused the source's `token`: set a new one")
    if change.stream == "customers":
        number = f"{ctx.key_prefix}-C-{change.key}"
        assert ctx.xero is not None
        if ctx.links and ctx.links.xero_id("customers", change.key):
            return Resolution.create()
        if own := ctx.xero.contact_by_number(number):
            return Resolution.link(own["ContactID"])
        same = ctx.xero.contacts_by_name(str(change.data.get("name", "")))
        if len(same) == 1:
            return Resolution.link(same[0]["ContactID"])
        if change.data.get("ambiguous"):
            return Resolution.choose(
                f"customer {change.key}: two Xero contacts could be {change.data['name']}",
                (Candidate("id-1", "A Ltd"), Candidate("id-2", "A Limited")),
            )
        return Resolution.create()
    return Resolution.create(needs=(Dependency("customers", str(change.data["customer"])),))


@hookimpl
def to_xero(
    ctx: SourceContext, change: Change, links: Mapping[tuple[str, str, str], str]
) -> list[XeroDocument]:
    """A contact, an ACCREC invoice to its customer's contact, a usage line on the
    customer's invoice for the month, or a payout's bank transfer."""
    if change.stream == "payouts":
        reference = f"{ctx.key_prefix}-PAYOUT-{change.key}"
        body = {
            "FromBankAccount": {"Code": "091"},
            "ToBankAccount": {"Code": str(change.data.get("to", "090"))},
            "Amount": change.data["amount"],
            "Date": "2026-01-20",
            "Reference": reference,
        }
        return [XeroDocument("BankTransfer", body, reference, "Reference")]
    if change.stream == "usage":
        customer, month = str(change.data["customer"]), str(change.data["month"])
        number = f"{ctx.key_prefix}-M-{customer}-{month}"
        body = {
            "Type": "ACCREC",
            "InvoiceNumber": number,
            "Contact": {"ContactID": links[("customers", customer, "main")]},
            "Date": f"{month}-01",
            "DueDate": f"{month}-28",
            "Status": "DRAFT",
            "LineAmountTypes": "Exclusive",
            "LineItems": [
                {"Description": change.data["what"], "Quantity": 1,
                 "UnitAmount": change.data["amount"], "AccountCode": "200", "TaxType": "OUTPUT"}
            ],
        }  # fmt: skip
        return [XeroDocument("Invoice", body, number, "InvoiceNumber", append=True)]
    if change.stream == "customers":
        number = f"{ctx.key_prefix}-C-{change.key}"
        body = {"ContactNumber": number, "Name": change.data["name"]}
        if change.data.get("email"):
            body["EmailAddress"] = change.data["email"]
        return [XeroDocument("Contact", body, number, "ContactNumber")]
    number = f"{ctx.key_prefix}-{change.key}"
    if "periods" in change.data:
        return [_periods_invoice(ctx, change, links, number)]
    amount = change.data["amount"]
    if amount < 0:
        raise Permanent(f"invoice {change.key}: amount {amount} is negative; fix it at the source")
    contact_id = links[("customers", str(change.data["customer"]), "main")]
    body = {
        "Type": "ACCREC",
        "InvoiceNumber": number,
        "Contact": {"ContactID": contact_id},
        "Date": "2026-01-15",
        "DueDate": "2026-02-15",
        "Status": "AUTHORISED",
        "LineAmountTypes": "Exclusive",
        "LineItems": [
            {"Description": f"Order {change.key}", "Quantity": 1, "UnitAmount": amount,
             "AccountCode": "200", "TaxType": "OUTPUT"}
        ],
    }  # fmt: skip
    return [XeroDocument("Invoice", body, number, "InvoiceNumber")]


def _periods_invoice(
    ctx: SourceContext, change: Change, links: Mapping[tuple[str, str, str], str], number: str
) -> XeroDocument:
    """An invoice of the periods a record bills that no other record's invoice carries."""
    mine = [p for p in change.data["periods"]
            if ctx.links.claimed_by(p) in (None, ("invoices", change.key))]  # fmt: skip
    body = {
        "Type": "ACCREC", "InvoiceNumber": number, "Date": "2026-01-15", "DueDate": "2026-02-15",
        "Contact": {"ContactID": links[("customers", str(change.data["customer"]), "main")]},
        "Status": "AUTHORISED", "LineAmountTypes": "Exclusive",
        "LineItems": [{"Description": f"Period {p}", "Quantity": 1, "UnitAmount": 10.0,
                       "AccountCode": "200", "TaxType": "OUTPUT"} for p in mine],
    }  # fmt: skip
    return XeroDocument("Invoice", body, number, "InvoiceNumber", claims=tuple(mine))


@hookimpl
def on_xero_update(event: XeroEvent) -> list[SourceWrite]:
    """A contact renamed in Xero renames its customer here."""
    if event.linked is None or event.record is None:
        return []
    stream, key = event.linked
    return [SourceWrite(stream, key, "rename", {"name": event.record["Name"]})]


@hookimpl
def apply_write(write: SourceWrite) -> Written | None:
    """Rename a customer; with TOUCH_AT its updated_at moves too, and the write says to what,
    so that the core knows the record read back then for the echo of this write."""
    if write.action == "rename":
        DATA[write.stream][write.key]["name"] = write.data["name"]
        if TOUCH_AT:
            DATA[write.stream][write.key]["updated_at"] = TOUCH_AT[0]
            return Written(write.key, TOUCH_AT[0])
    return None
