"""The Magento plugin's streams: customers, guests, products, orders, invoices, credit memos.

Each stream reads its records through the plugin's `MagentoClient` (`ctx.client`), says what
each record is in Xero (`resolve`) and builds its documents (`build`: the mapping's pure
functions). Magento invoices and credit memos carry their order under `ORDER_KEY` in
`Change.data`, read in the same batch, because their documents need the order's lines, contact
and payment method. A guest's contact is the dependency-only stream `guests`, keyed by the
normalised email, whose record is the buyer's latest order.

Multi-step records: `build` returns what can be written now and is called again with the
record's own links after each write. A Magento invoice first authorises the order's Xero
invoice (carrying its InvoiceID), then pays it. A credit memo first becomes a CreditNote, then
an Allocation to the order's invoice or, when Magento took the money and the invoices stream
pays the Xero invoice, a refund Payment (Xero allocates only up to the amount due).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, cast

from xerobridge.sdk import (
    Change,
    CursorKind,
    DeleteMode,
    Dependency,
    NeedsPerson,
    Permanent,
    Resolution,
    SourceContext,
    SourceRefused,
    SourceSetupError,
    Stream,
    XeroDocument,
    posting,
)
from xerobridge_magento import mapping as m
from xerobridge_magento.client import STREAMS, Filter, MagentoClient, parse_time
from xerobridge_magento.settings import MagentoSettings

#: Where an invoice's or credit memo's `Change.data` holds its order (read with it).
ORDER_KEY = "_order"
#: A guest's data field naming the registered customer with the guest's email, if one is.
REGISTERED = "xerobridge_registered_customer"
#: Magento's invoice and credit memo state "canceled".
CANCELED_STATE = "3"

Ctx = SourceContext[MagentoSettings]
Links = Mapping[tuple[str, str, str], str]
Docs = list[XeroDocument]


def make_client(ctx: Ctx) -> MagentoClient:
    """The source's MagentoClient on its http client, built once per source by the core (an
    admin login, with username and password, is then reused by later calls)."""
    settings = ctx.settings
    token = settings.token.get_secret_value() if settings.token else None
    password = settings.password.get_secret_value() if settings.password else None
    if not token and not (settings.username and password):
        raise SourceSetupError(
            "no Magento credentials are set: set `token` (an integration access token), or "
            "`username` and `password` of an admin user"
        )
    return MagentoClient(ctx.http, str(settings.base_url), token=token,
                         username=settings.username or None, password=password)  # fmt: skip


# -- reading --------------------------------------------------------------------------------------


async def _scope(
    client: MagentoClient, settings: MagentoSettings, stream: str
) -> tuple[list[list[Filter]], set[str] | None]:
    """The store filter as search filters, and website ids products are checked against."""
    if not settings.store_ids:
        return [], None
    if stream in (m.ORDERS, m.INVOICES, m.CREDIT_MEMOS):
        return [[("store_id", ",".join(settings.store_ids), "in")]], None
    # Customers and products belong to the store views' websites.
    configs = await client.get_store_configs()
    known = {str(c.get("id")): str(c.get("website_id")) for c in configs}
    if unknown := [s for s in settings.store_ids if s not in known]:
        have = ", ".join(f"{c.get('id')} ({c.get('code')})" for c in configs)
        raise NeedsPerson(
            f"the store_ids setting names store view {unknown[0]}, which Magento at "
            f"{client.base_url} does not have; it has: {have}. Change the setting"
        )
    websites = {known[s] for s in settings.store_ids}
    if stream == m.CUSTOMERS:
        return [[("website_id", ",".join(sorted(websites)), "in")]], None
    # Products carry their websites in extension_attributes, which searches cannot filter on.
    return [], websites


def _in_websites(product: Mapping[str, Any], websites: set[str] | None) -> bool:
    ids = (product.get("extension_attributes") or {}).get("website_ids")
    # UNVERIFIED: Magento always lists a product's websites; without them, keep the product.
    return websites is None or ids is None or bool({str(i) for i in ids} & websites)


async def _changes(
    client: MagentoClient, stream: str, records: AsyncIterator[dict[str, Any]], size: int
) -> AsyncIterator[Change]:
    """Changes for records of one stream, a page at a time: invoices and credit memos get their
    orders, read together."""
    batch: list[dict[str, Any]] = []
    async for record in records:
        batch.append(record)
        if len(batch) >= size:
            for change in await _page(client, stream, batch, size):
                yield change
            batch = []
    for change in await _page(client, stream, batch, size):
        yield change


async def _page(
    client: MagentoClient, stream: str, records: Sequence[dict[str, Any]], size: int
) -> list[Change]:
    orders: dict[str, dict[str, Any]] = {}
    if stream in (m.INVOICES, m.CREDIT_MEMOS) and records:
        wanted = sorted({str(r["order_id"]) for r in records if r.get("order_id") is not None})
        async for order in client.get_by_ids(m.ORDERS, wanted, batch_size=size):
            orders[str(order["entity_id"])] = order
    out = []
    for record in records:
        data = record
        if stream in (m.INVOICES, m.CREDIT_MEMOS):
            data = {**record, ORDER_KEY: orders.get(str(record.get("order_id")))}
        stamp = record.get("updated_at")
        out.append(Change(stream, str(record[STREAMS[stream].id_key]), data=data,
                          updated_at=parse_time(stamp) if stamp else None))  # fmt: skip
    return out


async def _guest(client: MagentoClient, key: str) -> Change | None:
    """A guest's latest order by email: guest orders, then orders whose customer was deleted."""
    email = m.normalise_email(key)
    if not email or "," in email:
        return None
    for who in (("customer_is_guest", "1", "eq"), ("customer_id", "", "null")):
        try:
            data = await client.search(
                STREAMS[m.ORDERS].search_path, [[("customer_email", email, "eq")], [who]],
                sort=[("created_at", "DESC"), ("entity_id", "DESC")], page_size=1, current_page=1,
            )  # fmt: skip
        except SourceRefused:
            continue  # a store whose orders never had a customer_id cannot filter on it
        if data["items"]:
            order = data["items"][0]
            # A registered customer with the same email is the same person: one contact.
            found = await client.search(
                STREAMS[m.CUSTOMERS].search_path, [[("email", email, "eq")]],
                page_size=1, current_page=1,
            )  # fmt: skip
            if found["items"]:
                order = {**order, REGISTERED: str(found["items"][0]["id"])}
            stamp = order.get("updated_at")
            return Change(m.GUESTS, email, data=order,
                          updated_at=parse_time(stamp) if stamp else None)  # fmt: skip
    return None


