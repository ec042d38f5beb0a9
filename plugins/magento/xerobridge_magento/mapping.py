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

import base64
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal

from xerobridge.contract.errors import Permanent, RetryLater
from xerobridge.contract.types import Candidate, Dependency, Resolution, XeroDocument
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

CONTACT_NUMBER_MAX = 50
CONTACT_NAME_MAX = 255
ITEM_CODE_MAX = 30
ITEM_NAME_MAX = 50
DESCRIPTION_MAX = 4000
#: Base32 characters of the SKU hash in a shortened Item Code: 50 bits.
_HASH_LEN = 10
#: Marks a shortened Item Code; SKUs containing it are always shortened, so kept and shortened
#: codes can never be equal.
_HASH_MARK = "~"

CENT = Decimal("0.01")
ZERO = Decimal(0)
HUNDRED = Decimal(100)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"\s+")
_TAGS = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class Accounts:
    """Xero account codes the caller resolved from the settings' account names."""

    sales: str
    bank: str
    shipping: str
    rounding: str


# -- small pure helpers ---------------------------------------------------------------------------


def _money(value: Decimal) -> Decimal:
    # Half up, as Xero's rounding guide's examples and Magento's price rounding both do.
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _num(value: Decimal) -> float:
    return float(value)


def _dec(value: Any, what: str, record: str) -> Decimal:
    if value is None or value == "" or isinstance(value, bool):
        raise Permanent(f"{record}: {what} is missing; fix the record in Magento and sync again")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise Permanent(f"{record}: {what} {value!r} is not a number") from None
    if not result.is_finite():
        raise Permanent(f"{record}: {what} {value!r} is not a number")
    return result


def _opt_dec(value: Any) -> Decimal:
    """An optional amount: missing or null is zero (Magento leaves null fields out)."""
    if value is None or value == "":
        return ZERO
    return Decimal(str(value))


def _text(value: Any, limit: int) -> str:
    """Printable text for Xero: control characters dropped, whitespace collapsed, cut to size."""
    text = _SPACES.sub(" ", _CONTROL.sub("", unicodedata.normalize("NFC", str(value or ""))))
    return text.strip()[:limit].strip()


def _date(value: Any, record: str) -> str:
    text = str(value or "")
    if not re.match(r"^\d{4}-\d{2}-\d{2}", text):
        raise Permanent(f"{record}: date {value!r} is not Magento's YYYY-MM-DD HH:MM:SS")
    # UNVERIFIED choice: the UTC date; Magento's REST answers carry no store timezone.
    return text[:10]


def _link(links: Links, stream: str, key: Any, role: str, what: str) -> str:
    xero_id = links.get((stream, str(key), role))
    if not xero_id:
        raise RetryLater(f"{what} is not in Xero yet")
    return xero_id


def _short_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii")[:_HASH_LEN]


# -- contacts -------------------------------------------------------------------------------------


def contact_number(key_prefix: str, customer_id: Any) -> str:
    """The natural key of a customer's contact: `{prefix}-C-{id}`."""
    number = f"{key_prefix}-C-{customer_id}"
    if len(number) > CONTACT_NUMBER_MAX:
        raise Permanent(
            f"customer {customer_id}: ContactNumber {number!r} is longer than Xero's "
            f"{CONTACT_NUMBER_MAX} characters; use a shorter key prefix"
        )
    return number


def normalise_email(email: Any) -> str:
    """An email as guest contacts are keyed by: trimmed and lower-case."""
    return str(email or "").strip().lower()


def guest_contact_number(key_prefix: str, email: str) -> str:
    """The natural key of a guest's contact: `{prefix}-G-{email}`, or a stable hash if too long."""
    normal = normalise_email(email)
    number = f"{key_prefix}-G-{normal}"
    if len(number) <= CONTACT_NUMBER_MAX:
        return number
    # The hash form holds no "@", so it never equals the plain form of another email.
    return f"{key_prefix}-G-#{_short_hash(normal)}"


