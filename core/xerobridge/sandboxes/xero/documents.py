"""Invoices and credit notes: numbering, contact resolution, totals and the status machine.

The two share Xero's rules (they are one "document" in Xero's model): DRAFT -> SUBMITTED ->
AUTHORISED -> PAID, DRAFT/SUBMITTED -> DELETED, AUTHORISED without payments -> VOIDED; PAID is
reached only through payments and allocations. Messages marked "(wording unverified)" render a
rule Xero is known to enforce whose exact text is not in the spec or the reference notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from xerobridge.sandboxes.xero import contacts
from xerobridge.sandboxes.xero.dates import parse_document_date
from xerobridge.sandboxes.xero.errors import ElementInvalid
from xerobridge.sandboxes.xero.ids import is_guid
from xerobridge.sandboxes.xero.lines import LINE_AMOUNT_TYPES, LineRules, build_lines, totals
from xerobridge.sandboxes.xero.organisation import Organisation
from xerobridge.sandboxes.xero.wire import money
from xerobridge.sandboxes.xero.writes import WriteContext

ZERO = Decimal(0)
STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED")
TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({"DRAFT", "SUBMITTED", "AUTHORISED"}),
    "DRAFT": frozenset({"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"}),
    "SUBMITTED": frozenset({"SUBMITTED", "DRAFT", "AUTHORISED", "DELETED"}),
    "AUTHORISED": frozenset({"AUTHORISED", "VOIDED"}),
    "PAID": frozenset({"PAID"}),
    "VOIDED": frozenset(),
    "DELETED": frozenset(),
}
# What may still change on an AUTHORISED document that has money applied to it.
SETTLED_EDITABLE = frozenset(
    {"Reference", "DueDate", "Url", "SentToContact", "ExpectedPaymentDate", "PlannedPaymentDate"}
)


@dataclass(frozen=True)
class DocumentKind:
    plural: str
    id_field: str
    number_field: str
    types: tuple[str, ...]
    sales_type: str
    prefix: str
    label: str


INVOICES = DocumentKind(
    "Invoices", "InvoiceID", "InvoiceNumber", ("ACCREC", "ACCPAY"), "ACCREC", "INV", "Invoice"
)
CREDIT_NOTES = DocumentKind(
    "CreditNotes",
    "CreditNoteID",
    "CreditNoteNumber",
    ("ACCRECCREDIT", "ACCPAYCREDIT"),
    "ACCRECCREDIT",
    "CN",
    "Credit Note",
)
KINDS = {INVOICES.plural: INVOICES, CREDIT_NOTES.plural: CREDIT_NOTES}


def write_invoice(ctx: WriteContext, element: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return write_document(INVOICES, ctx, element)


def write_credit_note(ctx: WriteContext, element: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return write_document(CREDIT_NOTES, ctx, element)


def write_document(
    kind: DocumentKind, ctx: WriteContext, element: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """Create or update one invoice or credit note; nothing is stored unless all of it is valid."""
    org = ctx.org
    existing = _find_existing(kind, ctx, element)
    errors: list[str] = []

    old_status = existing["Status"] if existing else None
    status = str(element.get("Status") or old_status or "DRAFT").upper()
    if status not in STATUSES:
        raise ElementInvalid(f"Status '{element.get('Status')}' is not valid.")
    if existing is not None:
        _check_modifiable(kind, existing, element, status)
    elif status not in TRANSITIONS[None]:
        raise ElementInvalid(  # (wording unverified)
            f"A {kind.label.lower()} cannot be created with status {status}"
        )
    strict = status in ("SUBMITTED", "AUTHORISED")

    doc_type = str(element.get("Type") or (existing or {}).get("Type") or "").upper()
    if existing is not None and doc_type != existing["Type"]:
        errors.append(f"The {kind.label.lower()} Type cannot be changed")  # (wording unverified)
    if doc_type not in kind.types:
        raise ElementInvalid(f"{kind.label} Type must be one of {', '.join(kind.types)}")

    contact, new_contact = _resolve_contact(ctx, element, existing, errors)

    record: dict[str, Any] = dict(existing) if existing else _blank(kind, org, ctx)
    record["Type"] = doc_type
    for key in ("Reference", "Url", "SentToContact", "BrandingThemeID"):
        if key in element:
            record[key] = element[key]
    for key in ("Date", "DueDate", "ExpectedPaymentDate", "PlannedPaymentDate"):
        if element.get(key):
            try:
                record[key] = parse_document_date(element[key])
            except ValueError:
                errors.append(f"{key} is not a valid date")
    record.setdefault("Date", org.today(ctx.now))
    if strict and kind is INVOICES and not record.get("DueDate"):
        errors.append("The document DueDate field must be specified")

    currency = str(element.get("CurrencyCode") or record.get("CurrencyCode") or org.base_currency)
    if currency.upper() != org.base_currency:
        # The sandbox organisation has only its base currency enabled; Xero refuses a currency
        # the organisation has not added (wording unverified).
        errors.append(f"The currency {currency} is not enabled for this organisation.")
    record["CurrencyCode"] = org.base_currency

    amount_types = str(
        element.get("LineAmountTypes") or record.get("LineAmountTypes") or "Exclusive"
    )
    amount_types = {t.lower(): t for t in LINE_AMOUNT_TYPES}.get(amount_types.lower(), "")
    if not amount_types:
        errors.append(f"LineAmountTypes '{element.get('LineAmountTypes')}' is not valid.")
        amount_types = "Exclusive"
    record["LineAmountTypes"] = amount_types

    _number(kind, ctx, element, record, existing, errors)

    if "LineItems" in element or existing is None or "LineAmountTypes" in element:
        rules = LineRules(
            amount_types=amount_types,
            sales=doc_type == kind.sales_type,
            strict=strict,
            unitdp=ctx.unitdp,
            allow_discounts=doc_type == "ACCREC",
        )
        raw_lines = element.get("LineItems", (existing or {}).get("LineItems"))
        try:
            record["LineItems"] = build_lines(
                org, raw_lines, rules, ctx.ids, (existing or {}).get("LineItems")
            )
        except ElementInvalid as exc:
            errors.extend(exc.messages)
        ctx.warnings.extend(rules.warnings)
    elif strict:
        # Approving an existing draft re-validates its lines as Xero does on approval.
        rules = LineRules(amount_types, doc_type == kind.sales_type, True, 4)
        try:
            build_lines(org, record["LineItems"], rules, ctx.ids, record["LineItems"])
        except ElementInvalid as exc:
            errors.extend(exc.messages)
    if errors:
        raise ElementInvalid(*dict.fromkeys(errors))

    record.update(totals(record["LineItems"], amount_types))
    if kind is INVOICES:
        record["IsDiscounted"] = record["TotalDiscount"] > ZERO
    if kind is not INVOICES or not record["IsDiscounted"]:
        # Only the Invoice schema has TotalDiscount and IsDiscounted.
        record.pop("TotalDiscount", None)
    record["Status"] = status

    # Commit: from here on nothing can fail.
    if new_contact is not None:
        contact = org.insert("Contacts", new_contact, ctx.now)
    assert contact is not None
    if contacts.mark_role(contact, doc_type):
        org.touch("Contacts", contact, ctx.now)
    record["_contact_id"] = contact["ContactID"]
    if existing is None:
        stored = org.insert(kind.plural, record, ctx.now)
    else:
        existing.clear()
        existing.update(record)
        stored = existing
    settle(org, kind.plural, stored)
    if existing is not None:
        org.touch(kind.plural, stored, ctx.now)
    return kind.plural, stored


def _blank(kind: DocumentKind, org: Organisation, ctx: WriteContext) -> dict[str, Any]:
    record: dict[str, Any] = {
        "CurrencyRate": Decimal(1),
        "SentToContact": False,
        "HasAttachments": False,
        "HasErrors": False,
        "_payment_ids": [],
        "_allocations": [],
        "_created_by": ctx.client_id,
    }
    if kind is INVOICES:
        record.update({"Prepayments": [], "Overpayments": [], "AmountPaid": ZERO})
        record["AmountCredited"] = ZERO
    return record


def _find_existing(
    kind: DocumentKind, ctx: WriteContext, element: dict[str, Any]
) -> dict[str, Any] | None:
    doc_id = ctx.path_id or element.get(kind.id_field)
    if doc_id:
        found = ctx.org.get(kind.plural, str(doc_id)) if is_guid(doc_id) else None
        if found is None:
            raise ElementInvalid(
                f"An existing {kind.label} with the specified {kind.id_field} could not be found"
            )
        return found
    if ctx.mode == "upsert" and element.get(kind.number_field):
        # POST with the number of an existing sales document updates it (pyxero#328); PUT with
        # it fails the uniqueness rule instead.
        element_type = str(element.get("Type") or kind.sales_type).upper()
        if element_type == kind.sales_type:
            if kind is INVOICES:
                return ctx.org.sales_invoice_by_number(element[kind.number_field])
            return ctx.org.sales_credit_note_by_number(element[kind.number_field])
    return None


def _check_modifiable(
    kind: DocumentKind, existing: dict[str, Any], element: dict[str, Any], status: str
) -> None:
    old = existing["Status"]
    if status not in TRANSITIONS[old]:
        raise ElementInvalid(f"{kind.label} not of valid status for modification")
    if old in ("PAID", "VOIDED", "DELETED"):
        raise ElementInvalid(f"{kind.label} not of valid status for modification")
    if _money_applied(existing) > ZERO:
        if status == "VOIDED":
            raise ElementInvalid(  # (wording unverified)
                "This document cannot be voided as it has a payment or credit note allocated to it"
            )
        changed = {
            k
            for k in element
            if k not in SETTLED_EDITABLE
            and k not in (kind.id_field, kind.number_field, "Type", "Status", "Contact")
        }
        if changed:
            raise ElementInvalid(  # (wording unverified)
                "This document cannot be edited as it has a payment or credit note allocated to it"
            )


def _resolve_contact(
    ctx: WriteContext,
    element: dict[str, Any],
    existing: dict[str, Any] | None,
    errors: list[str],
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    if existing is not None and "Contact" not in element:
        return ctx.org.get("Contacts", existing["_contact_id"]), None
    try:
        found, new = contacts.resolve_document_contact(ctx, element.get("Contact"))
    except ElementInvalid as exc:
        errors.extend(exc.messages)
        return None, None
    if (
        existing is not None
        and found is not None
        and found["ContactID"] != existing["_contact_id"]
        and _money_applied(existing) > ZERO
    ):
        errors.append(  # (wording unverified)
            "The contact cannot be changed on a document that has payments or credit notes "
            "allocated"
        )
    return found, new


def _number(
    kind: DocumentKind,
    ctx: WriteContext,
    element: dict[str, Any],
    record: dict[str, Any],
    existing: dict[str, Any] | None,
    errors: list[str],
) -> None:
    number = element.get(kind.number_field)
    sales = record["Type"] == kind.sales_type
    if number is not None and not isinstance(number, str):
        number = str(number)
    if number:
        if len(number) > 255:
            errors.append(f"{kind.number_field} must not be more than 255 characters long.")
        if sales:
            clash = (
                ctx.org.sales_invoice_by_number(number)
                if kind is INVOICES
                else ctx.org.sales_credit_note_by_number(number)
            )
            if clash is not None and (
                existing is None or clash[kind.id_field] != existing[kind.id_field]
            ):
                # Credit note numbers: Xero keeps them unique like invoice numbers; the exact
                # message for credit notes is unverified.
                errors.append(
                    f"{'Invoice' if kind is INVOICES else 'Credit Note'} # must be unique."
                )
        record[kind.number_field] = number
    elif existing is None:
        # Sales documents are numbered automatically; bills and supplier credits keep the
        # supplier's number, which may be empty.
        record[kind.number_field] = ctx.org.next_number(kind.prefix) if sales else ""


def _money_applied(doc: dict[str, Any]) -> Decimal:
    """What payments and allocations have taken off a document's total."""
    if "AmountDue" in doc:
        return doc["AmountPaid"] + doc["AmountCredited"]
    return doc["Total"] - doc.get("RemainingCredit", doc["Total"])


