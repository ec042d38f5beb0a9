"""Access tokens: reuse, refresh under the database lease, rotation, refusal, several processes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from sqlmodel import select
from starlette.applications import Starlette

from xerobridge.clock import FakeClock, utcnow
from xerobridge.contract.errors import NeedsPerson, RetryLater
from xerobridge.sandboxes.xero import SandboxState, create_app
from xerobridge.sandboxes.xero.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from xerobridge.store.db import Store
from xerobridge.store.models import ActionLog, Connection, TokenGrant
from xerobridge.xero.auth import DEFAULT_API_URL, LEASE, TokenManager, load_tokens

from xero_auth_helpers import asgi_client, run, store_connection

WORKER = Path(__file__).with_name("refresh_worker.py")


def token_calls(sandbox: SandboxState) -> int:
    return sandbox.log.count(method="POST", path_contains="/connect/token")


def grant_of(store: Store, connection_id: int) -> TokenGrant:
    with store.transaction() as s:
        conn = s.get(Connection, connection_id)
        assert conn is not None and conn.grant_id is not None
        grant = s.get(TokenGrant, conn.grant_id)
        assert grant is not None
        return grant


def stored(store: Store, connection_id: int) -> dict[str, object]:
    return load_tokens(grant_of(store, connection_id))


async def organisation_status(http: httpx.AsyncClient, token: str, tenant_id: str) -> int:
    response = await http.get(
        f"{DEFAULT_API_URL}/Organisation",
        headers={"Authorization": f"Bearer {token}", "xero-tenant-id": tenant_id},
    )
    return response.status_code


def test_a_valid_token_is_used_without_a_call(
    store: Store, app: Starlette, sandbox: SandboxState, connection_id: int
) -> None:
    before = stored(store, connection_id)["access_token"]

    async def go() -> str:
        async with asgi_client(app) as http:
            return await TokenManager(store, http=http).access_token(connection_id)

    assert run(go()) == before
    assert token_calls(sandbox) == 0


def test_an_expiring_token_is_refreshed_once_and_stored(
    store: Store, app: Starlette, sandbox: SandboxState, clock: FakeClock, connection_id: int
) -> None:
    old = stored(store, connection_id)
    clock.advance(30 * 60 - 90)  # 90 s left: inside the two-minute leeway

    async def go() -> tuple[str, str, int]:
        async with asgi_client(app) as http:
            manager = TokenManager(store, http=http)
            first = await manager.access_token(connection_id)
            second = await manager.access_token(connection_id)
            return first, second, await organisation_status(http, first, sandbox.default_tenant_id)

    first, second, status = run(go())
    assert first != old["access_token"]
    assert second == first
    assert status == 200
    assert token_calls(sandbox) == 1
    grant = grant_of(store, connection_id)
    assert load_tokens(grant)["access_token"] == first
    assert grant.token_expires_at == clock.now() + timedelta(minutes=30)
    assert grant.last_refresh_at == clock.now()
    assert (grant.refresh_owner, grant.refresh_until) == ("", None)
    assert first not in grant.token  # encrypted at rest


def test_the_rotated_refresh_token_is_persisted(
    store: Store, app: Starlette, sandbox: SandboxState, connection_id: int
) -> None:
    old_refresh = stored(store, connection_id)["refresh_token"]

    async def go() -> tuple[int, int]:
        async with asgi_client(app) as http:
            current = stored(store, connection_id)["access_token"]
            await TokenManager(store, http=http).refresh(connection_id, stale=str(current))
            new_refresh = stored(store, connection_id)["refresh_token"]
            assert new_refresh != old_refresh
            auth = (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
            url = "https://identity.xero.com/connect/token"
            reused = await http.post(
                url, data={"grant_type": "refresh_token", "refresh_token": old_refresh}, auth=auth
            )
            assert reused.json() == {"error": "invalid_grant"}
            fresh = await http.post(
                url, data={"grant_type": "refresh_token", "refresh_token": new_refresh}, auth=auth
            )
            return reused.status_code, fresh.status_code

    assert run(go()) == (400, 200)


def test_invalid_grant_puts_every_connection_of_the_grant_in_error(
    store: Store, app: Starlette, sandbox: SandboxState, clock: FakeClock, connection_id: int
) -> None:
    second_org = sandbox.add_organisation("Second Ltd")
    other = store_connection(
        store,
        {},
        tenant_id=second_org.tenant_id,
        now=clock.now(),
        name="second",
        grant_id=grant_of(store, connection_id).id,
    )
    sandbox.identity.revoke(str(stored(store, connection_id)["refresh_token"]))
    clock.advance(30 * 60)

    async def go() -> tuple[str, str]:
        async with asgi_client(app) as http:
            manager = TokenManager(store, http=http)
            with pytest.raises(NeedsPerson) as first:
                await manager.access_token(connection_id)
            # Asked again, it does not spend another call on a refused grant.
            with pytest.raises(NeedsPerson) as again:
                await manager.access_token(other)
            return str(first.value), str(again.value)

    first, again = run(go())
    assert "Xero no longer accepts the authorisation of connection main (invalid_grant)" in first
    assert "reconnect it with `xerobridge connect --name main" in first
    assert "--client-id SANDBOXCLIENTID" in first and "--redirect-uri" in first
    assert "connection second" in again
    assert token_calls(sandbox) == 1
    with store.transaction() as s:
        conns = s.exec(select(Connection).order_by(Connection.id)).all()
        logs = s.exec(select(ActionLog).order_by(ActionLog.id)).all()
    assert [(c.name, c.status) for c in conns] == [("main", "error"), ("second", "error")]
    assert conns[0].status_reason == first
    assert [(row.connection_id, row.level) for row in logs] == [
        (connection_id, "action"),
        (other, "action"),
    ]
    assert logs[0].message == first
    grant = grant_of(store, connection_id)
    assert (grant.refresh_owner, grant.refresh_until) == ("", None)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (httpx.Response(401, json={"error": "invalid_client"}), NeedsPerson),
        (httpx.Response(403), NeedsPerson),
        (httpx.Response(503, text="busy"), RetryLater),
        (httpx.Response(429, headers={"Retry-After": "7"}), RetryLater),
        (httpx.ConnectError("connection refused"), RetryLater),
    ],
    ids=["401", "403", "503", "429", "network"],
)
def test_token_endpoint_failures(
    store: Store,
    clock: FakeClock,
    sandbox: SandboxState,
    connection_id: int,
    answer: httpx.Response | Exception,
    expected: type[Exception],
) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(reply)) as http:
            await TokenManager(store, http=http).refresh(connection_id)

    clock.advance(30 * 60)
    with pytest.raises(expected) as raised:
        run(go())
    with store.transaction() as s:
        conn = s.get(Connection, connection_id)
        logs = s.exec(select(ActionLog)).all()
    assert conn is not None
    grant = grant_of(store, connection_id)
    assert (grant.refresh_owner, grant.refresh_until) == ("", None)
    if expected is NeedsPerson:
        assert conn.status == "error" and len(logs) == 1
        assert "reconnect it with `xerobridge connect" in str(raised.value)
    else:
        assert conn.status == "connected" and not logs
        if isinstance(answer, httpx.Response) and answer.status_code == 429:
            assert isinstance(raised.value, RetryLater) and raised.value.retry_after == 7


def test_ten_concurrent_refreshes_in_one_process_make_one_call(
    store: Store, app: Starlette, sandbox: SandboxState, clock: FakeClock, connection_id: int
) -> None:
    clock.advance(30 * 60)
    old = str(stored(store, connection_id)["access_token"])

    async def go() -> tuple[list[str], list[str]]:
        async with asgi_client(app) as http:
            manager = TokenManager(store, http=http)
            expiring = await asyncio.gather(
                *(manager.access_token(connection_id) for _ in range(10))
            )
            # Ten calls refused with 401 for the same token: still one refresh between them.
            refused = await asyncio.gather(
                *(manager.on_unauthorized(connection_id, expiring[0]) for _ in range(10))
            )
            return list(expiring), list(refused)

    expiring, refused = run(go())
    assert len(set(expiring)) == 1 and expiring[0] != old
    assert len(set(refused)) == 1 and refused[0] != expiring[0]
    assert token_calls(sandbox) == 2


def test_a_401_refreshes_a_token_the_store_thinks_fresh(
    store: Store, app: Starlette, sandbox: SandboxState, connection_id: int
) -> None:
    sandbox.identity.expire_access_tokens()  # Xero's clock and ours disagree

    async def go() -> tuple[int, int]:
        async with asgi_client(app) as http:
            manager = TokenManager(store, http=http)
            token = await manager.access_token(connection_id)
            refused = await organisation_status(http, token, sandbox.default_tenant_id)
            token = await manager.on_unauthorized(connection_id, token)
            return refused, await organisation_status(http, token, sandbox.default_tenant_id)

    assert run(go()) == (401, 200)
    assert token_calls(sandbox) == 1


def test_a_dead_holders_lease_is_taken_over_when_it_runs_out(
    store: Store, app: Starlette, sandbox: SandboxState, clock: FakeClock, connection_id: int
) -> None:
    start = clock.now()
    grant = grant_of(store, connection_id)
    with store.transaction() as s:
        grant.refresh_owner, grant.refresh_until = "dead-host:4242:abc", start + LEASE
        s.add(grant)
    old = str(load_tokens(grant)["access_token"])

    async def go() -> str:
        async with asgi_client(app) as http:
            return await TokenManager(store, http=http).refresh(connection_id, stale=old)

    token = run(go())
    assert token != old
    assert clock.now() >= start + LEASE  # it waited for the lease, polling on the clock
    assert clock.now() < start + LEASE + timedelta(seconds=2)
    assert token_calls(sandbox) == 1
    grant = grant_of(store, connection_id)
    assert (grant.refresh_owner, grant.refresh_until) == ("", None)
    assert load_tokens(grant)["access_token"] == token


def test_a_failed_save_of_the_rotated_tokens_is_tried_again(
    store: Store,
    app: Starlette,
    sandbox: SandboxState,
    connection_id: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failures = [sa.exc.OperationalError("UPDATE token_grant", {}, Exception("database is locked"))]
    real = TokenManager._store_once

    def flaky(self: TokenManager, *args: Any) -> Any:
        if failures:
            raise failures.pop()
        return real(self, *args)

    monkeypatch.setattr(TokenManager, "_store_once", flaky)
    old = str(stored(store, connection_id)["access_token"])

    async def go() -> str:
        async with asgi_client(app) as http:
            return await TokenManager(store, http=http).refresh(connection_id, stale=old)

    token = run(go())
    assert not failures and token_calls(sandbox) == 1
    assert stored(store, connection_id)["access_token"] == token


def test_a_custom_connection_asks_for_a_new_token(
    store: Store, app: Starlette, sandbox: SandboxState, clock: FakeClock
) -> None:
    sandbox.register_app("CUSTOMAPP", "custom-secret", custom_tenant_id=sandbox.default_tenant_id)
    connection_id = store_connection(
        store,
        sandbox.issue_tokens("CUSTOMAPP"),
        tenant_id=sandbox.default_tenant_id,
        now=clock.now(),
        kind="custom",
        client_id="CUSTOMAPP",
        client_secret="custom-secret",
    )
    clock.advance(29 * 60)

    async def go() -> int:
        async with asgi_client(app) as http:
            token = await TokenManager(store, http=http).access_token(connection_id)
            return await organisation_status(http, token, sandbox.default_tenant_id)

    assert run(go()) == 200
    assert token_calls(sandbox) == 1
    assert "refresh_token" not in stored(store, connection_id)


# -- four processes -------------------------------------------------------------------------------


@pytest.fixture
def served_sandbox() -> Iterator[tuple[str, SandboxState]]:
    """The sandbox served for real by uvicorn on a free port, in a thread of this process."""
    app = create_app()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the sandbox did not start"
        assert thread.is_alive(), "the sandbox's server stopped"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", app.state.sandbox
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.slow
def test_four_processes_forcing_a_refresh_make_exactly_one(
    store_url: str, served_sandbox: tuple[str, SandboxState]
) -> None:
    base, sandbox = served_sandbox
    store = Store(store_url)
    tokens = sandbox.issue_tokens()
    connection_id = store_connection(
        store,
        tokens,
        tenant_id=sandbox.default_tenant_id,
        now=utcnow(),
        identity_url=base,
        api_url=f"{base}/api.xro/2.0",
    )
    stale = tokens["access_token"]
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), store_url, str(connection_id), stale, f"worker{i}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        for i in range(4)
    ]
    try:
        for proc in workers:  # every worker has imported everything and opened the store
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready", proc.communicate(timeout=10)
        for proc in workers:  # the barrier: all four start together
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = []
        for proc in workers:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, (out, err)
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    got = {r["token"] for r in results}
    assert len(got) == 1, results
    (token,) = got
    assert token != stale
    refreshes = [e for e in sandbox.log.entries if e.path == "/connect/token"]
    assert [e.status for e in refreshes] == [200]
    assert len([t for t in sandbox.identity.refresh_tokens.values() if t.rotated_at]) == 1
    response = httpx.get(f"{base}/connections", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert [c["tenantId"] for c in response.json()] == [sandbox.default_tenant_id]
    grant = grant_of(store, connection_id)
    assert load_tokens(grant)["access_token"] == token
    assert (grant.refresh_owner, grant.refresh_until) == ("", None)
    store.dispose()
