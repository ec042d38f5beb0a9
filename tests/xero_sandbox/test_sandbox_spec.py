"""The sandbox's answers against the official OpenAPI schemas (xero_accounting.yaml)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from xerobridge.sandboxes.xero import SandboxState
from xerobridge.sandboxes.xero.validation import default_validator

from sandbox_helpers import API, Api, invoice, run

ENVELOPE_KEYS = {"Id", "Status", "ProviderName", "DateTimeUTC"}
MS_DATE = re.compile(r"^/Date\(-?\d+([+-]\d{4})?\)/$")
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        schema = {
            **spec["components"]["schemas"][name],
            **{k: v for k, v in schema.items() if k != "$ref"},
        }
    return schema


def check(spec: dict[str, Any], value: Any, schema: dict[str, Any], where: str) -> list[str]:
    """Every field present must exist in the schema with a compatible type; returns problems."""
    schema = _resolve(spec, schema)
    problems: list[str] = []
    if value is None:
        return problems
    kind = schema.get("type")
    if "properties" in schema or kind == "object":
        if not isinstance(value, dict):
            return [f"{where}: expected object, got {type(value).__name__}"]
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key not in properties:
                problems.append(f"{where}.{key}: not in the schema")
                continue
            problems.extend(check(spec, item, properties[key], f"{where}.{key}"))
        return problems
    if kind == "array":
        if not isinstance(value, list):
            return [f"{where}: expected array"]
        for index, item in enumerate(value):
            problems.extend(check(spec, item, schema.get("items", {}), f"{where}[{index}]"))
        return problems
    if kind == "string":
        if not isinstance(value, str):
            return [f"{where}: expected string, got {value!r}"]
        if schema.get("x-is-msdate") and not MS_DATE.match(value):
            problems.append(f"{where}: not an MS-JSON date: {value}")
        if schema.get("format") == "uuid" and not GUID.match(value):
            problems.append(f"{where}: not a uuid: {value}")
        if "enum" in schema and value not in schema["enum"]:
            problems.append(f"{where}: {value!r} not in enum")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(f"{where}: longer than {schema['maxLength']}")
        return problems
    if kind in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return [f"{where}: expected {kind}, got {value!r}"]
        if kind == "integer" and not isinstance(value, int):
            return [f"{where}: expected integer, got {value!r}"]
        return problems
    if kind == "boolean" and not isinstance(value, bool):
        return [f"{where}: expected boolean, got {value!r}"]
    return problems


def check_envelope(spec: dict[str, Any], body: dict[str, Any], schema_name: str) -> list[str]:
    assert set(body) >= ENVELOPE_KEYS, body.keys()
    assert MS_DATE.match(body["DateTimeUTC"])
    rest = {k: v for k, v in body.items() if k not in ENVELOPE_KEYS}
    return check(spec, rest, {"$ref": f"#/components/schemas/{schema_name}"}, schema_name)


def _populate(sandbox: SandboxState) -> dict[str, str]:
    sandbox.seed(
        "Items",
        [
            {
                "Code": "SKU-1",
                "Name": "Widget",
                "SalesDetails": {"UnitPrice": 10, "AccountCode": "200", "TaxType": "OUTPUT"},
                "PurchaseDetails": {"UnitPrice": 4, "AccountCode": "310"},
            }
        ],
    )
    contact = sandbox.seed(
        "Contacts",
        [
            {
                "Name": "Spec Pty Ltd",
                "ContactNumber": "SPEC-1",
                "EmailAddress": "a@spec.example",
                "Phones": [{"PhoneType": "MOBILE", "PhoneNumber": "0400 000 000"}],
            }
        ],
    )[0]
    body = invoice("Spec Pty Ltd", Status="AUTHORISED", Reference="R")
    body["LineItems"].append({"ItemCode": "SKU-1", "Quantity": 1, "DiscountRate": 10})
    inv = sandbox.seed("Invoices", [body])[0]
    sandbox.seed(
        "Payments",
        [{"Invoice": {"InvoiceID": inv["InvoiceID"]}, "Account": {"Code": "090"}, "Amount": 5}],
    )
    note = {
        "Type": "ACCRECCREDIT",
        "Contact": {"ContactID": contact["ContactID"]},
        "Status": "AUTHORISED",
        "LineItems": [{"Description": "r", "Quantity": 1, "UnitAmount": 2, "AccountCode": "200"}],
    }
    credit = sandbox.seed("CreditNotes", [note])[0]
    sandbox.seed(
        "BankTransactions",
        [
            {
                "Type": "SPEND",
                "Contact": {"Name": "Supplier"},
                "BankAccount": {"Code": "090"},
                "LineItems": [
                    {"Description": "s", "Quantity": 1, "UnitAmount": 3, "AccountCode": "429"}
                ],
            }
        ],
    )
    transfer = {"FromBankAccount": {"Code": "091"}, "ToBankAccount": {"Code": "090"}, "Amount": 4}
    sandbox.seed("BankTransfers", [{**transfer, "Reference": "PAYOUT-1"}])
    return {"invoice": inv["InvoiceID"], "credit": credit["CreditNoteID"]}


READS = [
    ("Contacts?page=1", "Contacts"),
    ("Items", "Items"),
    ("Invoices?page=1", "Invoices"),
    ("Invoices", "Invoices"),
    ("CreditNotes?page=1", "CreditNotes"),
    ("Payments?page=1", "Payments"),
    ("BankTransactions?page=1", "BankTransactions"),
    ("BankTransfers", "BankTransfers"),
    ("Accounts", "Accounts"),
    ("TaxRates", "TaxRates"),
    ("Organisation", "Organisations"),
]


@pytest.mark.parametrize(("path", "schema_name"), READS)
def test_reads_match_the_spec(
    spec: dict[str, Any], api: Api, sandbox: SandboxState, path: str, schema_name: str
) -> None:
    _populate(sandbox)

    async def go() -> dict[str, Any]:
        async with api.client() as client:
            response = await client.get(f"{API}/{path}")
            assert response.status_code == 200
            return response.json()

    body = run(go())
    assert body[schema_name], "the list should not be empty"
    assert check_envelope(spec, body, schema_name) == []


def test_write_results_and_errors_match_the_spec(
    spec: dict[str, Any], api: Api, sandbox: SandboxState
) -> None:
    ids = _populate(sandbox)

    async def go() -> list[tuple[dict[str, Any], str]]:
        out = []
        async with api.client() as client:
            params = {"summarizeErrors": "false"}
            contacts = {"Contacts": [{"Name": "Fresh"}, {"Name": "Spec Pty Ltd"}]}
            out.append(
                (
                    (await client.put(f"{API}/Contacts", params=params, json=contacts)).json(),
                    "Contacts",
                )
            )
            items = {"Items": [{"Code": "SKU-2"}, {"Code": "SKU-1"}]}
            out.append(
                ((await client.put(f"{API}/Items", params=params, json=items)).json(), "Items")
            )
            invoices = {"Invoices": [invoice(), invoice(Contact={})]}
            out.append(
                (
                    (await client.put(f"{API}/Invoices", params=params, json=invoices)).json(),
                    "Invoices",
                )
            )
            payments = {
                "Payments": [
                    {
                        "Invoice": {"InvoiceID": ids["invoice"]},
                        "Account": {"Code": "090"},
                        "Amount": 1,
                    },
                    {
                        "Invoice": {"InvoiceID": ids["invoice"]},
                        "Account": {"Code": "090"},
                        "Amount": 999,
                    },
                ]
            }
            out.append(
                (
                    (await client.put(f"{API}/Payments", params=params, json=payments)).json(),
                    "Payments",
                )
            )
            allocation = {
                "Allocations": [
                    {"Invoice": {"InvoiceID": ids["invoice"]}, "Amount": 1, "Date": "2026-01-02"}
                ]
            }
            response = await client.put(
                f"{API}/CreditNotes/{ids['credit']}/Allocations", json=allocation
            )
            out.append((response.json(), "Allocations"))
            failed = await client.put(f"{API}/Contacts", json={"Contacts": [{"Name": "Fresh"}]})
            assert failed.status_code == 400
            out.append((failed.json(), "Error"))
        return out

    for body, schema_name in run(go()):
        if schema_name == "Error":
            # The spec's Element schema lists only ids and ValidationErrors, yet its own
            # examples echo the whole submitted object: check against both together.
            schemas = spec["components"]["schemas"]
            element_schema = {
                "properties": {
                    **schemas["Contact"]["properties"],
                    **schemas["Element"]["properties"],
                }
            }
            top = {k: v for k, v in body.items() if k != "Elements"}
            assert check(spec, top, {"$ref": "#/components/schemas/Error"}, "Error") == []
            for element in body["Elements"]:
                assert check(spec, element, element_schema, "Element") == []
            continue
        assert check_envelope(spec, body, schema_name) == [], schema_name


def test_checker_notices_unknown_fields(spec: dict[str, Any]) -> None:
    problems = check(
        spec,
        {"Name": "x", "Bogus": 1, "IsCustomer": "yes"},
        {"$ref": "#/components/schemas/Contact"},
        "Contact",
    )
    assert problems == [
        "Contact.Bogus: not in the schema",
        "Contact.IsCustomer: expected boolean, got 'yes'",
    ]


@pytest.mark.parametrize(("path", "schema_name"), READS)
def test_reads_match_the_packaged_schema(
    api: Api, sandbox: SandboxState, path: str, schema_name: str
) -> None:
    """The same check against the packaged schema, which needs no copy of the YAML."""
    _populate(sandbox)

    async def go() -> dict[str, Any]:
        async with api.client() as client:
            response = await client.get(f"{API}/{path}")
            assert response.status_code == 200
            return response.json()

    body = run(go())
    assert body[schema_name]
    assert default_validator().response_problems("GET", "/" + path.split("?", 1)[0], body) == []


def test_validation_exception_matches_the_error_schema(api: Api, sandbox: SandboxState) -> None:
    async def go() -> dict[str, Any]:
        async with api.client() as client:
            response = await client.put(f"{API}/Items", json={"Items": [{"Name": "no code"}]})
            assert response.status_code == 400
            return response.json()

    body = run(go())
    sandbox.violations.clear()  # sent on purpose
    assert default_validator().schema_problems("Error", body) == []