def settle(org: Organisation, plural: str, doc: dict[str, Any]) -> None:
    """Recompute what is paid, credited and due, and move AUTHORISED <-> PAID with it."""
    payments = [
        org.records["Payments"][pid]
        for pid in doc.get("_payment_ids", [])
        if org.records["Payments"][pid]["Status"] != "DELETED"
    ]
    paid = sum((p["Amount"] for p in payments), ZERO)
    allocations = [a for a in doc.get("_allocations", []) if not a.get("IsDeleted")]
    allocated = sum((a["Amount"] for a in allocations), ZERO)
    left = money(doc["Total"] - paid - allocated)
    if plural == "Invoices":
        doc["AmountPaid"] = money(paid)
        doc["AmountCredited"] = money(allocated)
        doc["AmountDue"] = ZERO if doc["Status"] in ("VOIDED", "DELETED") else left
    else:
        doc["RemainingCredit"] = ZERO if doc["Status"] in ("VOIDED", "DELETED") else left
    dates: list[date] = [p["Date"] for p in payments] + [a["Date"] for a in allocations]
    if doc["Status"] == "AUTHORISED" and left <= ZERO:
        # Fully settled (a zero-total document is settled as soon as it is approved).
        doc["Status"] = "PAID"
    if doc["Status"] == "PAID" and left > ZERO:
        doc["Status"] = "AUTHORISED"
    if doc["Status"] == "PAID":
        doc["FullyPaidOnDate"] = max(dates) if dates else doc["Date"]
    else:
        doc.pop("FullyPaidOnDate", None)


def outstanding(plural: str, doc: dict[str, Any]) -> Decimal:
    """What can still be paid or allocated against a document."""
    return doc["AmountDue"] if plural == "Invoices" else doc["RemainingCredit"]
