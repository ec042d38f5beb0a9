"""Fixtures of the marketplace plugin's tests: a sandbox on a FakeClock and a client reaching it
through httpx.ASGITransport (no sockets)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from xerobridge.sdk import FakeClock
from xerobridge_marketplace.client import MarketplaceClient
from xerobridge_marketplace.sandbox import SandboxState, create_app

from marketplace_helpers import BASE, START


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def app(clock: FakeClock) -> Starlette:
    return create_app(clock, seed=7, customers=12, subscriptions=30)


@pytest.fixture
def state(app: Starlette) -> SandboxState:
    sandbox: SandboxState = app.state.sandbox
    return sandbox


@pytest.fixture
def make_client(app: Starlette, clock: FakeClock) -> Iterator[Any]:
    """Build a client on the sandbox; keyword arguments override the right credentials."""

    def build(
        transport: httpx.AsyncBaseTransport | None = None, **override: Any
    ) -> MarketplaceClient:
        sandbox: SandboxState = app.state.sandbox
        http = httpx.AsyncClient(transport=transport or httpx.ASGITransport(app=app))
        args: dict[str, Any] = {
            "base_url": BASE,
            "username": sandbox.username,
            "password": sandbox.password,
            "marketplace": sandbox.marketplace,
            "subscription_key": sandbox.subscription_key,
            "page_size": 10,
            **override,
        }
        return MarketplaceClient(http, clock=clock, **args)

    yield build
