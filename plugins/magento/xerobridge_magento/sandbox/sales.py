"""Sales documents as Magento computes them: order totals, invoices and credit memos.

The arithmetic follows Magento's defaults closely enough to reproduce the pitfalls a mapper
meets: tax per rate is rounded with a carried delta (the "Total" calculation algorithm), so item
taxes do not each equal round(row * rate); order and document `discount_amount` are negative
while item `discount_amount` is positive; with tax-inclusive prices the tax hidden in a discount
is reported as `discount_tax_compensation_amount` and is part of the grand total; configurable
products put the money on the parent line, dynamic bundles on the children and the sums again
on the parent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from xerobridge_magento.sandbox.config import StoreView, TaxRateDef

CENT = Decimal("0.01")
TEN_THOUSANDTH = Decimal("0.0001")
ZERO = Decimal(0)


def r2(value: Decimal) -> Decimal:
    """Round to cents the way Magento's price currency does (half up)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def r4(value: Decimal) -> Decimal:
    """Round to Magento's stored precision, decimal(20,4)."""
    return value.quantize(TEN_THOUSANDTH, rounding=ROUND_HALF_UP)


def num(value: Decimal) -> float:
    """A stored amount as the JSON number Magento sends."""
    return float(r4(value))


def attribute(record: dict[str, Any], code: str, default: str | None = None) -> str | None:
    """A product or customer custom attribute's value."""
    for attr in record.get("custom_attributes") or ():
        if attr["attribute_code"] == code:
            return str(attr["value"])
    return default


class SalesError(ValueError):
    """A sales operation Magento would refuse, with Magento's message."""


# -- the price calculation -------------------------------------------------------------------------


@dataclass
class LineInput:
    """One line that carries money: a catalog price (incl. tax when the store says so)."""

    unit: Decimal
    qty: Decimal
    rate: TaxRateDef


@dataclass
class LineMoney:
    """The amounts Magento stores on one money-carrying order item, in one currency."""

    price: Decimal
    price_incl_tax: Decimal
    row_total: Decimal
    row_total_incl_tax: Decimal
    tax_amount: Decimal
    discount_amount: Decimal  # positive on items
    discount_tax_compensation: Decimal


@dataclass
class OrderMoney:
    """An order's amounts in one currency."""

    lines: list[LineMoney]
    subtotal: Decimal = ZERO
    subtotal_incl_tax: Decimal = ZERO
    tax_amount: Decimal = ZERO
    discount: Decimal = ZERO  # positive here; documents store it negated
    discount_tax_compensation: Decimal = ZERO
    shipping_amount: Decimal = ZERO
    shipping_tax_amount: Decimal = ZERO
    shipping_incl_tax: Decimal = ZERO
    grand_total: Decimal = ZERO
    applied_taxes: dict[str, Decimal] = field(default_factory=dict)
    shipping_rate: TaxRateDef | None = None


class _DeltaRounder:
    """Magento's deltaRound: round each amount but carry the remainder per rate."""

    def __init__(self) -> None:
        self._delta: dict[str, Decimal] = defaultdict(lambda: ZERO)

    def __call__(self, amount: Decimal, key: str) -> Decimal:
        total = amount + self._delta[key]
        rounded = r2(total)
        self._delta[key] = total - rounded
        return rounded


