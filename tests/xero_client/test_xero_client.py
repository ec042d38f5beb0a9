"""The Xero client: batching, per-element results, retries, limits and counting."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import select

from xerobridge.clock import FakeClock
from xerobridge.contract.errors import NeedsPerson, RetryLater
from xerobridge.sandboxes.xero import SandboxState
from xerobridge.store.db import Store
from xerobridge.store.models import ActionLog, ApiUsage, Connection, WriteAttempt
from xerobridge.xero.client import XeroClient, contact_problem, idempotency_key
from xerobridge.xero.deeplinks import view_url

from client_helpers import SandboxTokens, run


def contacts(n: int, start: int = 0) -> list[dict[str, str]]:
    """n contacts with unique names and ContactNumbers."""
    return [
        {"Name": f"Customer {i}", "ContactNumber": f"SHOP-C-{i}"} for i in range(start, start + n)
    ]


def calls(store: Store, connection_id: int) -> int:
    """API calls counted for the connection, all days."""
    with store.transaction() as s:
        return sum(
            u.calls for u in s.exec(select(ApiUsage)).all() if u.connection_id == connection_id
        )


def test_writes_go_in_batches_of_fifty_with_one_result_per_document(
    client: XeroClient, store: Store, sandbox: SandboxState, connection_id: int
) -> None:
    """120 contacts cost 3 calls; each comes back with its ContactID, in order."""
    results = run(client.write(connection_id, "Contact", contacts(120)))
    assert [r.index for r in results] == list(range(120))
    assert all(r.ok and r.xero_id for r in results)
    assert len(sandbox.records("Contacts")) == 120
    assert calls(store, connection_id) == 3
    numbers = [r.record["ContactNumber"] for r in results]
    assert numbers == [f"SHOP-C-{i}" for i in range(120)]


def test_one_bad_document_fails_alone_with_xeros_words(
    client: XeroClient, sandbox: SandboxState, connection_id: int
) -> None:
    """summarizeErrors=false: a duplicate name fails its own element; the rest are written."""
    run(client.write(connection_id, "Contact", contacts(1)))
    batch = [*contacts(3, start=10), {"Name": "Customer 0", "ContactNumber": "SHOP-C-99"}]
    results = run(client.write(connection_id, "Contact", batch))
    assert [r.ok for r in results] == [True, True, True, False]
    assert "Customer 0" in results[3].message or "unique" in results[3].message.lower()
    assert len(sandbox.records("Contacts")) == 4


def test_a_write_is_stored_before_it_is_sent_and_resent_identically(
    client: XeroClient, store: Store, sandbox: SandboxState, connection_id: int
) -> None:
    """A response lost after Xero committed: the retry carries the same bytes and key."""
    sandbox.faults.add("lost-response", times=1)
    results = run(client.write(connection_id, "Contact", contacts(5)))
    assert all(r.ok for r in results)
    assert len(sandbox.records("Contacts")) == 5  # not 10: Xero answered the retry from memory
    with store.transaction() as s:
        (attempt,) = s.exec(select(WriteAttempt)).all()
    assert attempt.idempotency_key == idempotency_key("POST", "Contacts", attempt.body)
    assert len(attempt.idempotency_key) <= 128
    assert json.loads(attempt.body) == {"Contacts": contacts(5)}
    assert attempt.settled_at is not None and attempt.outcome == "ok"


def test_a_minute_limit_429_is_waited_out_as_xero_says(
    client: XeroClient, store: Store, sandbox: SandboxState, clock: FakeClock,
    connection_id: int,
) -> None:  # fmt: skip
    """The client sleeps Retry-After on the injected clock and then succeeds."""
    sandbox.faults.add("429-minute", times=1, retry_after=20)
    start = clock.now()
    results = run(client.write(connection_id, "Contact", contacts(2)))
    assert all(r.ok for r in results)
    assert clock.now() - start >= timedelta(seconds=20)
    with store.transaction() as s:
        (usage,) = s.exec(select(ApiUsage)).all()
    assert (usage.calls, usage.rate_limited) == (2, 1)


def test_a_day_limit_429_parks_the_connection_and_hands_back(
    client: XeroClient, store: Store, sandbox: SandboxState, clock: FakeClock,
    connection_id: int,
) -> None:  # fmt: skip
    """A spent day is not waited for inside a call: the job goes back to the queue."""
    sandbox.faults.add("429-day", times=1, retry_after=7200)
    with pytest.raises(RetryLater) as caught:
        run(client.write(connection_id, "Contact", contacts(1)))
    assert caught.value.retry_after == 7200
    with store.transaction() as s:
        conn = s.get(Connection, connection_id)
    assert conn is not None and conn.parked_until == clock.now() + timedelta(seconds=7200)


def test_server_errors_are_retried_with_backoff_then_handed_back(
    client: XeroClient, sandbox: SandboxState, connection_id: int
) -> None:
    """Two 503s then success; four 503s in a row make a RetryLater for the queue."""
    sandbox.faults.add("503", times=2)
    assert all(r.ok for r in run(client.write(connection_id, "Contact", contacts(1))))
    sandbox.faults.add("503", times=4)
    with pytest.raises(RetryLater):
        run(client.write(connection_id, "Contact", contacts(1, start=5)))


def test_a_connection_reset_is_retried(
    client: XeroClient, sandbox: SandboxState, connection_id: int
) -> None:
    """A dropped connection before anything happened is simply tried again."""
    sandbox.faults.add("reset", times=1)
    assert all(r.ok for r in run(client.write(connection_id, "Contact", contacts(1))))
    assert len(sandbox.records("Contacts")) == 1


def test_a_401_refreshes_once_and_retries(
    client: XeroClient, tokens: SandboxTokens, sandbox: SandboxState, connection_id: int
) -> None:
    """An expired token costs one refresh and one retry."""
    sandbox.identity.expire_access_tokens()
    body = run(client.get_json(connection_id, "Organisation"))
    assert body["Organisations"][0]["ShortCode"]
    assert len(tokens.refreshes) == 1


def test_a_403_needs_a_person_and_says_so(
    client: XeroClient, store: Store, sandbox: SandboxState, connection_id: int
) -> None:
    """Access withdrawn in Xero: the connection is in error with an action for a person."""
    sandbox.disconnect()
    with pytest.raises(NeedsPerson, match="reconnect"):
        run(client.get_json(connection_id, "Organisation"))
    with store.transaction() as s:
        conn = s.get(Connection, connection_id)
        actions = s.exec(select(ActionLog)).all()
    assert conn is not None and conn.status == "error"
    assert [a.level for a in actions] == ["action"]


def test_reads_page_by_a_thousand_and_follow_if_modified_since(
    client: XeroClient, store: Store, sandbox: SandboxState, clock: FakeClock,
    connection_id: int,
) -> None:  # fmt: skip
    """2,100 contacts read in 3 calls; a later read asks only for what changed."""
    sandbox.seed("Contacts", contacts(2100))
    before = calls(store, connection_id)

    async def read(**kw: object) -> list[dict[str, object]]:
        return [c async for c in client.records(connection_id, "Contact", **kw)]  # type: ignore[arg-type]

    assert len(run(read())) == 2100
    assert calls(store, connection_id) - before == 3
    clock.advance(60)
    since = clock.now()
    clock.advance(1)
    sandbox.seed("Contacts", contacts(2, start=5000))
    changed = run(read(if_modified_since=since))
    assert sorted(c["ContactNumber"] for c in changed) == ["SHOP-C-5000", "SHOP-C-5001"]


def test_every_call_carries_the_tenant_and_respects_five_in_flight(
    client: XeroClient, sandbox: SandboxState, connection_id: int
) -> None:
    """Twenty concurrent reads never put more than five in flight at the sandbox."""
    import asyncio

    async def many() -> None:
        await asyncio.gather(*(client.get_json(connection_id, "Organisation") for _ in range(20)))

    run(many())
    stats = sandbox.stats()
    assert stats["calls"] >= 20
    assert stats["peak_in_flight"] <= 5


def test_view_in_xero_links_carry_the_short_code() -> None:
    """Deep links go through Xero's organisation login with the ShortCode and the page."""
    url = view_url("!mBdtL", "Invoice", "1b2c")
    assert url.startswith("https://go.xero.com/organisationlogin/default.aspx?shortcode=%21mBdtL")
    assert "redirecturl=%2FAccountsReceivable%2FView.aspx%3FInvoiceID%3D1b2c" in url
    assert view_url("!mBdtL", "Contact", "9f").endswith("%2FContacts%2FView%2F9f")
    assert view_url("", "Contact", "9f") == ""


