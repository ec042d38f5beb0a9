"""Payments and credit-note allocations: money applied to AUTHORISED documents, never beyond due.

Payments are not edited in Xero, only deleted (`POST /Payments/{id}` with Status DELETED) and
made again. Messages marked "(wording unverified)" are the sandbox's rendering of a known rule.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from xerobridge.sandboxes.xero.dates import parse_document_date
from xerobridge.sandboxes.xero.documents import CREDIT_NOTES, INVOICES, outstanding, settle
from xerobridge.sandboxes.xero.errors import ElementInvalid
from xerobridge.sandboxes.xero.ids import is_guid
from xerobridge.sandboxes.xero.lines import to_decimal
from xerobridge.sandboxes.xero.organisation import Organisation
from xerobridge.sandboxes.xero.wire import money
from xerobridge.sandboxes.xero.writes import WriteContext, Writer

ZERO = Decimal(0)
PAYMENT_TYPES = {
    "ACCREC": "ACCRECPAYMENT",
    "ACCPAY": "ACCPAYPAYMENT",
    "ACCRECCREDIT": "ARCREDITPAYMENT",
    "ACCPAYCREDIT": "APCREDITPAYMENT",
}


def write_payment(ctx: WriteContext, element: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Create one payment, or delete one (an element with a PaymentID and Status DELETED)."""
    payment_id = ctx.path_id or element.get("PaymentID")
    if payment_id:
        return "Payments", _delete_payment(ctx, str(payment_id), element)
    org = ctx.org
    errors: list[str] = []
    target_kind, doc = _target(org, element, errors)
    account = None
    if isinstance(element.get("Account"), dict):
        account = org.account_by_ref(element["Account"])
        if account is None:
            errors.append("Account could not be found")  # (wording unverified)
        elif account["Type"] != "BANK" and not account.get("EnablePaymentsToAccount"):
            errors.append("Account type is invalid for making a payment to/from")
        elif account.get("Status") != "ACTIVE":
            errors.append(
                f"Account code '{account['Code']}' has been archived, or has been deleted."
            )
    else:
        errors.append("An Account must be specified for the payment")  # (wording unverified)
    amount = None
    try:
        amount = money(to_decimal(element.get("Amount"), "Amount"))
        if amount <= ZERO:
            errors.append("Payment amount must be greater than zero")  # (wording unverified)
    except ElementInvalid as exc:
        errors.extend(exc.messages)
    try:
        pay_date = (
            parse_document_date(element["Date"]) if element.get("Date") else org.today(ctx.now)
        )
    except ValueError:
        errors.append("Date is not a valid date")
        pay_date = org.today(ctx.now)
    if doc is not None and target_kind is not None:
        if doc["Status"] != "AUTHORISED":
            errors.append("Payments can only be made against Authorised documents")
        elif amount is not None and amount > outstanding(target_kind, doc):
            errors.append("Payment amount exceeds the amount outstanding on this document")
    if errors:
        raise ElementInvalid(*dict.fromkeys(errors))
    assert doc is not None and target_kind is not None and account is not None
    assert amount is not None
    id_field = INVOICES.id_field if target_kind == "Invoices" else CREDIT_NOTES.id_field
    record: dict[str, Any] = {
        "Date": pay_date,
        "Amount": amount,
        "BankAmount": amount,
        "CurrencyRate": Decimal(str(element.get("CurrencyRate") or 1)),
        "Reference": str(element.get("Reference") or ""),
        "IsReconciled": bool(element.get("IsReconciled", False)),
        "Status": "AUTHORISED",
        "PaymentType": PAYMENT_TYPES[doc["Type"]],
        "HasAccount": True,
        "HasValidationErrors": False,
        "_account_id": account["AccountID"],
        "_target": (target_kind, doc[id_field]),
        "_created_by": ctx.client_id,
    }
    stored = org.insert("Payments", record, ctx.now)
    doc.setdefault("_payment_ids", []).append(stored["PaymentID"])
    settle(org, target_kind, doc)
    org.touch(target_kind, doc, ctx.now)
    return "Payments", stored


