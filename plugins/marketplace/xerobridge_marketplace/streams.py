"""The plugin's streams: customers, products and orders of a reseller marketplace, to Xero.

Customers become contacts (matched by name or billing email, picked by a person, or created),
products items (matched by code or name, or created; one item per product unless
`allow_shared_items`), and each completed order an invoice of its charge lines, with refund lines
on a credit note of their own (or left out: `refunds=quantity_only`). The API has no filter by
change time: customers and products are read whole every run (the core writes only what
changed), orders by creation-time windows with every order not yet final read again until it
settles (changes.py). A customer whose auto-sync is off has its orders held for a person's
approval.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from xerobridge.sdk import (
    Change,
    Checkpoint,
    CursorKind,
    Dependency,
    Permanent,
    Resolution,
    SourceContext,
    Stream,
    XeroDocument,
    posting,
)
from xerobridge_marketplace import mapping as m
from xerobridge_marketplace.changes import OrderChanges, OrderCursor
from xerobridge_marketplace.client import MarketplaceClient
from xerobridge_marketplace.settings import MarketplaceSettings

Context = SourceContext[MarketplaceSettings]
Links = Mapping[tuple[str, str, str], str]


def make_client(ctx: Context) -> MarketplaceClient:
    """The source's client, built once by the core (`ctx.client`)."""
    return MarketplaceClient.from_settings(ctx.http, ctx.settings, clock=ctx.clock)


class Customers(Stream[MarketplaceSettings]):
    """The marketplace's customers, as Xero contacts."""

    name = "customers"
    xero_object = "Contact"
    cursor = CursorKind.NONE
    title = "Customers"

    async def fetch(self, ctx: Context, cursor: str | None, until: str | None
                    ) -> AsyncIterator[Change]:  # fmt: skip
        """Every customer; one whose name another customer has too is named with its id."""
        customers = [c async for c in ctx.client.iter_customers()]
        names = Counter(str(c.get("name", "")).casefold() for c in customers)
        for customer in customers:
            name = str(customer.get("name", "")).strip()
            shown = f"{name} ({customer['id']})" if names[name.casefold()] > 1 else name
            yield Change(self.name, str(customer["id"]), {**customer, "xero_name": shown})

    def resolve(self, ctx: Context, change: Change) -> Resolution:
        """Its own contact, else one of the same name or billing email (by match_customers;
        several wait for a person), else a new one."""
        number = m.contact_number(ctx.key_prefix, change.key)
        mode = ctx.settings.match_customers
        if not str(change.data.get("name", "")).strip():
            raise Permanent(f"customer {change.key} has no name; give it one in the marketplace")
        if mode == "name":
            own = ctx.xero.contact_by_number(number)
            if own is not None:
                return Resolution.link(str(own["ContactID"]))
            mine = f"{ctx.key_prefix}-"
            found = [c for c in ctx.xero.contacts_by_name(str(change.data["xero_name"]))
                     if not str(c.get("ContactNumber") or "").startswith(mine)]  # fmt: skip
            if found:
                return posting.contacts.pick(found, "same name", str(change.data["xero_name"]))
            return Resolution.create()
        ladder = {"name_or_email": "email_then_name", "email": "email", "none": "none"}[mode]
        return posting.contacts.match(
            ctx.xero, own_number=number, email=str(m.billing(change.data).get("email") or ""),
            name=str(change.data["xero_name"]), mode=ladder,  # type: ignore[arg-type]
        )  # fmt: skip

    def build(self, ctx: Context, change: Change, links: Links) -> list[XeroDocument]:
        number = m.contact_number(ctx.key_prefix, change.key)
        return [m.contact(change.data, number=number, name=str(change.data["xero_name"]))]


