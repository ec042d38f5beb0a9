"""The Magento plugin's hooks, called the way the engine calls them, against the sandbox.

The engine is not involved: a dict-backed LinkView and an in-memory XeroMirror stand in for
the core's own interfaces, and each test drives fetch -> map_record -> to_xero by hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

import xerobridge_magento
from xerobridge.clock import FakeClock
from xerobridge.contract.context import OrgFacts, SourceContext
from xerobridge.contract.errors import NeedsPerson, Permanent, RetryLater
from xerobridge.contract.plugins import Plugins, aiterate, register_module
from xerobridge.contract.types import Change, CursorKind, Dependency, Resolution, XeroDocument
from xerobridge.sdk import posting
from xerobridge.testkit.context import make_context
from xerobridge_magento import mapping as m
from xerobridge_magento.sandbox import SandboxState, create_app
from xerobridge_magento.settings import MagentoSettings
from xerobridge_magento.streams import ORDER_KEY, make_client

from magento_helpers import BASE, TOKEN

PREFIX = "SHOP"
TAX_MAP = {"20": "OUTPUT2", "5": "RROUTPUT", "0": "ZERORATEDOUTPUT", "19": "OUTPUT", "7": "REDUCED"}
XERO_RATES = {
    "OUTPUT2": "20",
    "RROUTPUT": "5",
    "ZERORATEDOUTPUT": "0",
    "OUTPUT": "19",
    "REDUCED": "7",
    "NONE": "0",
}
ACCOUNTS = [
    {"AccountID": "acc-090", "Code": "090", "Name": "Magento Payments", "Type": "BANK"},
    {"AccountID": "acc-091", "Code": "091", "Name": "Cash Box", "Type": "BANK"},
    {"AccountID": "acc-200", "Code": "200", "Name": "Sales", "Type": "REVENUE"},
    {"AccountID": "acc-210", "Code": "210", "Name": "Freight", "Type": "REVENUE"},
    {"AccountID": "acc-860", "Code": "860", "Name": "Rounding", "Type": "CURRLIAB"},
]

PLUGINS = Plugins([register_module(xerobridge_magento, "magento")])
SPEC = PLUGINS.spec("magento")


# -- test doubles of the core's interfaces --------------------------------------------------------


class Links(dict[tuple[str, str, str], str]):
    """A LinkView over a dict (stream, key, role) -> Xero id; also the `links` of to_xero."""

    def xero_id(self, stream: str, key: str, role: str = "main") -> str | None:
        return self.get((stream, key, role))

    def source_key(self, xero_object: str, xero_id: str) -> tuple[str, str] | None:
        for (stream, key, _role), value in self.items():
            if value == xero_id:
                return stream, key
        return None


def fold(text: Any) -> str:
    return str(text or "").strip().casefold()


class Mirror:
    """An in-memory XeroMirror: look-ups fold case, and by email/name see only active contacts."""

    def __init__(
        self,
        *,
        contacts: Iterable[Mapping[str, Any]] = (),
        items: Iterable[Mapping[str, Any]] = (),
        accounts: Iterable[Mapping[str, Any]] = ACCOUNTS,
        tax_rates: Mapping[str, str] = XERO_RATES,
    ) -> None:
        self._contacts = [dict(c) for c in contacts]
        self._items = [dict(i) for i in items]
        self._accounts = [{"Status": "ACTIVE", **a} for a in accounts]
        self._tax_rates = [
            {"TaxType": t, "EffectiveRate": r, "DisplayTaxRate": r, "Status": "ACTIVE"}
            for t, r in tax_rates.items()
        ]

    def contacts(self) -> list[Mapping[str, Any]]:
        return list(self._contacts)

    def items(self) -> list[Mapping[str, Any]]:
        return list(self._items)

    def accounts(self) -> list[Mapping[str, Any]]:
        return list(self._accounts)

    def tax_rates(self) -> list[Mapping[str, Any]]:
        return list(self._tax_rates)

    def tracking_categories(self) -> list[Mapping[str, Any]]:
        return []

    def contact_by_number(self, number: str) -> Mapping[str, Any] | None:
        return next((c for c in self._contacts if c.get("ContactNumber") == number), None)

    def _active(self) -> list[Mapping[str, Any]]:
        return [c for c in self._contacts if c.get("ContactStatus", "ACTIVE") == "ACTIVE"]

    def contacts_by_email(self, email: str) -> list[Mapping[str, Any]]:
        return [c for c in self._active() if fold(c.get("EmailAddress")) == fold(email)]

    def contacts_by_name(self, name: str) -> list[Mapping[str, Any]]:
        return [c for c in self._active() if fold(c.get("Name")) == fold(name)]

    def item_by_code(self, code: str) -> Mapping[str, Any] | None:
        return next((i for i in self._items if i.get("Code") == code), None)

    def account_by_code(self, code: str) -> Mapping[str, Any] | None:
        return next((a for a in self._accounts if a.get("Code") == code), None)

    def account_by_name(self, name: str) -> Mapping[str, Any] | None:
        return next(
            (
                a
                for a in self._accounts
                if fold(a.get("Name")) == fold(name) and a["Status"] == "ACTIVE"
            ),
            None,
        )


# -- harness --------------------------------------------------------------------------------------


def store(seed: int = 7, **counts: int) -> tuple[Any, SandboxState]:
    """A generated sandbox store on a fake clock."""
    sizes = {"customers": 30, "products": 30, "orders": 60, **counts}
    app = create_app(FakeClock(datetime(2026, 3, 1, 12, tzinfo=UTC)), seed=seed, **sizes)
    return app, app.state.sandbox


def settings(**values: Any) -> MagentoSettings:
    base: dict[str, Any] = {"base_url": BASE, "token": TOKEN, "tax_map": TAX_MAP, "page_size": 7}
    base.update(values)
    return MagentoSettings(**base)


def context(
    http: httpx.AsyncClient | None = None,
    *,
    mirror: Mirror | None = None,
    links: Links | None = None,
    extra: dict[str, Any] | None = None,
    **values: Any,
) -> SourceContext:
    extra = extra or {}
    return make_context(
        settings(**values),
        plugin="magento",
        key_prefix=PREFIX,
        http=http,
        links=links if links is not None else Links(),
        mirror=mirror if mirror is not None else Mirror(),
        client_factory=make_client,
        account_settings=[need.setting for need in xerobridge_magento.source.xero_accounts],
        org=OrgFacts(
            base_currency=str(extra.get("base_currency", "")),
            timezone=str(extra.get("timezone", "")),
            currencies=frozenset(extra.get("currencies", ())),
        ),
    )


def with_http(app: Any, work: Any) -> Any:
    """Run `await work(http)` with an httpx client on the app, in a fresh event loop."""

    async def go() -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            return await work(http)

    return asyncio.run(go())


async def fetch(ctx: SourceContext, stream: str, cursor: str | None = None) -> list[Change]:
    result = PLUGINS.call(
        "magento", "fetch_changes", ctx=ctx, stream=SPEC.stream(stream), cursor=cursor, until=None
    )
    return [c async for c in aiterate(result)]


async def records(ctx: SourceContext, stream: str, keys: list[str]) -> list[Change]:
    result = PLUGINS.call(
        "magento", "fetch_records", ctx=ctx, stream=SPEC.stream(stream), keys=keys
    )
    return [c async for c in aiterate(result)]


def read(app: Any, stream: str, keys: list[str], **values: Any) -> list[Change]:
    """fetch_records through the plugin, outside any other test context."""
    return with_http(app, lambda http: records(context(http, **values), stream, keys))


def map_record(ctx: SourceContext, change: Change) -> Any:
    return asyncio.run(PLUGINS.acall("magento", "map_record", ctx=ctx, change=change))


def to_xero(
    ctx: SourceContext,
    change: Change,
    links: Mapping[Any, str],
    resolution: Resolution | None = None,
) -> list[XeroDocument]:
    """to_xero through the plugin, with what map_record decided (by default: create)."""
    result: list[XeroDocument] = asyncio.run(
        PLUGINS.acall(
            "magento",
            "to_xero",
            ctx=ctx,
            change=change,
            links=links,
            resolution=resolution or Resolution.create(),
        )
    )
    return result


def dependency_links(order: Mapping[str, Any]) -> Links:
    """Links for everything an order's invoice needs, and for the order's invoice itself."""
    links = Links(
        {(d.stream, d.key, d.role): f"id-{d.stream}-{d.key}" for d in m.order_needs(order)}
    )
    links[("orders", str(order["entity_id"]), "main")] = f"inv-{order['entity_id']}"
    return links


def needed_links(ctx: SourceContext, change: Change) -> Links:
    """What the engine passes to_xero: links of exactly the records map_record said it needs."""
    resolution = map_record(ctx, change)
    return Links(
        {
            (d.stream, d.key, d.role): f"inv-{d.key}"
            if d.stream == "orders"
            else f"id-{d.stream}-{d.key}"
            for d in resolution.needs
        }
    )


def order_where(sandbox: SandboxState, **wanted: Any) -> dict[str, Any]:
    for order in sandbox.orders:
        if all(order.get(k) == v for k, v in wanted.items()):
            return order
    raise LookupError(wanted)


# -- loading --------------------------------------------------------------------------------------


def test_the_plugin_loads_with_its_hooks_and_the_guests_stream() -> None:
    info = PLUGINS.infos["magento"]
    assert info.status == "ok", info.error
    assert set(info.hooks) >= {
        "source_spec",
        "fetch_changes",
        "fetch_records",
        "map_record",
        "to_xero",
        "register_commands",
    }
    guests = SPEC.stream("guests")
    assert (guests.xero_object, guests.cursor, guests.title) == (
        "Contact",
        CursorKind.NONE,
        "Guest customers",
    )
    assert "guests" in SPEC.stream("orders").depends_on
    assert SPEC.sandbox is not None


# -- fetch_changes --------------------------------------------------------------------------------


def test_fetch_changes_reads_everything_oldest_first_exactly_once() -> None:
    app, state = store()

    async def work(http: httpx.AsyncClient) -> dict[str, list[Change]]:
        ctx = context(http)
        return {s: await fetch(ctx, s) for s in ("customers", "products", "orders", "invoices")}

    got = with_http(app, work)
    for stream, coll in (
        ("customers", state.customers),
        ("products", state.products),
        ("orders", state.orders),
        ("invoices", state.invoices),
    ):
        changes = got[stream]
        assert sorted(int(c.key) for c in changes) == sorted(coll.records), stream
        stamps = [c.updated_at for c in changes]
        assert all(s is not None and s.tzinfo is not None for s in stamps)
        assert stamps == sorted(stamps), f"{stream} not oldest first"
        assert all(c.stream == stream and c.op == "upsert" for c in changes)


def test_fetch_changes_by_cursor_reads_only_changed_records_once_across_pages() -> None:
    app, state = store()
    clock = state.clock
    assert isinstance(clock, FakeClock)
    clock.advance(3600)
    cursor = clock.now().isoformat()
    # Ten edits in one second, more than the page size of 7: paging must not skip or repeat.
    edited = [2, 5, 9, 11, 13, 17, 19, 21, 23, 29]
    for customer_id in edited:
        state.edit_customer(customer_id, lastname=f"Edited{customer_id}")
    clock.advance(5)
    state.edit_customer(3, lastname="Later")

    changes = with_http(app, lambda http: fetch(context(http), "customers", cursor))
    keys = [c.key for c in changes]
    assert keys == [str(i) for i in edited] + ["3"]
    assert changes[-1].data["lastname"] == "Later"
    assert changes[-1].updated_at is not None and changes[0].updated_at is not None
    assert changes[-1].updated_at > changes[0].updated_at


def test_invoices_and_credit_memos_carry_their_order() -> None:
    app, state = store()

    async def work(http: httpx.AsyncClient) -> tuple[list[Change], list[Change]]:
        ctx = context(http)
        return await fetch(ctx, "invoices"), await fetch(ctx, "credit_memos")

    invoices, memos = with_http(app, work)
    assert memos and invoices
    for change in [*invoices, *memos]:
        order = change.data[ORDER_KEY]
        assert order["entity_id"] == change.data["order_id"]
        assert order == state.orders.get(change.data["order_id"])


def test_disabled_streams_and_the_guests_stream_yield_nothing() -> None:
    app, _ = store()

    async def work(http: httpx.AsyncClient) -> tuple[list[Change], list[Change]]:
        ctx = context(http, disabled_streams=["orders"])
        return await fetch(ctx, "orders"), await fetch(ctx, "guests")

    assert with_http(app, work) == ([], [])


def test_store_filter_reads_only_the_chosen_store_views_and_websites() -> None:
    app, state = store()
    state.products.records[4]["extension_attributes"]["website_ids"] = [1]  # not on website 2

    async def work(http: httpx.AsyncClient) -> dict[str, list[Change]]:
        ctx = context(http, store_ids=["2"])
        return {s: await fetch(ctx, s) for s in ("orders", "invoices", "customers", "products")}

    got = with_http(app, work)
    de_orders = {o["entity_id"] for o in state.orders if o["store_id"] == 2}
    assert de_orders and {int(c.key) for c in got["orders"]} == de_orders
    assert {c.data["store_id"] for c in got["invoices"]} == {2}
    de_customers = {c["id"] for c in state.customers if c["website_id"] == 2}
    assert de_customers and {int(c.key) for c in got["customers"]} == de_customers
    assert "4" not in {c.key for c in got["products"]}
    assert len(got["products"]) == len(state.products) - 1


def test_an_unknown_store_view_in_the_filter_needs_a_person() -> None:
    app, _ = store()
    with pytest.raises(NeedsPerson, match=r"store_ids setting names store view 9"):
        with_http(app, lambda http: fetch(context(http, store_ids=["9"]), "customers"))


def test_magento_down_is_retry_later() -> None:
    app, state = store()
    state.add_fault(503, times=5)
    with pytest.raises(RetryLater, match="503"):
        with_http(app, lambda http: fetch(context(http), "orders"))


# -- fetch_records --------------------------------------------------------------------------------


def test_fetch_records_leaves_out_deleted_customers_and_products() -> None:
    app, state = store()
    assert state.delete_customer(5)
    sku = state.products.records[6]["sku"]
    assert state.delete_product(sku)

    customers = read(app, "customers", ["4", "5", "6", "not-an-id"])
    products = read(app, "products", ["6", "7"])
    assert [c.key for c in customers] == ["4", "6"]
    assert [c.key for c in products] == ["7"]
    assert customers[0].data["id"] == 4


def test_fetch_records_ignores_the_store_filter() -> None:
    """A customer of another website is still read when an order of ours needs it."""
    app, state = store()
    gb = next(c["id"] for c in state.customers if c["website_id"] == 1)
    assert [c.key for c in read(app, "customers", [str(gb)], store_ids=["2"])] == [str(gb)]


def test_fetch_records_finds_a_guest_by_email() -> None:
    app, state = store()
    guest = order_where(state, customer_is_guest=1)
    email = guest["customer_email"]
    newest = max(
        (o for o in state.orders if o["customer_email"] == email and o["customer_is_guest"]),
        key=lambda o: (o["created_at"], o["entity_id"]),
    )

    found = read(app, "guests", [email.upper(), "nobody@example.com"])
    assert [(c.stream, c.key) for c in found] == [("guests", email.lower())]
    assert found[0].data["entity_id"] == newest["entity_id"]


def test_a_deleted_customers_orders_become_a_guest_contact() -> None:
    app, state = store()
    order = order_where(state, customer_is_guest=0)
    customer_id = order["customer_id"]
    email = state.customers.records[customer_id]["email"]
    state.delete_customer(customer_id)

    assert m.order_needs(state.orders.get(order["entity_id"]))[0] == Dependency("guests", email)
    found = read(app, "guests", [email])
    assert [c.key for c in found] == [email]
    assert found[0].data["customer_email"] == email


# -- map_record -----------------------------------------------------------------------------------


def customer_change(**data: Any) -> Change:
    record = {"id": 7, "firstname": "Jane", "lastname": "Doe", "email": "jane@example.com"}
    record.update(data)
    return Change("customers", str(record["id"]), data=record)


def test_customers_link_to_our_own_contact_number_first() -> None:
    mirror = Mirror(
        contacts=[
            {"ContactID": "other", "Name": "Jane Doe", "EmailAddress": "jane@example.com"},
            {"ContactID": "ours", "Name": "Jane D", "ContactNumber": "SHOP-C-7"},
        ]
    )
    resolution = map_record(context(mirror=mirror), customer_change())
    assert (resolution.action, resolution.xero_id) == ("link", "ours")


def test_customers_match_by_email_then_by_name_per_setting() -> None:
    by_email = Mirror(
        contacts=[{"ContactID": "c1", "Name": "J. Doe", "EmailAddress": "JANE@example.com"}]
    )
    by_name = Mirror(contacts=[{"ContactID": "c2", "Name": "jane doe", "EmailAddress": "x@y.z"}])
    change = customer_change()

    assert map_record(context(mirror=by_email), change).xero_id == "c1"
    assert map_record(context(mirror=by_name), change).xero_id == "c2"
    assert map_record(context(mirror=by_name, match_contacts="email"), change).action == "create"
    assert map_record(context(mirror=by_email, match_contacts="none"), change).action == "create"
    assert map_record(context(mirror=Mirror()), change).action == "create"


def test_two_contacts_with_the_email_ask_a_person_to_choose() -> None:
    mirror = Mirror(
        contacts=[
            {"ContactID": "b", "Name": "Jane Doe (work)", "EmailAddress": "jane@example.com"},
            {"ContactID": "a", "Name": "Jane Doe (home)", "EmailAddress": "jane@example.com"},
            {
                "ContactID": "z",
                "Name": "Archived",
                "EmailAddress": "jane@example.com",
                "ContactStatus": "ARCHIVED",
            },
        ]
    )
    resolution = map_record(context(mirror=mirror), customer_change())
    assert resolution.action == "choose"
    assert [c.xero_id for c in resolution.candidates] == ["a", "b"]
    assert "jane@example.com" in resolution.reason


def test_a_linked_customer_is_pushed_without_matching_again() -> None:
    mirror = Mirror(
        contacts=[
            {"ContactID": "c1", "Name": "X", "EmailAddress": "jane@example.com"},
            {"ContactID": "c2", "Name": "Y", "EmailAddress": "jane@example.com"},
        ]
    )
    links = Links({("customers", "7", "main"): "c2"})
    assert map_record(context(mirror=mirror, links=links), customer_change()).action == "create"


def test_products_link_by_item_code_or_are_created() -> None:
    mirror = Mirror(items=[{"ItemID": "item-1", "Code": "SHOP-ABC-1"}])
    found = Change("products", "3", data={"id": 3, "sku": "ABC-1", "price": 5})
    new = Change("products", "4", data={"id": 4, "sku": "ABC-2", "price": 5})
    assert map_record(context(mirror=mirror), found).xero_id == "item-1"
    assert map_record(context(mirror=mirror), new).action == "create"


def test_orders_need_their_contact_and_products() -> None:
    _, state = store()
    registered = order_where(state, customer_is_guest=0)
    guest = order_where(state, customer_is_guest=1)

    resolution = map_record(
        context(), Change("orders", str(registered["entity_id"]), data=registered)
    )
    assert resolution.action == "create"
    assert resolution.needs == m.order_needs(registered)
    assert resolution.needs[0] == Dependency("customers", str(registered["customer_id"]))
    products = resolution.needs[1:]
    assert products and all(d.stream == "products" for d in products)
    assert all(state.products.get(d.key) is not None for d in products)

    guest_needs = map_record(context(), Change("orders", str(guest["entity_id"]), data=guest)).needs
    assert guest_needs[0] == Dependency("guests", guest["customer_email"].lower())


def test_a_cancelled_order_not_in_xero_is_skipped() -> None:
    _, state = store()
    cancelled = dict(order_where(state, state="new"), state="canceled")
    key = str(cancelled["entity_id"])
    assert map_record(context(), Change("orders", key, data=cancelled)).action == "skip"
    linked = Links({("orders", key, "main"): "inv-1"})
    assert (
        map_record(context(links=linked), Change("orders", key, data=cancelled)).action == "create"
    )


def test_invoices_and_credit_memos_need_their_order_and_what_it_needs() -> None:
    """Their documents name the order's contact and items too, so those are needs as well."""
    app, state = store()
    memo = next(iter(state.creditmemos))
    invoice = next(iter(state.invoices))
    (invoice_change,) = read(app, "invoices", [str(invoice["entity_id"])])
    (memo_change,) = read(app, "credit_memos", [str(memo["entity_id"])])
    invoice_order = invoice_change.data[ORDER_KEY]
    memo_order = memo_change.data[ORDER_KEY]

    assert map_record(context(), invoice_change).needs == (
        Dependency("orders", str(invoice["order_id"])),
        *m.order_needs(invoice_order),
    )
    # A paid order's refund is money back, which needs no invoice state in Xero.
    assert map_record(context(), memo_change).needs == (
        Dependency("orders", str(memo["order_id"])),
        *m.order_needs(memo_order),
    )
    # Unpaid, the credit note is allocated: the Magento invoice must have authorised the invoice.
    unpaid = Change(
        "credit_memos",
        memo_change.key,
        data={**memo_change.data, ORDER_KEY: {**memo_order, "total_paid": 0}},
    )
    assert map_record(context(), unpaid).needs == (
        Dependency("orders", str(memo["order_id"])),
        *m.order_needs(memo_order),
        Dependency("invoices", str(memo["invoice_id"])),
    )


