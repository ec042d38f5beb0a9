"""Magento records as Xero documents: pure functions of a record and a `Posting`, no I/O.

Bad input raises Permanent naming the record and what to change; a record referred to but not
yet in Xero raises RetryLater. Amounts are Decimal and leave as JSON numbers rounded to 2 or 4
places (invoices, credit notes and items are written with `unitdp=4`). Xero's own rules (lines
and totals, keys, text, dates, currencies) are the core's posting kit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from xerobridge.sdk import Dependency, OrgFacts, Permanent, RetryLater, XeroDocument, posting
from xerobridge_magento.settings import MagentoSettings

CUSTOMERS, PRODUCTS, ORDERS = "customers", "products", "orders"
INVOICES, CREDIT_MEMOS = "invoices", "credit_memos"
#: Guest orders' contacts are links of this pseudo-stream, keyed by the normalised email.
GUESTS = "guests"

SOURCE = "Magento"
money, text, keys, xlines, documents = (
    posting.money, posting.text, posting.keys, posting.lines, posting.documents
)  # fmt: skip
Line = xlines.Line
LIMITS = text.LIMITS
DESCRIPTION = LIMITS["LineItem.Description"]
#: Dates of an organisation whose time zone is not known yet: UTC.
UTC_ORG = OrgFacts(timezone="UTC")
#: (stream, source key, role) -> Xero id, for the records a document refers to.
Links = Mapping[tuple[str, str, str], str]
normalise_email = posting.contacts.email_key
contact_name = posting.contacts.person_name


@dataclass(frozen=True)
class Accounts:
    """The accounts the mapping names, each resolved only when a document uses it, so that a
    missing rounding account stops only the records that need a rounding line."""

    sales: Callable[[], str]
    bank: Callable[[], dict[str, str]]  # Xero's `Account` reference
    shipping: Callable[[], str]
    rounding: Callable[[], str]

    @classmethod
    def codes(cls, sales: str, bank: str, shipping: str, rounding: str) -> Accounts:
        """Accounts known by their codes."""
        return cls(lambda: sales, lambda: {"Code": bank}, lambda: shipping, lambda: rounding)


@dataclass(frozen=True)
class Posting:
    """What a mapping needs besides the record: the source's settings and key prefix, the
    links of records it refers to, the accounts, and the organisation's tax rates and facts."""

    settings: MagentoSettings
    prefix: str
    links: Links
    accounts: Accounts
    tax_rates: Mapping[str, Decimal] | None = None
    org: OrgFacts = UTC_ORG

    def link(self, stream: str, key: Any, what: str) -> str:
        """The Xero id of a record a document refers to (RetryLater until it is in Xero)."""
        xero_id = self.links.get((stream, str(key), "main"))
        if not xero_id:
            raise RetryLater(f"{what} is not in Xero yet; it is pushed first")
        return xero_id

    def date(self, value: Any, record: str) -> str:
        """A Magento time as the organisation's date."""
        return posting.dates.document_date(self.org, value, record=record, source=SOURCE)

    def inclusive(self, order: Mapping[str, Any]) -> bool:
        """Whether the order's prices include tax: by setting, else from its amounts."""
        if self.settings.tax_inclusive_store_ids:
            return str(order.get("store_id")) in self.settings.tax_inclusive_store_ids
        return prices_include_tax(order)

    def tax(self, percent: Decimal, record: str, where: str) -> tuple[str, Decimal]:
        """The TaxType a Magento percent maps to, and the percent Xero will apply (checked)."""
        settings = self.settings
        tax_type = xlines.tax_type_for(percent, settings.tax_map, settings.default_tax_type)
        checked = xlines.checked_percent(tax_type, percent, self.tax_rates, record=record,
                                         where=f"{where} ({percent}%)", source=SOURCE)  # fmt: skip
        return tax_type, checked


