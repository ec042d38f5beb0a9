"""Line items and document totals, with Xero's per-line tax rounding.

Xero computes tax per line (LineAmount x rate, rounded to cents) and sums the rounded lines
(api-guides/rounding-in-xero); UnitAmount keeps 2 dp unless the call says unitdp=4, Quantity 4 dp.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from xerobridge.sandboxes.xero.errors import ElementInvalid
from xerobridge.sandboxes.xero.ids import IdSource
from xerobridge.sandboxes.xero.organisation import Organisation
from xerobridge.sandboxes.xero.wire import money, quantize

LINE_AMOUNT_TYPES = ("Exclusive", "Inclusive", "NoTax")
ZERO = Decimal(0)
HUNDRED = Decimal(100)


def to_decimal(value: object, what: str) -> Decimal:
    """A JSON number (or numeric string) as Decimal, through str so 0.1 stays 0.1."""
    if isinstance(value, bool) or value is None:
        raise ElementInvalid(f"{what} must be a number")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ElementInvalid(f"{what} must be a number") from exc


@dataclass
class LineRules:
    """What a document asks of its lines."""

    amount_types: str
    sales: bool  # ACCREC / ACCRECCREDIT / RECEIVE: item sales details, discounts allowed
    strict: bool  # the document is being authorised: lines need an account and a tax type
    unitdp: int
    allow_discounts: bool = True
    warnings: list[str] = field(default_factory=list)


def build_lines(
    org: Organisation,
    raw_lines: object,
    rules: LineRules,
    ids: IdSource,
    existing: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Validate and price the submitted lines; raise ElementInvalid with every problem found."""
    if raw_lines is None:
        raw_lines = []
    if not isinstance(raw_lines, list):
        raise ElementInvalid("LineItems must be a list")
    known_ids = {line["LineItemID"] for line in existing or []}
    errors: list[str] = []
    lines = []
    for raw in raw_lines:
        if not isinstance(raw, dict):
            errors.append("Each line item must be an object")
            continue
        try:
            lines.append(_build_line(org, raw, rules, ids, known_ids))
        except ElementInvalid as exc:
            errors.extend(exc.messages)
    if rules.strict and not lines and not errors:
        errors.append("At least one line item is required to approve this document")
    if errors:
        raise ElementInvalid(*dict.fromkeys(errors))
    return lines


