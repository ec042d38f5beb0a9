"""ServiceDesk Plus MSP synced with Xero, sandbox to sandbox: accounts and worklog types come
from Xero, worklogs go to Xero as one invoice per account and month."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

import xerobridge_servicedesk
from xerobridge.clock import FakeClock
from xerobridge.sdk import SourceSandbox
from xerobridge.testkit import SyncHarness
from xerobridge_servicedesk.sandbox import create_app, describe
from xerobridge_servicedesk.sandbox.generator import WORKLOG_TYPES

Harness = Callable[..., SyncHarness]
URL = "http://servicedesk.test"
PRICES = {"Remote Support": "90.00", "Onsite Support": "120.00", "Project Work": "75.00",
          "Consulting": "150.00"}  # fmt: skip


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@pytest.fixture
def kit(xb_harness: Harness, xb_clock: FakeClock) -> SyncHarness:
    """The generated MSP server (on the test's clock) in a harness, and in Xero the contacts of
    its first three accounts, one contact MSP lacks, and items for all its worklog types but
    Consulting."""
    app = create_app(xb_clock, seed=1)
    token = str(describe(app.state.sandbox, URL)["token"])
    harness = xb_harness(
        xerobridge_servicedesk,
        sandbox=SourceSandbox(app=app, settings={"base_url": URL, "token": token}),
        settings={"default_worklog_type": "REMOTE-SUPPORT"},
    )
    accounts = list(app.state.sandbox.records["accounts"].values())
    for account in accounts[:3]:
        harness.xero_write("Contact", {"Name": account["name"]})
    harness.xero_write("Contact", {"Name": "Nobody In MSP Ltd"})
    for name, _description in WORKLOG_TYPES:
        if name != "Consulting":
            _item(harness, name)
    return harness


def _item(harness: SyncHarness, name: str) -> None:
    harness.xero_write("Item", {
        "Code": name.upper().replace(" ", "-"), "Name": name, "IsSold": True,
        "SalesDetails": {"UnitPrice": float(PRICES[name]), "AccountCode": "200",
                         "TaxType": "OUTPUT2"},
    })  # fmt: skip


def _worklogs(kit: SyncHarness) -> list[dict[str, Any]]:
    state = kit.source_state
    out = []
    for (module, parent_id), worklogs in state.worklogs.items():
        parent = state.records[module][parent_id]
        for worklog in worklogs.values():
            out.append({"module": module, "parent": parent, **worklog})
    return out


def test_accounts_and_types_come_from_xero_and_worklogs_become_invoices(kit: SyncHarness) -> None:
    kit.sync()
    state = kit.source_state
    accounts = list(state.records["accounts"].values())
    linked = {link.record_key: link.xero_id for link in kit.links("accounts")}
    assert set(linked) == {a["id"] for a in accounts[:3]}  # matched by name, nothing created
    assert "Nobody In MSP Ltd" not in {a["name"] for a in accounts}
    held = kit.jobs("held")
    assert [(j.stream, j.hold_reason) for j in held] == [("accounts", "mapping")]
    assert "no MSP account is named 'Nobody In MSP Ltd'" in held[0].last_error
    types = {t["name"]: t["id"] for t in state.records["worklog_types"].values()}
    assert {link.record_key for link in kit.links("worklog_types")} == {
        types[name] for name in ("Remote Support", "Onsite Support", "Project Work")
    }

    # Each linked account's invoices hold its worklogs, to the cent; the rest wait, saying why.
    invoices = [i for i in kit.xero("Invoices") if i["InvoiceNumber"].startswith("KIT-")]
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for worklog in _worklogs(kit):
        account = worklog["parent"]["account"]["id"]
        kind = (worklog.get("type") or {}).get("name") or "Remote Support"
        if account not in linked or kind == "Consulting":
            continue
        spent = worklog["time_spent"]
        minutes = int(spent["hours"]) * 60 + int(spent["minutes"])
        hours = (Decimal(minutes) / 60).quantize(Decimal("0.0001"))
        expected[linked[account]] += _cents(hours * Decimal(PRICES[kind]))
    got: dict[str, Decimal] = defaultdict(Decimal)
    for invoice in invoices:
        got[invoice["Contact"]["ContactID"]] += Decimal(str(invoice["SubTotal"]))
    assert got == expected
    worklogs = [r for r in kit.failures() if r.stream == "worklogs"]
    failed = {r.message.split(" needs ")[1].split(",")[0] for r in worklogs}
    assert any(m.startswith("worklog_types ") for m in failed)
    assert any(m.startswith("accounts ") for m in failed)
    for row in worklogs:
        assert row.message.endswith("it is tried again by itself once that has"), row.message


def test_a_worklog_type_added_in_xero_frees_its_worklogs_without_help(kit: SyncHarness) -> None:
    kit.sync()
    consulting = [r for r in kit.failures() if "'Consulting' is not a Xero item" in r.message]
    assert consulting, "some worklogs of type Consulting should have failed"
    assert "add a sold item named 'Consulting' in Xero, then sync worklog types" in (
        consulting[0].message
    )
    kit.clock.advance(600)
    _item(kit, "Consulting")
    kit.sync()
    waiting = [j for j in kit.jobs() if "'Consulting'" in j.last_error]
    assert waiting == []
    lines = [line for i in kit.xero("Invoices") for line in i.get("LineItems") or []]
    assert any(line.get("ItemCode") == "CONSULTING" for line in lines)


def test_a_second_sync_writes_nothing_to_either_side(kit: SyncHarness) -> None:
    kit.sync()
    kit.reset_xero_traffic()
    before = dict(kit.source_state.counts())
    again = kit.sync()
    assert kit.xero_writes() == 0 and again.write_calls == 0
    assert kit.source_state.counts() == before


def test_an_unmapped_contact_is_mapped_by_a_person_or_created(kit: SyncHarness) -> None:
    from xerobridge.sync import unmapped

    kit.sync()
    (held,) = kit.jobs("held")
    kit.clock.advance(60)
    unmapped.decide(kit.store, kit.plugins, "kit", "accounts", held.record_key, to=None,
                    create=True)  # fmt: skip
    kit.sync()
    made = [a for a in kit.source_state.records["accounts"].values()
            if a["name"] == "Nobody In MSP Ltd"]  # fmt: skip
    assert len(made) == 1
    assert made[0]["id"] in {link.record_key for link in kit.links("accounts")}
    assert kit.jobs("held") == []