# -- what the documents need ----------------------------------------------------------------------


def _order_of(change: Change) -> Mapping[str, Any]:
    order = change.data.get(ORDER_KEY)
    if not order:
        what = "invoice" if change.stream == m.INVOICES else "credit memo"
        raise Permanent(
            f"{m.name(change.data, what)}: its order {change.data.get('order_id')} was not found "
            "in Magento; sync it again once the order exists"
        )
    return cast(Mapping[str, Any], order)


def _ordered(ctx: Ctx, change: Change, what: str) -> tuple[Mapping[str, Any], str]:
    """The order an invoice or credit memo carries (its currency checked against the
    organisation's), and the record as messages name it."""
    order = _order_of(change)
    named = f"{m.name(change.data, what)} (order {order.get('increment_id')})"
    m.currency_of(ctx.org, order, named)
    return order, named


def _refunds_money(settings: MagentoSettings, order: Mapping[str, Any]) -> bool:
    """Whether a credit memo gives money back (Magento took it and Xero has the payment).

    Then the Xero invoice is paid and has nothing due to allocate against; the refund is a
    payment from the bank account on the credit note. With the invoices stream switched off the
    Xero invoice is never paid by xerobridge, so the credit note is allocated to it instead.
    """
    return posting.money.optional(order.get("total_paid")) > 0 and settings.stream_enabled(
        m.INVOICES
    )


