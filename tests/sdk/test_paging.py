"""`changed_since`: keyset paging that reads each changed record once, whatever a read meets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xerobridge.sdk import Page, changed_since

SIZE = 3


class Api:
    """A list API filtering by stamp and sorting by (stamp, id), three records a page."""

    def __init__(self, stamps: list[int]) -> None:
        self.records = {n: {"id": n, "at": at} for n, at in enumerate(stamps, start=1)}
        self.requests = 0

    def _sorted(self, keep: Any) -> list[dict[str, Any]]:
        return sorted(
            (r for r in self.records.values() if keep(r)), key=lambda r: (r["at"], r["id"])
        )

    async def first(self, at: int | None, inclusive: bool) -> Page[dict[str, Any]]:
        self.requests += 1
        found = self._sorted(lambda r: at is None or r["at"] > at or (inclusive and r["at"] == at))
        return Page([dict(r) for r in found[:SIZE]], more=len(found) > SIZE)

    async def by_key(self, at: int, seen: set[str], read: int) -> Page[dict[str, Any]]:
        self.requests += 1
        after = max(int(k) for k in seen)
        found = self._sorted(lambda r: r["at"] == at and r["id"] > after)
        return Page([dict(r) for r in found[:SIZE]], more=len(found) > SIZE)

    async def by_position(self, at: int, seen: set[str], read: int) -> Page[dict[str, Any]]:
        self.requests += 1
        found = self._sorted(lambda r: r["at"] == at)
        return Page([dict(r) for r in found[read : read + SIZE]], more=len(found) > read + SIZE)


def read(api: Api, tie: str, since: int | None = None, edit: Any = None) -> list[int]:
    async def go() -> list[int]:
        out = []
        rest_of = api.by_key if tie == "key" else api.by_position
        found = changed_since(
            api.first, rest_of, since=since, stamp=lambda r: r["at"], key=lambda r: str(r["id"])
        )
        async for record in found:
            out.append(record["id"])
            if edit is not None:
                edit(api, out)
        return out

    return asyncio.run(go())


@pytest.mark.parametrize("tie", ["key", "position"])
def test_a_stamp_fuller_than_a_page_is_read_whole_and_once(tie: str) -> None:
    api = Api([5, 7, 7, 7, 7, 7, 7, 7, 9, 9])  # an import: seven records saved at once
    assert read(api, tie) == list(range(1, 11))
    assert api.requests <= 8  # finishing the stamp ends; it is never asked for again


@pytest.mark.parametrize("tie", ["key", "position"])
def test_since_is_inclusive_unless_asked_otherwise(tie: str) -> None:
    api = Api([1, 2, 3, 3, 4])
    assert read(api, tie, since=3) == [3, 4, 5]

    async def after() -> list[int]:
        return [r["id"] async for r in changed_since(
            api.first, api.by_key, since=3, inclusive=False,
            stamp=lambda r: r["at"], key=lambda r: str(r["id"]))]  # fmt: skip

    assert asyncio.run(after()) == [5]


def test_a_record_edited_during_the_read_is_read_again_and_none_is_skipped() -> None:
    api = Api(list(range(1, 13)))

    def edit(api: Api, out: list[int]) -> None:
        if len(out) == 4:  # someone edits an early record while the read is under way
            api.records[2]["at"] = 100

    seen = read(api, "key", edit=edit)
    assert set(seen) == set(range(1, 13)) and seen.count(2) == 2 and seen[-1] == 2


@settings(max_examples=60, derandomize=True, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=6), max_size=25),
    st.sampled_from(["key", "position"]),
)
def test_every_record_is_read_once_in_stamp_order(stamps: list[int], tie: str) -> None:
    api = Api(stamps)
    expected = [r["id"] for r in api._sorted(lambda r: True)]
    assert read(api, tie) == expected
