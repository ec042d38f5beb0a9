"""Helpers shared by the Xero auth and connect tests (a module of its own, so tests import it)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import datetime
from typing import Any, TypeVar

import httpx
from starlette.applications import Starlette

from xerobridge.sandboxes.xero.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from xerobridge.store.db import Store
from xerobridge.store.encryption import encrypt
from xerobridge.store.models import Connection, TokenGrant
from xerobridge.xero.auth import (
    DEFAULT_API_URL,
    DEFAULT_IDENTITY_URL,
    expires_at,
    save_tokens,
    token_set,
)

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to its end (pytest-asyncio is not used)."""
    return asyncio.run(coro)


def asgi_client(app: Starlette) -> httpx.AsyncClient:
    """An http client whose every request goes to the sandbox in process."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app))


def store_connection(
    store: Store,
    tokens: dict[str, Any],
    *,
    tenant_id: str,
    now: datetime,
    name: str = "main",
    kind: str = "web",
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    identity_url: str = DEFAULT_IDENTITY_URL,
    api_url: str = DEFAULT_API_URL,
    grant_id: int | None = None,
) -> int:
    """A connected connection holding `tokens` (a token response); a new grant unless given."""
    with store.transaction() as s:
        if grant_id is None:
            grant = TokenGrant(
                auth_kind=kind,
                client_id=client_id,
                client_secret=encrypt(client_secret),
                identity_url=identity_url,
                scope=tokens.get("scope", ""),
                token_expires_at=expires_at(tokens, now),
                created_at=now,
            )
            save_tokens(grant, token_set(tokens, now))
            s.add(grant)
            s.flush()
            grant_id = grant.id
        conn = Connection(
            name=name,
            grant_id=grant_id,
            tenant_id=tenant_id,
            status="connected",
            api_url=api_url,
            created_at=now,
        )
        s.add(conn)
        s.flush()
        assert conn.id is not None
        return conn.id