def calculate(
    lines: list[LineInput],
    *,
    shipping: Decimal,
    shipping_rate: TaxRateDef,
    prices_include_tax: bool,
    discount_percent: Decimal,
) -> OrderMoney:
    """Price an order in one currency; `shipping` is incl. tax when prices include tax."""
    rounder = _DeltaRounder()
    money = OrderMoney(lines=[], shipping_rate=shipping_rate)
    pct = discount_percent / 100
    applied: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for line in lines:
        rate = line.rate.rate / 100
        code = line.rate.code
        if prices_include_tax:
            row_incl = r2(line.unit * line.qty)
            discount = r2(row_incl * pct)
            tax = rounder((row_incl - discount) * rate / (1 + rate), code)
            hidden = rounder(discount * rate / (1 + rate), "dtc:" + code)
            row = row_incl - tax - hidden
            price, price_incl = r4(line.unit / (1 + rate)), line.unit
        else:
            row = r2(line.unit * line.qty)
            discount = r2(row * pct)
            tax = rounder((row - discount) * rate, code)
            hidden = ZERO
            row_incl = r2(row * (1 + rate))
            price, price_incl = line.unit, r2(line.unit * (1 + rate))
        money.lines.append(LineMoney(price, price_incl, row, row_incl, tax, discount, hidden))
        money.subtotal += row
        money.subtotal_incl_tax += row_incl
        money.tax_amount += tax
        money.discount += discount
        money.discount_tax_compensation += hidden
        applied[code] += tax + hidden
    ship_rate = shipping_rate.rate / 100
    if prices_include_tax:
        money.shipping_incl_tax = r2(shipping)
        money.shipping_tax_amount = r2(shipping * ship_rate / (1 + ship_rate))
        money.shipping_amount = money.shipping_incl_tax - money.shipping_tax_amount
    else:
        money.shipping_amount = r2(shipping)
        money.shipping_tax_amount = r2(shipping * ship_rate)
        money.shipping_incl_tax = money.shipping_amount + money.shipping_tax_amount
    if money.shipping_amount:
        applied[shipping_rate.code] += money.shipping_tax_amount
    money.tax_amount += money.shipping_tax_amount
    money.grand_total = (
        money.subtotal
        + money.tax_amount
        + money.discount_tax_compensation
        + money.shipping_amount
        - money.discount
    )
    money.applied_taxes = dict(applied)
    return money


# -- orders ----------------------------------------------------------------------------------------


@dataclass
class ItemSpec:
    """What a customer bought: a product, and for configurable/bundle products what inside it."""

    product: dict[str, Any]
    qty: int
    child: dict[str, Any] | None = None  # the simple product chosen for a configurable
    selections: list[tuple[dict[str, Any], int]] = field(default_factory=list)  # bundle


@dataclass
class OrderParties:
    """Who ordered and where it goes."""

    email: str
    firstname: str
    lastname: str
    address: dict[str, Any]  # sales-data-order-address fields except type/ids
    customer_id: int | None = None
    group_id: int = 0


@dataclass
class OrderRequest:
    """Everything needed to place an order."""

    store: StoreView
    parties: OrderParties
    items: list[ItemSpec]
    created_at: str
    shipping: Decimal  # base currency; incl. tax when the store's prices include tax
    shipping_method: str = "flatrate_flatrate"
    shipping_description: str = "Flat Rate - Fixed"
    discount_percent: Decimal = ZERO
    coupon_code: str | None = None
    payment_method: str = "checkmo"


def _money_fields(prefix: str, money: LineMoney, qty: Decimal) -> dict[str, float]:
    return {
        f"{prefix}price": num(money.price),
        f"{prefix}original_price": num(money.price),
        f"{prefix}price_incl_tax": num(money.price_incl_tax),
        f"{prefix}row_total": num(money.row_total),
        f"{prefix}row_total_incl_tax": num(money.row_total_incl_tax),
        f"{prefix}tax_amount": num(money.tax_amount),
        f"{prefix}discount_amount": num(money.discount_amount),
        f"{prefix}discount_tax_compensation_amount": num(money.discount_tax_compensation),
    }


_ZERO_LINE = LineMoney(ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO)


def _sum_lines(lines: Iterable[LineMoney]) -> LineMoney:
    total = LineMoney(ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO)
    for line in lines:
        total.row_total += line.row_total
        total.row_total_incl_tax += line.row_total_incl_tax
        total.tax_amount += line.tax_amount
        total.discount_amount += line.discount_amount
        total.discount_tax_compensation += line.discount_tax_compensation
    return total


