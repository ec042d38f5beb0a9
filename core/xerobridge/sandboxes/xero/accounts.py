"""The chart of accounts: create (PUT, one object), update (POST /{id}), delete or archive."""

from __future__ import annotations

from typing import Any

from xerobridge.sandboxes.xero.errors import ElementInvalid
from xerobridge.sandboxes.xero.ids import is_guid
from xerobridge.sandboxes.xero.seed import ACCOUNT_CLASS
from xerobridge.sandboxes.xero.writes import WriteContext

WRITABLE = (
    "Code",
    "Name",
    "Type",
    "Status",
    "Description",
    "TaxType",
    "EnablePaymentsToAccount",
    "ShowInExpenseClaims",
    "BankAccountNumber",
    "BankAccountType",
    "CurrencyCode",
    "ReportingCode",
    "AddToWatchlist",
)
TRANSACTION_KINDS = ("Invoices", "CreditNotes", "BankTransactions")


def write_account(ctx: WriteContext, element: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Create or update one account."""
    org = ctx.org
    account_id = ctx.path_id or element.get("AccountID")
    existing = None
    if account_id:
        existing = org.get("Accounts", str(account_id)) if is_guid(account_id) else None
        if existing is None:
            raise ElementInvalid("Account could not be found")  # (wording unverified)
    record: dict[str, Any] = (
        dict(existing)
        if existing
        else {"Status": "ACTIVE", "EnablePaymentsToAccount": False, "HasAttachments": False}
    )
    for key in WRITABLE:
        if key in element:
            record[key] = element[key]
    errors = []
    code = record.get("Code")
    if not isinstance(code, str) or not code.strip():
        errors.append("Please enter a Code.")  # (wording unverified)
    elif len(code) > 10:
        errors.append("Code must not be more than 10 characters long.")
    else:
        clash = org.account_by_code(code)
        if clash is not None and (existing is None or clash["AccountID"] != existing["AccountID"]):
            errors.append("Please enter a unique Code.")
    name = record.get("Name")
    if not isinstance(name, str) or not name.strip():
        errors.append("Please enter a Name.")  # (wording unverified)
    elif len(name) > 150:
        errors.append("Name must not be more than 150 characters long.")
    elif any(
        a.get("Name", "").casefold() == name.casefold()
        and (existing is None or a["AccountID"] != existing["AccountID"])
        and a.get("Status") != "DELETED"
        for a in org.all("Accounts")
    ):
        errors.append("Please enter a unique Name.")  # as in the spec's examples
    if record.get("Type") not in ACCOUNT_CLASS:
        errors.append(f"Account Type '{record.get('Type')}' is not valid.")
    if record.get("Status") not in ("ACTIVE", "ARCHIVED"):
        errors.append(f"Account Status '{record.get('Status')}' is not valid.")
    if record.get("TaxType") and org.tax_rate(record["TaxType"]) is None:
        errors.append(f"The TaxType code '{record['TaxType']}' does not exist.")
    if errors:
        raise ElementInvalid(*errors)
    record["Class"] = ACCOUNT_CLASS[record["Type"]]
    if existing is None:
        return "Accounts", org.insert("Accounts", record, ctx.now)
    existing.clear()
    existing.update(record)
    org.touch("Accounts", existing, ctx.now)
    return "Accounts", existing


def delete_account(ctx: WriteContext, account_id: str) -> dict[str, Any]:
    """Delete an unused account; one with transactions must be archived instead."""
    org = ctx.org
    account = org.get("Accounts", account_id) if is_guid(account_id) else None
    if account is None:
        raise ElementInvalid("Account could not be found")  # (wording unverified)
    if account.get("SystemAccount"):
        raise ElementInvalid("System accounts cannot be deleted")  # (wording unverified)
    for kind in TRANSACTION_KINDS:
        for doc in org.all(kind):
            if any(line.get("AccountID") == account["AccountID"] for line in doc["LineItems"]):
                raise ElementInvalid(  # (wording unverified)
                    "This account has transactions and cannot be deleted; archive it instead"
                )
    account["Status"] = "DELETED"
    org.touch("Accounts", account, ctx.now)
    return account