def name(record: Mapping[str, Any], what: str) -> str:
    """A record as messages name it: `order 000000123`."""
    return f"{what} {record.get('increment_id') or record.get('entity_id')}"


def _amount(value: Any, what: str, record: str) -> Decimal:
    return money.amount(value, what, record, SOURCE)


# -- contacts -------------------------------------------------------------------------------------


def contact_number(prefix: str, customer_id: Any) -> str:
    """The natural key of a customer's contact: `{prefix}-C-{id}`."""
    limit = LIMITS["Contact.ContactNumber"]
    return keys.exact(f"{prefix}-C", str(customer_id), limit, f"customer {customer_id}")


def guest_contact_number(prefix: str, email: str) -> str:
    """The natural key of a guest's contact: `{prefix}-G-{email}`, or a stable hash if too long."""
    return keys.hashed(f"{prefix}-G", normalise_email(email), LIMITS["Contact.ContactNumber"])


def customer_contact_name(customer: Mapping[str, Any], *, with_id: bool = False) -> str:
    """The Name of a customer's contact; `with_id` appends the customer id to make it unique."""
    suffix = str(customer.get("id", "")) if with_id else ""
    return contact_name(customer.get("firstname"), customer.get("lastname"), suffix=suffix)


def _address(address: Mapping[str, Any] | None) -> documents.Address | None:
    if not address:
        return None
    street = address.get("street") or []
    lines = [address.get("company"), *([street] if isinstance(street, str) else street)]
    region = address.get("region")
    if isinstance(region, Mapping):
        region = region.get("region")
    return documents.Address(
        lines, address.get("city"), region, address.get("postcode"), address.get("country_id")
    )


def _person(
    number: str,
    name: str,
    person: Mapping[str, Any],
    billing: Mapping[str, Any] | None,
    shipping: Mapping[str, Any] | None,
) -> XeroDocument:
    # Xero's POBOX is the postal (billing) address and STREET the physical (delivery) one.
    return documents.contact(
        number, name, first=person.get("firstname"), last=person.get("lastname"),
        email=normalise_email(person.get("email")), tax_number=person.get("taxvat"),
        postal=_address(billing), street=_address(shipping),
        phone=(billing or shipping or {}).get("telephone"),
    )  # fmt: skip


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
    customer: Mapping[str, Any], prefix: str, *, with_id: bool = False
) -> XeroDocument:
    """A registered customer as a Contact (natural key ContactNumber `{prefix}-C-{id}`)."""
    customer_id = customer.get("id")
    if customer_id in (None, ""):
        raise Permanent("customer without an id: Magento sent an incomplete record")
    full_name = customer_contact_name(customer, with_id=with_id)
    email = normalise_email(customer.get("email"))
    if not full_name:
        if not email:
            raise Permanent(
                f"customer {customer_id}: has neither a name nor an email; add a name in Magento"
            )
        full_name = contact_name(email, "", suffix=str(customer_id) if with_id else "")
    return _person(
        contact_number(prefix, customer_id),
        full_name,
        customer,
        _default_address(customer, "default_billing"),
        _default_address(customer, "default_shipping"),
    )


def guest_of(order: Mapping[str, Any]) -> dict[str, Any]:
    """A guest order's buyer in a customer's shape (email, names, billing address)."""
    billing = order.get("billing_address") or {}
    return {
        "email": order.get("customer_email") or billing.get("email"),
        "firstname": order.get("customer_firstname") or billing.get("firstname"),
        "lastname": order.get("customer_lastname") or billing.get("lastname"),
        "billing": billing,
    }


def _guest_email(order: Mapping[str, Any]) -> str:
    email = normalise_email(guest_of(order)["email"])
    if not email:
        raise Permanent(
            f"order {order.get('increment_id')}: guest order without an email; "
            "add the customer's email to the order in Magento"
        )
    return email


