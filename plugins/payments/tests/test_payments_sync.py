"""The payments platform synced with Xero, sandbox to sandbox: Xero's sales invoices and their
contacts go out; the platform's payments, refunds and payouts come back, reconciled."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

import xerobridge_payments
from xerobridge.clock import FakeClock
from xerobridge.sdk import SourceSandbox, posting
from xerobridge.store.db import Store
from xerobridge.testkit import SyncHarness
from xerobridge.web.app import create_app as create_web_app
from xerobridge_payments.sandbox import create_app, info
from xerobridge_payments.sandbox.render import dumps

Harness = Callable[..., SyncHarness]
URL = "http://payments.test"


def _kit(harness: Harness, clock: FakeClock, **settings: str) -> SyncHarness:
    app = create_app(clock, seed=3, customers=4, invoices=12, currency="GBP")
    described = info(app.state.sandbox, URL)
    values = {k: str(described[k]) for k in ("client_id", "client_secret", "webhook_secret")}
    return harness(
        xerobridge_payments,
        sandbox=SourceSandbox(app=app, settings={"base_url": URL, **values}),
        settings={"currencies": "GBP", "payout_bank_account": "Business Bank Account", **settings},
    )


@pytest.fixture
def xb_new_store(xb_stores_on_each: Callable[[], Store]) -> Callable[[], Store]:
    """The harnesses' stores: each test runs on SQLite and on PostgreSQL."""
    return xb_stores_on_each


@pytest.fixture
def kit(xb_harness: Harness, xb_clock: FakeClock) -> SyncHarness:
    return _kit(xb_harness, xb_clock)


def _customer(kit: SyncHarness, name: str, email: str) -> dict[str, Any]:
    return kit.xero_write("Contact", {"Name": name, "EmailAddress": email})


def _invoice(
    kit: SyncHarness, contact: dict[str, Any], amount: float, **extra: Any
) -> dict[str, Any]:
    body = {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact["ContactID"]},
        "Status": "AUTHORISED",
        "Date": "2026-01-10",
        "DueDate": "2026-02-10",
        "LineAmountTypes": "Exclusive",
        "LineItems": [
            {
                "Description": "Managed services",
                "Quantity": 2,
                "UnitAmount": amount,
                "AccountCode": "200",
                "TaxType": "OUTPUT2",
            }
        ],
        **extra,
    }
    return kit.xero_write("Invoice", body)


