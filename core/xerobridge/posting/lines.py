"""Lines and totals as Xero computes them, so that a document's Total equals the source's.

Xero rounds each line's amount (quantity x unit less discount) and each line's tax to cents,
then sums the rounded values. A source that rounds its total once differs by a cent or so per
line; `finish` adds a rounding line for that difference and refuses anything larger, which is a
mapping error a rounding line must never hide. Tax percents are checked against the
organisation's own rates, so a wrong tax map fails the record instead of changing its total.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from xerobridge.contract.context import XeroMirror
from xerobridge.contract.errors import Permanent
from xerobridge.posting.money import CENT, HUNDRED, ZERO, cents, number, unit

AmountTypes = Literal["Exclusive", "Inclusive", "NoTax"]


@dataclass(frozen=True)
class Line:
    """One line as Xero will price it, with the tax percent Xero will apply to it."""

    description: str
    quantity: Decimal
    unit: Decimal
    account: str
    tax_type: str
    percent: Decimal = ZERO
    discount: Decimal = ZERO
    item_code: str | None = None
    #: More fields of the line as Xero names them (Tracking, ...).
    extra: tuple[tuple[str, Any], ...] = ()

    @property
    def amount(self) -> Decimal:
        """Xero's LineAmount: quantity x unit less the discount, to the cent."""
        return cents(self.quantity * self.unit - self.discount)

    def body(self) -> dict[str, Any]:
        """The line as Xero's LineItem."""
        body: dict[str, Any] = {
            "Description": self.description,
            "Quantity": number(self.quantity),
            "UnitAmount": number(self.unit),
            "AccountCode": self.account,
        }
        if self.tax_type:  # without one, Xero applies the account's own tax type
            body["TaxType"] = self.tax_type
        if self.item_code:
            body["ItemCode"] = self.item_code
        if self.discount:
            body["DiscountAmount"] = number(self.discount)
        body.update(self.extra)
        return body


def total(lines: Iterable[Line], amount_types: AmountTypes) -> Decimal:
    """A document's Total as Xero computes it from its lines."""
    result = ZERO
    for line in lines:
        if amount_types == "Exclusive":
            result += line.amount + cents(line.amount * line.percent / HUNDRED)
        else:
            result += line.amount  # inclusive: the tax is inside; no tax: there is none
    return result


def document_total(body: Mapping[str, Any], rates: Mapping[str, Decimal]) -> Decimal:
    """The Total Xero computes for a document body (its LineItems and LineAmountTypes), with
    each line's tax at `rates[TaxType]`: what a test compares with the source's total."""
    lines = [
        Line(
            "",
            Decimal(str(item["Quantity"])),
            Decimal(str(item["UnitAmount"])),
            "",
            str(item["TaxType"]),
            Decimal(str(rates[item["TaxType"]])),
            Decimal(str(item.get("DiscountAmount", 0))),
        )
        for item in body["LineItems"]
    ]
    return total(lines, body.get("LineAmountTypes", "Exclusive"))


def finish(
    lines: list[Line],
    expected: Decimal,
    amount_types: AmountTypes,
    *,
    rounding_account: Callable[[], str],
    record: str,
    source: str,
) -> list[dict[str, Any]]:
    """The LineItems, with a rounding line when Xero's total would differ from `expected` by
    rounding only; Permanent when it differs by more. `rounding_account` is asked only when a
    rounding line is needed, so a missing rounding account stops only the records that need it.
    """
    computed = total(lines, amount_types)
    difference = expected - computed
    bodies = [line.body() for line in lines]
    limit = CENT * (len(lines) + 1)
    if abs(difference) > limit:
        raise Permanent(
            f"{record}: Xero would total {computed} but {source}'s total is {expected} "
            f"(off by {difference}, more than rounding explains); check the record's amounts "
            "and the source's tax settings"
        )
    if difference:
        rounding = Line("Rounding", Decimal(1), difference, rounding_account(), "NONE")
        bodies.append(rounding.body())
    return bodies


def without_discounts(lines: Iterable[Line]) -> list[Line]:
    """The lines with each discount taken into the unit amount (4 places), for a credit note:
    Xero takes DiscountAmount on sales invoices only. What the 4-place unit leaves over is
    caught by `finish`'s rounding line."""
    return [
        replace(line, unit=unit((line.quantity * line.unit - line.discount) / line.quantity),
                discount=ZERO) if line.discount else line
        for line in lines
    ]  # fmt: skip


# -- tax ------------------------------------------------------------------------------------------


def tax_rates(mirror: XeroMirror) -> dict[str, Decimal] | None:
    """The organisation's active TaxTypes and their percents; None while the mirror has none
    (then nothing is checked rather than everything refused)."""
    rates: dict[str, Decimal] = {}
    for rate in mirror.tax_rates():
        if rate.get("Status", "ACTIVE") != "ACTIVE" or not rate.get("TaxType"):
            continue
        value = rate.get("EffectiveRate", rate.get("DisplayTaxRate"))
        try:
            rates[str(rate["TaxType"])] = Decimal(str(value))
        except InvalidOperation:
            continue
    return rates or None


def tax_type_for(percent: Decimal, tax_map: Mapping[str, str], default: str) -> str:
    """The TaxType a source's tax percent maps to (`tax_map` keys are percents)."""
    for key, tax_type in tax_map.items():
        if Decimal(key) == percent:
            return tax_type
    return default


def checked_percent(
    tax_type: str,
    percent: Decimal,
    rates: Mapping[str, Decimal] | None,
    *,
    record: str,
    where: str,
    source: str,
) -> Decimal:
    """The percent Xero will apply for `tax_type`, or Permanent when it is not the source's
    `percent` (the line's total would change) or the organisation has no such TaxType."""
    if rates is None:
        return percent
    if tax_type not in rates:
        raise Permanent(
            f"{record}: {where} maps to TaxType {tax_type!r}, which the Xero organisation does "
            "not have; correct tax_map or default_tax_type in the source's settings"
        )
    rate = Decimal(str(rates[tax_type]))
    if rate != percent:
        raise Permanent(
            f"{record}: {where} is taxed at {percent}% in {source} but maps to TaxType "
            f"{tax_type!r} at {rate}% in Xero; add {percent}=<a {percent}% TaxType> to tax_map"
        )
    return rate
