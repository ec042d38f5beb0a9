"""Document rules: uniqueness, batches, contacts made by invoices, totals, statuses, payments."""

from __future__ import annotations

from typing import Any

import pytest

from xerobridge.clock import FakeClock
from xerobridge.sandboxes.xero import SandboxState

from sandbox_helpers import API, Api, invoice, run


async def _put(api: Api, plural: str, elements: list[dict[str, Any]], **params: str) -> Any:
    async with api.client() as client:
        return await client.put(f"{API}/{plural}", params=params, json={plural: elements})


async def _post(api: Api, path: str, body: dict[str, Any], **params: str) -> Any:
    async with api.client() as client:
        return await client.post(f"{API}/{path}", params=params, json=body)


def _messages(element: dict[str, Any]) -> list[str]:
    return [e["Message"] for e in element.get("ValidationErrors", [])]


def test_summarize_errors_false_gives_per_element_results(api: Api, sandbox: SandboxState) -> None:
    elements = [
        {"Name": "Alpha", "ContactNumber": "SRC-1"},
        {"Name": "Beta", "ContactNumber": "SRC-1"},
        {"Name": "alpha"},
        {"Name": "Gamma", "ContactNumber": "SRC-3"},
    ]
    response = run(_put(api, "Contacts", elements, summarizeErrors="false"))
    assert response.status_code == 200
    results = response.json()["Contacts"]
    assert [r["StatusAttributeString"] for r in results] == ["OK", "ERROR", "ERROR", "OK"]
    assert "already assigned to another contact" in _messages(results[1])[0]
    assert "must be unique across all active contacts" in _messages(results[2])[0]
    assert results[1]["HasValidationErrors"] is True
    assert results[0]["ContactID"] and results[0]["ContactNumber"] == "SRC-1"
    assert sandbox.counts()["Contacts"] == 2


def test_summarized_errors_give_400_but_valid_elements_are_created(
    api: Api, sandbox: SandboxState
) -> None:
    response = run(_put(api, "Contacts", [{"Name": "One"}, {"Name": "One"}]))
    assert response.status_code == 400
    body = response.json()
    assert body["ErrorNumber"] == 10 and body["Type"] == "ValidationException"
    assert len(body["Elements"]) == 1 and _messages(body["Elements"][0])
    # Like Xero, the valid element was written even though the answer is a 400.
    assert [c["Name"] for c in sandbox.records("Contacts")] == ["One"]


def test_post_updates_contact_matched_by_contact_number(api: Api, sandbox: SandboxState) -> None:
    run(_put(api, "Contacts", [{"Name": "Old Name", "ContactNumber": "MAG-7"}]))
    response = run(
        _post(api, "Contacts", {"Contacts": [{"ContactNumber": "MAG-7", "Name": "New"}]})
    )
    assert response.status_code == 200
    contacts = sandbox.records("Contacts")
    assert [(c["Name"], c["ContactNumber"]) for c in contacts] == [("New", "MAG-7")]


def test_archived_contact_frees_the_name_and_blocks_invoices(api: Api) -> None:
    created = run(_put(api, "Contacts", [{"Name": "Gone Ltd"}])).json()["Contacts"][0]
    run(
        _post(
            api, f"Contacts/{created['ContactID']}", {"Contacts": [{"ContactStatus": "ARCHIVED"}]}
        )
    )
    again = run(_put(api, "Contacts", [{"Name": "Gone Ltd"}]))
    assert again.status_code == 200
    blocked = run(
        _put(
            api,
            "Invoices",
            [invoice(Contact={"ContactID": created["ContactID"]})],
            summarizeErrors="false",
        )
    ).json()["Invoices"][0]
    assert "has been archived" in _messages(blocked)[0]