class Products(Stream[MarketplaceSettings]):
    """The marketplace's products, as Xero items."""

    name = "products"
    xero_object = "Item"
    cursor = CursorKind.NONE
    title = "Products"

    async def fetch(self, ctx: Context, cursor: str | None, until: str | None
                    ) -> AsyncIterator[Change]:  # fmt: skip
        """Every product of the catalogue."""
        async for product in ctx.client.iter_products():
            yield Change(self.name, str(product["id"]), dict(product))

    async def fetch_keys(self, ctx: Context, keys: list[str]) -> AsyncIterator[Change]:
        """The products with these ids (an order names them)."""
        wanted = set(keys)
        async for product in ctx.client.iter_products():
            if str(product["id"]) in wanted:
                yield Change(self.name, str(product["id"]), dict(product))

    def resolve(self, ctx: Context, change: Change) -> Resolution:
        """Its own item, else the item of its MPN or name that no other product has (unless
        allow_shared_items), else a new one; a person's mapping to a taken item is refused."""
        linked = ctx.links.xero_id(self.name, change.key)
        if linked:
            self._alone(ctx, change.key, linked)
            return Resolution.create()
        own = ctx.xero.item_by_code(m.item_code(ctx.key_prefix, str(change.data.get("mpn"))))
        if own is not None:
            return Resolution.link(str(own["ItemID"]))
        taken = set(ctx.links.linked(self.name).values())
        name = str(change.data.get("name", "")).casefold()
        for found in ctx.xero.items():
            same = found.get("Code") == change.data.get("mpn") or (
                str(found.get("Name", "")).casefold() == name)  # fmt: skip
            if same and (ctx.settings.allow_shared_items or str(found["ItemID"]) not in taken):
                return Resolution.link(str(found["ItemID"]))
        return Resolution.create()

    def _alone(self, ctx: Context, key: str, item_id: str) -> None:
        """Permanent when another product is mapped to the same item and that is not allowed."""
        if ctx.settings.allow_shared_items:
            return
        others = sorted(
            k for k, x in ctx.links.linked(self.name).items() if x == item_id and k != key
        )
        if others:
            raise Permanent(
                f"product {key} is mapped to the Xero item {item_id}, which product {others[0]} "
                "is mapped to already: map it to another item (`xerobridge map`), or switch on "
                "allow_shared_items"
            )

    def build(self, ctx: Context, change: Change, links: Links) -> list[XeroDocument]:
        """A new item for the product; an item of the organisation it was mapped to is used as
        it is (its code, name and price are the bookkeeper's)."""
        code = m.item_code(ctx.key_prefix, str(change.data.get("mpn") or change.key))
        linked = links.get((self.name, change.key, "main"))
        if linked:
            item = next((i for i in ctx.xero.items() if str(i.get("ItemID")) == linked), None)
            if item is not None and item.get("Code") != code:
                return []
        account = posting.accounts.AccountBook.of(ctx).code(
            "sales_account", ctx.settings.sales_account
        )
        price = m.price_in(change.data, ctx.org.base_currency) if ctx.org.base_currency else None
        return [m.item(change.data, code=code, price=price, account=account)]


