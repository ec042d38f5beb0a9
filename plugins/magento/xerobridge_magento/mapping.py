"""Magento records as Xero documents: pure functions, no I/O, the same answer for the same input.

Each function takes what it needs: the Magento record (a dict as the REST API returns it), the
source's settings, its key prefix, the Xero account codes the caller resolved (`Accounts`) and a
`links` mapping `(stream, key, role) -> Xero id` for the records it refers to. Bad input raises
`Permanent` naming the record and what to change; a dependency not yet in Xero raises `RetryLater`.

Money is computed in Decimal and written into bodies as JSON numbers (floats of values already
rounded to 2 or 4 places, so they print exactly). Unit amounts may carry 4 decimals: the caller
writes invoices, credit notes and items with `unitdp=4`, which is harmless for 2-decimal amounts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from xerobridge.sdk import (
    Dependency,
    OrgFacts,
    Permanent,
    RetryLater,
    XeroDocument,
    posting,
)
from xerobridge_magento.settings import MagentoSettings

#: (stream, source key, role) -> Xero id, for the records a document refers to.
Links = Mapping[tuple[str, str, str], str]

CUSTOMERS, PRODUCTS, ORDERS, INVOICES, CREDIT_MEMOS = (
    "customers",
    "products",
    "orders",
    "invoices",
    "credit_memos",
)
#: Guest orders' contacts are links of this pseudo-stream, keyed by the normalised email.
GUESTS = "guests"

SOURCE = "Magento"
money, text, keys, xlines = posting.money, posting.text, posting.keys, posting.lines
Line = posting.lines.Line
ZERO, HUNDRED = money.ZERO, money.HUNDRED
LIMITS = text.LIMITS
DESCRIPTION = LIMITS["LineItem.Description"]
NAME = LIMITS["Item.Name"]
#: Dates of an organisation whose time zone is not known yet: UTC.
UTC_ORG = OrgFacts(timezone="UTC")

#: An account code, or what resolves it when a document uses it (see `Accounts`).
Account = str | Callable[[], str]
#: The bank account as a code, or what resolves it to Xero's `Account` reference.
Bank = str | Callable[[], dict[str, str]]


class Accounts:
    """The Xero accounts the mapping names, each resolved only when a document uses it, so
    that a missing rounding account stops only the records that need a rounding line."""

    def __init__(self, sales: Account, bank: Bank, shipping: Account, rounding: Account) -> None:
        self._sales, self._bank, self._shipping, self._rounding = sales, bank, shipping, rounding

    @property
    def sales(self) -> str:
        return self._sales if isinstance(self._sales, str) else self._sales()

    @property
    def shipping(self) -> str:
        return self._shipping if isinstance(self._shipping, str) else self._shipping()

    def rounding(self) -> str:
        """The rounding account's code (asked only when a rounding line is needed)."""
        return self._rounding if isinstance(self._rounding, str) else self._rounding()

    @property
    def bank(self) -> dict[str, str]:
        """The account payments go to, as Xero's `Account` reference."""
        return {"Code": self._bank} if isinstance(self._bank, str) else self._bank()


# -- small pure helpers ---------------------------------------------------------------------------


def _dec(value: Any, what: str, record: str) -> Decimal:
    return money.amount(value, what, record, SOURCE)


def _date(org: OrgFacts, value: Any, record: str) -> str:
    return posting.dates.document_date(org, value, record=record, source=SOURCE)


def _link(links: Links, stream: str, key: Any, role: str, what: str) -> str:
    xero_id = links.get((stream, str(key), role))
    if not xero_id:
        raise RetryLater(f"{what} is not in Xero yet")
    return xero_id


# -- contacts -------------------------------------------------------------------------------------


def contact_number(key_prefix: str, customer_id: Any) -> str:
    """The natural key of a customer's contact: `{prefix}-C-{id}`."""
    limit = LIMITS["Contact.ContactNumber"]
    return keys.exact(f"{key_prefix}-C", str(customer_id), limit, f"customer {customer_id}")


normalise_email = posting.contacts.email_key


def guest_contact_number(key_prefix: str, email: str) -> str:
    """The natural key of a guest's contact: `{prefix}-G-{email}`, or a stable hash if too long."""
    return keys.hashed(f"{key_prefix}-G", normalise_email(email), LIMITS["Contact.ContactNumber"])


contact_name = posting.contacts.person_name


def customer_contact_name(customer: Mapping[str, Any], *, with_id: bool = False) -> str:
    """The Name of a customer's contact; `with_id` appends the customer id to make it unique."""
    suffix = str(customer.get("id", "")) if with_id else ""
    return contact_name(customer.get("firstname"), customer.get("lastname"), suffix=suffix)


