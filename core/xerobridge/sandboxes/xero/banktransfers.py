"""Bank transfers: money moved from one of the organisation's bank accounts to another.

Xero allows a transfer only between two accounts of Type BANK. A payments plugin that moves a
payout out of a clearing account must therefore have that clearing account set up in Xero as a
bank account; a current-asset clearing account is refused here as it would be there.

A transfer is made (`PUT /BankTransfers`, a batch; the spec gives it no summarizeErrors, so a
batch with a bad transfer is answered 400 with the refused ones alone while the good ones are
made) or deleted (`POST /BankTransfers` or `POST /BankTransfers/{id}` with Status DELETED);
it is never changed. Its two sides are bank transactions, a SPEND-TRANSFER on the account paid
from and a RECEIVE-TRANSFER on the one paid into, whose ids it carries. Xero's bank-transfer
documentation, as integrators quote it, says `GET /BankTransactions` lists both sides; the
sandbox lists them too.

UNVERIFIED, the sandbox's reading where Xero's documentation says nothing: the sides' shape in
the BankTransactions list (no contact, no line items, NoTax, the transfer's amount as Total);
that amounts with more than 2 decimals are refused (Xero may round them); that accounts in
different currencies need a CurrencyRate (the spec marks it read-only; older documentation
says such transfers are not supported), taken as units of the receiving account's currency
per unit of the paying one's; that a reconciled transfer cannot be deleted. Messages marked
"(wording unverified)" are the sandbox's rendering of a rule.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from xerobridge.sandboxes.xero.dates import parse_document_date
from xerobridge.sandboxes.xero.errors import ElementInvalid
from xerobridge.sandboxes.xero.ids import is_guid
from xerobridge.sandboxes.xero.lines import to_decimal
from xerobridge.sandboxes.xero.organisation import Organisation
from xerobridge.sandboxes.xero.wire import money
from xerobridge.sandboxes.xero.writes import WriteContext

ZERO = Decimal(0)
SIDES = (("From", "SPEND-TRANSFER"), ("To", "RECEIVE-TRANSFER"))


def write_bank_transfer(ctx: WriteContext, element: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Make one transfer (PUT), or delete one (POST, an element with its id and Status DELETED)."""
    transfer_id = ctx.path_id or element.get("BankTransferID")
    if ctx.mode == "upsert":
        if not transfer_id:
            raise ElementInvalid("A BankTransferID must be given to delete a bank transfer")
        return "BankTransfers", _delete(ctx, str(transfer_id), element)
    if transfer_id:
        raise ElementInvalid(  # (wording unverified)
            "A bank transfer cannot be updated; delete it and make a new one"
        )
    org = ctx.org
    errors: list[str] = []
    accounts = {side: _bank_account(org, element, side, errors) for side, _type in SIDES}
    paid_from, paid_to = accounts["From"], accounts["To"]
    if paid_from is not None and paid_to is not None and paid_from is paid_to:
        errors.append(  # (wording unverified)
            "The FromBankAccount and ToBankAccount must be different bank accounts"
        )
    amount = _amount(element, errors)
    rate = _rate(org, element, paid_from, paid_to, errors)
    try:
        on = parse_document_date(element["Date"]) if element.get("Date") else org.today(ctx.now)
    except ValueError:
        errors.append("Date is not a valid date")
        on = org.today(ctx.now)
    if errors:
        raise ElementInvalid(*dict.fromkeys(errors))
    assert paid_from is not None and paid_to is not None and amount is not None
    assert rate is not None
    reference = str(element.get("Reference") or "")
    reconciled = {side: bool(element.get(f"{side}IsReconciled", False)) for side, _ in SIDES}
    sides = {}
    for (side, kind), account, side_amount in (
        (SIDES[0], paid_from, amount),
        (SIDES[1], paid_to, money(amount * rate)),
    ):
        sides[side] = org.insert(
            "BankTransactions",
            _side(org, kind, account, side_amount, on, reference, reconciled[side]),
            ctx.now,
        )
    record: dict[str, Any] = {
        "Amount": amount,
        "Date": on,
        "CurrencyRate": rate,
        "FromBankTransactionID": sides["From"]["BankTransactionID"],
        "ToBankTransactionID": sides["To"]["BankTransactionID"],
        "FromIsReconciled": reconciled["From"],
        "ToIsReconciled": reconciled["To"],
        "Reference": reference,
        "HasAttachments": False,
        "CreatedDateUTC": ctx.now,
        "Status": "AUTHORISED",
        "_from_account_id": paid_from["AccountID"],
        "_to_account_id": paid_to["AccountID"],
        "_created_by": ctx.client_id,
    }
    for key in ("FromTracking", "ToTracking"):
        if isinstance(element.get(key), list):
            record[key] = element[key]
    return "BankTransfers", org.insert("BankTransfers", record, ctx.now)


