"""How MSP and Xero records become each other: pure functions of plain values, on the posting kit.

Xero contacts become MSP accounts through the source's field mapping, Xero items become worklog
types, and worklogs become lines of one invoice per account and billing period. Xero's own
rules (field lengths, amounts to the cent, natural keys, the organisation's dates) are the
posting kit's; what is here is ServiceDesk Plus's side of it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from xerobridge.sdk import Permanent, XeroDocument, posting
from xerobridge_servicedesk.settings import UDF_KEY

SOURCE = "ServiceDesk Plus"
#: What each billing period's invoice is named after: a month, an ISO week or a day.
_PERIODS = {"month": "%Y-%m", "week": "%G-W%V", "run": "%Y-%m-%d"}
_SINGULAR = {"requests": "Request", "problems": "Problem", "changes": "Change",
             "projects": "Project", "tasks": "Task"}  # fmt: skip
_SPACE = re.compile(r"\s+")


def contact_value(contact: Mapping[str, Any], path: str) -> str | None:
    """A Xero contact field by its mapping name (`Name`, `Phones.DEFAULT`,
    `Addresses.STREET.City`); None when the contact has no value there."""
    head, _, rest = path.partition(".")
    if head == "Phones":
        for phone in contact.get("Phones") or []:
            if phone.get("PhoneType") == rest:
                parts = (phone.get("PhoneCountryCode"), phone.get("PhoneAreaCode"),
                         phone.get("PhoneNumber"))  # fmt: skip
                number = " ".join(str(p) for p in parts if p)
                return number or None
        return None
    if head == "Addresses":
        kind, _, part = rest.partition(".")
        for address in contact.get("Addresses") or []:
            if address.get("AddressType") == kind:
                value = address.get(part)
                return str(value) if value else None
        return None
    value = contact.get(path)
    return str(value) if value not in (None, "") else None


def account_of(contact: Mapping[str, Any], fields: Mapping[str, str]) -> dict[str, Any]:
    """The MSP account a Xero contact fills, through the source's mapping (MSP field = Xero
    field); additional fields go under `udf_fields`. A field Xero leaves empty is left alone."""
    account: dict[str, Any] = {}
    extra: dict[str, str] = {}
    for msp, xero in sorted(fields.items()):
        value = contact_value(contact, xero)
        if value is None:
            continue
        (extra if UDF_KEY.match(msp) else account)[msp] = value.strip()
    if extra:
        account["udf_fields"] = extra
    return account


def worklog_type_of(item: Mapping[str, Any]) -> dict[str, str]:
    """The worklog type a Xero item becomes: its name, and its sales description."""
    name = str(item.get("Name") or item.get("Code") or "").strip()
    return {"name": name, "description": str(item.get("Description") or "").strip()}


def period_of(day: date, billing_period: str) -> str:
    """The billing period a day falls in, as the invoice's number names it."""
    return day.strftime(_PERIODS[billing_period])


def period_start(day: date, billing_period: str) -> date:
    """The first day of the period a day falls in: every worklog's share of an invoice carries
    the same date."""
    if billing_period == "month":
        return day.replace(day=1)
    if billing_period == "week":
        return day - timedelta(days=day.weekday())
    return day


def start_of(period: str, billing_period: str) -> date:
    """The first day of a period as an invoice number names it (`period_of` read back)."""
    if billing_period == "week":
        return datetime.strptime(f"{period}-1", "%G-W%V-%u").date()
    return datetime.strptime(period, _PERIODS[billing_period]).date()


def invoice_number(prefix: str, account_id: str, period: str) -> str:
    """The natural key of an account's invoice for a period (within Xero's 255 characters)."""
    limit = posting.text.LIMITS["Invoice.InvoiceNumber"]
    return posting.keys.exact(f"{prefix}-{account_id}", period, limit, f"account {account_id}")


def parse_invoice_number(prefix: str, number: str) -> tuple[str, str]:
    """The account id and period an invoice number names (`invoice_number` read back)."""
    rest = number.removeprefix(f"{prefix}-")
    account, _, period = rest.partition("-")
    return account, period


def description(worklog: Mapping[str, Any]) -> str:
    """The line's text: the worklog's note as plain text, then the parent it was logged on."""
    note = posting.text.plain(worklog.get("description") or "")
    parent = f"{_SINGULAR.get(str(worklog['module']), 'Record')} #{worklog.get('display_id')}"
    subject = _SPACE.sub(" ", str(worklog.get("subject") or "")).strip()
    where = f"{parent}: {subject}" if subject else parent
    return posting.text.clean(f"{note} ({where})" if note else where,
                              posting.text.LIMITS["LineItem.Description"])  # fmt: skip


def worklog_lines(
    worklog: Mapping[str, Any],
    *,
    key: str,
    item: Mapping[str, Any],
    rate_source: str,
    additional_cost_line: bool,
) -> list[posting.lines.Line]:
    """The invoice lines of one worklog: its hours at the rate, and its additional cost on a
    line of its own when the setting asks for one."""
    sales = item.get("SalesDetails") or {}
    account = str(sales.get("AccountCode") or "")
    if not account:
        raise Permanent(
            f"worklog {key}: the Xero item {item.get('Code')!r} has no sales account; give it "
            "one in Xero (Products and services > the item > Sales)"
        )
    tax = str(sales.get("TaxType") or "")
    hours = Decimal(str(worklog["hours"]))
    text = description(worklog)
    if rate_source == "total_charge":
        total = posting.money.amount(worklog.get("total_cost"), "total charge", key, SOURCE)
        if hours == 0:
            raise Permanent(f"worklog {key} has no time spent; log its time in ServiceDesk Plus")
        unit = posting.money.unit(total / hours)
    else:
        unit = posting.money.amount(sales.get("UnitPrice") or 0, "unit price", key, SOURCE)
    lines = [posting.lines.Line(text, hours, unit, account, tax, item_code=str(item["Code"]))]
    other = posting.money.optional(worklog.get("other_cost"))
    if additional_cost_line and other > 0:
        lines.append(posting.lines.Line(f"Additional cost: {text}", Decimal(1), other,
                                        account, tax))  # fmt: skip
    return lines


def invoice(
    *,
    number: str,
    contact_id: str,
    day: date,
    status: str,
    lines: list[posting.lines.Line],
) -> XeroDocument:
    """One worklog's share of its account's invoice for the period (appended to it)."""
    body = {
        "Type": "ACCREC",
        "InvoiceNumber": number,
        "Contact": {"ContactID": contact_id},
        "Date": day.isoformat(),
        "DueDate": day.isoformat(),
        "Status": status,
        "LineAmountTypes": "Exclusive",
        "LineItems": [line.body() for line in lines],
    }
    return XeroDocument("Invoice", body, number, "InvoiceNumber", append=True)