def test_check_source_names_the_store_views_or_the_setting_to_fix(clock: FakeClock) -> None:
    app = create_app(seed=1, customers=1, products=1, orders=0, clock=clock)

    def check(**values: Any) -> Any:
        async def go(http: httpx.AsyncClient) -> Any:
            return await PLUGINS.acall("magento", "check_source", ctx=context(http, **values))

        return with_http(app, go)

    assert check() == "Magento store with store views default (GBP), de (GBP)"
    with pytest.raises(NeedsPerson, match=r"rejected the access token.*`token` setting"):
        check(token="stale")
    with pytest.raises(NeedsPerson, match=r"no REST route.*`base_url`"):
        check(base_url=f"{BASE}/shop")


def test_deletions_are_skipped_saying_xero_keeps_the_object() -> None:
    resolution = map_record(context(), Change("customers", "5", op="delete"))
    assert resolution.action == "skip"
    assert "customers 5 was deleted in Magento" in resolution.reason
    assert "never deletes Xero objects" in resolution.reason
    deleted = Change("products", "5", op="delete")
    assert to_xero(context(), deleted, Links(), map_record(context(), deleted)) == []


# -- to_xero --------------------------------------------------------------------------------------


def test_customers_and_products_become_contacts_and_items() -> None:
    contact = to_xero(context(), customer_change(), Links())
    assert [(d.kind, d.natural_key, d.body["Name"]) for d in contact] == [
        ("Contact", "SHOP-C-7", "Jane Doe")
    ]
    item = to_xero(
        context(), Change("products", "3", data={"id": 3, "sku": "ABC", "price": 5}), Links()
    )
    assert item[0].natural_key == "SHOP-ABC"
    assert item[0].body["SalesDetails"]["AccountCode"] == "200"