def build_order(
    request: OrderRequest,
    *,
    entity_id: int,
    increment_id: str,
    rates: tuple[TaxRateDef, ...],
    next_item_id: Callable[[], int],
    tax_rate_for: Callable[[tuple[TaxRateDef, ...], str, int], TaxRateDef],
) -> dict[str, Any]:
    """An order record (sales-data-order-interface) priced in base and order currency."""
    store = request.store
    fx = store.base_to_order_rate
    country = request.parties.address.get("country_id", store.country)

    def rate_of(product: dict[str, Any]) -> TaxRateDef:
        tax_class = int(attribute(product, "tax_class_id", "2") or 2)
        return tax_rate_for(rates, country, tax_class)

    # Lay out order items; money lines are priced below and attached by index.
    layout: list[tuple[dict[str, Any], int | None, list[int]]] = []  # item, money idx, sum idxs
    inputs: list[LineInput] = []
    for spec in request.items:
        product, qty = spec.product, Decimal(spec.qty)
        ptype = product["type_id"]
        if ptype == "configurable":
            if spec.child is None:
                raise SalesError("Choose the configurable product's options.")
            inputs.append(LineInput(Decimal(str(spec.child["price"])), qty, rate_of(spec.child)))
            parent = _item(product, qty, "configurable", sku=spec.child["sku"])
            layout.append((parent, len(inputs) - 1, []))
            child = _item(spec.child, qty, spec.child["type_id"], parent=parent)
            layout.append((child, None, []))
            parent["product_option"] = {
                "extension_attributes": {
                    "configurable_item_options": [
                        {"option_id": "93", "option_value": int(spec.child["id"]) % 50 + 1}
                    ]
                }
            }
        elif ptype == "bundle":
            if not spec.selections:
                raise SalesError("Choose the bundle product's options.")
            skus = [product["sku"]] + [sel["sku"] for sel, _ in spec.selections]
            parent = _item(product, qty, "bundle", sku="-".join(skus))
            parent_slot = len(layout)
            layout.append((parent, None, []))
            options = []
            for n, (sel, sel_qty) in enumerate(spec.selections, start=1):
                inputs.append(LineInput(Decimal(str(sel["price"])), qty * sel_qty, rate_of(sel)))
                child = _item(sel, qty * sel_qty, sel["type_id"], parent=parent)
                layout.append((child, len(inputs) - 1, []))
                layout[parent_slot][2].append(len(inputs) - 1)
                options.append({"option_id": n, "option_qty": sel_qty, "option_selections": [n]})
            parent["product_option"] = {"extension_attributes": {"bundle_options": options}}
        else:
            inputs.append(LineInput(Decimal(str(product["price"])), qty, rate_of(product)))
            layout.append((_item(product, qty, ptype), len(inputs) - 1, []))

    shipping_rate = tax_rate_for(rates, country, 2)
    base = calculate(
        inputs,
        shipping=request.shipping,
        shipping_rate=shipping_rate,
        prices_include_tax=store.prices_include_tax,
        discount_percent=request.discount_percent,
    )
    if fx == 1:
        display = base
    else:
        converted = [LineInput(r2(i.unit * fx), i.qty, i.rate) for i in inputs]
        display = calculate(
            converted,
            shipping=r2(request.shipping * fx),
            shipping_rate=shipping_rate,
            prices_include_tax=store.prices_include_tax,
            discount_percent=request.discount_percent,
        )

    items = []
    item_taxes = []
    for item, money_idx, sum_idxs in layout:
        item["item_id"] = next_item_id()
        item["order_id"] = entity_id
        item["store_id"] = store.id
        item["created_at"] = item["updated_at"] = request.created_at
        if "parent_item" in item:
            item["parent_item_id"] = item["parent_item"]["item_id"]
        if money_idx is not None:
            line_disp, line_base, rate = (
                display.lines[money_idx],
                base.lines[money_idx],
                inputs[money_idx].rate,
            )
        elif sum_idxs:
            line_disp = _sum_lines(display.lines[i] for i in sum_idxs)
            line_base = _sum_lines(base.lines[i] for i in sum_idxs)
            qty = Decimal(item["qty_ordered"])
            line_disp.price = r4(line_disp.row_total / qty)
            line_disp.price_incl_tax = r4(line_disp.row_total_incl_tax / qty)
            line_base.price = r4(line_base.row_total / qty)
            line_base.price_incl_tax = r4(line_base.row_total_incl_tax / qty)
            rate = None
        else:
            line_disp = line_base = _ZERO_LINE
            rate = None
        item.update(_money_fields("", line_disp, Decimal(item["qty_ordered"])))
        item.update(_money_fields("base_", line_base, Decimal(item["qty_ordered"])))
        item["tax_percent"] = num(rate.rate) if rate else 0.0
        item["discount_percent"] = num(request.discount_percent) if money_idx is not None else 0.0
        if rate is not None and money_idx is not None:
            item_taxes.append(
                {
                    "type": "product",
                    "item_id": item["item_id"],
                    "applied_taxes": [_applied(rate, line_disp.tax_amount, line_base.tax_amount)],
                }
            )
        items.append(item)
    if base.shipping_amount:
        item_taxes.append(
            {
                "type": "shipping",
                "applied_taxes": [
                    _applied(shipping_rate, display.shipping_tax_amount, base.shipping_tax_amount)
                ],
            }
        )

    parties = request.parties
    address = {
        "address_type": "billing",
        "entity_id": entity_id * 2 - 1,
        "parent_id": entity_id,
        "firstname": parties.firstname,
        "lastname": parties.lastname,
        "email": parties.email,
        **parties.address,
    }
    if parties.customer_id is not None:
        address["customer_id"] = parties.customer_id
    shipping_address = {**address, "address_type": "shipping", "entity_id": entity_id * 2}

    order: dict[str, Any] = {
        "entity_id": entity_id,
        "increment_id": increment_id,
        "store_id": store.id,
        "store_name": f"Main Website\nMain Website Store\n{store.name}",
        "state": "new",
        "status": "pending",
        "created_at": request.created_at,
        "updated_at": request.created_at,
        "customer_email": parties.email,
        "customer_firstname": parties.firstname,
        "customer_lastname": parties.lastname,
        "customer_group_id": parties.group_id,
        "customer_is_guest": 1 if parties.customer_id is None else 0,
        "customer_note_notify": 1,
        "base_currency_code": store.base_currency,
        "global_currency_code": store.base_currency,
        "store_currency_code": store.base_currency,
        "order_currency_code": store.display_currency,
        "base_to_global_rate": 1.0,
        "base_to_order_rate": num(fx),
        "store_to_base_rate": 0.0,
        "store_to_order_rate": 0.0,
        "is_virtual": 0,
        "total_item_count": len(items),
        "total_qty_ordered": num(sum((Decimal(i["qty_ordered"]) for i in items), ZERO)),
        "shipping_description": request.shipping_description,
        "weight": num(sum((Decimal(str(i.get("row_weight", 0))) for i in items), ZERO)),
        "billing_address_id": address["entity_id"],
        "quote_id": entity_id + 1000,
        "protect_code": f"{entity_id * 7919:x}"[-6:],
        "remote_ip": "203.0.113.7",
    }
    if parties.customer_id is not None:
        order["customer_id"] = parties.customer_id
    if request.coupon_code:
        order["coupon_code"] = request.coupon_code
    if request.discount_percent:
        order["discount_description"] = request.coupon_code or f"{request.discount_percent}% off"
        order["applied_rule_ids"] = "1"
    for prefix, money in (("", display), ("base_", base)):
        order.update(
            {
                f"{prefix}subtotal": num(money.subtotal),
                f"{prefix}subtotal_incl_tax": num(money.subtotal_incl_tax),
                f"{prefix}tax_amount": num(money.tax_amount),
                f"{prefix}discount_amount": num(-money.discount),
                f"{prefix}discount_tax_compensation_amount": num(money.discount_tax_compensation),
                f"{prefix}shipping_amount": num(money.shipping_amount),
                f"{prefix}shipping_tax_amount": num(money.shipping_tax_amount),
                f"{prefix}shipping_incl_tax": num(money.shipping_incl_tax),
                f"{prefix}shipping_discount_amount": 0.0,
                f"{prefix}grand_total": num(money.grand_total),
                f"{prefix}total_due": num(money.grand_total),
                f"{prefix}total_paid": 0.0,
                f"{prefix}total_invoiced": 0.0,
                f"{prefix}total_refunded": 0.0,
            }
        )
    order["items"] = items
    order["billing_address"] = address
    order["payment"] = {
        "entity_id": entity_id,
        "parent_id": entity_id,
        "method": request.payment_method,
        "account_status": None,
        "additional_information": [_PAYMENT_TITLES.get(request.payment_method, "")],
        "amount_ordered": num(display.grand_total),
        "base_amount_ordered": num(base.grand_total),
        "shipping_amount": num(display.shipping_amount),
        "base_shipping_amount": num(base.shipping_amount),
    }
    order["payment"].pop("account_status")  # Magento leaves nulls out of REST answers
    order["status_histories"] = []
    order["extension_attributes"] = {
        "shipping_assignments": [
            {
                "shipping": {
                    "address": shipping_address,
                    "method": request.shipping_method,
                    "total": {
                        "shipping_amount": num(display.shipping_amount),
                        "base_shipping_amount": num(base.shipping_amount),
                        "shipping_incl_tax": num(display.shipping_incl_tax),
                        "base_shipping_incl_tax": num(base.shipping_incl_tax),
                        "shipping_tax_amount": num(display.shipping_tax_amount),
                        "base_shipping_tax_amount": num(base.shipping_tax_amount),
                    },
                },
                "items": items,
            }
        ],
        "applied_taxes": [
            _applied(_rate_by_code(rates, code), amount, base.applied_taxes.get(code, ZERO))
            for code, amount in display.applied_taxes.items()
        ],
        "item_applied_taxes": item_taxes,
    }
    return order