def contact_name(first: Any, last: Any, *, suffix: str = "") -> str:
    """`First Last` as Xero's contact Name (max 255), with `suffix` kept whole when given."""
    name = _text(f"{first or ''} {last or ''}", CONTACT_NAME_MAX)
    if not suffix:
        return name
    tail = f" ({suffix})"
    return _text(name[: CONTACT_NAME_MAX - len(tail)], CONTACT_NAME_MAX) + tail


def customer_contact_name(customer: Mapping[str, Any], *, with_id: bool = False) -> str:
    """The Name of a customer's contact; `with_id` appends the customer id to make it unique."""
    suffix = str(customer.get("id", "")) if with_id else ""
    return contact_name(customer.get("firstname"), customer.get("lastname"), suffix=suffix)


def _address(address: Mapping[str, Any], kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {"AddressType": kind}
    street = address.get("street") or []
    if isinstance(street, str):
        street = [street]
    lines = [_text(s, 500) for s in street if _text(s, 500)]
    if address.get("company"):
        lines.insert(0, _text(address["company"], 500))
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
        if _text(value, limit):
            out[field] = _text(value, limit)
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
    if _text(first, 255):
        body["FirstName"] = _text(first, 255)
    if _text(last, 255):
        body["LastName"] = _text(last, 255)
    if email:
        body["EmailAddress"] = _text(email, 255)
    if _text(tax_number, 50):
        body["TaxNumber"] = _text(tax_number, 50)
    addresses = []
    # Xero's POBOX is the postal (billing) address and STREET the physical (delivery) one.
    if billing:
        addresses.append(_address(billing, "POBOX"))
    if shipping:
        addresses.append(_address(shipping, "STREET"))
    body["Addresses"] = addresses
    phone = _text((billing or shipping or {}).get("telephone"), 50)
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


def match_contact(
    customer: Mapping[str, Any],
    contacts: Iterable[Mapping[str, Any]],
    mode: Literal["email_then_name", "email", "none"],
    *,
    own_number: str | None = None,
) -> Resolution:
    """Which existing Xero contact a customer (or `guest_of(order)`) is, per `match_contacts`.

    A contact already carrying `own_number` is ours (found again after a crash) and links
    whatever the mode. Contacts carrying another ContactNumber with the same prefix belong to
    another record of ours and are never offered. Archived contacts are not matched.
    """
    active = [c for c in contacts if c.get("ContactStatus", "ACTIVE") == "ACTIVE"]
    if own_number:
        for contact in active:
            if contact.get("ContactNumber") == own_number:
                return Resolution.link(str(contact["ContactID"]))
        prefix = own_number.split("-", 1)[0] + "-"
        active = [c for c in active if not str(c.get("ContactNumber") or "").startswith(prefix)]
    if mode == "none":
        return Resolution.create()
    email = normalise_email(customer.get("email"))
    if email:
        found = [c for c in active if normalise_email(c.get("EmailAddress")) == email]
        if found:
            return _pick(found, "same email", email)
    if mode == "email_then_name":
        name = contact_name(customer.get("firstname"), customer.get("lastname")).casefold()
        if name:
            found = [c for c in active if _text(c.get("Name"), 255).casefold() == name]
            if found:
                return _pick(found, "same name", name)
    return Resolution.create()


def _pick(found: Sequence[Mapping[str, Any]], reason: str, value: str) -> Resolution:
    if len(found) == 1:
        return Resolution.link(str(found[0]["ContactID"]))
    candidates = tuple(
        Candidate(
            str(c["ContactID"]),
            f"{c.get('Name', '')} <{c.get('EmailAddress', '')}>".strip(),
            reason,
        )
        for c in sorted(found, key=lambda c: str(c["ContactID"]))
    )
    return Resolution.choose(f"{len(found)} Xero contacts have the {reason} {value!r}", candidates)


# -- items ----------------------------------------------------------------------------------------


def item_code(key_prefix: str, sku: str) -> str:
    """The Item Code for a SKU: `{prefix}-{sku}`, or a readable head and a hash if over 30.

    The shortened form is `{prefix}-{head}~{hash}`, the hash being 10 base32 characters
    (50 bits) of the full SKU, so different long SKUs get different codes. A SKU containing
    `~` is always shortened, so a kept code never equals a shortened one.
    """
    if not sku or not sku.strip():
        raise Permanent("a product has an empty SKU; give it a SKU in Magento")
    full = f"{key_prefix}-{sku}"
    if len(full) <= ITEM_CODE_MAX and _HASH_MARK not in sku:
        return full
    room = ITEM_CODE_MAX - len(key_prefix) - 2 - _HASH_LEN
    if room < 1:
        raise Permanent(f"key prefix {key_prefix!r} is too long for Xero's 30-character codes")
    head = sku[:room].replace(_HASH_MARK, "-")
    return f"{key_prefix}-{head}{_HASH_MARK}{_short_hash(sku)}"


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
    name = _text(product.get("name"), ITEM_NAME_MAX) or _text(sku, ITEM_NAME_MAX)
    description = _text(
        _TAGS.sub(" ", str(_attribute(product, "short_description") or product.get("name") or "")),
        DESCRIPTION_MAX,
    )
    sales: dict[str, Any] = {"AccountCode": accounts.sales, "TaxType": settings.default_tax_type}
    if product.get("type_id", "simple") not in ("configurable", "bundle"):
        # Configurable and bundle parents have no price of their own: their lines carry it.
        price = _dec(product.get("price", 0), "price", record)
        if price < 0:
            raise Permanent(f"{record}: price {price} is negative; correct it in Magento")
        sales["UnitPrice"] = _num(price.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))
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


