"""Bank transfers through the Xero client: PUT in batches with an Idempotency-Key and no
summarizeErrors, a result per transfer (also when Xero refuses part of a batch and names
only the refused ones), one read for all that changed."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import select

from xerobridge.clock import FakeClock
from xerobridge.sandboxes.xero import SandboxState
from xerobridge.store.db import Store
from xerobridge.store.models import WriteAttempt
from xerobridge.xero.client import XeroClient, idempotency_key

from client_helpers import run


def transfers(n: int, start: int = 0, **fields: Any) -> list[dict[str, Any]]:
    """n payouts from the savings account (a clearing account) into the business account."""
    return [
        {
            "FromBankAccount": {"Code": "091"},
            "ToBankAccount": {"Code": "090"},
            "Amount": 10 + i,
            "Date": "2026-01-10",
            "Reference": f"SHOP-PAYOUT-{i}",
            **fields,
        }
        for i in range(start, start + n)
    ]


def test_transfers_are_put_fifty_a_call_each_with_its_id(
    client: XeroClient, store: Store, sandbox: SandboxState, connection_id: int
) -> None:
    results = run(client.write(connection_id, "BankTransfer", transfers(60)))
    assert client.write_calls == 2
    assert all(r.ok and r.xero_id for r in results)
    assert [r.record["Reference"] for r in results] == [f"SHOP-PAYOUT-{i}" for i in range(60)]
    made = {t["BankTransferID"]: t for t in sandbox.records("BankTransfers")}
    assert sorted(made) == sorted(r.xero_id for r in results)
    with store.transaction() as s:
        attempts = s.exec(select(WriteAttempt)).all()
    assert [(a.method, a.path) for a in attempts] == [("PUT", "BankTransfers")] * 2
    for attempt in attempts:
        assert attempt.idempotency_key == idempotency_key("PUT", "BankTransfers", attempt.body)
    writes = [e for e in sandbox.log.entries if e.method == "PUT"]
    assert [e.query for e in writes] == ["", ""]  # the spec gives this route no summarizeErrors
    assert all(e.idempotency_key for e in writes)


def test_a_refused_transfer_fails_alone_and_the_others_are_unconfirmed(
    client: XeroClient, sandbox: SandboxState, connection_id: int
) -> None:
    """Xero answers 400 naming the refused transfer only; the others were made without their
    ids returned, so they come back unconfirmed, to be found by their Reference."""
    batch = transfers(3)
    batch[1]["ToBankAccount"] = {"Code": "200"}  # Sales: not a bank account
    results = run(client.write(connection_id, "BankTransfer", batch))
    assert [(r.ok, r.unconfirmed) for r in results] == [(True, True), (False, False), (True, True)]
    assert "The ToBankAccount must be a bank account" in results[1].message
    assert results[1].record["Reference"] == "SHOP-PAYOUT-1"
    made = sorted(t["Reference"] for t in sandbox.records("BankTransfers"))
    assert made == ["SHOP-PAYOUT-0", "SHOP-PAYOUT-2"]


def test_a_lost_answer_is_resent_with_its_key_and_makes_nothing_twice(
    client: XeroClient, store: Store, sandbox: SandboxState, connection_id: int
) -> None:
    sandbox.faults.add("lost-response", times=1, path_contains="BankTransfers")
    results = run(client.write(connection_id, "BankTransfer", transfers(5)))
    assert all(r.ok and r.xero_id for r in results)
    assert len(sandbox.records("BankTransfers")) == 5
    assert [e.replayed for e in sandbox.log.entries] == [False, True]
    with store.transaction() as s:
        (attempt,) = s.exec(select(WriteAttempt)).all()
    assert json.loads(attempt.body) == {"BankTransfers": transfers(5)}


def test_one_read_finds_every_transfer_made_since_a_moment(
    client: XeroClient, sandbox: SandboxState, clock: FakeClock, connection_id: int
) -> None:
    """The list does not page: everything changed since the mark comes in one call."""
    sandbox.seed("BankTransfers", transfers(3))
    clock.advance(60)
    since = clock.now()
    sandbox.seed("BankTransfers", transfers(1200, start=100))
    before = client.read_calls

    async def read() -> list[dict[str, Any]]:
        return [t async for t in client.records(connection_id, "BankTransfer",
                                                if_modified_since=since)]  # fmt: skip

    found = run(read())
    assert client.read_calls - before == 1
    assert len(found) == 1200 and found[0]["Reference"] == "SHOP-PAYOUT-100"
