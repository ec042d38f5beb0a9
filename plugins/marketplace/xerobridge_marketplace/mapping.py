"""Pure functions: marketplace customers, products and orders as Xero contacts, items, invoices
and credit notes, built with the core's posting kit."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from xerobridge.sdk import OrgFacts, Permanent, XeroDocument, posting

SOURCE = "the marketplace"
ZERO = Decimal(0)
CENT = Decimal("0.01")
#: Charge lines that give money back; a discount stays a negative line on its invoice.
REFUNDS = frozenset({"setupRefund", "renewRefund", "transferRefund", "recurringRefund", "refund",
                     "refundAdjustment"})  # fmt: skip


def billing(customer: Mapping[str, Any]) -> Mapping[str, Any]:
    """The customer's billing contact person, else its first one, else none."""
    people = list(customer.get("contactPersons") or [])
    return next((p for p in people if p.get("type") == "billing"), people[0] if people else {})


def contact_number(prefix: str, customer_id: str) -> str:
    """The natural key of a customer's contact."""
    limit = posting.text.LIMITS["Contact.ContactNumber"]
    return posting.keys.exact(f"{prefix}-C", customer_id, limit, f"customer {customer_id}")


def contact(customer: Mapping[str, Any], *, number: str, name: str) -> XeroDocument:
    """The customer's Xero contact."""
    person, address = billing(customer), customer.get("address") or {}
    body: dict[str, Any] = {
        "Name": posting.text.clean(name, posting.text.LIMITS["Contact.Name"]),
        "ContactNumber": number,
        "FirstName": posting.text.clean(person.get("firstName"), 255),
        "LastName": posting.text.clean(person.get("lastName"), 255),
        "EmailAddress": posting.text.clean(person.get("email"), 255),
        "Addresses": [{
            "AddressType": "POBOX",
            "AddressLine1": posting.text.clean(address.get("streetAddress"), 500),
            "AddressLine2": posting.text.clean(address.get("addressExtension"), 500),
            "City": posting.text.clean(address.get("city"), 255),
            "Region": posting.text.clean(address.get("state"), 255),
            "PostalCode": posting.text.clean(address.get("postalCode"), 50),
            "Country": posting.text.clean(address.get("countryCode"), 50),
        }],
    }  # fmt: skip
    if customer.get("taxRegId"):
        body["TaxNumber"] = posting.text.clean(customer["taxRegId"], 50)
    return XeroDocument("Contact", body, number, "ContactNumber")


def item_code(prefix: str, mpn: str) -> str:
    """The natural key of a product's item: the prefix and the MPN, within Xero's 30."""
    return posting.keys.code(prefix, mpn, posting.text.LIMITS["Item.Code"])


def item(
    product: Mapping[str, Any], *, code: str, price: Decimal | None, account: str
) -> XeroDocument:
    """The product's Xero item, sold at its marketplace price in the organisation's currency."""
    name = product.get("name")
    return posting.documents.item(code, name, account=account, description=name, price=price)


def price_in(product: Mapping[str, Any], currency: str) -> Decimal | None:
    """The product's recurring (else first) price in a currency, if it has one."""
    prices = [p for p in product.get("prices") or [] if p.get("currency") == currency]
    chosen = next(
        (p for p in prices if p.get("type") == "recurring"), prices[0] if prices else None
    )
    return (
        posting.money.amount(chosen["amount"], "price", f"product {product.get('id')}", SOURCE)
        if chosen
        else None
    )


def amount(value: Mapping[str, Any] | None, what: str, record: str) -> Decimal:
    """A `{currency, amount}` of the API as exact cents (none: zero)."""
    return posting.money.amount((value or {}).get("amount", "0"), what, record, SOURCE)


def order_date(org: OrgFacts, order: Mapping[str, Any]) -> str:
    """The organisation's date of the order."""
    return posting.dates.document_date(
        org, order.get("creationDate"), record=f"order {order.get('orderNumber')}", source=SOURCE
    )


def month_start(day: str) -> str:
    """The first day of a date's month."""
    return day[:8] + "01"


