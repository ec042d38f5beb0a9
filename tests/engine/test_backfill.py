"""A stream with a backfill span reads its history newest first; the source is pending until
the history has been read, and a failed history read is taken up again."""

from __future__ import annotations

from datetime import timedelta

from xerobridge.clock import FakeClock
from xerobridge.config import sources
from xerobridge.contract.plugins import Plugins
from xerobridge.sandboxes.xero import SandboxState
from xerobridge.store.db import Store
from xerobridge.sync.engine import Engine

import engine_plugin
from engine_helpers import run


def status(store: Store, plugins: Plugins) -> str:
    with store.transaction() as s:
        shop = sources.get(s, "shop")
        return sources.status(s, shop, plugins.spec("enginetest"))


def invoice_reads() -> list[tuple[str | None, str | None]]:
    return [
        (cursor, until) for stream, cursor, until in engine_plugin.READS if stream == "invoices"
    ]


def test_the_last_year_is_read_first_then_everything_older(
    engine: Engine, store: Store, plugins: Plugins, sandbox: SandboxState, clock: FakeClock
) -> None:
    now = clock.now()
    engine_plugin.put("customers", "1", now - timedelta(days=900), name="Ann", email="a@ex.com")
    engine_plugin.put("invoices", "old", now - timedelta(days=400), customer=1, amount=5.0)
    engine_plugin.put("invoices", "new", now - timedelta(days=10), customer=1, amount=7.0)
    assert status(store, plugins) == "pending"

    summary = run(engine.sync())

    year_ago = (now - timedelta(days=365)).isoformat()
    assert invoice_reads() == [(year_ago, None), (None, year_ago)]
    assert summary.failed == 0
    numbers = sorted(i["InvoiceNumber"] for i in sandbox.records("Invoices"))
    assert numbers == ["SHOP-new", "SHOP-old"]
    assert status(store, plugins) == "connected"

    # Later runs read from the cursor only: the history is not read again.
    engine_plugin.READS.clear()
    clock.advance(600)
    run(engine.sync())
    assert [until for _, until in invoice_reads()] == [None]


def test_a_failed_history_read_keeps_the_source_pending_and_is_taken_up_again(
    engine: Engine, store: Store, plugins: Plugins, sandbox: SandboxState, clock: FakeClock
) -> None:
    now = clock.now()
    engine_plugin.put("customers", "1", now, name="Ann", email="a@ex.com")
    engine_plugin.put("invoices", "old", now - timedelta(days=400), customer=1, amount=5.0)
    engine_plugin.put("invoices", "new", now - timedelta(days=10), customer=1, amount=7.0)
    engine_plugin.FAIL_HISTORY.add("invoices")

    run(engine.sync(max_wait=0))
    assert [i["InvoiceNumber"] for i in sandbox.records("Invoices")] == ["SHOP-new"]
    assert status(store, plugins) == "pending"

    engine_plugin.FAIL_HISTORY.clear()
    clock.advance(3600)  # past the failed read's backoff
    run(engine.sync())
    numbers = sorted(i["InvoiceNumber"] for i in sandbox.records("Invoices"))
    assert numbers == ["SHOP-new", "SHOP-old"]
    assert status(store, plugins) == "connected"


def test_a_stream_with_nothing_to_read_is_still_connected(
    engine: Engine, store: Store, plugins: Plugins
) -> None:
    run(engine.sync())
    assert status(store, plugins) == "connected"


def test_a_switched_off_source_says_so(store: Store, plugins: Plugins, source: str) -> None:
    with store.transaction() as s:
        shop = sources.get(s, source)
        shop.enabled = False
        s.add(shop)
    assert status(store, plugins) == "disabled"
