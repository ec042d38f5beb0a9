"""Requests checked against Xero's official Accounting OpenAPI description.

Every call the sandbox receives on /api.xro/2.0 is matched to its spec operation and its query
parameters and JSON body are checked against the packaged compact schema (schema/accounting.json,
generated from xero_accounting.yaml): parameter names and types, property names (an unknown
property is a violation), types, enums, the properties the spec marks required, uuid and date
formats. Validators are compiled once per schema and cached.

Real Xero is more forgiving than this: its deserialiser ignores unknown properties and matches
names case-insensitively. The sandbox is strict on purpose, so that a client's typo (which Xero
would silently drop) is found in a test. Deliberately *not* checked:

- `readOnly` properties in requests (Xero ignores them; clients that echo records send them);
- `maxLength` (Xero reports those per element, as business rules, e.g. Item Code <= 30);
- JSON `null` (treated as absent; Xero accepts it, and OpenAPI 3.0 would need `nullable`);
- path parameter formats (Xero takes an InvoiceNumber where the spec says InvoiceID);
- headers (the tenant check and If-Modified-Since parsing are the API's own).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import parse_qsl

from xerobridge.sandboxes.xero import schema as packaged

Checker = Callable[[Any, str, list[str]], None]

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_MS_DATE = re.compile(r"^/Date\(-?\d+([+-]\d{4})?\)/$")
# Xero takes plain ISO dates in requests (its own examples send "2019-03-11"), optionally
# with a time, as well as its MS-JSON form.
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")
_INTEGER = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
INT32 = (-(2**31), 2**31 - 1)
MAX_ENUM_IN_MESSAGE = 12


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {json.dumps(value)}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {json.dumps(shown)}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _enum_text(values: list[Any]) -> str:
    shown = ", ".join(str(v) for v in values[:MAX_ENUM_IN_MESSAGE])
    return shown + (", ..." if len(values) > MAX_ENUM_IN_MESSAGE else "")


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


class SchemaCompiler:
    """Turns compact schema nodes into checker functions; component schemas compile once."""

    def __init__(self, schemas: dict[str, Any], *, check_required: bool = True) -> None:
        self.schemas = schemas
        self.check_required = check_required
        self._named: dict[str, Checker] = {}

    def named(self, name: str) -> Checker:
        found = self._named.get(name)
        if found is None:
            # `$ref`s compile to lookups made when checking, so recursive schemas are fine.
            found = self._named[name] = self.compile(self.schemas[name], name)
        return found

    def compile(self, node: dict[str, Any], title: str = "") -> Checker:
        if "$ref" in node:
            name = node["$ref"]

            def by_name(value: Any, where: str, problems: list[str]) -> None:
                self.named(name)(value, where, problems)

            return by_name
        kind = node.get("type")
        if "properties" in node or kind == "object":
            return self._object(node, title)
        if kind == "array":
            return self._array(node)
        if kind == "string":
            return self._string(node)
        if kind in ("number", "integer"):
            return self._number(node, kind)
        if kind == "boolean":
            return _boolean
        return _anything

    def _object(self, node: dict[str, Any], title: str) -> Checker:
        properties = {k: self.compile(v) for k, v in node.get("properties", {}).items()}
        open_object = "properties" not in node  # `type: object` alone takes any members
        required = tuple(node.get("required", ())) if self.check_required else ()
        owner = f" of {title}" if title else ""

        def check(value: Any, where: str, problems: list[str]) -> None:
            if value is None:
                return
            if not isinstance(value, dict):
                problems.append(
                    f"{where or 'the body'}: expected an object, got {_describe(value)}"
                )
                return
            for key, item in value.items():
                checker = properties.get(key)
                if checker is None:
                    if not open_object:
                        problems.append(f"{_join(where, key)} is not a property{owner}")
                    continue
                checker(item, _join(where, key), problems)
            for key in required:
                if value.get(key) is None:
                    problems.append(f"{_join(where, key)} is required{owner}")

        return check

    def _array(self, node: dict[str, Any]) -> Checker:
        item_check = self.compile(node.get("items", {}))

        def check(value: Any, where: str, problems: list[str]) -> None:
            if value is None:
                return
            if not isinstance(value, list):
                problems.append(f"{where}: expected an array, got {_describe(value)}")
                return
            for index, item in enumerate(value):
                item_check(item, f"{where}[{index}]", problems)

        return check

    def _string(self, node: dict[str, Any]) -> Checker:
        enum = node.get("enum")
        allowed = frozenset(enum) if enum else None
        pattern: re.Pattern[str] | None = None
        label = ""
        if node.get("format") == "uuid":
            pattern, label = _UUID, "a uuid"
        dated = bool(node.get("x-is-msdate") or node.get("x-is-msdate-time"))

        def check(value: Any, where: str, problems: list[str]) -> None:
            if value is None:
                return
            if not isinstance(value, str):
                problems.append(f"{where}: expected a string, got {_describe(value)}")
                return
            if allowed is not None and value not in allowed:
                problems.append(
                    f"{where}: {json.dumps(value)} is not one of {_enum_text(enum)}"  # type: ignore[arg-type]
                )
            elif pattern is not None and not pattern.match(value):
                problems.append(f"{where}: {json.dumps(value)} is not {label}")
            elif dated and value and not (_ISO_DATE.match(value) or _MS_DATE.match(value)):
                problems.append(
                    f"{where}: {json.dumps(value)} is not a date (YYYY-MM-DD or /Date(ms)/)"
                )

        return check

    def _number(self, node: dict[str, Any], kind: str) -> Checker:
        integer = kind == "integer"
        int32 = node.get("format") == "int32"

        def check(value: Any, where: str, problems: list[str]) -> None:
            if value is None:
                return
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems.append(f"{where}: expected a {kind}, got {_describe(value)}")
                return
            if integer and isinstance(value, float) and not value.is_integer():
                problems.append(f"{where}: expected an integer, got {_describe(value)}")
            elif int32 and not INT32[0] <= value <= INT32[1]:
                problems.append(f"{where}: {value} is out of the int32 range")

        return check


def _boolean(value: Any, where: str, problems: list[str]) -> None:
    if value is not None and not isinstance(value, bool):
        problems.append(f"{where}: expected a boolean, got {_describe(value)}")


def _anything(value: Any, where: str, problems: list[str]) -> None:
    return None


# ---- query parameters -------------------------------------------------------------------------


def _query_checker(name: str, schema: dict[str, Any]) -> Callable[[str, list[str]], None]:
    """A checker of one query parameter's raw text (arrays are comma-separated: explode=false)."""
    kind = schema.get("type")
    if kind == "array":
        item = _query_checker(name, schema.get("items", {}))

        def check_array(text: str, problems: list[str]) -> None:
            for part in text.split(","):
                item(part.strip(), problems)

        return check_array
    if kind == "boolean":

        def check_boolean(text: str, problems: list[str]) -> None:
            if text.lower() not in ("true", "false"):
                problems.append(f"query {name}: expected true or false, got {json.dumps(text)}")

        return check_boolean
    if kind in ("integer", "number"):
        pattern = _INTEGER if kind == "integer" else _NUMBER

        def check_number(text: str, problems: list[str]) -> None:
            if not pattern.match(text):
                problems.append(f"query {name}: expected an {kind}, got {json.dumps(text)}")

        return check_number
    enum = schema.get("enum")
    uuid = schema.get("format") == "uuid"

    def check_string(text: str, problems: list[str]) -> None:
        if enum and text not in enum:
            problems.append(f"query {name}: {json.dumps(text)} is not one of {_enum_text(enum)}")
        elif uuid and not _UUID.match(text):
            problems.append(f"query {name}: {json.dumps(text)} is not a uuid")

    return check_string