@dataclass(frozen=True)
class _Line:
    """A line as Xero will price it, with the tax percent Xero will apply."""

    body: dict[str, Any]
    quantity: Decimal
    unit: Decimal
    discount: Decimal
    percent: Decimal


def xero_line_amount(quantity: Decimal, unit: Decimal, discount: Decimal) -> Decimal:
    """Xero's LineAmount: quantity x unit less the discount amount, rounded to cents."""
    return _money(quantity * unit - discount)


def xero_total(
    lines: Iterable[tuple[Decimal, Decimal, Decimal, Decimal]], amount_types: str
) -> Decimal:
    """A document's Total as Xero computes it from (quantity, unit, discount, tax percent) lines.

    Xero rounds each line's amount and each line's tax to cents and sums the rounded values.
    """
    total = ZERO
    for quantity, unit, discount, percent in lines:
        amount = xero_line_amount(quantity, unit, discount)
        rate = percent / HUNDRED
        if amount_types == "Exclusive":
            total += amount + _money(amount * rate)
        else:
            total += amount  # Inclusive: the tax is inside the amount
    return total


def _tax_type(percent: Decimal, settings: MagentoSettings) -> str:
    for key, tax_type in settings.tax_map.items():
        if Decimal(key) == percent:
            return tax_type
    return settings.default_tax_type


def _xero_percent(
    tax_type: str,
    percent: Decimal,
    tax_rates: Mapping[str, Decimal] | None,
    record: str,
    where: str,
) -> Decimal:
    """The percent Xero will apply; with the organisation's rates, check it is Magento's."""
    if tax_rates is None:
        return percent  # trust tax_map: the caller has no tax rates to check it against
    if tax_type not in tax_rates:
        raise Permanent(
            f"{record}: {where} maps to TaxType {tax_type!r}, which the Xero organisation does "
            "not have; correct tax_map or default_tax_type in the source's settings"
        )
    rate = Decimal(str(tax_rates[tax_type]))
    if rate != percent:
        raise Permanent(
            f"{record}: {where} is taxed at {percent}% in Magento but maps to TaxType "
            f"{tax_type!r} at {rate}% in Xero; add {percent}=<a {percent}% TaxType> to tax_map"
        )
    return rate


