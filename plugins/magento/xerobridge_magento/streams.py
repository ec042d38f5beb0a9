"""The Magento plugin's streams: customers, guests, products, orders, invoices, credit memos.

Each stream reads its records through the plugin's `MagentoClient` (`ctx.client`), says what
each record is in Xero (`resolve`) and builds its documents (`build`, pure: the mapping's
functions on the posting kit). Magento invoices and credit memos carry their order under
`ORDER_KEY` in `Change.data`, read in the same batch, because `build` needs the order's lines,
contact and payment method. A guest's contact is the dependency-only stream `guests`, keyed by
the normalised email, whose record is the buyer's latest order.

Multi-step records: `build` returns what can be written now and is called again with the
record's own links after each write. A Magento invoice first authorises the order's Xero
invoice (carrying its InvoiceID), then pays it. A credit memo first becomes a CreditNote, then
an Allocation to the order's invoice or, when Magento took the money and the invoices stream
pays the Xero invoice, a refund Payment (Xero allocates only up to the amount due).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from xerobridge.sdk import (
    Change,
    CursorKind,
    DeleteMode,
    Dependency,
    NeedsPerson,
    Permanent,
    Resolution,
    RetryLater,
    SourceContext,
    Stream,
    XeroDocument,
    XeroMirror,
    posting,
)
from xerobridge_magento import mapping as m
from xerobridge_magento.client import (
    STREAMS,
    Filter,
    MagentoAuthError,
    MagentoClient,
    MagentoRequestError,
    parse_time,
)
from xerobridge_magento.settings import MagentoSettings

#: Where an invoice's or credit memo's `Change.data` holds its order (read with it).
ORDER_KEY = "_order"
#: The settings naming accounts `xerobridge magento setup-accounts` creates (see source_spec).
SETUP_ACCOUNT_SETTINGS = frozenset(
    {"bank_account", "sales_account", "inventory_account", "cogs_account"}
)
#: The command that creates them, as messages name it (`{source}` is the source's name).
SETUP_COMMAND = "xerobridge setup-accounts {source}"
AccountBook = posting.accounts.AccountBook
#: Magento's invoice and credit memo state "canceled".
CANCELED_STATE = "3"
#: What each stream's record is in Xero, for messages.
_XERO_OBJECT = {
    m.CUSTOMERS: "contact",
    m.GUESTS: "contact",
    m.PRODUCTS: "item",
    m.ORDERS: "invoice",
    m.INVOICES: "invoice and payment",
    m.CREDIT_MEMOS: "credit note",
}

# -- context helpers ------------------------------------------------------------------------------


def _settings(ctx: SourceContext) -> MagentoSettings:
    if not isinstance(ctx.settings, MagentoSettings):
        raise TypeError(f"source {ctx.source!r}: settings are not MagentoSettings")
    return ctx.settings


def make_client(ctx: SourceContext[MagentoSettings]) -> MagentoClient:
    """The source's MagentoClient on its http client, built once per source by the core (an
    admin login, with username and password, is then reused by later calls)."""
    settings = _settings(ctx)
    token = settings.token.get_secret_value() if settings.token else None
    password = settings.password.get_secret_value() if settings.password else None
    if not token and not (settings.username and password):
        raise MagentoAuthError(
            f"source {ctx.source!r} has no Magento credentials: set `token` (an integration "
            "access token), or `username` and `password` of an admin user"
        )
    return MagentoClient(
        ctx.http,
        str(settings.base_url),
        token=token,
        username=settings.username or None,
        password=password,
    )


def _mirror(ctx: SourceContext) -> XeroMirror:
    return ctx.xero


def _linked(ctx: SourceContext, stream: str, key: str) -> str | None:
    return ctx.links.xero_id(stream, key)


def _name(record: Mapping[str, Any], what: str, id_field: str = "entity_id") -> str:
    return f"{what} {record.get('increment_id') or record.get(id_field)}"


# -- reading --------------------------------------------------------------------------------------


async def _batches(
    records: AsyncIterator[dict[str, Any]], size: int
) -> AsyncIterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    async for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def _websites(client: MagentoClient, store_ids: Sequence[str]) -> set[str]:
    """The website ids of the given store views (customers and products belong to websites)."""
    configs = await client.get_store_configs()
    known = {str(c.get("id")): str(c.get("website_id")) for c in configs}
    unknown = [s for s in store_ids if s not in known]
    if unknown:
        have = ", ".join(f"{c.get('id')} ({c.get('code')})" for c in configs)
        raise NeedsPerson(
            f"the store_ids setting names store view {unknown[0]}, which Magento at "
            f"{client.base_url} does not have; it has: {have}. Change the setting"
        )
    return {known[s] for s in store_ids}


async def _scope(
    client: MagentoClient, settings: MagentoSettings, stream: str
) -> tuple[list[list[Filter]], set[str] | None]:
    """The store filter as search filters, and website ids products are checked against."""
    if not settings.store_ids:
        return [], None
    if stream in (m.ORDERS, m.INVOICES, m.CREDIT_MEMOS):
        return [[("store_id", ",".join(settings.store_ids), "in")]], None
    websites = await _websites(client, settings.store_ids)
    if stream == m.CUSTOMERS:
        return [[("website_id", ",".join(sorted(websites)), "in")]], None
    # Products carry their websites in extension_attributes, which searches cannot filter on.
    return [], websites


def _in_websites(product: Mapping[str, Any], websites: set[str] | None) -> bool:
    if websites is None:
        return True
    ids = (product.get("extension_attributes") or {}).get("website_ids")
    if ids is None:
        return True  # UNVERIFIED: Magento always lists them; without them, keep the product
    return bool({str(i) for i in ids} & websites)


async def _changes(
    client: MagentoClient, stream: str, records: Sequence[dict[str, Any]], page_size: int
) -> list[Change]:
    """Changes for records of one stream; invoices and credit memos get their orders."""
    orders: dict[str, dict[str, Any]] = {}
    if stream in (m.INVOICES, m.CREDIT_MEMOS):
        wanted = sorted({str(r["order_id"]) for r in records if r.get("order_id") is not None})
        async for order in client.get_by_ids(m.ORDERS, wanted, batch_size=page_size):
            orders[str(order["entity_id"])] = order
    id_key = STREAMS[stream].id_key
    out = []
    for record in records:
        data: dict[str, Any] = record
        if stream in (m.INVOICES, m.CREDIT_MEMOS):
            data = {**record, ORDER_KEY: orders.get(str(record.get("order_id")))}
        stamp = record.get("updated_at")
        out.append(
            Change(
                stream,
                str(record[id_key]),
                data=data,
                updated_at=parse_time(stamp) if stamp else None,
            )
        )
    return out


#: A guest's data field naming the registered customer with the guest's email, if one is.
REGISTERED = "xerobridge_registered_customer"


async def _guest(client: MagentoClient, key: str) -> Change | None:
    """A guest's latest order by email: guest orders, then orders whose customer was deleted."""
    email = m.normalise_email(key)
    if not email or "," in email:
        return None
    sort = [("created_at", "DESC"), ("entity_id", "DESC")]
    for who in (("customer_is_guest", "1", "eq"), ("customer_id", "", "null")):
        try:
            data = await client.search(
                STREAMS[m.ORDERS].search_path,
                [[("customer_email", email, "eq")], [who]],
                sort=sort,
                page_size=1,
                current_page=1,
            )
        except MagentoRequestError:
            continue  # a store whose orders never had a customer_id cannot filter on it
        if data["items"]:
            order = data["items"][0]
            stamp = order.get("updated_at")
            # A registered customer with the same email is the same person: one contact.
            found = await client.search(
                STREAMS[m.CUSTOMERS].search_path, [[("email", email, "eq")]],
                page_size=1, current_page=1,
            )  # fmt: skip
            if found["items"]:
                order = {**order, REGISTERED: str(found["items"][0]["id"])}
            return Change(
                m.GUESTS, email, data=order, updated_at=parse_time(stamp) if stamp else None
            )
    return None


