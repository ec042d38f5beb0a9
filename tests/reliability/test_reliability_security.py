"""Security (issue 7, reliability item 6), on both stores: inbound hooks that are forged,
unsigned, replayed or carry another's secret are refused or change nothing; and after a whole
sync no token or source secret is in plain text in the database (SQLite: its file and its
-wal; PostgreSQL: every row) or in the logs.

A flood of half-open connections leaves the daemon answering: the server's connection limits.

The dashboard's login, CSRF and escaping checks, swept over every route, are in
test_reliability_dashboard_door.py.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from sqlmodel import select
from starlette.applications import Starlette

from xerobridge.clock import FakeClock
from xerobridge.config import connections, sources
from xerobridge.store.db import Store
from xerobridge.store.models import TABLES, Connection, XeroEventRow
from xerobridge.web.app import create_app
from xerobridge.web.connection_limits import ConnectionLimits, server_config
from xerobridge.web.serve import base_url, bind

from reliability_helpers import World

NOTIFY_SECRET = f"notify-{secrets.token_hex(12)}"
OTHER_SECRET = f"other-{secrets.token_hex(12)}"
WEBHOOK_KEY = base64.b64encode(secrets.token_bytes(48)).decode()


@pytest.fixture
def world(store_url: str, clock: FakeClock) -> Iterator[World]:
    """The sandboxes and the engine; the source takes notifications, the connection webhooks."""
    w = World(store_url, clock, extra_settings={"notify_secret": NOTIFY_SECRET})
    connections.set_webhook_key(w.store, "org", WEBHOOK_KEY)
    yield w
    w.close()


def post(app: Starlette, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    """One POST to the daemon's web app."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://daemon") as http:
            return await http.post(path, content=body, headers=headers)

    return asyncio.run(go())


def sign(body: bytes, key: str) -> str:
    """Xero's x-xero-signature: base64 HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def events_body(tenant_id: str, resource_id: str) -> bytes:
    """A webhook delivery of one contact update."""
    event = {
        "resourceUrl": f"https://api.xero.com/api.xro/2.0/Contacts/{resource_id}",
        "resourceId": resource_id,
        "eventDateUtc": "2026-01-01T00:00:00.000",
        "eventType": "UPDATE",
        "eventCategory": "CONTACT",
        "tenantId": tenant_id,
        "tenantType": "ORGANISATION",
    }
    payload = {"events": [event], "firstEventSequence": 1, "lastEventSequence": 1,
               "entropy": secrets.token_hex(10)}  # fmt: skip
    return json.dumps(payload).encode()


def recorded(store: Store) -> list[XeroEventRow]:
    """The webhook events recorded."""
    with store.transaction() as s:
        return list(s.exec(select(XeroEventRow)).all())


def test_forged_unsigned_and_replayed_webhooks_change_nothing(world: World) -> None:
    """Without a signature, with a wrong one, or signed by another key: 401 and nothing
    recorded. Signed by this connection's key for another organisation: nothing recorded. The
    same good delivery twice: recorded once."""
    app = create_app(world.store, plugins=world.plugins)
    tenant = world.sandbox.default_tenant_id
    body = events_body(tenant, "9f1c-contact")
    forged = sign(body, base64.b64encode(secrets.token_bytes(48)).decode())
    refused = {
        "unsigned": {},
        "empty": {"x-xero-signature": ""},
        "garbage": {"x-xero-signature": "not base64 at all"},
        "wrong key": {"x-xero-signature": forged},
        "other body": {"x-xero-signature": sign(body + b" ", WEBHOOK_KEY)},
    }
    for case, headers in refused.items():
        answer = post(app, "/xero/webhooks", body, headers)
        assert (answer.status_code, answer.content) == (401, b""), case
    assert recorded(world.store) == []

    # Signed with our key, but about an organisation this connection is not: not ours.
    elsewhere = events_body("00000000-0000-0000-0000-00000000dead", "other-contact")
    assert post(app, "/xero/webhooks", elsewhere,
                {"x-xero-signature": sign(elsewhere, WEBHOOK_KEY)}).status_code == 200  # fmt: skip
    assert recorded(world.store) == []

    good = {"x-xero-signature": sign(body, WEBHOOK_KEY)}
    for _ in range(3):  # Xero retries; an attacker replays
        assert post(app, "/xero/webhooks", body, good).status_code == 200
    (event,) = recorded(world.store)
    assert (event.tenant_id, event.resource_id) == (tenant, "9f1c-contact")


def test_notifications_need_their_own_sources_secret(world: World) -> None:
    """No secret, a wrong one, another source's: 401 and nothing queued; its own: 202."""
    values = {"base_url": "http://other.example", "notify_secret": OTHER_SECRET}
    sources.add(world.store, world.plugins, "magento", "other", connection="org", values=values)
    app = create_app(world.store, plugins=world.plugins)
    body = json.dumps({"stream": "customers", "keys": ["1"]}).encode()
    for case, secret in {"none": None, "wrong": "x" * len(NOTIFY_SECRET),
                         "another source's": OTHER_SECRET}.items():  # fmt: skip
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        assert post(app, "/sources/shop/notify", body, headers).status_code == 401, case
    assert [j for j in world.jobs() if j.kind == "fetch"] == []
    ok = post(app, "/sources/shop/notify", body, {"Authorization": f"Bearer {NOTIFY_SECRET}"})
    assert ok.status_code == 202
    assert [(j.stream, j.kind) for j in world.jobs()] == [("customers", "fetch")]