def test_a_contact_name_taken_by_another_contact_gets_the_customer_id() -> None:
    """map_record tells from the mirror that the name is taken; to_xero only reads that."""
    mirror = Mirror(contacts=[{"ContactID": "x", "Name": "Jane Doe", "ContactNumber": "SHOP-C-1"}])
    resolution = map_record(context(mirror=mirror), customer_change())
    assert resolution.facts == {"name_taken": True}
    (doc,) = to_xero(context(mirror=mirror), customer_change(), Links(), resolution)
    assert doc.body["Name"] == "Jane Doe (7)"
    # to_xero looks nothing up: without the mirror's contact it builds the same document.
    assert to_xero(context(), customer_change(), Links(), resolution) == [doc]
    # The contact we are linked to does not count as taking the name.
    linked = Links({("customers", "7", "main"): "x"})
    resolution = map_record(context(mirror=mirror, links=linked), customer_change())
    assert resolution.facts == {}
    (own,) = to_xero(context(mirror=mirror, links=linked), customer_change(), linked, resolution)
    assert own.body["Name"] == "Jane Doe"


def test_a_guest_becomes_a_contact_keyed_by_email() -> None:
    app, state = store()
    guest = order_where(state, customer_is_guest=1)
    (change,) = read(app, "guests", [guest["customer_email"]])
    assert map_record(context(), change).action == "create"
    (doc,) = to_xero(context(), change, Links())
    assert doc.natural_key == m.guest_contact_number(PREFIX, guest["customer_email"])
    assert doc.body["EmailAddress"] == guest["customer_email"].lower()


