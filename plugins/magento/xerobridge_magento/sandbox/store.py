"""Record collections with the indexes searches need: by id and by (updated_at, id)."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator, Mapping
from typing import Any


class Collection:
    """One entity table: records by id, plus a sorted (updated_at, id) index for change reads."""

    def __init__(
        self,
        name: str,
        id_field: str,
        aliases: Mapping[str, str] | None = None,
        fields: Iterable[str] = (),
    ) -> None:
        self.name = name
        self.id_field = id_field
        self.aliases = dict(aliases or {})
        self.records: dict[int, dict[str, Any]] = {}
        self.updated_index: list[tuple[str, int]] = []
        # The table's columns are searchable before any row exists (an empty store still has
        # its schema); fields first seen in records are added as they come.
        self._searchable: set[str] = {id_field, "updated_at", "created_at", *fields}
        self._next_id = 1

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records.values())

    def next_id(self) -> int:
        """Allocate an id; like MySQL auto-increment, ids of deleted rows are never reused."""
        value = self._next_id
        self._next_id += 1
        return value

    def field_name(self, name: str) -> str | None:
        """The record key a search field refers to, or None when it is not a top-level field."""
        name = self.aliases.get(name, name)
        return name if name in self._searchable else None

    def get(self, record_id: int | str) -> dict[str, Any] | None:
        """The record with this id, or None."""
        try:
            return self.records.get(int(record_id))
        except (TypeError, ValueError):
            return None

    def put(self, record: dict[str, Any]) -> None:
        """Insert or replace a record, keeping the updated_at index in step."""
        record_id = record[self.id_field]
        old = self.records.get(record_id)
        if old is not None:
            self._unindex(old)
        self.records[record_id] = record
        self._next_id = max(self._next_id, record_id + 1)
        insort(self.updated_index, (record["updated_at"], record_id))
        self._searchable.update(k for k, v in record.items() if not isinstance(v, dict | list))

    def touch(self, record: dict[str, Any], updated_at: str) -> None:
        """Move a stored record to a new updated_at."""
        self._unindex(record)
        record["updated_at"] = updated_at
        insort(self.updated_index, (updated_at, record[self.id_field]))

    def delete(self, record_id: int) -> dict[str, Any] | None:
        """Remove a record without trace; returns it, or None if it did not exist."""
        record = self.records.pop(record_id, None)
        if record is not None:
            self._unindex(record)
        return record

    def _unindex(self, record: dict[str, Any]) -> None:
        key = (record["updated_at"], record[self.id_field])
        pos = bisect_left(self.updated_index, key)
        if pos < len(self.updated_index) and self.updated_index[pos] == key:
            del self.updated_index[pos]