def _bank_account(
    org: Organisation, element: dict[str, Any], side: str, errors: list[str]
) -> dict[str, Any] | None:
    """The account of one side, named by AccountID or Code; it must be an active BANK one."""
    field = f"{side}BankAccount"
    ref = element.get(field)
    if not isinstance(ref, dict) or not (ref.get("AccountID") or ref.get("Code")):
        errors.append(f"A {field} must be given by its AccountID or Code")  # (wording unverified)
        return None
    account = org.account_by_ref(ref)
    if account is None:
        errors.append(f"The {field} could not be found")  # (wording unverified)
        return None
    if account.get("Type") != "BANK":
        errors.append(  # (wording unverified)
            f"The {field} must be a bank account; account {account['Code']} is of type "
            f"{account.get('Type')}"
        )
        return None
    if account.get("Status") != "ACTIVE":
        errors.append(f"Account code '{account['Code']}' has been archived, or has been deleted.")
        return None
    return account


def _amount(element: dict[str, Any], errors: list[str]) -> Decimal | None:
    try:
        amount = to_decimal(element.get("Amount"), "Amount")
    except ElementInvalid as exc:
        errors.extend(exc.messages)
        return None
    if amount <= ZERO:
        errors.append("The Amount of a bank transfer must be greater than zero")  # (unverified)
        return None
    if amount != money(amount):
        errors.append("The Amount must have no more than 2 decimal places")  # (unverified)
        return None
    return amount


def _rate(
    org: Organisation,
    element: dict[str, Any],
    paid_from: dict[str, Any] | None,
    paid_to: dict[str, Any] | None,
    errors: list[str],
) -> Decimal | None:
    """1 between accounts of one currency; else the CurrencyRate given, which must be > 0."""
    if paid_from is None or paid_to is None:
        return None
    currencies = [a.get("CurrencyCode") or org.base_currency for a in (paid_from, paid_to)]
    given = element.get("CurrencyRate")
    if currencies[0] == currencies[1]:
        return Decimal(1)
    if given is None:
        errors.append(  # (wording unverified)
            f"A CurrencyRate must be given to transfer from {currencies[0]} to {currencies[1]}"
        )
        return None
    try:
        rate = to_decimal(given, "CurrencyRate")
    except ElementInvalid as exc:
        errors.extend(exc.messages)
        return None
    if rate <= ZERO:
        errors.append("The CurrencyRate must be greater than zero")  # (wording unverified)
        return None
    return rate


def _side(
    org: Organisation,
    kind: str,
    account: dict[str, Any],
    amount: Decimal,
    on: Any,
    reference: str,
    reconciled: bool,
) -> dict[str, Any]:
    """One side of a transfer as the bank transaction Xero records for it."""
    currency = account.get("CurrencyCode") or org.base_currency
    side: dict[str, Any] = {
        "Type": kind,
        "Status": "AUTHORISED",
        "Date": on,
        "Reference": reference,
        "IsReconciled": reconciled,
        "CurrencyCode": currency,
        "LineAmountTypes": "NoTax",
        "LineItems": [],
        "SubTotal": amount,
        "TotalTax": ZERO,
        "Total": amount,
        "HasAttachments": False,
        "_bank_account_id": account["AccountID"],
    }
    if currency == org.base_currency:
        side["CurrencyRate"] = Decimal(1)
    return side


def _delete(ctx: WriteContext, transfer_id: str, element: dict[str, Any]) -> dict[str, Any]:
    org = ctx.org
    transfer = org.get("BankTransfers", transfer_id) if is_guid(transfer_id) else None
    if transfer is None:
        raise ElementInvalid("Bank transfer could not be found")  # (wording unverified)
    if str(element.get("Status", "")).upper() != "DELETED":
        raise ElementInvalid(  # (wording unverified)
            "Bank transfers can only be deleted (Status DELETED), not updated"
        )
    if transfer["Status"] == "DELETED":
        raise ElementInvalid("The bank transfer has already been deleted")  # (wording unverified)
    if transfer["FromIsReconciled"] or transfer["ToIsReconciled"]:
        raise ElementInvalid(  # (wording unverified)
            "A reconciled bank transfer cannot be deleted; unreconcile it in Xero first"
        )
    transfer["Status"] = "DELETED"
    org.touch("BankTransfers", transfer, ctx.now)
    for side_id in (transfer["FromBankTransactionID"], transfer["ToBankTransactionID"]):
        side = org.get("BankTransactions", side_id)
        if side is not None:
            side["Status"] = "DELETED"
            org.touch("BankTransactions", side, ctx.now)
    return transfer


def shown_transfers(records: list[dict[str, Any]], include_deleted: bool) -> list[dict[str, Any]]:
    """The transfers `GET /BankTransfers` shows: deleted ones only with includeDeleted=true."""
    if include_deleted:
        return records
    return [r for r in records if r["Status"] != "DELETED"]
