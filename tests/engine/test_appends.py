"""Records that add lines to one shared document (a customer's invoice for the month): one
invoice holds each record's lines once, whatever is edited, lost or written at the same time,
and lines a person added in Xero stay."""

from __future__ import annotations

from typing import Any

from xerobridge.clock import FakeClock
from xerobridge.config import sources
from xerobridge.sandboxes.xero import SandboxState
from xerobridge.store import synclog
from xerobridge.store.db import Store
from xerobridge.sync import doclocks
from xerobridge.sync.engine import Engine

import engine_plugin
from engine_helpers import run


def setup_usage(clock: FakeClock) -> None:
    now = clock.now()
    for key in ("1", "2"):
        engine_plugin.put("customers", key, now, name=f"Customer {key}", email=f"{key}@ex.com")
    charges = [("u1", 1, "Seats x 10", 100.0), ("u2", 1, "Storage", 20.5),
               ("u3", 1, "Support", 50.0), ("u4", 2, "Seats x 2", 20.0)]  # fmt: skip
    for key, customer, what, amount in charges:
        engine_plugin.put("usage", key, now, customer=customer, month="2026-01", what=what,
                          amount=amount)  # fmt: skip


def monthly(sandbox: SandboxState, customer: str) -> list[dict[str, Any]]:
    number = f"SHOP-M-{customer}-2026-01"
    return [i for i in sandbox.records("Invoices") if i["InvoiceNumber"] == number]


def lines(invoice: dict[str, Any]) -> list[tuple[str, float]]:
    return sorted((line["Description"], float(line["UnitAmount"])) for line in invoice["LineItems"])


def test_each_customers_charges_are_lines_of_one_invoice(
    engine: Engine, sandbox: SandboxState, clock: FakeClock
) -> None:
    setup_usage(clock)
    summary = run(engine.sync())
    assert summary.failed == 0
    (first,) = monthly(sandbox, "1")
    assert lines(first) == [
        ("Seats x 10 [SHOP:usage:u1]", 100.0),
        ("Storage [SHOP:usage:u2]", 20.5),
        ("Support [SHOP:usage:u3]", 50.0),
    ]
    (second,) = monthly(sandbox, "2")
    assert lines(second) == [("Seats x 2 [SHOP:usage:u4]", 20.0)]

    clock.advance(600)
    again = run(engine.sync(full=True))
    assert again.write_calls == 0  # nothing changed: no read, no write


def test_an_edited_charge_changes_its_own_line_only_and_a_persons_line_stays(
    engine: Engine, sandbox: SandboxState, clock: FakeClock
) -> None:
    setup_usage(clock)
    run(engine.sync())
    (invoice,) = monthly(sandbox, "1")
    added = {"Description": "Discount agreed by phone", "Quantity": 1, "UnitAmount": -10.0,
             "AccountCode": "200", "TaxType": "OUTPUT"}  # fmt: skip
    edited = {"InvoiceID": invoice["InvoiceID"], "LineItems": [*invoice["LineItems"], added]}
    sandbox.seed("Invoices", [edited], upsert=True)
    clock.advance(120)
    engine_plugin.put("usage", "u2", clock.now(), customer=1, month="2026-01", what="Storage",
                      amount=35.0)  # fmt: skip
    run(engine.sync())
    (after,) = monthly(sandbox, "1")
    assert after["InvoiceID"] == invoice["InvoiceID"]
    assert lines(after) == [
        ("Discount agreed by phone", -10.0),
        ("Seats x 10 [SHOP:usage:u1]", 100.0),
        ("Storage [SHOP:usage:u2]", 35.0),
        ("Support [SHOP:usage:u3]", 50.0),
    ]


def test_lost_answers_never_add_a_line_twice(
    engine: Engine, sandbox: SandboxState, clock: FakeClock
) -> None:
    setup_usage(clock)
    sandbox.faults.add("lost-response", probability=0.5, methods=("POST", "PUT"))
    summary = run(engine.sync())
    for _ in range(6):
        if summary.failed == 0 and len(monthly(sandbox, "1")) == 1:
            break
        clock.advance(120)
        summary = run(engine.sync())
    sandbox.faults.clear()
    clock.advance(120)
    run(engine.sync())
    (invoice,) = monthly(sandbox, "1")
    assert [d for d, _ in lines(invoice)] == [
        "Seats x 10 [SHOP:usage:u1]", "Storage [SHOP:usage:u2]", "Support [SHOP:usage:u3]"
    ]  # fmt: skip


def test_an_approved_invoice_takes_no_more_lines_and_says_why(
    engine: Engine, store: Store, sandbox: SandboxState, clock: FakeClock
) -> None:
    setup_usage(clock)
    run(engine.sync())
    (invoice,) = monthly(sandbox, "1")
    sandbox.seed("Invoices", [{"InvoiceID": invoice["InvoiceID"], "Status": "AUTHORISED"}],
                 upsert=True)  # fmt: skip
    clock.advance(120)
    engine_plugin.put("usage", "u5", clock.now(), customer=1, month="2026-01", what="Extra",
                      amount=5.0)  # fmt: skip
    summary = run(engine.sync(max_wait=0))
    assert summary.failed == 1
    with store.transaction() as s:
        (row,) = synclog.query(s, synclog.LogFilter(status="error"))
    assert row.record_key == "u5"
    assert "is AUTHORISED in Xero, so lines can no longer be added" in row.message


def test_one_writer_at_a_time_per_document(store: Store, store_url: str) -> None:
    other = Store(store_url)
    try:
        with doclocks.hold(store, "1:Invoice:SHOP-M-1") as first:
            with doclocks.hold(other, "1:Invoice:SHOP-M-1") as second:
                assert first and not second
            with doclocks.hold(other, "1:Invoice:SHOP-M-2") as elsewhere:
                assert elsewhere  # another document is free
        with doclocks.hold(other, "1:Invoice:SHOP-M-1") as after:
            assert after  # released when the holder is done
    finally:
        other.dispose()


def test_a_job_finding_the_document_locked_waits_without_failing(
    engine: Engine, store: Store, sandbox: SandboxState, clock: FakeClock
) -> None:
    setup_usage(clock)
    engine_plugin.DATA["usage"] = {k: v for k, v in engine_plugin.DATA["usage"].items()
                                   if k == "u4"}  # fmt: skip
    with store.transaction() as s:
        connection_id = sources.get(s, "shop").connection_id
    other = Store(store.url)
    with doclocks.hold(other, f"{connection_id}:Invoice:SHOP-M-2-2026-01") as held:
        assert held
        summary = run(engine.sync(max_wait=0))
        assert summary.failed == 0
        assert monthly(sandbox, "2") == []
    other.dispose()
    clock.advance(60)
    run(engine.sync())
    assert len(monthly(sandbox, "2")) == 1
