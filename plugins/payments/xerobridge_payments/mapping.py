"""Pure functions: Xero contacts and invoices as the platform's customers and invoices, and the
platform's payments and payouts as Xero documents, built with the core's posting kit.

Money the platform moves goes through one clearing account in Xero (a bank account, as Xero
transfers only between bank accounts): a payment on an invoice from Xero is a Xero payment into
it, one on the platform's own invoice a receive-money into it, a refund or chargeback a
spend-money out of it, a payout's fees a spend-money out of it and its net amount a transfer
from it to the bank account the payout arrives in. What a payout rolls up is then exactly out of
the clearing account again, and the transfer matches the bank feed's deposit to the cent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from xerobridge.sdk import OrgFacts, Permanent, XeroDocument, posting

SOURCE = "payments"
ZERO = Decimal(0)
#: Xero invoice statuses whose invoice is owed (and so belongs in the platform).
OWED = ("AUTHORISED", "PAID")
#: Xero invoice statuses of an invoice taken back.
CANCELLED = ("VOIDED", "DELETED")


def money(value: Any) -> Decimal:
    """An amount as exact cents (Xero and the platform both send numbers or strings)."""
    return posting.money.cents(Decimal(str(value or 0)))


# -- Xero to the platform -------------------------------------------------------------------------


def customer_of(contact: Mapping[str, Any]) -> dict[str, Any]:
    """The platform customer of a Xero contact; Permanent when it has no email (the platform
    needs one to send invoices)."""
    name = str(contact.get("Name") or "").strip()
    email = str(contact.get("EmailAddress") or "").strip()
    if "@" not in email:
        raise Permanent(
            f"Xero contact {name!r} has no email address, which the payments platform needs to "
            "send its invoices: add one to the contact in Xero"
        )
    person = posting.contacts.person_name(contact.get("FirstName"), contact.get("LastName"))
    return {"name": person or name, "email": email, "company_name": name}


def invoice_lines(invoice: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The platform's lines for a Xero invoice, adding up to its Total to the cent.

    The platform has no tax: lines carry Xero's line amounts, tax is a line of its own when
    Xero's are tax exclusive, and a difference left by rounding is one more line.
    """
    lines: list[dict[str, Any]] = []
    for n, line in enumerate(invoice.get("LineItems") or []):
        amount = money(line.get("LineAmount"))
        if amount == ZERO:
            continue
        quantity = Decimal(str(line.get("Quantity") or 1))
        unit = Decimal(str(line.get("UnitAmount") or 0))
        text = posting.text.clean(line.get("Description"), 500) or f"Line {n + 1}"
        if quantity > ZERO and money(quantity * unit) == amount:
            lines.append({"description": text, "amount": str(unit), "quantity": str(quantity)})
        else:  # a discount or a rounded quantity: the line's own amount, once
            lines.append({"description": text, "amount": str(amount), "quantity": "1"})
    if invoice.get("LineAmountTypes") == "Exclusive" and money(invoice.get("TotalTax")):
        lines.append(
            {"description": "Tax", "amount": str(money(invoice["TotalTax"])), "quantity": "1"}
        )
    total = money(invoice.get("Total"))
    got = sum((money(Decimal(x["amount"]) * Decimal(x["quantity"])) for x in lines), ZERO)
    if got != total:
        lines.append({"description": "Rounding", "amount": str(total - got), "quantity": "1"})
    return lines


def settled_in_xero(invoice: Mapping[str, Any], *, ours: str) -> list[dict[str, str]]:
    """What was paid or credited on the invoice in Xero itself: its payments, credit notes,
    prepayments and overpayments, without the payments xerobridge made from the platform's
    (their Reference starts with `ours`, the source's key prefix)."""
    found: list[dict[str, str]] = []
    for payment in invoice.get("Payments") or []:
        if str(payment.get("Reference") or "").startswith(ours):
            continue
        found.append(_settled(payment, "PaymentID", "Amount", "payment"))
    for field, ident in (
        ("CreditNotes", "CreditNoteID"),
        ("Prepayments", "PrepaymentID"),
        ("Overpayments", "OverpaymentID"),
    ):
        for credit in invoice.get(field) or []:
            found.append(_settled(credit, ident, "AppliedAmount", "credit"))
    return [f for f in found if f["reference"] and money(f["amount"]) > ZERO]