def test_an_order_becomes_an_invoice_totalling_the_grand_total() -> None:
    _, state = store()
    order = order_where(state, store_id=1, state="processing", customer_is_guest=0)
    if order["entity_id"] == state.odd.get("legacy_tax_order"):
        pytest.skip("the generator's legacy order")
    (doc,) = to_xero(
        context(), Change("orders", str(order["entity_id"]), data=order), dependency_links(order)
    )
    assert doc.kind == "Invoice" and doc.natural_key == f"SHOP-{order['increment_id']}"
    assert doc.body["Status"] == "AUTHORISED"
    assert doc.body["Contact"] == {"ContactID": f"id-customers-{order['customer_id']}"}
    rates = {k: Decimal(v) for k, v in XERO_RATES.items()}
    total = posting.lines.document_total(doc.body, rates)
    assert total == Decimal(str(order["grand_total"])).quantize(Decimal("0.01"))


def test_tax_inclusive_store_views_follow_the_setting() -> None:
    _, state = store()
    de = order_where(state, store_id=2, state="processing")
    gb = order_where(state, store_id=1, state="processing", coupon_code="SPRING10")
    ctx = context(tax_inclusive_store_ids=["2"])
    de_doc = to_xero(ctx, Change("orders", str(de["entity_id"]), data=de), dependency_links(de))
    gb_doc = to_xero(ctx, Change("orders", str(gb["entity_id"]), data=gb), dependency_links(gb))
    assert de_doc[0].body["LineAmountTypes"] == "Inclusive"
    assert gb_doc[0].body["LineAmountTypes"] == "Exclusive"
    # Told wrongly, a discounted order no longer adds up, and says which order and what to check.
    wrong = context(tax_inclusive_store_ids=["1"])
    with pytest.raises(Permanent, match=rf"order {gb['increment_id']}: Xero would total"):
        to_xero(wrong, Change("orders", str(gb["entity_id"]), data=gb), dependency_links(gb))


