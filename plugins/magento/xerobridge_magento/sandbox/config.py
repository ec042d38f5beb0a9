"""The emulated store's configuration: store views, currencies and tax rates."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class StoreView:
    """One Magento store view and the settings that change how its orders are priced."""

    id: int
    code: str
    name: str
    website_id: int
    base_currency: str
    display_currency: str
    #: Order amounts = base amounts * this rate (Magento's `base_to_order_rate`).
    base_to_order_rate: Decimal
    timezone: str
    locale: str
    country: str  # where its customers live; picks the tax rates
    #: Catalog prices include tax (tax/calculation/price_includes_tax); REST does not expose it.
    prices_include_tax: bool
    #: Magento prefixes increment ids per store view's sequence profile.
    increment_prefix: str


@dataclass(frozen=True)
class TaxRateDef:
    """One tax rate and the product tax class its rule applies it to."""

    id: int
    code: str
    country: str
    rate: Decimal  # percent
    product_tax_class_id: int


# Product tax classes: 2 is Magento's stock "Taxable Goods"; the others are ours.
TAX_CLASS_STANDARD = 2
TAX_CLASS_REDUCED = 6
TAX_CLASS_ZERO = 7
TAX_CLASS_LEGACY = 8

DEFAULT_STORES: tuple[StoreView, ...] = (
    StoreView(
        id=1,
        code="default",
        name="Default Store View",
        website_id=1,
        base_currency="GBP",
        display_currency="GBP",
        base_to_order_rate=Decimal(1),
        timezone="Europe/London",
        locale="en_GB",
        country="GB",
        prices_include_tax=False,
        increment_prefix="0",
    ),
    StoreView(
        id=2,
        code="de",
        name="Deutsch",
        website_id=2,
        base_currency="GBP",
        display_currency="EUR",
        base_to_order_rate=Decimal("1.1700"),
        timezone="Europe/Berlin",
        locale="de_DE",
        country="DE",
        prices_include_tax=True,
        # UNVERIFIED: Magento's default sequence profile for a second store view; "2" + eight
        # digits matches what stores commonly show.
        increment_prefix="2",
    ),
)

DEFAULT_TAX_RATES: tuple[TaxRateDef, ...] = (
    TaxRateDef(1, "GB-VAT-20", "GB", Decimal(20), TAX_CLASS_STANDARD),
    TaxRateDef(2, "GB-VAT-5", "GB", Decimal(5), TAX_CLASS_REDUCED),
    TaxRateDef(3, "GB-VAT-0", "GB", Decimal(0), TAX_CLASS_ZERO),
    TaxRateDef(4, "DE-MwSt-19", "DE", Decimal(19), TAX_CLASS_STANDARD),
    TaxRateDef(5, "DE-MwSt-7", "DE", Decimal(7), TAX_CLASS_REDUCED),
    TaxRateDef(6, "DE-MwSt-0", "DE", Decimal(0), TAX_CLASS_ZERO),
    # Left over from an old rule on purpose: mapping tests expect an unmapped rate to fail clearly.
    TaxRateDef(7, "GB-VAT-17.5-legacy", "GB", Decimal("17.5"), TAX_CLASS_LEGACY),
)

TAX_CLASS_NAMES = {
    TAX_CLASS_STANDARD: "Taxable Goods",
    TAX_CLASS_REDUCED: "Reduced Rate Goods",
    TAX_CLASS_ZERO: "Zero Rated Goods",
    TAX_CLASS_LEGACY: "Legacy Rate Goods",
}


def tax_rate_for(rates: tuple[TaxRateDef, ...], country: str, tax_class_id: int) -> TaxRateDef:
    """The rate a product of this tax class pays when shipped to `country`."""
    for rate in rates:
        if rate.country == country and rate.product_tax_class_id == tax_class_id:
            return rate
    for rate in rates:  # e.g. a legacy class only defined for one country
        if rate.product_tax_class_id == tax_class_id:
            return rate
    raise LookupError(f"no tax rate for class {tax_class_id} in {country}")
