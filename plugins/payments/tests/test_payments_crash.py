"""Exactly once both ways through SIGKILLs: worker processes die around writes to Xero (before
the request, after it, before the link) and around writes to the platform (a customer or an
invoice made, its link not yet stored); every record ends on each side once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from xerobridge.config import sources
from xerobridge.contract.plugins import Plugins, load_plugins
from xerobridge.sandboxes.xero.testing import connect_served
from xerobridge.store.db import Store
from xerobridge.store.models import Source
from xerobridge.sync.accounts import ensure_accounts
from xerobridge.sync.engine import Engine
from xerobridge.testkit.processes import served as served_sandbox
from xerobridge.testkit.processes import spawn, until_done

CUSTOMERS, INVOICES = 3, 10


@pytest.fixture
def platform() -> Iterator[dict[str, Any]]:
    """`xerobridge sandbox payments` on a free port, its history in AUD."""
    args = ("--customers", "3", "--invoices", "10", "--currency", "AUD")
    with served_sandbox("payments", *args) as described:
        # The workers' clocks are real; the platform's rate limit too: keep well within it.
        httpx.post(f"{described['control_url']}/rate_limit", json={"requests": None}, timeout=10)
        yield described


def _xero(sandbox: dict[str, Any], method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(method, f"{sandbox['control_url']}{path}", timeout=30, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def _install(xb_store_url: str, xero: dict[str, Any], platform: dict[str, Any]) -> None:
    """Customers with approved invoices in Xero; a payments source on a connection to it."""
    people = {"Contacts": [{"Name": f"Client {i}", "EmailAddress": f"c{i}@example.com"}
                           for i in range(CUSTOMERS)]}  # fmt: skip
    made = _xero(xero, "POST", "/tenants/default/Contacts", json=people)
    ids = [c["ContactID"] for c in made["Contacts"]]
    invoices = [
        {"Type": "ACCREC", "Contact": {"ContactID": ids[i % CUSTOMERS]}, "Date": "2026-11-02",
         "DueDate": "2026-12-02", "Status": "AUTHORISED", "LineAmountTypes": "NoTax",
         "CurrencyCode": "AUD", "LineItems": [{"Description": "Work", "Quantity": 1,
                                               "UnitAmount": 10 + i, "AccountCode": "200"}]}
        for i in range(INVOICES)
    ]  # fmt: skip
    _xero(xero, "POST", "/tenants/default/Invoices", json={"Invoices": invoices})
    store = Store(xb_store_url)
    try:
        connect_served(store, xero)
        values = {k: str(platform[k]) for k in ("base_url", "client_id", "client_secret")}
        plugins = load_plugins()
        source = sources.add(
            store,
            plugins,
            "payments",
            "pay",
            connection="org",
            key_prefix="PY",
            values={**values, "currencies": "AUD", "payout_bank_account": "Business Bank Account"},
        )
        asyncio.run(_set_up_accounts(store, plugins, source))  # fmt: skip
    finally:
        store.dispose()


async def _set_up_accounts(store: Store, plugins: Plugins, source: Source) -> None:
    """`xerobridge setup-accounts pay`: the clearing account."""
    engine = Engine(store, plugins, xero_http=httpx.AsyncClient(timeout=30))
    try:
        await ensure_accounts(engine, source)
    finally:
        await engine.aclose()


@pytest.mark.slow
def test_workers_killed_mid_sync_leave_every_record_once_on_both_sides(
    xb_store_url: str, xb_served_xero: dict[str, Any], platform: dict[str, Any], tmp_path: Path
) -> None:
    _install(xb_store_url, xb_served_xero, platform)
    marker = tmp_path / "crash.marker"
    # Around writes to the platform: a customer or an invoice made and its link not stored; a
    # create whose link was written provisionally and whose call was not made.
    for crash in ("after_source_write:3", "before_source_write:5", "after_source_write:6"):
        spawn(xb_store_url, crash=crash, marker=marker)
    spawn(xb_store_url)  # what is left comes in
    # Around writes to Xero, each while customers pay invoices from Xero in the platform: a
    # batch sent and committed, a batch stored and not sent, a batch sent and not linked.
    control = platform["control_url"]
    ours = [i for i in httpx.get(f"{control}/invoices", timeout=30).json() if i["external_id"]]
    assert len(ours) >= 6, "the invoices from Xero reached the platform before the kills"
    for n, crash in enumerate(("after_commit:1", "before_write:1", "after_link:1")):
        for invoice in ours[n * 2 : n * 2 + 2]:
            paid = httpx.post(f"{control}/invoices/{invoice['id']}/pay", json={}, timeout=30)
            assert paid.status_code == 201, paid.text
        spawn(xb_store_url, crash=crash, marker=marker)
    summary = until_done(xb_store_url)
    assert summary["failed"] == 0, summary

    customers = httpx.get(f"{control}/customers", timeout=30).json()
    invoices = httpx.get(f"{control}/invoices", timeout=30).json()
    payments = httpx.get(f"{control}/payments", timeout=30).json()
    payouts = httpx.get(f"{control}/payouts", timeout=30).json()
    # The platform has each Xero customer and invoice once.
    made = Counter(c["external_id"] for c in customers if c["external_id"])
    assert sorted(made.values()) == [1] * CUSTOMERS
    made = Counter(i["external_id"] for i in invoices if i["external_id"])
    assert sorted(made.values()) == [1] * INVOICES
    # Xero has each payment, reversal and payout once.
    references = Counter(
        r["Reference"]
        for plural in ("Payments", "BankTransactions", "BankTransfers")
        for r in _xero(xb_served_xero, "GET", f"/tenants/default/{plural}")[plural]
        if str(r.get("Reference", "")).startswith("PY-")
        and r.get("Type") not in ("SPEND-TRANSFER", "RECEIVE-TRANSFER")
    )
    assert [ref for ref, n in references.items() if n > 1] == []
    wanted = {f"PY-{'PAY' if p['type'] == 'payment' else 'REV'}-{p['id']}" for p in payments}
    wanted |= {f"PY-PO-{p['id']}" for p in payouts if p["total"]}
    assert wanted <= set(references)