def settle(ctx: SourceContext, change: Change, links: Links) -> list[XeroDocument]:
    """What the engine does: write what to_xero returns, link it, ask again until it settles."""
    seen: list[list[XeroDocument]] = []
    while True:
        docs = to_xero(ctx, change, links)
        if seen and docs == seen[-1]:
            return docs
        seen.append(docs)
        for doc in docs:
            links.setdefault((change.stream, change.key, doc.role), f"x-{doc.kind}-{doc.role}")
        assert len(seen) < 5, "to_xero never settles"


def test_a_paid_magento_invoice_authorises_the_order_invoice_then_pays_it() -> None:
    app, state = store()
    invoice = next(i for i in state.invoices if i["state"] == 2)
    (change,) = read(app, "invoices", [str(invoice["entity_id"])])
    order = change.data[ORDER_KEY]
    links = needed_links(context(), change)

    first = to_xero(context(), change, links)
    assert [d.kind for d in first] == ["Invoice"]
    assert first[0].body["InvoiceID"] == f"inv-{order['entity_id']}"
    assert first[0].body["Status"] == "AUTHORISED"
    assert first[0].natural_key == f"SHOP-{order['increment_id']}"

    links[("invoices", change.key, "main")] = f"inv-{order['entity_id']}"
    second = to_xero(context(), change, links)
    assert second[0] == first[0]
    assert [(d.kind, d.role) for d in second] == [("Invoice", "main"), ("Payment", "payment")]
    assert second[1].body["Invoice"] == {"InvoiceID": f"inv-{order['entity_id']}"}
    assert second[1].body["Account"] == {"Code": "090"}
    assert settle(context(), change, needed_links(context(), change)) == second