def guest_to_contact(
    order: Mapping[str, Any], prefix: str, *, with_email: bool = False
) -> XeroDocument:
    """A guest order's buyer as a Contact keyed by email; `with_email` makes the Name unique."""
    guest, email = guest_of(order), _guest_email(order)
    full_name = contact_name(
        guest["firstname"], guest["lastname"], suffix=email if with_email else ""
    ) or contact_name(email, "")
    shipping = next(
        (
            a["shipping"]["address"]
            for a in (order.get("extension_attributes") or {}).get("shipping_assignments") or []
            if (a.get("shipping") or {}).get("address")
        ),
        None,
    )
    return _person(
        guest_contact_number(prefix, email),
        full_name,
        {**guest, "email": email},
        guest["billing"] or None,
        shipping,
    )


# -- items ----------------------------------------------------------------------------------------


def item_code(prefix: str, sku: str) -> str:
    """The Item Code for a SKU: `{prefix}-{sku}`, or a readable head and a hash if over 30."""
    if not sku or not sku.strip():
        raise Permanent("a product has an empty SKU; give it a SKU in Magento")
    return keys.code(prefix, sku, LIMITS["Item.Code"])


def product_to_item(product: Mapping[str, Any], p: Posting) -> XeroDocument:
    """A product as an untracked, sold Item; natural key Code from the SKU (see `item_code`)."""
    sku = str(product.get("sku") or "")
    record = f"product {product.get('id')} ({sku or 'no SKU'})"
    if not sku.strip():
        raise Permanent(f"{record}: has no SKU; give it a SKU in Magento")
    short = next(
        (a.get("value") for a in product.get("custom_attributes") or ()
         if a.get("attribute_code") == "short_description"),
        None,
    )  # fmt: skip
    price = None
    if product.get("type_id", "simple") not in ("configurable", "bundle"):
        # Configurable and bundle parents have no price of their own: their lines carry it.
        price = _amount(product.get("price", 0), "price", record)
        if price < 0:
            raise Permanent(f"{record}: price {price} is negative; correct it in Magento")
    return documents.item(
        item_code(p.prefix, sku), product.get("name") or sku, account=p.accounts.sales(),
        description=short or product.get("name"), tax_type=p.settings.default_tax_type,
        price=price,
    )  # fmt: skip


# -- what an order sold ---------------------------------------------------------------------------


def _parent_id(item: Mapping[str, Any]) -> str | None:
    parent = item.get("parent_item_id")
    if parent is None and isinstance(item.get("parent_item"), Mapping):
        parent = item["parent_item"].get("item_id")
    return None if parent is None else str(parent)


