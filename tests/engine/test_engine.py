"""The sync engine: batching, no call for what has not changed, one failure per bad record,
dependencies first, people's decisions, and exactly-once through lost answers."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlmodel import select

from xerobridge.clock import FakeClock
from xerobridge.config import sources
from xerobridge.contract.errors import UserError
from xerobridge.sandboxes.xero import SandboxState
from xerobridge.store import encryption
from xerobridge.store.db import Store
from xerobridge.store.models import ActionLog, Connection, Job, Link, Source, SyncLog
from xerobridge.sync import unmapped
from xerobridge.sync.accounts import ensure_accounts
from xerobridge.sync.engine import Engine
from xerobridge.web.app import create_app

import engine_plugin
from engine_helpers import run


def seed(clock: FakeClock, customers: int, invoices: int) -> None:
    """Customers 1..n and invoices for them, at the source."""
    now = clock.now()
    for i in range(1, customers + 1):
        engine_plugin.put("customers", str(i), now, name=f"Customer {i}", email=f"c{i}@ex.com")
    for i in range(1, invoices + 1):
        engine_plugin.put(
            "invoices", str(1000 + i), now, customer=(i % customers) + 1, amount=10.0 + i
        )


def log_rows(store: Store) -> list[SyncLog]:
    """Push outcomes in the sync log (reads left out)."""
    with store.transaction() as s:
        return [r for r in s.exec(select(SyncLog)).all() if r.action != "fetched"]


def test_a_first_sync_writes_in_batches_of_fifty(
    engine: Engine, store: Store, sandbox: SandboxState, clock: FakeClock
) -> None:
    """120 customers and 60 invoices: 3 + 2 write calls, every record created once."""
    seed(clock, 120, 60)
    summary = run(engine.sync())
    assert summary.write_calls == 5
    assert summary.failed == 0
    assert len(sandbox.records("Contacts")) == 120
    assert len(sandbox.records("Invoices")) == 60
    rows = log_rows(store)
    assert len(rows) == 180 and {r.action for r in rows} == {"created"}
    assert all(r.xero_id and r.xero_url.startswith("https://go.xero.com/") for r in rows)
    assert summary.streams["shop.customers"]["created"] == 120
    assert summary.streams["shop.invoices"]["created"] == 60


def test_a_second_sync_with_nothing_new_makes_no_write(
    engine: Engine, sandbox: SandboxState, clock: FakeClock
) -> None:
    """Unchanged payloads are skipped by hash: zero write calls."""
    seed(clock, 10, 5)
    run(engine.sync())
    clock.advance(600)
    again = run(engine.sync(full=True))
    assert again.write_calls == 0
    assert again.streams["shop.customers"]["skipped"] == 10


def test_editing_one_record_makes_exactly_one_update(
    engine: Engine, sandbox: SandboxState, clock: FakeClock
) -> None:
    """Only the edited customer is pushed, as an update of the same contact."""
    seed(clock, 10, 0)
    run(engine.sync())
    clock.advance(600)
    engine_plugin.put("customers", "3", clock.now(), name="Customer Three")
    summary = run(engine.sync())
    assert summary.write_calls == 1
    assert summary.streams["shop.customers"]["updated"] == 1
    names = sorted(c["Name"] for c in sandbox.records("Contacts"))
    assert "Customer Three" in names and len(names) == 10


def test_a_bad_record_fails_alone_with_a_message_that_names_it(
    engine: Engine, store: Store, sandbox: SandboxState, clock: FakeClock
) -> None:
    """A negative amount fails its own invoice; the rest are written."""
    seed(clock, 3, 4)
    engine_plugin.put("invoices", "1002", clock.now(), customer=1, amount=-5.0)
    summary = run(engine.sync())
    assert summary.failed == 1
    assert len(sandbox.records("Invoices")) == 3
    (failed,) = [r for r in log_rows(store) if r.status == "error"]
    assert failed.record_key == "1002"
    assert "invoice 1002: amount -5.0 is negative" in failed.message


def test_a_setting_a_plugin_says_is_wrong_holds_the_record_for_the_setup(
    engine: Engine, store: Store, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A UserError from a hook (a refused token) is a setting to fix: the record waits for it
    and is logged as the plugin's one line, not failed with a traceback."""
    seed(clock, 2, 0)
    engine_plugin.put("customers", "9", clock.now(), name="Nine", refused_token=True)
    summary = run(engine.sync())
    assert summary.failed == 0 and summary.streams["shop.customers"]["held"] == 1
    with store.transaction() as s:
        job = s.exec(select(Job).where(Job.record_key == "9")).one()
    assert (job.state, job.hold_reason) == ("held", "setup")
    assert job.last_error == "the shop refused the source's `token`: set a new one"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_a_name_taken_within_the_batch_is_retried_not_failed(
    engine: Engine, store: Store, sandbox: SandboxState, clock: FakeClock
) -> None:
    """Two new customers Xero sees as one name: the second is tried again once the first is
    in the mirror, where the plugin's own rule (match by name) decides; nothing fails."""
    seed(clock, 3, 0)
    engine_plugin.put("customers", "9", clock.now(), name="CUSTOMER 1")
    summary = run(engine.sync())
    assert summary.failed == 0
    assert len(sandbox.records("Contacts")) == 3
    with store.transaction() as s:
        links = {link.record_key: link.xero_id for link in s.exec(select(Link)).all()}
    assert links["9"] == links["1"]


