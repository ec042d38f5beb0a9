"""A reseller marketplace synced with Xero, sandbox to sandbox on both stores: customers to
contacts (matched, picked by a person, or created), products to items (one item per product
unless shared items are allowed), completed orders to invoices that total their charge lines,
refunds to credit notes, and orders of customers without auto-sync held for approval."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

import xerobridge_marketplace
from xerobridge.clock import FakeClock
from xerobridge.config import sources
from xerobridge.runtime.queue import Queue
from xerobridge.sdk import SourceSandbox
from xerobridge.store.db import Store
from xerobridge.sync.unmapped import decide
from xerobridge.testkit import SyncHarness, csrf_of
from xerobridge_marketplace.sandbox import create_app, describe_state

Harness = Callable[..., SyncHarness]
URL = "http://marketplace.test"


@pytest.fixture
def xb_new_store(xb_stores_on_each: Callable[[], Store]) -> Callable[[], Store]:
    """The harnesses' stores: each test runs on SQLite and on PostgreSQL."""
    return xb_stores_on_each


def _kit(harness: Harness, clock: FakeClock, **settings: str) -> SyncHarness:
    app = create_app(clock, seed=1, customers=6, subscriptions=14, countries=("GB",))
    described = describe_state(app.state.sandbox, URL)
    keys = ("base_url", "username", "password", "marketplace", "subscription_key")
    values = {key: str(described[key]) for key in keys}
    return harness(xerobridge_marketplace, sandbox=SourceSandbox(app=app, settings=values),
                   settings={"auto_sync": "true", **settings})  # fmt: skip


@pytest.fixture
def kit(xb_harness: Harness, xb_clock: FakeClock) -> SyncHarness:
    return _kit(xb_harness, xb_clock)