def _posting(ctx: Ctx, links: Links, order: Mapping[str, Any] | None = None) -> m.Posting:
    """The mapping's `Posting`: accounts from the mirror as documents use them (the bank one
    follows the order's payment method), and an empty default_tax_type taken as the sales
    account's own TaxType in Xero, so that the defaults fit the organisation's region."""
    settings = ctx.settings
    book = posting.accounts.AccountBook.of(ctx)
    if not settings.default_tax_type and (tax_type := book.tax_type_of(settings.sales_account)):
        settings = settings.model_copy(update={"default_tax_type": tax_type})
    bank_setting, bank_name = "bank_account", settings.bank_account
    method = str(((order or {}).get("payment") or {}).get("method") or "")
    if method in settings.payment_accounts:
        bank_setting, bank_name = f"payment_accounts[{method}]", settings.payment_accounts[method]
    shipping = "shipping_account" if settings.shipping_account else "sales_account"
    accounts = m.Accounts(
        sales=lambda: book.code("sales_account", settings.sales_account),
        bank=lambda: book.payable(bank_setting, bank_name),
        shipping=lambda: book.code(shipping, getattr(settings, shipping)),
        rounding=lambda: book.code("rounding_account", settings.rounding_account),
    )
    rates = posting.lines.tax_rates(ctx.xero)
    return m.Posting(settings, ctx.key_prefix, links, accounts, rates, ctx.org)


def _with_order_needs(order: Mapping[str, Any], *more: Dependency) -> Resolution:
    """Create once the order is in Xero, and what it needs (its documents name them too)."""
    return Resolution.create(
        needs=(Dependency(m.ORDERS, str(order["entity_id"])), *m.order_needs(order), *more)
    )


# -- the streams ----------------------------------------------------------------------------------


class MagentoStream(Stream[MagentoSettings]):
    """What every Magento stream shares: reading by the REST search API and deleted records."""

    async def fetch(self, ctx: Ctx, cursor: str | None, until: str | None) -> AsyncIterator[Change]:
        """Records changed at or after the cursor, oldest first, within the store views."""
        settings, client = ctx.settings, ctx.client
        if not settings.stream_enabled(self.name):
            return
        where, websites = await _scope(client, settings, self.name)
        found = client.iter_changes(self.name, cursor, page_size=settings.page_size, where=where)
        kept = (r async for r in found if _in_websites(r, websites))
        async for change in _changes(client, self.name, kept, settings.page_size):
            yield change

    async def fetch_keys(self, ctx: Ctx, keys: list[str]) -> AsyncIterator[Change]:
        """The records with these keys that exist (no store filter: dependencies need them)."""
        size, client = ctx.settings.page_size, ctx.client
        ids = [k for k in dict.fromkeys(keys) if str(k).isdigit()]  # other keys cannot exist
        found = client.get_by_ids(self.name, ids, batch_size=size)
        async for change in _changes(client, self.name, found, size):
            yield change


class People(MagentoStream, ABC):
    """Streams whose records become contacts; Xero keeps contact names unique."""

    xero_object = "Contact"

    @abstractmethod
    def contact(self, ctx: Ctx, change: Change, unique: bool) -> XeroDocument:
        """The record's contact; `unique` makes its Name one no other contact has."""

    def has_contact(self, change: Change) -> bool:
        """Whether the record keeps a contact of its own."""
        return True

    @abstractmethod
    def record(self, ctx: Ctx, change: Change) -> Resolution:
        """Which Xero contact the person is."""

    def matched(self, ctx: Ctx, person: Mapping[str, Any], number: str) -> Resolution:
        """Our own ContactNumber links; else match by email (then name) per match_contacts."""
        return posting.contacts.match(
            ctx.xero, own_number=number, email=str(person.get("email") or ""),
            name=m.contact_name(person.get("firstname"), person.get("lastname")),
            mode=ctx.settings.match_contacts,
        )  # fmt: skip

    def resolve(self, ctx: Ctx, change: Change) -> Resolution:
        """What `record` says, and whether another contact has the contact's name: decided
        here, from the mirror, so that `build` looks nothing up."""
        resolution = self.record(ctx, change)
        if resolution.action not in ("create", "link") or not self.has_contact(change):
            return resolution
        doc = self.contact(ctx, change, False)
        own_id = resolution.xero_id or ctx.links.xero_id(self.name, change.key)
        if posting.contacts.name_taken(ctx.xero, str(doc.body["Name"]), own_id=own_id,
                                       own_number=doc.natural_key):  # fmt: skip
            return resolution.with_facts(name_taken=True)
        return resolution

    def build(
        self, ctx: Ctx, change: Change, links: Links, resolution: Resolution | None = None
    ) -> Docs:
        if not self.has_contact(change):
            return []
        unique = bool(resolution is not None and resolution.facts.get("name_taken"))
        return [self.contact(ctx, change, unique)]


