"""Reading what changed in the marketplace, which has no modified-since filter: orders by
creation-time windows plus every order not yet final read again until it settles, and
subscriptions compared by their `lastModifiedDate`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from xerobridge_marketplace.client import (
    FINAL_STATUSES,
    MarketplaceClient,
    format_time,
    parse_time,
)

log = logging.getLogger(__name__)

#: Orders younger than this are left for the next read: an order may become visible to the
#: API a little after its creation time (UNVERIFIED; a cheap guard against missing one).
SETTLE_LAG = timedelta(minutes=2)


@dataclass
class OrderCursor:
    """Where the order read got to: orders created before `read_to` were read, and the status
    last seen of each one that was not final then."""

    read_to: datetime | None = None
    open: dict[str, str] = field(default_factory=dict)

    def to_text(self) -> str:
        """The cursor as the core stores it."""
        return json.dumps(
            {
                "read_to": format_time(self.read_to) if self.read_to else None,
                "open": dict(sorted(self.open.items())),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_text(cls, text: str | None) -> OrderCursor:
        """A stored cursor; None or empty starts from the beginning."""
        if not text:
            return cls()
        data = json.loads(text)
        read_to = data.get("read_to")
        return cls(parse_time(read_to) if read_to else None, dict(data.get("open") or {}))


class OrderChanges:
    """One read of new and changed orders; `cursor` is where the next read starts, once the
    iteration has finished.

    Open orders are read again first, by id, and given out only when their status moved; then
    the window from the last read to `now - SETTLE_LAG` is read by creation time. Orders not
    final at either step are followed until they are.
    """

    def __init__(
        self,
        client: MarketplaceClient,
        cursor: OrderCursor,
        *,
        now: datetime,
        start: datetime | None = None,
    ) -> None:
        self.client = client
        self.previous = cursor
        self.until = now - SETTLE_LAG
        self.start = cursor.read_to or start
        self.cursor = OrderCursor(cursor.read_to, dict(cursor.open))

    async def __aiter__(self) -> AsyncIterator[dict[str, object]]:
        still_open: dict[str, str] = {}
        async for order in self.client.reread_orders(sorted(self.previous.open)):
            key, status = str(order["id"]), str(order.get("status"))
            if status not in FINAL_STATUSES:
                still_open[key] = status
            if status != self.previous.open.get(key):
                yield order
        if self.start is not None and self.start >= self.until:
            self.cursor = OrderCursor(self.start, still_open)
            return
        async for order in self.client.iter_orders(self.start, self.until):
            key, status = str(order["id"]), str(order.get("status"))
            if key in self.previous.open:
                continue  # read again above already
            if status not in FINAL_STATUSES:
                still_open[key] = status
            yield order
        self.cursor = OrderCursor(self.until, still_open)


async def changed_subscriptions(
    client: MarketplaceClient, seen: dict[str, str]
) -> AsyncIterator[dict[str, object]]:
    """Subscriptions whose `lastModifiedDate` differs from `seen` (id -> date), which is updated
    as they are given out; the API cannot filter by modification, so every one is listed."""
    async for sub in client.iter_subscriptions():
        key, stamp = str(sub["id"]), str(sub.get("lastModifiedDate") or "")
        if seen.get(key) != stamp:
            seen[key] = stamp
            yield sub
