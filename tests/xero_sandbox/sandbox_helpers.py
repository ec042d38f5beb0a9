"""Helpers shared by the Xero sandbox tests (a module of its own so test files can import it)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
from starlette.applications import Starlette

T = TypeVar("T")
BASE_URL = "https://api.xero.com"
API = "/api.xro/2.0"


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one test's coroutine (pytest-asyncio is not used)."""
    return asyncio.run(coro)


class Api:
    """Builds clients that talk to the sandbox in-process, already authorised for a tenant."""

    def __init__(self, app: Starlette, token: str, tenant_id: str) -> None:
        self.app = app
        self.token = token
        self.tenant_id = tenant_id

    def client(
        self, *, token: str | None = None, tenant_id: str | None = None
    ) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token or self.token}", "Accept": "application/json"}
        tenant = tenant_id if tenant_id is not None else self.tenant_id
        if tenant:
            headers["xero-tenant-id"] = tenant
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=BASE_URL, headers=headers
        )

    def bare(self) -> httpx.AsyncClient:
        """A client with no credentials (identity endpoints, control API)."""
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=BASE_URL)


def invoice(contact: str = "Acme Ltd", **fields: Any) -> dict[str, Any]:
    """A valid sales invoice body element."""
    body: dict[str, Any] = {
        "Type": "ACCREC",
        "Contact": {"Name": contact},
        "Date": "2026-01-01",
        "DueDate": "2026-01-31",
        "LineAmountTypes": "Exclusive",
        "LineItems": [
            {
                "Description": "Widget",
                "Quantity": 2,
                "UnitAmount": 10.0,
                "AccountCode": "200",
                "TaxType": "OUTPUT",
            }
        ],
    }
    body.update(fields)
    return body