def test_records_are_pushed_after_what_they_need(
    engine: Engine, sandbox: SandboxState, clock: FakeClock
) -> None:
    """Syncing invoices alone first pushes their customers, never fails for ordering."""
    seed(clock, 4, 8)
    summary = run(engine.sync(stream="invoices"))
    assert summary.failed == 0
    assert len(sandbox.records("Invoices")) == 8
    assert len(sandbox.records("Contacts")) == 4


def test_an_ambiguous_match_waits_for_a_person(
    engine: Engine, store: Store, sandbox: SandboxState, clock: FakeClock
) -> None:
    """Two possible contacts: the job is held for a person, with an action-log entry."""
    engine_plugin.put("customers", "7", clock.now(), name="A Ltd", ambiguous=True)
    summary = run(engine.sync())
    assert summary.streams["shop.customers"]["held"] == 1
    with store.transaction() as s:
        (job,) = s.exec(select(Job).where(Job.kind == "push")).all()
        actions = s.exec(select(ActionLog)).all()
    assert (job.state, job.hold_reason) == ("held", "mapping")
    assert [c["label"] for c in job.payload["candidates"]] == ["A Ltd", "A Limited"]
    assert "two Xero contacts could be A Ltd" in actions[0].message


def test_a_record_waiting_behind_a_persons_choice_costs_nothing_until_it_is_made(
    engine: Engine, store: Store, sandbox: SandboxState, clock: FakeClock
) -> None:
    """An invoice whose customer waits for a person is held too: an hour of syncs spends no
    Xero call and every sync ends; the person's decision sends both at once."""
    engine_plugin.put("customers", "7", clock.now(), name="A Ltd", ambiguous=True)
    engine_plugin.put("invoices", "1007", clock.now(), customer=7, amount=12.5)
    summary = run(engine.sync())
    assert summary.streams["shop.customers"]["held"] == 1
    assert summary.streams["shop.invoices"]["held"] == 1
    with store.transaction() as s:
        invoice = s.exec(select(Job).where(Job.stream == "invoices")).one()
    assert (invoice.state, invoice.hold_reason) == ("held", "waiting")
    assert "waits for customers 7, which waits for a person's decision" in invoice.last_error
    assert invoice.attempts == 0  # waiting is not an attempt

    calls = sandbox.log.count()
    for _ in range(12):
        clock.advance(300)
        run(engine.sync())  # returns: nothing is due while both wait
    # Each pass refreshes the organisation's mirror as any pass does; nothing is written, and
    # nothing is read for the two waiting records.
    spent = {(e.method, e.path.rsplit("/", 1)[-1]) for e in sandbox.log.entries[calls:]}
    assert spent <= {("GET", "Accounts"), ("GET", "Contacts"), ("GET", "Items"),
                     ("GET", "TaxRates"), ("GET", "Currencies"), ("POST", "token")}  # fmt: skip

    unmapped.decide(store, engine.plugins, "shop", "customers", "7", to=None, create=True)
    summary = run(engine.sync())
    assert summary.streams["shop.customers"]["created"] == 1
    assert summary.streams["shop.invoices"]["created"] == 1
    assert len(sandbox.records("Invoices")) == 1


