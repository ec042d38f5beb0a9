"""Helpers and fixtures for the ServiceDesk plugin's tests: sandbox apps and clients on them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import pytest
from starlette.applications import Starlette

from xerobridge.sdk import FakeClock
from xerobridge_servicedesk.auth import AuthtokenAuth, ZohoOAuth
from xerobridge_servicedesk.client import ServiceDeskClient
from xerobridge_servicedesk.sandbox import SandboxState, create_app

BASE = "http://msp.test"
TOKEN = "sandbox-authtoken"
V3 = {"Accept": "application/vnd.manageengine.sdp.v3+json", "authtoken": TOKEN}

T = TypeVar("T")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC))


def make_app(clock: FakeClock, **kwargs: Any) -> Starlette:
    """A sandbox app on the fake clock."""
    return create_app(clock, **kwargs)


def state_of(app: Starlette) -> SandboxState:
    state: SandboxState = app.state.sandbox
    return state


def http_for(app: Starlette, **kwargs: Any) -> httpx.AsyncClient:
    """An httpx client talking to the app in process (no sockets)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, **kwargs)


def zoho_auth(clock: FakeClock, **kwargs: Any) -> ZohoOAuth:
    """Zoho OAuth with the sandbox's credentials; the sandbox is its accounts server too."""
    values = {
        "client_id": "1000.SANDBOXCLIENT",
        "client_secret": "sandbox-client-secret",
        "refresh_token": "1000.sandbox-refresh-token",
        "accounts_url": BASE,
        "clock": clock,
        **kwargs,
    }
    return ZohoOAuth(**values)


def run(
    app: Starlette,
    work: Callable[[ServiceDeskClient], Awaitable[T]],
    *,
    auth: httpx.Auth | None = None,
    base: str = BASE,
    page_size: int = 100,
    transport: httpx.AsyncBaseTransport | None = None,
) -> T:
    """Run `work(client)` against the app in a fresh event loop."""

    async def go() -> T:
        async with httpx.AsyncClient(
            transport=transport or httpx.ASGITransport(app=app), base_url=BASE
        ) as http:
            kind = "zoho" if isinstance(auth, ZohoOAuth) else "authtoken"
            client = ServiceDeskClient(
                http, base, auth or AuthtokenAuth(TOKEN), page_size=page_size, auth_kind=kind
            )
            return await work(client)

    return asyncio.run(go())


async def collect(iterator: Any) -> list[dict[str, Any]]:
    return [record async for record in iterator]


def lists(state: SandboxState, path: str) -> list[str]:
    """The queries of GET requests to exactly this API path, oldest first."""
    return [q for m, q in state.request_log if m == "GET" and q.split("?")[0] == path]