def _line_body(
    description: str,
    quantity: Decimal,
    unit: Decimal,
    discount: Decimal,
    account: str,
    tax_type: str,
    item: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Description": description,
        "Quantity": _num(quantity),
        "UnitAmount": _num(unit),
        "AccountCode": account,
        "TaxType": tax_type,
    }
    if item:
        body["ItemCode"] = item
    if discount:
        body["DiscountAmount"] = _num(discount)
    return body


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
        if own and any(_opt_dec(c.get("row_total")) for c in own):
            continue
        parent_id = _parent_id(item)
        if parent_id is not None:
            siblings = children[parent_id]
            if not any(_opt_dec(c.get("row_total")) for c in siblings):
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
    if _opt_dec(order.get("discount_tax_compensation_amount")) or any(
        _opt_dec(i.get("discount_tax_compensation_amount")) for i in items
    ):
        return True
    taxed = [i for i in items if _opt_dec(i.get("tax_amount"))]
    if any(_opt_dec(i.get("discount_amount")) for i in taxed):
        return False  # a discount on a taxed line with no hidden tax: net prices

    def exact(unit_field: str, row_field: str) -> bool:
        return all(
            _money(_opt_dec(i.get(unit_field)) * _opt_dec(i.get("qty_ordered")))
            == _opt_dec(i.get(row_field))
            for i in taxed
        )

    if not exact("price_incl_tax", "row_total_incl_tax"):
        return False
    if not exact("price", "row_total"):
        return True
    # Both readings work: an inclusive store derives its net prices by division, so most of them
    # carry more than two decimals, while an exclusive store's net prices are its catalog's.
    derived = sum(1 for i in taxed if _opt_dec(i.get("price")) != _money(_opt_dec(i.get("price"))))
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
) -> list[_Line]:
    out = []
    for src in sources:
        item = src.item
        where = f"line {src.position}"
        product_id, sku, name, parent = _sold_product(item, order)
        if not sku.strip():
            raise Permanent(f"{record}: {where} ({name}) has no SKU; give the product a SKU")
        if product_id not in (None, ""):
            _link(links, PRODUCTS, product_id, "main", f"product {product_id} ({sku})")
        description = _text(name, DESCRIPTION_MAX) or sku
        if parent is not None and parent.get("name"):
            description = _text(f"{parent['name']}: {description}", DESCRIPTION_MAX)
        percent = _dec(item.get("tax_percent", 0), f"{where} tax percent", record)
        tax_type = _tax_type(percent, settings)
        xero_percent = _xero_percent(
            tax_type, percent, tax_rates, record, f"{where} ({sku}, {percent}%)"
        )
        unit, row = (
            (src.price_incl_tax, src.row_total_incl_tax)
            if inclusive
            else (src.price, src.row_total)
        )
        quantity = src.quantity
        if quantity <= 0:
            raise Permanent(f"{record}: {where} ({sku}) has quantity {quantity}")
        if _money(quantity * unit) != row and (row / quantity) == (row / quantity).quantize(
            Decimal("0.0001")
        ):
            # Magento's stored row wins over its rounded unit price (partial refunds re-split it).
            unit = row / quantity
        body = _line_body(
            description,
            quantity,
            unit,
            src.discount,
            accounts.sales,
            tax_type,
            item_code(key_prefix, sku),
        )
        out.append(_Line(body, quantity, unit, src.discount, xero_percent))
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
        percent = _opt_dec(item.get("tax_percent"))
        if _money(amount * percent / HUNDRED) == tax:
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
) -> _Line | None:
    if not amount and not tax:
        return None
    percent = _shipping_percent(order, amount, tax)
    tax_type = _tax_type(percent, settings)
    xero_percent = _xero_percent(tax_type, percent, tax_rates, record, f"shipping ({percent}%)")
    unit = amount + tax if inclusive else amount
    description = _text(order.get("shipping_description"), DESCRIPTION_MAX) or "Shipping"
    body = _line_body(description, Decimal(1), unit, discount, accounts.shipping, tax_type)
    return _Line(body, Decimal(1), unit, discount, xero_percent)


