"""Payouts become Xero bank transfers exactly once: written in a batch, skipped when unchanged,
found again by their Reference after a lost answer, never changed in place (Xero cannot), and
a refused one fails alone."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from xerobridge.clock import FakeClock
from xerobridge.runtime.queue import Queue
from xerobridge.sandboxes.xero import SandboxState
from xerobridge.store.db import Store
from xerobridge.store.models import Job, Link, SyncLog
from xerobridge.sync.engine import Engine

import engine_plugin
from engine_helpers import run


def payouts(clock: FakeClock, n: int) -> None:
    for i in range(1, n + 1):
        engine_plugin.put("payouts", f"po_{i}", clock.now(), amount=100.0 + i)


def transfers(sandbox: SandboxState, **params: str) -> list[dict[str, object]]:
    """The transfers in Xero, as the API lists them (deleted ones only if asked)."""
    records = sandbox.records("BankTransfers")
    if params.get("includeDeleted") != "true":
        records = [t for t in records if t["Status"] != "DELETED"]
    return records


def links(store: Store) -> list[Link]:
    with store.transaction() as s:
        return list(s.exec(select(Link).where(Link.xero_type == "BankTransfer")).all())


def test_payouts_become_one_transfer_each_and_a_second_sync_writes_nothing(
    engine: Engine, store: Store, sandbox: SandboxState, clock: FakeClock
) -> None:
    payouts(clock, 3)
    summary = run(engine.sync())
    assert summary.failed == 0 and summary.write_calls == 1  # one batch for the three
    made = {t["Reference"]: t for t in transfers(sandbox)}
    assert sorted(made) == ["SHOP-PAYOUT-po_1", "SHOP-PAYOUT-po_2", "SHOP-PAYOUT-po_3"]
    assert made["SHOP-PAYOUT-po_2"]["Amount"] == 102.0
    assert {link.xero_id for link in links(store)} == {t["BankTransferID"] for t in made.values()}
    assert summary.streams["shop.payouts"]["created"] == 3

    clock.advance(600)
    again = run(engine.sync(full=True))
    assert again.write_calls == 0
    assert again.streams["shop.payouts"]["skipped"] == 3
    assert len(transfers(sandbox)) == 3


def test_a_lost_answer_is_found_by_reference_without_a_second_transfer(
    engine: Engine, store: Store, sandbox: SandboxState, clock: FakeClock
) -> None:
    """Every try lands in Xero but its answer is lost; past Xero's idempotency memory, one read
    of what changed since the in-flight mark finds all of them by their Reference."""
    payouts(clock, 20)
    sandbox.faults.add("lost-response", times=4, methods=("PUT",), path_contains="BankTransfers")
    run(engine.sync(max_wait=0))
    assert len(transfers(sandbox)) == 20  # made once: the retries were answered from memory
    assert all(link.in_flight_at is not None for link in links(store))

    clock.advance(timedelta(minutes=10).total_seconds())
    seen = len(sandbox.log.entries)
    summary = run(engine.sync())
    assert summary.failed == 0
    assert engine.worker.recovery.calls == 1  # one read for 20 transfers
    calls = [(e.method, e.path.rsplit("/", 1)[1]) for e in sandbox.log.entries[seen:]]
    assert calls.count(("GET", "BankTransfers")) == 1 and ("PUT", "BankTransfers") not in calls
    references = [t["Reference"] for t in transfers(sandbox)]
    assert len(references) == len(set(references)) == 20
    found = links(store)
    assert all(link.in_flight_at is None and link.xero_id for link in found)
    assert {link.xero_id for link in found} == {t["BankTransferID"] for t in transfers(sandbox)}


def test_a_lost_answer_within_xeros_memory_is_resent_with_its_key(
    engine: Engine, store: Store, sandbox: SandboxState, clock: FakeClock
) -> None:
    payouts(clock, 5)
    sandbox.faults.add("lost-response", times=4, methods=("PUT",), path_contains="BankTransfers")
    run(engine.sync(max_wait=0))
    clock.advance(90)  # the job's retry, well within the ~6 minutes Xero keeps a key
    run(engine.sync())
    assert len(transfers(sandbox)) == 5
    assert any(e.replayed for e in sandbox.log.entries)
    assert all(link.in_flight_at is None and link.xero_id for link in links(store))


def test_a_changed_payout_fails_with_what_to_do_and_never_makes_a_second_transfer(
    engine: Engine, store: Store, sandbox: SandboxState, clock: FakeClock
) -> None:
    payouts(clock, 2)
    run(engine.sync())
    (first,) = [t for t in transfers(sandbox) if t["Reference"] == "SHOP-PAYOUT-po_1"]

    clock.advance(600)
    engine_plugin.put("payouts", "po_1", clock.now(), amount=150.0)
    summary = run(engine.sync())
    assert summary.failed == 1 and summary.write_calls == 0
    assert len(transfers(sandbox)) == 2
    with store.transaction() as s:
        (job,) = s.exec(select(Job).where(Job.record_key == "po_1")).all()
        (row,) = s.exec(select(SyncLog).where(SyncLog.status == "error")).all()
    assert job.state == "dead"
    assert row.message == (
        f"payouts po_1: the BankTransfer SHOP-PAYOUT-po_1 is in Xero already "
        f"({first['BankTransferID']}) and Xero cannot change a BankTransfer; delete it in "
        f"Xero, then `xerobridge queue run-now {job.id}` makes it afresh; or reverse it in "
        "Xero yourself"
    )

    # The person deletes it in Xero and runs the job again: it is made afresh, once.
    sandbox.seed("BankTransfers", [{"BankTransferID": first["BankTransferID"],
                                    "Status": "DELETED"}], upsert=True)  # fmt: skip
    assert job.id is not None
    Queue(store).run_now([job.id])
    summary = run(engine.sync())
    assert summary.failed == 0
    live = {t["Reference"]: t for t in transfers(sandbox)}
    assert len(live) == 2 and live["SHOP-PAYOUT-po_1"]["Amount"] == 150.0
    assert len(transfers(sandbox, includeDeleted="true")) == 3
    (link,) = [link for link in links(store) if link.record_key == "po_1"]
    assert link.xero_id == live["SHOP-PAYOUT-po_1"]["BankTransferID"]


def test_a_refused_transfer_fails_alone_and_the_batch_is_linked_by_reference(
    engine: Engine, store: Store, sandbox: SandboxState, clock: FakeClock
) -> None:
    """Xero names only the refused transfer; the others are found with one read and linked."""
    payouts(clock, 4)
    engine_plugin.put("payouts", "po_3", clock.now(), amount=103.0, to="200")  # not a bank
    summary = run(engine.sync())
    assert summary.failed == 1 and summary.write_calls == 1
    assert summary.streams["shop.payouts"]["created"] == 3
    assert sorted(t["Reference"] for t in transfers(sandbox)) == [
        "SHOP-PAYOUT-po_1",
        "SHOP-PAYOUT-po_2",
        "SHOP-PAYOUT-po_4",
    ]
    with store.transaction() as s:
        (row,) = s.exec(select(SyncLog).where(SyncLog.status == "error")).all()
    assert row.record_key == "po_3"
    assert "The ToBankAccount must be a bank account; account 200 is of type REVENUE" in (
        row.message
    )
    settled = {link.record_key: link for link in links(store)}
    assert all(settled[k].xero_id and settled[k].in_flight_at is None
               for k in ("po_1", "po_2", "po_4"))  # fmt: skip
    assert settled["po_3"].xero_id is None and settled["po_3"].in_flight_at is None

    # Read again, the three made are skipped; only the refused one is tried (and refused) again.
    clock.advance(600)
    again = run(engine.sync(full=True))
    assert again.streams["shop.payouts"]["skipped"] == 3 and again.failed == 1
    assert len(transfers(sandbox)) == 3


def test_a_transfer_made_afresh_whose_answer_is_lost_is_not_taken_for_the_deleted_one(
    engine: Engine, store: Store, sandbox: SandboxState, clock: FakeClock
) -> None:
    """The deleted first transfer has the same Reference; the sweep reads live ones only."""
    payouts(clock, 1)
    run(engine.sync())
    (first,) = transfers(sandbox)
    sandbox.seed("BankTransfers", [{"BankTransferID": first["BankTransferID"],
                                    "Status": "DELETED"}], upsert=True)  # fmt: skip
    clock.advance(600)
    engine_plugin.put("payouts", "po_1", clock.now(), amount=175.0)
    sandbox.faults.add("lost-response", times=4, methods=("PUT",), path_contains="BankTransfers")
    run(engine.sync(max_wait=0))
    clock.advance(timedelta(minutes=10).total_seconds())
    summary = run(engine.sync())
    assert summary.failed == 0
    (live,) = transfers(sandbox)
    assert live["Amount"] == 175.0 and live["BankTransferID"] != first["BankTransferID"]
    (link,) = links(store)
    assert (link.xero_id, link.in_flight_at) == (live["BankTransferID"], None)