_PAYMENT_TITLES = {
    "checkmo": "Check / Money order",
    "banktransfer": "Bank Transfer Payment",
    "cashondelivery": "Cash On Delivery",
    "purchaseorder": "Purchase Order",
    "braintree": "Credit Card (Braintree)",
    "paypal_express": "PayPal Express Checkout",
}


def _rate_by_code(rates: tuple[TaxRateDef, ...], code: str) -> TaxRateDef:
    return next(r for r in rates if r.code == code)


def _applied(rate: TaxRateDef, amount: Decimal, base_amount: Decimal) -> dict[str, Any]:
    return {
        "code": rate.code,
        "title": rate.code,
        "percent": num(rate.rate),
        "amount": num(amount),
        "base_amount": num(base_amount),
    }


def _item(
    product: dict[str, Any],
    qty: Decimal,
    product_type: str,
    *,
    sku: str | None = None,
    parent: dict[str, Any] | None = None,
) -> dict[str, Any]:
    weight = Decimal(str(product.get("weight", 0) or 0))
    item: dict[str, Any] = {
        "product_id": product["id"],
        "product_type": product_type,
        "sku": sku or product["sku"],
        "name": product["name"],
        "qty_ordered": num(qty),
        "qty_invoiced": 0.0,
        "qty_refunded": 0.0,
        "qty_canceled": 0.0,
        "qty_shipped": 0.0,
        "is_virtual": 1 if product_type == "virtual" else 0,
        "is_qty_decimal": 0,
        "no_discount": 0,
        "free_shipping": 0,
        "weight": num(weight),
        "row_weight": num(weight * qty),
        "amount_refunded": 0.0,
        "base_amount_refunded": 0.0,
        "row_invoiced": 0.0,
        "base_row_invoiced": 0.0,
        "tax_invoiced": 0.0,
        "base_tax_invoiced": 0.0,
        "discount_invoiced": 0.0,
        "base_discount_invoiced": 0.0,
        "tax_refunded": 0.0,
        "base_tax_refunded": 0.0,
        "discount_refunded": 0.0,
        "base_discount_refunded": 0.0,
        "discount_tax_compensation_refunded": 0.0,
        "base_discount_tax_compensation_refunded": 0.0,
    }
    if parent is not None:
        item["parent_item"] = parent
    return item


