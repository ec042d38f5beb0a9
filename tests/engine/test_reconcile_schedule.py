"""Records deleted at the source without trace are searched for on the source's reconcile
calendar: the scheduler queues the search once per slot, and a worker carries it out."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import select

from xerobridge.clock import FakeClock
from xerobridge.config import sources
from xerobridge.contract.plugins import Plugins
from xerobridge.contract.settings import Schedule
from xerobridge.runtime.scheduler import RECONCILE, Scheduler, latest_slot
from xerobridge.sandboxes.xero import SandboxState
from xerobridge.store.db import Store
from xerobridge.store.models import Job, SyncLog
from xerobridge.sync.engine import Engine

import engine_plugin
from engine_helpers import run


def move_to(clock: FakeClock, moment: datetime) -> None:
    clock.advance((moment - clock.now()).total_seconds())


def reconcile_jobs(store: Store) -> list[str]:
    with store.transaction() as s:
        jobs = s.exec(select(Job).where(Job.kind == "fetch", Job.record_key == "#reconcile"))
        return [job.stream for job in jobs]


def test_a_deleted_customer_is_found_at_the_reconcile_hour_once(
    engine: Engine, store: Store, plugins: Plugins, sandbox: SandboxState, clock: FakeClock
) -> None:
    sources.update_settings(store, plugins.spec("enginetest"), "shop", {"reconcile": "daily at 04"})
    now = clock.now()
    for key in ("1", "2"):
        engine_plugin.put("customers", key, now, name=f"Customer {key}", email=f"{key}@ex.com")
    run(engine.sync())
    del engine_plugin.DATA["customers"]["2"]

    scheduler = Scheduler(store, plugins, clock=clock)
    # A new source's first tick fires the newest slot of both calendars.
    assert RECONCILE in {due.task for due in scheduler.tick()}
    assert reconcile_jobs(store) == ["customers"]
    assert RECONCILE not in {due.task for due in scheduler.tick()}  # each slot fires once

    run(engine.worker.run_until_idle(max_wait=0))
    with store.transaction() as s:
        rows = list(s.exec(select(SyncLog)))
    assert "searched for deletions: 1 gone (2)" in [row.message for row in rows]
    deletions = [row for row in rows if row.record_key == "2" and "deleted" in row.message]
    assert [(row.action, row.message) for row in deletions] == [
        ("skipped", "customers 2 was deleted at the source")
    ]

    # The next search is at the next 04:00, and only then.
    next_slot = latest_slot(Schedule(mode="daily", hour=4), clock.now()) + timedelta(days=1)
    move_to(clock, next_slot - timedelta(minutes=1))
    assert RECONCILE not in {due.task for due in scheduler.tick()}
    move_to(clock, next_slot)
    assert RECONCILE in {due.task for due in scheduler.tick()}