def test_item_code_unique_and_at_most_30_characters(api: Api) -> None:
    elements = [
        {"Code": "WIDGET", "Name": "Widget", "SalesDetails": {"UnitPrice": 9.5}},
        {"Code": "widget", "Name": "Duplicate"},
        {"Code": "X" * 31, "Name": "Too long"},
    ]
    results = run(_put(api, "Items", elements, summarizeErrors="false")).json()["Items"]
    assert [r["StatusAttributeString"] for r in results] == ["OK", "ERROR", "ERROR"]
    assert "already exists" in _messages(results[1])[0]
    assert "30 characters" in _messages(results[2])[0]


def test_sales_invoice_number_unique_put_refuses_post_updates(
    api: Api, sandbox: SandboxState
) -> None:
    first = run(_put(api, "Invoices", [invoice(InvoiceNumber="MAG-100")])).json()["Invoices"][0]
    duplicate = run(
        _put(api, "Invoices", [invoice(InvoiceNumber="mag-100")], summarizeErrors="false")
    ).json()["Invoices"][0]
    assert _messages(duplicate) == ["Invoice # must be unique."]
    assert duplicate["HasErrors"] is True
    updated = run(
        _post(api, "Invoices", {"Invoices": [invoice(InvoiceNumber="MAG-100", Reference="r2")]})
    ).json()["Invoices"][0]
    assert updated["InvoiceID"] == first["InvoiceID"] and updated["Reference"] == "r2"
    # Bills may share numbers.
    bills = [
        invoice(Type="ACCPAY", InvoiceNumber="B-1"),
        invoice(Type="ACCPAY", InvoiceNumber="B-1"),
    ]
    assert run(_put(api, "Invoices", bills)).status_code == 200
    assert sandbox.counts()["Invoices"] == 3


def test_automatic_invoice_numbers(api: Api) -> None:
    results = run(_put(api, "Invoices", [invoice(), invoice()])).json()["Invoices"]
    assert [r["InvoiceNumber"] for r in results] == ["INV-0001", "INV-0002"]


def test_unknown_contact_name_on_invoice_creates_a_contact(api: Api, sandbox: SandboxState) -> None:
    run(_put(api, "Contacts", [{"Name": "Known Customer"}]))
    run(_put(api, "Invoices", [invoice("known customer"), invoice("Brand New Customer")]))
    names = sorted(c["Name"] for c in sandbox.records("Contacts"))
    assert names == ["Brand New Customer", "Known Customer"]
    new = next(c for c in sandbox.records("Contacts") if c["Name"] == "Brand New Customer")
    assert new["IsCustomer"] is True


def test_contact_must_be_identified_and_contact_id_must_exist(
    api: Api, sandbox: SandboxState
) -> None:
    elements = [
        invoice(Contact={}),
        invoice(Contact={"ContactID": "5b0c4c7e-0000-4000-8000-000000000000"}),
    ]
    results = run(_put(api, "Invoices", elements, summarizeErrors="false")).json()["Invoices"]
    assert "at least 1 of the following elements" in _messages(results[0])[0]
    assert "could not be found" in _messages(results[1])[0]
    assert sandbox.counts()["Contacts"] == 0


def test_line_account_and_tax_type_must_exist(api: Api) -> None:
    bad_tax = invoice(Status="AUTHORISED")
    bad_tax["LineItems"][0]["TaxType"] = "NOPE"
    bad_account = invoice(Status="AUTHORISED")
    bad_account["LineItems"][0]["AccountCode"] = "999"
    draft_bad_account = invoice()
    draft_bad_account["LineItems"][0]["AccountCode"] = "999"
    results = run(
        _put(api, "Invoices", [bad_tax, bad_account, draft_bad_account], summarizeErrors="false")
    ).json()["Invoices"]
    assert "TaxType code 'NOPE' does not exist" in _messages(results[0])[0]
    assert _messages(results[1]) == ["Account code '999' is not a valid code for this document."]
    # A draft keeps the line and drops the code, with a warning (as in the spec's examples).
    assert results[2]["StatusAttributeString"] == "OK"
    assert "has been removed" in results[2]["Warnings"][0]["Message"]
    assert "AccountCode" not in results[2]["LineItems"][0]