def test_lost_answers_never_make_a_second_copy(
    engine: Engine, store: Store, sandbox: SandboxState, clock: FakeClock
) -> None:
    """With 20% of writes committed but their answer lost, each record still exists once."""
    seed(clock, 150, 100)
    sandbox.faults.add("lost-response", probability=0.2, methods=("POST", "PUT"))
    summary = run(engine.sync())
    for _ in range(3):
        if summary.failed == 0 and not _pending(store):
            break
        clock.advance(60)
        summary = run(engine.sync())
    numbers = [c["ContactNumber"] for c in sandbox.records("Contacts")]
    assert sorted(numbers) == sorted(f"SHOP-C-{i}" for i in range(1, 151))
    invoices = [i["InvoiceNumber"] for i in sandbox.records("Invoices")]
    assert sorted(invoices) == sorted(f"SHOP-{1000 + i}" for i in range(1, 101))
    with store.transaction() as s:
        links = s.exec(select(Link)).all()
    assert len(links) == 250 and all(link.xero_id and link.in_flight_at is None for link in links)


def test_an_unresolved_write_found_later_by_the_sweep(
    engine: Engine, store: Store, sandbox: SandboxState, clock: FakeClock
) -> None:
    """Past Xero's idempotency window, one read per type settles what landed."""
    seed(clock, 30, 0)
    # Every try of the one batch lands in Xero but its answer is lost: the links stay in flight.
    sandbox.faults.add("lost-response", times=4, methods=("POST", "PUT"))
    run(engine.sync(max_wait=0))
    with store.transaction() as s:
        stuck = [link for link in s.exec(select(Link)).all() if link.in_flight_at is not None]
    assert len(stuck) == 30
    clock.advance(timedelta(minutes=10).total_seconds())
    run(engine.sync())
    numbers = [c["ContactNumber"] for c in sandbox.records("Contacts")]
    assert len(numbers) == len(set(numbers)) == 30
    assert engine.worker.recovery.calls == 1  # one read for 30 records, not 30
    with store.transaction() as s:
        links = s.exec(select(Link)).all()
    assert all(link.in_flight_at is None and link.xero_id for link in links)


def test_an_update_whose_answer_is_lost_past_the_window_is_sent_again(
    engine: Engine, store: Store, sandbox: SandboxState, clock: FakeClock
) -> None:
    """Reading a document back shows that a create landed, never that an update did: an update
    left in flight past Xero's idempotency window is sent again, not taken for landed."""
    engine_plugin.put("customers", "7", clock.now(), name="A Ltd")
    run(engine.sync())
    clock.advance(60)
    engine_plugin.put("customers", "7", clock.now(), name="A Ltd (renamed)")
    # Every try of the update is cut off before Xero does anything.
    sandbox.faults.add("reset", times=4, methods=("POST", "PUT"))
    run(engine.sync(max_wait=0))
    with store.transaction() as s:
        (link,) = s.exec(select(Link)).all()
    assert link.in_flight_at is not None
    clock.advance(timedelta(minutes=10).total_seconds())
    run(engine.sync())
    (contact,) = sandbox.records("Contacts")
    assert contact["Name"] == "A Ltd (renamed)"
    with store.transaction() as s:
        (link,) = s.exec(select(Link)).all()
    assert link.in_flight_at is None and link.xero_id == contact["ContactID"]


def _pending(store: Store) -> bool:
    with store.transaction() as s:
        return bool(s.exec(select(Job)).all())


