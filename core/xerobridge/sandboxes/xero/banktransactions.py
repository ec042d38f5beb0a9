"""Bank transactions (spend and receive money): a bank account, a contact, priced lines.

Only the plain RECEIVE and SPEND types are modelled; overpayments, prepayments and transfers
(the other Type values of the spec) are refused with a message saying so.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from xerobridge.sandboxes.xero import contacts
from xerobridge.sandboxes.xero.dates import parse_document_date
from xerobridge.sandboxes.xero.errors import ElementInvalid
from xerobridge.sandboxes.xero.ids import is_guid
from xerobridge.sandboxes.xero.lines import LINE_AMOUNT_TYPES, LineRules, build_lines, totals
from xerobridge.sandboxes.xero.writes import WriteContext

TYPES = ("RECEIVE", "SPEND")
STATUSES = ("AUTHORISED", "DELETED", "VOIDED")


def write_bank_transaction(
    ctx: WriteContext, element: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """Create or update one bank transaction."""
    org = ctx.org
    existing = None
    bt_id = ctx.path_id or element.get("BankTransactionID")
    if bt_id:
        existing = org.get("BankTransactions", str(bt_id)) if is_guid(bt_id) else None
        if existing is None:
            raise ElementInvalid("Bank transaction could not be found")  # (wording unverified)
        if existing["Status"] != "AUTHORISED":
            raise ElementInvalid("Bank transaction not of valid status for modification")
    errors: list[str] = []
    record: dict[str, Any] = (
        dict(existing)
        if existing
        else {"IsReconciled": False, "HasAttachments": False, "_created_by": ctx.client_id}
    )
    bt_type = str(element.get("Type") or record.get("Type") or "").upper()
    if bt_type not in TYPES:
        raise ElementInvalid(
            f"Bank transaction Type '{bt_type}' is not supported by the sandbox (RECEIVE, SPEND)"
        )
    record["Type"] = bt_type
    status = str(element.get("Status") or record.get("Status") or "AUTHORISED").upper()
    if status not in STATUSES:
        errors.append(f"Status '{status}' is not valid.")
    record["Status"] = status

    bank_ref = element.get("BankAccount")
    bank = None
    if isinstance(bank_ref, dict):
        bank = org.account_by_ref(bank_ref)
        if bank is None or bank["Type"] != "BANK":
            errors.append("The BankAccount must be a valid bank account")  # (wording unverified)
    elif existing is not None:
        bank = org.get("Accounts", existing["_bank_account_id"])
    else:
        errors.append("The BankAccount must be specified")  # (wording unverified)

    contact = new_contact = None
    if "Contact" in element or existing is None:
        try:
            contact, new_contact = contacts.resolve_document_contact(ctx, element.get("Contact"))
        except ElementInvalid as exc:
            errors.extend(exc.messages)
    else:
        contact = org.get("Contacts", existing["_contact_id"])

    for key in ("Reference", "Url", "IsReconciled"):
        if key in element:
            record[key] = element[key]
    if element.get("Date"):
        try:
            record["Date"] = parse_document_date(element["Date"])
        except ValueError:
            errors.append("Date is not a valid date")
    record.setdefault("Date", org.today(ctx.now))
    record["CurrencyCode"] = org.base_currency
    record["CurrencyRate"] = Decimal(1)
    amount_types = str(
        element.get("LineAmountTypes") or record.get("LineAmountTypes") or "Exclusive"
    )
    amount_types = {t.lower(): t for t in LINE_AMOUNT_TYPES}.get(amount_types.lower(), "Exclusive")
    record["LineAmountTypes"] = amount_types
    if "LineItems" in element or existing is None:
        rules = LineRules(amount_types, bt_type == "RECEIVE", True, ctx.unitdp, False)
        try:
            record["LineItems"] = build_lines(
                org, element.get("LineItems"), rules, ctx.ids, (existing or {}).get("LineItems")
            )
        except ElementInvalid as exc:
            errors.extend(exc.messages)
    if errors:
        raise ElementInvalid(*dict.fromkeys(errors))
    assert bank is not None
    record.update(totals(record["LineItems"], amount_types))
    record.pop("TotalDiscount", None)
    if new_contact is not None:
        contact = org.insert("Contacts", new_contact, ctx.now)
    assert contact is not None
    if contacts.mark_role(contact, bt_type):
        org.touch("Contacts", contact, ctx.now)
    record["_contact_id"] = contact["ContactID"]
    record["_bank_account_id"] = bank["AccountID"]
    if existing is None:
        return "BankTransactions", org.insert("BankTransactions", record, ctx.now)
    existing.clear()
    existing.update(record)
    org.touch("BankTransactions", existing, ctx.now)
    return "BankTransactions", existing