def open_invoice_number(prefix: str, customer_id: str, month_start: str) -> str:
    """The natural key of a customer's open invoice of a month (`invoice_mode=existing`)."""
    limit = posting.text.LIMITS["Invoice.InvoiceNumber"]
    return posting.keys.exact(f"{prefix}-C{customer_id}", month_start[:7], limit,
                              f"customer {customer_id}")  # fmt: skip


def due_date(day: str, days: int) -> str:
    """The due date `days` after an ISO date."""
    from datetime import date

    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def document(
    kind: str,
    *,
    number_field: str,
    number: str,
    contact_id: str,
    day: str,
    due: str,
    status: str,
    currency: str,
    lines: list[dict[str, Any]],
    reference: str = "",
    role: str = "main",
    append: bool = False,
    claims: tuple[str, ...] = (),
) -> XeroDocument:
    """An invoice or credit note of an order, under its natural key; `append`: the order's
    lines on a document other orders add theirs to (the customer's open invoice); `claims`:
    the billing periods it carries, each on one invoice only."""
    body: dict[str, Any] = {
        "Type": "ACCREC" if kind == "Invoice" else "ACCRECCREDIT",
        number_field: number,
        "Contact": {"ContactID": contact_id},
        "Date": day,
        "Status": status,
        "CurrencyCode": currency,
        "LineAmountTypes": "Exclusive",
        "LineItems": lines,
    }
    if kind == "Invoice":
        body["DueDate"] = due
    if reference and number_field != "Reference":
        body["Reference"] = reference
    return XeroDocument(kind, body, number, number_field, role=role, append=append, claims=claims)


def tax_of(
    amount: Decimal,
    tax: Decimal,
    *,
    default: str,
    tax_map: Mapping[str, str],
    rates: Mapping[str, Decimal] | None,
    where: str,
) -> tuple[str, Decimal]:
    """The TaxType of a charge line and its rate: the first of the default (for a taxed line),
    the tax_map's types and NONE whose rate gives the line's tax to the cent. The marketplace
    sends the tax in cents, not its rate, so a rate is recognised by what it makes."""
    wanted = [default] if tax else []
    wanted += [t for _p, t in sorted(tax_map.items())] + ([] if tax else ["NONE"])
    if rates is None:  # the organisation's rates are not known yet: Xero decides
        return (wanted[0] if wanted else "", ZERO)
    for tax_type in dict.fromkeys(w for w in wanted if w):
        rate = rates.get(tax_type)
        if rate is not None and abs(posting.money.cents(amount * rate / 100) - tax) <= CENT:
            return tax_type, rate
    percent = (tax / amount * 100).quantize(Decimal("0.01")) if amount else ZERO
    raise Permanent(
        f"{where} is taxed about {percent}% in the marketplace ({tax} on {amount}), and no "
        "TaxType of default_tax_type or tax_map has that rate in Xero: add <percent>=<TaxType> "
        "to tax_map"
    )


def period_claim(order: Mapping[str, Any], detail: Mapping[str, Any]) -> str:
    """What a charge line bills once only: its subscription's period from its start ("" for a
    refund, or a line of no subscription or period)."""
    subscription, start = order.get("subscriptionId"), detail.get("startDate")
    if detail.get("type") in REFUNDS or not subscription or not start:
        return ""
    return f"period:{subscription}:{start}"


def billing_order(order: Mapping[str, Any], start: str) -> str:
    """The order's id when one of its charges billed the period that begins at `start`."""
    if not start:
        return ""
    for detail in order.get("details") or []:
        if detail.get("type") in REFUNDS or not detail.get("startDate"):
            continue
        if str(detail["startDate"]) <= start < str(detail.get("endDate") or start):
            return str(order["id"])
    return ""


def allocation(
    credit: XeroDocument, *, note_id: str, invoice_id: str, day: str, amount: Decimal
) -> XeroDocument:
    """The credit note's total allocated to the invoice whose period it gives back."""
    return posting.documents.allocation(credit.natural_key, credit.key_field, note_id=note_id,
                                        invoice_id=invoice_id, day=day, amount=amount)  # fmt: skip


def refused(order: Mapping[str, Any], reason: str) -> Permanent:
    """A Permanent naming the order and what to change."""
    return Permanent(f"order {order.get('orderNumber') or order.get('id')}: {reason}")
