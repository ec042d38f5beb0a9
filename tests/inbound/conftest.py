"""From-Xero streams against the Xero sandbox, with the in-memory ledger plugin, on both stores."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette

from xerobridge.clock import FakeClock
from xerobridge.config import sources
from xerobridge.contract.plugins import Plugins, register_module
from xerobridge.sandboxes.xero import SandboxState
from xerobridge.store.db import Store
from xerobridge.sync.engine import Engine
from xerobridge.xero.connect import connect_client_credentials

import ledger_plugin
from inbound_helpers import run

APP_ID, APP_SECRET = "LEDGERTESTAPP", "ledger-secret"


@pytest.fixture
def plugins() -> Plugins:
    """Only the ledger."""
    info = register_module(ledger_plugin, "ledger")
    assert info.status == "ok", info.error
    return Plugins([info])


@pytest.fixture
def xero_http(app: Starlette) -> Iterator[httpx.AsyncClient]:
    """Every Xero host reaches the sandbox."""
    yield httpx.AsyncClient(transport=httpx.ASGITransport(app=app))


@pytest.fixture
def source(
    store: Store, sandbox: SandboxState, plugins: Plugins, xero_http: httpx.AsyncClient
) -> str:
    """A connected custom connection and a ledger source on it."""
    ledger_plugin.reset()
    sandbox.register_app(APP_ID, APP_SECRET, custom_tenant_id=sandbox.default_tenant_id)
    run(
        connect_client_credentials(
            store, name="org", client_id=APP_ID, client_secret=APP_SECRET, http=xero_http
        )
    )
    sources.add(store, plugins, "ledger", "books", connection="org", key_prefix="LG")
    return "books"


@pytest.fixture
def engine(
    store: Store, plugins: Plugins, xero_http: httpx.AsyncClient, clock: FakeClock, source: str
) -> Engine:
    """The engine, talking to the sandbox."""
    return Engine(store, plugins, clock=clock, xero_http=xero_http, worker_id="test-worker")