@pytest.mark.parametrize(
    ("amount_types", "sub_total", "tax", "total"),
    [
        ("Exclusive", 30.0, 3.0, 33.0),
        ("Inclusive", 27.27, 2.73, 30.0),
        ("NoTax", 30.0, 0.0, 30.0),
    ],
)
def test_totals_per_line_amount_type(
    api: Api, amount_types: str, sub_total: float, tax: float, total: float
) -> None:
    body = invoice(LineAmountTypes=amount_types)
    body["LineItems"] = [
        {"Description": "a", "Quantity": 1, "UnitAmount": 10, "AccountCode": "200"},
        {"Description": "b", "Quantity": 2, "UnitAmount": 10, "AccountCode": "200"},
    ]
    result = run(_put(api, "Invoices", [body])).json()["Invoices"][0]
    assert (result["SubTotal"], result["TotalTax"], result["Total"]) == (sub_total, tax, total)
    assert result["AmountDue"] == total


def test_tax_is_rounded_per_line_not_per_document(api: Api) -> None:
    body = invoice()
    # Three lines of 0.15 at 10%: 0.015 rounds to 0.02 per line, 0.06 in all (0.05 on the sum).
    body["LineItems"] = [
        {"Description": f"l{i}", "Quantity": 1, "UnitAmount": 0.15, "AccountCode": "200"}
        for i in range(3)
    ]
    result = run(_put(api, "Invoices", [body])).json()["Invoices"][0]
    assert [line["TaxAmount"] for line in result["LineItems"]] == [0.02, 0.02, 0.02]
    assert result["TotalTax"] == 0.06 and result["Total"] == 0.51


def test_unitdp_four_keeps_unit_precision(api: Api) -> None:
    body = invoice()
    body["LineItems"][0].update({"Quantity": 3, "UnitAmount": 1.2345})
    four = run(_put(api, "Invoices", [body], unitdp="4")).json()["Invoices"][0]
    assert four["LineItems"][0]["UnitAmount"] == 1.2345
    assert four["LineItems"][0]["LineAmount"] == 3.70
    two = run(_put(api, "Invoices", [body])).json()["Invoices"][0]
    assert two["LineItems"][0]["UnitAmount"] == 1.23
    assert two["LineItems"][0]["LineAmount"] == 3.69


def test_line_amount_mismatch_is_refused(api: Api) -> None:
    body = invoice()
    body["LineItems"][0]["LineAmount"] = 25
    result = run(_put(api, "Invoices", [body], summarizeErrors="false")).json()["Invoices"][0]
    assert _messages(result) == [
        "The line total 25.00 does not match the expected line total 20.00"
    ]


def test_status_transitions(api: Api) -> None:
    created = run(_put(api, "Invoices", [invoice()])).json()["Invoices"][0]
    assert created["Status"] == "DRAFT"
    path = f"Invoices/{created['InvoiceID']}"
    steps = [("SUBMITTED", True), ("AUTHORISED", True), ("DRAFT", False), ("VOIDED", True)]
    for status, allowed in steps:
        # summarizeErrors is a parameter of the collection (POST /Invoices), not of
        # POST /Invoices/{InvoiceID}: the element names its invoice instead.
        element = {"InvoiceID": created["InvoiceID"], "Status": status}
        response = run(_post(api, "Invoices", {"Invoices": [element]}, summarizeErrors="false"))
        element = response.json()["Invoices"][0]
        assert (element["StatusAttributeString"] == "OK") is allowed, (status, element)
    final = run(_post(api, path, {"Invoices": [{"Status": "AUTHORISED"}]})).json()
    assert "not of valid status" in _messages(final["Elements"][0])[0]
    draft = run(_put(api, "Invoices", [invoice()])).json()["Invoices"][0]
    deleted = run(
        _post(api, f"Invoices/{draft['InvoiceID']}", {"Invoices": [{"Status": "DELETED"}]})
    )
    assert deleted.json()["Invoices"][0]["Status"] == "DELETED"


