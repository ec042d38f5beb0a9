"""ServiceDesk Plus MSP synced with Xero, sandbox to sandbox: accounts and worklog types come
from Xero, worklogs go to Xero as one invoice per account and month."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

import xerobridge_servicedesk
from xerobridge.clock import FakeClock
from xerobridge.config import sources
from xerobridge.sdk import SourceSandbox, posting
from xerobridge.store.db import Store
from xerobridge.testkit import SyncHarness, csrf_of
from xerobridge_servicedesk import mapping as m
from xerobridge_servicedesk.sandbox import create_app, describe
from xerobridge_servicedesk.sandbox.generator import WORKLOG_TYPES

Harness = Callable[..., SyncHarness]
URL = "http://servicedesk.test"
PRICES = {"Remote Support": "90.00", "Onsite Support": "120.00", "Project Work": "75.00",
          "Consulting": "150.00"}  # fmt: skip


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@pytest.fixture
def xb_new_store(xb_stores_on_each: Callable[[], Store]) -> Callable[[], Store]:
    """The harnesses' stores: each test runs on SQLite and on PostgreSQL."""
    return xb_stores_on_each


def _kit(harness: Harness, clock: FakeClock, **settings: str) -> SyncHarness:
    app = create_app(clock, seed=1)
    token = str(describe(app.state.sandbox, URL)["token"])
    kit = harness(
        xerobridge_servicedesk,
        sandbox=SourceSandbox(app=app, settings={"base_url": URL, "token": token}),
        settings={"default_worklog_type": "REMOTE-SUPPORT", **settings},
    )
    accounts = list(app.state.sandbox.records["accounts"].values())
    for account in accounts[:3]:
        kit.xero_write("Contact", {"Name": account["name"]})
    kit.xero_write("Contact", {"Name": "Nobody In MSP Ltd"})
    for name, _description in WORKLOG_TYPES:
        if name != "Consulting":
            _item(kit, name)
    return kit


@pytest.fixture
def kit(xb_harness: Harness, xb_clock: FakeClock) -> SyncHarness:
    """The generated MSP server (on the test's clock) in a harness, and in Xero the contacts of
    its first three accounts, one contact MSP lacks, and items for all its worklog types but
    Consulting."""
    return _kit(xb_harness, xb_clock)


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


def test_the_page_shows_worklogs_per_account_why_some_wait_and_the_types_xero_lacks(
    kit: SyncHarness,
) -> None:
    kit.sync()
    browser = kit.dashboard()
    html = browser.get("/plugins/servicedesk/").text
    assert "<h2>kit</h2>" in html
    assert "<li>Consulting</li>" in html  # the one worklog type with no Xero item
    assert "is not a Xero item: add a sold item named &#39;Consulting&#39;" in html
    accounts = kit.source_state.records["accounts"].values()
    for account in list(accounts)[:3]:
        assert f"<td>{account['name']}</td>" in html

    # The CSV lists exactly the worklogs on Xero invoices, each with its account and invoice.
    answer = browser.get("/plugins/servicedesk/kit/synced.csv")
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    synced = {link.record_key: link for link in kit.links("worklogs") if link.xero_id}
    assert {r["worklog"] for r in rows} == set(synced)
    names = {a["id"]: a["name"] for a in accounts}
    for row in rows:
        assert row["invoice"] == synced[row["worklog"]].natural_key
        assert row["account"] == names[row["account_id"]]

    # "Retry" sends one failed worklog again, and only that one.
    waiting = [r.record_key for r in kit.failures() if "'Consulting'" in r.message]
    done = browser.post("/plugins/servicedesk/kit/retry",
                        data={"csrf_token": csrf_of(html), "key": waiting[:1]})  # fmt: skip
    assert done.status_code == 303
    assert "1 worklog(s) will be tried again." in browser.get("/plugins/servicedesk/").text
    queued = [j.record_key for j in kit.jobs("queued") if j.stream == "worklogs"]
    assert queued == waiting[:1]