def _settled(record: Mapping[str, Any], ident: str, amount: str, kind: str) -> dict[str, str]:
    on = posting.dates.xero_date(record.get("Date"), record=f"{kind} {record.get(ident)}")
    return {
        "reference": str(record.get(ident) or ""),
        "amount": str(money(record.get(amount))),
        "kind": kind,
        "date": on.isoformat(),
    }


def invoice_of(invoice: Mapping[str, Any], *, ours: str) -> dict[str, Any]:
    """What the platform keeps of a Xero sales invoice: lines, due date, and what Xero settled."""
    number = str(invoice.get("InvoiceNumber") or "")
    due = invoice.get("DueDate") or invoice.get("Date")
    if not due:
        raise Permanent(f"Xero invoice {number}: it has no due date; give it one in Xero")
    due_day = posting.dates.xero_date(due, record=f"Xero invoice {number}")
    return {
        "invoice_number": number,
        "currency": str(invoice.get("CurrencyCode") or ""),
        "due_date": due_day.isoformat(),
        "memo": str(invoice.get("Reference") or ""),
        "lines": invoice_lines(invoice),
        "settled": settled_in_xero(invoice, ours=ours),
    }


# -- the platform to Xero -------------------------------------------------------------------------


def day(org: OrgFacts, stamp: Any, record: str) -> str:
    """The organisation's date of a platform time."""
    return posting.dates.document_date(org, stamp, record=record, source=SOURCE)


def reference(prefix: str, kind: str, ident: str) -> str:
    """The natural key of a document made from a platform record."""
    return posting.keys.exact(
        f"{prefix}-{kind}", ident, posting.text.LIMITS["Payment.Reference"], "platform id"
    )


def payment(
    *,
    key: str,
    invoice_id: str,
    account: Mapping[str, str],
    on: str,
    amount: Decimal,
    deleted: bool = False,
) -> XeroDocument:
    """A payment on the Xero invoice, into the clearing account; `deleted` once it is reversed
    (Xero never changes a payment: the core sends the deletion with the payment's id)."""
    paid = {"Invoice": {"InvoiceID": invoice_id}}
    return posting.documents.payment(key, paid, account, on, amount, deleted=deleted)


def bank_transaction(
    *,
    key: str,
    kind: str,
    contact_id: str,
    account: Mapping[str, str],
    on: str,
    lines: list[tuple[str, Decimal, str, str]],
    role: str = "main",
) -> XeroDocument:
    """Receive-money (kind RECEIVE) into or spend-money (SPEND) out of the clearing account;
    lines are (description, amount, account code, tax type), amounts tax inclusive."""
    items = []
    for text, amount, code, tax in lines:
        item: dict[str, Any] = {
            "Description": posting.text.clean(text, 4000),
            "Quantity": 1,
            "UnitAmount": posting.money.number(amount),
            "AccountCode": code,
        }
        if tax:
            item["TaxType"] = tax
        items.append(item)
    body = {
        "Type": kind,
        "Contact": {"ContactID": contact_id},
        "BankAccount": dict(account),
        "Date": on,
        "Reference": key,
        "LineAmountTypes": "Inclusive",
        "LineItems": items,
    }
    return XeroDocument("BankTransaction", body, key, "Reference", role=role)


def transfer(
    *, key: str, source: Mapping[str, str], target: Mapping[str, str], on: str, amount: Decimal
) -> XeroDocument:
    """Money moved between two bank accounts (a payout: clearing account to the bank)."""
    body = {
        "FromBankAccount": dict(source),
        "ToBankAccount": dict(target),
        "Date": on,
        "Amount": posting.money.number(amount),
        "Reference": key,
    }
    return XeroDocument("BankTransfer", body, key, "Reference")


def fee_total(payout: Mapping[str, Any]) -> Decimal:
    """The fees a payout kept back (those its customers did not cover)."""
    return sum(
        (
            money(f.get("amount"))
            for f in payout.get("fees") or []
            if not f.get("covered_by_customer")
        ),
        ZERO,
    )


def arrival(payout: Mapping[str, Any]) -> str:
    """The day a payout reaches the bank (the deposit's date in the bank feed)."""
    raw = str(payout.get("arrival_date") or payout.get("created_at") or "")[:10]
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise Permanent(
            f"payout {payout.get('id')}: arrival_date {raw!r} is not a date; the platform "
            "sent a payout this plugin cannot read"
        ) from None


def stamp(value: Any) -> datetime:
    """A platform time as an aware datetime."""
    return posting.dates.moment(value, record="platform record", source=SOURCE)
