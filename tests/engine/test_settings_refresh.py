"""A settings change made while the workers run takes effect within seconds, without a restart."""

from __future__ import annotations

from sqlmodel import col, select

from xerobridge.clock import FakeClock
from xerobridge.config import sources
from xerobridge.contract.plugins import Plugins
from xerobridge.store.db import Store
from xerobridge.store.models import Job, SyncLog
from xerobridge.sync.engine import Engine
from xerobridge.sync.runtimes import Runtimes

import engine_plugin
from engine_helpers import run


def source_id(store: Store) -> int:
    with store.transaction() as s:
        found = sources.get(s, "shop").id
    assert found is not None
    return found


def test_a_changed_setting_is_used_after_the_recheck(
    engine: Engine, store: Store, plugins: Plugins, clock: FakeClock
) -> None:
    shop = source_id(store)
    before = engine.runtimes.get(shop)
    assert before.ctx.settings.sales_account == "Sales"  # type: ignore[attr-defined]
    # The accounts `setup-accounts` creates, from the spec, for the context's AccountBook.
    assert before.ctx.account_settings == {"bank_account", "sales_account"}

    sources.update_settings(store, plugins.spec("enginetest"), "shop", {"sales_account": "Web"})
    assert engine.runtimes.get(shop) is before  # within the recheck: no query, no rebuild
    clock.advance(Runtimes.RECHECK.total_seconds())
    after = engine.runtimes.get(shop)
    assert after.ctx.settings.sales_account == "Web"  # type: ignore[attr-defined]
    assert after.ctx.http is before.ctx.http  # the client and its connections are kept

    clock.advance(Runtimes.RECHECK.total_seconds())
    assert engine.runtimes.get(shop) is after  # nothing changed: the same runtime


def test_a_stream_switched_off_while_running_is_not_read(
    engine: Engine, store: Store, plugins: Plugins, clock: FakeClock
) -> None:
    engine_plugin.put("customers", "1", clock.now(), name="Ann", email="a@ex.com")
    run(engine.sync())
    engine_plugin.READS.clear()
    sources.update_settings(
        store, plugins.spec("enginetest"), "shop", {"disabled_streams": "invoices"}
    )
    clock.advance(600)
    run(engine.sync())
    read = {stream for stream, _, _ in engine_plugin.READS}
    assert "customers" in read and "invoices" not in read


def test_a_failed_record_of_a_stream_switched_off_leaves_the_queue_saying_why(
    engine: Engine, store: Store, plugins: Plugins, clock: FakeClock
) -> None:
    engine_plugin.put("customers", "1", clock.now(), name="Ann", email="a@ex.com")
    engine_plugin.put("invoices", "7", clock.now(), customer=1, amount=-5)
    run(engine.sync())
    with store.transaction() as s:
        (dead,) = s.exec(select(Job).where(Job.state == "dead")).all()
    assert (dead.stream, dead.record_key) == ("invoices", "7")

    sources.update_settings(
        store, plugins.spec("enginetest"), "shop", {"disabled_streams": "invoices"}
    )
    assert engine.queue.retry_failed(source_id=source_id(store)) == 1  # as saving settings does
    clock.advance(600)
    run(engine.sync())
    with store.transaction() as s:
        assert s.exec(select(Job).where(Job.kind == "push")).all() == []
        row = s.exec(select(SyncLog).where(SyncLog.record_key == "7")
                     .order_by(col(SyncLog.id).desc())).first()  # fmt: skip
    assert row is not None and (row.action, row.status) == ("skipped", "success")
    assert row.message == "stream invoices is switched off (the source's disabled_streams)"
