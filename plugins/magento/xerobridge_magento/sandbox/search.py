"""Magento's `searchCriteria`: parsing it from a query string and running it over a collection."""

from __future__ import annotations

import functools
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xerobridge_magento.sandbox.store import Collection

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# Magento's service layer accepts both spellings: the spec's camelCase and the docs' snake_case.
_ALIASES = {
    "filterGroups": "filter_groups",
    "sortOrders": "sort_orders",
    "pageSize": "page_size",
    "currentPage": "current_page",
    "conditionType": "condition_type",
}
CONDITIONS = frozenset(
    [
        "eq",
        "neq",
        "gt",
        "gteq",
        "lt",
        "lteq",
        "moreq",
        "like",
        "nlike",
        "in",
        "nin",
        "finset",
        "nfinset",
        "from",
        "to",
        "null",
        "notnull",
    ]
)
_RANGE_CONDITIONS = frozenset({"eq", "gt", "gteq", "moreq", "lt", "lteq", "from", "to"})


class SearchError(ValueError):
    """A searchCriteria Magento would refuse; `parameters` fill the message's placeholders."""

    def __init__(self, message: str, parameters: Mapping[str, str] | list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.parameters = parameters


@dataclass(frozen=True)
class Filter:
    """One `[filters][j]` entry."""

    field: str
    value: str
    condition_type: str = "eq"


@dataclass(frozen=True)
class SortOrder:
    """One `[sortOrders][k]` entry."""

    field: str
    direction: str = "ASC"


@dataclass
class SearchCriteria:
    """The parsed criteria; groups are ANDed, filters inside one group are ORed."""

    filter_groups: list[list[Filter]] = field(default_factory=list)
    sort_orders: list[SortOrder] = field(default_factory=list)
    page_size: int | None = None
    current_page: int | None = None

    def echo(self) -> dict[str, Any]:
        """The `search_criteria` object Magento sends back: the request as asked, not as served."""
        out: dict[str, Any] = {
            "filter_groups": [
                {
                    "filters": [
                        {"field": f.field, "value": f.value, "condition_type": f.condition_type}
                        for f in group
                    ]
                }
                for group in self.filter_groups
            ]
        }
        if self.sort_orders:
            out["sort_orders"] = [
                {"field": s.field, "direction": s.direction} for s in self.sort_orders
            ]
        if self.page_size is not None:
            out["page_size"] = self.page_size
        if self.current_page is not None:
            out["current_page"] = self.current_page
        return out


# -- parsing ---------------------------------------------------------------------------------------

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


def parse_php_query(items: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Nest `a[b][0][c]=v` pairs the way PHP builds `$_GET` (last value wins, `[]` appends)."""
    root: dict[str, Any] = {}
    for key, value in items:
        match = _KEY.match(key)
        if not match:
            root[key] = value
            continue
        parts = [match.group(1), *_PART.findall(match.group(2))]
        node = root
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        last = parts[-1]
        node[str(len(node)) if last == "" else last] = value
    return root


def _indexed(node: Any) -> list[Any]:
    """The values of a PHP list-like dict (`{"0": .., "1": ..}`) in index order."""
    if isinstance(node, list):
        return node
    if not isinstance(node, dict):
        return []

    def order(key: str) -> tuple[int, int | str]:
        return (0, int(key)) if key.isdigit() else (1, key)

    return [node[k] for k in sorted(node, key=order)]


def _canon(node: Any) -> Any:
    if isinstance(node, dict):
        return {_ALIASES.get(k, k): _canon(v) for k, v in node.items()}
    return node


def _int(value: Any, name: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise SearchError(
            'The "%value" value\'s type is invalid. The "%type" type was expected. '
            "Verify and try again.",
            {"value": str(value), "type": "int", "fieldName": name},
        ) from None


def parse_search_criteria(query: Mapping[str, Any]) -> SearchCriteria:
    """Build SearchCriteria from a parsed query; Magento requires the argument to be present."""
    if "searchCriteria" not in query:
        raise SearchError(
            '"%fieldName" is required. Enter and try again.', {"fieldName": "searchCriteria"}
        )
    raw = _canon(query["searchCriteria"])
    criteria = SearchCriteria()
    if not isinstance(raw, dict):
        return criteria  # `?searchCriteria` alone: everything, unpaged
    for group in _indexed(raw.get("filter_groups")):
        filters = []
        for item in _indexed(group.get("filters") if isinstance(group, dict) else None):
            if not isinstance(item, dict) or "field" not in item:
                continue
            condition = str(item.get("condition_type") or "eq").lower()
            if condition not in CONDITIONS:
                raise SearchError(
                    'Invalid value of "%value" provided for the %fieldName field.',
                    {"value": condition, "fieldName": "condition_type"},
                )
            filters.append(Filter(str(item["field"]), str(item.get("value", "")), condition))
        if filters:
            criteria.filter_groups.append(filters)
    for order in _indexed(raw.get("sort_orders")):
        if isinstance(order, dict) and order.get("field"):
            direction = str(order.get("direction") or "ASC").upper()
            criteria.sort_orders.append(SortOrder(str(order["field"]), direction))
    if raw.get("page_size") not in (None, ""):
        criteria.page_size = _int(raw["page_size"], "pageSize")
    if raw.get("current_page") not in (None, ""):
        criteria.current_page = _int(raw["current_page"], "currentPage")
    return criteria


def normalize_time(value: str) -> str:
    """A filter value for a datetime column in Magento's stored form; MySQL casts the same way."""
    text = value.strip().replace("T", " ")
    for fmt, size in ((TIME_FORMAT, 19), ("%Y-%m-%d %H:%M", 16), ("%Y-%m-%d", 10)):
        try:
            return datetime.strptime(text[:size], fmt).strftime(TIME_FORMAT)
        except ValueError:
            continue
    return text


# -- matching --------------------------------------------------------------------------------------


def _like(pattern: str) -> re.Pattern[str]:
    out = []
    for ch in pattern:
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return re.compile("^" + "".join(out) + "$", re.IGNORECASE | re.DOTALL)


def _cmp_value(actual: Any, value: str) -> tuple[Any, Any] | None:
    """Both sides in one comparable type; MySQL string columns compare case-insensitively."""
    if isinstance(actual, bool):
        actual = int(actual)
    if isinstance(actual, int | float):
        try:
            return actual, float(value)
        except ValueError:
            return None
    return str(actual).casefold(), value.casefold()


def matches(actual: Any, flt: Filter) -> bool:
    """Whether one record value satisfies one filter."""
    cond = flt.condition_type
    if cond == "null":
        return actual is None
    if cond == "notnull":
        return actual is not None
    if actual is None:
        # SQL: NULL fails every comparison, including the negated ones.
        return False
    if cond in ("in", "nin"):
        wanted = [v.strip() for v in flt.value.split(",")]
        hit = any(
            (pair := _cmp_value(actual, w)) is not None and pair[0] == pair[1] for w in wanted
        )
        return hit if cond == "in" else not hit
    if cond in ("finset", "nfinset"):
        hit = flt.value in str(actual).split(",")
        return hit if cond == "finset" else not hit
    if cond in ("like", "nlike"):
        hit = bool(_like(flt.value).match(str(actual)))
        return hit if cond == "like" else not hit
    pair = _cmp_value(actual, flt.value)
    if pair is None:
        return False
    left, right = pair
    if cond == "eq":
        return bool(left == right)
    if cond == "neq":
        return bool(left != right)
    if cond == "gt":
        return bool(left > right)
    if cond in ("gteq", "moreq", "from"):
        return bool(left >= right)
    if cond == "lt":
        return bool(left < right)
    if cond in ("lteq", "to"):
        return bool(left <= right)
    return False


# -- running ---------------------------------------------------------------------------------------


@dataclass
class SearchResult:
    """One page of a search, with the total over all pages."""

    items: list[dict[str, Any]]
    total_count: int


def _prepare(collection: Collection, criteria: SearchCriteria) -> list[list[Filter]]:
    """Resolve field aliases, refuse unknown fields, and normalise datetime values."""
    groups = []
    for group in criteria.filter_groups:
        resolved = []
        for flt in group:
            name = collection.field_name(flt.field)
            if name is None:
                # UNVERIFIED: real Magento fails deep in SQL (500) or ignores the field depending
                # on the collection; a clear 400 serves plugin authors better.
                raise SearchError(
                    '"%fieldName" is not a searchable field.', {"fieldName": flt.field}
                )
            value = flt.value
            if name.endswith("_at") and flt.condition_type in _RANGE_CONDITIONS | {"neq"}:
                value = normalize_time(value)
            resolved.append(Filter(name, value, flt.condition_type))
        groups.append(resolved)
    return groups


def run_search(collection: Collection, criteria: SearchCriteria) -> SearchResult:
    """Filter, sort and page like Magento's collections, using the collection's indexes."""
    groups = _prepare(collection, criteria)
    id_field = collection.id_field
    sort = [
        (collection.field_name(s.field) or s.field, s.direction == "DESC")
        for s in criteria.sort_orders
    ]

    candidates: list[dict[str, Any]] | None = None
    index_ordered = False
    residual = list(groups)
    for group in groups:
        if len(group) != 1:
            continue
        flt = group[0]
        if flt.field == id_field and flt.condition_type in ("eq", "in"):
            ids = (
                [v.strip() for v in flt.value.split(",")]
                if flt.condition_type == "in"
                else [flt.value]
            )
            found = {}
            for raw_id in ids:
                record = collection.get(raw_id)
                if record is not None:
                    found[record[id_field]] = record
            candidates = [found[k] for k in sorted(found)]
            residual.remove(group)
            break
        if flt.field == "updated_at" and flt.condition_type in _RANGE_CONDITIONS:
            lo, hi = _updated_range(collection.updated_index, flt)
            residual.remove(group)
            if not residual and _index_sort(sort, id_field):
                # The common incremental read: one bisect and one slice, whatever the store size.
                return _page_of_index(collection, lo, hi, criteria)
            candidates = [collection.get(rid) for _, rid in collection.updated_index[lo:hi]]  # type: ignore[misc]
            index_ordered = True
            break
    if candidates is None:
        candidates = list(collection.records.values())

    rows = [
        r for r in candidates if all(any(matches(r.get(f.field), f) for f in g) for g in residual)
    ]
    if sort:
        if not (index_ordered and _index_sort(sort, id_field)):
            for name, desc in reversed(sort):
                rows.sort(key=functools.partial(_field_key, name), reverse=desc)
    elif index_ordered:
        rows.sort(key=lambda r: r[id_field])
    total = len(rows)
    start, stop = _page_bounds(total, criteria)
    return SearchResult(rows[start:stop], total)


def _field_key(name: str, row: Mapping[str, Any]) -> tuple[int, Any]:
    return _sort_key(row.get(name))


def _sort_key(value: Any) -> tuple[int, Any]:
    # SQL puts NULL first in ascending order; mixed types compare as text.
    if value is None:
        return (0, "")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (1, value)
    return (2, str(value).casefold())


def _index_sort(sort: list[tuple[str, bool]], id_field: str) -> bool:
    return sort in ([("updated_at", False)], [("updated_at", False), (id_field, False)])


def _updated_range(index: list[tuple[str, int]], flt: Filter) -> tuple[int, int]:
    value, cond = flt.value, flt.condition_type
    low_key, high_key = (value, -1), (value, 1 << 62)
    lo, hi = 0, len(index)
    if cond in ("gteq", "moreq", "from", "eq"):
        lo = bisect_left(index, low_key)
    if cond == "gt":
        lo = bisect_right(index, high_key)
    if cond in ("lteq", "to", "eq"):
        hi = bisect_right(index, high_key)
    if cond == "lt":
        hi = bisect_left(index, low_key)
    return lo, max(lo, hi)


def _page_bounds(total: int, criteria: SearchCriteria) -> tuple[int, int]:
    """Magento's collection paging: pages start at 1 and a page past the end is the last page."""
    size = criteria.page_size
    if not size or size <= 0:
        return 0, total
    last_page = max(1, -(-total // size))
    page = criteria.current_page or 1
    page = min(max(page, 1), last_page)
    start = (page - 1) * size
    return start, min(start + size, total)


def _page_of_index(
    collection: Collection, lo: int, hi: int, criteria: SearchCriteria
) -> SearchResult:
    total = hi - lo
    start, stop = _page_bounds(total, criteria)
    rows = [collection.records[rid] for _, rid in collection.updated_index[lo + start : lo + stop]]
    return SearchResult(rows, total)


# -- `fields=` response trimming -------------------------------------------------------------------


def parse_fields(spec: str) -> dict[str, Any]:
    """Parse `items[id,sku,addresses[city]],total_count` into a nested selection."""
    pos = 0

    def parse_level() -> dict[str, Any]:
        nonlocal pos
        out: dict[str, Any] = {}
        name = ""
        while pos < len(spec):
            ch = spec[pos]
            pos += 1
            if ch == "[":
                out[name.strip()] = parse_level()
                name = ""
            elif ch == "]":
                break
            elif ch == ",":
                if name.strip():
                    out[name.strip()] = None
                name = ""
            else:
                name += ch
        if name.strip():
            out[name.strip()] = None
        return out

    return parse_level()


def apply_fields(data: Any, selection: Mapping[str, Any]) -> Any:
    """Keep only the selected keys (lists are trimmed element by element)."""
    if isinstance(data, list):
        return [apply_fields(item, selection) for item in data]
    if not isinstance(data, dict):
        return data
    out = {}
    for key, sub in selection.items():
        if key in data:
            out[key] = data[key] if sub is None else apply_fields(data[key], sub)
    return out