def money_items(order: dict[str, Any]) -> list[dict[str, Any]]:
    """The order items whose amounts add up to the totals (one per thing paid for)."""
    by_id = {i["item_id"]: i for i in order["items"]}
    out = []
    for item in order["items"]:
        parent = by_id.get(item.get("parent_item_id"))
        if item["product_type"] == "bundle":
            continue  # its children carry the money
        if parent is not None and parent["product_type"] == "configurable":
            continue  # its parent carries the money
        out.append(item)
    return out


# -- invoices --------------------------------------------------------------------------------------

INVOICE_OPEN, INVOICE_PAID, INVOICE_CANCELED = 1, 2, 3
CREDITMEMO_OPEN, CREDITMEMO_REFUNDED, CREDITMEMO_CANCELED = 1, 2, 3

_DOC_ITEM_FIELDS = (
    "price",
    "price_incl_tax",
    "row_total",
    "row_total_incl_tax",
    "tax_amount",
    "discount_amount",
    "discount_tax_compensation_amount",
)


def build_invoice(
    order: dict[str, Any],
    *,
    entity_id: int,
    increment_id: str,
    created_at: str,
    paid: bool,
    next_item_id: Callable[[], int],
) -> dict[str, Any]:
    """Invoice everything not yet invoiced, and record it on the order."""
    if order["state"] in ("canceled", "closed") or all(
        i["qty_invoiced"] >= i["qty_ordered"] for i in order["items"]
    ):
        raise SalesError("The order does not allow an invoice to be created.")
    items = []
    for item in order["items"]:
        entry: dict[str, Any] = {
            "entity_id": next_item_id(),
            "parent_id": entity_id,
            "order_item_id": item["item_id"],
            "product_id": item["product_id"],
            "sku": item["sku"],
            "name": item["name"],
            "qty": item["qty_ordered"],
            "base_cost": 0.0,
        }
        for name in _DOC_ITEM_FIELDS:
            entry[name] = item[name]
            entry["base_" + name] = item["base_" + name]
        items.append(entry)
        item["qty_invoiced"] = item["qty_ordered"]
        item["row_invoiced"], item["base_row_invoiced"] = item["row_total"], item["base_row_total"]
        item["tax_invoiced"], item["base_tax_invoiced"] = (
            item["tax_amount"],
            item["base_tax_amount"],
        )
        item["discount_invoiced"] = item["discount_amount"]
        item["base_discount_invoiced"] = item["base_discount_amount"]
    invoice: dict[str, Any] = {
        "entity_id": entity_id,
        "increment_id": increment_id,
        "order_id": order["entity_id"],
        "store_id": order["store_id"],
        "state": INVOICE_PAID if paid else INVOICE_OPEN,
        "can_void_flag": 0,
        "email_sent": 1,
        "is_used_for_refund": 0,
        "created_at": created_at,
        "updated_at": created_at,
        "billing_address_id": order["billing_address_id"],
        "shipping_address_id": order["billing_address_id"] + 1,
        "total_qty": num(sum((Decimal(str(i["qty"])) for i in items), ZERO)),
        "items": items,
        "comments": [],
    }
    for name in ("base_currency_code", "global_currency_code", "store_currency_code"):
        invoice[name] = order[name]
    invoice["order_currency_code"] = order["order_currency_code"]
    invoice["base_to_global_rate"] = order["base_to_global_rate"]
    invoice["base_to_order_rate"] = order["base_to_order_rate"]
    invoice["store_to_base_rate"] = order["store_to_base_rate"]
    invoice["store_to_order_rate"] = order["store_to_order_rate"]
    for prefix in ("", "base_"):
        for name in (
            "subtotal",
            "subtotal_incl_tax",
            "tax_amount",
            "discount_amount",
            "discount_tax_compensation_amount",
            "shipping_amount",
            "shipping_tax_amount",
            "shipping_incl_tax",
            "grand_total",
        ):
            invoice[prefix + name] = order[prefix + name]
    if order.get("discount_description"):
        invoice["discount_description"] = order["discount_description"]
    if paid:
        invoice["transaction_id"] = f"txn-{order['increment_id']}"
    invoice["base_total_refunded"] = 0.0

    for prefix in ("", "base_"):
        order[prefix + "total_invoiced"] = order[prefix + "grand_total"]
        order[prefix + "subtotal_invoiced"] = order[prefix + "subtotal"]
        order[prefix + "tax_invoiced"] = order[prefix + "tax_amount"]
        order[prefix + "shipping_invoiced"] = order[prefix + "shipping_amount"]
        order[prefix + "discount_invoiced"] = order[prefix + "discount_amount"]
        if paid:
            order[prefix + "total_paid"] = order[prefix + "grand_total"]
            order[prefix + "total_due"] = 0.0
    if paid:
        order["payment"]["amount_paid"] = order["grand_total"]
        order["payment"]["base_amount_paid"] = order["base_grand_total"]
    order["state"] = order["status"] = "processing"
    return invoice


