"""Exactly once into the source through SIGKILLs: workers of real processes die after the
ledger made a write and before its link was stored, and after the link of a create was written
provisionally but before the create was made; the ledger ends with every Xero record once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from xerobridge.config import sources
from xerobridge.contract.plugins import Plugins, register_module
from xerobridge.sandboxes.xero.testing import connect_served, served
from xerobridge.store.db import Store
from xerobridge.store.models import Job, Link

import ledger_plugin

WORKER = Path(__file__).with_name("ledger_worker.py")
CONTACTS, INVOICES = 60, 40


@pytest.fixture
def xero_sandbox() -> Iterator[dict[str, Any]]:
    """`xerobridge sandbox xero` on a free port, stopped at the test's end."""
    with served() as sandbox:
        yield sandbox


def _control(sandbox: dict[str, Any], method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(method, f"{sandbox['control_url']}{path}", timeout=30, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def _install(store_url: str, sandbox: dict[str, Any]) -> None:
    """Contacts and sales invoices made in Xero; a ledger source on a connection to it."""
    people = {"Contacts": [{"Name": f"Client {i}"} for i in range(CONTACTS)]}
    made = _control(sandbox, "POST", "/tenants/default/Contacts", json=people)
    ids = [c["ContactID"] for c in made["Contacts"]]
    invoices = [
        {"Type": "ACCREC", "Contact": {"ContactID": ids[i % CONTACTS]}, "Date": "2026-11-02",
         "DueDate": "2026-12-02", "Status": "AUTHORISED", "LineAmountTypes": "NoTax",
         "LineItems": [{"Description": "Work", "Quantity": 1, "UnitAmount": 10 + i,
                        "AccountCode": "200"}]}
        for i in range(INVOICES)
    ]  # fmt: skip
    _control(sandbox, "POST", "/tenants/default/Invoices", json={"Invoices": invoices})
    store = Store(store_url)
    try:
        connect_served(store, sandbox)
        info = register_module(ledger_plugin, "ledger")
        sources.add(store, Plugins([info]), "ledger", "books", connection="org", key_prefix="LG")
    finally:
        store.dispose()


def _worker(store_url: str, data: Path, marker: Path, crash: str | None) -> dict[str, Any] | None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", ledger_plugin.DATA_ENV: str(data)}
    env.pop("XEROBRIDGE_CRASH_AT", None)
    if crash:
        env["XEROBRIDGE_CRASH_AT"] = crash
        env["XEROBRIDGE_CRASH_MARKER"] = str(marker)
    done = subprocess.run([sys.executable, str(WORKER), store_url], env=env, capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip
    if crash:
        assert done.returncode == -signal.SIGKILL, (crash, done.returncode, done.stderr[-3000:])
        assert marker.read_text().split()[-1] == crash.partition(":")[0]
        return None
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.slow
def test_workers_killed_around_source_writes_leave_every_record_once(
    store_url: str, xero_sandbox: dict[str, Any], tmp_path: Path
) -> None:
    _install(store_url, xero_sandbox)
    data, marker = tmp_path / "ledger.json", tmp_path / "crash.marker"
    data.write_text(json.dumps({"clients": {}, "bills": {}}))
    # After the 5th client was made, before its link; a create whose link was written and
    # whose call was not made; after a bill was made (the clients are in by then).
    for crash in ("after_source_write:5", "before_source_write:4", "after_source_write:70"):
        _worker(store_url, data, marker, crash)
    summary = None
    for _ in range(3):
        summary = _worker(store_url, data, marker, None)
        assert summary is not None
        if not summary["jobs"]:
            break
    assert summary is not None and not summary["jobs"], summary

    ledger = json.loads(data.read_text())
    contacts = _control(xero_sandbox, "GET", "/tenants/default/Contacts")["Contacts"]
    invoices = _control(xero_sandbox, "GET", "/tenants/default/Invoices")["Invoices"]
    for stream, records, id_field in (("clients", contacts, "ContactID"),
                                      ("bills", invoices, "InvoiceID")):  # fmt: skip
        made = Counter(r["xero_id"] for r in ledger[stream].values())
        assert [x for x, n in made.items() if n > 1] == [], f"{stream} made twice"
        assert set(made) == {r[id_field] for r in records}, f"{stream} missing or extra"
    clients = {r["xero_id"]: key for key, r in ledger["clients"].items()}
    for invoice in invoices:
        (bill,) = [b for b in ledger["bills"].values() if b["xero_id"] == invoice["InvoiceID"]]
        assert bill["client"] == clients[invoice["Contact"]["ContactID"]]
    store = Store(store_url)
    try:
        with store.transaction() as s:
            links = list(s.exec(select(Link)).all())
            jobs = list(s.exec(select(Job).where(Job.kind == "apply")).all())
    finally:
        store.dispose()
    assert jobs == []
    assert len(links) == CONTACTS + INVOICES
    assert [lk.record_key for lk in links if lk.in_flight_at or lk.record_key.startswith("?")] == []
