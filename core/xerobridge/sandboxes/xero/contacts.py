"""Contacts: who may be created or changed, and how a document's Contact is resolved.

Messages marked "(wording unverified)" are the sandbox's best rendering of a rule Xero is known
to enforce whose exact text was not found in Xero's spec or docs.
"""

from __future__ import annotations

import re
from typing import Any

from xerobridge.sandboxes.xero.errors import ElementInvalid
from xerobridge.sandboxes.xero.ids import is_guid
from xerobridge.sandboxes.xero.organisation import Organisation
from xerobridge.sandboxes.xero.writes import WriteContext

# Writable Contact fields of the spec; read-only ones (IsCustomer, Balances ...) are ignored.
WRITABLE = (
    "ContactNumber",
    "AccountNumber",
    "ContactStatus",
    "Name",
    "FirstName",
    "LastName",
    "CompanyNumber",
    "EmailAddress",
    "ContactPersons",
    "BankAccountDetails",
    "TaxNumber",
    "AccountsReceivableTaxType",
    "AccountsPayableTaxType",
    "Addresses",
    "Phones",
    "SalesDefaultLineAmountType",
    "PurchasesDefaultLineAmountType",
    "DefaultCurrency",
    "XeroNetworkKey",
    "SalesDefaultAccountCode",
    "PurchasesDefaultAccountCode",
    "PaymentTerms",
)
MAX_LENGTHS = {
    "Name": 255,
    "ContactNumber": 50,
    "AccountNumber": 50,
    "FirstName": 255,
    "LastName": 255,
    "EmailAddress": 255,
    "TaxNumber": 50,
    "CompanyNumber": 50,
}
STATUSES = ("ACTIVE", "ARCHIVED")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

ARCHIVED_MESSAGE = (
    "The contact with the specified contact details has been archived. The contact must be "
    "un-archived before creating new invoices or credit notes."
)
IDENTIFY_MESSAGE = (
    "The Contact must contain at least 1 of the following elements to identify the contact: "
    "Name, ContactID, ContactNumber"
)


def name_taken_message(name: str) -> str:
    return (
        f"The contact name {name} is already assigned to another contact. The contact name "
        "must be unique across all active contacts."
    )


