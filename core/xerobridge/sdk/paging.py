"""Reading what changed since a watermark, page by page, each record once: `changed_since`.

Offset paging loses records: one edited during the read moves to the end of the list and pushes
another across a page boundary unseen. Keyset paging does not: each request asks for the
records from the last stamp read on, sorted by stamp. A stamp shared by more records than a page
holds (an import saved in one second) would return the same page for ever, so such a stamp is
finished by a read of that stamp alone, and the read goes on after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

R = TypeVar("R")


@dataclass(frozen=True)
class Page(Generic[R]):
    """One page of a list, and whether more records follow it."""

    records: Sequence[R]
    more: bool


async def changed_since(
    first: Callable[[Any, bool], Awaitable[Page[R]]],
    rest_of: Callable[[Any, set[str], int], Awaitable[Page[R]]],
    *,
    stamp: Callable[[R], Hashable],
    key: Callable[[R], str],
    since: Any = None,
    inclusive: bool = True,
) -> AsyncIterator[R]:
    """Records stamped after `since` (at or after when `inclusive`), oldest first, each once.

    `first(at, inclusive)` reads the first page of the records stamped after `at` (or at it;
    every record when `at` is None), sorted by stamp. `rest_of(at, seen, read)` reads the next
    page of the records stamped exactly `at`, given the keys of that stamp already yielded and
    how many of its records were read, for an API that pages by key or by position.
    """
    at = since
    seen: set[str] = set()  # the keys yielded at stamp `at`
    while True:
        page = await first(at, inclusive)
        fresh = [r for r in page.records if not (stamp(r) == at and key(r) in seen)]
        for record in fresh:
            if stamp(record) != at:
                at, seen = stamp(record), set()
            seen.add(key(record))
            yield record
        inclusive = True
        if not page.more:
            return
        if fresh:
            continue
        read = len(page.records)  # a whole page of stamp `at`, all read already
        while True:
            tie = await rest_of(at, seen, read)
            for record in tie.records:
                if key(record) not in seen:
                    seen.add(key(record))
                    yield record
            read += len(tie.records)
            if not tie.more or not tie.records:
                break
        inclusive = False
