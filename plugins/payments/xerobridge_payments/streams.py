"""The plugin's streams: customers and invoices from Xero; payments and payouts to Xero.

Xero's sales invoices (and their contacts, as customers) are read by the core and written to the
platform, carrying their Xero ids as `external_id`, which finds them again after a lost answer;
what Xero settled on an invoice (payments, credit notes) reduces its balance in the platform,
once per Xero reference. What the platform moves comes back: its payments, refunds and
chargebacks (`payments`) and its payouts (`payouts`), as documents around one clearing account
(see mapping.py). Nothing the platform makes of its own (customers, invoices) goes to Xero as
such: a payment on the platform's own invoice becomes receive-money from one contact, `payer`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from xerobridge.sdk import (
    Change,
    CursorKind,
    Dependency,
    Direction,
    NeedsPerson,
    Notice,
    Permanent,
    Resolution,
    SourceContext,
    SourceWrite,
    Stream,
    XeroDocument,
    XeroEvent,
    posting,
)
from xerobridge_payments import mapping as m
from xerobridge_payments.client import Line, PaymentsClient
from xerobridge_payments.errors import PaymentsNotFound, PaymentsRequestError
from xerobridge_payments.pacer import SharedPacer, WindowPacer
from xerobridge_payments.settings import PaymentsSettings, RefundHandling

Context = SourceContext[PaymentsSettings]
Links = Mapping[tuple[str, str, str], str]
#: The one key of the `payer` stream: the contact of money with no Xero contact of its own.
PAYER = "platform"
#: Payment statuses of money that moved (a refunded payment was paid first).
MOVED = ("succeeded", "refunded", "chargeback", "paid")
PAID_OUT = ("succeeded", "paid")


def make_client(ctx: Context) -> PaymentsClient:
    """The source's client, built once by the core (`ctx.client`)."""
    settings = ctx.settings
    rate = settings.requests_per_second
    # Every worker keeps to the platform's limit together, on the core's shared turns.
    pacer = SharedPacer(ctx.pace, rate) if ctx.pace else WindowPacer.per_second(ctx.clock, rate)
    return PaymentsClient(
        ctx.http,
        settings.api_url,
        settings.client_id,
        settings.client_secret.get_secret_value(),
        clock=ctx.clock,
        pacer=pacer,
        page_size=settings.page_size,
    )


def _portal(ctx: Context, kind: str, key: str) -> str:
    return f"{str(ctx.settings.portal_url).rstrip('/')}/{kind}/{key}"


# -- from Xero ------------------------------------------------------------------------------------


class Customers(Stream[PaymentsSettings]):
    """Xero's customers (contacts with sales), as the platform's customers."""

    name = "customers"
    xero_object = "Contact"
    direction = Direction.FROM_XERO
    where = "IsCustomer==true"
    backfill = timedelta(days=365)
    title = "Customers"

    async def match(self, ctx: Context, event: XeroEvent) -> Resolution:
        """The platform customer that carries the contact's id, else one of its email that
        carries none; else a new one (an archived contact is not added)."""
        record = event.record or {}
        if record.get("ContactStatus", "ACTIVE") != "ACTIVE":
            return Resolution.skip(f"contact {record.get('Name')!r} is archived in Xero")
        found = await ctx.client.find_customer(external_id=event.resource_id)
        if found is None and record.get("EmailAddress"):
            found = await ctx.client.find_customer(email=str(record["EmailAddress"]))
            if found is not None and found.get("external_id"):
                found = None  # the customer of another Xero contact
        return Resolution.link(str(found["id"])) if found else Resolution.create()

    def on_xero(self, ctx: Context, event: XeroEvent) -> list[SourceWrite | Notice]:
        """Update the linked customer, else add one; an archived contact asks a person."""
        record = event.record or {}
        if record.get("ContactStatus", "ACTIVE") != "ACTIVE":
            if event.linked and ctx.settings.archive_reminders:
                return [
                    _archive(
                        "customer",
                        str(record.get("Name")),
                        "archived",
                        _portal(ctx, "customers", event.linked[1]),
                    )
                ]
            return []
        data = m.customer_of(record)
        if event.linked:
            return [SourceWrite(self.name, event.linked[1], "update", data)]
        return [SourceWrite(self.name, "", "create", data, create=True)]

    async def apply(self, ctx: Context, write: SourceWrite) -> str | None:
        """Add the customer (carrying the contact's id) or change it."""
        if write.create:
            made = await ctx.client.create_customer(**write.data, external_id=write.xero_id)
            return str(made["id"])
        await ctx.client.update_customer(write.key, **write.data)
        return write.key

    async def find(self, ctx: Context, write: SourceWrite) -> str | None:
        """The customer an earlier try added, by the contact's id it carries."""
        found = await ctx.client.find_customer(external_id=write.xero_id)
        return str(found["id"]) if found else None