class Orders(Stream[MarketplaceSettings]):
    """Completed orders, each as an invoice of its charge lines (refunds on a credit note)."""

    name = "orders"
    xero_object = "Invoice"
    depends_on = ("customers", "products")
    cursor = CursorKind.TOKEN
    title = "Orders"

    async def fetch(self, ctx: Context, cursor: str | None, until: str | None
                    ) -> AsyncIterator[Change | Checkpoint]:  # fmt: skip
        """New orders, and the open ones whose status moved; then where the read got to."""
        read = OrderChanges(ctx.client, OrderCursor.from_text(cursor), now=ctx.clock.now())
        billed: dict[str, list[dict[str, Any]]] = {}
        async for order in read:
            yield await self._change(ctx, order, billed)
        yield Checkpoint(read.cursor.to_text())

    async def fetch_keys(self, ctx: Context, keys: list[str]) -> AsyncIterator[Change]:
        """The orders with these ids."""
        billed: dict[str, list[dict[str, Any]]] = {}
        for key in dict.fromkeys(keys):
            yield await self._change(ctx, await ctx.client.get_order(key), billed)

    async def _change(
        self, ctx: Context, order: Mapping[str, Any], billed: dict[str, list[dict[str, Any]]]
    ) -> Change:
        customer = str(order.get("customerId") or "")
        hold = ""
        if not ctx.settings_for("customers", customer).auto_sync:
            hold = (f"customer {customer} has auto-sync off: approve this order's sync task, or "
                    "switch auto-sync on for the customer")  # fmt: skip
        updated = posting.dates.moment(order.get("creationDate"), record=f"order {order.get('id')}",
                                       source=m.SOURCE)  # fmt: skip
        data = {**order, "reverses": await self._reversed(ctx, order, billed),
                "billed_by": await self._billed_by(ctx, order, billed)}  # fmt: skip
        return Change(self.name, str(order["id"]), data, updated_at=updated, hold=hold)

    async def _orders_of(
        self, ctx: Context, subscription: str, billed: dict[str, list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """The subscription's completed orders, read once per fetch."""
        if subscription not in billed:
            billed[subscription] = [
                o async for o in ctx.client.iter_orders(subscription_id=subscription)
                if o.get("status") == "completed"
            ]  # fmt: skip
        return billed[subscription]

    async def _billed_by(
        self, ctx: Context, order: Mapping[str, Any], billed: dict[str, list[dict[str, Any]]]
    ) -> dict[str, str]:
        """The periods (by start) this order charges that an earlier order of the subscription
        charged already, with that order's id: a period goes on one invoice only."""
        subscription = str(order.get("subscriptionId") or "")
        starts = {str(d["startDate"]) for d in order.get("details") or []
                  if d.get("startDate") and d.get("type") not in m.REFUNDS}  # fmt: skip
        if not subscription or not starts:
            return {}
        mine = (str(order.get("creationDate") or ""), str(order["id"]))
        found: dict[str, str] = {}
        for earlier in await self._orders_of(ctx, subscription, billed):
            if (str(earlier.get("creationDate") or ""), str(earlier["id"])) >= mine:
                continue
            for detail in earlier.get("details") or []:
                start = str(detail.get("startDate") or "")
                if start in starts and detail.get("type") not in m.REFUNDS:
                    found.setdefault(start, str(earlier["id"]))
        return found

    async def _reversed(
        self, ctx: Context, order: Mapping[str, Any], billed: dict[str, list[dict[str, Any]]]
    ) -> str:
        """The earlier order of the subscription that billed the period this order's refund
        lines give back ("" when none, or when they give back periods of several orders)."""
        refunds = [d for d in order.get("details") or [] if d.get("type") in m.REFUNDS]
        subscription = str(order.get("subscriptionId") or "")
        if not refunds or not subscription or ctx.settings.refunds != "credit_notes":
            return ""
        orders = await self._orders_of(ctx, subscription, billed)
        found = {
            m.billing_order(earlier, str(refund.get("startDate") or ""))
            for refund in refunds
            for earlier in orders
            if str(earlier["id"]) != str(order["id"])
        } - {""}
        return found.pop() if len(found) == 1 else ""

    def resolve(self, ctx: Context, change: Change) -> Resolution:
        """A completed order once its customer and products are in Xero."""
        order = change.data
        status = str(order.get("status"))
        if status != "completed":
            return Resolution.skip(f"order {order.get('orderNumber')} is {status}: only "
                                   "completed orders are invoiced")  # fmt: skip
        currency = str((order.get("total") or {}).get("currency") or "")
        posting.currencies.check(ctx.org, currency, record=f"order {order.get('orderNumber')}")
        elsewhere = _billed_elsewhere(ctx, order)
        lines = [d for d in order.get("details") or []
                 if m.period_claim(order, d) not in elsewhere]  # fmt: skip
        if not lines:
            return Resolution.skip(
                f"order {order.get('orderNumber')} has no charge lines of its own (its periods "
                "are on other orders' invoices)"
            )
        needs = [Dependency("customers", str(order.get("customerId")))]
        if order.get("reverses"):
            needs.append(Dependency(self.name, str(order["reverses"])))
        # An earlier order that billed one of its periods goes first, and keeps the period.
        for earlier in dict.fromkeys((order.get("billed_by") or {}).values()):
            needs.append(Dependency(self.name, str(earlier)))
        for product in dict.fromkeys(str(d.get("productId")) for d in lines if d.get("productId")):
            needs.append(Dependency("products", product))
        return Resolution.create(needs=tuple(needs))

    def build(self, ctx: Context, change: Change, links: Links) -> list[XeroDocument]:
        """The order's invoice, and a credit note of its refund lines."""
        order, settings = change.data, ctx.settings
        record = f"order {order.get('orderNumber') or change.key}"
        book = posting.accounts.AccountBook.of(ctx)
        account = book.code("sales_account", settings.sales_account)
        default_tax = settings.default_tax_type or book.tax_type_of(settings.sales_account)
        rates = posting.lines.tax_rates(ctx.xero)
        # The organisation's items by id, read from the mirror once for all the order's lines.
        items = {str(i.get("ItemID")): i for i in ctx.xero.items()}
        invoice_lines: list[tuple[posting.lines.Line, Decimal]] = []
        refund_lines: list[tuple[posting.lines.Line, Decimal]] = []
        periods: list[str] = []
        elsewhere = _billed_elsewhere(ctx, order)
        for n, detail in enumerate(order.get("details") or []):
            if m.period_claim(order, detail) in elsewhere:
                continue  # the period is on the invoice of the order that wrote it first
            line, total = self._line(ctx, detail, n, record=record, account=account,
                                     default_tax=default_tax, rates=rates, links=links,
                                     items=items)  # fmt: skip
            if detail.get("type") in m.REFUNDS:
                if settings.refunds == "credit_notes":
                    refund_lines.append((line, total))
            else:
                invoice_lines.append((line, total))
                if claim := m.period_claim(order, detail):
                    periods.append(claim)
        contact = links[("customers", str(order.get("customerId")), "main")]
        day = m.order_date(ctx.org, order)
        currency = str((order.get("total") or {}).get("currency"))
        ours = settings.invoice_number_from == "marketplace"  # else Xero numbers them itself
        docs: list[XeroDocument] = []
        totals: dict[str, Decimal] = {}
        for kind, role, chosen, sign in (("Invoice", "main", invoice_lines, 1),
                                         ("CreditNote", "credit", refund_lines, -1)):  # fmt: skip
            if not chosen:
                continue
            expected = sum((t for _l, t in chosen), Decimal(0)) * sign
            totals[role] = expected
            # A credit note carries the refund as positive amounts.
            lines = [replace(line, unit=line.unit * sign) for line, _t in chosen]
            if settings.prices_from == "xero":
                # Priced by Xero's items: the total is Xero's, not the marketplace's.
                expected = posting.lines.total(lines, "Exclusive")
            bodies = posting.lines.finish(
                lines, expected, "Exclusive",
                rounding_account=lambda: account, record=record, source=m.SOURCE,
            )  # fmt: skip
            shared = kind == "Invoice" and settings.invoice_mode == "existing"
            suffix = "" if kind == "Invoice" else "-CR"
            number = posting.keys.exact(ctx.key_prefix, f"{order.get('orderNumber')}{suffix}",
                                        255, record)  # fmt: skip
            on = day
            if shared:
                # The customer's open invoice of the month: each order adds its lines to it.
                on = m.month_start(day)
                number = m.open_invoice_number(ctx.key_prefix, str(order.get("customerId")), on)
            field = ("InvoiceNumber" if kind == "Invoice" else "CreditNoteNumber") if ours else (
                "Reference")  # fmt: skip
            docs.append(m.document(
                kind, number_field=field, number=number, contact_id=contact, day=on,
                due=m.due_date(on, settings.due_days), status=settings.invoice_status,
                currency=currency, lines=bodies,
                reference="" if shared else str(order.get("poNumber") or ""), role=role,
                append=shared, claims=tuple(dict.fromkeys(periods)) if role == "main" else (),
            ))  # fmt: skip
        if not docs:
            raise m.refused(order, "has no line to invoice (only refunds, and refunds is "
                                   "quantity_only)")  # fmt: skip
        note = links.get((self.name, change.key, "credit"))
        reversed_invoice = links.get((self.name, str(order.get("reverses") or ""), "main"))
        # Xero allocates only approved credit notes to approved invoices; and priced by Xero's
        # items, an invoice may be smaller than the refund of its period: the credit note is
        # then left for the bookkeeper to allocate.
        allocatable = (
            settings.invoice_status == "AUTHORISED" and settings.prices_from == "marketplace"
        )
        if refund_lines and note and reversed_invoice and allocatable:
            # Once the credit note is in Xero: allocated to the invoice whose period it gives back.
            credit = next(d for d in docs if d.role == "credit")
            docs.append(m.allocation(credit, note_id=note, invoice_id=reversed_invoice, day=day,
                                     amount=totals["credit"]))  # fmt: skip
        return docs

    def _line(
        self,
        ctx: Context,
        detail: Mapping[str, Any],
        n: int,
        *,
        record: str,
        account: str,
        default_tax: str,
        rates: Mapping[str, Decimal] | None,
        links: Links,
        items: Mapping[str, Mapping[str, Any]],
    ) -> tuple[posting.lines.Line, Decimal]:
        """One charge line as a Xero line, and its total with tax (the marketplace's)."""
        settings = ctx.settings
        where = f"{record}, line {n + 1}"
        amount = m.amount(detail.get("salesExtendedPrice"), "salesExtendedPrice", where)
        tax = m.amount(detail.get("salesTaxAmount"), "salesTaxAmount", where)
        # A discount on the line comes off before tax, as Xero's DiscountAmount does.
        discount = m.amount(detail.get("salesDiscount"), "salesDiscount", where)
        quantity = Decimal(str(detail.get("quantity") or 1))
        unit = (amount / quantity) if quantity else amount
        item = self._item(ctx, detail, links, items)
        if (
            settings.prices_from == "xero"
            and item is not None
            and detail.get("type") not in m.REFUNDS
        ):
            # A refund is the money given back, whatever the item sells for now.
            price = (item.get("SalesDetails") or {}).get("UnitPrice")
            if price is not None:
                unit = Decimal(str(price)) * (1 if amount >= 0 else -1)
        text = str(detail.get("description") or "")
        if settings.trim_descriptions or not text:
            text = str((item or {}).get("Name") or text)
        if settings.descriptions_from == "xero" and item is not None:
            text = str(item.get("Description") or item.get("Name") or text)
        tax_type, checked = m.tax_of(
            amount - discount,
            tax,
            default=default_tax,
            tax_map=settings.tax_map,
            rates=rates,
            where=where,
        )
        line = posting.lines.Line(
            description=posting.text.clean(text, 4000) or f"Line {n + 1}",
            quantity=quantity, unit=posting.money.unit(unit), account=account,
            tax_type=tax_type, percent=checked, discount=discount,
            item_code=str(item["Code"]) if item is not None and item.get("Code") else None,
        )  # fmt: skip
        return line, amount - discount + tax

    def _item(
        self,
        ctx: Context,
        detail: Mapping[str, Any],
        links: Links,
        items: Mapping[str, Mapping[str, Any]],
    ) -> Mapping[str, Any] | None:
        """The Xero item of the line's product, as the local copy of the organisation has it;
        one this source made that the copy lacks yet (a worker died before it was kept) is
        known by its code, so that the invoice is the same whichever worker builds it."""
        product = str(detail.get("productId") or "")
        item_id = links.get(("products", product, "main"))
        if not item_id:
            return None
        found = items.get(item_id)
        if found is None:
            code = m.item_code(ctx.key_prefix, str(detail.get("mpn") or product))
            return {"ItemID": item_id, "Code": code}
        return found


def _billed_elsewhere(ctx: Context, order: Mapping[str, Any]) -> set[str]:
    """The periods this order charges that are on another order's invoice: the core holds
    each period for the first order whose invoice carried it (`XeroDocument.claims`). One
    look-up per period, not per line (a period's setup and recurring lines share it)."""
    claims = {m.period_claim(order, d) for d in order.get("details") or []} - {""}
    mine = ("orders", str(order["id"]))
    return {c for c in claims if (holder := ctx.links.claimed_by(c)) is not None and holder != mine}


STREAMS: list[Stream[MarketplaceSettings]] = [Customers(), Products(), Orders()]
