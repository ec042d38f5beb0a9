"""What a source bills once only (a subscription's period) is on one Xero document: the core
holds it for the first record that writes it, however the records race."""

from __future__ import annotations

from xerobridge.clock import FakeClock
from xerobridge.config import sources
from xerobridge.sandboxes.xero import SandboxState
from xerobridge.store import claims
from xerobridge.store.db import Store
from xerobridge.sync.engine import Engine

import engine_plugin
from engine_helpers import run


def _descriptions(sandbox: SandboxState) -> dict[str, list[str]]:
    return {i["InvoiceNumber"]: [x["Description"] for x in i["LineItems"]]
            for i in sandbox.records("Invoices")}  # fmt: skip


def test_a_period_two_records_bill_goes_on_the_invoice_written_first(
    engine: Engine, sandbox: SandboxState, clock: FakeClock
) -> None:
    now = clock.now()
    engine_plugin.put("customers", "1", now, name="Customer 1", email="1@ex.com")
    engine_plugin.put("invoices", "a", now, customer=1, periods=["sub-1/jan"])
    engine_plugin.put("invoices", "b", now, customer=1, periods=["sub-1/jan", "sub-1/feb"])
    summary = run(engine.sync())
    assert summary.failed == 0
    invoices = _descriptions(sandbox)
    # Both went in one batch; the period is on exactly one of them, the other has the rest.
    assert sorted(invoices) == ["SHOP-a", "SHOP-b"]
    billed = [d for lines in invoices.values() for d in lines]
    assert sorted(billed) == ["Period sub-1/feb", "Period sub-1/jan"]

    # A later record billing it again (a renewal sent twice) bills only what is its own.
    clock.advance(600)
    engine_plugin.put("invoices", "c", clock.now(), customer=1, periods=["sub-1/jan", "sub-1/mar"])
    again = run(engine.sync())
    assert again.failed == 0
    after = _descriptions(sandbox)
    assert after["SHOP-c"] == ["Period sub-1/mar"]
    assert {k: v for k, v in after.items() if k != "SHOP-c"} == invoices


def test_a_claim_is_held_by_its_first_taker_and_given_back_only_by_it(
    store: Store, source: str
) -> None:
    with store.transaction() as s:
        source_id = sources.get(s, source).id
    assert source_id is not None
    now = FakeClock().now()
    a, b = ("orders", "a", "main"), ("orders", "b", "main")
    with store.transaction() as s:
        assert claims.take(s, source_id, a, ["p1", "p2"], now) == {}
    with store.transaction() as s:
        assert claims.take(s, source_id, b, ["p2", "p3"], now) == {"p2": a}
        assert claims.take(s, source_id, a, ["p1"], now) == {}  # its own again: held still
        assert claims.holders(s, source_id, ["p1", "p2", "p3"]) == {"p1": a, "p2": a}
    with store.transaction() as s:
        claims.release(s, source_id, b)  # not b's to give back
        claims.release(s, source_id, a, ["p2"])
    with store.transaction() as s:
        assert claims.take(s, source_id, b, ["p2", "p3"], now) == {}
        assert claims.holders(s, source_id, ["p1", "p2", "p3"]) == {"p1": a, "p2": b, "p3": b}
