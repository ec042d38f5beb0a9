"""The pure mapping from Magento records to Xero documents, driven by the sandbox's generator."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xerobridge.contract.errors import Permanent, RetryLater
from xerobridge.contract.types import Dependency, XeroDocument
from xerobridge.sdk import posting
from xerobridge_magento import mapping as m
from xerobridge_magento.sandbox import create_app
from xerobridge_magento.sandbox.state import SandboxState
from xerobridge_magento.settings import MagentoSettings

PREFIX = "SHOP"
ACCOUNTS = m.Accounts.codes(sales="200", bank="090", shipping="210", rounding="860")
TAX_MAP = {"20": "OUTPUT2", "5": "RROUTPUT", "0": "ZERORATEDOUTPUT", "19": "OUTPUT", "7": "REDUCED"}
XERO_RATES = {
    "OUTPUT2": Decimal(20),
    "RROUTPUT": Decimal(5),
    "ZERORATEDOUTPUT": Decimal(0),
    "OUTPUT": Decimal(19),
    "REDUCED": Decimal(7),
    "NONE": Decimal(0),
    "LEGACY": Decimal("17.5"),
}


def make_settings(**kwargs: Any) -> MagentoSettings:
    # The hooks resolve an empty default_tax_type from Xero before mapping; these pure
    # mapping tests give it as the hooks would for an Australian organisation.
    values: dict[str, Any] = {
        "base_url": "https://shop.example.com",
        "tax_map": TAX_MAP,
        "default_tax_type": "OUTPUT",
    }
    values.update(kwargs)
    return MagentoSettings(**values)


class AllLinked(dict[tuple[str, str, str], str]):
    """Links where every record is already in Xero, with an id naming it."""

    def get(self, key: tuple[str, str, str], default: Any = None) -> str:  # type: ignore[override]
        return "id:" + ":".join(key)


LINKS = AllLinked()


def P(
    settings: MagentoSettings,
    links: Mapping[tuple[str, str, str], str] = LINKS,
    rates: Mapping[str, Decimal] | None = None,
) -> m.Posting:
    return m.Posting(settings, PREFIX, links, ACCOUNTS, rates)


def full_settings() -> MagentoSettings:
    """Settings whose tax_map covers every rate the sandbox uses, the legacy one included."""
    return make_settings(tax_map={**TAX_MAP, "17.5": "LEGACY"})


@functools.cache
def store(seed: int = 11) -> SandboxState:
    state: SandboxState = create_app(seed=seed, customers=60, products=60, orders=400).state.sandbox
    return state


def total(doc: XeroDocument) -> Decimal:
    return posting.lines.document_total(doc.body, XERO_RATES)


def cents(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


# -- contacts -------------------------------------------------------------------------------------


def test_customer_contact_golden() -> None:
    customer = {
        "id": 42,
        "email": " Ann.Lee@Example.COM ",
        "firstname": "Ann",
        "lastname": "Lee",
        "taxvat": "GB123",
        "default_billing": "7",
        "default_shipping": "8",
        "addresses": [
            {
                "id": 7,
                "street": ["1 High St", "Flat 2"],
                "city": "Leeds",
                "postcode": "LS1",
                "country_id": "GB",
                "telephone": "0113",
                "region": {"region": "Yorks"},
            },
            {"id": 8, "street": ["9 Mill Rd"], "city": "York", "country_id": "GB"},
        ],
    }
    doc = m.customer_to_contact(customer, PREFIX)
    assert doc.natural_key == doc.body["ContactNumber"] == "SHOP-C-42"
    assert doc.body["Name"] == "Ann Lee"
    assert doc.body["EmailAddress"] == "ann.lee@example.com"
    assert doc.body["TaxNumber"] == "GB123"
    assert doc.body["Addresses"] == [
        {
            "AddressType": "POBOX",
            "AddressLine1": "1 High St",
            "AddressLine2": "Flat 2",
            "City": "Leeds",
            "Region": "Yorks",
            "PostalCode": "LS1",
            "Country": "GB",
        },
        {"AddressType": "STREET", "AddressLine1": "9 Mill Rd", "City": "York", "Country": "GB"},
    ]
    assert doc.body["Phones"] == [{"PhoneType": "DEFAULT", "PhoneNumber": "0113"}]
    unique = m.customer_to_contact(customer, PREFIX, with_id=True)
    assert unique.body["Name"] == "Ann Lee (42)"


def test_every_generated_customer_maps_with_a_unique_stable_number() -> None:
    state = store()
    numbers = set()
    for customer in state.customers.records.values():
        doc = m.customer_to_contact(customer, PREFIX)
        again = m.customer_to_contact(dict(customer), PREFIX)
        assert doc == again
        assert len(doc.body["ContactNumber"]) <= 50
        assert 0 < len(doc.body["Name"]) <= 255
        numbers.add(doc.natural_key)
    assert len(numbers) == len(state.customers.records)


def test_odd_customers_are_mapped() -> None:
    state = store()
    odd = state.odd
    script = m.customer_to_contact(state.customers.records[odd["script_customer"]], PREFIX)
    assert script.body["Name"] == "<script>alert('x')</script> O'Brien"  # text, not markup
    for customer_id in odd["unicode_customers"]:
        doc = m.customer_to_contact(state.customers.records[customer_id], PREFIX)
        assert doc.body["Name"] in ("Zoë Łukasiewicz-Ñúñez", "山田 太郎 😀")
    long = state.customers.records[odd["long_name_customer"]]
    doc = m.customer_to_contact(long, PREFIX, with_id=True)
    assert len(doc.body["Name"]) == 255 and doc.body["Name"].endswith(f" ({long['id']})")
    a, b = (state.customers.records[i] for i in odd["same_name_customers"])
    assert m.customer_contact_name(a) == m.customer_contact_name(b)
    assert m.customer_contact_name(a, with_id=True) != m.customer_contact_name(b, with_id=True)


def test_guest_contact_key_by_email() -> None:
    order = {
        "increment_id": "9",
        "customer_email": "Guest@X.org",
        "customer_is_guest": 1,
        "customer_firstname": "G",
        "customer_lastname": "Uest",
        "billing_address": {"street": ["1 A St"], "city": "Bath", "country_id": "GB"},
    }
    doc = m.guest_to_contact(order, PREFIX)
    assert doc.natural_key == "SHOP-G-guest@x.org"
    assert m.contact_dependency(order) == Dependency("guests", "guest@x.org")
    long_email = "a" * 60 + "@example.com"
    key = m.guest_contact_number(PREFIX, long_email)
    assert len(key) <= 50 and key == m.guest_contact_number(PREFIX, long_email.upper())
    assert key != m.guest_contact_number(PREFIX, "b" + long_email)
    with pytest.raises(Permanent, match="order 10: guest order without an email"):
        m.guest_to_contact({"increment_id": "10"}, PREFIX)


def contact(cid: str, name: str, email: str, number: str = "") -> dict[str, Any]:
    return {
        "ContactID": cid,
        "Name": name,
        "EmailAddress": email,
        "ContactNumber": number,
        "ContactStatus": "ACTIVE",
    }


# -- items ----------------------------------------------------------------------------------------


def test_item_code_keeps_short_skus_and_shortens_long_ones() -> None:
    assert m.item_code("SHOP", "ABC-1") == "SHOP-ABC-1"
    long_a = "S011-EXTRA-LONG-STOCK-KEEPING-UNIT-CODE-ALPHA"
    long_b = "S011-EXTRA-LONG-STOCK-KEEPING-UNIT-CODE-BRAVO"
    a, b = m.item_code("SHOP", long_a), m.item_code("SHOP", long_b)
    assert a != b and len(a) == len(b) == 30
    assert a.startswith("SHOP-S011-EXTRA-") and "~" in a
    assert m.item_code("ABCDEFGH", long_a) != m.item_code("ABCDEFGH", long_b)
    assert len(m.item_code("ABCDEFGH", long_a)) == 30


@settings(derandomize=True, deadline=None, max_examples=300)
@given(
    st.lists(
        st.text(min_size=1, max_size=64).filter(str.strip), min_size=2, max_size=8, unique=True
    ),
    st.sampled_from(["S", "SHOP", "ABCDEFGH"]),
)
def test_item_codes_never_collide(skus: list[str], prefix: str) -> None:
    codes = [m.item_code(prefix, sku) for sku in skus]
    assert len(set(codes)) == len(codes)
    assert all(len(code) <= 30 and code.startswith(prefix + "-") for code in codes)


def test_generated_products_map_to_unique_items() -> None:
    state = store()
    codes = {}
    for product in state.products.records.values():
        doc = m.product_to_item(product, P(make_settings()))
        body = doc.body
        assert len(body["Code"]) <= 30 and len(body["Name"]) <= 50
        assert body["IsSold"] and body["IsTrackedAsInventory"] is False
        assert body["SalesDetails"]["AccountCode"] == "200"
        codes[body["Code"]] = product["sku"]
    assert len(codes) == len(state.products.records)
    precise = state.products.records[state.odd["four_decimal_product"]]
    item = m.product_to_item(precise, P(make_settings()))
    assert item.body["SalesDetails"]["UnitPrice"] == 8.3333
    legacy = state.products.records[state.odd["legacy_tax_product"]]
    assert m.product_to_item(legacy, P(make_settings())).body["Description"] == (
        "Legacy rated item"
    )
    with pytest.raises(Permanent, match=r"product 5 .*no SKU"):
        m.product_to_item({"id": 5, "sku": " ", "name": "X"}, P(make_settings()))


# -- invoices -------------------------------------------------------------------------------------


def all_orders() -> list[Mapping[str, Any]]:
    return list(store().orders.records.values())


def test_every_generated_order_totals_to_the_cent() -> None:
    kinds = set()
    rounded = 0
    for order in all_orders():
        doc = m.order_to_invoice(order, P(full_settings(), LINKS, XERO_RATES))
        assert total(doc) == cents(order["grand_total"]), order["increment_id"]
        kinds.add((doc.body["CurrencyCode"], doc.body["LineAmountTypes"]))
        rounding = [ln for ln in doc.body["LineItems"] if ln["AccountCode"] == "860"]
        assert len(rounding) <= 1
        if rounding:
            rounded += 1
            assert rounding[0]["TaxType"] == "NONE" and abs(rounding[0]["UnitAmount"]) <= 0.05
    assert {("GBP", "Exclusive"), ("EUR", "Inclusive")} <= kinds
    assert rounded < len(all_orders()) / 4


def test_invoice_keys_are_stable_and_unique() -> None:
    keys = [m.order_to_invoice(o, P(make_settings())).natural_key for o in all_orders()]
    assert len(set(keys)) == len(keys)
    order = all_orders()[5]
    assert m.order_to_invoice(order, P(make_settings())) == (
        m.order_to_invoice(order, P(make_settings()))
    )


def simple_order(**extra: Any) -> dict[str, Any]:
    order: dict[str, Any] = {
        "entity_id": 7,
        "increment_id": "000000007",
        "created_at": "2026-02-03 23:59:00",
        "customer_id": 42,
        "customer_is_guest": 0,
        "order_currency_code": "GBP",
        "base_currency_code": "GBP",
        "state": "new",
        "total_invoiced": 0,
        "shipping_amount": 4.95,
        "shipping_tax_amount": 0.99,
        "shipping_description": "Flat Rate - Fixed",
        "grand_total": 41.74,
        "items": [
            {
                "item_id": 1,
                "product_id": 3,
                "product_type": "simple",
                "sku": "MUG",
                "name": "Mug",
                "qty_ordered": 3.0,
                "price": 3.3333,
                "price_incl_tax": 4.0,
                "row_total": 10.0,
                "row_total_incl_tax": 12.0,
                "tax_amount": 1.8,
                "discount_amount": 1.0,
                "tax_percent": 20.0,
            },
            {
                "item_id": 2,
                "product_id": 9,
                "product_type": "configurable",
                "sku": "TEE-RED",
                "name": "Tee",
                "qty_ordered": 1.0,
                "price": 25.0,
                "price_incl_tax": 25.0,
                "row_total": 25.0,
                "row_total_incl_tax": 25.0,
                "tax_amount": 0.0,
                "discount_amount": 0.0,
                "tax_percent": 0.0,
            },
            {
                "item_id": 3,
                "parent_item_id": 2,
                "product_id": 10,
                "product_type": "simple",
                "sku": "TEE-RED",
                "name": "Tee-Red",
                "qty_ordered": 1.0,
                "price": 0.0,
                "row_total": 0.0,
                "tax_percent": 0.0,
            },
        ],
    }
    order.update(extra)
    return order


def test_invoice_golden() -> None:
    settings_ = make_settings(admin_url="https://shop.example.com/admin/")
    doc = m.order_to_invoice(simple_order(), P(settings_))
    body = doc.body
    assert doc.key_field == "InvoiceNumber" and doc.natural_key == "SHOP-000000007"
    assert body["Type"] == "ACCREC" and body["Status"] == "DRAFT"
    assert body["Contact"] == {"ContactID": "id:customers:42:main"}
    assert body["Date"] == body["DueDate"] == "2026-02-03"
    assert body["LineAmountTypes"] == "Exclusive" and body["CurrencyCode"] == "GBP"
    assert body["Url"] == "https://shop.example.com/admin/sales/order/view/order_id/7/"
    mug, tee, ship = body["LineItems"]
    rounding = None
    assert mug == {
        "Description": "Mug",
        "Quantity": 3.0,
        "UnitAmount": 3.3333,
        "AccountCode": "200",
        "TaxType": "OUTPUT2",
        "ItemCode": "SHOP-MUG",
        "DiscountAmount": 1.0,
    }
    assert tee["Description"] == "Tee-Red" and tee["TaxType"] == "ZERORATEDOUTPUT"
    assert ship["AccountCode"] == "210" and ship["UnitAmount"] == 4.95
    assert rounding is None


def test_invoice_golden_rounding_line() -> None:
    order = simple_order(grand_total=41.75)
    body = m.order_to_invoice(order, P(make_settings())).body
    assert body["LineItems"][-1] == {
        "Description": "Rounding",
        "Quantity": 1.0,
        "UnitAmount": 0.01,
        "AccountCode": "860",
        "TaxType": "NONE",
    }
    exact = m.order_to_invoice(simple_order(grand_total=41.74), P(make_settings())).body
    assert [ln["Description"] for ln in exact["LineItems"]] == [
        "Mug",
        "Tee-Red",
        "Flat Rate - Fixed",
    ]
    with pytest.raises(Permanent, match=r"order 000000007: Xero would total 41.74 .* 44.37"):
        m.order_to_invoice(simple_order(grand_total=44.37), P(make_settings()))


def test_invoice_number_from_xero_uses_reference() -> None:
    doc = m.order_to_invoice(
        simple_order(grand_total=41.74), P(make_settings(invoice_number_from="xero"))
    )
    assert doc.key_field == "Reference" and "InvoiceNumber" not in doc.body
    assert doc.body["Reference"] == "SHOP-000000007"


def test_configurable_and_bundle_counted_once() -> None:
    state = store()
    for key in ("configurable_order", "bundle_order"):
        order = state.orders.records[state.odd[key]]
        doc = m.order_to_invoice(order, P(make_settings()))
        lines = [ln for ln in doc.body["LineItems"] if "ItemCode" in ln]
        assert len(lines) == len(m.money_items(order))
        assert all(len(ln["ItemCode"]) <= 30 for ln in lines)
        assert total(doc) == cents(order["grand_total"])


def test_invoice_validation_messages() -> None:
    no_sku = simple_order(grand_total=41.74)
    no_sku["items"][0]["sku"] = ""
    with pytest.raises(Permanent, match=r"order 000000007: line 1 \(Mug\) has no SKU"):
        m.order_to_invoice(no_sku, P(make_settings()))
    with pytest.raises(RetryLater, match="customer 42 is not in Xero yet"):
        m.order_to_invoice(simple_order(), P(make_settings(), {}))
    only_customer = {("customers", "42", "main"): "c42"}
    with pytest.raises(RetryLater, match=r"product 3 \(MUG\) is not in Xero yet"):
        m.order_to_invoice(simple_order(), P(make_settings(), only_customer))
    with pytest.raises(Permanent, match="order currency 'missing'"):
        m.order_to_invoice(simple_order(order_currency_code=None), P(make_settings()))


def test_legacy_tax_rate_fails_clearly_with_xero_rates() -> None:
    state = store()
    order = state.orders.records[state.odd["legacy_tax_order"]]
    with pytest.raises(Permanent, match=r"17.5% in Magento but maps to TaxType 'OUTPUT' at 19"):
        m.order_to_invoice(order, P(make_settings(), LINKS, XERO_RATES))
    mapped = make_settings(tax_map={**TAX_MAP, "17.5": "LEGACY"})
    doc = m.order_to_invoice(order, P(mapped, LINKS, {**XERO_RATES, "LEGACY": Decimal("17.5")}))
    assert "LEGACY" in {ln["TaxType"] for ln in doc.body["LineItems"]}


def test_order_needs() -> None:
    needs = m.order_needs(simple_order())
    assert [(d.stream, d.key) for d in needs] == [
        ("customers", "42"),
        ("products", "3"),
        ("products", "10"),
    ]


# -- Magento invoices and payments ----------------------------------------------------------------


def test_magento_invoices_authorise_and_pay() -> None:
    state = store()
    paid = 0
    for invoice in state.invoices.records.values():
        order = state.orders.records[invoice["order_id"]]
        docs = m.magento_invoice_to_xero(invoice, order, P(make_settings()))
        main = m.order_to_invoice(order, P(make_settings()))
        assert docs[0] == main and main.body["Status"] == "AUTHORISED"
        if m.is_paid(invoice):
            paid += 1
            payment = docs[1]
            assert payment.role == "payment"
            assert payment.natural_key == f"SHOP-PAY-{invoice['increment_id']}"
            assert payment.body["Amount"] == float(cents(invoice["grand_total"]))
            assert payment.body["Account"] == {"Code": "090"}
            assert payment.body["Invoice"] == {"InvoiceID": f"id:orders:{order['entity_id']}:main"}
            foreign = order["order_currency_code"] != order["base_currency_code"]
            assert ("CurrencyRate" in payment.body) is foreign
        else:
            assert len(docs) == 1
    assert paid


# -- credit notes ---------------------------------------------------------------------------------


def test_every_credit_memo_totals_to_the_cent_and_allocates() -> None:
    state = store()
    memos = list(state.creditmemos.records.values())
    assert memos
    partial = 0
    for memo in memos:
        order = state.orders.records[memo["order_id"]]
        doc = m.creditmemo_to_credit_note(memo, order, P(full_settings(), LINKS, XERO_RATES))
        assert doc.body["Type"] == "ACCRECCREDIT"
        assert doc.natural_key == f"SHOP-CM-{memo['increment_id']}"
        assert total(doc) == cents(memo["grand_total"]), memo["increment_id"]
        refunded = sum(
            Decimal(str(ln["Quantity"])) for ln in doc.body["LineItems"] if "ItemCode" in ln
        )
        ordered = sum(Decimal(str(i["qty_ordered"])) for i in m.money_items(order))
        partial += refunded < ordered
        allocation = m.creditmemo_allocation(memo, order, P(make_settings()))
        assert allocation.role == "allocation"
        assert allocation.body["Amount"] == float(cents(memo["grand_total"]))
    assert partial


def test_credit_memo_adjustments_are_lines() -> None:
    order = simple_order(grand_total=41.74, total_invoiced=41.74)
    memo = {
        "entity_id": 3,
        "increment_id": "000000003",
        "order_id": 7,
        "created_at": "2026-02-10 10:00:00",
        "order_currency_code": "GBP",
        "shipping_amount": 0,
        "adjustment_positive": 5.0,
        "adjustment_negative": 2.5,
        "grand_total": 15.3,
        "items": [
            {
                "order_item_id": 1,
                "qty": 1.0,
                "price": 3.3333,
                "price_incl_tax": 4.0,
                "row_total": 3.33,
                "row_total_incl_tax": 4.0,
                "discount_amount": 0.33,
                "tax_amount": 0.6,
            }
        ],
    }
    # Xero: 3.33 - 0.33 = 3.00 + 0.60 tax + 5.00 - 2.50 = 6.10; Magento 6.10 too.
    memo["grand_total"] = 6.1
    doc = m.creditmemo_to_credit_note(memo, order, P(make_settings()))
    # Xero takes no discounts on credit notes: the discount is inside the unit amount.
    assert [(ln["Description"], ln["UnitAmount"]) for ln in doc.body["LineItems"]] == [
        ("Mug", 3.0033),
        ("Adjustment refund", 5.0),
        ("Adjustment fee", -2.5),
    ]
    assert not any("DiscountAmount" in ln for ln in doc.body["LineItems"])
    with pytest.raises(RetryLater, match="credit memo 000000003 is not in Xero yet"):
        m.creditmemo_allocation(memo, order, P(make_settings(), {("orders", "7", "main"): "inv"}))
    memo["items"][0]["order_item_id"] = 99
    with pytest.raises(Permanent, match="credit memo 000000003: refunds order item 99"):
        m.creditmemo_to_credit_note(memo, order, P(make_settings()))