# -- checks shared by map_record and to_xero -----------------------------------------------------


def _order_of(change: Change) -> Mapping[str, Any]:
    order = change.data.get(ORDER_KEY)
    if not order:
        what = "invoice" if change.stream == m.INVOICES else "credit memo"
        raise Permanent(
            f"{_name(change.data, what)}: its order {change.data.get('order_id')} was not found "
            "in Magento; sync it again once the order exists"
        )
    return cast(Mapping[str, Any], order)


def check_currency(ctx: SourceContext, record: Mapping[str, Any], what: str) -> None:
    """Permanent when the record's currency is not one the Xero organisation has enabled."""
    code = posting.currencies.currency(
        record.get("order_currency_code"), record=what, what="order currency"
    )
    fix = (
        f"leave store view {record.get('store_id')} out of the store_ids setting"
        if record.get("store_id") is not None
        else ""
    )
    posting.currencies.check(ctx.org, code, record=what, fix=fix)


def _refunds_money(settings: MagentoSettings, order: Mapping[str, Any]) -> bool:
    """Whether a credit memo gives money back (Magento took it and Xero has the payment).

    Then the Xero invoice is paid and has nothing due to allocate against; the refund is a
    payment from the bank account on the credit note. With the invoices stream switched off the
    Xero invoice is never paid by xerobridge, so the credit note is allocated to it instead.
    """
    try:
        paid = Decimal(str(order.get("total_paid") or 0))
    except InvalidOperation:
        paid = Decimal(0)
    return paid > 0 and settings.stream_enabled(m.INVOICES)


