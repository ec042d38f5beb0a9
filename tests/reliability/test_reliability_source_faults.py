"""Source faults (issue 7, reliability item 4): a Magento store that times out, fails with a
500, or answers a page malformed or repeated, in the middle of a read.

The read's cursor is committed with each chunk of queued jobs, so a read that breaks part way
keeps what it queued; the invariant is that the cursor never passes a record that was not
queued. Each fault strikes the third page of the customers' read (10 a page, the intake
committing every 10 records); the pass that meets it is stopped there and the saved cursor is
checked against what was queued; the next pass finishes, and Xero holds each record once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from xerobridge.clock import FakeClock
from xerobridge.store.cursors import read as read_cursor
from xerobridge.sync import intake
from xerobridge_magento.client import parse_time

from reliability_helpers import TIMEOUT, World, assert_once, assert_settled

CUSTOMERS, PRODUCTS = 120, 5
PAGE = 10  # the intake's chunk, and the source's page size

#: name -> the sandbox fault (status None: the answer is spoiled instead, see Fault.answer).
FAULTS = {
    "timeout": {"status": None, "delay": TIMEOUT + 15},
    "500": {"status": 500},
    "503": {"status": 503, "retry_after": 30},
    "truncated": {"status": None, "answer": "truncated"},
    "html-page": {"status": None, "answer": "html"},
    "broken-record": {"status": None, "answer": "broken-record"},
    "repeated-page": {"status": None, "answer": "repeat"},
}


@pytest.fixture
def world(store_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The two sandboxes and the engine; the intake commits every page."""
    monkeypatch.setattr(intake, "CHUNK", PAGE)
    w = World(store_url, clock, extra_settings={"page_size": str(PAGE)})
    yield w
    w.close()


def queued_or_done(world: World, stream: str) -> set[str]:
    """Keys of a stream that reached the queue: still queued, linked, or logged."""
    keys = {j.record_key for j in world.jobs() if j.kind == "push" and j.stream == stream}
    keys |= {k.record_key for k in world.links() if k.stream == stream}
    keys |= {r.record_key for r in world.log() if r.stream == stream and r.action != "fetched"}
    return keys - {"*"}  # a read of the whole stream that failed is logged too


def assert_cursor_behind_every_unqueued_record(world: World) -> datetime:
    """Every customer older than the saved cursor was queued; the cursor, for more checks."""
    with world.store.transaction() as s:
        saved = read_cursor(s, world.source.id, "customers")  # type: ignore[arg-type]
    assert saved is not None, "the read committed nothing before the fault"
    cursor = datetime.fromisoformat(saved)
    queued = queued_or_done(world, "customers")
    passed = [
        str(c["id"])
        for c in world.shop.customers
        if parse_time(c["updated_at"]) < cursor and str(c["id"]) not in queued
    ]
    assert not passed, f"the cursor {saved} is past customers never queued: {passed[:10]}"
    return cursor


def test_faults_mid_read_never_move_the_cursor_past_an_unqueued_record(world: World) -> None:
    """Pass after pass, each meeting another fault on its third page: each read stops there
    with its first pages queued and the cursor on the newest of them, having moved on from the
    pass before; a last pass finishes, and every record reaches Xero exactly once."""
    # Three minutes apart: past the lookback (2 minutes) each read starts with, so each pass
    # has new records to read before its fault.
    customers = world.add_customers(CUSTOMERS, every=180)
    products = world.add_products(PRODUCTS)
    stamps = {str(c["id"]): parse_time(c["updated_at"]) for c in world.shop.customers}
    before: datetime | None = None
    for name, fault in FAULTS.items():
        world.shop.add_fault(path="/V1/customers", after=2, **fault)  # the third page
        world.sync(max_wait=0)  # no waiting for the read's retry
        assert not world.shop.faults, f"{name}: the fault never played"
        cursor = assert_cursor_behind_every_unqueued_record(world)
        # The cursor stands on the newest record queued, it moved on, and the rest of the
        # store was not read: the check above had records to catch.
        queued = queued_or_done(world, "customers")
        assert cursor == max(stamps[k] for k in queued), name
        assert before is None or cursor > before, name
        assert len(queued) < CUSTOMERS, name
        fetch = [j for j in world.jobs() if j.kind == "fetch" and j.stream == "customers"]
        assert len(fetch) == 1 and "Magento" in str(fetch[0].last_error), name
        before = cursor
        world.clock.advance(600)  # past any backoff, or a person's look at a held read

    last = world.sync()
    assert last.failed == 0, last.streams
    assert_once("contacts", world.contact_numbers(), world.expected_contacts(customers))
    assert_once("items", world.item_codes(), world.expected_items(products))
    assert_settled(world)
    assert world.sandbox.violations == []


def test_a_store_down_for_a_whole_pass_loses_nothing(world: World) -> None:
    """Every customers request fails for a pass (503s): nothing is queued, the cursor stays
    unset, the products still sync; the next pass syncs the customers."""
    customers = world.add_customers(30)
    products = world.add_products(5)
    world.shop.add_fault(503, path="/V1/customers", times=0)  # until cleared
    world.sync(max_wait=0)
    with world.store.transaction() as s:
        assert read_cursor(s, world.source.id, "customers") is None  # type: ignore[arg-type]
    assert world.contact_numbers() == []
    assert_once("items", world.item_codes(), world.expected_items(products))
    world.shop.faults.clear()
    world.clock.advance(600)
    world.sync()
    assert_once("contacts", world.contact_numbers(), world.expected_contacts(customers))
    assert_settled(world)


def test_records_edited_during_a_broken_read_are_not_skipped(world: World) -> None:
    """A customer edited while the read is broken (so it moves to the end of the order) is
    read by the next pass, and its contact is updated, not made twice."""
    customers = world.add_customers(60)
    world.shop.add_fault(path="/V1/customers", after=1, status=500)
    world.sync(max_wait=0)
    world.clock.advance(5)
    world.shop.edit_customer(customers[0], firstname="Augusta")
    world.shop.edit_customer(customers[-1], firstname="Ada-Late")
    world.clock.advance(600)
    world.sync()
    assert_once("contacts", world.contact_numbers(), world.expected_contacts(customers))
    names = {c["ContactNumber"]: c["Name"] for c in world.sandbox.records("Contacts")}
    assert names[next(iter(world.expected_contacts(customers[:1])))].startswith("Augusta")
    assert names[next(iter(world.expected_contacts(customers[-1:])))].startswith("Ada-Late")
    assert_settled(world)
