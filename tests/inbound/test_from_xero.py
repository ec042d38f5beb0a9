"""Streams whose records come from Xero: read by the core, applied to the source exactly once,
history first and newest first, with webhook events read back 50 a call."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from xerobridge.clock import FakeClock
from xerobridge.config import sources
from xerobridge.contract.plugins import Plugins
from xerobridge.runtime.queue import NewJob
from xerobridge.sandboxes.xero import SandboxState
from xerobridge.store.db import Store
from xerobridge.store.models import ActionLog, Connection, Job, Link, SyncLog
from xerobridge.store.xero_events import record_events
from xerobridge.sync import unmapped
from xerobridge.sync.engine import Engine

import ledger_plugin
from inbound_helpers import contacts, invoices, run

DATA, WRITES = ledger_plugin.DATA, ledger_plugin.WRITES


def by_xero_id(stream: str) -> dict[str, dict]:
    return {str(r["xero_id"]): r for r in DATA[stream].values()}


def test_a_first_sync_writes_each_xero_record_once_and_a_second_writes_nothing(
    engine: Engine, sandbox: SandboxState, store: Store
) -> None:
    acme, bolt = contacts(sandbox, "Acme Ltd", "Bolt & Co")
    bills = invoices(sandbox, acme, [100, 250]) + invoices(sandbox, bolt, [75])
    invoices(sandbox, bolt, [30], kind="ACCPAY")  # a bill to pay: not the stream's

    summary = run(engine.sync())

    clients = by_xero_id("clients")
    assert {c["name"] for c in clients.values()} == {"Acme Ltd", "Bolt & Co"}
    assert len(DATA["clients"]) == 2
    ledger = by_xero_id("bills")
    assert set(ledger) == {b["InvoiceID"] for b in bills}
    acme_key = next(k for k, c in DATA["clients"].items() if c["name"] == "Acme Ltd")
    assert sorted(b["total"] for b in ledger.values() if b["client"] == acme_key) == [100, 250]
    assert summary.streams["books.clients"]["created"] == 2
    assert summary.streams["books.bills"]["created"] == 3
    with store.transaction() as s:
        assert s.exec(select(Job)).all() == []
        linked = {(lk.stream, lk.xero_id) for lk in s.exec(select(Link)).all()}
    assert linked == {("clients", c["ContactID"]) for c in (acme, bolt)} | {
        ("bills", b["InvoiceID"]) for b in bills
    }

    writes, calls = len(WRITES), engine.client.read_calls
    run(engine.sync())
    assert len(WRITES) == writes  # nothing changed in Xero: nothing written
    # One read a stream (nothing changed since the cursor); no read back of any record.
    assert engine.client.read_calls - calls <= 2 + 4  # + the mirror's look at its own kinds


def test_an_edit_in_xero_updates_the_one_linked_record(
    engine: Engine, sandbox: SandboxState, clock: FakeClock
) -> None:
    (acme,) = contacts(sandbox, "Acme Ltd")
    run(engine.sync())
    (key,) = DATA["clients"]
    clock.advance(600)
    sandbox.seed("Contacts", [{"ContactID": acme["ContactID"], "Name": "Acme Group"}], upsert=True)

    run(engine.sync())

    assert list(DATA["clients"]) == [key]
    assert DATA["clients"][key]["name"] == "Acme Group"
    assert WRITES[-1] == ("clients", "update", key)
    # Acme was in Xero before the source: its first read said so; its edit is news.
    assert {acme["ContactID"]: False} == ledger_plugin.INITIAL


def test_records_in_xero_before_the_source_are_marked_initial(
    engine: Engine, sandbox: SandboxState, clock: FakeClock
) -> None:
    (before,) = contacts(sandbox, "Before Ltd")
    run(engine.sync())
    assert {before["ContactID"]: True} == ledger_plugin.INITIAL
    clock.advance(600)
    (after,) = contacts(sandbox, "After Ltd")
    run(engine.sync())
    assert ledger_plugin.INITIAL[after["ContactID"]] is False


def status(store: Store, plugins: Plugins) -> str:
    with store.transaction() as s:
        return sources.status(s, sources.get(s, "books"), plugins.spec("ledger"))


def test_history_comes_after_the_last_year_newest_first_and_keeps_a_reserve_of_calls(
    engine: Engine, sandbox: SandboxState, store: Store, clock: FakeClock, plugins: Plugins
) -> None:
    old = contacts(sandbox, "Old One", "Old Two")
    clock.advance(timedelta(days=400).total_seconds())
    recent = contacts(sandbox, "New One")
    with store.transaction() as s:
        conn = s.exec(select(Connection)).one()
        conn.daily_limit = 1000  # less than history's reserve is left of the day
        s.add(conn)

    run(engine.sync())

    assert {c["name"] for c in DATA["clients"].values()} == {"New One"}
    assert status(store, plugins) == "pending"  # history is not in yet

    with store.transaction() as s:
        conn = s.exec(select(Connection)).one()
        conn.daily_limit = 5000
        s.add(conn)
    run(engine.sync())
    names = [DATA["clients"][key]["name"] for _st, action, key in WRITES if action == "create"]
    assert names[0] == "New One" and sorted(names[1:]) == ["Old One", "Old Two"]
    assert {c["ContactID"] for c in old + recent} == set(by_xero_id("clients"))
    assert status(store, plugins) == "connected"


def test_webhook_events_are_read_back_fifty_a_call(
    engine: Engine, sandbox: SandboxState, store: Store, clock: FakeClock
) -> None:
    (acme,) = contacts(sandbox, "Acme Ltd")
    bills = invoices(sandbox, acme, list(range(1, 121)))
    run(engine.sync())
    clock.advance(60)
    changed = sandbox.seed(
        "Invoices",
        [{"InvoiceID": b["InvoiceID"], "Reference": f"R{i}"} for i, b in enumerate(bills)],
        upsert=True,
    )
    with store.transaction() as s:
        tenant = s.exec(select(Connection)).one().tenant_id
    events = [
        {"tenantId": tenant, "eventCategory": "INVOICE", "eventType": "UPDATE",
         "resourceId": b["InvoiceID"], "eventDateUtc": clock.now().isoformat()}
        for b in changed
    ]  # fmt: skip
    assert record_events(store, events, {tenant}) == 120
    calls = engine.client.read_calls
    before = engine.worker.apply  # the same worker reads them back

    # Read the events only: no stream read, so every call counted is a read back.
    engine.worker.progress.streams.clear()
    run(engine.worker.run_until_idle())

    assert before is engine.worker.apply
    assert engine.client.read_calls - calls == 3  # 120 ids, 50 a call
    assert all(WRITES.count(("bills", "update", k)) == 1 for k in DATA["bills"])


def test_a_create_whose_answer_was_lost_is_found_not_made_again(
    engine: Engine, sandbox: SandboxState
) -> None:
    acme, _bolt = contacts(sandbox, "Acme Ltd", "Bolt & Co")
    ledger_plugin.LOSE.add(acme["ContactID"])

    run(engine.sync())

    assert sorted(c["name"] for c in DATA["clients"].values()) == ["Acme Ltd", "Bolt & Co"]
    # The lost answer's retry asked the ledger and found Acme: two creates, one a client.
    assert [a for _st, a, _k in WRITES] == ["create", "create"]
    assert by_xero_id("clients")[acme["ContactID"]]["name"] == "Acme Ltd"


def test_a_client_of_the_same_name_is_linked_and_two_ask_a_person(
    engine: Engine, sandbox: SandboxState, store: Store, plugins: Plugins
) -> None:
    DATA["clients"]["K1"] = {"name": "Acme Ltd"}
    DATA["clients"]["K2"] = {"name": "Bolt & Co"}
    DATA["clients"]["K3"] = {"name": "Bolt & Co"}
    acme, bolt = contacts(sandbox, "Acme Ltd", "Bolt & Co")

    summary = run(engine.sync())

    assert DATA["clients"]["K1"]["xero_id"] == acme["ContactID"]
    assert len(DATA["clients"]) == 3  # nothing created
    assert summary.waiting == 1
    with store.transaction() as s:
        (held,) = unmapped.waiting(s, "books")
    assert (held.stream, held.key) == ("clients", bolt["ContactID"].lower())
    assert sorted(c["xero_id"] for c in held.candidates) == ["K2", "K3"]

    unmapped.decide(store, plugins, "books", "clients", held.key, to="K3", create=False)
    run(engine.sync())

    assert DATA["clients"]["K3"]["xero_id"] == bolt["ContactID"]
    assert "xero_id" not in DATA["clients"]["K2"]
    assert len(DATA["clients"]) == 3


def test_a_bill_waits_for_its_client_without_spending_an_attempt(
    engine: Engine, sandbox: SandboxState, store: Store
) -> None:
    (acme,) = contacts(sandbox, "Acme Ltd")
    (bill,) = invoices(sandbox, acme, [40])

    run(engine.sync(stream="bills"))  # the bills alone: each needs its client read first

    assert [(st, a) for st, a, _k in WRITES] == [("clients", "create"), ("bills", "create")]
    (client_key,) = DATA["clients"]
    assert by_xero_id("bills")[bill["InvoiceID"]]["client"] == client_key


def test_what_the_source_put_into_xero_is_not_read_back_as_news(
    engine: Engine, sandbox: SandboxState, store: Store
) -> None:
    """A contact the source pushed (linked by a stream to Xero) is its own, not a new client."""
    ours, theirs = contacts(sandbox, "Pushed Ltd", "Made In Xero Ltd")
    with store.transaction() as s:
        source_id = sources.get(s, "books").id
        s.add(Link(source_id=source_id, stream="customers", record_key="7", xero_type="Contact",
                   xero_id=ours["ContactID"], method="created"))  # fmt: skip

    run(engine.sync())

    assert set(by_xero_id("clients")) == {theirs["ContactID"]}


def test_the_sync_log_names_the_source_record_and_links_to_xero(
    engine: Engine, sandbox: SandboxState, store: Store
) -> None:
    (acme,) = contacts(sandbox, "Acme Ltd")
    run(engine.sync())
    (key,) = DATA["clients"]
    with store.transaction() as s:
        (row,) = [r for r in s.exec(select(SyncLog)).all() if r.stream == "clients"
                  and r.action != "fetched"]  # fmt: skip
    assert (row.action, row.record_key, row.xero_type, row.xero_id) == (
        "created",
        key,
        "Contact",
        acme["ContactID"],
    )
    assert row.message == "1 write(s) made in the source"
    assert acme["ContactID"] in row.xero_url


def test_history_yields_to_writes_queued_for_xero_and_then_goes_on(
    engine: Engine, sandbox: SandboxState, store: Store, clock: FakeClock
) -> None:
    contacts(sandbox, "Old One")
    clock.advance(timedelta(days=400).total_seconds())
    contacts(sandbox, "New One")
    with store.transaction() as s:
        source = sources.get(s, "books")
    # A write to Xero waiting on the same connection (of a stream this plugin lacks: it fails
    # when its turn comes, which is all this test needs of it).
    engine.queue.enqueue([NewJob(source_id=source.id, stream="payers", record_key="1",  # type: ignore[arg-type]
                                 connection_id=source.connection_id)])  # fmt: skip

    run(engine.sync())

    names = [DATA["clients"][key]["name"] for _st, action, key in WRITES if action == "create"]
    assert names == ["New One", "Old One"]
    with store.transaction() as s:
        fetched = [r.message for r in s.exec(select(SyncLog)).all()
                   if r.stream == "clients" and r.action == "fetched"]  # fmt: skip
    assert fetched[0].endswith("history paused: writes to Xero are queued"), fetched


def test_a_record_needing_one_from_xero_fails_saying_so_and_goes_on_once_it_comes(
    engine: Engine, sandbox: SandboxState, store: Store, clock: FakeClock
) -> None:
    """A receipt of a client Xero has not sent yet fails, naming what to do; once the client
    comes from Xero (matched by name) the receipt is pushed without anyone retrying it. Its
    invoice is then not read back as a bill: the ledger made it."""
    DATA["clients"]["K1"] = {"name": "Acme Ltd"}
    DATA["receipts"]["R1"] = {"client": "K1", "amount": 90}

    summary = run(engine.sync())

    assert summary.failed == 1
    with store.transaction() as s:
        (job,) = s.exec(select(Job).where(Job.stream == "receipts")).all()
    assert job.state == "dead"
    assert job.last_error == (
        "receipts R1 needs clients K1, which has not come from Xero: make its contact in Xero "
        "(the ledger takes clients from it); it is tried again by itself once that has"
    )

    clock.advance(60)
    (acme,) = contacts(sandbox, "Acme Ltd")
    run(engine.sync())

    (invoice,) = [i for i in sandbox.records("Invoices") if i["InvoiceNumber"] == "LG-R-R1"]
    assert invoice["Contact"]["ContactID"] == acme["ContactID"]
    assert DATA["bills"] == {}  # the receipt's invoice is the ledger's own, not a bill
    with store.transaction() as s:
        assert s.exec(select(Job).where(Job.stream == "receipts")).all() == []


def test_a_source_refusing_its_credentials_holds_for_the_setup_not_for_a_mapping(
    engine: Engine, sandbox: SandboxState, store: Store
) -> None:
    """Credentials refused wait for the setup: not on the Unmapped page, no attempt spent, one
    line in the action log; `queue retry` (or saving the settings) sends them again."""
    contacts(sandbox, "Acme Ltd")
    ledger_plugin.REFUSE.append("the ledger refused its token: set a valid one")

    summary = run(engine.sync())

    assert summary.waiting == 1 and DATA["clients"] == {}
    with store.transaction() as s:
        (job,) = s.exec(select(Job).where(Job.stream == "clients")).all()
        assert (job.state, job.hold_reason, job.attempts) == ("held", "setup", 0)
        assert unmapped.waiting(s, "books") == []
        (action,) = s.exec(select(ActionLog)).all()
    assert action.message == "the ledger refused its token: set a valid one"

    ledger_plugin.REFUSE.clear()
    assert engine.queue.retry_failed(source_id=job.source_id) == 1
    run(engine.sync())
    assert [c["name"] for c in DATA["clients"].values()] == ["Acme Ltd"]