# -- map_record -----------------------------------------------------------------------------------


def _match_contact(
    ctx: SourceContext, settings: MagentoSettings, person: Mapping[str, Any], number: str
) -> Resolution:
    """Our own ContactNumber links; else match by email (then name) per match_contacts."""
    return posting.contacts.match(
        _mirror(ctx),
        own_number=number,
        email=str(person.get("email") or ""),
        name=m.contact_name(person.get("firstname"), person.get("lastname")),
        mode=settings.match_contacts,
    )


def _map_product(ctx: SourceContext, change: Change) -> Resolution:
    if _linked(ctx, m.PRODUCTS, change.key):
        return Resolution.create()
    sku = str(change.data.get("sku") or "")
    if not sku.strip():
        raise Permanent(f"product {change.key}: has no SKU; give it a SKU in Magento")
    item = _mirror(ctx).item_by_code(m.item_code(ctx.key_prefix, sku))
    if item is not None:
        return Resolution.link(str(item["ItemID"]))
    return Resolution.create()


def _map_order(ctx: SourceContext, change: Change) -> Resolution:
    order = change.data
    check_currency(ctx, order, _name(order, "order"))
    if order.get("state") == "canceled" and not _linked(ctx, m.ORDERS, change.key):
        return Resolution.skip(
            f"{_name(order, 'order')} was cancelled before it reached Xero; nothing to write"
        )
    return Resolution.create(needs=m.order_needs(order))


def _map_invoice(ctx: SourceContext, change: Change) -> Resolution:
    invoice = change.data
    order = _order_of(change)
    what = f"{_name(invoice, 'invoice')} (order {order.get('increment_id')})"
    check_currency(ctx, order, what)
    if str(invoice.get("state")) == CANCELED_STATE:
        return Resolution.skip(
            f"{what} is cancelled in Magento; xerobridge does not take back what it wrote, so "
            "void the payment in Xero if one was made"
        )
    return Resolution.create(needs=_order_and_its_needs(order))


def _order_and_its_needs(order: Mapping[str, Any]) -> tuple[Dependency, ...]:
    """The order, and what it needs: the documents name its contact and its items too."""
    return (Dependency(m.ORDERS, str(order["entity_id"])), *m.order_needs(order))