def test_authorised_invoice_needs_due_date(api: Api) -> None:
    body = invoice(Status="AUTHORISED")
    del body["DueDate"]
    result = run(_put(api, "Invoices", [body], summarizeErrors="false")).json()["Invoices"][0]
    assert _messages(result) == ["The document DueDate field must be specified"]


def _authorised_invoice(api: Api, **fields: Any) -> dict[str, Any]:
    return run(_put(api, "Invoices", [invoice(Status="AUTHORISED", **fields)])).json()["Invoices"][
        0
    ]


def _payment(invoice_id: str, amount: float, **fields: Any) -> dict[str, Any]:
    return {
        "Invoice": {"InvoiceID": invoice_id},
        "Account": {"Code": "090"},
        "Amount": amount,
        "Date": "2026-01-05",
        **fields,
    }


def test_payments_settle_invoice_and_cannot_exceed_due(api: Api, sandbox: SandboxState) -> None:
    inv = _authorised_invoice(api)
    assert inv["AmountDue"] == 22.0
    too_much = run(_put(api, "Payments", [_payment(inv["InvoiceID"], 30)], summarizeErrors="false"))
    assert _messages(too_much.json()["Payments"][0]) == [
        "Payment amount exceeds the amount outstanding on this document"
    ]
    part = run(_put(api, "Payments", [_payment(inv["InvoiceID"], 2)])).json()["Payments"][0]
    assert part["PaymentType"] == "ACCRECPAYMENT" and part["Invoice"]["AmountDue"] == 20.0
    rest = run(_put(api, "Payments", [_payment(inv["InvoiceID"], 20, Reference="p2")]))
    assert rest.status_code == 200
    stored = sandbox.record("Invoices", inv["InvoiceID"])
    assert stored["Status"] == "PAID" and stored["AmountPaid"] == 22.0
    assert len(stored["Payments"]) == 2
    # A paid invoice cannot be voided or edited.
    void = run(_post(api, f"Invoices/{inv['InvoiceID']}", {"Invoices": [{"Status": "VOIDED"}]}))
    assert void.status_code == 400
    # Deleting a payment reopens the invoice.
    deleted = run(_post(api, f"Payments/{part['PaymentID']}", {"Status": "DELETED"}))
    assert deleted.json()["Payments"][0]["Status"] == "DELETED"
    reopened = sandbox.record("Invoices", inv["InvoiceID"])
    assert reopened["Status"] == "AUTHORISED" and reopened["AmountDue"] == 2.0


def test_payment_needs_authorised_invoice_and_a_payable_account(api: Api) -> None:
    draft = run(_put(api, "Invoices", [invoice()])).json()["Invoices"][0]
    authorised = _authorised_invoice(api)
    results = run(
        _put(
            api,
            "Payments",
            [
                _payment(draft["InvoiceID"], 1),
                _payment(authorised["InvoiceID"], 1, Account={"Code": "200"}),
            ],
            summarizeErrors="false",
        )
    ).json()["Payments"]
    assert _messages(results[0]) == ["Payments can only be made against Authorised documents"]
    assert _messages(results[1]) == ["Account type is invalid for making a payment to/from"]


def test_payment_by_invoice_number(api: Api, sandbox: SandboxState) -> None:
    _authorised_invoice(api, InvoiceNumber="SDP-9")
    payment = {"Invoice": {"InvoiceNumber": "SDP-9"}, "Account": {"Code": "090"}, "Amount": 22}
    assert run(_put(api, "Payments", [payment])).status_code == 200
    assert sandbox.records("Invoices")[0]["Status"] == "PAID"