def write_contact(ctx: WriteContext, element: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Create (PUT) or create-or-update (POST) one contact."""
    org = ctx.org
    existing = _find_existing(ctx, element)
    record: dict[str, Any] = dict(existing) if existing else _blank()
    for key in WRITABLE:
        if key in element:
            record[key] = element[key]
    if "Addresses" in element:
        record["Addresses"] = _merge_typed(
            existing, element["Addresses"], "Addresses", "AddressType"
        )
    if "Phones" in element:
        record["Phones"] = _merge_typed(existing, element["Phones"], "Phones", "PhoneType")
    _validate(org, record, existing)
    if existing is None:
        return "Contacts", org.insert("Contacts", record, ctx.now)
    existing.clear()
    existing.update(record)
    org.touch("Contacts", existing, ctx.now)
    return "Contacts", existing


def _find_existing(ctx: WriteContext, element: dict[str, Any]) -> dict[str, Any] | None:
    org = ctx.org
    contact_id = ctx.path_id or element.get("ContactID")
    if contact_id:
        found = org.get("Contacts", str(contact_id)) if is_guid(contact_id) else None
        if found is None:
            raise ElementInvalid(f"Contact with ID {contact_id} could not be found")
        return found
    if ctx.mode == "create":
        return None
    # POST matches an existing contact by ContactNumber, then by Name among active contacts
    # (Xero documents ContactID and ContactNumber as update keys; matching on Name is what it
    # has been seen to do, and why "find then create" by name is risky).
    if element.get("ContactNumber"):
        return org.contact_by_number(element["ContactNumber"])
    return org.active_contact_by_name(element.get("Name"))


def _blank() -> dict[str, Any]:
    return {
        "ContactStatus": "ACTIVE",
        "BankAccountDetails": "",
        "Addresses": [
            {"AddressType": "STREET", "City": "", "Region": "", "PostalCode": "", "Country": ""},
            {"AddressType": "POBOX", "City": "", "Region": "", "PostalCode": "", "Country": ""},
        ],
        "Phones": [
            {"PhoneType": t, "PhoneNumber": "", "PhoneAreaCode": "", "PhoneCountryCode": ""}
            for t in ("DEFAULT", "DDI", "FAX", "MOBILE")
        ],
        "ContactGroups": [],
        "ContactPersons": [],
        "IsSupplier": False,
        "IsCustomer": False,
        "HasAttachments": False,
        "HasValidationErrors": False,
    }


def _merge_typed(
    existing: dict[str, Any] | None, submitted: object, key: str, type_key: str
) -> list[dict[str, Any]]:
    """Addresses and Phones are keyed by their type: a submitted one replaces its own type."""
    if not isinstance(submitted, list):
        raise ElementInvalid(f"{key} must be a list")
    current = list((existing or _blank())[key])
    for entry in submitted:
        if not isinstance(entry, dict):
            raise ElementInvalid(f"{key} must be a list of objects")
        current = [c for c in current if c.get(type_key) != entry.get(type_key)]
        current.append(dict(entry))
    return current


def _validate(org: Organisation, record: dict[str, Any], existing: dict[str, Any] | None) -> None:
    errors = []
    name = record.get("Name")
    if not isinstance(name, str) or not name.strip():
        errors.append("The contact name must be specified.")  # (wording unverified)
    for key, limit in MAX_LENGTHS.items():
        value = record.get(key)
        if isinstance(value, str) and len(value) > limit:
            errors.append(f"{key} must not be more than {limit} characters long.")
    if record.get("ContactStatus") not in STATUSES:
        errors.append(f"ContactStatus '{record.get('ContactStatus')}' is not valid.")
    email = record.get("EmailAddress")
    if email and not _EMAIL.match(str(email)):
        errors.append("Email address must be valid.")
    own_id = existing["ContactID"] if existing else None
    if record.get("ContactStatus") == "ACTIVE" and isinstance(name, str) and name.strip():
        clash = org.active_contact_by_name(name)
        if clash is not None and clash["ContactID"] != own_id:
            errors.append(name_taken_message(name))
    number = record.get("ContactNumber")
    if number:
        clash = org.contact_by_number(number)
        if clash is not None and clash["ContactID"] != own_id:
            # (wording unverified) Xero keeps ContactNumber unique; its message is not in the spec.
            errors.append(f"The contact number {number} is already assigned to another contact.")
    for key in ("AccountsReceivableTaxType", "AccountsPayableTaxType"):
        if record.get(key) and org.tax_rate(record[key]) is None:
            errors.append(f"The TaxType code '{record[key]}' does not exist.")
    if errors:
        raise ElementInvalid(*errors)


def resolve_document_contact(
    ctx: WriteContext, ref: object
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The contact a document names: (an existing contact, or a new one still to be created).

    A Name that matches no contact makes Xero create one as a side effect of the document,
    which is how duplicates appear when the name is spelt differently (a real pitfall).
    The new contact is returned, not stored, so that it is only created if the document is.
    """
    org = ctx.org
    if not isinstance(ref, dict) or not any(
        ref.get(k) for k in ("ContactID", "ContactNumber", "Name")
    ):
        raise ElementInvalid(IDENTIFY_MESSAGE)
    if ref.get("ContactID"):
        found = org.get("Contacts", str(ref["ContactID"])) if is_guid(ref["ContactID"]) else None
        if found is None:
            # (wording unverified)
            raise ElementInvalid(f"Contact with ID {ref['ContactID']} could not be found")
    elif ref.get("ContactNumber"):
        found = org.contact_by_number(ref["ContactNumber"])
        if found is None and not ref.get("Name"):
            raise ElementInvalid(  # (wording unverified)
                f"Contact with ContactNumber {ref['ContactNumber']} could not be found"
            )
    else:
        found = org.contact_by_any_name(ref["Name"])
    if found is not None:
        if found.get("ContactStatus") != "ACTIVE":
            raise ElementInvalid(ARCHIVED_MESSAGE)
        return found, None
    new = _blank()
    for key in WRITABLE:
        if key in ref and key not in ("Addresses", "Phones"):
            new[key] = ref[key]
    _validate(org, new, None)
    return None, new


def mark_role(contact: dict[str, Any], doc_type: str) -> bool:
    """Set IsCustomer / IsSupplier as a document of this type does; True when it changed."""
    flag = "IsCustomer" if doc_type in ("ACCREC", "ACCRECCREDIT", "RECEIVE") else "IsSupplier"
    if contact.get(flag):
        return False
    contact[flag] = True
    return True
