"""The engine against the Xero sandbox, with a small in-memory source plugin, on both stores."""

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

import engine_plugin
from engine_helpers import run

CUSTOM_ID, CUSTOM_SECRET = "ENGINETESTAPP", "engine-secret"


@pytest.fixture
def plugins() -> Plugins:
    """Only the engine's test plugin."""
    info = register_module(engine_plugin, "enginetest")
    assert info.status == "ok", info.error
    return Plugins([info])


@pytest.fixture
def xero_http(app: Starlette) -> Iterator[httpx.AsyncClient]:
    """Every Xero host reaches the sandbox."""
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    yield client


@pytest.fixture
def source(
    store: Store, sandbox: SandboxState, plugins: Plugins, xero_http: httpx.AsyncClient
) -> str:
    """A connected custom connection and one source of the test plugin on it."""
    engine_plugin.reset()
    sandbox.register_app(CUSTOM_ID, CUSTOM_SECRET, custom_tenant_id=sandbox.default_tenant_id)
    run(
        connect_client_credentials(
            store, name="org", client_id=CUSTOM_ID, client_secret=CUSTOM_SECRET,
            http=xero_http,
        )
    )  # fmt: skip
    sources.add(store, plugins, "enginetest", "shop", connection="org", key_prefix="SHOP")
    return "shop"


@pytest.fixture
def engine(
    store: Store, plugins: Plugins, xero_http: httpx.AsyncClient, clock: FakeClock, source: str
) -> Engine:
    """The engine, talking to the sandbox."""
    return Engine(store, plugins, clock=clock, xero_http=xero_http, worker_id="test-worker")
