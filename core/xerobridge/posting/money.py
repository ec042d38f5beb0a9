"""Amounts as Xero keeps them: Decimal in, cents (or 4-place unit prices) out, never floats."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from xerobridge.contract.errors import Permanent

CENT = Decimal("0.01")
#: Xero takes unit amounts to 4 places when a write asks for `unitdp=4`.
UNIT = Decimal("0.0001")
ZERO = Decimal(0)
HUNDRED = Decimal(100)


def cents(value: Decimal) -> Decimal:
    """Rounded to the cent, half up, as Xero's rounding guide and most shops round."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def unit(value: Decimal) -> Decimal:
    """A unit amount to Xero's 4 places, half up."""
    return value.quantize(UNIT, rounding=ROUND_HALF_UP)


def number(value: Decimal) -> float:
    """A rounded amount as a JSON number (exact, since it has at most 4 places)."""
    return float(value)


def amount(value: Any, what: str, record: str, source: str) -> Decimal:
    """A required amount of a source record, or Permanent naming the record and the field."""
    if value is None or value == "" or isinstance(value, bool):
        raise Permanent(f"{record}: {what} is missing; fix the record in {source} and sync again")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise Permanent(f"{record}: {what} {value!r} is not a number") from None
    if not result.is_finite():
        raise Permanent(f"{record}: {what} {value!r} is not a number")
    return result


def optional(value: Any) -> Decimal:
    """An optional amount: missing, null or unreadable is zero."""
    if value is None or value == "" or isinstance(value, bool):
        return ZERO
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        return ZERO
    return result if result.is_finite() else ZERO