def test_payment_mapping_picks_the_bank_account_by_payment_method() -> None:
    app, state = store()
    invoice = next(i for i in state.invoices if i["state"] == 2)
    (change,) = read(app, "invoices", [str(invoice["entity_id"])])
    order = change.data[ORDER_KEY]
    method = order["payment"]["method"]
    links = needed_links(context(), change)
    links[("invoices", change.key, "main")] = "inv"

    mapped = to_xero(context(payment_accounts={method: "Cash Box"}), change, links)
    assert mapped[1].body["Account"] == {"Code": "091"}
    other = to_xero(context(payment_accounts={"nosuch": "Cash Box"}), change, links)
    assert other[1].body["Account"] == {"Code": "090"}
    # A bank account without a code is named by its id.
    no_code = Mirror(
        accounts=[*ACCOUNTS[2:], {"AccountID": "acc-x", "Name": "Till", "Type": "BANK"}]
    )
    till = to_xero(context(mirror=no_code, payment_accounts={method: "Till"}), change, links)
    assert till[1].body["Account"] == {"AccountID": "acc-x"}
    with pytest.raises(
        NeedsPerson, match=rf"account 'Petty' \(payment_accounts\[{method}\]\) is not in Xero"
    ):
        to_xero(context(payment_accounts={method: "Petty"}), change, links)
    with pytest.raises(
        NeedsPerson, match=r"'Sales' \(payment_accounts\[.*\]\) is a REVENUE account"
    ):
        to_xero(context(payment_accounts={method: "Sales"}), change, links)