def _map_credit_memo(ctx: SourceContext, settings: MagentoSettings, change: Change) -> Resolution:
    memo = change.data
    order = _order_of(change)
    what = f"{_name(memo, 'credit memo')} (order {order.get('increment_id')})"
    check_currency(ctx, order, what)
    if str(memo.get("state")) == CANCELED_STATE:
        return Resolution.skip(f"{what} is cancelled in Magento; nothing to write")
    needs = list(_order_and_its_needs(order))
    invoice_id = memo.get("invoice_id")
    if (
        invoice_id not in (None, "")
        and not _refunds_money(settings, order)
        and settings.stream_enabled(m.INVOICES)
    ):
        # The allocation needs the Xero invoice authorised, which the Magento invoice does.
        needs.append(Dependency(m.INVOICES, str(invoice_id)))
    return Resolution.create(needs=tuple(needs))


# -- to_xero --------------------------------------------------------------------------------------


def _book(ctx: SourceContext) -> AccountBook:
    return AccountBook(
        _mirror(ctx),
        setup_command=SETUP_COMMAND.format(source=ctx.source),
        creates=SETUP_ACCOUNT_SETTINGS,
    )


def _with_tax_default(settings: MagentoSettings, book: AccountBook) -> MagentoSettings:
    """An empty default_tax_type is the sales account's own TaxType in Xero (what Xero itself
    applies to a line on that account), so that the defaults fit the organisation's region."""
    if settings.default_tax_type:
        return settings
    tax_type = book.tax_type_of(settings.sales_account)
    if not tax_type:
        return settings  # no such account: the book names that problem where it is used
    return settings.model_copy(update={"default_tax_type": tax_type})


def _accounts(
    book: AccountBook,
    settings: MagentoSettings,
    order: Mapping[str, Any] | None = None,
) -> m.Accounts:
    """The accounts the mapping uses, each resolved when a document uses it; the bank one
    follows the order's payment method."""
    shipping = settings.shipping_account or settings.sales_account
    bank_setting, bank_name = "bank_account", settings.bank_account
    method = str(((order or {}).get("payment") or {}).get("method") or "")
    if method and method in settings.payment_accounts:
        bank_setting, bank_name = f"payment_accounts[{method}]", settings.payment_accounts[method]
    return m.Accounts(
        sales=lambda: book.code("sales_account", settings.sales_account),
        bank=lambda: book.payable(bank_setting, bank_name),
        shipping=lambda: book.code(
            "shipping_account" if settings.shipping_account else "sales_account", shipping
        ),
        rounding=lambda: book.code("rounding_account", settings.rounding_account),
    )


def xero_tax_rates(ctx: SourceContext) -> dict[str, Decimal] | None:
    """The organisation's active TaxTypes and rates, for the mapping to check tax_map against."""
    return posting.lines.tax_rates(_mirror(ctx))


def _inclusive(settings: MagentoSettings, record: Mapping[str, Any]) -> bool | None:
    if not settings.tax_inclusive_store_ids:
        return None  # the mapping tells from the order's amounts
    return str(record.get("store_id")) in settings.tax_inclusive_store_ids


def _name_taken(ctx: SourceContext, doc: XeroDocument, own_id: str | None) -> bool:
    """Whether another Xero contact has this contact's Name (Xero keeps names unique)."""
    return any(
        str(c.get("ContactID")) != own_id and c.get("ContactNumber") != doc.natural_key
        for c in _mirror(ctx).contacts_by_name(str(doc.body["Name"]))
    )


def _need(links: Mapping[tuple[str, str, str], str], stream: str, key: Any, what: str) -> str:
    xero_id = links.get((stream, str(key), "main"))
    if not xero_id:
        raise RetryLater(f"{what} is not in Xero yet; it is pushed first")
    return xero_id