# -- credit memos ----------------------------------------------------------------------------------


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


def build_creditmemo(
    order: dict[str, Any],
    *,
    entity_id: int,
    increment_id: str,
    created_at: str,
    invoice_id: int | None,
    qtys: dict[int, float] | None,
    shipping_amount: Decimal | None,
    adjustment_positive: Decimal,
    adjustment_negative: Decimal,
    next_item_id: Callable[[], int],
) -> dict[str, Any]:
    """Refund some invoiced quantities (all that remain when `qtys` is None) and record it.

    `qtys` maps order item ids of the money-carrying lines (simple items, configurable parents,
    bundle children) to quantities. `shipping_amount` is in order currency, excl. tax; None
    refunds the remaining shipping only when everything else is refunded too.
    """
    by_id = {i["item_id"]: i for i in order["items"]}
    lines = money_items(order)
    refundable = {i["item_id"]: _dec(i["qty_invoiced"]) - _dec(i["qty_refunded"]) for i in lines}
    if not any(refundable.values()):
        raise SalesError("The most money available to refund is 0.")
    if qtys is None:
        wanted: dict[int, Decimal] = {k: v for k, v in refundable.items() if v > 0}
    else:
        wanted = {}
        for item_id, asked in qtys.items():
            if int(item_id) not in refundable:
                raise SalesError(f"Order item {item_id} cannot be refunded on its own.")
            if _dec(asked) > refundable[int(item_id)]:
                raise SalesError("The most you can refund is the invoiced quantity.")
            if _dec(asked) > 0:
                wanted[int(item_id)] = _dec(asked)
    everything = all(wanted.get(k, ZERO) == v for k, v in refundable.items())

    fx = _dec(order["base_to_order_rate"]) or Decimal(1)
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    items: list[dict[str, Any]] = []
    bundle_sums: dict[int, dict[str, Decimal]] = {}
    for item_id, qty in wanted.items():
        item = by_id[item_id]
        ordered = _dec(item["qty_ordered"])
        last = qty == refundable[item_id]
        entry: dict[str, Any] = {
            "entity_id": next_item_id(),
            "parent_id": entity_id,
            "order_item_id": item_id,
            "product_id": item["product_id"],
            "sku": item["sku"],
            "name": item["name"],
            "qty": num(qty),
            "base_cost": 0.0,
        }
        for prefix in ("", "base_"):
            entry[prefix + "price"] = item[prefix + "price"]
            entry[prefix + "price_incl_tax"] = item[prefix + "price_incl_tax"]
            for name, done in (
                ("row_total", "amount_refunded"),
                ("row_total_incl_tax", None),
                ("tax_amount", "tax_refunded"),
                ("discount_amount", "discount_refunded"),
                ("discount_tax_compensation_amount", "discount_tax_compensation_refunded"),
            ):
                full = _dec(item[prefix + name])
                if last and done is not None:
                    # The last refund takes what is left, so partial refunds never drift a cent.
                    amount = full - _dec(item[prefix + done])
                else:
                    amount = r2(full * qty / ordered)
                entry[prefix + name] = num(amount)
                totals[prefix + name] += amount
                if done is not None:
                    item[prefix + done] = num(_dec(item[prefix + done]) + amount)
        item["qty_refunded"] = num(_dec(item["qty_refunded"]) + qty)
        items.append(entry)
        parent = by_id.get(item.get("parent_item_id"))
        if parent is not None and parent["product_type"] == "bundle":
            sums = bundle_sums.setdefault(parent["item_id"], defaultdict(lambda: ZERO))
            for key in _DOC_ITEM_FIELDS[2:]:
                for prefix in ("", "base_"):
                    sums[prefix + key] += _dec(entry[prefix + key])
        for child in order["items"]:
            if child.get("parent_item_id") == item_id:  # configurable child: quantity only
                child["qty_refunded"] = num(_dec(child["qty_refunded"]) + qty)
                items.append(_structure_entry(child, entity_id, qty, next_item_id()))
    for parent_id, sums in bundle_sums.items():
        parent = by_id[parent_id]
        child = next(
            e for e in items if by_id[e["order_item_id"]].get("parent_item_id") == parent_id
        )
        child_item = by_id[child["order_item_id"]]
        share = _dec(child["qty"]) * _dec(parent["qty_ordered"]) / _dec(child_item["qty_ordered"])
        entry = _structure_entry(parent, entity_id, share, next_item_id())
        entry.update({k: num(v) for k, v in sums.items()})
        items.append(entry)

    ship_left = _dec(order["shipping_amount"]) - _dec(order.get("shipping_refunded", 0))
    if shipping_amount is None:
        shipping_amount = ship_left if everything else ZERO
    if shipping_amount > ship_left:
        raise SalesError(f"Maximum shipping amount allowed to refund is: {ship_left}")
    memo: dict[str, Any] = {
        "entity_id": entity_id,
        "increment_id": increment_id,
        "order_id": order["entity_id"],
        "store_id": order["store_id"],
        "state": CREDITMEMO_REFUNDED,
        "email_sent": 1,
        "created_at": created_at,
        "updated_at": created_at,
        "billing_address_id": order["billing_address_id"],
        "shipping_address_id": order["billing_address_id"] + 1,
        "items": items,
        "comments": [],
    }
    if invoice_id is not None:
        memo["invoice_id"] = invoice_id
    for name in ("base_currency_code", "global_currency_code", "store_currency_code"):
        memo[name] = order[name]
    memo["order_currency_code"] = order["order_currency_code"]
    for name in (
        "base_to_global_rate",
        "base_to_order_rate",
        "store_to_base_rate",
        "store_to_order_rate",
    ):
        memo[name] = order[name]
    base_ship_left = _dec(order["base_shipping_amount"]) - _dec(
        order.get("base_shipping_refunded", 0)
    )
    base_shipping = base_ship_left if shipping_amount == ship_left else r2(shipping_amount / fx)
    for prefix, ship, adj_pos, adj_neg in (
        ("", shipping_amount, adjustment_positive, adjustment_negative),
        ("base_", base_shipping, r2(adjustment_positive / fx), r2(adjustment_negative / fx)),
    ):
        full_ship = _dec(order[prefix + "shipping_amount"])
        ship_tax = (
            r2(_dec(order[prefix + "shipping_tax_amount"]) * ship / full_ship)
            if full_ship
            else ZERO
        )
        subtotal = totals[prefix + "row_total"]
        tax = totals[prefix + "tax_amount"] + ship_tax
        discount = totals[prefix + "discount_amount"]
        hidden = totals[prefix + "discount_tax_compensation_amount"]
        grand = subtotal + tax + hidden + ship - discount + adj_pos - adj_neg
        memo.update(
            {
                prefix + "subtotal": num(subtotal),
                prefix + "subtotal_incl_tax": num(totals[prefix + "row_total_incl_tax"]),
                prefix + "tax_amount": num(tax),
                prefix + "discount_amount": num(-discount),
                prefix + "discount_tax_compensation_amount": num(hidden),
                prefix + "shipping_amount": num(ship),
                prefix + "shipping_tax_amount": num(ship_tax),
                prefix + "shipping_incl_tax": num(ship + ship_tax),
                prefix + "adjustment_positive": num(adj_pos),
                prefix + "adjustment_negative": num(adj_neg),
                prefix + "adjustment": num(adj_pos - adj_neg),
                prefix + "grand_total": num(grand),
            }
        )
        _add(order, prefix + "total_refunded", grand)
        _add(order, prefix + "total_offline_refunded", grand)
        _add(order, prefix + "subtotal_refunded", subtotal)
        _add(order, prefix + "tax_refunded", tax)
        _add(order, prefix + "shipping_refunded", ship)
        _add(order, prefix + "shipping_tax_refunded", ship_tax)
        _add(order, prefix + "discount_refunded", -discount)
        _add(order, prefix + "adjustment_positive", adj_pos)
        _add(order, prefix + "adjustment_negative", adj_neg)
    order["payment"]["amount_refunded"] = order["total_refunded"]
    order["payment"]["base_amount_refunded"] = order["base_total_refunded"]
    if all(_dec(i["qty_refunded"]) >= _dec(i["qty_ordered"]) for i in lines):
        order["state"] = order["status"] = "closed"
    return memo


def _add(record: dict[str, Any], name: str, amount: Decimal) -> None:
    record[name] = num(_dec(record.get(name, 0)) + amount)


def _structure_entry(
    item: dict[str, Any], memo_id: int, qty: Decimal, entity_id: int
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "entity_id": entity_id,
        "parent_id": memo_id,
        "order_item_id": item["item_id"],
        "product_id": item["product_id"],
        "sku": item["sku"],
        "name": item["name"],
        "qty": num(qty),
        "base_cost": 0.0,
        "price": 0.0,
        "base_price": 0.0,
    }
    return entry