def _archive(kind: str, name: str, how: str, url: str) -> Notice:
    return Notice(
        f"{kind} {name} was {how} in Xero: archive it in the payments platform by hand "
        "(it is never archived for you)",
        url,
    )


class Invoices(Stream[PaymentsSettings]):
    """Xero's approved sales invoices, as the platform's invoices; the last year first."""

    name = "invoices"
    xero_object = "Invoice"
    direction = Direction.FROM_XERO
    where = 'Type=="ACCREC"'
    backfill = timedelta(days=365)
    title = "Invoices"

    async def match(self, ctx: Context, event: XeroEvent) -> Resolution:
        """The platform invoice that carries the Xero id, else a new one once its contact is a
        customer; drafts, voided invoices and other currencies stay out."""
        record = event.record or {}
        number, status = record.get("InvoiceNumber"), str(record.get("Status") or "")
        if status not in m.OWED:
            return Resolution.skip(
                f"invoice {number} is {status.lower()} in Xero: only "
                "approved invoices go to the platform"
            )
        currency = str(record.get("CurrencyCode") or "")
        if currency not in ctx.settings.currencies:
            return Resolution.skip(
                f"invoice {number} is in {currency}, not one of the "
                f"currencies setting ({', '.join(ctx.settings.currencies)})"
            )
        if m.money(record.get("Total")) <= 0:
            return Resolution.skip(f"invoice {number} has nothing to pay")
        found = await ctx.client.find_invoice(event.resource_id)
        if found is not None:
            return Resolution.link(str(found["id"]))
        contact = str((record.get("Contact") or {}).get("ContactID") or "")
        return Resolution.create(needs=(Dependency("customers", contact),))

    def on_xero(self, ctx: Context, event: XeroEvent) -> list[SourceWrite | Notice]:
        """The invoice as Xero has it now, and what Xero settled on it; a voided or deleted
        invoice asks a person to archive it in the platform."""
        record = event.record or {}
        number, status = str(record.get("InvoiceNumber")), str(record.get("Status") or "")
        if status in m.CANCELLED:
            if event.linked and ctx.settings.archive_reminders:
                return [
                    _archive(
                        "invoice", number, status.lower(), _portal(ctx, "invoices", event.linked[1])
                    )
                ]
            return []
        if status not in m.OWED:
            return []
        # The same data for a create and the updates after it: an update is made only when
        # something changed in Xero (the core compares what each write carries).
        contact = str((record.get("Contact") or {}).get("ContactID") or "")
        customer = ctx.links.source_key("Contact", contact)
        data = {
            **m.invoice_of(record, ours=f"{ctx.key_prefix}-"),
            "customer_id": customer[1] if customer else "",
        }
        if event.linked:
            return [SourceWrite(self.name, event.linked[1], "update", data)]
        if customer is None:
            raise Permanent(
                f"invoice {number}: its contact is not a customer in the platform "
                "yet; it goes again once the contact is"
            )
        return [SourceWrite(self.name, "", "create", data, create=True)]

    async def apply(self, ctx: Context, write: SourceWrite) -> str | None:
        """Add or change the invoice, then record what Xero settled on it."""
        client: PaymentsClient = ctx.client
        data = write.data
        lines = [
            Line(x["description"], Decimal(x["amount"]), Decimal(x["quantity"]))
            for x in data["lines"]
        ]
        if write.create:
            invoice = await client.create_invoice(
                customer_id=str(data["customer_id"]),
                lines=lines,
                due_date=datetime.fromisoformat(data["due_date"]).date(),
                external_id=write.xero_id,
                invoice_number=data["invoice_number"] or None,
                currency=data["currency"],
                memo=data["memo"] or None,
            )
        else:
            invoice = await client.get_invoice(write.key)
            if invoice.get("status") in ("open", "partially_paid") and _changed(invoice, data):
                invoice = await client.update_invoice(
                    write.key,
                    lines=lines,
                    memo=data["memo"],
                    due_date=datetime.fromisoformat(data["due_date"]).date(),
                )
        await _record_settled(client, invoice, data)
        return str(invoice["id"])

    async def find(self, ctx: Context, write: SourceWrite) -> str | None:
        """The invoice an earlier try added (by the Xero id it carries), finished: what Xero
        settled is recorded on it, as the lost try would have done."""
        found = await ctx.client.find_invoice(str(write.xero_id))
        if found is None:
            return None
        await _record_settled(ctx.client, found, write.data)
        return str(found["id"])