def _invoice_documents(
    ctx: SourceContext,
    settings: MagentoSettings,
    book: AccountBook,
    change: Change,
    links: Mapping[tuple[str, str, str], str],
) -> list[XeroDocument]:
    """The order's Xero invoice authorised (by its InvoiceID); then, once written, the payment."""
    invoice = change.data
    order = _order_of(change)
    check_currency(ctx, order, f"{_name(invoice, 'invoice')} (order {order.get('increment_id')})")
    docs = m.magento_invoice_to_xero(
        invoice,
        order,
        settings,
        ctx.key_prefix,
        links,
        _accounts(book, settings, order),
        tax_rates=xero_tax_rates(ctx),
        inclusive=_inclusive(settings, order),
        org=ctx.org,
    )
    invoice_id = _need(links, m.ORDERS, order["entity_id"], _name(order, "order"))
    update = replace(docs[0], body={**docs[0].body, "InvoiceID": invoice_id})
    if not links.get((m.INVOICES, change.key, "main")):
        return [update]  # a payment needs the invoice AUTHORISED first
    return [update, *docs[1:]]


def _credit_memo_documents(
    ctx: SourceContext,
    settings: MagentoSettings,
    book: AccountBook,
    change: Change,
    links: Mapping[tuple[str, str, str], str],
) -> list[XeroDocument]:
    """The credit note; once written, its allocation to the invoice or its refund payment."""
    memo = change.data
    order = _order_of(change)
    check_currency(ctx, order, f"{_name(memo, 'credit memo')} (order {order.get('increment_id')})")
    accounts = _accounts(book, settings, order)
    note = m.creditmemo_to_credit_note(
        memo,
        order,
        settings,
        ctx.key_prefix,
        links,
        accounts,
        tax_rates=xero_tax_rates(ctx),
        inclusive=_inclusive(settings, order),
        org=ctx.org,
    )
    note_id = links.get((m.CREDIT_MEMOS, change.key, "main"))
    if not note_id:
        return [note]
    if _refunds_money(settings, order):
        return [note, m.refund_payment(memo, order, ctx.key_prefix, note_id, accounts, ctx.org)]
    return [note, m.creditmemo_allocation(memo, order, ctx.key_prefix, links, ctx.org)]


# -- the streams ----------------------------------------------------------------------------------

Ctx = SourceContext[MagentoSettings]
#: (stream, key, role) -> Xero id, as `build` gets them.
Links = Mapping[tuple[str, str, str], str]
Doc = XeroDocument
Docs = list[XeroDocument]


class MagentoStream(Stream[MagentoSettings]):
    """What every Magento stream shares: reading by the REST search API and deleted records."""

    async def fetch(
        self, ctx: SourceContext[MagentoSettings], cursor: str | None, until: str | None
    ) -> AsyncIterator[Change]:
        """Records changed at or after the cursor, oldest first, within the store views."""
        settings = _settings(ctx)
        if not settings.stream_enabled(self.name):
            return
        client: MagentoClient = ctx.client
        where, websites = await _scope(client, settings, self.name)
        found = client.iter_changes(self.name, cursor, page_size=settings.page_size, where=where)
        async for batch in _batches(found, settings.page_size):
            kept = [r for r in batch if _in_websites(r, websites)]
            for change in await _changes(client, self.name, kept, settings.page_size):
                yield change

    async def fetch_keys(
        self, ctx: SourceContext[MagentoSettings], keys: list[str]
    ) -> AsyncIterator[Change]:
        """The records with these keys that exist (no store filter: dependencies need them)."""
        settings = _settings(ctx)
        client: MagentoClient = ctx.client
        ids = [k for k in dict.fromkeys(keys) if str(k).isdigit()]  # other keys cannot exist
        found = client.get_by_ids(self.name, ids, batch_size=settings.page_size)
        async for batch in _batches(found, settings.page_size):
            for change in await _changes(client, self.name, batch, settings.page_size):
                yield change

    def resolve(self, ctx: SourceContext[MagentoSettings], change: Change) -> Resolution:
        if change.op == "delete":
            return Resolution.skip(
                f"{self.name.removesuffix('s').replace('_', ' ')} {change.key} was deleted in "
                f"Magento; xerobridge never deletes Xero objects, so its Xero "
                f"{_XERO_OBJECT[self.name]} stays as it is (archive or void it in Xero if it "
                "is no longer wanted)"
            )
        return self.record(ctx, change)

    def record(self, ctx: Ctx, change: Change) -> Resolution:
        """What a record that exists in Magento is in Xero."""
        return Resolution.create()

    def build(
        self,
        ctx: SourceContext[MagentoSettings],
        change: Change,
        links: Mapping[tuple[str, str, str], str],
    ) -> list[XeroDocument]:
        if change.op == "delete":
            return []
        return self.documents(ctx, _settings(ctx), change, links)

    def documents(self, ctx: Ctx, settings: MagentoSettings, change: Change, links: Links) -> Docs:
        """The Xero documents to write now for a record that exists in Magento."""
        raise NotImplementedError


