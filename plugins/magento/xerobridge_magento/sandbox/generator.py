"""A deterministic store: customers, a catalog and a sales history, from one seed.

Besides ordinary data it plants records that are odd on purpose, listed in `state.odd`:
`script_customer` (markup in the name), `unicode_customers`, `long_name_customer` (a name
longer than Xero's 255 characters), `same_name_customers` (two customers with one name),
`guest_email_customer` (a customer whose email a guest order also uses),
`long_sku_products` (SKUs over 30 characters that collide when cut to 30),
`four_decimal_product`, `legacy_tax_product` and `legacy_tax_order` (a tax rate no mapping
table expects), `configurable_order`, `bundle_order`, `partial_refund_order`.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from xerobridge_magento.sandbox.config import (
    TAX_CLASS_LEGACY,
    TAX_CLASS_REDUCED,
    TAX_CLASS_STANDARD,
    TAX_CLASS_ZERO,
)
from xerobridge_magento.sandbox.sales import ItemSpec, money_items

if TYPE_CHECKING:
    from xerobridge_magento.sandbox.state import SandboxState

_FIRST = [
    "Olivia",
    "Amelia",
    "Isla",
    "Ava",
    "Noah",
    "Oliver",
    "George",
    "Arthur",
    "Leo",
    "Harry",
    "Mia",
    "Freya",
    "Lily",
    "Jack",
    "Charlie",
    "Jacob",
    "Emily",
    "Sophie",
    "Thomas",
    "Grace",
    "Lukas",
    "Anna",
    "Felix",
    "Marie",
    "Paul",
]
_LAST = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Wright",
    "Walker",
    "Evans",
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
]
_ADJ = [
    "Classic",
    "Organic",
    "Deluxe",
    "Compact",
    "Rustic",
    "Vintage",
    "Modern",
    "Ultra",
    "Eco",
    "Premium",
    "Smart",
    "Bold",
]
_NOUN = [
    "Mug",
    "Lamp",
    "Backpack",
    "Scarf",
    "Notebook",
    "Kettle",
    "Blanket",
    "Chair",
    "Candle",
    "Bottle",
    "Jacket",
    "Teapot",
]
_STREETS = ("High Street", "Station Road", "Church Lane", "Hauptstraße", "Mill Road", "Park Avenue")
_CITIES = {
    "GB": ("London", "Leeds", "Bristol", "York", "Bath"),
    "DE": ("Berlin", "München", "Köln"),
}
_PAYMENTS = ("checkmo", "banktransfer", "braintree", "paypal_express", "purchaseorder")
_COUPONS = (("SPRING10", 10), ("VIP15", 15), ("WELCOME5", 5))


def _address(rng: random.Random, country: str) -> dict[str, Any]:
    city = rng.choice(_CITIES[country])
    postcode = (
        f"{rng.choice('ELMNSWB')}{rng.randint(1, 20)} {rng.randint(1, 9)}AB"
        if country == "GB"
        else f"{rng.randint(10000, 99999)}"
    )
    return {
        "street": [f"{rng.randint(1, 200)} {rng.choice(_STREETS)}"],
        "city": city,
        "postcode": postcode,
        "country_id": country,
        "telephone": f"0{rng.randint(1000000000, 9999999999)}",
    }


def _ascii(text: str) -> str:
    table = str.maketrans({"ü": "ue", "ö": "oe", "ä": "ae", "ß": "ss", "é": "e", "ë": "e"})
    return "".join(ch for ch in text.lower().translate(table) if ch.isascii() and ch.isalnum())


def _spread(rng: random.Random, start: datetime, end: datetime, count: int) -> list[datetime]:
    """`count` sorted random moments in [start, end), to the second."""
    span = int((end - start).total_seconds())
    return [start + timedelta(seconds=s) for s in sorted(rng.randrange(span) for _ in range(count))]


def generate(
    state: SandboxState,
    *,
    seed: int,
    n_customers: int = 20,
    n_products: int = 20,
    n_orders: int = 50,
    days: int = 90,
) -> None:
    """Fill `state` with customers, products and orders (with invoices and credit memos).

    Everything is a function of the seed and the state clock's now: history lies in the
    `days` before now, so every later edit has a later updated_at than all generated records.
    """
    from xerobridge_magento.sandbox.state import format_time

    rng = random.Random(seed)
    end = state.clock.now().replace(microsecond=0) - timedelta(minutes=1)
    start = end - timedelta(days=days)
    odd: dict[str, Any] = state.odd
    sku_prefix = f"S{seed % 1000:03d}"

    # -- catalog -------------------------------------------------------------------------------
    product_times = iter(_spread(rng, start - timedelta(days=30), start, max(n_products, 1) + 8))

    def stamp() -> str:
        return format_time(next(product_times))

    simples: list[str] = []
    configurables: list[str] = []
    bundles: list[str] = []
    n_conf = n_products // 20 if n_products >= 20 else 0
    n_bundle = n_products // 25 if n_products >= 25 else 0
    n_odd = 4 if n_products >= 10 else 0
    n_simple = max(0, n_products - n_conf * 4 - n_bundle - n_odd)

    def tax_class() -> int:
        roll = rng.random()
        return (
            TAX_CLASS_STANDARD
            if roll < 0.75
            else TAX_CLASS_REDUCED
            if roll < 0.9
            else TAX_CLASS_ZERO
        )

    for n in range(n_simple):
        name = f"{rng.choice(_ADJ)} {rng.choice(_NOUN)}"
        price = Decimal(rng.randint(199, 19999)) / 100
        if rng.random() < 0.08:
            price = Decimal(rng.randint(19999, 1999999)) / 10000  # 4-decimal catalog price
        sku = f"{sku_prefix}-{n + 1:05d}"
        state.add_product(
            sku,
            name,
            price,
            tax_class_id=tax_class(),
            weight=round(rng.uniform(0.1, 5), 2),
            created_at=stamp(),
        )
        simples.append(sku)
    if n_odd:
        long_a = "EXTRA-LONG-STOCK-KEEPING-UNIT-CODE-ALPHA"
        long_b = "EXTRA-LONG-STOCK-KEEPING-UNIT-CODE-BRAVO"
        for sku, name in ((long_a, "Long SKU Alpha"), (long_b, "Long SKU Bravo")):
            state.add_product(f"{sku_prefix}-{sku}", name, "12.00", created_at=stamp())
            simples.append(f"{sku_prefix}-{sku}")
        odd["long_sku_products"] = [state.product_ids_by_sku[s] for s in simples[-2:]]
        four = state.add_product(
            f"{sku_prefix}-PRECISE", "Präzisions-Waage ⚖", "8.3333", created_at=stamp()
        )
        simples.append(four["sku"])
        odd["four_decimal_product"] = four["id"]
        legacy = state.add_product(
            f"{sku_prefix}-LEGACY",
            "Legacy rated <b>item</b>",
            "20.00",
            tax_class_id=TAX_CLASS_LEGACY,
            created_at=stamp(),
        )
        odd["legacy_tax_product"] = legacy["id"]
    for n in range(n_conf):
        base = f"{sku_prefix}-CFG{n + 1:03d}"
        name = f"{rng.choice(_ADJ)} T-Shirt"
        price = Decimal(rng.randint(1500, 4500)) / 100
        children = []
        for colour in ("Red", "Blue", "Green"):
            child = f"{base}-{colour.upper()}"
            state.add_product(child, f"{name}-{colour}", price, visibility=1, created_at=stamp())
            children.append(child)
        state.add_product(
            base, name, 0, type_id="configurable", children=children, created_at=stamp()
        )
        configurables.append(base)
    for n in range(n_bundle):
        if len(simples) < 4:
            break
        sku = f"{sku_prefix}-BND{n + 1:03d}"
        options = [rng.sample(simples[:n_simple] or simples, 2) for _ in range(2)]
        state.add_product(
            sku,
            f"{rng.choice(_ADJ)} Gift Set",
            0,
            type_id="bundle",
            bundle_options=options,
            created_at=stamp(),
        )
        bundles.append(sku)

    # -- customers -----------------------------------------------------------------------------
    customer_times = iter(_spread(rng, start - timedelta(days=60), end, max(n_customers, 1) + 8))
    customer_ids: list[int] = []
    n_odd_customers = 7 if n_customers >= 10 else 0
    for n in range(n_customers - n_odd_customers):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        store = "de" if rng.random() < 0.3 else "default"
        country = "DE" if store == "de" else "GB"
        email = f"{_ascii(first)}.{_ascii(last)}.{n + 1}@example.com"
        extra: dict[str, Any] = {}
        if rng.random() < 0.15:
            extra["taxvat"] = f"{country}{rng.randint(100000000, 999999999)}"
        address = _address(rng, country)
        if rng.random() < 0.2:
            address["company"] = f"{last} & Co"
        customer = state.add_customer(
            first,
            last,
            email,
            addresses=[address],
            store=store,
            created_at=format_time(next(customer_times)),
            **extra,
        )
        customer_ids.append(customer["id"])
    if n_odd_customers:
        odd_rows = [
            ("script_customer", "<script>alert('x')</script>", "O'Brien", "xss@example.com"),
            ("unicode_customers", "Zoë", "Łukasiewicz-Ñúñez", "zoe@example.com"),
            ("unicode_customers", "山田", "太郎 😀", "yamada@example.jp"),
            ("long_name_customer", "Maximilian" * 13, "Featherstonehaugh" * 9, "long@example.com"),
            ("same_name_customers", "Alex", "Morgan", "alex.morgan@example.com"),
            ("same_name_customers", "Alex", "Morgan", "a.morgan@example.org"),
            ("guest_email_customer", "Sam", "Guest", "sam.guest@example.com"),
        ]
        for key, first, last, email in odd_rows:
            customer = state.add_customer(
                first,
                last,
                email,
                addresses=[_address(rng, "GB")],
                created_at=format_time(next(customer_times)),
            )
            if key in ("unicode_customers", "same_name_customers"):
                odd.setdefault(key, []).append(customer["id"])
            else:
                odd[key] = customer["id"]
            customer_ids.append(customer["id"])

    # -- orders --------------------------------------------------------------------------------
    if not n_orders or not (simples or configurables):
        return
    order_times = _spread(rng, start, end - timedelta(hours=2), n_orders)
    catalog = [("simple", s) for s in simples] + [("configurable", s) for s in configurables] * 3
    catalog += [("bundle", s) for s in bundles] * 3
    for n, placed in enumerate(order_times):
        specs = []
        for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
            kind, sku = rng.choice(catalog)
            specs.append(_spec(state, rng, kind, sku))
        if n == 0 and "legacy_tax_product" in odd:
            specs.append(ItemSpec(state.products.records[odd["legacy_tax_product"]], 1))
        guest = None
        customer_id = None
        if n == 1 and "guest_email_customer" in odd:
            guest = {
                "email": "sam.guest@example.com",
                "firstname": "Sam",
                "lastname": "Guest",
                **_address(rng, "GB"),
            }
        elif not customer_ids or rng.random() < 0.2:
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            guest = {
                "email": f"guest.{_ascii(first)}{n}@example.net",
                "firstname": first,
                "lastname": last,
                **_address(rng, "GB"),
            }
        else:
            customer_id = rng.choice(customer_ids)
        order_store: str | None = None
        if guest is not None and rng.random() < 0.3:
            order_store = "de"
            guest.update(_address(rng, "DE"))
        coupon = rng.choice(_COUPONS) if rng.random() < 0.25 else None
        view = state.store(
            order_store
            or (state.customers.records[customer_id]["store_id"] if customer_id else "default")
        )
        shipping = (
            Decimal("5.95")
            if view.prices_include_tax
            else rng.choice((Decimal("4.95"), Decimal("7.50"), Decimal(0)))
        )
        order = state.place_order(
            specs,
            customer_id=customer_id,
            guest=guest,
            store=order_store,
            shipping=shipping,
            discount_percent=coupon[1] if coupon else 0,
            coupon_code=coupon[0] if coupon else None,
            payment_method=rng.choice(_PAYMENTS),
            created_at=format_time(placed),
        )
        if n == 0 and "legacy_tax_product" in odd:
            odd["legacy_tax_order"] = order["entity_id"]
        kinds = {s.product["type_id"] for s in specs}
        if "configurable" in kinds:
            odd.setdefault("configurable_order", order["entity_id"])
        if "bundle" in kinds:
            odd.setdefault("bundle_order", order["entity_id"])
        _lifecycle(state, rng, order, placed, end, odd)


def _spec(state: SandboxState, rng: random.Random, kind: str, sku: str) -> ItemSpec:
    product = state.product_by_sku(sku)
    assert product is not None
    qty = rng.choice((1, 1, 1, 2, 3))
    ext = product["extension_attributes"]
    if kind == "configurable":
        child = state.products.records[rng.choice(ext["configurable_product_links"])]
        return ItemSpec(product, qty, child=child)
    if kind == "bundle":
        selections = []
        for option in ext["bundle_product_options"]:
            chosen = state.product_by_sku(rng.choice(option["product_links"])["sku"])
            assert chosen is not None
            selections.append((chosen, rng.choice((1, 1, 2))))
        return ItemSpec(product, qty, selections=selections)
    return ItemSpec(product, qty)


def _lifecycle(
    state: SandboxState,
    rng: random.Random,
    order: dict[str, Any],
    placed: datetime,
    end: datetime,
    odd: dict[str, Any],
) -> None:
    """Invoice most orders, refund some of those (often partly), cancel a few others."""
    from xerobridge_magento.sandbox.state import format_time

    roll = rng.random()
    if roll < 0.04:
        state.cancel_order(order["entity_id"], at=format_time(placed + timedelta(hours=1)))
        return
    if roll > 0.78:
        return  # still pending
    invoiced_at = placed + timedelta(minutes=rng.randint(1, 90))
    paid = order["payment"]["method"] != "purchaseorder"
    state.invoice_order(order["entity_id"], paid=paid, at=format_time(invoiced_at))
    if not paid or rng.random() > 0.12:
        return
    refunded_at = min(invoiced_at + timedelta(days=rng.randint(1, 20)), end)
    lines = money_items(order)
    if rng.random() < 0.6:
        line = rng.choice(lines)
        qty = max(1, int(line["qty_ordered"]) // 2)
        state.refund_order(
            order["entity_id"],
            qtys={line["item_id"]: qty},
            adjustment_negative=rng.choice(("0", "2.50")),
            at=format_time(refunded_at),
        )
        odd.setdefault("partial_refund_order", order["entity_id"])
    else:
        state.refund_order(
            order["entity_id"],
            adjustment_positive=rng.choice(("0", "5.00")),
            at=format_time(refunded_at),
        )
