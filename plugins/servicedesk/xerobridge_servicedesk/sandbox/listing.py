"""`input_data` and `list_info` as the v3 API reads them: search criteria, sorting, paging."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: What a list answers without a `row_count` (the v3 pagination page) and at most.
DEFAULT_ROW_COUNT = 10
MAX_ROW_COUNT = 100

_ALIASES = {
    "=": "is",
    "eq": "is",
    "!=": "is not",
    "neq": "is not",
    "gt": "greater than",
    "gte": "greater or equal",
    "lt": "lesser than",
    "lte": "lesser or equal",
}
CONDITIONS = (
    "is",
    "is not",
    "greater than",
    "greater or equal",
    "lesser than",
    "lesser or equal",
    "between",
    "not between",
    "starts with",
    "ends with",
    "contains",
    "not contains",
)


class ListError(ValueError):
    """A malformed `input_data`; `field` names what was wrong, like SDP's messages do."""

    def __init__(self, message: str, field: str = "input_data") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass
class ListInfo:
    """The parsed `list_info` of a list request."""

    row_count: int = DEFAULT_ROW_COUNT
    start_index: int = 1
    sort_field: str = "id"
    sort_order: str = "asc"
    get_total_count: bool = False
    search_criteria: Any = None

    @classmethod
    def parse(cls, input_data: Mapping[str, Any] | None) -> ListInfo:
        """From `input_data` (None: the API's defaults)."""
        raw = (input_data or {}).get("list_info") or {}
        if not isinstance(raw, Mapping):
            raise ListError("list_info must be an object", "list_info")
        info = cls()
        try:
            info.row_count = int(raw.get("row_count", DEFAULT_ROW_COUNT))
            info.start_index = int(raw.get("start_index", 1))
        except (TypeError, ValueError):
            raise ListError("row_count and start_index must be numbers", "list_info") from None
        if not 1 <= info.row_count <= MAX_ROW_COUNT:
            # UNVERIFIED: whether SDP refuses or clamps a larger row_count; refusing is the
            # stricter choice, so a client that asks for more finds out here.
            raise ListError(f"row_count must be from 1 to {MAX_ROW_COUNT}", "row_count")
        if info.start_index < 1:
            raise ListError("start_index starts at 1", "start_index")
        info.sort_field = str(raw.get("sort_field") or "id")
        info.sort_order = str(raw.get("sort_order") or "asc").lower()
        if info.sort_order not in ("asc", "desc"):
            raise ListError("sort_order must be asc or desc", "sort_order")
        info.get_total_count = bool(raw.get("get_total_count", False))
        info.search_criteria = raw.get("search_criteria")
        if info.search_criteria is not None:
            _check(info.search_criteria)
        return info

    def echo(self, has_more_rows: bool, total: int) -> dict[str, Any]:
        """The `list_info` of the answer."""
        out: dict[str, Any] = {
            "has_more_rows": has_more_rows,
            "start_index": self.start_index,
            "row_count": self.row_count,
            "sort_field": self.sort_field,
            "sort_order": self.sort_order,
        }
        if self.get_total_count:
            out["total_count"] = total
        if self.search_criteria is not None:
            out["search_criteria"] = self.search_criteria
        return out


def _check(criteria: Any) -> None:
    items = criteria if isinstance(criteria, list) else [criteria]
    for item in items:
        if not isinstance(item, Mapping) or "field" not in item:
            raise ListError("each search criterion needs a field", "search_criteria")
        condition = _ALIASES.get(str(item.get("condition", "is")), str(item.get("condition")))
        if condition not in CONDITIONS:
            raise ListError(f"unknown condition {item.get('condition')!r}", "search_criteria")
        for child in item.get("children") or ():
            _check(child)


def value_of(record: Mapping[str, Any], path: str) -> Any:
    """A dotted field of a record; a `{value, display_value}` time gives its value."""
    current: Any = record
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    if isinstance(current, Mapping) and "value" in current:
        return current["value"]
    if isinstance(current, Mapping) and "name" in current:
        return current["name"]
    return current


def _compare(left: Any, right: Any) -> tuple[Any, Any]:
    try:
        return float(left), float(right)
    except (TypeError, ValueError):
        return str(left or "").casefold(), str(right or "").casefold()


def _one(record: Mapping[str, Any], item: Mapping[str, Any]) -> bool:
    condition = _ALIASES.get(str(item.get("condition", "is")), str(item.get("condition", "is")))
    actual = value_of(record, str(item["field"]))
    values: Sequence[Any] = item.get("values") or [item.get("value")]
    if condition in ("between", "not between"):
        low, high = (_compare(actual, v)[1] for v in values[:2])
        here = _compare(actual, values[0])[0]
        inside = low <= here <= high
        return inside if condition == "between" else not inside
    results = []
    for wanted in values:
        a, w = _compare(actual, wanted)
        text, want = str(actual or "").casefold(), str(wanted or "").casefold()
        results.append(
            {
                "is": a == w,
                "is not": a != w,
                "greater than": a > w,
                "greater or equal": a >= w,
                "lesser than": a < w,
                "lesser or equal": a <= w,
                "starts with": text.startswith(want),
                "ends with": text.endswith(want),
                "contains": want in text,
                "not contains": want not in text,
            }[condition]
        )
    return all(results) if condition in ("is not", "not contains") else any(results)


def matches(record: Mapping[str, Any], criteria: Any) -> bool:
    """Whether a record passes search criteria (an object, or an array of them)."""
    if criteria is None:
        return True
    items = criteria if isinstance(criteria, list) else [criteria]
    result: bool | None = None
    for item in items:
        here = _one(record, item)
        for child in item.get("children") or ():
            op = str(child.get("logical_operator", "AND")).upper()
            here = (
                (here or matches(record, child))
                if op == "OR"
                else (here and matches(record, child))
            )
        if result is None:
            result = here
        elif str(item.get("logical_operator", "AND")).upper() == "OR":
            result = result or here
        else:
            result = result and here
    return bool(result)


def run_list(
    records: Sequence[Mapping[str, Any]], info: ListInfo
) -> tuple[list[Mapping[str, Any]], bool, int]:
    """The page a list request asks for, whether more rows follow, and how many match."""
    found = [r for r in records if matches(r, info.search_criteria)]

    def key(record: Mapping[str, Any]) -> tuple[Any, int]:
        value = value_of(record, info.sort_field)
        try:
            return (0, float(value)), int(record["id"])
        except (TypeError, ValueError):
            return (1, str(value or "").casefold()), int(record["id"])

    # Ties keep id order (UNVERIFIED: SDP's order among equal sort values).
    found.sort(key=key, reverse=info.sort_order == "desc")
    start = info.start_index - 1
    page = found[start : start + info.row_count]
    return page, start + info.row_count < len(found), len(found)
