"""The Xero client against the Xero sandbox, in process, on both stores."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette

from xerobridge.clock import FakeClock
from xerobridge.sandboxes.xero import SandboxState
from xerobridge.store.db import Store
from xerobridge.store.models import Connection
from xerobridge.xero.client import Retry, XeroClient

from client_helpers import SandboxTokens

API_URL = "https://api.xero.com/api.xro/2.0"


@pytest.fixture
def connection_id(store: Store, sandbox: SandboxState) -> int:
    """A connected organisation in the store."""
    with store.transaction() as s:
        conn = Connection(
            name="sandbox",
            tenant_id=sandbox.default_tenant_id,
            tenant_name="Sandbox Company (AU)",
            short_code="!abc12",
            api_url=API_URL,
            status="connected",
        )
        s.add(conn)
        s.flush()
        assert conn.id is not None
        return conn.id


@pytest.fixture
def tokens(sandbox: SandboxState) -> SandboxTokens:
    """The token source the client uses."""
    return SandboxTokens(sandbox)


@pytest.fixture
def client(
    store: Store, app: Starlette, tokens: SandboxTokens, clock: FakeClock
) -> Iterator[XeroClient]:
    """A client talking to the sandbox through ASGITransport."""
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    yield XeroClient(store, tokens, http=http, clock=clock, worker_id="test", retry=Retry())
    asyncio.run(http.aclose())
