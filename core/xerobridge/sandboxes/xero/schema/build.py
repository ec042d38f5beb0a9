"""Generate `accounting.json` from Xero's official xero_accounting.yaml.

    python -m xerobridge.sandboxes.xero.schema.build PATH/TO/xero_accounting.yaml [--check]

Keeps the operations the sandbox serves (PATHS), their query and path parameters, request and
200-response schemas, and every component schema they reach, stripped to what validation needs.
Needs PyYAML (a test dependency); the sandbox itself only reads the generated JSON.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from xerobridge.sandboxes.xero.schema import FILE_NAME

# The spec paths the sandbox serves (its own routing decides which verbs it models).
PATHS = (
    "/Accounts",
    "/Accounts/{AccountID}",
    "/BankTransactions",
    "/BankTransactions/{BankTransactionID}",
    "/BankTransfers",
    "/BankTransfers/{BankTransferID}",
    "/Contacts",
    "/Contacts/{ContactID}",
    "/Contacts/{ContactNumber}",
    "/CreditNotes",
    "/CreditNotes/{CreditNoteID}",
    "/CreditNotes/{CreditNoteID}/Allocations",
    "/CreditNotes/{CreditNoteID}/Allocations/{AllocationID}",
    "/Invoices",
    "/Invoices/{InvoiceID}",
    "/Items",
    "/Items/{ItemID}",
    "/Organisation",
    "/Payments",
    "/Payments/{PaymentID}",
    "/TaxRates",
    "/TaxRates/{TaxType}",
    "/TrackingCategories",
    "/TrackingCategories/{TrackingCategoryID}",
    "/TrackingCategories/{TrackingCategoryID}/Options",
    "/TrackingCategories/{TrackingCategoryID}/Options/{TrackingOptionID}",
)
METHODS = ("get", "put", "post", "delete", "patch")
# Schema keywords validation uses; descriptions, examples and docs links are dropped.
KEEP = (
    "type",
    "format",
    "enum",
    "required",
    "maxLength",
    "readOnly",
    "nullable",
    "x-is-msdate",
    "x-is-msdate-time",
)
SCHEMA_PREFIX = "#/components/schemas/"
PARAMETER_PREFIX = "#/components/parameters/"
LICENSE_NOTE = "MIT, Copyright (c) 2017 Xero Developer API; see LICENSE-xero-openapi"
UPSTREAM = "https://github.com/XeroAPI/Xero-OpenAPI"


class _Builder:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.components: dict[str, Any] = spec.get("components", {}).get("schemas", {})
        self.schemas: dict[str, Any] = {}

    def schema(self, node: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in node:
            ref = str(node["$ref"])
            if not ref.startswith(SCHEMA_PREFIX):
                raise ValueError(f"unsupported $ref {ref}")
            name = ref[len(SCHEMA_PREFIX) :]
            self._component(name)
            return {"$ref": name}
        for unsupported in ("allOf", "oneOf", "anyOf", "not", "additionalProperties"):
            if unsupported in node:
                raise ValueError(f"schema keyword {unsupported} is not supported by the validator")
        out: dict[str, Any] = {k: node[k] for k in KEEP if k in node}
        if "properties" in node:
            out["properties"] = {k: self.schema(v) for k, v in node["properties"].items()}
        if "items" in node:
            out["items"] = self.schema(node["items"])
        return out

    def _component(self, name: str) -> None:
        if name in self.schemas:
            return
        self.schemas[name] = {}  # placeholder: recursion stops here
        self.schemas[name] = self.schema(self.components[name])

    def parameter(self, node: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in node:
            ref = str(node["$ref"])
            if not ref.startswith(PARAMETER_PREFIX):
                raise ValueError(f"unsupported parameter $ref {ref}")
            return self.spec["components"]["parameters"][ref[len(PARAMETER_PREFIX) :]]
        return node

    def operation(self, path: str, method: str, item: dict[str, Any]) -> dict[str, Any]:
        op = item[method]
        query: dict[str, Any] = {}
        path_params: dict[str, Any] = {}
        for raw in [*item.get("parameters", []), *op.get("parameters", [])]:
            param = self.parameter(raw)
            entry: dict[str, Any] = {"schema": self.schema(param.get("schema", {}))}
            if param["in"] == "query":
                entry["required"] = bool(param.get("required", False))
                query[param["name"]] = entry
            elif param["in"] == "path":
                path_params[param["name"]] = entry["schema"]
        body = None
        body_required = False
        if "requestBody" in op:
            content = op["requestBody"].get("content", {})
            if "application/json" in content:
                body = self.schema(content["application/json"].get("schema", {}))
                body_required = bool(op["requestBody"].get("required", False))
        response = None
        ok = op.get("responses", {}).get("200", {}).get("content", {})
        if "application/json" in ok:
            response = self.schema(ok["application/json"].get("schema", {}))
        return {
            "id": op.get("operationId", f"{method} {path}"),
            "method": method.upper(),
            "path": path,
            "path_params": path_params,
            "query": query,
            "body": body,
            "body_required": body_required,
            "response": response,
        }


def build(spec: dict[str, Any], source_name: str = "xero_accounting.yaml") -> dict[str, Any]:
    """The compact schema for a parsed spec."""
    builder = _Builder(spec)
    operations: list[dict[str, Any]] = []
    for path in PATHS:
        item = spec["paths"].get(path)
        if item is None:
            raise ValueError(f"the spec has no path {path}")
        operations.extend(builder.operation(path, m, item) for m in METHODS if m in item)
    # Error shapes the sandbox answers with (400 ValidationException), for response checks.
    builder.schema({"$ref": SCHEMA_PREFIX + "Error"})
    info = spec.get("info", {})
    return {
        "source": {
            "file": source_name,
            "title": info.get("title"),
            "version": info.get("version"),
            "openapi": spec.get("openapi"),
            "upstream": UPSTREAM,
            "license": LICENSE_NOTE,
        },
        "generated_by": "python -m xerobridge.sandboxes.xero.schema.build",
        "operations": operations,
        "schemas": dict(sorted(builder.schemas.items())),
    }


def render(data: dict[str, Any]) -> str:
    """The file's exact text (stable, so regenerating can be compared byte for byte)."""
    import json

    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def load_yaml(path: Path) -> dict[str, Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open("rb") as handle:
        return yaml.load(handle, Loader=loader)


def generate(path: Path) -> str:
    return render(build(load_yaml(path), path.name))


def packaged_path() -> Path:
    return Path(__file__).with_name(FILE_NAME)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path, help="path to xero_accounting.yaml")
    parser.add_argument("--out", type=Path, default=packaged_path())
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the file is not what would be generated"
    )
    args = parser.parse_args(argv)
    text = generate(args.spec)
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        if current != text:
            sys.stderr.write(f"{args.out} is out of date; regenerate it\n")
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {args.out} ({len(text)} bytes)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
