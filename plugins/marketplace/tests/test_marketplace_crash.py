"""Exactly once through SIGKILLs: worker processes die around writes to Xero (a batch sent and
committed, stored and not sent, sent and not linked); every customer, product and order ends in
Xero once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from xerobridge.config import sources
from xerobridge.contract.plugins import load_plugins
from xerobridge.sandboxes.xero.testing import connect_served
from xerobridge.store.db import Store
from xerobridge.testkit.processes import served as served_sandbox
from xerobridge.testkit.processes import spawn, until_done
from xerobridge_marketplace.client import MarketplaceClient


@pytest.fixture
def market() -> Iterator[dict[str, Any]]:
    """`xerobridge sandbox marketplace` on a free port, of Australian customers."""
    args = ("--customers", "6", "--subscriptions", "12", "--country", "AU")
    with served_sandbox("marketplace", *args) as described:
        yield described


async def _orders(market: dict[str, Any]) -> list[dict[str, Any]]:
    """Every order, through the SimpleAPI as the plugin reads it."""
    async with httpx.AsyncClient(timeout=30) as http:
        client = MarketplaceClient(http, market["base_url"], market["username"],
                                   market["password"], market["marketplace"],
                                   market["subscription_key"])  # fmt: skip
        return [o async for o in client.iter_orders()]


def _get(url: str) -> Any:
    answer = httpx.get(url, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.slow
def test_workers_killed_mid_sync_leave_every_record_in_xero_once(
    xb_store_url: str, xb_served_xero: dict[str, Any], market: dict[str, Any], tmp_path: Path
) -> None:
    store = Store(xb_store_url)
    try:
        connect_served(store, xb_served_xero)
        keys = ("base_url", "username", "password", "marketplace", "subscription_key")
        values = {k: str(market[k]) for k in keys}
        sources.add(store, load_plugins(), "marketplace", "cb", connection="org",
                    key_prefix="CB", values={**values, "auto_sync": "true",
                                             "tax_map": "10=OUTPUT"})  # fmt: skip
    finally:
        store.dispose()
    marker = tmp_path / "crash.marker"
    control = market["control_url"]
    # Killed after the first batch (contacts) was committed, then before the next one (items)
    # was sent, then after one (invoices) was sent and linked: each run goes on from there.
    for crash in ("after_commit:1", "before_write:1", "after_link:1"):
        spawn(xb_store_url, crash=crash, marker=marker)
    until_done(xb_store_url)

    def ours(plural: str, field: str) -> Counter[str]:
        records = _get(f"{xb_served_xero['control_url']}/tenants/default/{plural}")[plural]
        return Counter(
            str(r.get(field)) for r in records if str(r.get(field, "")).startswith("CB-")
        )

    kinds = (("Contacts", "ContactNumber"), ("Items", "Code"), ("Invoices", "InvoiceNumber"),
             ("CreditNotes", "CreditNoteNumber"))  # fmt: skip
    for plural, field in kinds:
        counted = ours(plural, field)
        assert [k for k, n in counted.items() if n > 1] == [], plural
    assert len(ours("Contacts", "ContactNumber")) == _get(f"{control}/info")["counts"]["customers"]
    completed = [o for o in asyncio.run(_orders(market)) if o["status"] == "completed"]
    billed = {f"CB-{o['orderNumber']}" for o in completed
              if any(not d["type"].endswith("Refund") for d in o["details"])}  # fmt: skip
    assert billed <= set(ours("Invoices", "InvoiceNumber"))