def _finish(
    lines: list[_Line],
    grand_total: Decimal,
    inclusive: bool,
    accounts: Accounts,
    record: str,
) -> tuple[list[dict[str, Any]], Decimal]:
    """The line bodies plus, when Xero's total would differ from Magento's, a rounding line."""
    amount_types = "Inclusive" if inclusive else "Exclusive"
    total = xero_total(
        ((ln.quantity, ln.unit, ln.discount, ln.percent) for ln in lines), amount_types
    )
    difference = grand_total - total
    bodies = [ln.body for ln in lines]
    # Per-line rounding moves a total by at most a cent or so per line; anything larger is a
    # mapping error the rounding line must not hide.
    limit = CENT * (len(lines) + 1)
    if abs(difference) > limit:
        raise Permanent(
            f"{record}: Xero would total {total} but Magento's grand total is {grand_total} "
            f"(off by {difference}, more than rounding explains); check the record's amounts "
            "and the tax_map setting"
        )
    if difference:
        bodies.append(
            _line_body("Rounding", Decimal(1), difference, ZERO, accounts.rounding, "NONE")
        )
    return bodies, total + difference


# -- invoices -------------------------------------------------------------------------------------


def order_key(key_prefix: str, order: Mapping[str, Any]) -> str:
    """The natural key of an order's invoice: `{prefix}-{increment_id}`."""
    increment = str(order.get("increment_id") or "").strip()
    if not increment:
        raise Permanent(f"order {order.get('entity_id')}: has no increment id (order number)")
    return f"{key_prefix}-{increment}"


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
    code = str(record.get("order_currency_code") or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise Permanent(f"{name}: order currency {code or 'missing'!r} is not a currency code")
    return code


def _currency_rate(record: Mapping[str, Any], body: dict[str, Any]) -> None:
    # Magento's base_to_order_rate is order currency per base unit, Xero's CurrencyRate's sense;
    # sending it keeps Xero's base amounts equal to Magento's (assumes the same base currency).
    base = str(record.get("base_currency_code") or "").upper()
    rate = _opt_dec(record.get("base_to_order_rate"))
    if base and base != body["CurrencyCode"] and rate > 0:
        body["CurrencyRate"] = _num(rate)


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
        abs(_opt_dec(entry.get("discount_amount"))),
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
    invoiced = _opt_dec(order.get("total_invoiced")) > 0
    status: str = "AUTHORISED" if invoiced else settings.invoice_status
    if order.get("state") == "canceled":
        status = "VOIDED" if status == "AUTHORISED" else "DELETED"
    body["Status"] = status
    day = _date(order.get("created_at"), record)
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
        _opt_dec(order.get("shipping_amount")),
        _opt_dec(order.get("shipping_tax_amount")),
        abs(_opt_dec(order.get("shipping_discount_amount"))),
        settings,
        accounts,
        inclusive,
        tax_rates,
        record,
    )
    if shipping is not None:
        lines.append(shipping)
    grand = _dec(order.get("grand_total"), "grand total", record)
    body["LineItems"], _ = _finish(lines, grand, inclusive, accounts, record)
    return XeroDocument("Invoice", body, key, key_field)


def payment_key(key_prefix: str, invoice: Mapping[str, Any]) -> str:
    """The natural key of a Magento invoice's payment: `{prefix}-PAY-{increment_id}`."""
    increment = str(invoice.get("increment_id") or "").strip()
    if not increment:
        raise Permanent(f"invoice {invoice.get('entity_id')}: has no increment id")
    return f"{key_prefix}-PAY-{increment}"


def is_paid(invoice: Mapping[str, Any]) -> bool:
    """Whether a Magento invoice is paid (state 2)."""
    return str(invoice.get("state")) == "2"


