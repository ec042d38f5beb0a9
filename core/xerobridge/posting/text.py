"""Text as Xero takes it: printable, whitespace collapsed, within each field's length limit."""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Any

#: Xero's length limits of the fields plugins fill (the official OpenAPI's maxLength where it
#: states one, else Xero's documented limit).
LIMITS: dict[str, int] = {
    "Contact.Name": 255,
    "Contact.ContactNumber": 50,
    "Contact.FirstName": 255,
    "Contact.LastName": 255,
    "Contact.EmailAddress": 255,
    "Contact.TaxNumber": 50,
    "Address.AddressLine": 500,
    "Address.City": 255,
    "Address.Region": 255,
    "Address.PostalCode": 50,
    "Address.Country": 50,
    "Phone.PhoneNumber": 50,
    "Item.Code": 30,
    "Item.Name": 50,
    "Item.Description": 4000,
    "LineItem.Description": 4000,
    "Invoice.InvoiceNumber": 255,
    "Invoice.Reference": 255,
    "Payment.Reference": 255,
    "BankTransfer.Reference": 255,
}

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"\s+")
_TAGS = re.compile(r"<[^>]*>")


def clean(value: Any, limit: int) -> str:
    """Printable text: control characters dropped, whitespace collapsed, cut to `limit`."""
    text = _SPACES.sub(" ", _CONTROL.sub("", unicodedata.normalize("NFC", str(value or ""))))
    return text.strip()[:limit].strip()


def field(value: Any, name: str) -> str:
    """`clean` to the limit of a Xero field named as in `LIMITS` (`"Contact.Name"`)."""
    return clean(value, LIMITS[name])


def plain(markup: Any, limit: int = LIMITS["LineItem.Description"]) -> str:
    """Plain text of a source's HTML (a description, a worklog): tags dropped, entities read."""
    return clean(html.unescape(_TAGS.sub(" ", str(markup or ""))), limit)