def _address(address: Mapping[str, Any], kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {"AddressType": kind}
    street = address.get("street") or []
    if isinstance(street, str):
        street = [street]
    lines = [text.clean(s, 500) for s in street if text.clean(s, 500)]
    if address.get("company"):
        lines.insert(0, text.clean(address["company"], 500))
    for n, line in enumerate(lines[:4], start=1):
        out[f"AddressLine{n}"] = line
    region = address.get("region")
    if isinstance(region, Mapping):
        region = region.get("region")
    for field, value, limit in (
        ("City", address.get("city"), 255),
        ("Region", region, 255),
        ("PostalCode", address.get("postcode"), 50),
        ("Country", address.get("country_id"), 50),
    ):
        if text.clean(value, limit):
            out[field] = text.clean(value, limit)
    return out


def _contact_body(
    number: str,
    name: str,
    first: Any,
    last: Any,
    email: str,
    billing: Mapping[str, Any] | None,
    shipping: Mapping[str, Any] | None,
    tax_number: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"ContactNumber": number, "Name": name}
    if text.clean(first, 255):
        body["FirstName"] = text.clean(first, 255)
    if text.clean(last, 255):
        body["LastName"] = text.clean(last, 255)
    if email:
        body["EmailAddress"] = text.clean(email, 255)
    if text.clean(tax_number, 50):
        body["TaxNumber"] = text.clean(tax_number, 50)
    addresses = []
    # Xero's POBOX is the postal (billing) address and STREET the physical (delivery) one.
    if billing:
        addresses.append(_address(billing, "POBOX"))
    if shipping:
        addresses.append(_address(shipping, "STREET"))
    body["Addresses"] = addresses
    phone = text.clean((billing or shipping or {}).get("telephone"), 50)
    body["Phones"] = [{"PhoneType": "DEFAULT", "PhoneNumber": phone}] if phone else []
    return body


def _default_address(customer: Mapping[str, Any], which: str) -> Mapping[str, Any] | None:
    addresses = customer.get("addresses") or []
    if not isinstance(addresses, list) or not all(isinstance(a, Mapping) for a in addresses):
        raise Permanent(
            f"customer {customer.get('id')}: addresses {str(addresses)[:80]!r} is not a list of "
            "addresses; fix the record in Magento and sync again"
        )
    wanted = customer.get(which)
    for address in addresses:
        if address.get(which) is True or (
            wanted is not None and str(address.get("id")) == str(wanted)
        ):
            return address
    return None


def customer_to_contact(
    customer: Mapping[str, Any],
    settings: MagentoSettings,
    key_prefix: str,
    *,
    with_id: bool = False,
) -> XeroDocument:
    """A registered customer as a Contact (natural key ContactNumber `{prefix}-C-{id}`)."""
    del settings  # nothing in a contact depends on settings today; kept for a uniform signature
    customer_id = customer.get("id")
    if customer_id in (None, ""):
        raise Permanent("customer without an id: Magento sent an incomplete record")
    record = f"customer {customer_id}"
    name = customer_contact_name(customer, with_id=with_id)
    email = normalise_email(customer.get("email"))
    if not name:
        if not email:
            raise Permanent(f"{record}: has neither a name nor an email; add a name in Magento")
        name = contact_name(email, "", suffix=str(customer_id) if with_id else "")
    body = _contact_body(
        contact_number(key_prefix, customer_id),
        name,
        customer.get("firstname"),
        customer.get("lastname"),
        email,
        _default_address(customer, "default_billing"),
        _default_address(customer, "default_shipping"),
        customer.get("taxvat"),
    )
    return XeroDocument("Contact", body, body["ContactNumber"], "ContactNumber")


def guest_of(order: Mapping[str, Any]) -> dict[str, Any]:
    """A guest order's buyer in a customer's shape (email, names, addresses) for contacts."""
    billing = order.get("billing_address") or {}
    return {
        "email": order.get("customer_email") or billing.get("email"),
        "firstname": order.get("customer_firstname") or billing.get("firstname"),
        "lastname": order.get("customer_lastname") or billing.get("lastname"),
        "billing": billing,
    }


def guest_to_contact(
    order: Mapping[str, Any],
    settings: MagentoSettings,
    key_prefix: str,
    *,
    with_email: bool = False,
) -> XeroDocument:
    """A guest order's buyer as a Contact keyed by email; `with_email` makes the Name unique."""
    del settings
    guest = guest_of(order)
    email = normalise_email(guest["email"])
    if not email:
        raise Permanent(
            f"order {order.get('increment_id')}: guest order without an email; "
            "add the customer's email to the order in Magento"
        )
    name = contact_name(guest["firstname"], guest["lastname"], suffix=email if with_email else "")
    if not name:
        name = contact_name(email, "")
    shipping = _shipping_address(order)
    body = _contact_body(
        guest_contact_number(key_prefix, email),
        name,
        guest["firstname"],
        guest["lastname"],
        email,
        guest["billing"] or None,
        shipping,
        None,
    )
    return XeroDocument("Contact", body, body["ContactNumber"], "ContactNumber")


def _shipping_address(order: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for assignment in (order.get("extension_attributes") or {}).get("shipping_assignments") or []:
        address = (assignment.get("shipping") or {}).get("address")
        if address:
            return address
    return None


# -- items ----------------------------------------------------------------------------------------


def item_code(key_prefix: str, sku: str) -> str:
    """The Item Code for a SKU: `{prefix}-{sku}`, or a readable head and a hash if over 30."""
    if not sku or not sku.strip():
        raise Permanent("a product has an empty SKU; give it a SKU in Magento")
    return keys.code(key_prefix, sku, LIMITS["Item.Code"])


def _attribute(record: Mapping[str, Any], code: str) -> Any:
    for attr in record.get("custom_attributes") or ():
        if attr.get("attribute_code") == code:
            return attr.get("value")
    return None


def product_to_item(
    product: Mapping[str, Any],
    settings: MagentoSettings,
    key_prefix: str,
    accounts: Accounts,
) -> XeroDocument:
    """A product as an untracked, sold Item; natural key Code from the SKU (see `item_code`).

    Inventory is not tracked in Xero: Magento owns stock, purchases are not synced, and Xero
    refuses to authorise an invoice selling more of a tracked item than it has on hand.
    """
    sku = str(product.get("sku") or "")
    record = f"product {product.get('id')} ({sku or 'no SKU'})"
    if not sku.strip():
        raise Permanent(f"{record}: has no SKU; give it a SKU in Magento")
    code = item_code(key_prefix, sku)
    name = text.clean(product.get("name"), NAME) or text.clean(sku, NAME)
    description = text.plain(
        _attribute(product, "short_description") or product.get("name") or "",
        LIMITS["Item.Description"],
    )
    sales: dict[str, Any] = {"AccountCode": accounts.sales, "TaxType": settings.default_tax_type}
    if product.get("type_id", "simple") not in ("configurable", "bundle"):
        # Configurable and bundle parents have no price of their own: their lines carry it.
        price = _dec(product.get("price", 0), "price", record)
        if price < 0:
            raise Permanent(f"{record}: price {price} is negative; correct it in Magento")
        sales["UnitPrice"] = money.number(money.unit(price))
    body = {
        "Code": code,
        "Name": name,
        "Description": description or name,
        "IsSold": True,
        "IsPurchased": False,
        "IsTrackedAsInventory": False,
        "SalesDetails": sales,
    }
    return XeroDocument("Item", body, code, "Code")


# -- lines and totals -----------------------------------------------------------------------------


def money_items(order: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The order items that carry money, each thing sold counted once.

    A parent whose children carry amounts (a dynamic bundle) is left out for its children; the
    children of a parent that carries the amounts (a configurable, a fixed-price bundle) are
    left out for their parent.
    """
    items = list(order.get("items") or [])
    children: dict[str, list[Mapping[str, Any]]] = {}
    for item in items:
        parent = _parent_id(item)
        if parent is not None:
            children.setdefault(parent, []).append(item)
    out = []
    for item in items:
        own = children.get(str(item.get("item_id")), [])
        if own and any(money.optional(c.get("row_total")) for c in own):
            continue
        parent_id = _parent_id(item)
        if parent_id is not None:
            siblings = children[parent_id]
            if not any(money.optional(c.get("row_total")) for c in siblings):
                continue
        out.append(item)
    return out


def _parent_id(item: Mapping[str, Any]) -> str | None:
    parent = item.get("parent_item_id")
    if parent is None and isinstance(item.get("parent_item"), Mapping):
        parent = item["parent_item"].get("item_id")
    return None if parent is None else str(parent)


def _sold_product(
    item: Mapping[str, Any], order: Mapping[str, Any]
) -> tuple[Any, str, str, Mapping[str, Any] | None]:
    """(product id, SKU, name, parent) of what an order item sold: a configurable's child."""
    by_parent = [i for i in order.get("items") or [] if _parent_id(i) == str(item.get("item_id"))]
    parent_id = _parent_id(item)
    parent = next((i for i in order.get("items") or [] if str(i.get("item_id")) == parent_id), None)
    if item.get("product_type") == "configurable" and len(by_parent) == 1:
        child = by_parent[0]
        return child.get("product_id"), str(child.get("sku") or ""), str(child.get("name")), None
    return item.get("product_id"), str(item.get("sku") or ""), str(item.get("name")), parent


def prices_include_tax(order: Mapping[str, Any]) -> bool:
    """Whether an order's prices include tax (REST does not say): inferred from its amounts.

    Tax hidden in a discount exists only with tax-inclusive prices. Otherwise an inclusive
    order's rows add up exactly from the prices including tax, and an exclusive one's from the
    prices excluding it; when both do (or neither), the two readings give the same money.
    """
    items = money_items(order)
    if money.optional(order.get("discount_tax_compensation_amount")) or any(
        money.optional(i.get("discount_tax_compensation_amount")) for i in items
    ):
        return True
    taxed = [i for i in items if money.optional(i.get("tax_amount"))]
    if any(money.optional(i.get("discount_amount")) for i in taxed):
        return False  # a discount on a taxed line with no hidden tax: net prices

    def exact(unit_field: str, row_field: str) -> bool:
        return all(
            money.cents(money.optional(i.get(unit_field)) * money.optional(i.get("qty_ordered")))
            == money.optional(i.get(row_field))
            for i in taxed
        )

    if not exact("price_incl_tax", "row_total_incl_tax"):
        return False
    if not exact("price", "row_total"):
        return True
    # Both readings work: an inclusive store derives its net prices by division, so most of them
    # carry more than two decimals, while an exclusive store's net prices are its catalog's.
    derived = sum(
        1
        for i in taxed
        if money.optional(i.get("price")) != money.cents(money.optional(i.get("price")))
    )
    return derived * 2 > len(taxed)


@dataclass(frozen=True)
class _Source:
    """One money line of an order or credit memo, in the document's currency."""

    position: int
    item: Mapping[str, Any]  # the order item
    quantity: Decimal
    price: Decimal
    price_incl_tax: Decimal
    row_total: Decimal
    row_total_incl_tax: Decimal
    discount: Decimal


def _lines(
    sources: Sequence[_Source],
    order: Mapping[str, Any],
    settings: MagentoSettings,
    key_prefix: str,
    links: Links,
    accounts: Accounts,
    inclusive: bool,
    tax_rates: Mapping[str, Decimal] | None,
    record: str,
) -> list[Line]:
    out = []
    for src in sources:
        item = src.item
        where = f"line {src.position}"
        product_id, sku, name, parent = _sold_product(item, order)
        if not sku.strip():
            raise Permanent(f"{record}: {where} ({name}) has no SKU; give the product a SKU")
        if product_id not in (None, ""):
            _link(links, PRODUCTS, product_id, "main", f"product {product_id} ({sku})")
        description = text.clean(name, DESCRIPTION) or sku
        if parent is not None and parent.get("name"):
            description = text.clean(f"{parent['name']}: {description}", DESCRIPTION)
        percent = _dec(item.get("tax_percent", 0), f"{where} tax percent", record)
        tax_type, xero_percent = _tax(percent, settings, tax_rates, record, f"{where} ({sku})")
        unit, row = (
            (src.price_incl_tax, src.row_total_incl_tax)
            if inclusive
            else (src.price, src.row_total)
        )
        quantity = src.quantity
        if quantity <= 0:
            raise Permanent(f"{record}: {where} ({sku}) has quantity {quantity}")
        if money.cents(quantity * unit) != row and (row / quantity) == (row / quantity).quantize(
            Decimal("0.0001")
        ):
            # Magento's stored row wins over its rounded unit price (partial refunds re-split it).
            unit = row / quantity
        out.append(
            Line(
                description,
                quantity,
                unit,
                accounts.sales,
                tax_type,
                xero_percent,
                src.discount,
                item_code(key_prefix, sku),
            )
        )
    return out


def _shipping_percent(order: Mapping[str, Any], amount: Decimal, tax: Decimal) -> Decimal:
    for entry in (order.get("extension_attributes") or {}).get("item_applied_taxes") or []:
        if entry.get("type") == "shipping":
            for applied in entry.get("applied_taxes") or []:
                if applied.get("percent") is not None:
                    return Decimal(str(applied["percent"]))
    if not tax or not amount:
        return ZERO
    # No breakdown: the percent of the order's lines that reproduces the shipping tax.
    for item in money_items(order):
        percent = money.optional(item.get("tax_percent"))
        if money.cents(amount * percent / HUNDRED) == tax:
            return percent
    return (tax * HUNDRED / amount).quantize(Decimal("0.01"))


def _shipping_line(
    order: Mapping[str, Any],
    amount: Decimal,
    tax: Decimal,
    discount: Decimal,
    settings: MagentoSettings,
    accounts: Accounts,
    inclusive: bool,
    tax_rates: Mapping[str, Decimal] | None,
    record: str,
) -> Line | None:
    if not amount and not tax:
        return None
    percent = _shipping_percent(order, amount, tax)
    tax_type, xero_percent = _tax(percent, settings, tax_rates, record, "shipping")
    unit = amount + tax if inclusive else amount
    description = text.clean(order.get("shipping_description"), DESCRIPTION)
    return Line(
        description or "Shipping",
        Decimal(1),
        unit,
        accounts.shipping,
        tax_type,
        xero_percent,
        discount,
    )


def _tax(
    percent: Decimal,
    settings: MagentoSettings,
    tax_rates: Mapping[str, Decimal] | None,
    record: str,
    where: str,
) -> tuple[str, Decimal]:
    """The TaxType a Magento percent maps to, and the percent Xero will apply (checked)."""
    tax_type = xlines.tax_type_for(percent, settings.tax_map, settings.default_tax_type)
    where = f"{where} ({percent}%)"
    checked = xlines.checked_percent(
        tax_type, percent, tax_rates, record=record, where=where, source=SOURCE
    )
    return tax_type, checked


def _finish(
    lines: list[Line], grand_total: Decimal, inclusive: bool, accounts: Accounts, record: str
) -> list[dict[str, Any]]:
    """The LineItems, with a rounding line when Xero's total differs from Magento's by rounding."""
    amount_types: posting.lines.AmountTypes = "Inclusive" if inclusive else "Exclusive"
    return xlines.finish(
        lines,
        grand_total,
        amount_types,
        rounding_account=accounts.rounding,
        record=record,
        source=SOURCE,
    )


# -- invoices -------------------------------------------------------------------------------------


def _numbered(key_prefix: str, record: Mapping[str, Any], what: str, code: str) -> str:
    """`{prefix}-{code}{increment_id}`: the natural key of a document made from a record."""
    increment = str(record.get("increment_id") or "").strip()
    if not increment:
        raise Permanent(f"{what} {record.get('entity_id')}: has no increment id (its number)")
    return f"{key_prefix}-{code}{increment}"


def order_key(key_prefix: str, order: Mapping[str, Any]) -> str:
    """The natural key of an order's invoice: `{prefix}-{increment_id}`."""
    return _numbered(key_prefix, order, "order", "")


def contact_dependency(order: Mapping[str, Any]) -> Dependency:
    """The contact an order's invoice needs: its customer's, or its guest's by email."""
    customer_id = order.get("customer_id")
    if customer_id not in (None, "") and not order.get("customer_is_guest"):
        return Dependency(CUSTOMERS, str(customer_id))
    email = normalise_email(guest_of(order)["email"])
    if not email:
        raise Permanent(
            f"order {order.get('increment_id')}: guest order without an email; "
            "add the customer's email to the order in Magento"
        )
    return Dependency(GUESTS, email)


def order_needs(order: Mapping[str, Any]) -> tuple[Dependency, ...]:
    """What must be in Xero before an order's invoice: its contact and the products it sold."""
    needs = [contact_dependency(order)]
    for item in money_items(order):
        product_id = _sold_product(item, order)[0]
        dep = Dependency(PRODUCTS, str(product_id))
        if product_id not in (None, "") and dep not in needs:
            needs.append(dep)
    return tuple(needs)


def _contact_id(order: Mapping[str, Any], links: Links) -> str:
    dep = contact_dependency(order)
    what = f"customer {dep.key}" if dep.stream == CUSTOMERS else f"guest contact {dep.key}"
    return _link(links, dep.stream, dep.key, dep.role, what)


def _currency(record: Mapping[str, Any], name: str) -> str:
    return posting.currencies.currency(
        record.get("order_currency_code"), record=name, what="order currency"
    )


def _currency_rate(record: Mapping[str, Any], body: dict[str, Any], currency: str = "") -> None:
    # Magento's base_to_order_rate is order currency per base unit, Xero's CurrencyRate's sense;
    # sending it keeps Xero's base amounts equal to Magento's (assumes the same base currency).
    base = str(record.get("base_currency_code") or "").upper()
    rate = money.optional(record.get("base_to_order_rate"))
    if base and base != (currency or body["CurrencyCode"]) and rate > 0:
        body["CurrencyRate"] = money.number(rate)


def _money_source(
    position: int, item: Mapping[str, Any], entry: Mapping[str, Any], quantity: Decimal, record: str
) -> _Source:
    """One money line's amounts, read from an order item or a credit memo's entry for it."""
    where = f"line {position}"
    price = _dec(entry.get("price"), f"{where} price", record)
    row = entry.get("row_total")
    return _Source(
        position,
        item,
        quantity,
        price,
        _dec(entry.get("price_incl_tax", entry.get("price")), f"{where} price", record),
        _dec(row, f"{where} row total", record),
        _dec(entry.get("row_total_incl_tax", row), f"{where} row total", record),
        abs(money.optional(entry.get("discount_amount"))),
    )


def order_to_invoice(
    order: Mapping[str, Any],
    settings: MagentoSettings,
    key_prefix: str,
    links: Links,
    accounts: Accounts,
    *,
    tax_rates: Mapping[str, Decimal] | None = None,
    inclusive: bool | None = None,
    org: OrgFacts = UTC_ORG,
) -> XeroDocument:
    """An order as an ACCREC Invoice whose Total equals the order's grand total to the cent.

    `tax_rates` (Xero TaxType -> percent) lets the mapping refuse a tax_map entry whose Xero
    rate differs from Magento's; `inclusive` overrides `prices_include_tax(order)`. Once the
    order is invoiced in Magento the invoice is AUTHORISED, so re-pushing the order never asks
    Xero to take an approved invoice back to draft; a cancelled order's invoice is voided
    (deleted while a draft).
    """
    record = f"order {order.get('increment_id') or order.get('entity_id')}"
    key = order_key(key_prefix, order)
    body: dict[str, Any] = {"Type": "ACCREC", "Contact": {"ContactID": _contact_id(order, links)}}
    if settings.invoice_number_from == "magento":
        body["InvoiceNumber"] = key
        key_field = "InvoiceNumber"
    else:
        body["Reference"] = key
        key_field = "Reference"
    invoiced = money.optional(order.get("total_invoiced")) > 0
    status: str = "AUTHORISED" if invoiced else settings.invoice_status
    if order.get("state") == "canceled":
        status = "VOIDED" if status == "AUTHORISED" else "DELETED"
    body["Status"] = status
    day = _date(org, order.get("created_at"), record)
    body["Date"] = day
    body["DueDate"] = day  # UNVERIFIED choice: web orders are due when placed
    body["CurrencyCode"] = _currency(order, record)
    _currency_rate(order, body)
    inclusive = prices_include_tax(order) if inclusive is None else inclusive
    body["LineAmountTypes"] = "Inclusive" if inclusive else "Exclusive"
    if settings.admin_url:
        body["Url"] = (
            f"{settings.admin_url.rstrip('/')}/sales/order/view/order_id/{order.get('entity_id')}/"
        )
    items = money_items(order)
    if not items:
        raise Permanent(f"{record}: has no items to invoice")
    sources = []
    for position, item in enumerate(items, start=1):
        quantity = _dec(item.get("qty_ordered"), f"line {position} quantity", record)
        sources.append(_money_source(position, item, item, quantity, record))
    lines = _lines(
        sources, order, settings, key_prefix, links, accounts, inclusive, tax_rates, record
    )
    shipping = _shipping_line(
        order,
        money.optional(order.get("shipping_amount")),
        money.optional(order.get("shipping_tax_amount")),
        abs(money.optional(order.get("shipping_discount_amount"))),
        settings,
        accounts,
        inclusive,
        tax_rates,
        record,
    )
    if shipping is not None:
        lines.append(shipping)
    grand = _dec(order.get("grand_total"), "grand total", record)
    body["LineItems"] = _finish(lines, grand, inclusive, accounts, record)
    return XeroDocument("Invoice", body, key, key_field)


def payment_key(key_prefix: str, invoice: Mapping[str, Any]) -> str:
    """The natural key of a Magento invoice's payment: `{prefix}-PAY-{increment_id}`."""
    return _numbered(key_prefix, invoice, "invoice", "PAY-")


def is_paid(invoice: Mapping[str, Any]) -> bool:
    """Whether a Magento invoice is paid (state 2)."""
    return str(invoice.get("state")) == "2"


def invoice_payment(
    invoice: Mapping[str, Any],
    order: Mapping[str, Any],
    key_prefix: str,
    links: Links,
    accounts: Accounts,
    org: OrgFacts = UTC_ORG,
) -> XeroDocument:
    """A paid Magento invoice's Payment of its grand total to the bank account."""
    order_name = f"order {order.get('increment_id') or order.get('entity_id')}"
    record = f"invoice {invoice.get('increment_id') or invoice.get('entity_id')}"
    paid = {"InvoiceID": _link(links, ORDERS, order.get("entity_id"), "main", order_name)}
    key = payment_key(key_prefix, invoice)
    return _payment(invoice, order, record, {"Invoice": paid}, key, accounts, org, "payment")


def _payment(
    record: Mapping[str, Any],
    order: Mapping[str, Any],
    name: str,
    target: dict[str, Any],
    key: str,
    accounts: Accounts,
    org: OrgFacts,
    role: str,
) -> XeroDocument:
    """A Payment of a record's grand total between the bank account and `target` (an invoice
    paid, a credit note refunded), in the record's currency at Magento's rate."""
    amount = _dec(record.get("grand_total"), "grand total", name)
    if amount <= 0:
        raise Permanent(f"{name}: grand total {amount} is not an amount to pay or refund")
    body: dict[str, Any] = {
        **target,
        "Account": accounts.bank,
        "Date": _date(org, record.get("created_at"), name),
        "Amount": money.number(money.cents(amount)),
        "Reference": key,
    }
    currency = _currency(record if record.get("order_currency_code") else order, name)
    _currency_rate(record if record.get("base_to_order_rate") else order, body, currency)
    return XeroDocument("Payment", body, key, "Reference", role=role)


def magento_invoice_to_xero(
    invoice: Mapping[str, Any],
    order: Mapping[str, Any],
    settings: MagentoSettings,
    key_prefix: str,
    links: Links,
    accounts: Accounts,
    *,
    tax_rates: Mapping[str, Decimal] | None = None,
    inclusive: bool | None = None,
    org: OrgFacts = UTC_ORG,
) -> list[XeroDocument]:
    """A Magento invoice: the order's Xero invoice AUTHORISED, and its Payment when paid.

    The first document is an update of the order's invoice (same natural key); it is identical
    to what `order_to_invoice` gives for the invoiced order, so the two never fight.
    """
    invoiced = {
        **order,
        "total_invoiced": order.get("total_invoiced") or invoice.get("grand_total"),
    }
    docs = [
        order_to_invoice(
            invoiced,
            settings,
            key_prefix,
            links,
            accounts,
            tax_rates=tax_rates,
            inclusive=inclusive,
            org=org,
        )
    ]
    if docs[0].body["Status"] != "AUTHORISED":
        raise Permanent(
            f"invoice {invoice.get('increment_id')}: its order "
            f"{order.get('increment_id')} is cancelled; a cancelled order cannot be paid"
        )
    if is_paid(invoice):
        docs.append(invoice_payment(invoice, order, key_prefix, links, accounts, org))
    return docs


# -- credit notes ---------------------------------------------------------------------------------


def credit_note_number(key_prefix: str, memo: Mapping[str, Any]) -> str:
    """The natural key of a credit memo's credit note: `{prefix}-CM-{increment_id}`."""
    return _numbered(key_prefix, memo, "credit memo", "CM-")


def creditmemo_to_credit_note(
    memo: Mapping[str, Any],
    order: Mapping[str, Any],
    settings: MagentoSettings,
    key_prefix: str,
    links: Links,
    accounts: Accounts,
    *,
    tax_rates: Mapping[str, Decimal] | None = None,
    inclusive: bool | None = None,
    org: OrgFacts = UTC_ORG,
) -> XeroDocument:
    """A credit memo as an AUTHORISED ACCRECCREDIT CreditNote totalling its grand total.

    Only the refunded quantities become lines; adjustments are lines of their own (refund
    positive, fee negative) on the sales account with TaxType NONE, as Magento taxes neither.
    """
    record = f"credit memo {memo.get('increment_id') or memo.get('entity_id')}"
    key = credit_note_number(key_prefix, memo)
    by_id = {str(i.get("item_id")): i for i in order.get("items") or []}
    money_ids = {str(i.get("item_id")) for i in money_items(order)}
    inclusive = prices_include_tax(order) if inclusive is None else inclusive
    sources: list[_Source] = []
    for entry in memo.get("items") or []:
        order_item_id = str(entry.get("order_item_id"))
        if order_item_id not in by_id:
            raise Permanent(
                f"{record}: refunds order item {order_item_id}, which order "
                f"{order.get('increment_id')} does not have"
            )
        if order_item_id not in money_ids:
            continue  # a configurable's child or a bundle's sum: counted on its money line
        quantity = money.optional(entry.get("qty"))
        if not quantity:
            continue
        sources.append(
            _money_source(len(sources) + 1, by_id[order_item_id], entry, quantity, record)
        )
    lines = _net_of_discount(
        _lines(sources, order, settings, key_prefix, links, accounts, inclusive, tax_rates, record)
    )
    shipping = _shipping_line(
        order,
        money.optional(memo.get("shipping_amount")),
        money.optional(memo.get("shipping_tax_amount")),
        ZERO,
        settings,
        accounts,
        inclusive,
        tax_rates,
        record,
    )
    if shipping is not None:
        lines.append(shipping)
    for field, label, sign in (
        ("adjustment_positive", "Adjustment refund", 1),
        ("adjustment_negative", "Adjustment fee", -1),
    ):
        amount = abs(money.optional(memo.get(field)))
        if amount:
            lines.append(Line(label, Decimal(1), sign * amount, accounts.sales, "NONE"))
    if not lines:
        raise Permanent(f"{record}: refunds nothing (no quantities, shipping or adjustments)")
    grand = _dec(memo.get("grand_total"), "grand total", record)
    if grand <= 0:
        raise Permanent(f"{record}: grand total {grand} is not a refundable amount")
    body: dict[str, Any] = {
        "Type": "ACCRECCREDIT",
        "CreditNoteNumber": key,
        "Contact": {"ContactID": _contact_id(order, links)},
        "Status": "AUTHORISED",
        "Date": _date(org, memo.get("created_at"), record),
        "Reference": order_key(key_prefix, order),
        "CurrencyCode": _currency(memo if memo.get("order_currency_code") else order, record),
        "LineAmountTypes": "Inclusive" if inclusive else "Exclusive",
    }
    _currency_rate(memo if memo.get("base_to_order_rate") else order, body)
    body["LineItems"] = _finish(lines, grand, inclusive, accounts, record)
    return XeroDocument("CreditNote", body, key, "CreditNoteNumber")


def _net_of_discount(lines: list[Line]) -> list[Line]:
    """Lines with their discount taken into the unit amount (4 places).

    Xero takes DiscountAmount and DiscountRate on sales invoices only, not on credit notes;
    what rounding the 4-place unit leaves is caught by `_finish`'s rounding line.
    """
    out = []
    for line in lines:
        if not line.discount:
            out.append(line)
            continue
        unit = money.unit((line.quantity * line.unit - line.discount) / line.quantity)
        out.append(replace(line, unit=unit, discount=ZERO))
    return out


def creditmemo_allocation(
    memo: Mapping[str, Any],
    order: Mapping[str, Any],
    key_prefix: str,
    links: Links,
    org: OrgFacts = UTC_ORG,
) -> XeroDocument:
    """The Allocation of a credit note's total (the memo's grand total) to the order's invoice.

    Xero allocates only up to the invoice's amount due: for an invoice already paid in full
    the refund is money paid back, not an allocation (see the mapping's report).
    """
    record = f"credit memo {memo.get('increment_id') or memo.get('entity_id')}"
    key = credit_note_number(key_prefix, memo)
    order_name = f"order {order.get('increment_id') or order.get('entity_id')}"
    amount = _dec(memo.get("grand_total"), "grand total", record)
    body = {
        "CreditNoteNumber": key,
        "CreditNote": {
            "CreditNoteID": _link(links, CREDIT_MEMOS, memo.get("entity_id"), "main", record)
        },
        "Invoice": {"InvoiceID": _link(links, ORDERS, order.get("entity_id"), "main", order_name)},
        "Amount": money.number(money.cents(amount)),
        "Date": _date(org, memo.get("created_at"), record),
    }
    return XeroDocument("Allocation", body, key, "CreditNoteNumber", role="allocation")


def refund_key(key_prefix: str, memo: Mapping[str, Any]) -> str:
    """The natural key of a credit memo's refund payment: `{prefix}-RF-{increment_id}`."""
    return _numbered(key_prefix, memo, "credit memo", "RF-")


def refund_payment(
    memo: Mapping[str, Any],
    order: Mapping[str, Any],
    key_prefix: str,
    credit_note_id: str,
    accounts: Accounts,
    org: OrgFacts = UTC_ORG,
) -> XeroDocument:
    """The money a credit memo gives back: a Payment on the credit note from the bank account."""
    record = f"credit memo {memo.get('increment_id') or memo.get('entity_id')}"
    refunded = {"CreditNote": {"CreditNoteID": credit_note_id}}
    key = refund_key(key_prefix, memo)
    return _payment(memo, order, record, refunded, key, accounts, org, "refund")