def _changed(invoice: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
    """Whether the platform's invoice differs from Xero's in lines, due date or memo."""

    def norm(lines: Any) -> list[tuple[str, Decimal, Decimal]]:
        return [
            (str(x["description"]), m.money(x["amount"]), Decimal(str(x["quantity"])))
            for x in lines
        ]

    return (
        norm(invoice.get("line_items") or []) != norm(data["lines"])
        or str(invoice.get("due_date")) != data["due_date"]
        or str(invoice.get("memo") or "") != data["memo"]
    )


async def _record_settled(
    client: PaymentsClient, invoice: Mapping[str, Any], data: Mapping[str, Any]
) -> None:
    """Each payment and credit Xero has on the invoice, once (by its Xero id) on the platform."""
    if invoice.get("status") == "archived":
        return
    known = {str(e.get("reference")) for e in invoice.get("external_payments") or []}
    for entry in data["settled"]:
        if entry["reference"] in known:
            continue
        amount = Decimal(entry["amount"])
        try:
            await client.record_external_payment(
                str(invoice["id"]),
                amount=amount,
                reference=entry["reference"],
                paid_on=datetime.fromisoformat(entry["date"]).date(),
                kind=entry["kind"],
            )
        except PaymentsRequestError as exc:
            raise Permanent(
                f"invoice {data['invoice_number']}: the {entry['kind']} {entry['reference']} "
                f"of {amount} made in Xero could not reduce the platform's balance ({exc}); "
                "check the invoice in both, then retry"
            ) from exc


# -- to Xero --------------------------------------------------------------------------------------


class Payer(Stream[PaymentsSettings]):
    """The one Xero contact of money from the platform's own customers (who are not contacts)."""

    name = "payer"
    xero_object = "Contact"
    cursor = CursorKind.NONE  # read only when a record needs it
    title = "Payer contact"

    def fetch_keys(self, ctx: Context, keys: list[str]) -> list[Change]:
        """The contact, named by the standalone_contact setting."""
        return [Change(self.name, PAYER, {"name": ctx.settings.standalone_contact})]

    def resolve(self, ctx: Context, change: Change) -> Resolution:
        """The contact of that name, else a new one."""
        found = ctx.xero.contacts_by_name(str(change.data["name"]))
        return Resolution.link(str(found[0]["ContactID"])) if found else Resolution.create()

    def build(self, ctx: Context, change: Change, links: Links) -> list[XeroDocument]:
        number = posting.keys.exact(ctx.key_prefix, "PAYER", 50, "payer contact")
        body = {"Name": posting.text.clean(change.data["name"], 255), "ContactNumber": number}
        return [XeroDocument("Contact", body, number, "ContactNumber")]


_PAYER = Dependency("payer", PAYER)


class Payments(Stream[PaymentsSettings]):
    """The platform's payments, refunds and chargebacks, as money in and out of the clearing
    account: a payment on an invoice from Xero is a Xero payment on that invoice."""

    name = "payments"
    xero_object = "Payment"
    depends_on = ("payer",)
    title = "Payments"

    async def fetch(
        self, ctx: Context, cursor: str | None, until: str | None
    ) -> AsyncIterator[Change]:
        """Transactions made since the cursor, with what they need of their invoice."""
        since = datetime.fromisoformat(cursor) if cursor else None
        before = datetime.fromisoformat(until) if until else None
        seen: dict[str, dict[str, Any]] = {}
        async for txn in ctx.client.iter_payments(since=since, until=before, type=None):
            yield await self._change(ctx, txn, seen)
            original = str(txn.get("original_payment_id") or "")
            if original and ctx.settings.refund_handling is RefundHandling.DELETE_PAYMENT:
                # Reversed in full, its payment is deleted in Xero: read it again as it is now.
                yield await self._change(ctx, await self._payment(ctx, original, seen), seen)

    async def fetch_keys(self, ctx: Context, keys: list[str]) -> AsyncIterator[Change]:
        """The transactions with these ids (a webhook names them)."""
        seen: dict[str, dict[str, Any]] = {}
        for key in dict.fromkeys(keys):
            try:
                txn = await ctx.client.get_payment(key)
            except PaymentsNotFound:
                continue
            yield await self._change(ctx, txn, seen)

    async def _payment(
        self, ctx: Context, ident: str, seen: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        if f"payment:{ident}" not in seen:
            seen[f"payment:{ident}"] = await ctx.client.get_payment(ident)
        return seen[f"payment:{ident}"]

    async def _change(
        self, ctx: Context, txn: Mapping[str, Any], seen: dict[str, dict[str, Any]]
    ) -> Change:
        invoice_id = str(txn.get("invoice_id") or "")
        if invoice_id and invoice_id not in seen:
            seen[invoice_id] = await ctx.client.get_invoice(invoice_id)
        invoice = seen.get(invoice_id, {})
        customer_id = str(txn.get("customer_id") or "")
        if customer_id and f"customer:{customer_id}" not in seen:
            seen[f"customer:{customer_id}"] = await ctx.client.get_customer(customer_id)
        customer = seen.get(f"customer:{customer_id}", {})
        original = str(txn.get("original_payment_id") or "")
        of = await self._payment(ctx, original, seen) if original else txn
        data = {
            "type": str(txn.get("type") or "payment"),
            # Whether the payment (this one, or the one this reverses) is reversed in full.
            "reversed": _reversed(of),
            "status": str(txn.get("status") or ""),
            "amount": str(m.money(txn.get("sub_total"))),
            "currency": str(txn.get("currency") or ""),
            "created_at": str(txn.get("created_at") or ""),
            "original_payment_id": str(txn.get("original_payment_id") or ""),
            "invoice_id": invoice_id,
            "invoice_number": str(invoice.get("invoice_number") or ""),
            "xero_invoice_id": str(invoice.get("external_id") or ""),
            "customer": str(customer.get("company_name") or customer.get("name") or ""),
            "xero_contact_id": str(customer.get("external_id") or ""),
        }
        return Change(self.name, str(txn["id"]), data, updated_at=m.stamp(data["created_at"]))

    def resolve(self, ctx: Context, change: Change) -> Resolution:
        """Money that moved, in a currency of the organisation; it needs the payer contact
        unless it is a payment on an invoice from Xero."""
        data = change.data
        if data["status"] not in MOVED:
            return Resolution.skip(
                f"{data['type']} {change.key} is {data['status']}: no money moved"
            )
        posting.currencies.check(ctx.org, data["currency"], record=f"{data['type']} {change.key}")
        deletes = ctx.settings.refund_handling is RefundHandling.DELETE_PAYMENT
        if deletes and data["reversed"] and data["xero_invoice_id"]:
            if data["type"] != "payment":
                return Resolution.skip(
                    f"{data['type']} {change.key}: its payment {data['original_payment_id']} is "
                    "deleted in Xero instead (refund_handling is delete_payment)"
                )
            if not ctx.links.xero_id(self.name, change.key):
                return Resolution.skip(
                    f"payment {change.key} was reversed in full before it "
                    "reached Xero (refund_handling is delete_payment)"
                )
        if data["type"] == "payment" and data["xero_invoice_id"]:
            return Resolution.create()
        if data["type"] != "payment" and data["xero_contact_id"]:
            return Resolution.create()
        return Resolution.create(needs=(_PAYER,))

    def build(self, ctx: Context, change: Change, links: Links) -> list[XeroDocument]:
        """A payment on the Xero invoice, receive-money, or spend-money for a reversal."""
        data, settings, book = change.data, ctx.settings, posting.accounts.AccountBook.of(ctx)
        clearing = book.payable("clearing_account", settings.clearing_account, bank_only=True)
        on = m.day(ctx.org, data["created_at"], f"{data['type']} {change.key}")
        amount = Decimal(data["amount"])
        invoice = data["invoice_number"] or data["invoice_id"]
        if data["type"] == "payment":
            key = m.reference(ctx.key_prefix, "PAY", change.key)
            if data["xero_invoice_id"]:
                deleted = (
                    data["reversed"] and settings.refund_handling is RefundHandling.DELETE_PAYMENT
                )
                return [
                    m.payment(
                        key=key,
                        invoice_id=data["xero_invoice_id"],
                        account=clearing,
                        on=on,
                        amount=amount,
                        deleted=deleted,
                    )
                ]
            line = (
                f"Payment {change.key} on invoice {invoice} ({data['customer']})",
                amount,
                book.code("standalone_account", settings.standalone_account),
                settings.standalone_tax_type,
            )
            return [
                m.bank_transaction(
                    key=key,
                    kind="RECEIVE",
                    account=clearing,
                    on=on,
                    contact_id=links[("payer", PAYER, "main")],
                    lines=[line],
                )
            ]
        key = m.reference(ctx.key_prefix, "REV", change.key)
        contact = data["xero_contact_id"] or links[("payer", PAYER, "main")]
        what = "Chargeback" if data["type"] == "chargeback" else "Refund"
        line = (
            f"{what} {change.key} of payment {data['original_payment_id']} on invoice "
            f"{invoice} ({data['customer']})",
            amount,
            book.code("refund_account", settings.refund_account),
            settings.standalone_tax_type,
        )
        return [
            m.bank_transaction(
                key=key, kind="SPEND", account=clearing, on=on, contact_id=contact, lines=[line]
            )
        ]


class Payouts(Stream[PaymentsSettings]):
    """The platform's payouts: the fees kept back, spent out of the clearing account, and the
    net amount transferred to the bank account it arrives in (it matches the deposit)."""

    name = "payouts"
    xero_object = "BankTransfer"
    depends_on = ("payments", "payer")
    title = "Payouts"

    async def fetch(
        self, ctx: Context, cursor: str | None, until: str | None
    ) -> AsyncIterator[Change]:
        """Payouts made since the cursor."""
        since = datetime.fromisoformat(cursor) if cursor else None
        before = datetime.fromisoformat(until) if until else None
        async for payout in ctx.client.iter_payouts(since=since, until=before):
            yield _payout_change(payout)

    async def fetch_keys(self, ctx: Context, keys: list[str]) -> AsyncIterator[Change]:
        """The payouts with these ids (a webhook names them)."""
        for key in dict.fromkeys(keys):
            try:
                yield _payout_change(await ctx.client.get_payout(key))
            except PaymentsNotFound:
                continue

    def resolve(self, ctx: Context, change: Change) -> Resolution:
        """A payout paid, once the bank account it arrives in is set."""
        if change.data["status"] not in PAID_OUT:
            return Resolution.skip(f"payout {change.key} is {change.data['status']}: not paid yet")
        if not ctx.settings.payout_bank_account:
            raise NeedsPerson(
                f"payout {change.key}: payout_bank_account is not set; choose the bank account "
                "payouts arrive in (Set up accounts, or `xerobridge settings set "
                f"{ctx.source} payout_bank_account=...`)"
            )
        return Resolution.create(needs=(_PAYER,) if Decimal(change.data["fees"]) else ())

    def build(self, ctx: Context, change: Change, links: Links) -> list[XeroDocument]:
        """The transfer of the net amount, and the fees' spend-money."""
        data, settings, book = change.data, ctx.settings, posting.accounts.AccountBook.of(ctx)
        clearing = book.payable("clearing_account", settings.clearing_account, bank_only=True)
        bank = book.payable("payout_bank_account", settings.payout_bank_account, bank_only=True)
        on, net, fees = data["arrival_date"], Decimal(data["net"]), Decimal(data["fees"])
        docs: list[XeroDocument] = []
        key = m.reference(ctx.key_prefix, "PO", change.key)
        if net > 0:
            docs.append(m.transfer(key=key, source=clearing, target=bank, on=on, amount=net))
        elif net < 0:  # refunds beyond the payments: the platform took money from the bank
            docs.append(m.transfer(key=key, source=bank, target=clearing, on=on, amount=-net))
        if fees:
            line = (
                f"Payment platform fees of payout {change.key}",
                fees,
                book.code("fee_account", settings.fee_account),
                settings.fee_tax_type,
            )
            fee_key = m.reference(ctx.key_prefix, "FEE", change.key)
            docs.append(
                m.bank_transaction(
                    key=fee_key,
                    kind="SPEND",
                    account=clearing,
                    on=on,
                    contact_id=links[("payer", PAYER, "main")],
                    lines=[line],
                    role="fees",
                )
            )
        return docs


def _reversed(payment: Mapping[str, Any]) -> bool:
    """Whether a payment was taken back in full: refunded in full, or charged back whole."""
    refunded = m.money(payment.get("refunded_amount"))
    status = payment.get("status")
    return status == "refunded" or (status == "chargeback" and refunded == 0)


def _payout_change(payout: Mapping[str, Any]) -> Change:
    data = {
        "status": str(payout.get("status") or ""),
        "gross": str(m.money(payout.get("sub_total"))),
        "fees": str(m.fee_total(payout)),
        "net": str(m.money(payout.get("total"))),
        "arrival_date": m.arrival(payout),
        "created_at": str(payout.get("created_at") or ""),
    }
    return Change("payouts", str(payout["id"]), data, updated_at=m.stamp(data["created_at"]))


STREAMS: list[Stream[PaymentsSettings]] = [Customers(), Invoices(), Payer(), Payments(), Payouts()]
