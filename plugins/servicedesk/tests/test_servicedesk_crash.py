"""Exactly once both ways through SIGKILLs: worker processes die around writes into MSP (a
worklog type made, its link not stored; a create whose call was not made) and while worklogs
are being put on invoices; every worklog type ends in MSP once, every worklog on one line."""

from __future__ import annotations

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

NEW_TYPES = ("Training", "Hardware Setup", "Audit")


@pytest.fixture
def msp() -> Iterator[dict[str, Any]]:
    """`xerobridge sandbox servicedesk` on a free port."""
    with served_sandbox("servicedesk", "--accounts", "5", "--requests", "25") as described:
        yield described


def _get(url: str) -> Any:
    answer = httpx.get(url, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _install(store_url: str, xero: dict[str, Any], msp: dict[str, Any]) -> None:
    """In Xero a contact per MSP account, a sold item per MSP worklog type and three more;
    a servicedesk source on a connection to it."""
    accounts = _get(f"{msp['control_url']}/accounts")
    types = [t["name"] for t in _get(f"{msp['control_url']}/worklog_types")]
    contacts = {"Contacts": [{"Name": a["name"]} for a in accounts]}
    items = {"Items": [
        {"Code": name.upper().replace(" ", "-"), "Name": name, "IsSold": True,
         "SalesDetails": {"UnitPrice": 90.0, "AccountCode": "200"}}
        for name in [*types, *NEW_TYPES]
    ]}  # fmt: skip
    for plural, body in (("Contacts", contacts), ("Items", items)):
        made = httpx.post(f"{xero['control_url']}/tenants/default/{plural}", json=body, timeout=30)
        assert made.status_code == 200, made.text
    store = Store(store_url)
    try:
        connect_served(store, xero)
        default = types[0].upper().replace(" ", "-")
        sources.add(store, load_plugins(), "servicedesk", "desk", connection="org",
                    key_prefix="SD", values={"base_url": msp["base_url"], "token": msp["token"],
                                             "default_worklog_type": default})  # fmt: skip
    finally:
        store.dispose()


@pytest.mark.slow
def test_workers_killed_mid_sync_leave_every_type_and_worklog_once(
    xb_store_url: str, xb_served_xero: dict[str, Any], msp: dict[str, Any], tmp_path: Path
) -> None:
    _install(xb_store_url, xb_served_xero, msp)
    marker = tmp_path / "crash.marker"
    # Around writes into MSP: a worklog type made and its link not stored; a create whose
    # link was written provisionally and whose call was not made.
    for crash in ("after_source_write:1", "before_source_write:2"):
        spawn(xb_store_url, crash=crash, marker=marker)
    spawn(xb_store_url)
    # While technicians log more time: killed once its jobs are claimed, mid-push.
    control = msp["control_url"]
    requests = _get(f"{control}/requests")
    technician = _get(f"{control}/technicians")[0]["id"]
    for n, crash in enumerate(("after_claim:2", "after_claim:3")):
        for request in requests[n * 4 : n * 4 + 4]:
            made = httpx.post(f"{control}/worklogs/requests/{request['id']}", timeout=30,
                              json={"owner_id": technician, "minutes": 20 + n})  # fmt: skip
            assert made.status_code == 200, made.text
        spawn(xb_store_url, crash=crash, marker=marker)
    until_done(xb_store_url)

    names = Counter(t["name"] for t in _get(f"{msp['control_url']}/worklog_types"))
    assert [n for n, count in names.items() if count > 1] == []
    assert set(NEW_TYPES) <= set(names)
    invoices = httpx.get(f"{xb_served_xero['control_url']}/tenants/default/Invoices",
                         timeout=30).json()["Invoices"]  # fmt: skip
    ours = [i for i in invoices if str(i.get("InvoiceNumber", "")).startswith("SD-")]
    assert ours, "worklogs reached Xero"
    numbers = Counter(i["InvoiceNumber"] for i in ours)
    assert [n for n, count in numbers.items() if count > 1] == []
    tags = Counter(
        line["Description"].rsplit("[", 1)[-1]
        for invoice in ours
        for line in invoice["LineItems"]
        if line["Description"].endswith("]")
    )
    assert [t for t, count in tags.items() if count > 1] == []