def secrets_of(world: World) -> dict[str, str]:
    """Every secret the installation holds, by name: what must never be stored or logged."""
    identity = world.sandbox.identity
    tokens = {f"access token {n}": t for n, t in enumerate(identity.access_tokens)}
    # The signature part alone is as secret as the whole token.
    tokens |= {f"access token {n} signature": t.rsplit(".", 1)[-1]
               for n, t in enumerate(identity.access_tokens)}  # fmt: skip
    assert tokens, "the connection never took a token"
    return {
        **tokens,
        "Xero client secret": world.client_secret,
        "Magento token": world.magento_token,
        "notify secret": NOTIFY_SECRET,
        "webhook key": WEBHOOK_KEY,
    }


def leaked(data: bytes, found: dict[str, str]) -> list[str]:
    """The secrets that appear in `data` as they are, or as JSON would escape them."""
    return [
        name
        for name, value in found.items()
        if value.encode() in data or json.dumps(value)[1:-1].encode() in data
    ]


def test_no_secret_in_plain_text_in_the_database_or_the_logs(
    world: World, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A whole sync, logging everything: the database and the log hold no secret as text."""
    caplog.set_level(logging.DEBUG)
    ids = world.add_customers(30)
    world.add_products(10)
    # A failure on the way, so that error paths log too.
    world.shop.add_fault(path="/V1/products", status=500)
    summary = world.sync()
    assert summary.failed == 0 and len(world.contact_numbers()) == len(ids)
    with world.store.transaction() as s:
        conn = s.exec(select(Connection)).one()
        assert conn.webhook_key and WEBHOOK_KEY not in conn.webhook_key

    found = secrets_of(world)
    assert not leaked(caplog.text.encode(), found), "secrets in the log"
    if world.store.is_sqlite:
        path = Path(store_url.removeprefix("sqlite:///"))
        wal = path.with_name(path.name + "-wal")
        assert wal.exists(), "no -wal file to check: is WAL mode off?"
        for file in (path, wal):
            assert not leaked(file.read_bytes(), found), f"secrets in {file.name}"
    else:
        assert not leaked(dump_rows(world.store).encode(), found), "secrets in the rows"
    # The checks can see a secret where there is one.
    assert leaked(f"Bearer {world.magento_token}".encode(), found) == ["Magento token"]


def dump_rows(store: Store) -> str:
    """Every row of every table, as text."""
    out = []
    with store.engine.connect() as conn:
        for table in TABLES:
            rows = conn.execute(sa.text(f'SELECT * FROM "{table.__tablename__}"')).all()
            out += [repr(tuple(row)) for row in rows]
    assert any("customers" in line for line in out)  # the dump holds the sync's rows
    return "\n".join(out)


@contextlib.contextmanager
def served(app: Starlette, limits: ConnectionLimits) -> Iterator[str]:
    """The app served by uvicorn with `limits` on a free port, in a thread; its base URL."""
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(server_config(app, limits))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.01)  # a real server starting in a thread
        yield base_url("127.0.0.1", sock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def half_open(url: str, count: int) -> list[socket.socket]:
    """`count` connections that each send part of a request's headers and then nothing."""
    host, port = url.removeprefix("http://").split(":")
    opened = []
    for _ in range(count):
        conn = socket.create_connection((host, int(port)), timeout=5)
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: daemon\r\nX-Slow: ")
        opened.append(conn)
    return opened


def closed_by_server(conns: list[socket.socket], wait: float) -> int:
    """How many of `conns` the server closes (each reads as end of file) within `wait` s."""
    closed = 0
    deadline = time.monotonic() + wait
    with selectors.DefaultSelector() as selector:
        for conn in conns:
            selector.register(conn, selectors.EVENT_READ)
        while closed < len(conns) and (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(left):
                conn = key.fileobj
                assert isinstance(conn, socket.socket)
                try:
                    ended = conn.recv(1024) == b""
                except ConnectionResetError:
                    ended = True
                if ended:
                    selector.unregister(conn)
                    closed += 1
    for conn in conns:
        conn.close()
    return closed


def test_a_flood_of_half_open_connections_leaves_the_daemon_answering(world: World) -> None:
    """Four times as many half-open connections as the server keeps: /healthz and a signed
    webhook are answered at once, as the connections waiting longest give way."""
    app = create_app(world.store, plugins=world.plugins)
    body = events_body(world.sandbox.default_tenant_id, "flood-contact")
    with served(app, ConnectionLimits(request_timeout=60, max_connections=50)) as url:
        flood = half_open(url, 200)
        with httpx.Client(base_url=url, timeout=5) as http:
            started = time.monotonic()
            assert http.get("/healthz").status_code == 200
            answer = http.post("/xero/webhooks", content=body,
                               headers={"x-xero-signature": sign(body, WEBHOOK_KEY)})  # fmt: skip
            assert answer.status_code == 200
            # Xero gives a delivery 5 s; making room costs a new connection nothing like that.
            assert time.monotonic() - started < 5
        # Long before the request timeout, all but the newest 50 have given way.
        assert closed_by_server(flood, wait=2) >= 150
    (event,) = recorded(world.store)
    assert event.resource_id == "flood-contact"


def test_a_connection_that_sends_no_whole_request_is_closed_in_time(world: World) -> None:
    """Connections that send nothing, or part of a request's headers, are closed after the
    request timeout; one that sends its request whole is answered and kept alive."""
    app = create_app(world.store, plugins=world.plugins)
    with served(app, ConnectionLimits(request_timeout=0.5)) as url:
        slow = half_open(url, 10)
        host, port = url.removeprefix("http://").split(":")
        silent = [socket.create_connection((host, int(port)), timeout=5) for _ in range(10)]
        with httpx.Client(base_url=url, timeout=5) as http:
            assert http.get("/healthz").status_code == 200
            assert closed_by_server(slow + silent, wait=5) == 20
            assert http.get("/healthz").status_code == 200