def invoice_payment(
    invoice: Mapping[str, Any],
    order: Mapping[str, Any],
    key_prefix: str,
    links: Links,
    accounts: Accounts,
) -> XeroDocument:
    """A paid Magento invoice's Payment of its grand total to the bank account."""
    record = f"invoice {invoice.get('increment_id') or invoice.get('entity_id')}"
    order_name = f"order {order.get('increment_id') or order.get('entity_id')}"
    key = payment_key(key_prefix, invoice)
    amount = _dec(invoice.get("grand_total"), "grand total", record)
    if amount <= 0:
        raise Permanent(f"{record}: grand total {amount} is not a payable amount")
    body: dict[str, Any] = {
        "Invoice": {"InvoiceID": _link(links, ORDERS, order.get("entity_id"), "main", order_name)},
        "Account": {"Code": accounts.bank},
        "Date": _date(invoice.get("created_at"), record),
        "Amount": _num(_money(amount)),
        "Reference": key,
    }
    currency = _currency(invoice if invoice.get("order_currency_code") else order, record)
    base = str(invoice.get("base_currency_code") or order.get("base_currency_code") or "").upper()
    rate = _opt_dec(invoice.get("base_to_order_rate") or order.get("base_to_order_rate"))
    if base and base != currency and rate > 0:
        body["CurrencyRate"] = _num(rate)
    return XeroDocument("Payment", body, key, "Reference", role="payment")


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
        )
    ]
    if docs[0].body["Status"] != "AUTHORISED":
        raise Permanent(
            f"invoice {invoice.get('increment_id')}: its order "
            f"{order.get('increment_id')} is cancelled; a cancelled order cannot be paid"
        )
    if is_paid(invoice):
        docs.append(invoice_payment(invoice, order, key_prefix, links, accounts))
    return docs


# -- credit notes ---------------------------------------------------------------------------------


def credit_note_number(key_prefix: str, memo: Mapping[str, Any]) -> str:
    """The natural key of a credit memo's credit note: `{prefix}-CM-{increment_id}`."""
    increment = str(memo.get("increment_id") or "").strip()
    if not increment:
        raise Permanent(f"credit memo {memo.get('entity_id')}: has no increment id")
    return f"{key_prefix}-CM-{increment}"


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
        quantity = _opt_dec(entry.get("qty"))
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
        _opt_dec(memo.get("shipping_amount")),
        _opt_dec(memo.get("shipping_tax_amount")),
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
        amount = abs(_opt_dec(memo.get(field)))
        if amount:
            line = _line_body(label, Decimal(1), sign * amount, ZERO, accounts.sales, "NONE")
            lines.append(_Line(line, Decimal(1), sign * amount, ZERO, ZERO))
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
        "Date": _date(memo.get("created_at"), record),
        "Reference": order_key(key_prefix, order),
        "CurrencyCode": _currency(memo if memo.get("order_currency_code") else order, record),
        "LineAmountTypes": "Inclusive" if inclusive else "Exclusive",
    }
    _currency_rate(memo if memo.get("base_to_order_rate") else order, body)
    body["LineItems"], _ = _finish(lines, grand, inclusive, accounts, record)
    return XeroDocument("CreditNote", body, key, "CreditNoteNumber")


def _net_of_discount(lines: list[_Line]) -> list[_Line]:
    """Lines with their discount taken into the unit amount (4 places).

    Xero takes DiscountAmount and DiscountRate on sales invoices only, not on credit notes;
    what rounding the 4-place unit leaves is caught by `_finish`'s rounding line.
    """
    out = []
    for line in lines:
        if not line.discount:
            out.append(line)
            continue
        unit = ((line.quantity * line.unit - line.discount) / line.quantity).quantize(
            Decimal("0.0001"), rounding=ROUND_HALF_UP
        )
        body = {k: v for k, v in line.body.items() if k != "DiscountAmount"}
        body["UnitAmount"] = _num(unit)
        out.append(_Line(body, line.quantity, unit, ZERO, line.percent))
    return out


def creditmemo_allocation(
    memo: Mapping[str, Any],
    order: Mapping[str, Any],
    key_prefix: str,
    links: Links,
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
        "Amount": _num(_money(amount)),
        "Date": _date(memo.get("created_at"), record),
    }
    return XeroDocument("Allocation", body, key, "CreditNoteNumber", role="allocation")
