"""A tiny source plugin for the crash tests, whose source system is a JSON file.

The engine's in-memory test plugin cannot be shared between processes, so this one reads its
records from the file named by `CRASH_PLUGIN_DATA`:

    {"customers": {"<key>": {"name": ..., "updated_at": "<iso>"}},
     "invoices": {"<key>": {"customer": "<key>", "amount": 12.5, "updated_at": "<iso>"}}}

Customers become contacts (ContactNumber `<prefix>-C-<key>`), invoices become ACCREC invoices
(InvoiceNumber `<prefix>-INV-<key>`) that need their customer's contact first. It never matches
existing Xero objects by itself: whatever the crashed worker left behind must be found by the
engine's own exactly-once machinery (links in flight, resends, the sweep).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from xerobridge import hookimpl
from xerobridge.contract.context import SourceContext
from xerobridge.contract.settings import SourceSettings
from xerobridge.contract.types import (
    Change,
    Dependency,
    Resolution,
    SourceSpec,
    StreamSpec,
    XeroDocument,
)

DATA_ENV = "CRASH_PLUGIN_DATA"


class CrashSettings(SourceSettings):
    """Nothing beyond the core's settings."""


def contact_number(prefix: str, key: str) -> str:
    """The natural key of a customer's contact."""
    return f"{prefix}-C-{key}"


def invoice_number(prefix: str, key: str) -> str:
    """The natural key of an invoice."""
    return f"{prefix}-INV-{key}"


def dataset(customers: int, invoices: int, start: datetime) -> dict[str, dict[str, Any]]:
    """Customers 1..n and invoices 1001.. spread over them, changed 10 s apart from `start`
    (so a second read, a lookback before the cursor, finds only the last few again)."""

    def stamp(i: int) -> str:
        return (start + timedelta(seconds=10 * i)).astimezone(UTC).isoformat()

    return {
        "customers": {
            str(i): {"name": f"Crash Customer {i}", "updated_at": stamp(i)}
            for i in range(1, customers + 1)
        },
        "invoices": {
            str(1000 + i): {
                "customer": str((i * 7) % customers + 1),
                "amount": 10.0 + i,
                "updated_at": stamp(customers + i),
            }
            for i in range(1, invoices + 1)
        },
    }


def _load() -> dict[str, dict[str, dict[str, Any]]]:
    path = os.environ.get(DATA_ENV)
    if not path:
        raise RuntimeError(f"{DATA_ENV} must name the crash plugin's JSON data file")
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _change(stream: str, key: str, record: Mapping[str, Any]) -> Change:
    data = {k: v for k, v in record.items() if k != "updated_at"}
    return Change(stream, key, data, updated_at=datetime.fromisoformat(record["updated_at"]))


@hookimpl
def source_spec() -> SourceSpec:
    """Customers become contacts; invoices need their customer."""
    return SourceSpec(
        name="crashtest",
        title="Crash test source",
        streams=(
            StreamSpec("customers", "Contact"),
            StreamSpec("invoices", "Invoice", depends_on=("customers",)),
        ),
        settings=CrashSettings,
    )


@hookimpl
def fetch_changes(stream: StreamSpec, cursor: str | None) -> Iterator[Change]:
    """Records changed at or after the cursor, oldest first."""
    since = datetime.fromisoformat(cursor) if cursor else datetime.min.replace(tzinfo=UTC)
    records = _load()[stream.name]
    rows = sorted(records.items(), key=lambda kv: (kv[1]["updated_at"], int(kv[0])))
    for key, record in rows:
        change = _change(stream.name, key, record)
        if change.updated_at is not None and change.updated_at >= since:
            yield change


@hookimpl
def fetch_records(stream: StreamSpec, keys: list[str]) -> list[Change]:
    """The records that still exist."""
    records = _load()[stream.name]
    return [_change(stream.name, k, records[k]) for k in keys if k in records]


@hookimpl
def map_record(change: Change) -> Resolution:
    """Every record is ours to create; an invoice needs its customer first."""
    if change.stream == "customers":
        return Resolution.create()
    return Resolution.create(needs=(Dependency("customers", str(change.data["customer"])),))


@hookimpl
def to_xero(
    ctx: SourceContext, change: Change, links: Mapping[tuple[str, str, str], str]
) -> list[XeroDocument]:
    """A contact, or an ACCREC invoice to its customer's contact."""
    if change.stream == "customers":
        number = contact_number(ctx.key_prefix, change.key)
        body = {"ContactNumber": number, "Name": change.data["name"]}
        return [XeroDocument("Contact", body, number, "ContactNumber")]
    number = invoice_number(ctx.key_prefix, change.key)
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
            {"Description": f"Order {change.key}", "Quantity": 1,
             "UnitAmount": change.data["amount"], "AccountCode": "200", "TaxType": "OUTPUT"}
        ],
    }  # fmt: skip
    return [XeroDocument("Invoice", body, number, "InvoiceNumber")]


def install_source(
    store_url: str,
    sandbox: Mapping[str, Any],
    data: Any,
    customers: int,
    invoices: int,
    *,
    prefix: str,
    values: Mapping[str, str] | None = None,
) -> None:
    """Write `customers` and `invoices` records (changed in the past, 10 s apart, the newest a
    minute ago) to the file `data`, connect the served sandbox's custom connection `org`, and
    add source `shop` of this plugin to the store."""
    import sys

    from xerobridge.config import sources
    from xerobridge.contract.plugins import Plugins, register_module
    from xerobridge.sandboxes.xero.testing import connect_served
    from xerobridge.store.db import Store

    start = datetime.now(UTC) - timedelta(seconds=10 * (customers + invoices) + 60)
    data.write_text(json.dumps(dataset(customers, invoices, start)))
    store = Store(store_url)
    try:
        connect_served(store, sandbox)
        info = register_module(sys.modules[__name__], "crashtest")
        assert info.status == "ok", info.error
        sources.add(store, Plugins([info]), "crashtest", "shop", connection="org",
                    key_prefix=prefix, values=values)  # fmt: skip
    finally:
        store.dispose()
