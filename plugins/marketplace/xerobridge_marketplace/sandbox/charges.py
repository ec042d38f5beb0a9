"""Order charge lines (`details[]`) and their arithmetic: amounts as strings, to the cent.

Each line carries both sides the SimpleAPI shows: the unprefixed fields are the reseller's cost
from the supplier tier, the `sales*` fields the price the reseller charges its customer
(UNVERIFIED reading of the spec; the sandbox keeps cost at COST_SHARE of the price). Prices are
tax-exclusive, so `taxAmount` and `exclusiveTaxAmount` are the same tax added on top (UNVERIFIED:
the spec has both names; a tax-inclusive marketplace may fill them differently).
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
COST_SHARE = Decimal("0.80")

#: Every `details[].type` the SimpleAPI spec names.
DETAIL_TYPES = (
    "setup", "setupRefund", "switch", "renew", "renewRefund", "transfer", "transferRefund",
    "recurring", "recurringRefund", "overuse", "downgrade", "discount", "adjustment",
    "cancellation", "handlingFee", "nonProvisioningItem", "payment", "refund",
    "refundAdjustment", "billPenalty", "billRecord", "resellerPayment", "deposit", "unknown",
)  # fmt: skip
#: Line types whose amounts give money back to the customer (negative amounts).
REFUND_TYPES = frozenset(
    {"setupRefund", "renewRefund", "transferRefund", "recurringRefund", "refund",
     "refundAdjustment", "discount"}
)  # fmt: skip
ORDER_TYPES = ("sales", "change", "renewal", "cancellation", "migration", "unknown")
ORDER_STATUSES = ("submitted", "processing", "error", "completed", "cancelled")
FINAL_STATUSES = frozenset({"error", "completed", "cancelled"})
PERIOD_TYPES = ("day", "month", "year", "statement_day")


def cents(value: Decimal | int | str) -> Decimal:
    """Round half up to the cent."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def money(amount: Decimal, currency: str) -> dict[str, str]:
    """The API's `{currency, amount}` with the amount as a string."""
    return {"currency": currency, "amount": str(cents(amount))}


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, the way the sandbox writes every date-time."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """An ISO 8601 date-time (a Z or an offset; naive is taken as UTC) as an aware datetime."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def period(kind: str, duration: int = 1) -> dict[str, Any]:
    """A `{type, duration}` period."""
    if kind not in PERIOD_TYPES:
        raise ValueError(f"period type {kind!r} is not one of {', '.join(PERIOD_TYPES)}")
    return {"type": kind, "duration": int(duration)}


def add_period(start: datetime, span: dict[str, Any], times: int = 1) -> datetime:
    """`start` moved on by a period; months keep the day, clamped to the month's last."""
    n = int(span["duration"]) * times
    if span["type"] == "day":
        return start + timedelta(days=n)
    months = n * 12 if span["type"] == "year" else n
    month0 = start.month - 1 + months
    year, month = start.year + month0 // 12, month0 % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def fraction_left(start: datetime, end: datetime, at: datetime) -> Decimal:
    """The share of [start, end) still to come at `at`, by whole days, to four places."""
    total = max((end - start).days, 1)
    left = min(max((end - at).days, 0), total)
    return (Decimal(left) / Decimal(total)).quantize(Decimal("0.0001"))


def charge_line(
    kind: str,
    *,
    product: dict[str, Any],
    quantity: Decimal | int,
    unit_price: Decimal,
    currency: str,
    tax_rate: Decimal,
    description: str,
    share: Decimal = Decimal(1),
    span: dict[str, Any] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    discount_percent: Decimal = Decimal(0),
) -> dict[str, Any]:
    """One `details[]` line; a refund type's amounts are negative, its quantity positive."""
    if kind not in DETAIL_TYPES:
        raise ValueError(f"charge line type {kind!r} is not one of the API's detail types")
    sign = Decimal(-1) if kind in REFUND_TYPES else Decimal(1)
    qty = Decimal(quantity)
    line: dict[str, Any] = {
        "type": kind,
        "mpn": product["mpn"],
        "productId": product["id"],
        "description": description,
        "quantity": _number(qty),
        "duration": dict(span) if span else None,
        # UNVERIFIED: the spec gives the charge period only as `duration`; the sandbox adds the
        # dates it covers, which the one-period-one-invoice rule needs.
        "startDate": format_time(start) if start else None,
        "endDate": format_time(end) if end else None,
    }
    for prefix, unit in (("sales", unit_price), ("", unit_price * COST_SHARE)):
        extended = sign * cents(cents(unit) * qty * share)
        discount = sign * cents(abs(extended) * discount_percent / 100)
        tax = cents((extended - discount) * tax_rate / 100)
        line[_field(prefix, "unitPrice")] = {**money(unit, currency), "priceTiers": []}
        line[_field(prefix, "extendedPrice")] = money(extended, currency)
        line[_field(prefix, "discount")] = (
            {"type": "percent", "value": str(discount_percent), "amount": str(discount)}
            if discount_percent
            else None
        )
        line[_field(prefix, "taxAmount")] = money(tax, currency)
        line[_field(prefix, "exclusiveTaxAmount")] = money(tax, currency)
    line["exchangeRate"] = "1.000000"
    line["exchangeTime"] = None
    return line


def line_total(line: dict[str, Any], *, sales: bool = True) -> Decimal:
    """What one line adds to the order's total: extended price less discount, plus tax."""
    prefix = "sales" if sales else ""
    extended = Decimal(line[_field(prefix, "extendedPrice")]["amount"])
    discount = line.get(_field(prefix, "discount")) or {}
    tax = Decimal(line[_field(prefix, "taxAmount")]["amount"])
    return extended - Decimal(discount.get("amount") or 0) + tax


def order_total(details: list[dict[str, Any]], currency: str) -> dict[str, str]:
    """The order's `total`: the sum of its lines on the selling side."""
    return money(sum((line_total(d) for d in details), Decimal(0)), currency)


def _field(prefix: str, name: str) -> str:
    return f"{prefix}{name[0].upper()}{name[1:]}" if prefix else name


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)
