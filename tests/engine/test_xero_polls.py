"""Without webhooks, Xero's changes still reach the source: an If-Modified-Since poll every few
minutes files them as events, once, and our own writes' echoes are dropped as for webhooks."""

from __future__ import annotations

from sqlmodel import select

from xerobridge.clock import FakeClock
from xerobridge.sandboxes.xero import SandboxState
from xerobridge.store.db import Store
from xerobridge.store.models import SyncLog, XeroEventRow
from xerobridge.sync.engine import Engine

import engine_plugin
from engine_helpers import run


def applied(store: Store) -> list[str]:
    with store.transaction() as s:
        return [r.message for r in s.exec(select(SyncLog)) if r.stream.startswith("xero:")]


def test_a_rename_in_xero_is_found_by_the_poll_and_our_echoes_are_dropped(
    engine: Engine, store: Store, sandbox: SandboxState, clock: FakeClock
) -> None:
    now = clock.now()
    for key in ("1", "2"):
        engine_plugin.put("customers", key, now, name=f"Customer {key}", email=f"{key}@ex.com")
    run(engine.sync())  # the first poll starts the watch without a call
    clock.advance(120)
    contact = next(c for c in sandbox.records("Contacts") if c["ContactNumber"] == "SHOP-C-1")
    sandbox.seed("Contacts", [{"ContactID": contact["ContactID"], "Name": "Renamed in Xero"}],
                 upsert=True)  # fmt: skip

    calls = engine.client.read_calls
    run(engine.sync())
    assert applied(store) == []  # not due yet: no poll, no event
    without_poll = engine.client.read_calls - calls

    clock.advance(300)
    calls = engine.client.read_calls
    run(engine.sync())
    # One call for the poll, one to read the renamed contact (echoes are dropped unread).
    assert engine.client.read_calls - calls == without_poll + 2
    assert engine_plugin.DATA["customers"]["1"]["name"] == "Renamed in Xero"
    messages = applied(store)
    # The poll sees each contact as it is now: customer 1 renamed (applied to the source) and
    # customer 2 as we created it (an echo, dropped).
    assert sorted(messages) == [
        "1 write(s) made in the source",
        "echo of our own write: dropped",
    ], messages
    with store.transaction() as s:
        filed = s.exec(select(XeroEventRow)).all()
    assert contact["ContactID"] in {e.resource_id for e in filed}

    # The next sync within the interval polls nothing and files nothing twice.
    calls = engine.client.read_calls
    run(engine.sync())
    assert engine.client.read_calls - calls == without_poll
    assert len(applied(store)) == 2


def test_workers_refresh_a_stale_mirror_before_they_push(
    engine: Engine, store: Store, sandbox: SandboxState, clock: FakeClock
) -> None:
    """A contact a person made in Xero meanwhile is matched, not duplicated, by the workers of
    the daemon (which push without the foreground sync's refresh)."""
    run(engine.sync())
    sandbox.seed("Contacts", [{"Name": "Dana Made In Xero"}])
    clock.advance(11 * 60)  # older than a worker lets the mirror be
    engine_plugin.put("customers", "9", clock.now(), name="Dana Made In Xero", email="d@ex.com")
    engine.queue_reads()
    run(engine.worker.run_until_idle(max_wait=0))
    named = [c for c in sandbox.records("Contacts") if c["Name"] == "Dana Made In Xero"]
    assert len(named) == 1 and named[0]["ContactNumber"] == "SHOP-C-9"
