"""Helpers for the engine's tests."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to the end (pytest-asyncio is not used)."""
    return asyncio.run(coro)
