"""How stored records become Xero's JSON: money as numbers, dates as MS-JSON, the envelope."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from xerobridge.sandboxes.xero.dates import ms_date, ms_datetime, ms_envelope

# Fields that carry a unit price; Xero shows them at 2 dp unless the call says unitdp=4.
UNIT_FIELDS = frozenset({"UnitAmount", "UnitPrice"})
# Quantities keep 4 dp whatever unitdp says.
QUANTITY_FIELDS = frozenset({"Quantity", "QuantityOnHand"})

CENT = Decimal("0.01")


def quantize(value: Decimal, places: int) -> Decimal:
    """Round half away from zero to `places` decimals.

    Xero does not document its midpoint rule; half-up is the accounting convention and what its
    rounding guide's worked examples are consistent with.
    """
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def money(value: Decimal) -> Decimal:
    """Round to cents."""
    return quantize(value, 2)


def _number(key: str, value: Decimal, unitdp: int) -> float:
    if key in UNIT_FIELDS:
        return float(quantize(value, unitdp))
    if key in QUANTITY_FIELDS:
        return float(quantize(value, 4))
    if key.endswith("Rate"):  # CurrencyRate, DiscountRate, tax component rates
        return float(quantize(value, 6))
    return float(money(value))


def render(value: Any, *, unitdp: int = 2, key: str = "") -> Any:
    """A stored value as JSON-ready data; `_`-prefixed keys are the sandbox's own and dropped."""
    if isinstance(value, dict):
        return {
            k: render(v, unitdp=unitdp, key=k)
            for k, v in value.items()
            if not k.startswith("_") and v is not None
        }
    if isinstance(value, list):
        return [render(v, unitdp=unitdp, key=key) for v in value]
    if isinstance(value, Decimal):
        return _number(key, value, unitdp)
    if isinstance(value, datetime):
        return ms_datetime(value)
    if isinstance(value, date):
        return ms_date(value)
    return value


def envelope(
    plural: str,
    records: list[dict[str, Any]],
    *,
    request_id: str,
    now: datetime,
    provider_name: str,
    pagination: dict[str, int] | None = None,
    warnings: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """The response envelope of the spec's examples: Id, Status, ProviderName, DateTimeUTC, ..."""
    body: dict[str, Any] = {
        "Id": request_id,
        "Status": "OK",
        "ProviderName": provider_name,
        "DateTimeUTC": ms_envelope(now),
    }
    if pagination is not None:
        body["pagination"] = pagination
    if warnings:
        body["Warnings"] = warnings
    body[plural] = records
    return body
