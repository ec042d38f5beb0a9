"""Helpers shared by the Xero client's tests."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from xerobridge.sandboxes.xero import SandboxState

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to the end (pytest-asyncio is not used)."""
    return asyncio.run(coro)


@dataclass
class SandboxTokens:
    """Tokens minted by the sandbox; a 401 mints new ones, as a refresh would."""

    sandbox: SandboxState
    token: str = ""
    refreshes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.token = self.sandbox.issue_tokens()["access_token"]

    async def access_token(self, connection_id: int) -> str:
        return self.token

    async def on_unauthorized(self, connection_id: int, token: str) -> str:
        self.refreshes.append(token)
        self.token = self.sandbox.issue_tokens()["access_token"]
        return self.token
