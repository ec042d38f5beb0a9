"""Cursor paging as the platform does it: `limit`, `after` / `before`, and the flat envelope.

A cursor is opaque to clients; here it is the (created_at, id) of a record, so records added
while someone pages never shift a page boundary. UNVERIFIED: the order of lists (oldest first
here), the largest `limit` (100 here) and the answer to a bad cursor (400 here).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

DEFAULT_LIMIT = 100
MAX_LIMIT = 100


class PagingError(ValueError):
    """A paging parameter the platform refuses; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _key(record: dict[str, Any]) -> tuple[str, str]:
    return (str(record.get("created_at", "")), str(record["id"]))


def encode_cursor(record: dict[str, Any]) -> str:
    """The cursor that points at a record."""
    raw = json.dumps(list(_key(record)), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(field: str, cursor: str) -> tuple[str, str]:
    """The (created_at, id) a cursor points at, or PagingError."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, ident = json.loads(raw)
        return str(created), str(ident)
    except (ValueError, TypeError):
        raise PagingError(field, "is not a cursor this API gave out") from None


def paginate(
    records: Sequence[dict[str, Any]],
    *,
    limit: str | None,
    after: str | None,
    before: str | None,
) -> dict[str, Any]:
    """One page of `records` (any order) in the platform's flat envelope."""
    size = DEFAULT_LIMIT
    if limit not in (None, ""):
        try:
            size = int(limit)
        except ValueError:
            raise PagingError("limit", "must be a whole number") from None
        if not 1 <= size <= MAX_LIMIT:
            raise PagingError("limit", f"must be from 1 to {MAX_LIMIT}")
    ordered = sorted(records, key=_key)
    if after:
        mark = decode_cursor("after", after)
        ordered_after = [r for r in ordered if _key(r) > mark]
        before_count = len(ordered) - len(ordered_after)
        page = ordered_after[:size]
        has_next = len(ordered_after) > size
        has_previous = before_count > 0
    elif before:
        mark = decode_cursor("before", before)
        ordered_before = [r for r in ordered if _key(r) < mark]
        page = ordered_before[-size:]
        has_previous = len(ordered_before) > size
        has_next = len(ordered_before) < len(ordered)
    else:
        page = ordered[:size]
        has_next = len(ordered) > size
        has_previous = False
    return {
        "data": page,
        "start_cursor": encode_cursor(page[0]) if page else None,
        "end_cursor": encode_cursor(page[-1]) if page else None,
        "has_next_page": has_next,
        "has_previous_page": has_previous,
    }


def nested(envelope: dict[str, Any]) -> dict[str, Any]:
    """The same page in the older form the quick-start guide shows: `pagination{...}`."""
    return {
        "data": envelope["data"],
        "pagination": {
            "has_next_page": envelope["has_next_page"],
            "end_cursor": envelope["end_cursor"],
        },
    }
