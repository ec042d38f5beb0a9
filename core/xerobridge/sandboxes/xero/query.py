"""Xero's list queries: `where` expressions, `order`, paging and If-Modified-Since.

The `where` language is a subset of the .NET-style expressions Xero accepts: comparisons of a
(dotted) field with a literal (`"text"`, numbers, true/false/null, `Guid("...")`,
`DateTime(2026,01,31)`), the string methods `Contains`, `StartsWith`, `EndsWith`, `ToLower()`
and `ToUpper()`, joined with AND/OR (`&&`/`||`) and parentheses. String equality is
case-sensitive, as Xero's is (pyxero#172). A double quote inside a literal cannot be expressed,
as in Xero (Xero-Java#347), and gives a QueryParseException.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from xerobridge.sandboxes.xero.errors import query_parse_exception

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"[^"]*")
      | (?P<op>==|!=|<=|>=|<|>|&&|\|\||\(|\)|,|\.)
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)


@dataclass
class _Token:
    kind: str
    text: str


def _tokenize(text: str) -> list[_Token]:
    tokens = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise query_parse_exception(f"Unexpected character at position {pos} in '{text}'")
        kind = match.lastgroup or ""
        tokens.append(_Token(kind, match.group(kind)))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return tokens


def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda record: a(record) or b(record)


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda record: a(record) and b(record)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, text: str | None = None) -> _Token:
        token = self.peek()
        if token is None or (text is not None and token.text.upper() != text.upper()):
            raise query_parse_exception(f"Syntax error in '{self.text}'")
        self.pos += 1
        return token

    def parse(self) -> Predicate:
        predicate = self.parse_or()
        if self.peek() is not None:
            raise query_parse_exception(f"Syntax error in '{self.text}'")
        return predicate

    def parse_or(self) -> Predicate:
        left = self.parse_and()
        while (token := self.peek()) and token.text.upper() in ("OR", "||"):
            self.take()
            right = self.parse_and()
            left = _either(left, right)
        return left

    def parse_and(self) -> Predicate:
        left = self.parse_term()
        while (token := self.peek()) and token.text.upper() in ("AND", "&&"):
            self.take()
            right = self.parse_term()
            left = _both(left, right)
        return left

    def parse_term(self) -> Predicate:
        token = self.peek()
        if token is not None and token.text == "(":
            self.take("(")
            inner = self.parse_or()
            self.take(")")
            return inner
        if token is not None and token.text.upper() == "NOT":
            self.take()
            inner = self.parse_term()
            return lambda r: not inner(r)
        return self.parse_comparison()

    def parse_comparison(self) -> Predicate:
        path, transform, method = self.parse_field()
        if method is not None:
            argument = self.parse_literal()
            self.take(")")
            return _method_predicate(path, transform, method, argument)
        op_token = self.take()
        if op_token.text not in ("==", "!=", "<", ">", "<=", ">="):
            raise query_parse_exception(f"Expected a comparison in '{self.text}'")
        literal = self.parse_literal()
        return _comparison(path, transform, op_token.text, literal)

    def parse_field(self) -> tuple[list[str], str | None, str | None]:
        """A dotted field, an optional ToLower()/ToUpper(), maybe a string method call opened."""
        name = self.take()
        if name.kind != "name":
            raise query_parse_exception(f"Expected a field name in '{self.text}'")
        path = [name.text]
        transform = None
        while (token := self.peek()) and token.text == ".":
            self.take(".")
            part = self.take().text
            if part in ("ToLower", "ToUpper"):
                self.take("(")
                self.take(")")
                transform = part
            elif part in ("Contains", "StartsWith", "EndsWith"):
                self.take("(")
                return path, transform, part
            else:
                path.append(part)
        return path, transform, None

    def parse_literal(self) -> object:
        token = self.take()
        if token.kind == "string":
            return token.text[1:-1]
        if token.kind == "number":
            return Decimal(token.text)
        word = token.text
        if word.lower() in ("true", "false"):
            return word.lower() == "true"
        if word.lower() == "null":
            return None
        if word in ("Guid", "DateTime", "DateTimeOffset"):
            self.take("(")
            args = []
            while (peek := self.peek()) and peek.text != ")":
                args.append(self.take())
                if (sep := self.peek()) and sep.text == ",":
                    self.take(",")
            self.take(")")
            try:
                if word == "Guid":
                    return args[0].text.strip('"').lower()
                numbers = [int(a.text) for a in args]
                if len(numbers) > 3:
                    return _datetime_literal(numbers)
                return date(*numbers)
            except (IndexError, ValueError, TypeError) as exc:
                raise query_parse_exception(f"Invalid {word} literal in '{self.text}'") from exc
        raise query_parse_exception(f"Unexpected '{word}' in '{self.text}'")


def _datetime_literal(numbers: list[int]) -> datetime:
    """`DateTime(y, m, d, h[, mi[, s]])` in UTC; more parts is a TypeError."""
    if len(numbers) > 6:
        raise TypeError("too many parts")
    year, month, day, *clock = numbers
    hour, minute, second = (*clock, 0, 0, 0)[:3]
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def _resolve(record: dict[str, Any], path: list[str]) -> object:
    value: object = record
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _check_field(path: list[str], fields: set[str]) -> None:
    if path[0] not in fields:
        raise query_parse_exception(f"No property or field '{path[0]}' exists in this resource")


def _normalise(value: object, literal: object) -> tuple[object, object]:
    """Bring a field value and a literal to comparable types."""
    if isinstance(literal, Decimal) and not isinstance(value, Decimal):
        try:
            return Decimal(str(value)), literal
        except (InvalidOperation, ValueError):
            return value, literal
    if (
        isinstance(literal, datetime)
        and isinstance(value, date)
        and not isinstance(value, datetime)
    ):
        return datetime(value.year, value.month, value.day, tzinfo=UTC), literal
    if (
        isinstance(literal, date)
        and not isinstance(literal, datetime)
        and isinstance(value, datetime)
    ):
        return value.date(), literal
    if isinstance(literal, str) and isinstance(value, str) and _looks_like_guid(literal):
        return value.lower(), literal
    return value, literal


def _looks_like_guid(text: str) -> bool:
    return len(text) == 36 and text.count("-") == 4


def _transform(value: object, transform: str | None) -> object:
    if isinstance(value, str) and transform == "ToLower":
        return value.lower()
    if isinstance(value, str) and transform == "ToUpper":
        return value.upper()
    return value


def _comparison(path: list[str], transform: str | None, op: str, literal: object) -> Predicate:
    def predicate(record: dict[str, Any]) -> bool:
        value = _transform(_resolve(record, path), transform)
        value, lit = _normalise(value, literal)
        if op == "==":
            return value == lit
        if op == "!=":
            return value != lit
        if value is None or lit is None:
            return False
        try:
            if op == "<":
                return value < lit  # type: ignore[operator]
            if op == ">":
                return value > lit  # type: ignore[operator]
            if op == "<=":
                return value <= lit  # type: ignore[operator]
            return value >= lit  # type: ignore[operator]
        except TypeError:
            return False

    predicate.path = path  # type: ignore[attr-defined]
    return predicate


def _method_predicate(
    path: list[str], transform: str | None, method: str, argument: object
) -> Predicate:
    def predicate(record: dict[str, Any]) -> bool:
        value = _transform(_resolve(record, path), transform)
        if not isinstance(value, str) or not isinstance(argument, str):
            return False
        if method == "Contains":
            return argument in value
        if method == "StartsWith":
            return value.startswith(argument)
        return value.endswith(argument)

    predicate.path = path  # type: ignore[attr-defined]
    return predicate


def parse_where(text: str, fields: set[str] | None = None) -> Predicate:
    """Compile a `where` expression; unknown top-level fields are refused when `fields` is given."""
    parser = _Parser(text)
    predicate = parser.parse()
    if fields is not None:
        for index, token in enumerate(parser.tokens):
            previous = parser.tokens[index - 1].text if index else ""
            following = parser.tokens[index + 1].text if index + 1 < len(parser.tokens) else ""
            is_field_start = token.kind == "name" and previous != "." and following != "("
            keyword = token.text.upper() in ("AND", "OR", "NOT", "TRUE", "FALSE", "NULL")
            if is_field_start and not keyword:
                _check_field([token.text], fields)
    return predicate


def parse_order(text: str, fields: set[str]) -> list[tuple[list[str], bool]]:
    """`order=Name ASC, UpdatedDateUTC DESC` as (path, descending) pairs."""
    keys = []
    for part in text.split(","):
        words = part.split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC")):
            raise query_parse_exception(f"Invalid order clause '{part.strip()}'")
        path = words[0].split(".")
        _check_field(path, fields)
        keys.append((path, len(words) == 2 and words[1].upper() == "DESC"))
    return keys


def sort_records(records: list[dict[str, Any]], keys: list[tuple[list[str], bool]]) -> None:
    """Stable multi-key sort; nulls first ascending, as SQL Server orders them."""
    for path, descending in reversed(keys):
        records.sort(
            key=lambda r, p=path: _sort_key(_resolve(r, p)),  # type: ignore[misc]
            reverse=descending,
        )


def _sort_key(value: object) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, datetime):
        return (1, value.timestamp())
    if isinstance(value, date):
        return (1, datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())
    if isinstance(value, bool | int | float | Decimal):
        return (1, float(value))
    return (2, str(value).casefold())


def paginate(
    records: list[dict[str, Any]], page: int, page_size: int
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """One page and the spec's Pagination object."""
    item_count = len(records)
    page_count = (item_count + page_size - 1) // page_size
    start = (page - 1) * page_size
    return records[start : start + page_size], {
        "page": page,
        "pageSize": page_size,
        "pageCount": page_count,
        "itemCount": item_count,
    }


def modified_since(record: dict[str, Any], since: datetime) -> bool:
    """Whether a record changed at or after the If-Modified-Since moment (ms precision).

    Xero says "created or modified since"; whether the bound is inclusive is not documented.
    Inclusive is the safe reading for a poller that passes back the newest UpdatedDateUTC it
    saw: it may see a record twice, never miss one.
    """
    updated = record.get("UpdatedDateUTC")
    if not isinstance(updated, datetime):
        return True
    return int(updated.timestamp() * 1000) >= int(since.timestamp() * 1000)