def test_a_credit_memo_of_a_paid_order_is_a_credit_note_then_a_refund() -> None:
    app, state = store()
    memo = next(iter(state.creditmemos))
    (change,) = read(app, "credit_memos", [str(memo["entity_id"])])
    order = change.data[ORDER_KEY]
    links = needed_links(context(), change)

    first = to_xero(context(), change, links)
    assert [(d.kind, d.natural_key) for d in first] == [
        ("CreditNote", f"SHOP-CM-{memo['increment_id']}")
    ]
    assert first[0].body["Reference"] == f"SHOP-{order['increment_id']}"
    links[("credit_memos", change.key, "main")] = "cn-1"
    second = to_xero(context(), change, links)
    assert second[0] == first[0]
    refund = second[1]
    assert (refund.kind, refund.role, refund.natural_key) == (
        "Payment",
        "refund",
        f"SHOP-RF-{memo['increment_id']}",
    )
    assert refund.body["CreditNote"] == {"CreditNoteID": "cn-1"}
    assert refund.body["Amount"] == float(
        Decimal(str(memo["grand_total"])).quantize(Decimal("0.01"))
    )


def test_a_credit_memo_is_allocated_when_xero_has_an_amount_due() -> None:
    app, state = store()
    memo = next(iter(state.creditmemos))
    (change,) = read(app, "credit_memos", [str(memo["entity_id"])])
    order = change.data[ORDER_KEY]
    ctx = context(disabled_streams=["invoices"])  # nobody pays the Xero invoice

    docs = settle(ctx, change, needed_links(ctx, change))
    assert [(d.kind, d.role) for d in docs] == [
        ("CreditNote", "main"),
        ("Allocation", "allocation"),
    ]
    allocation = docs[1].body
    assert allocation["CreditNote"] == {"CreditNoteID": "x-CreditNote-main"}
    assert allocation["Invoice"] == {"InvoiceID": f"inv-{order['entity_id']}"}
    assert allocation["Amount"] == float(
        Decimal(str(memo["grand_total"])).quantize(Decimal("0.01"))
    )


def test_a_missing_dependency_link_is_retry_later_naming_the_record() -> None:
    _, state = store()
    order = order_where(state, customer_is_guest=0, state="processing")
    links = dependency_links(order)
    del links[("customers", str(order["customer_id"]), "main")]
    with pytest.raises(RetryLater, match=f"customer {order['customer_id']} is not in Xero yet"):
        to_xero(context(), Change("orders", str(order["entity_id"]), data=order), links)


def test_a_missing_account_needs_a_person() -> None:
    mirror = Mirror(accounts=[a for a in ACCOUNTS if a["Name"] != "Sales"])
    product = Change("products", "3", data={"id": 3, "sku": "ABC", "price": 5})
    with pytest.raises(NeedsPerson) as caught:
        to_xero(context(mirror=mirror), product, Links())
    assert str(caught.value) == (
        "account 'Sales' (sales_account) is not in Xero: create it with "
        "`xerobridge setup-accounts shop` or change the setting"
    )