def _target(
    org: Organisation, element: dict[str, Any], errors: list[str]
) -> tuple[str | None, dict[str, Any] | None]:
    """The document a payment is for: an Invoice or a CreditNote, by id or number."""
    invoice = element.get("Invoice")
    credit_note = element.get("CreditNote")
    if isinstance(invoice, dict) or element.get("InvoiceNumber"):
        ref = invoice if isinstance(invoice, dict) else {"InvoiceNumber": element["InvoiceNumber"]}
        doc = None
        if ref.get("InvoiceID"):
            doc = org.get("Invoices", str(ref["InvoiceID"])) if is_guid(ref["InvoiceID"]) else None
        elif ref.get("InvoiceNumber"):
            doc = org.sales_invoice_by_number(ref["InvoiceNumber"]) or _bill_by_number(
                org, ref["InvoiceNumber"]
            )
        if doc is None:
            errors.append("Invoice could not be found")  # (wording unverified)
        return "Invoices", doc
    if isinstance(credit_note, dict) or element.get("CreditNoteNumber"):
        ref = (
            credit_note
            if isinstance(credit_note, dict)
            else {"CreditNoteNumber": element["CreditNoteNumber"]}
        )
        doc = None
        if ref.get("CreditNoteID"):
            doc = (
                org.get("CreditNotes", str(ref["CreditNoteID"]))
                if is_guid(ref["CreditNoteID"])
                else None
            )
        elif ref.get("CreditNoteNumber"):
            doc = org.sales_credit_note_by_number(ref["CreditNoteNumber"])
        if doc is None:
            errors.append("Credit Note could not be found")  # (wording unverified)
        return "CreditNotes", doc
    errors.append("An Invoice or CreditNote must be specified for the payment")  # (unverified)
    return None, None


def _bill_by_number(org: Organisation, number: object) -> dict[str, Any] | None:
    """Bills' numbers are not unique; Xero's pick among several is undocumented: the first."""
    for doc in org.records["Invoices"].values():
        if doc["Type"] == "ACCPAY" and doc.get("InvoiceNumber") == number:
            return doc
    return None


def _delete_payment(ctx: WriteContext, payment_id: str, element: dict[str, Any]) -> dict[str, Any]:
    org = ctx.org
    payment = org.get("Payments", payment_id) if is_guid(payment_id) else None
    if payment is None:
        raise ElementInvalid("Payment could not be found")  # (wording unverified)
    if str(element.get("Status", "")).upper() != "DELETED":
        # Payments cannot be edited, only deleted (spec PaymentDelete requires Status).
        raise ElementInvalid("Payments can only be deleted, not updated")  # (wording unverified)
    if payment["Status"] == "DELETED":
        raise ElementInvalid("The payment has already been deleted")  # (wording unverified)
    payment["Status"] = "DELETED"
    org.touch("Payments", payment, ctx.now)
    target_kind, target_id = payment["_target"]
    doc = org.records[target_kind][target_id]
    settle(org, target_kind, doc)
    org.touch(target_kind, doc, ctx.now)
    return payment