def _sent(
    kit: SyncHarness, name: str, amount: float = 100.0
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A customer with an approved invoice in Xero, synced: the contact, the Xero invoice, and
    the platform's invoice made of it."""
    contact = _customer(kit, name, f"ap@{name.split(maxsplit=1)[0].lower()}.example")
    invoice = _invoice(kit, contact, amount)
    kit.sync()
    (mine,) = [i for i in kit.source_state.invoices.values()
               if i["external_id"] == invoice["InvoiceID"]]  # fmt: skip
    return contact, invoice, mine


def test_invoices_from_xero_reach_the_platform_once(kit: SyncHarness) -> None:
    northwind = _customer(kit, "Northwind IT", "ap@northwind.example")
    first = _invoice(kit, northwind, 100.0)
    draft = _invoice(kit, northwind, 50.0, Status="DRAFT")
    kit.sync()
    state = kit.source_state
    mine = [i for i in state.invoices.values() if i["external_id"]]
    assert [i["external_id"] for i in mine] == [first["InvoiceID"]]
    assert mine[0]["total"] == Decimal(str(first["Total"]))
    customer = state.customers[mine[0]["customer_id"]]
    assert (customer["external_id"], customer["email"]) == (
        northwind["ContactID"],
        "ap@northwind.example",
    )
    assert draft["InvoiceID"] not in {i["external_id"] for i in state.invoices.values()}
    kit.sync()
    assert len([i for i in state.invoices.values() if i["external_id"]]) == 1
    assert kit.failures() == []


def _cents(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _account(kit: SyncHarness, name: str) -> dict[str, Any]:
    return next(a for a in kit.xero("Accounts") if a["Name"] == name)


def _clearing_balance(kit: SyncHarness) -> Decimal:
    """What the clearing account holds, from what Xero has on it."""
    clearing = _account(kit, "Undeposited Funds")["AccountID"]
    total = Decimal(0)
    for payment in kit.xero("Payments"):
        if payment["Account"]["AccountID"] == clearing and payment["Status"] != "DELETED":
            total += _cents(payment["Amount"])
    for txn in kit.xero("BankTransactions"):
        # Xero shows each transfer as two bank transactions too (*-TRANSFER): counted below.
        if txn["BankAccount"]["AccountID"] == clearing and txn["Type"] in ("RECEIVE", "SPEND"):
            total += _cents(txn["Total"]) * (1 if txn["Type"] == "RECEIVE" else -1)
    for transfer in kit.xero("BankTransfers"):
        amount = _cents(transfer["Amount"])
        if transfer["FromBankAccount"]["AccountID"] == clearing:
            total -= amount
        if transfer["ToBankAccount"]["AccountID"] == clearing:
            total += amount
    return total


def test_every_payout_is_one_transfer_of_its_net_amount_and_the_clearing_account_empties(
    kit: SyncHarness,
) -> None:
    kit.sync()
    assert kit.failures() == []
    state = kit.source_state
    transfers = {t["Reference"]: t for t in kit.xero("BankTransfers")}
    fees = {t["Reference"]: t for t in kit.xero("BankTransactions") if t["Type"] == "SPEND"}
    assert state.payouts, "the generated history has payouts"
    bank = _account(kit, "Business Bank Account")["AccountID"]
    for payout in state.payouts.values():
        transfer = transfers.pop(f"KIT-PO-{payout['id']}")
        # The bank feed's deposit (or, when refunds outran payments, its withdrawal).
        into_bank = transfer["ToBankAccount"]["AccountID"] == bank
        signed = _cents(transfer["Amount"]) * (1 if into_bank else -1)
        assert signed == payout["total"]
        kept = sum((f["amount"] for f in payout["fees"]), Decimal(0))
        if kept:
            assert _cents(fees[f"KIT-FEE-{payout['id']}"]["Total"]) == kept
    assert transfers == {}
    # Everything paid out left the clearing account; what is left is what no payout took yet.
    waiting = sum(
        (
            p["sub_total"] * (1 if p["type"] == "payment" else -1)
            for p in state.payments.values()
            if p["payout_id"] is None
        ),
        Decimal(0),
    )
    assert _clearing_balance(kit) == waiting
    before = kit.xero_writes()
    kit.sync()
    assert kit.xero_writes() == before  # nothing changed, nothing written


def test_a_payment_on_an_invoice_from_xero_pays_that_invoice_in_xero(kit: SyncHarness) -> None:
    _contact, invoice, mine = _sent(kit, "Oak Street Clinic", 100.0)
    state = kit.source_state
    half = (mine["total"] / 2).quantize(Decimal("0.01"))
    kit.clock.advance(3600)
    payment = state.pay_invoice(mine["id"], half)
    kit.sync()
    there = kit.xero_state.record("Invoices", invoice["InvoiceID"])
    assert _cents(there["AmountPaid"]) == half
    (paid,) = [p for p in kit.xero("Payments") if p["Reference"] == f"KIT-PAY-{payment['id']}"]
    assert paid["Account"]["AccountID"] == _account(kit, "Undeposited Funds")["AccountID"]
    # The payment seen back on the Xero invoice is not recorded in the platform a second time.
    kit.clock.advance(3600)
    kit.sync()
    assert mine["external_payments"] == [] and mine["amount_paid"] == half
    assert kit.failures() == []


def test_part_payments_and_credit_notes_in_xero_reduce_the_platform_balance(
    kit: SyncHarness,
) -> None:
    contact = _customer(kit, "Lakeside Realty", "ap@lakeside.example")
    invoice = _invoice(kit, contact, 100.0)  # 200.00 + 20% VAT
    kit.sync()
    bank = {"Code": "090"}
    kit.clock.advance(3600)
    kit.xero_write(
        "Payment",
        {
            "Invoice": {"InvoiceID": invoice["InvoiceID"]},
            "Account": bank,
            "Date": "2026-01-20",
            "Amount": 50.0,
            "Reference": "cheque 1",
        },
    )
    credit = kit.xero_write(
        "CreditNote",
        {
            "Type": "ACCRECCREDIT",
            "Contact": {"ContactID": contact["ContactID"]},
            "Status": "AUTHORISED",
            "Date": "2026-01-21",
            "LineAmountTypes": "Exclusive",
            "LineItems": [
                {
                    "Description": "Goodwill",
                    "Quantity": 1,
                    "UnitAmount": 25.0,
                    "AccountCode": "200",
                    "TaxType": "OUTPUT2",
                }
            ],
        },
    )
    kit.xero_write(
        "Allocation",
        {
            "CreditNote": {"CreditNoteID": credit["CreditNoteID"]},
            "Invoice": {"InvoiceID": invoice["InvoiceID"]},
            "Amount": 30.0,
            "Date": "2026-01-21",
        },
    )
    kit.clock.advance(3600)
    kit.sync()
    (mine,) = [
        i for i in kit.source_state.invoices.values() if i["external_id"] == invoice["InvoiceID"]
    ]
    assert mine["total"] == Decimal("240.00")
    assert mine["amount_due"] == Decimal("160.00")
    assert sorted(e["kind"] for e in mine["external_payments"]) == ["credit", "payment"]
    # Paid off in Xero: paid in the platform.
    kit.clock.advance(3600)
    kit.xero_write(
        "Payment",
        {
            "Invoice": {"InvoiceID": invoice["InvoiceID"]},
            "Account": bank,
            "Date": "2026-01-25",
            "Amount": 160.0,
            "Reference": "cheque 2",
        },
    )
    kit.clock.advance(3600)
    kit.sync()
    assert mine["status"] == "paid"
    assert kit.failures() == []


def test_a_change_in_xero_reaches_the_platform_and_a_change_there_stays_there(
    kit: SyncHarness,
) -> None:
    contact, invoice, mine = _sent(kit, "Redwood Builders", 100.0)
    kit.clock.advance(3600)
    kit.xero_write(
        "Invoice",
        {
            "InvoiceID": invoice["InvoiceID"],
            "DueDate": "2026-03-01",
            "Contact": {"ContactID": contact["ContactID"]},
            "LineItems": [
                {
                    "Description": "Managed services",
                    "Quantity": 3,
                    "UnitAmount": 100.0,
                    "AccountCode": "200",
                    "TaxType": "OUTPUT2",
                }
            ],
        },
    )
    kit.clock.advance(3600)
    kit.sync()
    assert (mine["total"], mine["due_date"]) == (Decimal("360.00"), "2026-03-01")
    writes = kit.xero_writes()
    kit.source_state.update_invoice(mine["id"], due_date="2026-04-01", memo="edited there")
    kit.clock.advance(3600)
    kit.sync()
    assert kit.xero_writes() == writes
    there = kit.xero_state.record("Invoices", invoice["InvoiceID"])
    assert posting.dates.xero_date(there["DueDate"], record="test").isoformat() == "2026-03-01"


def test_an_invoice_voided_in_xero_asks_a_person_to_archive_it_there_once(
    kit: SyncHarness,
) -> None:
    contact, invoice, mine = _sent(kit, "Kestrel Engineering", 100.0)
    kit.clock.advance(3600)
    kit.xero_write(
        "Invoice",
        {
            "InvoiceID": invoice["InvoiceID"],
            "Status": "VOIDED",
            "Contact": {"ContactID": contact["ContactID"]},
        },
    )
    kit.clock.advance(3600)
    kit.sync()
    kit.sync(full=True)
    assert mine["status"] == "open"  # never archived for the person
    entries = _actions(kit)
    assert len(entries) == 1
    assert f"invoice {invoice['InvoiceNumber']} was voided in Xero: archive it" in entries[0]
    assert entries[0].endswith(f"/invoices/{mine['id']}")


def _actions(kit: SyncHarness) -> list[str]:
    from sqlmodel import select

    from xerobridge.store.models import ActionLog

    with kit.store.transaction() as s:
        rows = s.exec(select(ActionLog).where(ActionLog.source_id == kit.source.id)).all()
        return [r.message for r in rows if r.level == "action"]


def test_a_payment_on_the_platforms_own_invoice_is_receive_money_from_the_payer(
    kit: SyncHarness,
) -> None:
    kit.sync()
    state = kit.source_state
    own = [p for p in state.payments.values() if p["type"] == "payment"]
    received = {t["Reference"]: t for t in kit.xero("BankTransactions") if t["Type"] == "RECEIVE"}
    payer = [c for c in kit.xero("Contacts") if c["Name"] == "Alternative Payments"]
    assert len(payer) == 1
    for payment in own:
        txn = received[f"KIT-PAY-{payment['id']}"]
        assert _cents(txn["Total"]) == payment["sub_total"]
        assert txn["Contact"]["ContactID"] == payer[0]["ContactID"]
    # None of the platform's own customers or invoices became Xero contacts or invoices.
    names = {c["Name"] for c in kit.xero("Contacts")}
    assert not names & {c["name"] for c in state.customers.values()}
    assert not [i for i in kit.xero("Invoices") if i["Type"] == "ACCREC"]


@pytest.mark.parametrize("handling", ["record_refund", "delete_payment"])
def test_a_refund_is_spend_money_and_a_full_one_can_delete_the_payment_instead(
    xb_harness: Harness, xb_clock: FakeClock, handling: str
) -> None:
    kit = _kit(xb_harness, xb_clock, refund_handling=handling)
    _contact, invoice, mine = _sent(kit, "Harbor View Hotel", 100.0)
    state = kit.source_state
    kit.clock.advance(3600)
    payment = state.pay_invoice(mine["id"])
    kit.sync()
    assert kit.xero_state.record("Invoices", invoice["InvoiceID"])["Status"] == "PAID"
    kit.clock.advance(3600)
    refund = state.refund(payment["id"])
    kit.sync()
    there = kit.xero_state.record("Invoices", invoice["InvoiceID"])
    spent = [t for t in kit.xero("BankTransactions") if t["Reference"] == f"KIT-REV-{refund['id']}"]
    if handling == "record_refund":
        assert there["Status"] == "PAID" and _cents(spent[0]["Total"]) == payment["sub_total"]
    else:
        assert there["Status"] == "AUTHORISED" and spent == []
        (gone,) = [p for p in kit.xero("Payments") if p["Reference"] == f"KIT-PAY-{payment['id']}"]
        assert gone["Status"] == "DELETED"
    assert kit.failures() == []


def _notify(kit: SyncHarness, event: dict[str, Any], secret: str) -> httpx.Response:
    """One webhook delivery, as the platform makes it, to the daemon's notify route."""
    app = create_web_app(kit.store, plugins=kit.plugins)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://daemon") as client:
            return await client.post(
                f"/sources/{kit.source.name}/notify",
                content=dumps(event),
                headers={"Authorization": f"Bearer {secret}"},
            )

    return kit.run(go())


def test_hook_read_notification_reads_the_payment_a_webhook_names_once(
    kit: SyncHarness,
) -> None:
    _contact, invoice, mine = _sent(kit, "Ironclad Security", 80.0)
    state = kit.source_state
    kit.clock.advance(60)
    payment = state.pay_invoice(mine["id"])
    (event,) = [e for e in state.events.values() if e["data"].get("id") == payment["id"]]
    assert _notify(kit, event, "wrong-secret-0123456789").status_code == 401
    answer = _notify(kit, event, state.webhook_secret)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"queued": 1, "streams": ["payments"], "keys": 1}
    kit.run(kit.engine.worker.run_until_idle(max_wait=5))  # only what the webhook queued
    assert kit.xero_state.record("Invoices", invoice["InvoiceID"])["Status"] == "PAID"
    writes = kit.xero_writes()
    assert _notify(kit, event, state.webhook_secret).status_code == 202  # replayed
    kit.run(kit.engine.worker.run_until_idle(max_wait=5))
    assert kit.xero_writes() == writes
    paid = [p for p in kit.xero("Payments") if p["Reference"] == f"KIT-PAY-{payment['id']}"]
    assert len(paid) == 1
    # A topic the plugin does not read is taken and reads nothing.
    created = next(e for e in state.events.values() if e["topic"] == "invoice_created")
    assert _notify(kit, created, state.webhook_secret).json()["queued"] == 0
    assert _notify(kit, {"topic": "nonsense", "id": "x"}, state.webhook_secret).status_code == 400


def _status(kit: SyncHarness) -> str:
    from xerobridge.config import sources

    with kit.store.transaction() as s:
        return sources.status(s, sources.get(s, kit.source.name), kit.spec)


def test_the_last_twelve_months_come_first_then_history_and_only_then_connected(
    kit: SyncHarness,
) -> None:
    from sqlmodel import select

    from xerobridge.store.models import Connection

    old = _customer(kit, "Old Customer", "ap@old.example")
    _invoice(kit, old, 10.0)
    kit.clock.advance(timedelta(days=400).total_seconds())
    recent = _customer(kit, "Recent Customer", "ap@recent.example")
    _invoice(kit, recent, 20.0)

    def limit(calls: int) -> None:
        with kit.store.transaction() as s:
            conn = s.exec(select(Connection)).one()
            conn.daily_limit = calls
            s.add(conn)

    limit(1000)  # less than history keeps in reserve is left of the day: history waits
    kit.sync()
    names = {c["name"] for c in kit.source_state.customers.values() if c["external_id"]}
    assert names == {"Recent Customer"}
    assert _status(kit) == "pending"
    limit(5000)
    kit.sync()
    names = {c["name"] for c in kit.source_state.customers.values() if c["external_id"]}
    assert names == {"Recent Customer", "Old Customer"}
    assert _status(kit) == "connected"
    assert kit.failures() == []


def test_a_contact_without_email_fails_alone_and_its_invoice_follows_it_once_fixed(
    kit: SyncHarness,
) -> None:
    nobody = kit.xero_write("Contact", {"Name": "No Email Ltd"})
    invoice = _invoice(kit, nobody, 30.0)
    fine = _invoice(kit, _customer(kit, "Has Email Ltd", "ap@has.example"), 40.0)
    kit.sync()
    failed = {r.stream: r.message for r in kit.failures()}
    assert "Xero contact 'No Email Ltd' has no email address" in failed["customers"]
    assert "add one to the contact in Xero" in failed["customers"]
    assert (
        f"customers {nobody['ContactID'].lower()} from Xero, which did not come"
        in (failed["invoices"])
    )
    ours = {i["external_id"] for i in kit.source_state.invoices.values() if i["external_id"]}
    assert ours == {fine["InvoiceID"]}
    assert [j for j in kit.jobs() if j.state == "queued"] == []  # nothing goes round in circles
    kit.clock.advance(600)
    kit.xero_write("Contact", {"ContactID": nobody["ContactID"], "EmailAddress": "ap@no.example"})
    kit.sync()
    ours = {i["external_id"] for i in kit.source_state.invoices.values() if i["external_id"]}
    assert ours == {fine["InvoiceID"], invoice["InvoiceID"]}
    assert kit.jobs() == []