class People(MagentoStream):
    """Streams whose records become contacts; Xero keeps contact names unique."""

    xero_object = "Contact"

    def contact(self, ctx: Ctx, settings: MagentoSettings, change: Change, unique: bool) -> Doc:
        """The record's contact; `unique` makes its Name one no other contact has."""
        raise NotImplementedError

    def has_contact(self, change: Change) -> bool:
        """Whether the record keeps a contact of its own."""
        return True

    def resolve(self, ctx: SourceContext[MagentoSettings], change: Change) -> Resolution:
        """What `record` says, and whether another contact has the contact's name: decided
        here, from the mirror, so that `build` looks nothing up."""
        resolution = super().resolve(ctx, change)
        if resolution.action not in ("create", "link") or not self.has_contact(change):
            return resolution
        doc = self.contact(ctx, _settings(ctx), change, False)
        own_id = resolution.xero_id or ctx.links.xero_id(self.name, change.key)
        if _name_taken(ctx, doc, own_id):
            return resolution.with_facts(name_taken=True)
        return resolution

    def build(
        self,
        ctx: SourceContext[MagentoSettings],
        change: Change,
        links: Mapping[tuple[str, str, str], str],
        resolution: Resolution | None = None,
    ) -> list[XeroDocument]:
        if change.op == "delete" or not self.has_contact(change):
            return []
        unique = bool(resolution is not None and resolution.facts.get("name_taken"))
        return [self.contact(ctx, _settings(ctx), change, unique)]


class Customers(People):
    """Registered customers to Xero contacts (ContactNumber `{prefix}-C-{id}`)."""

    name = m.CUSTOMERS
    deletes = DeleteMode.RECONCILE

    def record(self, ctx: Ctx, change: Change) -> Resolution:
        if _linked(ctx, m.CUSTOMERS, change.key):
            return Resolution.create()
        # Registered after ordering as a guest: the guest's contact is theirs now.
        email = m.normalise_email(str(change.data.get("email") or ""))
        if email and (guest := ctx.links.xero_id(m.GUESTS, email)):
            return Resolution.link(guest)
        number = m.contact_number(ctx.key_prefix, change.key)
        return _match_contact(ctx, _settings(ctx), change.data, number)

    def contact(self, ctx: Ctx, settings: MagentoSettings, change: Change, unique: bool) -> Doc:
        return m.customer_to_contact(change.data, settings, ctx.key_prefix, with_id=unique)


