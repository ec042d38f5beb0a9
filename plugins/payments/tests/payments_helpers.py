"""Helpers and fixtures for the payments plugin's tests: sandboxes, clients, a webhook catcher."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from xerobridge.sdk import FakeClock
from xerobridge_payments.client import PaymentsClient
from xerobridge_payments.sandbox import SandboxState, create_app

__all__ = [
    "BASE",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "WEBHOOK_SECRET",
    "Catcher",
    "client_for",
    "clock",
    "control",
    "http_for",
    "make_app",
    "run",
    "state_of",
]

BASE = "http://payments.test"
CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-client-secret"
WEBHOOK_SECRET = "sandbox-webhook-secret-0123456789"
T = TypeVar("T")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC))


def make_app(clock: FakeClock, **kwargs: Any) -> Starlette:
    """A sandbox app on the fake clock."""
    return create_app(clock, **kwargs)


def http_for(app: Starlette) -> httpx.AsyncClient:
    """An httpx client talking to the app in process (no sockets)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


def client_for(http: httpx.AsyncClient, clock: FakeClock, **kwargs: Any) -> PaymentsClient:
    """A client with the sandbox's API key, on the same fake clock as the sandbox."""
    kwargs.setdefault("client_id", CLIENT_ID)
    kwargs.setdefault("client_secret", CLIENT_SECRET)
    return PaymentsClient(http, BASE, clock=clock, **kwargs)


def run(
    app: Starlette,
    clock: FakeClock,
    work: Callable[[PaymentsClient], Awaitable[T]],
    **client_kwargs: Any,
) -> T:
    """Run `work(client)` against the app in a fresh event loop."""

    async def go() -> T:
        async with http_for(app) as http:
            return await work(client_for(http, clock, **client_kwargs))

    return asyncio.run(go())


def control(app: Starlette, method: str, path: str, body: Any = None) -> Any:
    """Call the sandbox's control API; returns the decoded answer (asserting success)."""

    async def go() -> Any:
        async with http_for(app) as http:
            response = await http.request(method, f"/_sandbox{path}", json=body)
        assert response.status_code < 400, response.text
        return response.json()

    return asyncio.run(go())


class Catcher:
    """An ASGI app that records the webhooks it receives (and answers `status`)."""

    def __init__(self, status: int = 202) -> None:
        self.status = status
        self.received: list[tuple[str | None, dict[str, Any]]] = []

        async def hook(request: Request) -> JSONResponse:
            self.received.append(
                (request.headers.get("authorization"), json.loads(await request.body()))
            )
            return JSONResponse({"ok": True}, status_code=self.status)

        self.app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://xerobridge.test"
        )

    @property
    def topics(self) -> list[str]:
        return [body["topic"] for _, body in self.received]


def state_of(app: Starlette) -> SandboxState:
    state: SandboxState = app.state.sandbox
    return state