def test_an_account_only_some_documents_use_blocks_only_those() -> None:
    """Without a shipping account, products still sync; orders with shipping wait."""
    _, state = store()
    order = next(
        o
        for o in state.orders
        if o["shipping_amount"]
        and o["store_id"] == 1
        and o["entity_id"] != state.odd.get("legacy_tax_order")
    )
    product = Change("products", "3", data={"id": 3, "sku": "ABC", "price": 5})
    ctx = context(shipping_account="Postage")
    assert to_xero(ctx, product, Links())
    with pytest.raises(
        NeedsPerson, match=r"'Postage' \(shipping_account\) is not in Xero: create it in Xero"
    ):
        to_xero(ctx, Change("orders", str(order["entity_id"]), data=order), dependency_links(order))
    (doc,) = to_xero(
        context(shipping_account="Freight"),
        Change("orders", str(order["entity_id"]), data=order),
        dependency_links(order),
    )
    assert "210" in {line["AccountCode"] for line in doc.body["LineItems"]}


# -- currencies -----------------------------------------------------------------------------------


def test_an_order_in_a_currency_xero_cannot_take_fails_saying_so() -> None:
    _, state = store()
    eur = order_where(state, order_currency_code="EUR")
    change = Change("orders", str(eur["entity_id"]), data=eur)
    gbp = {"base_currency": "GBP"}

    with pytest.raises(Permanent) as caught:
        map_record(context(extra=gbp), change)
    assert str(caught.value).startswith(
        f"order {eur['increment_id']} is in EUR, which is not enabled in the Xero organisation: "
        "add the currency in Xero (Settings > Currencies)"
    )
    with pytest.raises(Permanent, match="is in EUR"):
        to_xero(context(extra=gbp), change, dependency_links(eur))
    enabled = {**gbp, "currencies": ["GBP", "EUR"]}  # as read from Xero's Currencies
    assert map_record(context(extra=enabled), change).action == "create"
    assert map_record(context(), change).action == "create"  # base currency unknown: unchecked
    gbp_order = order_where(state, order_currency_code="GBP")
    assert map_record(context(extra=gbp), Change("orders", "1", data=gbp_order)).action == "create"


def test_the_currency_check_covers_magento_invoices_and_credit_memos() -> None:
    app, state = store()
    invoice = next(i for i in state.invoices if i["order_currency_code"] == "EUR")
    (change,) = read(app, "invoices", [str(invoice["entity_id"])])
    with pytest.raises(
        Permanent, match=rf"invoice {invoice['increment_id']} \(order .*\) is in EUR"
    ):
        map_record(context(extra={"base_currency": "GBP"}), change)


# -- bad records ----------------------------------------------------------------------------------


def test_bad_records_fail_permanently_naming_the_record() -> None:
    app, state = store()
    no_sku = Change("products", "8", data={"id": 8, "sku": " ", "price": 5})
    with pytest.raises(Permanent, match=r"product 8: has no SKU"):
        map_record(context(), no_sku)
    with pytest.raises(Permanent, match=r"product 8 \( \): has no SKU"):
        to_xero(context(), no_sku, Links())

    legacy = state.orders.get(state.odd["legacy_tax_order"])
    assert legacy is not None
    with pytest.raises(Permanent, match=rf"order {legacy['increment_id']}: .*17.5.*tax_map"):
        to_xero(
            context(),
            Change("orders", str(legacy["entity_id"]), data=legacy),
            dependency_links(legacy),
        )

    empty = {**legacy, "items": []}
    assert map_record(context(), Change("orders", "1", data=empty)).action == "create"
    with pytest.raises(Permanent, match=rf"order {legacy['increment_id']}: has no items"):
        to_xero(context(), Change("orders", "1", data=empty), dependency_links(legacy))

    invoice = next(iter(state.invoices))
    (change,) = read(app, "invoices", [str(invoice["entity_id"])])
    orphan = Change("invoices", change.key, data={**change.data, ORDER_KEY: None})
    with pytest.raises(
        Permanent, match=rf"invoice {invoice['increment_id']}: its order \d+ was not found"
    ):
        map_record(context(), orphan)

    nameless = customer_change(firstname="", lastname="", email="")
    with pytest.raises(Permanent, match="customer 7: has neither a name nor an email"):
        to_xero(context(), nameless, Links())


def test_orders_are_dated_in_the_organisations_time_zone() -> None:
    """A New Zealand morning order is dated that morning's day, not the UTC day before."""
    _, state = store()
    legacy = state.odd.get("legacy_tax_order")
    placed = next(
        o
        for o in state.orders.records.values()
        if o["order_currency_code"] == "GBP"
        and o["entity_id"] != legacy
        and o["state"] != "canceled"
    )
    order = {**placed, "created_at": "2026-03-01 20:30:00"}
    change = Change("orders", str(order["entity_id"]), data=order)
    auckland = {"base_currency": "GBP", "timezone": "NEWZEALANDSTANDARDTIME"}
    (doc,) = to_xero(context(extra=auckland), change, dependency_links(order))
    assert doc.body["Date"] == "2026-03-02"
    (doc,) = to_xero(context(extra={"base_currency": "GBP"}), change, dependency_links(order))
    assert doc.body["Date"] == "2026-03-01"  # the organisation's zone unknown: UTC