def test_a_persons_choice_frees_the_record(
    engine: Engine, store: Store, sandbox: SandboxState, clock: FakeClock
) -> None:
    """`map --to` links the held record to the chosen contact and pushes it onto that one."""
    existing = sandbox.seed("Contacts", [{"Name": "A Ltd (old)", "ContactNumber": "LEGACY-7"}])
    chosen = existing[0]["ContactID"]
    engine_plugin.put("customers", "7", clock.now(), name="A Ltd", ambiguous=True)
    run(engine.sync())
    with store.transaction() as s:
        (waiting,) = unmapped.waiting(s, "shop")
    assert (waiting.stream, waiting.key) == ("customers", "7")
    unmapped.decide(store, engine.plugins, "shop", "customers", "7", to=chosen, create=False)
    summary = run(engine.sync())
    assert summary.streams["shop.customers"]["updated"] == 1
    contacts = sandbox.records("Contacts")
    assert len(contacts) == 1 and contacts[0]["ContactID"] == chosen
    assert contacts[0]["ContactNumber"] == "SHOP-C-7"


def test_a_choice_that_cannot_be_the_record_is_refused_in_one_line(
    engine: Engine, store: Store, sandbox: SandboxState, clock: FakeClock
) -> None:
    """`map --to` with an id Xero does not know, or of the wrong kind, says so and waits on."""
    item = sandbox.seed("Items", [{"Code": "WIDGET", "Name": "Widget"}])[0]["ItemID"]
    engine_plugin.put("customers", "7", clock.now(), name="A Ltd", ambiguous=True)
    run(engine.sync())
    wrong = [("0b5c1e9e-0000-4000-8000-000000000000", "no Xero contact with id"),
             (item, "is a Xero item, but customers records become contacts")]  # fmt: skip
    for to, problem in wrong:
        with pytest.raises(UserError, match=problem):
            unmapped.decide(store, engine.plugins, "shop", "customers", "7", to=to, create=False)
    with store.transaction() as s:
        assert [u.key for u in unmapped.waiting(s, "shop")] == ["7"]


def test_a_persons_create_makes_a_new_contact(
    engine: Engine, store: Store, sandbox: SandboxState, clock: FakeClock
) -> None:
    """`map --create` makes the record a new Xero object."""
    engine_plugin.put("customers", "8", clock.now(), name="B Ltd", ambiguous=True)
    run(engine.sync())
    unmapped.decide(store, engine.plugins, "shop", "customers", "8", to=None, create=True)
    summary = run(engine.sync())
    assert summary.streams["shop.customers"]["created"] == 1
    assert [c["Name"] for c in sandbox.records("Contacts")] == ["B Ltd"]


def test_missing_accounts_are_created_and_existing_ones_reused(
    engine: Engine, store: Store, sandbox: SandboxState
) -> None:
    """'Sales' exists already and is used; the bank account is created, once."""
    with store.transaction() as s:
        (src,) = s.exec(select(Source)).all()
    first = {o.name: o for o in run(ensure_accounts(engine, src))}
    assert (first["Sales"].created, first["Sales"].code) == (False, "200")
    assert first["Shop Bank"].created
    writes = engine.client.write_calls
    again = run(ensure_accounts(engine, src))
    assert not any(o.created for o in again)
    assert engine.client.write_calls == writes
    banks = [a for a in sandbox.records("Accounts") if a["Name"] == "Shop Bank"]
    assert len(banks) == 1 and banks[0]["Type"] == "BANK"


def test_a_setting_left_empty_takes_the_account_set_up_under_its_default_name(
    engine: Engine, store: Store
) -> None:
    """What waited for the setting (held for the setup) goes on once it is set up."""
    spec = engine.plugins.spec("enginetest")
    sources.update_settings(store, spec, "shop", {"bank_account": ""})
    with store.transaction() as s:
        (src,) = s.exec(select(Source)).all()
    outcomes = {o.setting: o.name for o in run(ensure_accounts(engine, src))}
    assert outcomes["bank_account"] == "Shop Bank"
    with store.transaction() as s:
        stored = sources.stored_values(s, sources.get(s, "shop"))
    assert stored["bank_account"] == "Shop Bank"
    assert stored.get("sales_account", "Sales") == "Sales"