def allocation_writer(credit_note_id: str) -> Writer:
    """The writer for `PUT /CreditNotes/{id}/Allocations`, bound to that credit note."""

    def write_allocation(ctx: WriteContext, element: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "Allocations", _allocate(ctx, credit_note_id, element)

    return write_allocation


def _allocate(ctx: WriteContext, credit_note_id: str, element: dict[str, Any]) -> dict[str, Any]:
    org = ctx.org
    credit_note = org.get("CreditNotes", credit_note_id) if is_guid(credit_note_id) else None
    if credit_note is None:
        raise ElementInvalid(
            "An existing Credit Note with the specified CreditNoteID could not be found"
        )
    errors: list[str] = []
    invoice_ref = element.get("Invoice")
    invoice = None
    if isinstance(invoice_ref, dict) and invoice_ref.get("InvoiceID"):
        invoice_id = str(invoice_ref["InvoiceID"])
        invoice = org.get("Invoices", invoice_id) if is_guid(invoice_id) else None
    if invoice is None:
        errors.append("Invoice could not be found")  # (wording unverified)
    amount = None
    try:
        amount = money(to_decimal(element.get("Amount"), "Amount"))
        if amount <= ZERO:
            errors.append("Allocation amount must be greater than zero")  # (wording unverified)
    except ElementInvalid as exc:
        errors.extend(exc.messages)
    try:
        on = parse_document_date(element["Date"]) if element.get("Date") else org.today(ctx.now)
    except ValueError:
        errors.append("Date is not a valid date")
        on = org.today(ctx.now)
    if credit_note["Status"] != "AUTHORISED":
        errors.append("Only AUTHORISED credit notes can be allocated")  # (wording unverified)
    if invoice is not None:
        expected = "ACCREC" if credit_note["Type"] == "ACCRECCREDIT" else "ACCPAY"
        if invoice["Type"] != expected:
            errors.append(  # (wording unverified)
                "A credit note can only be allocated to an invoice of the matching type"
            )
        if invoice["_contact_id"] != credit_note["_contact_id"]:
            # Xero's UI only offers the same contact's invoices; the API's check is assumed.
            errors.append("The credit note and the invoice must be for the same contact")
        if invoice["Status"] != "AUTHORISED":
            errors.append("Credit notes can only be allocated to Authorised invoices")
        elif amount is not None and amount > invoice["AmountDue"]:
            errors.append("The allocation amount exceeds the amount due on the invoice")
    if amount is not None and amount > credit_note["RemainingCredit"]:
        errors.append("The allocation amount exceeds the remaining credit")  # (unverified)
    if errors:
        raise ElementInvalid(*dict.fromkeys(errors))
    assert invoice is not None and amount is not None
    allocation = {
        "AllocationID": ctx.ids.guid(),
        "CreditNoteID": credit_note["CreditNoteID"],
        "InvoiceID": invoice["InvoiceID"],
        "Amount": amount,
        "Date": on,
    }
    credit_note["_allocations"].append(allocation)
    invoice.setdefault("_allocations", []).append(allocation)
    for plural, doc in (("CreditNotes", credit_note), ("Invoices", invoice)):
        settle(org, plural, doc)
        org.touch(plural, doc, ctx.now)
    return allocation


def delete_allocation(ctx: WriteContext, credit_note_id: str, allocation_id: str) -> dict[str, Any]:
    """`DELETE /CreditNotes/{id}/Allocations/{AllocationID}`: undo one allocation."""
    org = ctx.org
    credit_note = org.get("CreditNotes", credit_note_id) if is_guid(credit_note_id) else None
    if credit_note is None:
        raise ElementInvalid(
            "An existing Credit Note with the specified CreditNoteID could not be found"
        )
    for allocation in credit_note["_allocations"]:
        if allocation["AllocationID"] == allocation_id.lower() and not allocation.get("IsDeleted"):
            allocation["IsDeleted"] = True
            invoice = org.records["Invoices"][allocation["InvoiceID"]]
            for plural, doc in (("CreditNotes", credit_note), ("Invoices", invoice)):
                settle(org, plural, doc)
                org.touch(plural, doc, ctx.now)
            return allocation
    raise ElementInvalid("Allocation could not be found")  # (wording unverified)


def allocation_view(org: Organisation, allocation: dict[str, Any]) -> dict[str, Any]:
    """An allocation as the Allocations envelope shows it."""
    return {
        "AllocationID": allocation["AllocationID"],
        "Amount": allocation["Amount"],
        "Date": allocation["Date"],
        "Invoice": org.document_summary("Invoices", allocation["InvoiceID"]),
        "CreditNote": org.document_summary("CreditNotes", allocation["CreditNoteID"]),
        "IsDeleted": allocation.get("IsDeleted", False),
    }