def test_credit_note_allocation(api: Api, sandbox: SandboxState) -> None:
    inv = _authorised_invoice(api)
    note = {
        "Type": "ACCRECCREDIT",
        "Contact": {"Name": "Acme Ltd"},
        "Status": "AUTHORISED",
        "LineItems": [
            {"Description": "refund", "Quantity": 1, "UnitAmount": 5, "AccountCode": "200"}
        ],
    }
    credit = run(_put(api, "CreditNotes", [note])).json()["CreditNotes"][0]
    assert credit["CreditNoteNumber"] == "CN-0001" and credit["RemainingCredit"] == 5.5
    path = f"CreditNotes/{credit['CreditNoteID']}/Allocations"
    allocation = {"Invoice": {"InvoiceID": inv["InvoiceID"]}, "Amount": 5.5, "Date": "2026-01-06"}

    async def put_allocation(amount: float) -> Any:
        async with api.client() as client:
            body = {"Allocations": [{**allocation, "Amount": amount}]}
            return await client.put(f"{API}/{path}", json=body, params={"summarizeErrors": "false"})

    too_much = run(put_allocation(6)).json()["Allocations"][0]
    assert "remaining credit" in _messages(too_much)[0]
    done = run(put_allocation(5.5))
    assert done.status_code == 200
    assert done.json()["Allocations"][0]["Amount"] == 5.5
    stored_invoice = sandbox.record("Invoices", inv["InvoiceID"])
    assert stored_invoice["AmountCredited"] == 5.5 and stored_invoice["AmountDue"] == 16.5
    stored_credit = sandbox.record("CreditNotes", credit["CreditNoteID"])
    assert stored_credit["Status"] == "PAID" and stored_credit["RemainingCredit"] == 0.0


def test_updated_date_advances_on_change(api: Api, clock: FakeClock) -> None:
    created = run(_put(api, "Contacts", [{"Name": "Tick"}])).json()["Contacts"][0]
    clock.advance(5)
    updated = run(
        _post(api, f"Contacts/{created['ContactID']}", {"Contacts": [{"EmailAddress": "a@b.co"}]})
    ).json()["Contacts"][0]
    assert updated["UpdatedDateUTC"] > created["UpdatedDateUTC"]
    assert updated["UpdatedDateUTC"] == "/Date(1767225605000+0000)/"


def test_bank_transaction_receive(api: Api) -> None:
    body = {
        "Type": "RECEIVE",
        "Contact": {"Name": "Walk-in"},
        "BankAccount": {"Code": "090"},
        "LineAmountTypes": "Inclusive",
        "LineItems": [
            {"Description": "cash sale", "Quantity": 1, "UnitAmount": 11, "AccountCode": "200"}
        ],
    }
    result = run(_put(api, "BankTransactions", [body])).json()["BankTransactions"][0]
    assert (
        result["Status"] == "AUTHORISED" and result["Total"] == 11.0 and result["TotalTax"] == 1.0
    )
    assert result["BankAccount"]["Code"] == "090"
    not_bank = {**body, "BankAccount": {"Code": "200"}}
    failed = run(_put(api, "BankTransactions", [not_bank], summarizeErrors="false"))
    assert failed.json()["BankTransactions"][0]["StatusAttributeString"] == "ERROR"


@pytest.mark.xero_violations
def test_bad_json_is_post_data_invalid(api: Api) -> None:
    async def go() -> Any:
        async with api.client() as client:
            return await client.put(f"{API}/Contacts", content=b"{not json")

    response = run(go())
    assert response.status_code == 400 and response.json()["Type"] == "PostDataInvalidException"


@pytest.mark.xero_violations
def test_unknown_resource_and_record_are_404(api: Api) -> None:
    async def go() -> None:
        async with api.client() as client:
            assert (await client.get(f"{API}/Nope")).status_code == 404
            missing = await client.get(f"{API}/Invoices/5b0c4c7e-0000-4000-8000-000000000000")
            assert missing.status_code == 404

    run(go())
