"""Xero's webhooks: signature checked on the raw body, intent to receive, duplicates ignored."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import select
from starlette.applications import Starlette

from xerobridge.sandboxes.xero import SandboxState
from xerobridge.sandboxes.xero.webhooks import Delivery
from xerobridge.store import encryption
from xerobridge.store.db import Store
from xerobridge.store.models import Connection, XeroEventRow
from xerobridge.web.app import create_app

from client_helpers import run

URL = "http://xerobridge.test/xero/webhooks"


@pytest.fixture
def web(store: Store, sandbox: SandboxState, connection_id: int) -> Starlette:
    """The daemon's web app, with the connection's webhook key set as the sandbox's."""
    with store.transaction() as s:
        conn = s.get(Connection, connection_id)
        assert conn is not None
        conn.webhook_key = encryption.encrypt(sandbox.webhooks.key)
        s.add(conn)
    return create_app(store)


def post(web: Starlette, delivery: Delivery) -> httpx.Response:
    """Deliver one webhook POST the way the sandbox (as Xero) would."""

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web)) as http:
            return await http.post(URL, content=delivery.body, headers=delivery.headers)

    return run(go())


def events(store: Store) -> list[XeroEventRow]:
    """Every recorded event."""
    with store.transaction() as s:
        return list(s.exec(select(XeroEventRow)).all())


def test_intent_to_receive_is_passed(web: Starlette, sandbox: SandboxState) -> None:
    """The correctly signed check gets 200 with an empty body, the wrongly signed one 401."""
    for delivery in sandbox.webhooks.intent_to_receive():
        response = post(web, delivery)
        assert response.status_code == delivery.expected_status
        assert response.content == b""


def test_events_are_recorded_once_even_when_delivered_twice(
    web: Starlette, store: Store, sandbox: SandboxState
) -> None:
    """A contact created in Xero becomes one event row, however often Xero repeats itself."""
    sandbox.seed("Contacts", [{"Name": "Hook Ltd", "ContactNumber": "H-1"}])
    delivery = sandbox.webhooks.take_pending()
    assert delivery is not None
    assert post(web, delivery).status_code == 200
    assert post(web, delivery).status_code == 200
    (row,) = events(store)
    assert (row.category, row.event_type) == ("CONTACT", "CREATE")
    assert row.tenant_id == sandbox.default_tenant_id


def test_a_tampered_body_is_refused_and_records_nothing(
    web: Starlette, store: Store, sandbox: SandboxState
) -> None:
    """The signature covers the raw bytes: one changed byte and the delivery is refused."""
    sandbox.seed("Contacts", [{"Name": "Hook Ltd", "ContactNumber": "H-1"}])
    delivery = sandbox.webhooks.take_pending()
    assert delivery is not None
    delivery.body = delivery.body.replace(b"CREATE", b"UPDATE")
    assert post(web, delivery).status_code == 401
    assert events(store) == []


def test_a_large_signed_delivery_is_checked_off_the_event_loop_and_recorded(
    web: Starlette, store: Store, sandbox: SandboxState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A delivery under the limit but large to hash has its signature checked in a thread,
    so the other requests go on meanwhile; it is recorded as any other."""
    import threading

    from xerobridge.web import xero_webhooks

    checked_on: list[str] = []
    check = xero_webhooks.matching_tenants

    def spy(*args):  # type: ignore[no-untyped-def]
        checked_on.append(threading.current_thread().name)
        return check(*args)

    monkeypatch.setattr(xero_webhooks, "matching_tenants", spy)
    sandbox.seed("Contacts", [{"Name": "Hook Ltd", "ContactNumber": "H-1"}])
    small = sandbox.webhooks.take_pending()
    assert small is not None
    assert post(web, small).status_code == 200
    sandbox.seed("Contacts", [{"Name": f"Hook {n}", "ContactNumber": f"H-{n}"}
                              for n in range(2, 400)])  # fmt: skip
    large = sandbox.webhooks.take_pending()
    assert large is not None and len(large.body) > xero_webhooks.HASH_ON_LOOP
    assert post(web, large).status_code == 200
    assert checked_on[0] == threading.current_thread().name != checked_on[1]
    assert len(events(store)) == 399


def test_a_body_over_the_limit_is_refused_before_its_signature_is_computed(
    web: Starlette, store: Store, sandbox: SandboxState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A declared or chunked body past the limit is answered 413, read no further, recorded
    nothing; however it claims to be signed."""
    from xerobridge.web import bodies, xero_webhooks

    signed: list[bytes] = []
    monkeypatch.setattr(xero_webhooks, "signature", lambda body, key: signed.append(body) or "")
    big = b"{" + b" " * xero_webhooks.XERO_BODY_LIMIT + b"}"
    read: list[int] = []

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(1000):  # 64 MiB offered, a chunk at a time
            read.append(1)
            yield b" " * 65536

    async def go() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web)) as http:
            headers = {"x-xero-signature": "AAAA"}
            declared = await http.post(URL, content=big, headers=headers)
            chunked = await http.post(URL, content=chunks(), headers=headers)
            login = await http.post(
                "http://xerobridge.test/login", content=b"x" * (bodies.BODY_LIMIT + 1)
            )
            return declared, chunked, login

    declared, chunked, login = run(go())
    assert (declared.status_code, chunked.status_code, login.status_code) == (413, 413, 413)
    assert signed == [] and events(store) == []
    assert len(read) < 40  # the app stopped reading a little past its 1 MiB limit


def test_events_with_unreadable_times_are_refused_and_old_ones_pruned(
    store: Store, connection_id: int
) -> None:
    """An event whose time cannot be read would never be recognised when replayed; handed-on
    events are dropped once they are a month old."""
    from datetime import timedelta

    from xerobridge.store.xero_events import KEPT, record_events

    with store.transaction() as s:
        tenant = s.get(Connection, connection_id).tenant_id  # type: ignore[union-attr]
    event = {"tenantId": tenant, "eventCategory": "CONTACT", "eventType": "UPDATE",
             "resourceId": "c-1", "eventDateUtc": "2026-11-30T10:00:00.000"}  # fmt: skip
    assert record_events(store, [{**event, "eventDateUtc": "yesterday"}], {tenant}) == 0
    assert record_events(store, [event], {tenant}) == 1
    assert record_events(store, [event], {tenant}) == 0  # a replay
    with store.transaction() as s:
        (row,) = s.exec(select(XeroEventRow)).all()
        row.processed_at = store.clock.now() - KEPT - timedelta(minutes=1)
        s.add(row)
    later = {**event, "resourceId": "c-2"}
    assert record_events(store, [later], {tenant}) == 1
    assert [r.resource_id for r in events(store)] == ["c-2"]
