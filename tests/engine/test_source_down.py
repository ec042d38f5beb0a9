"""A source that cannot be read (down, unreachable) is never pushed and costs its records
nothing: the pass ends at once saying why, its jobs wait without spending attempts, one line
reaches the action log, and the records come once the source is back."""

from __future__ import annotations

from sqlmodel import select

from xerobridge.clock import FakeClock
from xerobridge.config import sources
from xerobridge.sandboxes.xero import SandboxState
from xerobridge.store.db import Store
from xerobridge.store.models import ActionLog, Job, SyncLog
from xerobridge.sync.engine import Engine

import engine_plugin
from engine_helpers import run

DOWN = "could not reach the shop at http://127.0.0.1:9; check its base_url"


def test_an_unreachable_source_ends_the_pass_at_once_and_waits_without_attempts(
    engine: Engine, sandbox: SandboxState, store: Store, clock: FakeClock
) -> None:
    engine_plugin.put("customers", "1", clock.now(), name="Acme Ltd")
    engine_plugin.UNREACHABLE.add("customers")
    started = clock.now()
    for _ in range(12):  # a day of retries, as the daemon would make them
        summary = run(engine.sync(max_wait=120))
        assert summary.unavailable == {"shop": DOWN}
        assert summary.failed == 0
        clock.advance(7200)
    # Each pass ended at once: no waiting on the clock for the source's backoff.
    assert (clock.now() - started).total_seconds() == 12 * 7200
    with store.transaction() as s:
        (job,) = s.exec(select(Job).where(Job.stream == "customers")).all()
        assert (job.state, job.attempts) == ("queued", 0)
        actions = s.exec(select(ActionLog).where(ActionLog.message == DOWN)).all()
        rows = s.exec(select(SyncLog).where(SyncLog.message == DOWN)).all()
    assert len(actions) == 1  # said once, not once per retry
    with store.transaction() as s:
        shown = sources.as_dict(s, sources.get(s, "shop"), engine.plugins)
    assert (shown["status"], shown["reason"]) == ("error", DOWN)
    assert rows and all(r.status == "error" for r in rows)
    assert not [c for c in sandbox.records("Contacts") if c["Name"] == "Acme Ltd"]

    engine_plugin.UNREACHABLE.clear()
    clock.advance(7200)
    back = run(engine.sync())
    assert back.unavailable == {} and back.failed == 0
    with store.transaction() as s:
        shown = sources.as_dict(s, sources.get(s, "shop"), engine.plugins)
    assert (shown["status"], shown["reason"]) == ("connected", "")
    assert [c["Name"] for c in sandbox.records("Contacts") if c["Name"] == "Acme Ltd"] == [
        "Acme Ltd"
    ]