class Customers(People):
    """Registered customers to Xero contacts (ContactNumber `{prefix}-C-{id}`)."""

    name = m.CUSTOMERS
    deletes = DeleteMode.RECONCILE

    def record(self, ctx: Ctx, change: Change) -> Resolution:
        if ctx.links.xero_id(m.CUSTOMERS, change.key):
            return Resolution.create()
        # Registered after ordering as a guest: the guest's contact is theirs now.
        email = m.normalise_email(change.data.get("email"))
        if email and (guest := ctx.links.xero_id(m.GUESTS, email)):
            return Resolution.link(guest)
        return self.matched(ctx, change.data, m.contact_number(ctx.key_prefix, change.key))

    def contact(self, ctx: Ctx, change: Change, unique: bool) -> XeroDocument:
        return m.customer_to_contact(change.data, ctx.key_prefix, with_id=unique)


class Guests(People):
    """A guest order's buyer as a contact, keyed by the normalised email (dependency-only)."""

    name = m.GUESTS
    cursor = CursorKind.NONE
    title = "Guest customers"

    async def fetch(self, ctx: Ctx, cursor: str | None, until: str | None) -> AsyncIterator[Change]:
        """Nothing: guests are read when an order needs them."""
        return
        yield  # pragma: no cover  (an async generator that yields nothing)

    async def fetch_keys(self, ctx: Ctx, keys: list[str]) -> AsyncIterator[Change]:
        """Each guest's latest order, by email."""
        for key in dict.fromkeys(keys):
            if (change := await _guest(ctx.client, key)) is not None:
                yield change

    def record(self, ctx: Ctx, change: Change) -> Resolution:
        linked = ctx.links.xero_id(m.GUESTS, change.key)
        if (registered := str(change.data.get(REGISTERED) or "")) and not linked:
            # The registered customer's contact, once it is in Xero.
            if contact := ctx.links.xero_id(m.CUSTOMERS, registered):
                return Resolution.link(contact)
            return Resolution.create(needs=(Dependency(m.CUSTOMERS, registered),))
        if linked:
            return Resolution.create()
        guest = m.guest_of(change.data)
        email = m.normalise_email(guest["email"] or change.key)
        number = m.guest_contact_number(ctx.key_prefix, email)
        return self.matched(ctx, {**guest, "email": email}, number)

    def has_contact(self, change: Change) -> bool:
        return not change.data.get(REGISTERED)  # else the customer's own stream keeps it

    def contact(self, ctx: Ctx, change: Change, unique: bool) -> XeroDocument:
        return m.guest_to_contact(change.data, ctx.key_prefix, with_email=unique)


class Products(MagentoStream):
    """Products to untracked, sold Xero items (Code from the SKU)."""

    name = m.PRODUCTS
    xero_object = "Item"
    deletes = DeleteMode.RECONCILE

    def resolve(self, ctx: Ctx, change: Change) -> Resolution:
        if ctx.links.xero_id(m.PRODUCTS, change.key):
            return Resolution.create()
        sku = str(change.data.get("sku") or "")
        if not sku.strip():
            raise Permanent(f"product {change.key}: has no SKU; give it a SKU in Magento")
        item = ctx.xero.item_by_code(m.item_code(ctx.key_prefix, sku))
        return Resolution.link(str(item["ItemID"])) if item is not None else Resolution.create()

    def build(self, ctx: Ctx, change: Change, links: Links) -> Docs:
        return [m.product_to_item(change.data, _posting(ctx, links))]