def _xerobridge(kit: SyncHarness, *args: str, answer: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XEROBRIDGE_DATABASE_URL": kit.store.url}
    return subprocess.run([sys.executable, "-m", "xerobridge", *args], input=answer, env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def test_reinitialize_forgets_the_links_after_a_yes_and_keeps_msps_data(kit: SyncHarness) -> None:
    kit.sync()
    linked = len(kit.links())
    assert linked
    records = {k: dict(v) for k, v in kit.source_state.records["accounts"].items()}
    kept = _xerobridge(kit, "servicedesk", "reinitialize", "kit", answer="n\n")
    assert kept.returncode == 1 and len(kit.links()) == linked
    done = _xerobridge(kit, "servicedesk", "reinitialize", "kit", "--yes")
    assert done.returncode == 0, done.stderr
    assert f"reinitialized source kit: forgot {linked} links" in done.stdout
    assert kit.links() == [] and kit.jobs() == []
    assert kit.source_state.records["accounts"] == records  # MSP's own data stays
    unknown = _xerobridge(kit, "servicedesk", "reinitialize", "nosuch", "--yes")
    assert unknown.returncode == 2 and unknown.stderr.startswith("error: ")
    assert "nosuch" in unknown.stderr and "Traceback" not in unknown.stderr


def test_approved_invoices_take_the_periods_later_worklogs_until_money_is_applied(
    xb_harness: Harness, xb_clock: FakeClock
) -> None:
    kit = _kit(xb_harness, xb_clock, invoice_status="AUTHORISED")
    kit.sync()
    state = kit.source_state
    invoice = max((i for i in kit.xero("Invoices") if i["InvoiceNumber"].startswith("KIT-")),
                  key=lambda i: i["InvoiceNumber"])  # fmt: skip
    assert invoice["Status"] == "AUTHORISED"
    account, _period = m.parse_invoice_number("KIT", invoice["InvoiceNumber"])
    day = posting.dates.xero_date(invoice["Date"], record="test")
    start = int(datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp() * 1000)
    technician = next(iter(state.records["technicians"]))

    def log_time(minutes: int) -> list[str]:
        """A new worklog in the invoice's period; the failures of the sync that follows."""
        request = state.add_parent("requests", account, f"More work {minutes}")
        worklog = state.add_worklog("requests", request["id"], owner_id=technician,
                                    minutes=minutes, start=start)  # fmt: skip
        kit.clock.advance(600)
        done = len(kit.log())
        kit.sync()
        mine = f"requests/{request['id']}/{worklog['id']}"
        return [r.message for r in kit.log()[done:] if r.status == "error" and r.record_key == mine]

    assert log_time(30) == []
    again = kit.xero_state.record("Invoices", invoice["InvoiceID"])
    assert len(again["LineItems"]) == len(invoice["LineItems"]) + 1
    assert again["Status"] == "AUTHORISED"
    kit.xero_write("Payment", {"Invoice": {"InvoiceID": invoice["InvoiceID"]},
                               "Account": {"Code": "090"}, "Date": day.isoformat(),
                               "Amount": 1.0})  # fmt: skip
    (failed,) = log_time(45)
    assert f"{invoice['InvoiceNumber']} is AUTHORISED in Xero, so lines can no longer" in failed


def test_on_a_draft_invoice_an_edited_or_deleted_worklog_changes_its_own_line_only(
    xb_harness: Harness, xb_clock: FakeClock
) -> None:
    kit = _kit(xb_harness, xb_clock, update_draft_invoices="true")
    kit.sync()
    state = kit.source_state
    by_invoice: dict[str, list[str]] = defaultdict(list)
    for link in kit.links("worklogs"):
        if link.xero_id:
            by_invoice[link.xero_id].append(link.record_key)
    invoice_id, keys = max(by_invoice.items(), key=lambda kv: len(kv[1]))
    assert len(keys) >= 3
    before = kit.xero_state.record("Invoices", invoice_id)
    assert before["Status"] == "DRAFT"
    gone, edited = sorted(keys)[:2]

    def line(key: str, invoice: dict[str, Any]) -> list[dict[str, Any]]:
        return [x for x in invoice["LineItems"] if x["Description"].endswith(f":{key}]")]

    module, parent, worklog = edited.split("/")
    state.edit_worklog(module, parent, worklog, minutes=95)
    module, parent, worklog = gone.split("/")
    state.delete_worklog(module, parent, worklog)
    kit.clock.advance(600)
    kit.sync()
    after = kit.xero_state.record("Invoices", invoice_id)
    assert line(gone, after) == []
    assert line(edited, after)[0]["Quantity"] == pytest.approx(95 / 60, abs=0.0001)
    mine = (f":{gone}]", f":{edited}]")
    others = [x for x in before["LineItems"] if not x["Description"].endswith(mine)]
    assert [x for x in after["LineItems"] if x in others] == others  # untouched
    assert len(after["LineItems"]) == len(before["LineItems"]) - 1


def test_two_organisations_on_one_msp_server_never_bill_one_worklog_twice(
    xb_harness: Harness, xb_clock: FakeClock
) -> None:
    """Two sources read one MSP server, each into its own Xero organisation, each billing the
    accounts it covers (by name or id): every worklog of those accounts is billed once."""
    first = _kit(xb_harness, xb_clock)
    accounts = list(first.source_state.records["accounts"].values())[:3]
    second = xb_harness(
        xerobridge_servicedesk, sandbox=first.sandbox,
        settings={"default_worklog_type": "REMOTE-SUPPORT", "covered_accounts": accounts[2]["id"]},
    )  # fmt: skip
    for account in accounts:
        second.xero_write("Contact", {"Name": account["name"]})
    for name, _description in WORKLOG_TYPES:
        _item(second, name)
    names = ",".join(a["name"] for a in accounts[:2])
    sources.update_settings(first.store, first.spec, "kit", {"covered_accounts": names})
    first.clock.advance(60)  # the workers see a settings change within seconds
    first.sync()
    second.sync()
    billed = [
        {link.record_key for link in kit.links("worklogs") if link.xero_id}
        for kit in (first, second)
    ]
    assert billed[0] and billed[1]
    assert billed[0].isdisjoint(billed[1])
    ids = {a["id"]: n for n, a in enumerate(accounts)}
    for kit, mine in ((first, {0, 1}), (second, {2})):
        for invoice in kit.xero("Invoices"):
            account, _period = m.parse_invoice_number("KIT", invoice["InvoiceNumber"])
            assert ids[account] in mine
