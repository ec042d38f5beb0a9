"""Requests validated against the packaged spec schema; the schema regenerates from the spec."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from xerobridge.clock import FakeClock
from xerobridge.sandboxes.xero import SandboxState, create_app
from xerobridge.sandboxes.xero import schema as packaged
from xerobridge.sandboxes.xero.schema import build
from xerobridge.sandboxes.xero.testing import assert_conforming, conformance_guard
from xerobridge.sandboxes.xero.validation import default_validator

from sandbox_helpers import API, Api, invoice, run

REPO = Path(__file__).resolve().parents[2]
SPEC_NAME = "xero_accounting.yaml"


def _spec_path() -> Path:
    env = os.environ.get("XEROBRIDGE_XERO_OPENAPI")
    candidates = [Path(env)] if env else []
    # CI checks the repository out with shared/ beside it.
    candidates += [REPO / ".." / "shared" / "xero-openapi" / SPEC_NAME]
    candidates += [REPO / "shared" / "xero-openapi" / SPEC_NAME]
    for candidate in candidates:
        path = candidate / SPEC_NAME if candidate.is_dir() else candidate
        if path.is_file():
            return path
    message = f"{SPEC_NAME} not found (set XEROBRIDGE_XERO_OPENAPI)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def test_packaged_schema_is_what_the_spec_generates() -> None:
    generated = build.generate(_spec_path())
    packaged_text = build.packaged_path().read_text(encoding="utf-8")
    assert generated == packaged_text, (
        "schema/accounting.json is stale: run "
        "python -m xerobridge.sandboxes.xero.schema.build PATH/TO/xero_accounting.yaml"
    )


def test_packaged_schema_records_its_source_and_licence() -> None:
    data = packaged.load()
    assert data["source"]["version"] == "16.1.0"
    assert data["source"]["file"] == SPEC_NAME
    licence = build.packaged_path().with_name("LICENSE-xero-openapi").read_text()
    assert "MIT License" in licence and "Xero Developer API" in licence
    ids = {op["id"] for op in data["operations"]}
    assert {"createInvoices", "getTrackingCategories", "createCreditNoteAllocation"} <= ids


async def _send(
    api: Api, method: str, path: str, body: Any = None, **params: str
) -> httpx.Response:
    async with api.client() as client:
        return await client.request(method, f"{API}/{path}", params=params, json=body)


def _messages(response: httpx.Response) -> list[str]:
    body = response.json()
    assert response.status_code == 400, body
    assert body["Type"] == "ValidationException" and body["ErrorNumber"] == 10
    return [e["Message"] for el in body["Elements"] for e in el["ValidationErrors"]]


CASES = [
    (
        "PUT",
        "Contacts",
        {"Contacts": [{"Name": "A", "Bogus": 1}]},
        {},
        "Contacts[0].Bogus is not a property of Contact",
    ),
    (
        "PUT",
        "Contacts",
        {"Contacts": [{"Name": "A", "IsCustomer": "yes"}]},
        {},
        'Contacts[0].IsCustomer: expected a boolean, got the string "yes"',
    ),
    (
        "PUT",
        "Invoices",
        {"Invoices": [invoice(Type="SALES")]},
        {},
        'Invoices[0].Type: "SALES" is not one of ACCPAY, ACCPAYCREDIT',
    ),
    (
        "PUT",
        "Invoices",
        {"Invoices": [invoice(LineItems=[{"Description": "x", "Quantity": "2"}])]},
        {},
        'Invoices[0].LineItems[0].Quantity: expected a number, got the string "2"',
    ),
    (
        "PUT",
        "Invoices",
        {"Invoices": [invoice(Contact={"ContactID": "42"})]},
        {},
        'Invoices[0].Contact.ContactID: "42" is not a uuid',
    ),
    (
        "PUT",
        "Invoices",
        {"Invoices": [invoice(Date="01/02/2026")]},
        {},
        'Invoices[0].Date: "01/02/2026" is not a date',
    ),
    ("PUT", "Items", {"Items": [{"Name": "No code"}]}, {}, "Items[0].Code is required of Item"),
    (
        "PUT",
        "Contacts",
        {"Name": "bare object"},
        {},
        "Name is not a property of Contacts",
    ),
    ("PUT", "Contacts", None, {}, "createContacts requires a JSON body (Contacts)"),
    ("GET", "Contacts", None, {"pagesize": "10"}, "query parameter 'pagesize' is not one of"),
    ("GET", "Contacts", None, {"page": "two"}, 'query page: expected an integer, got "two"'),
    ("GET", "Invoices", None, {"IDs": "1,2"}, 'query IDs: "1" is not a uuid'),
    (
        "PUT",
        "Contacts",
        {"Contacts": [{"Name": "A"}]},
        {"summarizeErrors": "no"},
        'query summarizeErrors: expected true or false, got "no"',
    ),
]


@pytest.mark.xero_violations
@pytest.mark.parametrize(("method", "path", "body", "params", "expected"), CASES)
def test_violations_are_refused_naming_the_problem(
    api: Api,
    sandbox: SandboxState,
    method: str,
    path: str,
    body: Any,
    params: dict[str, str],
    expected: str,
) -> None:
    response = run(_send(api, method, path, body, **params))
    messages = _messages(response)
    assert any(expected in m for m in messages), messages
    assert len(sandbox.violations) == 1
    violation = sandbox.violations[0]
    assert violation.method == method and violation.path == f"{API}/{path}"
    assert any(expected in p for p in violation.problems)
    assert sandbox.counts()["Contacts"] == 0 and sandbox.counts()["Invoices"] == 0
    log = sandbox.log.entries[-1]
    assert log.violation and log.status == 400


def test_conforming_requests_pass(api: Api, sandbox: SandboxState) -> None:
    async def go() -> None:
        async with api.client() as client:
            created = await client.put(
                f"{API}/Invoices",
                params={"summarizeErrors": "false", "unitdp": "4"},
                json={"Invoices": [invoice(Date="/Date(1767225600000+0000)/")]},
            )
            assert created.status_code == 200, created.text
            listed = await client.get(
                f"{API}/Invoices",
                params={"page": "1", "pageSize": "10", "Statuses": "DRAFT,AUTHORISED"},
            )
            assert listed.status_code == 200
            payment_delete = await client.get(f"{API}/Contacts", params={"includeArchived": "True"})
            assert payment_delete.status_code == 200

    run(go())
    assert_conforming(sandbox)


def test_record_mode_serves_and_records() -> None:
    app = create_app(FakeClock(), validation="record")
    sandbox: SandboxState = app.state.sandbox
    api = Api(app, sandbox.issue_tokens()["access_token"], sandbox.default_tenant_id)
    response = run(_send(api, "PUT", "Contacts", {"Contacts": [{"Name": "A", "Nmae": "typo"}]}))
    assert response.status_code == 200
    assert [str(v) for v in sandbox.violations] == [
        f"PUT {API}/Contacts: Contacts[0].Nmae is not a property of Contact"
    ]
    with pytest.raises(AssertionError, match="Nmae is not a property"):
        assert_conforming(sandbox)


def test_validation_off_checks_nothing() -> None:
    app = create_app(FakeClock(), validation="off")
    sandbox: SandboxState = app.state.sandbox
    api = Api(app, sandbox.issue_tokens()["access_token"], sandbox.default_tenant_id)
    assert run(_send(api, "GET", "Contacts", None, bogus="1")).status_code == 200
    assert sandbox.violations == []
    with pytest.raises(ValueError, match="validation must be one of"):
        create_app(FakeClock(), validation="strict")  # type: ignore[arg-type]


def _guarded_run(app: Starlette, marked: bool = False) -> None:
    guard = conformance_guard(app)
    assert next(guard) is app
    api_state: SandboxState = app.state.sandbox
    api = Api(app, api_state.issue_tokens()["access_token"], api_state.default_tenant_id)
    run(_send(api, "GET", "Items", None, where='Code=="A"', Bogus="1"))
    next(guard, None)


def test_conformance_guard_fails_the_test_at_teardown() -> None:
    app = create_app(FakeClock())
    with pytest.raises(pytest.fail.Exception, match=r"query parameter 'Bogus' is not one of"):
        _guarded_run(app)


def test_conformance_guard_passes_clean_runs_and_expected_violations(
    xero_sandbox: Starlette,
) -> None:
    from xerobridge.sandboxes.xero.testing import expect_violations

    clean = conformance_guard(create_app(FakeClock()))
    next(clean)
    next(clean, None)  # no violations: no failure
    expected = create_app(FakeClock())
    expect_violations(expected)
    _guarded_run(expected)  # does not raise
    # The shared fixture is a conformance-checked sandbox app.
    assert isinstance(xero_sandbox.state.sandbox, SandboxState)


def test_unknown_operations_are_recorded_but_routed(api: Api, sandbox: SandboxState) -> None:
    async def go() -> None:
        async with api.client() as client:
            assert (
                await client.delete(f"{API}/Contacts/{'0' * 8}-0000-4000-8000-{'0' * 12}")
            ).status_code == 405

    run(go())
    assert sandbox.violations[0].problems == [
        f"the spec has no operation DELETE /Contacts/{'0' * 8}-0000-4000-8000-{'0' * 12}"
    ]
    sandbox.violations.clear()


def test_validator_is_compiled_once_and_fast() -> None:
    validator = default_validator()
    assert validator is default_validator()
    body = json.dumps({"Invoices": [invoice() for _ in range(50)]}).encode()
    start = time.perf_counter()
    for _ in range(20):
        outcome = validator.check("PUT", "/Invoices", "summarizeErrors=false", body)
        assert outcome.problems == []
    per_call = (time.perf_counter() - start) / 20
    assert per_call < 0.02, f"{per_call * 1000:.1f} ms to validate 50 invoices"


def test_path_templates_are_told_apart() -> None:
    validator = default_validator()
    guid = "5b0c4c7e-0000-4000-8000-000000000000"
    found = validator.find("GET", f"/Contacts/{guid}")
    assert found is not None and found.id == "getContact"
    found = validator.find("GET", "/contacts/CUST-1")
    assert found is not None and found.id == "getContactByContactNumber"
    found = validator.find("POST", f"/Payments/{guid}")
    assert found is not None and found.id == "deletePayment"
    assert validator.find("GET", "/Nope") is None