def _cents(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _with_tax(detail: dict[str, Any]) -> Decimal:
    """A charge line's amount less its discount, with its tax, as the marketplace charges it."""
    discount = _cents((detail.get("salesDiscount") or {}).get("amount", 0))
    return (_cents(detail["salesExtendedPrice"]["amount"]) - discount
            + _cents(detail["salesTaxAmount"]["amount"]))  # fmt: skip


def _orders(kit: SyncHarness) -> list[dict[str, Any]]:
    return [o for o in kit.source_state.orders.values() if o["status"] == "completed"]


def test_every_completed_order_is_an_invoice_that_totals_its_charge_lines(kit: SyncHarness) -> None:
    kit.sync()
    assert kit.failures() == []
    invoices = {i["InvoiceNumber"]: i for i in kit.xero("Invoices")}
    credits = {c["CreditNoteNumber"]: c for c in kit.xero("CreditNotes")}
    for order in _orders(kit):
        lines = order["details"]
        charged = sum((_with_tax(d) for d in lines if not d["type"].endswith("Refund")), Decimal(0))
        refunded = -sum((_with_tax(d) for d in lines if d["type"].endswith("Refund")), Decimal(0))
        if charged:
            assert _cents(invoices[f"KIT-{order['orderNumber']}"]["Total"]) == charged
        if refunded:
            assert _cents(credits[f"KIT-{order['orderNumber']}-CR"]["Total"]) == refunded
    # Each credit note is allocated to the invoice of the order that billed the period it gives
    # back (the sandbox's refunds each give back one earlier order's period).
    notes = [c for c in kit.xero("CreditNotes") if c["CreditNoteNumber"].startswith("KIT-")]
    assert notes, "the generated marketplace has refunds"
    for note in notes:
        order = next(
            o for o in _orders(kit) if f"KIT-{o['orderNumber']}-CR" == note["CreditNoteNumber"]
        )
        start = next(d["startDate"] for d in order["details"] if d["type"].endswith("Refund"))
        billed = [o for o in _orders(kit) if o["subscriptionId"] == order["subscriptionId"]
                  and o["id"] != order["id"] and any(
                      d.get("startDate") and d["startDate"] <= start < (d.get("endDate") or start)
                      and not d["type"].endswith("Refund") for d in o["details"])]  # fmt: skip
        (allocated,) = note["Allocations"]
        assert allocated["Invoice"]["InvoiceNumber"] == f"KIT-{billed[0]['orderNumber']}"
        assert _cents(allocated["Amount"]) == _cents(note["Total"])
    # Open orders wait; they are invoiced once they complete.
    assert not any(
        n.endswith(o) for n in invoices for o in kit.source_state.odd["processing_orders"]
    )


def test_customers_are_matched_by_name_or_email_picked_by_a_person_or_created(
    kit: SyncHarness,
) -> None:
    customers = list(kit.source_state.customers.values())
    named = kit.xero_write("Contact", {"Name": customers[2]["name"]})
    billing = next(p for p in customers[4]["contactPersons"] if p["type"] == "billing")
    emailed = kit.xero_write("Contact", {"Name": "Books Ltd", "EmailAddress": billing["email"]})
    for n in (1, 2):  # two contacts share the last customer's billing email: a person picks
        kit.xero_write("Contact", {"Name": f"Twin {n}", "EmailAddress": "twin@shared.example"})
    last = customers[5]
    for person in last["contactPersons"]:
        person["email"] = "twin@shared.example"
    kit.sync()
    links = {link.record_key: link for link in kit.links("customers")}
    assert links[customers[2]["id"]].xero_id == named["ContactID"]
    assert links[customers[4]["id"]].xero_id == emailed["ContactID"]
    assert links[customers[0]["id"]].method == "created"
    (held,) = [j for j in kit.jobs("held") if j.stream == "customers"]
    assert held.record_key == last["id"] and "twin@shared.example" in held.last_error
    twin = next(c for c in kit.xero("Contacts") if c["Name"] == "Twin 2")
    decide(
        kit.store, kit.plugins, "kit", "customers", last["id"], to=twin["ContactID"], create=False
    )
    kit.sync()
    linked = {lk.record_key: lk.xero_id for lk in kit.links("customers")}
    assert linked[last["id"]] == twin["ContactID"]
    assert kit.jobs("held", "dead") == []


def test_a_product_maps_to_its_existing_item_or_a_new_one_one_item_per_product(
    xb_harness: Harness, xb_clock: FakeClock
) -> None:
    for shared in ("false", "true"):
        kit = _kit(xb_harness, xb_clock, allow_shared_items=shared)
        products = list(kit.source_state.products.values())
        item = kit.xero_write("Item", {"Code": products[0]["mpn"], "Name": products[0]["name"],
                                       "IsSold": True})  # fmt: skip
        kit.sync(stream="products")
        links = {lk.record_key: lk for lk in kit.links("products")}
        assert links[products[0]["id"]].xero_id == item["ItemID"]
        # The organisation's own item is used as it is, not renamed after the product.
        assert kit.xero_state.record("Items", item["ItemID"])["Code"] == products[0]["mpn"]
        assert links[products[1]["id"]].method == "created"
        # A person maps a second product to the same item.
        link = next(lk for lk in kit.links("products") if lk.record_key == products[1]["id"])
        with kit.store.transaction() as s:
            row = s.get(type(link), link.id)
            row.xero_id = item["ItemID"]
            s.add(row)
        kit.clock.advance(600)
        done = len(kit.log())
        kit.sync(stream="products", full=True)
        refused = [r.message for r in kit.log()[done:] if r.status == "error"]
        if shared == "false":
            assert refused and "which product" in refused[0] and "allow_shared_items" in refused[0]
        else:
            assert refused == []
        kit.close()


def test_orders_of_a_customer_without_auto_sync_wait_for_approval(
    xb_harness: Harness, xb_clock: FakeClock
) -> None:
    kit = _kit(xb_harness, xb_clock, auto_sync="false")
    buyers = Counter(o["customerId"] for o in _orders(kit) if _charges(o))
    customer = kit.source_state.customers[buyers.most_common(1)[0][0]]
    sources.update_settings(kit.store, kit.spec, "kit", {"auto_sync": "true"},
                            record=("customers", customer["id"]))  # fmt: skip
    kit.clock.advance(60)
    kit.sync()
    held = [j for j in kit.jobs("held") if j.stream == "orders"]
    assert held and all(j.hold_reason == "approval" for j in held)
    assert all(j.payload["data"]["customerId"] != customer["id"] for j in held)
    ours = [o for o in _orders(kit) if o["customerId"] == customer["id"]]
    billed = {f"KIT-{o['orderNumber']}" for o in ours if _charges(o)}
    assert billed and billed <= {i["InvoiceNumber"] for i in kit.xero("Invoices")}
    Queue(kit.store).approve(job_ids=[held[0].id])
    kit.sync()
    assert held[0].id not in {j.id for j in kit.jobs("held")}


def _charges(order: dict[str, Any]) -> list[dict[str, Any]]:
    """An order's charge lines that are not refunds."""
    return [d for d in order["details"] if not d["type"].endswith("Refund")]


def test_refunds_only_the_quantity_change_leaves_refund_lines_out(
    xb_harness: Harness, xb_clock: FakeClock
) -> None:
    kit = _kit(xb_harness, xb_clock, refunds="quantity_only")
    kit.sync()
    assert kit.xero("CreditNotes") == []
    only_refunds = {o["id"] for o in _orders(kit) if o["details"] and not _charges(o)}
    failed = {r.record_key: r.message for r in kit.failures()}
    assert set(failed) == only_refunds
    for message in failed.values():
        assert "has no line to invoice (only refunds, and refunds is quantity_only)" in message


def test_the_page_maps_customers_and_products_switches_auto_sync_and_decides_orders(
    xb_harness: Harness, xb_clock: FakeClock
) -> None:
    kit = _kit(xb_harness, xb_clock, auto_sync="false")
    kit.sync()
    browser = kit.dashboard()
    html = browser.get("/plugins/marketplace/").text
    state = kit.source_state
    for customer in state.customers.values():
        assert f'{customer["name"]} <span class="help">{customer["id"]}</span>' in html
    for product in state.products.values():
        assert f"<td>{product['name']} <span" in html
    held = [j for j in kit.jobs("held") if j.hold_reason == "approval"]
    assert len(held) >= 2
    token = csrf_of(html)
    first = held[0].payload["data"]["customerId"]
    browser.post(f"/plugins/marketplace/kit/customers/{first}/auto_sync",
                 data={"csrf_token": token, "auto_sync": "on"})  # fmt: skip
    assert (
        f"kit: auto-sync is on for customer {first}." in browser.get("/plugins/marketplace/").text
    )
    with kit.store.transaction() as s:
        own = sources.load_settings(s, sources.get(s, "kit"), kit.spec, record=("customers", first))
    assert own.auto_sync is True
    approve, reject = held[0].record_key, held[1].record_key
    browser.post(
        "/plugins/marketplace/kit/orders/approve", data={"csrf_token": token, "key": [approve]}
    )
    browser.post(
        "/plugins/marketplace/kit/orders/reject", data={"csrf_token": token, "key": [reject]}
    )
    left = {j.record_key: j.state for j in kit.jobs()}
    assert left[approve] == "queued" and reject not in left
    (row,) = [r for r in kit.log() if r.record_key == reject and r.action == "cancelled"]
    assert row.message == "removed from the queue by a person"


def test_one_subscriptions_billing_period_is_never_on_two_invoices(kit: SyncHarness) -> None:
    """An order that charges again a period an earlier order charged (a renewal sent twice)
    leaves that line out; with nothing else to charge it is not invoiced at all."""
    state = kit.source_state
    renewal = next(o for o in _orders(kit) if o["type"] == "renewal")
    kit.sync()
    kit.clock.advance(3600)
    again = state.add_order({
        "type": "renewal", "customerId": renewal["customerId"],
        "subscriptionId": renewal["subscriptionId"], "details": renewal["details"],
    })  # fmt: skip
    extra = {**renewal["details"][0], "type": "handlingFee", "startDate": None, "endDate": None,
             "description": "Handling fee"}  # fmt: skip
    both = state.add_order({
        "type": "renewal", "customerId": renewal["customerId"],
        "subscriptionId": renewal["subscriptionId"], "details": [*renewal["details"], extra],
    })  # fmt: skip
    kit.clock.advance(600)
    kit.sync()
    numbers = {i["InvoiceNumber"]: i for i in kit.xero("Invoices")}
    assert f"KIT-{again['orderNumber']}" not in numbers
    (skipped,) = [r for r in kit.log() if r.record_key == again["id"]]
    assert "its periods are on other orders' invoices" in skipped.message
    lines = numbers[f"KIT-{both['orderNumber']}"]["LineItems"]
    assert [x["Description"] for x in lines] == ["Handling fee"]


_SPAN = re.compile(r"\d\d \w{3} \d{4} to \d\d \w{3} \d{4}$")


def test_over_a_generated_marketplace_each_billing_period_is_on_exactly_one_invoice(
    xb_harness: Harness, xb_clock: FakeClock
) -> None:
    """A check that knows nothing of the plugin: read back from Xero's invoices which period
    of which subscription each line bills (the marketplace writes the period into a charge's
    description), over a generated marketplace where renewals are sent again, some with a fee
    of their own, between syncs."""
    kit = _kit(xb_harness, xb_clock)
    state, rng = kit.source_state, random.Random(7)
    kit.sync()
    for _round in range(3):
        busy = {str(o["subscriptionId"]) for o in state.orders.values()
                if o["status"] not in ("completed", "error", "cancelled")}  # fmt: skip
        renewals = [o for o in _orders(kit)
                    if o["type"] == "renewal" and o["subscriptionId"] not in busy]  # fmt: skip
        for renewal in rng.sample(renewals, min(4, len(renewals))):
            details = list(renewal["details"])
            if rng.random() < 0.5:
                details.append({**details[0], "type": "handlingFee", "startDate": None,
                                "endDate": None, "description": "Handling fee"})  # fmt: skip
            state.add_order(
                {
                    "type": "renewal",
                    "customerId": renewal["customerId"],
                    "subscriptionId": renewal["subscriptionId"],
                    "details": details,
                }
            )
        kit.clock.advance(900)
        kit.sync()
    assert kit.failures() == []
    order_of = {f"KIT-{o['orderNumber']}": o for o in _orders(kit)}
    on_invoices: Counter[tuple[str, str]] = Counter()
    for invoice in kit.xero("Invoices"):
        order = order_of[invoice["InvoiceNumber"]]
        for line in invoice["LineItems"]:
            if _SPAN.search(line["Description"]):
                on_invoices[(str(order["subscriptionId"]), line["Description"])] += 1
    charged = {(str(o["subscriptionId"]), d["description"]) for o in _orders(kit)
               for d in _charges(o) if _SPAN.search(d["description"])}  # fmt: skip
    assert sum(1 for o in _orders(kit) for d in _charges(o) if _SPAN.search(d["description"])) > (
        len(charged)
    ), "the generated marketplace bills some periods twice"
    assert set(on_invoices) == charged  # none lost
    assert [k for k, n in on_invoices.items() if n > 1] == []  # none twice


def test_prices_descriptions_and_numbers_from_xero_or_the_marketplace(
    xb_harness: Harness, xb_clock: FakeClock
) -> None:
    kit = _kit(xb_harness, xb_clock, prices_from="xero", descriptions_from="xero",
               invoice_number_from="xero")  # fmt: skip
    sold = Counter(d["productId"] for o in _orders(kit) for d in _charges(o))
    product = kit.source_state.products[sold.most_common(1)[0][0]]
    kit.xero_write("Item", {"Code": product["mpn"], "Name": "Our own name",
                            "Description": "Our own words", "IsSold": True,
                            "SalesDetails": {"UnitPrice": 7.0, "AccountCode": "200"}})  # fmt: skip
    kit.sync()
    assert kit.failures() == []
    invoices = [i for i in kit.xero("Invoices") if str(i.get("Reference", "")).startswith("KIT-")]
    assert invoices and all(not i["InvoiceNumber"].startswith("KIT-") for i in invoices)
    ours = [x for i in invoices for x in i["LineItems"] if x.get("ItemCode") == product["mpn"]]
    assert ours and all(x["Description"] == "Our own words" for x in ours)
    assert all(abs(float(x["UnitAmount"])) == 7.0 for x in ours)


def test_trimmed_descriptions_are_the_product_name(
    xb_harness: Harness, xb_clock: FakeClock
) -> None:
    kit = _kit(xb_harness, xb_clock, trim_descriptions="true")
    kit.sync()
    names = {p["name"] for p in kit.source_state.products.values()}
    lines = [x for i in kit.xero("Invoices") for x in i["LineItems"] if x.get("ItemCode")]
    assert lines and all(x["Description"] in names for x in lines)


def test_orders_added_to_the_customers_open_invoice_of_the_month(
    xb_harness: Harness, xb_clock: FakeClock
) -> None:
    kit = _kit(xb_harness, xb_clock, invoice_mode="existing", invoice_status="DRAFT")
    kit.sync()
    assert kit.failures() == []
    expected: dict[str, Decimal] = {}
    for order in _orders(kit):
        month = kit.ctx.org.date_of(
            datetime.fromisoformat(order["creationDate"].replace("Z", "+00:00"))
        )
        key = f"KIT-C{order['customerId']}-{month.isoformat()[:7]}"
        charged = sum((_with_tax(d) for d in _charges(order)), Decimal(0))
        if charged:
            expected[key] = expected.get(key, Decimal(0)) + charged
    got = {i["InvoiceNumber"]: _cents(i["Total"]) for i in kit.xero("Invoices")
           if i["InvoiceNumber"].startswith("KIT-C")}  # fmt: skip
    assert got == expected
    assert not [i for i in kit.xero("Invoices") if i["InvoiceNumber"].startswith("KIT-SO")]
    before = kit.xero_writes()
    kit.sync()
    assert kit.xero_writes() == before
