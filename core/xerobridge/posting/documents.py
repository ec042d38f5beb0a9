"""The Xero documents every mapping writes the same way: contacts, items, payments, allocations.

Each builder takes values in the source's own terms and returns a `XeroDocument` within Xero's
field limits, leaving out what is empty (an empty field sent to Xero clears it there).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from xerobridge.contract.types import XeroDocument
from xerobridge.posting.money import cents, number, unit
from xerobridge.posting.text import LIMITS, clean, plain


@dataclass(frozen=True)
class Address:
    """A postal or physical address as a source has it (up to four street lines are kept)."""

    lines: Sequence[Any] = ()
    city: Any = None
    region: Any = None
    postal_code: Any = None
    country: Any = None

    def body(self, kind: str) -> dict[str, Any]:
        """Xero's Address of type `kind` (POBOX: postal, STREET: physical)."""
        out: dict[str, Any] = {"AddressType": kind}
        kept = [clean(line, 500) for line in self.lines if clean(line, 500)]
        for n, line in enumerate(kept[:4], start=1):
            out[f"AddressLine{n}"] = line
        for field, value, limit in (
            ("City", self.city, 255),
            ("Region", self.region, 255),
            ("PostalCode", self.postal_code, 50),
            ("Country", self.country, 50),
        ):
            if clean(value, limit):
                out[field] = clean(value, limit)
        return out


def contact(
    number: str,
    name: str,
    *,
    first: Any = None,
    last: Any = None,
    email: Any = None,
    tax_number: Any = None,
    postal: Address | None = None,
    street: Address | None = None,
    phone: Any = None,
) -> XeroDocument:
    """A Contact keyed by its ContactNumber; addresses and phones are sent even when empty, so
    that one removed at the source is removed in Xero too."""
    body: dict[str, Any] = {"ContactNumber": number, "Name": name}
    for field, value, limit in (
        ("FirstName", first, 255),
        ("LastName", last, 255),
        ("EmailAddress", email, 255),
        ("TaxNumber", tax_number, 50),
    ):
        if clean(value, limit):
            body[field] = clean(value, limit)
    body["Addresses"] = [
        address.body(kind) for kind, address in (("POBOX", postal), ("STREET", street)) if address
    ]
    body["Phones"] = (
        [{"PhoneType": "DEFAULT", "PhoneNumber": clean(phone, 50)}] if clean(phone, 50) else []
    )
    return XeroDocument("Contact", body, number, "ContactNumber")


def item(
    code: str,
    name: Any,
    *,
    account: str,
    description: Any = None,
    tax_type: str = "",
    price: Decimal | None = None,
) -> XeroDocument:
    """A sold Item keyed by its Code, not tracked as inventory: the source owns stock, and Xero
    refuses to authorise an invoice selling more of a tracked item than it has on hand. The
    description is plain text (markup removed); without one, the name."""
    item_name = clean(name, LIMITS["Item.Name"]) or clean(code, LIMITS["Item.Name"])
    sales: dict[str, Any] = {"AccountCode": account}
    if tax_type:
        sales["TaxType"] = tax_type
    if price is not None:
        sales["UnitPrice"] = number(unit(price))
    body = {
        "Code": code,
        "Name": item_name,
        "Description": plain(description or "", LIMITS["Item.Description"]) or item_name,
        "IsSold": True,
        "IsPurchased": False,
        "IsTrackedAsInventory": False,
        "SalesDetails": sales,
    }
    return XeroDocument("Item", body, code, "Code")


def payment(
    key: str,
    target: Mapping[str, Any],
    account: Mapping[str, str],
    day: str,
    amount: Decimal,
    *,
    currency_rate: Decimal | None = None,
    deleted: bool = False,
    role: str = "main",
) -> XeroDocument:
    """A Payment of `amount` between `account` and `target` (`{"Invoice": {"InvoiceID": ...}}`,
    or a credit note), keyed by its Reference; `deleted` reverses it (Xero never edits one)."""
    body: dict[str, Any] = {
        **target,
        "Account": dict(account),
        "Date": day,
        "Amount": number(cents(amount)),
        "Reference": key,
    }
    if currency_rate:
        body["CurrencyRate"] = number(currency_rate)
    if deleted:
        body["Status"] = "DELETED"
    return XeroDocument("Payment", body, key, "Reference", role=role)


def allocation(
    key: str, key_field: str, *, note_id: str, invoice_id: str, day: str, amount: Decimal
) -> XeroDocument:
    """`amount` of a credit note allocated to an invoice, keyed by the credit note's own natural
    key (`key` in `key_field`), as a credit note is allocated once."""
    body = {
        key_field: key,
        "CreditNote": {"CreditNoteID": note_id},
        "Invoice": {"InvoiceID": invoice_id},
        "Amount": number(cents(amount)),
        "Date": day,
    }
    return XeroDocument("Allocation", body, key, key_field, role="allocation")