class Guests(People):
    """A guest order's buyer as a contact, keyed by the normalised email (dependency-only)."""

    name = m.GUESTS
    cursor = CursorKind.NONE
    title = "Guest customers"

    async def fetch(
        self, ctx: SourceContext[MagentoSettings], cursor: str | None, until: str | None
    ) -> AsyncIterator[Change]:
        """Nothing: guests are read when an order needs them."""
        return
        yield  # pragma: no cover  (an async generator that yields nothing)

    async def fetch_keys(
        self, ctx: SourceContext[MagentoSettings], keys: list[str]
    ) -> AsyncIterator[Change]:
        """Each guest's latest order, by email."""
        for key in dict.fromkeys(keys):
            change = await _guest(ctx.client, key)
            if change is not None:
                yield change

    def record(self, ctx: Ctx, change: Change) -> Resolution:
        registered = str(change.data.get(REGISTERED) or "")
        if registered and not _linked(ctx, m.GUESTS, change.key):
            # The registered customer's contact, once it is in Xero.
            contact = ctx.links.xero_id(m.CUSTOMERS, registered)
            if contact:
                return Resolution.link(contact)
            return Resolution.create(needs=(Dependency(m.CUSTOMERS, registered),))
        if _linked(ctx, m.GUESTS, change.key):
            return Resolution.create()
        guest = m.guest_of(change.data)
        email = m.normalise_email(guest["email"] or change.key)
        number = m.guest_contact_number(ctx.key_prefix, email)
        return _match_contact(ctx, _settings(ctx), {**guest, "email": email}, number)

    def has_contact(self, change: Change) -> bool:
        return not change.data.get(REGISTERED)  # else the customer's own stream keeps it

    def contact(self, ctx: Ctx, settings: MagentoSettings, change: Change, unique: bool) -> Doc:
        return m.guest_to_contact(change.data, settings, ctx.key_prefix, with_email=unique)


class Products(MagentoStream):
    """Products to untracked, sold Xero items (Code from the SKU)."""

    name = m.PRODUCTS
    xero_object = "Item"
    deletes = DeleteMode.RECONCILE

    def record(self, ctx: Ctx, change: Change) -> Resolution:
        return _map_product(ctx, change)

    def documents(self, ctx: Ctx, settings: MagentoSettings, change: Change, links: Links) -> Docs:
        book = _book(ctx)
        settings = _with_tax_default(settings, book)
        return [m.product_to_item(change.data, settings, ctx.key_prefix, _accounts(book, settings))]


class Orders(MagentoStream):
    """Orders to sales invoices totalling the grand total to the cent."""

    name = m.ORDERS
    xero_object = "Invoice"
    depends_on = (m.CUSTOMERS, m.GUESTS, m.PRODUCTS)

    def record(self, ctx: Ctx, change: Change) -> Resolution:
        return _map_order(ctx, change)

    def documents(self, ctx: Ctx, settings: MagentoSettings, change: Change, links: Links) -> Docs:
        book = _book(ctx)
        settings = _with_tax_default(settings, book)
        order = change.data
        check_currency(ctx, order, _name(order, "order"))
        doc = m.order_to_invoice(
            order,
            settings,
            ctx.key_prefix,
            links,
            _accounts(book, settings, order),
            tax_rates=xero_tax_rates(ctx),
            inclusive=_inclusive(settings, order),
            org=ctx.org,
        )
        return [doc]


class Invoices(MagentoStream):
    """Magento invoices: the order's Xero invoice authorised, then its payment."""

    name = m.INVOICES
    xero_object = "Payment"
    depends_on = (m.ORDERS,)

    def record(self, ctx: Ctx, change: Change) -> Resolution:
        return _map_invoice(ctx, change)

    def documents(self, ctx: Ctx, settings: MagentoSettings, change: Change, links: Links) -> Docs:
        book = _book(ctx)
        return _invoice_documents(ctx, _with_tax_default(settings, book), book, change, links)


class CreditMemos(MagentoStream):
    """Credit memos to credit notes, allocated to their invoice or refunded."""

    name = m.CREDIT_MEMOS
    xero_object = "CreditNote"
    depends_on = (m.ORDERS, m.INVOICES)

    def record(self, ctx: Ctx, change: Change) -> Resolution:
        return _map_credit_memo(ctx, _settings(ctx), change)

    def documents(self, ctx: Ctx, settings: MagentoSettings, change: Change, links: Links) -> Docs:
        book = _book(ctx)
        return _credit_memo_documents(ctx, _with_tax_default(settings, book), book, change, links)


STREAMS_IN_ORDER: tuple[MagentoStream, ...] = (
    Customers(),
    Guests(),
    Products(),
    Orders(),
    Invoices(),
    CreditMemos(),
)