class Orders(MagentoStream):
    """Orders to sales invoices totalling the grand total to the cent."""

    name = m.ORDERS
    xero_object = "Invoice"
    depends_on = (m.CUSTOMERS, m.GUESTS, m.PRODUCTS)

    def resolve(self, ctx: Ctx, change: Change) -> Resolution:
        order = change.data
        m.currency_of(ctx.org, order, m.name(order, "order"))
        if order.get("state") == "canceled" and not ctx.links.xero_id(m.ORDERS, change.key):
            return Resolution.skip(
                f"{m.name(order, 'order')} was cancelled before it reached Xero; nothing to write"
            )
        return Resolution.create(needs=m.order_needs(order))

    def build(self, ctx: Ctx, change: Change, links: Links) -> Docs:
        return [m.order_to_invoice(change.data, _posting(ctx, links, change.data))]


class Invoices(MagentoStream):
    """Magento invoices: the order's Xero invoice authorised, then its payment."""

    name = m.INVOICES
    xero_object = "Payment"
    depends_on = (m.ORDERS,)

    def resolve(self, ctx: Ctx, change: Change) -> Resolution:
        order, what = _ordered(ctx, change, "invoice")
        if str(change.data.get("state")) == CANCELED_STATE:
            return Resolution.skip(
                f"{what} is cancelled in Magento; xerobridge does not take back what it wrote, "
                "so void the payment in Xero if one was made"
            )
        return _with_order_needs(order)

    def build(self, ctx: Ctx, change: Change, links: Links) -> Docs:
        """The order's Xero invoice authorised (by its InvoiceID); once written, the payment."""
        order = _order_of(change)
        p = _posting(ctx, links, order)
        docs = m.magento_invoice_to_xero(change.data, order, p)
        invoice_id = p.link(m.ORDERS, order["entity_id"], m.name(order, "order"))
        update = replace(docs[0], body={**docs[0].body, "InvoiceID": invoice_id})
        if not links.get((m.INVOICES, change.key, "main")):
            return [update]  # a payment needs the invoice AUTHORISED first
        return [update, *docs[1:]]


class CreditMemos(MagentoStream):
    """Credit memos to credit notes, allocated to their invoice or refunded."""

    name = m.CREDIT_MEMOS
    xero_object = "CreditNote"
    depends_on = (m.ORDERS, m.INVOICES)

    def resolve(self, ctx: Ctx, change: Change) -> Resolution:
        memo, (order, what) = change.data, _ordered(ctx, change, "credit memo")
        if str(memo.get("state")) == CANCELED_STATE:
            return Resolution.skip(f"{what} is cancelled in Magento; nothing to write")
        invoice_id, settings = memo.get("invoice_id"), ctx.settings
        if (
            invoice_id not in (None, "")
            and settings.stream_enabled(m.INVOICES)
            and not (_refunds_money(settings, order))
        ):
            # The allocation needs the Xero invoice authorised, which the Magento invoice does.
            return _with_order_needs(order, Dependency(m.INVOICES, str(invoice_id)))
        return _with_order_needs(order)

    def build(self, ctx: Ctx, change: Change, links: Links) -> Docs:
        """The credit note; once written, its allocation to the invoice or its refund payment."""
        memo, order = change.data, _order_of(change)
        p = _posting(ctx, links, order)
        note = m.creditmemo_to_credit_note(memo, order, p)
        if not (note_id := links.get((m.CREDIT_MEMOS, change.key, "main"))):
            return [note]
        if _refunds_money(ctx.settings, order):
            return [note, m.refund_payment(memo, order, p, note_id)]
        return [note, m.creditmemo_allocation(memo, order, p)]


STREAMS_IN_ORDER: tuple[MagentoStream, ...] = (
    Customers(), Guests(), Products(), Orders(), Invoices(), CreditMemos(),
)  # fmt: skip
