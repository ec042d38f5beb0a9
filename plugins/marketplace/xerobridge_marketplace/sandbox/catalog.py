"""The emulated marketplace's catalogue: countries, currencies, tax, products and plans."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Country:
    """Where a customer is billed: its currency and the tax rate on its lines."""

    code: str
    currency: str
    tax_rate: Decimal  # percent
    language: str


COUNTRIES: tuple[Country, ...] = (
    Country("GB", "GBP", Decimal(20), "en"),
    Country("DE", "EUR", Decimal(19), "de"),
    Country("FR", "EUR", Decimal(20), "fr"),
    Country("AU", "AUD", Decimal(10), "en"),
    Country("NZ", "NZD", Decimal(15), "en"),
    Country("US", "USD", Decimal(0), "en"),
)

#: Price in a currency = GBP price * rate, to the cent (the marketplace keeps one price list
#: per currency; these rates only make the sandbox's lists consistent).
CURRENCY_RATES = {
    "GBP": Decimal(1),
    "EUR": Decimal("1.17"),
    "USD": Decimal("1.27"),
    "AUD": Decimal("1.93"),
    "NZD": Decimal("2.09"),
}


@dataclass(frozen=True)
class Offer:
    """One service plan and the product it sells (prices in GBP, per unit and billing period)."""

    plan_id: str
    plan_name: str
    product_id: str
    mpn: str
    vendor: str
    service: str
    product_name: str
    family: str  # plans of one family can be switched between (upgrade / downgrade)
    rank: int  # higher is the upgrade within a family
    billing: tuple[str, int]
    term: tuple[str, int]
    recurring: Decimal
    setup: Decimal = Decimal(0)
    overuse: Decimal = Decimal(0)  # per unit over the included quantity, charged on renewal
    cancellation_fee: Decimal = Decimal(0)
    refund_on_cancel: bool = True
    max_quantity: int = 300


OFFERS: tuple[Offer, ...] = (
    Offer("PLN-101", "Office Suite Basic (monthly)", "PRD-1001", "OFS-BAS-1M", "Northwind",
          "Office Suite", "Office Suite Basic", "office", 1, ("month", 1), ("month", 1),
          Decimal("4.90")),
    Offer("PLN-102", "Office Suite Standard (annual, billed monthly)", "PRD-1002", "OFS-STD-1Y",
          "Northwind", "Office Suite", "Office Suite Standard", "office", 2, ("month", 1),
          ("year", 1), Decimal("9.80"), cancellation_fee=Decimal("25.00"),
          refund_on_cancel=False),
    Offer("PLN-103", "Office Suite Premium (annual, billed monthly)", "PRD-1003", "OFS-PRM-1Y",
          "Northwind", "Office Suite", "Office Suite Premium", "office", 3, ("month", 1),
          ("year", 1), Decimal("17.60"), cancellation_fee=Decimal("40.00"),
          refund_on_cancel=False),
    Offer("PLN-201", "Cloud Backup 100 GB", "PRD-2001", "BKP-100-1M", "Contoso Storage",
          "Cloud Backup", "Cloud Backup 100 GB", "backup", 1, ("month", 1), ("month", 1),
          Decimal("6.50"), setup=Decimal("15.00"), overuse=Decimal("0.08")),
    Offer("PLN-202", "Cloud Backup 1 TB", "PRD-2002", "BKP-1TB-1M", "Contoso Storage",
          "Cloud Backup", "Cloud Backup 1 TB", "backup", 2, ("month", 1), ("month", 1),
          Decimal("39.00"), setup=Decimal("15.00"), overuse=Decimal("0.05")),
    Offer("PLN-301", "Virtual Server S", "PRD-3001", "VPS-S-1M", "Fabrikam Cloud",
          "Virtual Servers", "Virtual Server S", "vps", 1, ("month", 1), ("month", 1),
          Decimal("12.00"), setup=Decimal("29.00"), max_quantity=20),
    Offer("PLN-302", "Virtual Server L", "PRD-3002", "VPS-L-1M", "Fabrikam Cloud",
          "Virtual Servers", "Virtual Server L", "vps", 2, ("month", 1), ("month", 1),
          Decimal("48.00"), setup=Decimal("29.00"), max_quantity=20),
    Offer("PLN-401", "Email Security (annual)", "PRD-4001", "ESEC-1Y", "Tailspin Security",
          "Email Security", "Email Security Gateway", "esec", 1, ("year", 1), ("year", 1),
          Decimal("21.00")),
    Offer("PLN-501", "Domain Registration .com (annual)", "PRD-5001", "DOM-COM-1Y",
          "Registry Partners", "Domains", "Domain .com", "domain", 1, ("year", 1), ("year", 1),
          Decimal("11.99"), setup=Decimal("2.50"), refund_on_cancel=False, max_quantity=1),
)  # fmt: skip

#: Street, city and postcode per country, for generated addresses.
PLACES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "GB": (("12 King Street", "Manchester", "M2 4LQ"), ("4 Quay Road", "Bristol", "BS1 4DB")),
    "DE": (("Hauptstrasse 5", "Berlin", "10115"), ("Marktplatz 2", "Hamburg", "20095")),
    "FR": (("3 Rue de la Paix", "Paris", "75002"), ("8 Quai Perrache", "Lyon", "69002")),
    "AU": (("1 George St", "Sydney", "2000"), ("90 Collins St", "Melbourne", "3000")),
    "NZ": (("15 Queen St", "Auckland", "1010"), ("2 Lambton Quay", "Wellington", "6011")),
    "US": (("500 Market St", "San Francisco", "94105"), ("11 Wall St", "New York", "10005")),
}

COMPANY_WORDS = (
    ("Bright", "Harbour", "Summit", "Copper", "Willow", "Granite", "Northern", "Blue", "Kestrel",
     "Lantern", "Meridian", "Orchard", "Pioneer", "Quartz", "Riverside", "Silver", "Thistle"),
    ("Books", "Dental", "Logistics", "Studio", "Partners", "Bakery", "Engineering", "Legal",
     "Consulting", "Foods", "Design", "Health", "Motors", "Travel", "Systems", "Print"),
    ("Ltd", "GmbH", "SARL", "Pty Ltd", "Limited", "Inc", "LLC"),
)  # fmt: skip
FIRST_NAMES = ("Anna", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Isla",
               "Jonas", "Kate", "Liam", "Maya", "Noah", "Olivia", "Priya", "Sam",
               "Zoe")  # fmt: skip
LAST_NAMES = ("Smith", "Müller", "Dubois", "Taylor", "Nguyen", "Brown", "Schmidt", "Martin",
              "Wilson", "Walker", "Patel", "Evans", "Weber", "Laurent")  # fmt: skip


def price_in(gbp: Decimal, currency: str) -> Decimal:
    """A GBP list price in another currency, to the cent."""
    return (gbp * CURRENCY_RATES[currency]).quantize(Decimal("0.01"))


def offer(plan_id: str) -> Offer:
    """The offer of a plan id."""
    for item in OFFERS:
        if item.plan_id == plan_id:
            return item
    raise KeyError(f"no plan {plan_id!r}")
