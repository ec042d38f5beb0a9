"""Helpers for the from-Xero tests: running coroutines and seeding the Xero sandbox."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from xerobridge.sandboxes.xero import SandboxState

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to the end (pytest-asyncio is not used)."""
    return asyncio.run(coro)


def contacts(sandbox: SandboxState, *names: str) -> list[dict[str, Any]]:
    """Contacts made in Xero by a person, now."""
    return sandbox.seed("Contacts", [{"Name": name} for name in names])


def invoices(
    sandbox: SandboxState, contact: dict[str, Any], amounts: list[int], *, kind: str = "ACCREC"
) -> list[dict[str, Any]]:
    """Authorised invoices of one contact, made in Xero now."""
    return sandbox.seed(
        "Invoices",
        [
            {
                "Type": kind,
                "Contact": {"ContactID": contact["ContactID"]},
                "Date": "2026-11-02",
                "DueDate": "2026-12-02",
                "Status": "AUTHORISED",
                "LineAmountTypes": "NoTax",
                "LineItems": [
                    {
                        "Description": "Work",
                        "Quantity": 1,
                        "UnitAmount": amount,
                        "AccountCode": "200" if kind == "ACCREC" else "400",
                    }
                ],
            }
            for amount in amounts
        ],
    )