def test_the_client_slows_down_before_xero_refuses(
    client: XeroClient, sandbox: SandboxState, clock: FakeClock, connection_id: int
) -> None:
    """When X-MinLimit-Remaining reaches 0 the client waits, and Xero never answers 429."""
    sandbox.limiter.config.minute = 3  # another app on the organisation spends the rest
    start = clock.now()
    for _ in range(6):
        run(client.get_json(connection_id, "Organisation"))
    assert sandbox.stats()["throttled_total"] == 0
    assert clock.now() - start >= timedelta(seconds=60)


def test_a_document_naming_its_contact_without_an_id_is_never_sent(
    client: XeroClient, store: Store, sandbox: SandboxState, connection_id: int
) -> None:
    """Xero would create a second contact for an unknown name: the client refuses first."""
    invoice = {"Type": "ACCREC", "InvoiceNumber": "SHOP-1", "Contact": {"Name": "Renamed Ltd"}}
    assert contact_problem("Invoice", invoice) == (
        "Invoice SHOP-1: its Contact has no ContactID; push the contact first, refer to its id"
    )
    with pytest.raises(ValueError, match="SHOP-1"), store.transaction() as s:
        client.prepare_write(s, connection_id, "Invoice", [invoice])
    assert sandbox.records("Contacts") == []
    assert contact_problem("Invoice", {**invoice, "Contact": {"ContactID": "abc"}}) is None
    assert contact_problem("Contact", {"Name": "x"}) is None