def _build_line(
    org: Organisation,
    raw: dict[str, Any],
    rules: LineRules,
    ids: IdSource,
    known_ids: set[str],
) -> dict[str, Any]:
    errors: list[str] = []
    line: dict[str, Any] = {}
    line_id = str(raw.get("LineItemID") or "").lower()
    # An unknown LineItemID is treated as a new line; lines left out of an update are dropped,
    # as Xero does (xeroizer#238).
    line["LineItemID"] = line_id if line_id in known_ids else ids.guid()

    item = None
    if raw.get("ItemCode"):
        item = org.item_by_code(raw["ItemCode"])
        if item is None:
            errors.append(f"Item code '{raw['ItemCode']}' is not valid")
    details = (item or {}).get("SalesDetails" if rules.sales else "PurchaseDetails") or {}

    description = raw.get("Description")
    if not description and item is not None:
        description = item.get("Description") if rules.sales else item.get("PurchaseDescription")
        description = description or item.get("Name")
    if description:
        line["Description"] = str(description)
    elif item is None:
        errors.append("The description field is mandatory for each line item.")

    quantity = _optional(raw, "Quantity", errors)
    unit = _optional(raw, "UnitAmount", errors)
    if unit is None and details.get("UnitPrice") is not None:
        unit = details["UnitPrice"]
    given_amount = _optional(raw, "LineAmount", errors)
    discount_rate = _optional(raw, "DiscountRate", errors)
    discount_amount = _optional(raw, "DiscountAmount", errors)
    if (discount_rate or discount_amount) and not rules.allow_discounts:
        errors.append("Discounts are only available on sales invoices and credit notes")

    if unit is not None:
        unit = quantize(unit, rules.unitdp)
    if quantity is not None:
        quantity = quantize(quantity, 4)
    # Xero fills in whichever of Quantity, UnitAmount and LineAmount is missing (spec LineItem).
    if quantity is None and unit is None and given_amount is not None:
        quantity, unit = Decimal(1), given_amount
    elif quantity is None and unit is not None and given_amount is not None and unit != ZERO:
        quantity = quantize(given_amount / unit, 4)
    elif unit is None and quantity is not None and given_amount is not None and quantity != ZERO:
        unit = quantize(given_amount / quantity, rules.unitdp)
    # A line with neither is a description-only line; the 1 for a missing Quantity is what
    # Xero shows for such lines in the UI (the API's default is not documented).
    quantity = Decimal(1) if quantity is None else quantity
    unit = ZERO if unit is None else unit

    gross = quantity * unit
    if discount_amount is not None:
        expected = money(gross - discount_amount)
        line["DiscountAmount"] = money(discount_amount)
    elif discount_rate is not None:
        expected = money(gross * (HUNDRED - discount_rate) / HUNDRED)
        line["DiscountRate"] = quantize(discount_rate, 2)
    else:
        expected = money(gross)
    if given_amount is not None and money(given_amount) != expected:
        errors.append(
            f"The line total {money(given_amount)} does not match the expected line total "
            f"{expected}"
        )
    line["Quantity"] = quantity
    line["UnitAmount"] = unit
    line["LineAmount"] = expected

    account = _line_account(org, raw, details, rules, errors)
    if account is not None:
        line["AccountCode"] = account["Code"]
        line["AccountID"] = account["AccountID"]

    tax_type = raw.get("TaxType") or details.get("TaxType") or (account or {}).get("TaxType")
    if rules.amount_types == "NoTax" and not raw.get("TaxType"):
        tax_type = "NONE" if org.tax_rate("NONE") else "BASEXCLUDED"
    rate = ZERO
    if tax_type:
        tax = org.tax_rate(tax_type)
        if tax is None or tax.get("Status") != "ACTIVE":
            errors.append(
                f"The TaxType code '{tax_type}' does not exist or cannot be used for this type "
                "of transaction."
            )
        else:
            line["TaxType"] = tax["TaxType"]
            rate = tax["EffectiveRate"] / HUNDRED
    elif rules.strict:
        errors.append("TaxType field is mandatory")

    if rules.amount_types == "NoTax":
        tax_amount = ZERO
    elif rules.amount_types == "Inclusive":
        tax_amount = money(expected * rate / (1 + rate))
    else:
        tax_amount = money(expected * rate)
    override = _optional(raw, "TaxAmount", errors)
    if override is not None and rules.amount_types != "NoTax":
        # Xero accepts an explicit TaxAmount (the documented last resort for rounding); how far
        # it may stray from the computed tax before Xero refuses it is not documented.
        tax_amount = money(override)
    line["TaxAmount"] = tax_amount

    if item is not None:
        line["ItemCode"] = item["Code"]
        line["Item"] = {"ItemID": item["ItemID"], "Name": item.get("Name"), "Code": item["Code"]}
    tracking = raw.get("Tracking") or []
    if isinstance(tracking, list) and len(tracking) > 2:
        errors.append("A line item can have a maximum of 2 tracking categories")
    line["Tracking"] = tracking if isinstance(tracking, list) else []
    if errors:
        raise ElementInvalid(*errors)
    return line


def _line_account(
    org: Organisation,
    raw: dict[str, Any],
    details: dict[str, Any],
    rules: LineRules,
    errors: list[str],
) -> dict[str, Any] | None:
    code = raw.get("AccountCode") or details.get("AccountCode")
    if raw.get("AccountID"):
        account = org.get("Accounts", str(raw["AccountID"]))
        code = code or raw["AccountID"]
    elif code:
        account = org.account_by_code(code)
    else:
        if rules.strict:
            errors.append("Account code or ID must be specified")
        return None
    if account is not None and account.get("Status") != "ACTIVE":
        errors.append(
            f"Account code '{account['Code']}' has been archived, or has been deleted. Each line "
            "item must reference a valid account."
        )
        return None
    if account is None:
        if rules.strict:
            errors.append(f"Account code '{code}' is not a valid code for this document.")
        else:
            # Drafts keep the line and drop the code, with the warning of the spec's examples.
            rules.warnings.append(
                f"Account code '{code}' has been removed as it does not match a recognised account."
            )
    return account


def _optional(raw: dict[str, Any], key: str, errors: list[str]) -> Decimal | None:
    if raw.get(key) is None or raw.get(key) == "":
        return None
    try:
        return to_decimal(raw[key], key)
    except ElementInvalid as exc:
        errors.extend(exc.messages)
        return None


def totals(lines: list[dict[str, Any]], amount_types: str) -> dict[str, Decimal]:
    """SubTotal, TotalTax and Total from priced lines (sums of the per-line rounded values)."""
    line_sum = sum((line["LineAmount"] for line in lines), ZERO)
    tax = sum((line["TaxAmount"] for line in lines), ZERO)
    if amount_types == "Inclusive":
        sub_total = line_sum - tax
        total = line_sum
    else:
        sub_total = line_sum
        total = line_sum + tax
    discount = ZERO
    for line in lines:
        gross = money(line["Quantity"] * line["UnitAmount"])
        discount += gross - line["LineAmount"]
    return {
        "SubTotal": money(sub_total),
        "TotalTax": money(tax),
        "Total": money(total),
        "TotalDiscount": money(discount),
    }
