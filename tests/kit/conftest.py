"""The test kit on both stores: in this repository its harness runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from xerobridge.clock import FakeClock
from xerobridge.store.db import Store


@pytest.fixture
def xb_new_store(
    store_url: str, xb_clock: FakeClock, xb_isolated: Path
) -> Iterator[Callable[[], Store]]:
    """The harness's store on the repository's `store_url` (one database per test)."""
    made: list[Store] = []

    def make() -> Store:
        assert not made, "store_url gives one database per test: use one harness per test"
        made.append(Store(store_url, clock=xb_clock))
        return made[0]

    yield make
    for store in made:
        store.dispose()