# ---- operations -------------------------------------------------------------------------------


@dataclass
class Operation:
    """One spec operation with its compiled checkers."""

    id: str
    method: str
    path: str
    pattern: re.Pattern[str]
    uuid_params: tuple[int, ...]  # segment indexes whose parameter is a uuid
    query: dict[str, Callable[[str, list[str]], None]]
    required_query: tuple[str, ...]
    body: Checker | None
    body_required: bool
    body_name: str
    response: Checker | None = None

    def fits(self, segments: list[str]) -> bool:
        return all(_UUID.match(segments[i]) for i in self.uuid_params)


@dataclass
class Outcome:
    """What validation found: the operation (None when the spec has none) and the problems."""

    operation: Operation | None
    problems: list[str] = field(default_factory=list)
    body: Any = None  # the parsed JSON body, when there was a valid one
    body_is_json: bool = True


class Validator:
    """Matches requests to spec operations and checks them. Build once; it is thread-safe."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.version = data["source"]["version"]
        self.schemas = data["schemas"]
        self._requests = SchemaCompiler(self.schemas)
        self._responses = SchemaCompiler(self.schemas, check_required=False)
        self.operations: dict[str, list[Operation]] = {}
        for raw in data["operations"]:
            operation = self._operation(raw)
            self.operations.setdefault(operation.method, []).append(operation)
        for ops in self.operations.values():
            # Templates with more uuid parameters first: /Contacts/{ContactID} is tried before
            # /Contacts/{ContactNumber}.
            ops.sort(key=lambda op: -len(op.uuid_params))

    def _operation(self, raw: dict[str, Any]) -> Operation:
        parts = [p for p in raw["path"].split("/") if p]
        regex = []
        uuid_params = []
        for index, part in enumerate(parts):
            if part.startswith("{"):
                regex.append("[^/]+")
                param = raw["path_params"].get(part[1:-1], {})
                if param.get("format") == "uuid":
                    uuid_params.append(index)
            else:
                regex.append(re.escape(part))
        body = raw.get("body")
        return Operation(
            id=raw["id"],
            method=raw["method"],
            path=raw["path"],
            # Xero's paths are case-insensitive (the sandbox routes them so too).
            pattern=re.compile("^/" + "/".join(regex) + "/?$", re.IGNORECASE),
            uuid_params=tuple(uuid_params),
            query={
                name: _query_checker(name, entry["schema"]) for name, entry in raw["query"].items()
            },
            required_query=tuple(n for n, e in raw["query"].items() if e.get("required")),
            body=self._requests.compile(body) if body is not None else None,
            body_required=bool(raw.get("body_required")),
            body_name=body.get("$ref", "body") if body is not None else "",
            response=(self._responses.compile(raw["response"]) if raw.get("response") else None),
        )

    def find(self, method: str, path: str) -> Operation | None:
        """The spec operation of a method and a path below /api.xro/2.0."""
        candidates = [
            op for op in self.operations.get(method.upper(), []) if op.pattern.match(path)
        ]
        if not candidates:
            return None
        segments = [p for p in path.split("/") if p]
        return next((op for op in candidates if op.fits(segments)), candidates[-1])

    def check(self, method: str, path: str, query: str, body: bytes) -> Outcome:
        """Validate one request; `path` is below /api.xro/2.0 (e.g. "/Invoices")."""
        operation = self.find(method, path)
        if operation is None:
            return Outcome(None, [f"the spec has no operation {method.upper()} {path}"])
        outcome = Outcome(operation)
        problems = outcome.problems
        seen = set()
        for name, value in parse_qsl(query, keep_blank_values=True):
            seen.add(name)
            checker = operation.query.get(name)
            if checker is None:
                known = ", ".join(sorted(operation.query)) or "none"
                problems.append(
                    f"query parameter {name!r} is not one of {operation.id}'s ({known})"
                )
            else:
                checker(value, problems)
        problems.extend(
            f"query parameter {name!r} is required"
            for name in operation.required_query
            if name not in seen
        )
        if not body.strip():
            if operation.body_required:
                problems.append(f"{operation.id} requires a JSON body ({operation.body_name})")
            return outcome
        if operation.body is None:
            problems.append(f"{operation.id} takes no request body")
            return outcome
        try:
            parsed = json.loads(body)
        except ValueError as exc:
            outcome.body_is_json = False
            problems.append(f"the request body is not valid JSON: {exc}")
            return outcome
        outcome.body = parsed
        operation.body(parsed, "", problems)
        return outcome

    def response_problems(self, method: str, path: str, body: Any) -> list[str]:
        """Where a 200 answer's JSON disagrees with the operation's response schema (types,
        enums, formats, unknown properties; the envelope's Id/Status/ProviderName/DateTimeUTC,
        which the spec's schemas omit, are left out)."""
        operation = self.find(method, path)
        if operation is None or operation.response is None:
            return [f"the spec has no response schema for {method.upper()} {path}"]
        problems: list[str] = []
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k not in ENVELOPE_KEYS}
        operation.response(body, "", problems)
        return problems

    def schema_problems(self, name: str, value: Any, *, request: bool = False) -> list[str]:
        """Check a value against one component schema (e.g. "Error")."""
        compiler = self._requests if request else self._responses
        problems: list[str] = []
        compiler.named(name)(value, name, problems)
        return problems


ENVELOPE_KEYS = frozenset({"Id", "Status", "ProviderName", "DateTimeUTC"})


@cache
def default_validator() -> Validator:
    """The validator of the packaged schema (built once per process)."""
    return Validator(packaged.load())


@dataclass
class Violation:
    """A request the sandbox received that does not conform to the spec."""

    method: str
    path: str
    query: str
    problems: list[str]

    def __str__(self) -> str:
        target = self.path + (f"?{self.query}" if self.query else "")
        return f"{self.method} {target}: " + "; ".join(self.problems)

    def snapshot(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "problems": list(self.problems),
        }