def money_items(order: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The order items that carry money, each thing sold counted once.

    A parent whose children carry amounts (a dynamic bundle) is left out for its children; the
    children of a parent that carries the amounts (a configurable, a fixed-price bundle) are
    left out for their parent.
    """
    items = list(order.get("items") or [])
    children: dict[str, list[Mapping[str, Any]]] = {}
    for item in items:
        if (parent := _parent_id(item)) is not None:
            children.setdefault(parent, []).append(item)

    def priced(group: list[Mapping[str, Any]]) -> bool:
        return any(money.optional(c.get("row_total")) for c in group)

    return [
        item
        for item in items
        if not priced(children.get(str(item.get("item_id")), []))
        and ((parent := _parent_id(item)) is None or priced(children[parent]))
    ]


def _sold_product(
    item: Mapping[str, Any], order: Mapping[str, Any]
) -> tuple[Any, str, str, Mapping[str, Any] | None]:
    """(product id, SKU, name, parent) of what an order item sold: a configurable's child."""
    items = order.get("items") or []
    by_parent = [i for i in items if _parent_id(i) == str(item.get("item_id"))]
    if item.get("product_type") == "configurable" and len(by_parent) == 1:
        child = by_parent[0]
        return child.get("product_id"), str(child.get("sku") or ""), str(child.get("name")), None
    parent_id = _parent_id(item)
    parent = next((i for i in items if str(i.get("item_id")) == parent_id), None)
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


def order_key(prefix: str, order: Mapping[str, Any]) -> str:
    """The natural key of an order's invoice: `{prefix}-{increment_id}`."""
    return _numbered(prefix, order, "order", "")


def _numbered(prefix: str, record: Mapping[str, Any], what: str, code: str) -> str:
    """`{prefix}-{code}{increment_id}`: the natural key of a document made from a record."""
    increment = str(record.get("increment_id") or "").strip()
    if not increment:
        raise Permanent(f"{what} {record.get('entity_id')}: has no increment id (its number)")
    return f"{prefix}-{code}{increment}"


def contact_dependency(order: Mapping[str, Any]) -> Dependency:
    """The contact an order's invoice needs: its customer's, or its guest's by email."""
    customer_id = order.get("customer_id")
    if customer_id not in (None, "") and not order.get("customer_is_guest"):
        return Dependency(CUSTOMERS, str(customer_id))
    return Dependency(GUESTS, _guest_email(order))


def order_needs(order: Mapping[str, Any]) -> tuple[Dependency, ...]:
    """What must be in Xero before an order's invoice: its contact and the products it sold."""
    needs = [contact_dependency(order)]
    for item in money_items(order):
        product_id = _sold_product(item, order)[0]
        dep = Dependency(PRODUCTS, str(product_id))
        if product_id not in (None, "") and dep not in needs:
            needs.append(dep)
    return tuple(needs)


# -- lines and totals -----------------------------------------------------------------------------


def _line(
    n: int, item: Mapping[str, Any], entry: Mapping[str, Any], quantity: Any,
    order: Mapping[str, Any], p: Posting, inclusive: bool, record: str,
) -> Line:  # fmt: skip
    """Line `n`: what order `item` sold, at the amounts of `entry` (the item itself, or a
    credit memo's entry for it), in the document's currency."""
    where = f"line {n}"
    product_id, sku, item_name, parent = _sold_product(item, order)
    if not sku.strip():
        raise Permanent(f"{record}: {where} ({item_name}) has no SKU; give the product a SKU")
    if product_id not in (None, ""):
        p.link(PRODUCTS, product_id, f"product {product_id} ({sku})")
    description = text.clean(item_name, DESCRIPTION) or sku
    if parent is not None and parent.get("name"):
        description = text.clean(f"{parent['name']}: {description}", DESCRIPTION)
    percent = _amount(item.get("tax_percent", 0), f"{where} tax percent", record)
    tax_type, xero_percent = p.tax(percent, record, f"{where} ({sku})")
    taxed = "_incl_tax" if inclusive else ""
    qty = _amount(quantity, f"{where} quantity", record)
    unit = _amount(entry.get(f"price{taxed}", entry.get("price")), f"{where} price", record)
    row = _amount(entry.get(f"row_total{taxed}", entry.get("row_total")),
                  f"{where} row total", record)  # fmt: skip
    if qty <= 0:
        raise Permanent(f"{record}: {where} ({sku}) has quantity {qty}")
    if money.cents(qty * unit) != row and row / qty == money.unit(row / qty):
        unit = row / qty  # Magento's stored row wins over its rounded unit price
    discount = abs(money.optional(entry.get("discount_amount")))
    return Line(description, qty, unit, p.accounts.sales(), tax_type, xero_percent, discount,
                item_code(p.prefix, sku))  # fmt: skip


def _shipping_percent(order: Mapping[str, Any], amount: Decimal, tax: Decimal) -> Decimal:
    for entry in (order.get("extension_attributes") or {}).get("item_applied_taxes") or []:
        if entry.get("type") == "shipping":
            for applied in entry.get("applied_taxes") or []:
                if applied.get("percent") is not None:
                    return Decimal(str(applied["percent"]))
    if not tax or not amount:
        return money.ZERO
    # No breakdown: the percent of the order's lines that reproduces the shipping tax.
    for item in money_items(order):
        percent = money.optional(item.get("tax_percent"))
        if money.cents(amount * percent / money.HUNDRED) == tax:
            return percent
    return (tax * money.HUNDRED / amount).quantize(Decimal("0.01"))


def _shipping_line(
    order: Mapping[str, Any],
    amounts: Mapping[str, Any],
    p: Posting,
    inclusive: bool,
    record: str,
    discount: Decimal = money.ZERO,
) -> list[Line]:
    """The shipping line of an order or credit memo (`amounts`), if it charges shipping."""
    amount = money.optional(amounts.get("shipping_amount"))
    tax = money.optional(amounts.get("shipping_tax_amount"))
    if not amount and not tax:
        return []
    tax_type, xero_percent = p.tax(_shipping_percent(order, amount, tax), record, "shipping")
    description = text.clean(order.get("shipping_description"), DESCRIPTION) or "Shipping"
    unit = amount + tax if inclusive else amount
    return [Line(description, Decimal(1), unit, p.accounts.shipping(), tax_type, xero_percent,
                 discount)]  # fmt: skip


def _document(
    kind: str,
    key_field: str,
    body: dict[str, Any],
    record: Mapping[str, Any],
    lines: list[Line],
    p: Posting,
    inclusive: bool,
    what: str,
) -> XeroDocument:
    """An invoice or credit note of `lines` totalling the record's grand total to the cent, in
    its currency at Magento's rate."""
    grand = _amount(record.get("grand_total"), "grand total", what)
    amount_types: xlines.AmountTypes = "Inclusive" if inclusive else "Exclusive"
    body |= {"Date": p.date(record.get("created_at"), what), **_currency(record, what, p),
             "LineAmountTypes": amount_types}  # fmt: skip
    body["LineItems"] = xlines.finish(
        lines, grand, amount_types, rounding_account=p.accounts.rounding, record=what, source=SOURCE
    )
    return XeroDocument(kind, body, body[key_field], key_field)


def currency_of(org: OrgFacts, record: Mapping[str, Any], what: str) -> str:
    """The record's currency, Permanent when the organisation has not enabled it."""
    code = posting.currencies.currency(
        record.get("order_currency_code"), record=what, what="order currency"
    )
    store = record.get("store_id")
    fix = f"leave store view {store} out of the store_ids setting" if store is not None else ""
    posting.currencies.check(org, code, record=what, fix=fix)
    return code


def _currency(record: Mapping[str, Any], what: str, p: Posting) -> dict[str, Any]:
    """CurrencyCode, and CurrencyRate when it is not the base currency."""
    code = currency_of(p.org, record, what)
    # Magento's base_to_order_rate is order currency per base unit, Xero's CurrencyRate's sense;
    # sending it keeps Xero's base amounts equal to Magento's (assumes the same base currency).
    base = str(record.get("base_currency_code") or "").upper()
    rate = money.optional(record.get("base_to_order_rate"))
    if base and base != code and rate > 0:
        return {"CurrencyCode": code, "CurrencyRate": money.number(rate)}
    return {"CurrencyCode": code}


def _with_order(record: Mapping[str, Any], order: Mapping[str, Any]) -> dict[str, Any]:
    """An invoice or memo with its order's currency fields where it has none of its own."""
    fields = ("order_currency_code", "base_currency_code", "base_to_order_rate")
    return {**record, **{f: order.get(f) for f in fields if record.get(f) in (None, "")}}


# -- invoices -------------------------------------------------------------------------------------


def order_to_invoice(order: Mapping[str, Any], p: Posting) -> XeroDocument:
    """An order as an ACCREC Invoice whose Total equals the order's grand total to the cent.

    Once the order is invoiced in Magento the invoice is AUTHORISED, so re-pushing the order
    never asks Xero to take an approved invoice back to draft; a cancelled order's invoice is
    voided (deleted while a draft).
    """
    record = name(order, "order")
    dep = contact_dependency(order)
    contact = p.link(dep.stream, dep.key, f"{dep.stream.removesuffix('s')} {dep.key}")
    key = order_key(p.prefix, order)
    key_field = "InvoiceNumber" if p.settings.invoice_number_from == "magento" else "Reference"
    invoiced = money.optional(order.get("total_invoiced")) > 0
    status: str = "AUTHORISED" if invoiced else p.settings.invoice_status
    if order.get("state") == "canceled":
        status = "VOIDED" if status == "AUTHORISED" else "DELETED"
    day = p.date(order.get("created_at"), record)
    body: dict[str, Any] = {"Type": "ACCREC", "Contact": {"ContactID": contact}, key_field: key,
                            "Status": status, "DueDate": day}  # fmt: skip
    if p.settings.admin_url:
        body["Url"] = (
            f"{p.settings.admin_url.rstrip('/')}/sales/order/view/order_id/{order.get('entity_id')}/"
        )
    items = money_items(order)
    if not items:
        raise Permanent(f"{record}: has no items to invoice")
    inclusive = p.inclusive(order)
    lines = [_line(n, i, i, i.get("qty_ordered"), order, p, inclusive, record)
             for n, i in enumerate(items, 1)]  # fmt: skip
    discount = abs(money.optional(order.get("shipping_discount_amount")))
    lines += _shipping_line(order, order, p, inclusive, record, discount)
    return _document("Invoice", key_field, body, order, lines, p, inclusive, record)


def payment_key(prefix: str, invoice: Mapping[str, Any]) -> str:
    """The natural key of a Magento invoice's payment: `{prefix}-PAY-{increment_id}`."""
    return _numbered(prefix, invoice, "invoice", "PAY-")


def is_paid(invoice: Mapping[str, Any]) -> bool:
    """Whether a Magento invoice is paid (state 2)."""
    return str(invoice.get("state")) == "2"


def _payment(
    record: Mapping[str, Any], order: Mapping[str, Any], target: dict[str, Any], key: str,
    p: Posting, what: str, role: str,
) -> XeroDocument:  # fmt: skip
    """A Payment of a record's grand total between the bank account and `target` (an invoice
    paid, a credit note refunded), in the record's currency at Magento's rate."""
    amount = _amount(record.get("grand_total"), "grand total", what)
    if amount <= 0:
        raise Permanent(f"{what}: grand total {amount} is not an amount to pay or refund")
    currency = _currency(_with_order(record, order), what, p)
    return documents.payment(
        key, target, p.accounts.bank(), p.date(record.get("created_at"), what), amount,
        currency_rate=currency.get("CurrencyRate"), role=role,
    )  # fmt: skip


def magento_invoice_to_xero(
    invoice: Mapping[str, Any], order: Mapping[str, Any], p: Posting
) -> list[XeroDocument]:
    """A Magento invoice: the order's Xero invoice AUTHORISED, and its Payment when paid.

    The first document is an update of the order's invoice (same natural key); it is identical
    to what `order_to_invoice` gives for the invoiced order, so the two never fight.
    """
    total = order.get("total_invoiced") or invoice.get("grand_total")
    invoiced = {**order, "total_invoiced": total}
    docs = [order_to_invoice(invoiced, p)]
    if docs[0].body["Status"] != "AUTHORISED":
        raise Permanent(
            f"invoice {invoice.get('increment_id')}: its order "
            f"{order.get('increment_id')} is cancelled; a cancelled order cannot be paid"
        )
    if is_paid(invoice):
        paid = {"InvoiceID": p.link(ORDERS, order.get("entity_id"), name(order, "order"))}
        key = payment_key(p.prefix, invoice)
        what = name(invoice, "invoice")
        docs.append(_payment(invoice, order, {"Invoice": paid}, key, p, what, "payment"))
    return docs


# -- credit notes ---------------------------------------------------------------------------------


def credit_note_number(prefix: str, memo: Mapping[str, Any]) -> str:
    """The natural key of a credit memo's credit note: `{prefix}-CM-{increment_id}`."""
    return _numbered(prefix, memo, "credit memo", "CM-")


def creditmemo_to_credit_note(
    memo: Mapping[str, Any], order: Mapping[str, Any], p: Posting
) -> XeroDocument:
    """A credit memo as an AUTHORISED ACCRECCREDIT CreditNote totalling its grand total.

    Only the refunded quantities become lines; adjustments are lines of their own (refund
    positive, fee negative) on the sales account with TaxType NONE, as Magento taxes neither.
    """
    record = name(memo, "credit memo")
    by_id = {str(i.get("item_id")): i for i in order.get("items") or []}
    money_ids = {str(i.get("item_id")) for i in money_items(order)}
    inclusive = p.inclusive(order)
    lines: list[Line] = []
    for entry in memo.get("items") or []:
        order_item_id = str(entry.get("order_item_id"))
        if order_item_id not in by_id:
            raise Permanent(
                f"{record}: refunds order item {order_item_id}, which order "
                f"{order.get('increment_id')} does not have"
            )
        # A configurable's child or a bundle's sum is counted on its money line.
        if order_item_id in money_ids and money.optional(entry.get("qty")):
            n, item = len(lines) + 1, by_id[order_item_id]
            lines.append(_line(n, item, entry, entry["qty"], order, p, inclusive, record))
    lines = xlines.without_discounts(lines)
    lines += _shipping_line(order, memo, p, inclusive, record)
    for field, label, sign in (
        ("adjustment_positive", "Adjustment refund", 1),
        ("adjustment_negative", "Adjustment fee", -1),
    ):
        if amount := abs(money.optional(memo.get(field))):
            lines.append(Line(label, Decimal(1), sign * amount, p.accounts.sales(), "NONE"))
    if not lines:
        raise Permanent(f"{record}: refunds nothing (no quantities, shipping or adjustments)")
    grand = _amount(memo.get("grand_total"), "grand total", record)
    if grand <= 0:
        raise Permanent(f"{record}: grand total {grand} is not a refundable amount")
    dep = contact_dependency(order)
    body: dict[str, Any] = {
        "Type": "ACCRECCREDIT",
        "CreditNoteNumber": credit_note_number(p.prefix, memo),
        "Contact": {"ContactID": p.link(dep.stream, dep.key, f"contact {dep.key}")},
        "Status": "AUTHORISED",
        "Reference": order_key(p.prefix, order),
    }
    memo = _with_order(memo, order)
    return _document("CreditNote", "CreditNoteNumber", body, memo, lines, p, inclusive, record)


def creditmemo_allocation(
    memo: Mapping[str, Any], order: Mapping[str, Any], p: Posting
) -> XeroDocument:
    """The Allocation of a credit note's total (the memo's grand total) to the order's invoice.

    Xero allocates only up to the invoice's amount due: for an invoice already paid in full
    the refund is money paid back (`refund_payment`), not an allocation.
    """
    record = name(memo, "credit memo")
    key = credit_note_number(p.prefix, memo)
    return documents.allocation(
        key,
        "CreditNoteNumber",
        note_id=p.link(CREDIT_MEMOS, memo.get("entity_id"), record),
        invoice_id=p.link(ORDERS, order.get("entity_id"), name(order, "order")),
        day=p.date(memo.get("created_at"), record),
        amount=_amount(memo.get("grand_total"), "grand total", record),
    )


def refund_payment(
    memo: Mapping[str, Any], order: Mapping[str, Any], p: Posting, credit_note_id: str
) -> XeroDocument:
    """The money a credit memo gives back: a Payment on the credit note from the bank account."""
    refunded = {"CreditNote": {"CreditNoteID": credit_note_id}}
    key = _numbered(p.prefix, memo, "credit memo", "RF-")
    return _payment(memo, order, refunded, key, p, name(memo, "credit memo"), "refund")