def _deliver_webhooks(store: Store, sandbox: SandboxState) -> None:
    """Post the sandbox's pending webhook deliveries to the daemon's web app."""
    with store.transaction() as s:
        for conn in s.exec(select(Connection)).all():
            conn.webhook_key = encryption.encrypt(sandbox.webhooks.key)
            s.add(conn)

    async def post() -> None:
        web = create_app(store)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web)) as http:
            while (delivery := sandbox.webhooks.take_pending()) is not None:
                answer = await http.post(
                    "http://daemon/xero/webhooks", content=delivery.body, headers=delivery.headers
                )
                assert answer.status_code == 200

    run(post())


def test_a_change_in_xero_reaches_the_source_and_our_echoes_do_not(
    engine: Engine, store: Store, sandbox: SandboxState, clock: FakeClock
) -> None:
    """A contact renamed in Xero renames the customer; our own writes' webhooks are dropped."""
    seed(clock, 2, 0)
    run(engine.sync())
    _deliver_webhooks(store, sandbox)  # the echoes of our two creates
    run(engine.sync())
    with store.transaction() as s:
        assert [j.kind for j in s.exec(select(Job)).all()] == []
        applied = [r.message for r in s.exec(select(SyncLog)).all() if r.stream.startswith("xero:")]
    assert applied == ["echo of our own write: dropped"] * 2
    clock.advance(120)
    contact = next(c for c in sandbox.records("Contacts") if c["ContactNumber"] == "SHOP-C-1")
    sandbox.seed("Contacts", [{"ContactID": contact["ContactID"], "Name": "Renamed in Xero"}],
                 upsert=True)  # fmt: skip
    _deliver_webhooks(store, sandbox)
    run(engine.sync())
    assert engine_plugin.DATA["customers"]["1"]["name"] == "Renamed in Xero"


def test_a_change_from_xero_written_into_the_source_is_not_pushed_back(
    engine: Engine, store: Store, sandbox: SandboxState, clock: FakeClock
) -> None:
    """A rename in Xero moves the customer's updated_at at the source; read back, it is the
    echo of our write and goes nowhere; a person's edit after it goes to Xero as ever."""
    seed(clock, 2, 0)
    run(engine.sync())
    clock.advance(120)
    contact = next(c for c in sandbox.records("Contacts") if c["ContactNumber"] == "SHOP-C-1")
    sandbox.seed("Contacts", [{"ContactID": contact["ContactID"], "Name": "Renamed in Xero"}],
                 upsert=True)  # fmt: skip
    engine_plugin.TOUCH_AT.append(clock.now())
    _deliver_webhooks(store, sandbox)
    run(engine.sync())
    assert engine_plugin.DATA["customers"]["1"]["name"] == "Renamed in Xero"

    clock.advance(180)
    writes = engine.client.write_calls
    summary = run(engine.sync())
    assert summary.streams["shop.customers"]["read"] >= 1  # customer 1 read back ...
    assert engine.client.write_calls == writes  # ... as the echo it is, and not pushed

    engine_plugin.put("customers", "1", clock.now(), name="Edited here")
    run(engine.sync())
    assert engine.client.write_calls == writes + 1
    edited = next(c for c in sandbox.records("Contacts") if c["ContactNumber"] == "SHOP-C-1")
    assert edited["Name"] == "Edited here"


def test_change_data_that_is_not_json_is_refused_naming_the_field(
    engine: Engine, store: Store, sandbox: SandboxState, clock: FakeClock
) -> None:
    """A plugin that hands over a datetime is told which field, before anything is queued."""
    engine_plugin.put("customers", "1", clock.now(), name="A Ltd", paid_at=clock.now())
    run(engine.sync(max_wait=0))
    with store.transaction() as s:
        jobs = s.exec(select(Job)).all()
    assert [j.kind for j in jobs] == ["fetch"]
    assert "customers 1: Change.data['paid_at'] is a datetime, not JSON" in jobs[0].last_error
    assert sandbox.records("Contacts") == []
