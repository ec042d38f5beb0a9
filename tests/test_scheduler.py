"""The scheduler's decisions on a FakeClock, on both stores: when each schedule fires, and that a
slot is fired once however many schedulers look at it."""

from __future__ import annotations

import importlib.util
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from xerobridge.clock import FakeClock
from xerobridge.config import sources
from xerobridge.contract.plugins import Plugins, register_module
from xerobridge.contract.settings import Schedule
from xerobridge.runtime.queue import NewJob, Queue
from xerobridge.runtime.scheduler import Due, Scheduler, latest_slot
from xerobridge.store.db import Store
from xerobridge.store.models import Job, ScheduleSlot, Source


def slow_plugin() -> Plugins:
    """The slow test plugin (tests/fixtures/plugins), loaded as an entry point would be."""
    if "xbtest_slow" not in sys.modules:
        path = Path(__file__).parent / "fixtures" / "plugins" / "xbtest_slow.py"
        spec = importlib.util.spec_from_file_location("xbtest_slow", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["xbtest_slow"] = module
        spec.loader.exec_module(module)
    info = register_module(sys.modules["xbtest_slow"], "slow")
    assert info.status == "ok", info.error
    return Plugins([info])


START = datetime(2026, 1, 1, tzinfo=UTC)


def at(text: str) -> datetime:
    """A UTC time from 'YYYY-MM-DD HH:MM:SS'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def move_to(clock: FakeClock, moment: datetime) -> None:
    """Set the fake clock to a moment (forward only)."""
    assert moment >= clock.now()
    clock.advance((moment - clock.now()).total_seconds())


@pytest.fixture
def plugins() -> Plugins:
    """Only the slow test plugin."""
    return slow_plugin()


def add_source(store: Store, plugins: Plugins, name: str, **values: str) -> int:
    """A source of the test plugin with the given settings; its id."""
    source = sources.add(store, plugins, "slow", name, values=values)
    assert source.id is not None
    return source.id


def fetches(store: Store) -> list[tuple[str, str, str]]:
    """The queued fetch jobs as (source, stream, state), sorted."""
    with store.transaction() as s:
        names = {src.id: src.name for src in s.exec(select(Source)).all()}
        jobs = s.exec(select(Job).where(Job.kind == "fetch")).all()
        return sorted((names[j.source_id], j.stream, j.state) for j in jobs)


def work_off(store: Store) -> None:
    """What the workers would do: every queued read runs and leaves the queue."""
    with store.transaction() as s:
        s.execute(sa.delete(Job))


def fired(scheduler: Scheduler) -> list[tuple[str, datetime]]:
    """One tick: the (source, slot) pairs it fired."""
    return [(due.source, due.slot) for due in scheduler.tick()]


# -- the calendar ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "now", "slot"),
    [
        ("every 5 minutes", "2026-03-04 10:07:30", "2026-03-04 10:05:00"),
        ("every 5 minutes", "2026-03-04 10:05:00", "2026-03-04 10:05:00"),
        ("every 60 minutes", "2026-03-04 10:59:59", "2026-03-04 10:00:00"),
        ("every 7 minutes", "1970-01-01 00:15:00", "1970-01-01 00:14:00"),
        ("daily at 02", "2026-03-04 01:59:59", "2026-03-03 02:00:00"),
        ("daily at 02", "2026-03-04 02:00:00", "2026-03-04 02:00:00"),
        ("daily at 23", "2026-03-04 12:00:00", "2026-03-03 23:00:00"),
        ("immediate", "2026-03-04 10:07:39.9", "2026-03-04 10:07:30"),
    ],
)
def test_latest_slot_is_the_newest_scheduled_time_not_after_now(
    schedule: str, now: str, slot: str
) -> None:
    """Slots are calendar times: whoever computes them, whenever, gets the same one."""
    assert latest_slot(Schedule.model_validate(schedule), at(now), poll=10) == at(slot)


# -- when reads are queued ------------------------------------------------------------------------


def test_interval_fires_a_new_source_at_once_then_every_n_minutes(
    store: Store, clock: FakeClock, plugins: Plugins
) -> None:
    """A new source is read at the first tick; then once per slot, never twice in one slot."""
    add_source(store, plugins, "shop", schedule="every 5 minutes")
    move_to(clock, at("2026-01-01 00:01:00"))
    scheduler = Scheduler(store, plugins, clock=clock)

    assert fired(scheduler) == [("shop", at("2026-01-01 00:00:00"))]
    assert fetches(store) == [("shop", "customers", "queued"), ("shop", "orders", "queued")]
    work_off(store)
    assert fired(scheduler) == []
    move_to(clock, at("2026-01-01 00:04:59"))
    assert fired(scheduler) == []
    assert fetches(store) == []

    move_to(clock, at("2026-01-01 00:05:00"))
    assert fired(scheduler) == [("shop", at("2026-01-01 00:05:00"))]
    assert len(fetches(store)) == 2
    with store.transaction() as s:
        row = s.exec(select(ScheduleSlot)).one()
    assert (row.slot, row.fired_at, row.task) == (
        at("2026-01-01 00:05:00"), at("2026-01-01 00:05:00"), "read"
    )  # fmt: skip


def test_missed_slots_are_caught_up_with_one_read(
    store: Store, clock: FakeClock, plugins: Plugins
) -> None:
    """Nobody scheduled for an hour: one read for the newest slot, not twelve."""
    add_source(store, plugins, "shop", schedule="every 5 minutes")
    scheduler = Scheduler(store, plugins, clock=clock)
    assert len(fired(scheduler)) == 1
    work_off(store)
    clock.advance(3600 + 90)
    assert fired(scheduler) == [("shop", at("2026-01-01 01:00:00"))]
    assert len(fetches(store)) == 2
    assert fired(scheduler) == []


def test_daily_fires_at_the_hour(store: Store, clock: FakeClock, plugins: Plugins) -> None:
    """Daily at 02:00 UTC: once at 02:00, not again until the next day's 02:00."""
    add_source(store, plugins, "shop", schedule="daily at 02")
    move_to(clock, at("2026-01-01 02:00:00"))
    scheduler = Scheduler(store, plugins, clock=clock)
    assert fired(scheduler) == [("shop", at("2026-01-01 02:00:00"))]
    work_off(store)
    for moment in ("2026-01-01 02:00:01", "2026-01-01 12:00:00", "2026-01-02 01:59:59"):
        move_to(clock, at(moment))
        assert fired(scheduler) == [], moment
    move_to(clock, at("2026-01-02 02:00:30"))
    assert fired(scheduler) == [("shop", at("2026-01-02 02:00:00"))]


def test_immediate_polls_every_few_seconds(
    store: Store, clock: FakeClock, plugins: Plugins
) -> None:
    """Immediate mode reads every `poll` seconds (a source without notifications is still read)."""
    add_source(store, plugins, "shop", schedule="immediate")
    scheduler = Scheduler(store, plugins, clock=clock, poll=10)
    times = []
    for _ in range(30):  # 30 s in ticks of a second
        if fired(scheduler):
            times.append(clock.now())
            work_off(store)
        clock.advance(1)
    assert times == [START, START + timedelta(seconds=10), START + timedelta(seconds=20)]


def test_a_schedule_change_is_read_at_the_next_tick(
    store: Store, clock: FakeClock, plugins: Plugins
) -> None:
    """Settings are read afresh on every tick: no restart after `settings set`."""
    add_source(store, plugins, "shop", schedule="daily at 02")
    scheduler = Scheduler(store, plugins, clock=clock, poll=10)
    assert len(fired(scheduler)) == 1  # the new source's first read
    work_off(store)
    clock.advance(15)
    assert fired(scheduler) == []
    spec = plugins.spec("slow")
    sources.update_settings(store, spec, "shop", {"schedule": "immediate"})
    assert fired(scheduler) == [("shop", START + timedelta(seconds=10))]


def test_disabled_sources_streams_and_missing_plugins_are_skipped(
    store: Store, clock: FakeClock, plugins: Plugins
) -> None:
    """Only enabled streams of enabled sources whose plugin is loaded are read."""
    add_source(store, plugins, "shop", disabled_streams="orders")
    off = add_source(store, plugins, "off")
    add_source(store, plugins, "all-off", disabled_streams="customers,orders")
    orphan = add_source(store, plugins, "orphan")
    with store.transaction() as s:
        s.execute(sa.update(Source).where(Source.id == off).values(enabled=False))
        s.execute(sa.update(Source).where(Source.id == orphan).values(plugin="uninstalled"))
    scheduler = Scheduler(store, plugins, clock=clock)
    assert [name for name, _slot in fired(scheduler)] == ["shop"]
    assert fetches(store) == [("shop", "customers", "queued")]


def test_a_waiting_read_is_not_merged_into(
    store: Store, clock: FakeClock, plugins: Plugins
) -> None:
    """A read backing off keeps its backoff and a queued full read stays full; a dead read is
    tried again once it has been dead a while."""
    shop = add_source(store, plugins, "shop", schedule="immediate")
    queue = Queue(store, clock=clock)
    queue.enqueue([NewJob(shop, "customers", "*", kind="fetch", payload={"full": True})])
    queue.enqueue([NewJob(shop, "orders", "*", kind="fetch")])
    with store.transaction() as s:
        s.execute(
            sa.update(Job)
            .where(Job.stream == "orders")
            .values(state="dead", updated_at=START, last_error="source down")
        )
        s.execute(
            sa.update(Job)
            .where(Job.stream == "customers")
            .values(run_after=START + timedelta(minutes=10))
        )
    scheduler = Scheduler(store, plugins, clock=clock, poll=10)
    assert len(fired(scheduler)) == 1
    with store.transaction() as s:
        jobs = {j.stream: j for j in s.exec(select(Job)).all()}
    assert jobs["customers"].payload == {"full": True}
    assert jobs["customers"].run_after == START + timedelta(minutes=10)
    assert jobs["orders"].state == "dead"

    clock.advance(5 * 60)
    assert len(fired(scheduler)) == 1
    with store.transaction() as s:
        jobs = {j.stream: j for j in s.exec(select(Job)).all()}
    assert (jobs["orders"].state, jobs["orders"].attempts) == ("queued", 0)
    assert jobs["customers"].run_after == START + timedelta(minutes=10)


# -- never twice ----------------------------------------------------------------------------------


def test_two_schedulers_fire_each_slot_once(
    store: Store, clock: FakeClock, plugins: Plugins
) -> None:
    """Two leaders overlapping (a failover, a deploy) fire each slot once between them."""
    add_source(store, plugins, "shop", schedule="every 5 minutes")
    a = Scheduler(store, plugins, clock=clock, owner="a")
    late = FakeClock(START + timedelta(seconds=40))  # the other one looks 40 s later
    b = Scheduler(Store(store.url, clock=late), plugins, clock=late, owner="b")
    try:
        total = 0
        for _ in range(6):
            total += len(fired(a)) + len(fired(b))
            work_off(store)
            clock.advance(300)
            late.advance(300)
        assert total == 6
    finally:
        b.store.dispose()


def test_racing_schedulers_fire_each_slot_once(
    store: Store, clock: FakeClock, plugins: Plugins
) -> None:
    """Schedulers firing the same slot at the same instant, in threads: one wins each slot."""
    shop = add_source(store, plugins, "shop", schedule="every 5 minutes")
    schedulers = [
        Scheduler(Store(store.url, clock=clock), plugins, clock=clock, owner=f"s{n}")
        for n in range(3)
    ]
    wins: list[datetime] = []
    lock = threading.Lock()
    try:
        for n in range(10):
            due = Due(shop, "shop", START + timedelta(minutes=5 * n), ("customers",), None)
            barrier = threading.Barrier(len(schedulers))

            def race(scheduler: Scheduler, due: Due = due, barrier: threading.Barrier = barrier):
                barrier.wait()
                if scheduler.fire(due):
                    with lock:
                        wins.append(due.slot)

            threads = [threading.Thread(target=race, args=(s,)) for s in schedulers]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
            work_off(store)
        assert sorted(wins) == [START + timedelta(minutes=5 * n) for n in range(10)]
        # An older slot never fires after a newer one.
        assert not schedulers[0].fire(Due(shop, "shop", START, ("customers",), None))
    finally:
        for s in schedulers:
            s.store.dispose()
