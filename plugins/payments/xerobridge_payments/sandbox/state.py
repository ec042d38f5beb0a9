"""The emulated platform's records and the things customers, partners and the platform do.

Money is Decimal to the cent throughout. The rules (the platform publishes none of them, so
each is UNVERIFIED and chosen to be plausible and exact):

- An invoice's `total` is the sum of its lines, each `amount` (unit) x `quantity` rounded to
  the cent; there are no tax fields. `amount_paid` counts its payments less their refunds and
  chargebacks, plus payments and credits recorded from outside (Xero); `amount_due` is the
  rest. Status: `open`, `partially_paid`, `paid`, `archived`.
- A payment's `sub_total` is what it pays on the invoice; its `fees` are the platform's
  charges; fees `covered_by_customer` are added to what the customer is charged (`total`),
  the others are taken from the partner's payout. Refunds and chargebacks are transactions of
  their own (`type` refund / chargeback) naming `original_payment_id`; fees are not given back.
- A payout rolls up every settled transaction not yet paid out: `sub_total` = payments less
  refunds and chargebacks, `fees` = the partner's fees of those payments by type, `total` =
  `sub_total` - fees: exactly what reaches the bank.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from xerobridge.sdk import Clock, SystemClock
from xerobridge_payments.events import TOPIC_OBJECT, Topic
from xerobridge_payments.sandbox.faults import Faults
from xerobridge_payments.sandbox.ratelimit import RateLimit

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
TOKEN_LIFETIME = 3600
#: What a partner account may invoice in; one account settles in one of them (`currency`).
CURRENCIES = ("USD", "CAD", "GBP", "AUD")
#: UNVERIFIED fee schedule: per payment method, a percentage and a fixed part.
METHOD_FEES: dict[str, tuple[str, Decimal, Decimal]] = {
    "card": ("Card processing", Decimal("0.029"), Decimal("0.30")),
    "standard_ach": ("ACH processing", Decimal("0.008"), Decimal("0.00")),
}
#: Payment fee types (FT_*) as a payout's fee types.
PAYOUT_FEE_TYPE = {
    "FT_METHOD": "method",
    "FT_PRODUCT": "product",
    "FT_LATE_PAYMENT": "late_payment",
    "FT_INTEREST": "unspecified",
}
KINDS = ("customers", "invoices", "payments", "payouts", "events", "webhooks")


def money(value: Any) -> Decimal:
    """An amount to the cent."""
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def stamp(moment: datetime) -> str:
    """RFC 3339 in UTC, as the platform writes times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(text: str) -> datetime:
    """An RFC 3339 time (with Z or an offset) as an aware datetime."""
    value = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class Refused(Exception):
    """The platform refuses a request: an HTTP status, an error code and field problems."""

    def __init__(
        self, status: int, code: str, message: str, fields: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}

    def body(self) -> dict[str, Any]:
        """The platform's HttpError body."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            out["validation_errors"] = self.fields
        return out


def invalid(fields: dict[str, str]) -> Refused:
    """A 422 naming the fields and what is wrong with each."""
    return Refused(422, "validation_error", "The request has invalid fields.", fields)


def not_found(kind: str, ident: str) -> Refused:
    return Refused(404, "not_found", f"{kind} {ident} not found")


class SandboxState:
    """Everything the emulated platform holds; tests read and change it directly."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        client_id: str = "sandbox-client",
        client_secret: str = "sandbox-client-secret",
        webhook_secret: str = "sandbox-webhook-secret-0123456789",
        public_url: str | None = None,
        currency: str = "USD",
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        #: The partner account's currency: its generated invoices and its payouts are in it.
        self.currency = currency
        self.client_id = client_id
        self.client_secret = client_secret
        self.webhook_secret = webhook_secret
        self.public_url = public_url
        self.api_keys: dict[str, str] = {client_id: client_secret}
        self.tokens: dict[str, tuple[str, datetime]] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        self.payouts: dict[str, dict[str, Any]] = {}
        self.events: dict[str, dict[str, Any]] = {}
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.faults = Faults()
        self.rate_limit: RateLimit | None = RateLimit()
        #: (method, path with query) of every API request, newest last.
        self.request_log: list[tuple[str, str]] = []
        #: The last successful GET answer per path, for the "repeat" fault.
        self.last_answers: dict[str, bytes] = {}
        #: Events waiting to be delivered to webhook subscriptions (see webhooks.py).
        self.outbox: list[tuple[str, str]] = []
        self.deliveries: list[dict[str, Any]] = []
        #: Deliveries to drop on purpose (a missed webhook), counted down.
        self.drop_webhooks = 0
        #: Answer every list in the older nested `pagination{}` envelope.
        self.nested_paging = False
        #: Records made interesting on purpose by the generator, by what is interesting.
        self.odd: dict[str, Any] = {}
        self._counters: dict[str, int] = {}

    # -- basics ------------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def _id(self, prefix: str) -> str:
        self._counters[prefix] = self._counters.get(prefix, 0) + 1
        return f"{prefix}_{self._counters[prefix]:06d}"

    def collection(self, kind: str) -> dict[str, dict[str, Any]]:
        """The records of a kind by id."""
        if kind not in KINDS:
            raise KeyError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
        records: dict[str, dict[str, Any]] = getattr(self, kind)
        return records

    def counts(self) -> dict[str, int]:
        return {kind: len(self.collection(kind)) for kind in KINDS[:4]}

    # -- auth --------------------------------------------------------------------------------------

    def issue_token(self, client_id: str, client_secret: str) -> dict[str, Any]:
        """An access token for an API key, or Refused(401)."""
        known = self.api_keys.get(client_id)
        if known is None or not secrets.compare_digest(known, client_secret):
            raise Refused(401, "invalid_client", "Client authentication failed.")
        token = secrets.token_urlsafe(24)
        self.tokens[token] = (client_id, self.now() + timedelta(seconds=TOKEN_LIFETIME))
        return {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME}

    def client_of(self, token: str | None) -> str | None:
        """The API key a bearer token belongs to, or None when unknown or expired."""
        entry = self.tokens.get(token or "")
        if entry is None:
            return None
        client_id, expires = entry
        if self.now() >= expires:
            del self.tokens[token or ""]
            return None
        return client_id

    def revoke_tokens(self) -> None:
        """Forget every access token (a rotated API key does this)."""
        self.tokens.clear()

    # -- events ------------------------------------------------------------------------------------

    def emit(self, topic: Topic, record: dict[str, Any], *, at: datetime | None = None) -> None:
        """Record an event and queue it for every active subscription to its topic."""
        event: dict[str, Any] = {
            "id": self._id("evt"),
            "topic": topic.value,
            "created_at": stamp(at or self.now()),
            "data": {"object": TOPIC_OBJECT[topic], **record},
        }
        self.events[event["id"]] = event
        for sub in self.webhooks.values():
            if sub["is_active"] and sub["topic"] == topic.value:
                self.outbox.append((event["id"], sub["id"]))

    def subscribe(
        self, endpoint_url: str, topic: str, secret_key: str | None = None
    ) -> dict[str, Any]:
        """A webhook subscription for one topic (the platform has one topic per subscription)."""
        problems: dict[str, str] = {}
        if not str(endpoint_url).startswith(("http://", "https://")):
            problems["endpoint_url"] = "must be an http(s) URL"
        if topic not in {t.value for t in Topic}:
            problems["topic"] = f"unknown topic {topic!r}"
        if problems:
            raise invalid(problems)
        now = stamp(self.now())
        sub: dict[str, Any] = {
            "id": self._id("wh"),
            "endpoint_url": endpoint_url,
            "topic": topic,
            "is_active": True,
            "partner_id": "partner_000001",
            "secret_key": secret_key or None,
            "secret_last_4_digits": (secret_key or "")[-4:] or None,
            "created_at": now,
            "updated_at": now,
        }
        self.webhooks[sub["id"]] = sub
        return sub

    # -- customers ---------------------------------------------------------------------------------

    def create_customer(
        self,
        name: str,
        email: str,
        *,
        external_id: str | None = None,
        company_name: str | None = None,
        at: datetime | None = None,
        notify: bool = True,
    ) -> dict[str, Any]:
        """A new customer (name and email required; an external id at most once)."""
        problems: dict[str, str] = {}
        if not str(name or "").strip():
            problems["name"] = "is required"
        if "@" not in str(email or ""):
            problems["email"] = "must be an email address"
        if problems:
            raise invalid(problems)
        if external_id and self._by_external(self.customers, external_id):
            raise Refused(
                409,
                "duplicate_external_id",
                f"a customer with external_id {external_id} exists already",
                {"external_id": "is taken"},
            )
        when = stamp(at or self.now())
        customer: dict[str, Any] = {
            "id": self._id("cus"),
            "name": str(name).strip(),
            "email": str(email).strip(),
            "company_name": company_name or str(name).strip(),
            "external_id": external_id or None,
            "status": "active",
            "created_at": when,
            "updated_at": when,
        }
        self.customers[customer["id"]] = customer
        if notify:
            self.emit(Topic.CUSTOMER_CREATED, customer, at=at)
        return customer

    def update_customer(self, customer_id: str, **changes: Any) -> dict[str, Any]:
        """Change a customer's name, email or company name."""
        customer = self._get(self.customers, "customer", customer_id)
        allowed = {"name", "email", "company_name", "external_id"}
        unknown = sorted(set(changes) - allowed)
        if unknown:
            raise invalid({unknown[0]: "cannot be changed"})
        if "email" in changes and "@" not in str(changes["email"] or ""):
            raise invalid({"email": "must be an email address"})
        customer.update(changes)
        customer["updated_at"] = stamp(self.now())
        self.emit(Topic.CUSTOMER_UPDATED, customer)
        return customer

    def archive_customer(self, customer_id: str) -> dict[str, Any]:
        """Archive (soft-delete) a customer, as a partner does in the dashboard."""
        customer = self._get(self.customers, "customer", customer_id)
        if customer["status"] != "archived":
            customer["status"] = "archived"
            customer["updated_at"] = stamp(self.now())
            self.emit(Topic.CUSTOMER_ARCHIVED, customer)
        return customer

    # -- invoices ----------------------------------------------------------------------------------

    def create_invoice(
        self,
        customer_id: str,
        line_items: list[dict[str, Any]],
        *,
        due_date: str | None = None,
        currency: str | None = None,
        external_id: str | None = None,
        invoice_number: str | None = None,
        memo: str | None = None,
        origin: str = "api",
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """A new invoice; `origin` "portal" is one a partner made in the platform itself."""
        problems: dict[str, str] = {}
        customer = self.customers.get(str(customer_id or ""))
        if customer is None:
            problems["customer_id"] = "no such customer"
        elif customer["status"] == "archived":
            problems["customer_id"] = "the customer is archived"
        currency = currency or self.currency
        if currency not in CURRENCIES:
            problems["currency"] = f"must be one of {', '.join(CURRENCIES)}"
        created = at or self.now()
        due = self._due_date(due_date, created, problems)
        lines = self._lines(line_items, problems)
        if problems:
            raise invalid(problems)
        if external_id and self._by_external(self.invoices, external_id):
            raise Refused(
                409,
                "duplicate_external_id",
                f"an invoice with external_id {external_id} exists already",
                {"external_id": "is taken"},
            )
        when = stamp(created)
        ident = self._id("inv")
        invoice: dict[str, Any] = {
            "id": ident,
            "invoice_number": invoice_number or f"AP-{ident.split('_')[1]}",
            "customer_id": customer_id,
            "currency": currency,
            "due_date": due,
            "created_at": when,
            "updated_at": when,
            "last_notification_at": None,
            "memo": memo,
            "status": "open",
            "line_items": lines,
            "external_id": external_id or None,
            "origin": origin,
            "external_payments": [],
        }
        self._total(invoice)
        self.invoices[ident] = invoice
        self.emit(Topic.INVOICE_CREATED, invoice, at=at)
        return invoice

    def update_invoice(
        self,
        invoice_id: str,
        *,
        line_items: list[dict[str, Any]] | None = None,
        due_date: str | None = None,
        memo: str | None = None,
    ) -> dict[str, Any]:
        """Change an unpaid invoice's lines (so its total), due date or memo."""
        invoice = self._get(self.invoices, "invoice", invoice_id)
        if invoice["status"] in ("paid", "archived"):
            raise Refused(
                409,
                f"invoice_{invoice['status']}",
                f"invoice {invoice_id} is {invoice['status']} and cannot be changed",
            )
        problems: dict[str, str] = {}
        lines = self._lines(line_items, problems) if line_items is not None else None
        due = (
            self._due_date(due_date, parse_stamp(invoice["created_at"]), problems)
            if due_date is not None
            else None
        )
        if lines is not None:
            total = sum((money(line["amount"] * line["quantity"]) for line in lines), Decimal(0))
            if total < invoice["amount_paid"]:
                problems["line_items"] = (
                    f"the total {total} would be below the {invoice['amount_paid']} paid already"
                )
        if problems:
            raise invalid(problems)
        if lines is not None:
            invoice["line_items"] = lines
        if due is not None:
            invoice["due_date"] = due
        if memo is not None:
            invoice["memo"] = memo
        self._total(invoice)
        invoice["updated_at"] = stamp(self.now())
        self.emit(Topic.INVOICE_UPDATED, invoice)
        return invoice

    def record_external_payment(
        self,
        invoice_id: str,
        *,
        amount: Any,
        reference: str,
        kind: str = "payment",
        on: str | None = None,
    ) -> dict[str, Any]:
        """A payment or credit made outside the platform reduces the balance; once a reference."""
        invoice = self._get(self.invoices, "invoice", invoice_id)
        problems: dict[str, str] = {}
        if not str(reference or "").strip():
            problems["reference"] = "is required"
        if kind not in ("payment", "credit"):
            problems["kind"] = "must be payment or credit"
        try:
            value = money(amount)
        except (ArithmeticError, ValueError, TypeError):
            problems["amount"] = "must be a number"
            value = Decimal(0)
        if problems:
            raise invalid(problems)
        for earlier in invoice["external_payments"]:
            if earlier["reference"] == reference:
                if earlier["amount"] == value and earlier["kind"] == kind:
                    return invoice  # the same request again: nothing twice
                raise Refused(
                    409,
                    "duplicate_reference",
                    f"reference {reference} is already recorded on invoice {invoice_id} "
                    f"with amount {earlier['amount']}",
                    {"reference": "is taken"},
                )
        if invoice["status"] == "archived":
            raise Refused(409, "invoice_archived", f"invoice {invoice_id} is archived")
        if value <= 0:
            raise invalid({"amount": "must be more than 0"})
        if value > invoice["amount_due"]:
            raise invalid({"amount": f"{value} is more than the {invoice['amount_due']} due"})
        invoice["external_payments"].append(
            {
                "reference": reference,
                "amount": value,
                "kind": kind,
                "date": on or self.now().date().isoformat(),
                "created_at": stamp(self.now()),
            }
        )
        self._settle(invoice)
        return invoice

    def mark_paid(
        self, invoice_id: str, *, reference: str, on: str | None = None
    ) -> dict[str, Any]:
        """The whole balance paid outside the platform; a paid invoice is left as it is."""
        invoice = self._get(self.invoices, "invoice", invoice_id)
        if invoice["status"] == "paid":
            return invoice
        return self.record_external_payment(
            invoice_id, amount=invoice["amount_due"], reference=reference, on=on
        )

    def archive_invoice(self, invoice_id: str) -> dict[str, Any]:
        """Archive an invoice, as a partner does by hand."""
        invoice = self._get(self.invoices, "invoice", invoice_id)
        if invoice["status"] != "archived":
            invoice["status"] = "archived"
            invoice["updated_at"] = stamp(self.now())
            self.emit(Topic.INVOICE_ARCHIVED, invoice)
        return invoice

    # -- payments ----------------------------------------------------------------------------------

    def pay_invoice(
        self,
        invoice_id: str,
        amount: Any = None,
        *,
        payment_method: str = "card",
        fee_covered_by_customer: bool = False,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """A customer pays an invoice through the platform, in full (no amount) or in part."""
        invoice = self._get(self.invoices, "invoice", invoice_id)
        if invoice["status"] == "archived":
            raise Refused(409, "invoice_archived", f"invoice {invoice_id} is archived")
        if payment_method not in METHOD_FEES:
            raise invalid({"payment_method": f"must be one of {', '.join(METHOD_FEES)}"})
        value = invoice["amount_due"] if amount is None else money(amount)
        if value <= 0 or value > invoice["amount_due"]:
            raise invalid(
                {"amount": f"must be more than 0 and at most the {invoice['amount_due']} due"}
            )
        name, rate, fixed = METHOD_FEES[payment_method]
        fee = money(value * rate + fixed)
        fees = [
            {
                "amount": fee,
                "covered_by_customer": fee_covered_by_customer,
                "name": name,
                "type": "FT_METHOD",
            }
        ]
        when = at or self.now()
        payment = {
            "id": self._id("pay"),
            "type": "payment",
            "status": "succeeded",
            "customer_id": invoice["customer_id"],
            "invoice_id": invoice_id,
            "due_date": invoice["due_date"],
            "created_at": stamp(when),
            "payment_method": payment_method,
            "currency": invoice["currency"],
            "sub_total": value,
            "total": value + (fee if fee_covered_by_customer else Decimal(0)),
            "fees": fees,
            "refunded_amount": Decimal(0),
            "original_payment_id": None,
            "payout_id": None,
        }
        self.payments[payment["id"]] = payment
        self.emit(Topic.PAYMENT_SUCCEEDED, payment, at=when)
        self._settle(invoice, at=when)
        return payment

    def refund(
        self, payment_id: str, amount: Any = None, *, at: datetime | None = None
    ) -> dict[str, Any]:
        """The partner refunds a payment, in full (no amount) or in part."""
        payment = self._payment(payment_id)
        left = payment["sub_total"] - payment["refunded_amount"]
        value = left if amount is None else money(amount)
        if payment["status"] == "chargeback":
            raise Refused(409, "payment_chargeback", f"payment {payment_id} was charged back")
        if value <= 0 or value > left:
            raise invalid({"amount": f"must be more than 0 and at most the {left} not refunded"})
        refund = self._reversal("refund", "rfd", payment, value, at)
        payment["refunded_amount"] += value
        if payment["refunded_amount"] == payment["sub_total"]:
            payment["status"] = "refunded"
        self.emit(Topic.PAYMENT_REFUNDED, refund, at=at)
        return refund

    def chargeback(self, payment_id: str, *, at: datetime | None = None) -> dict[str, Any]:
        """The customer's bank takes back what of a payment is not refunded yet."""
        payment = self._payment(payment_id)
        left = payment["sub_total"] - payment["refunded_amount"]
        if payment["status"] == "chargeback" or left <= 0:
            raise Refused(409, "nothing_to_charge_back", f"payment {payment_id} has nothing left")
        chargeback = self._reversal("chargeback", "cbk", payment, left, at)
        payment["status"] = "chargeback"
        self.emit(Topic.PAYMENT_CHARGEBACK, chargeback, at=at)
        return chargeback

    def _payment(self, payment_id: str) -> dict[str, Any]:
        payment = self._get(self.payments, "payment", payment_id)
        if payment["type"] != "payment":
            raise Refused(409, "not_a_payment", f"{payment_id} is a {payment['type']}")
        return payment

    def _reversal(
        self,
        kind: str,
        prefix: str,
        payment: dict[str, Any],
        value: Decimal,
        at: datetime | None,
    ) -> dict[str, Any]:
        when = at or self.now()
        record: dict[str, Any] = {
            "id": self._id(prefix),
            "type": kind,
            "status": "succeeded",
            "customer_id": payment["customer_id"],
            "invoice_id": payment["invoice_id"],
            "due_date": payment["due_date"],
            "created_at": stamp(when),
            "payment_method": payment["payment_method"],
            "currency": payment["currency"],
            "sub_total": value,
            "total": value,
            "fees": [],
            "refunded_amount": Decimal(0),
            "original_payment_id": payment["id"],
            "payout_id": None,
        }
        self.payments[record["id"]] = record
        invoice = self.invoices.get(payment["invoice_id"])
        if invoice is not None:
            self._settle(invoice, at=when)
        return record

    # -- payouts -----------------------------------------------------------------------------------

    def run_payout(self, *, until: datetime | None = None, arrival_days: int = 2) -> dict[str, Any]:
        """The platform pays out every settled transaction up to `until` not yet paid out."""
        when = until or self.now()
        cut = stamp(when)
        rolled = sorted(
            (
                p
                for p in self.payments.values()
                if p["payout_id"] is None and p["status"] != "failed" and p["created_at"] <= cut
            ),
            key=lambda p: (p["created_at"], p["id"]),
        )
        if not rolled:
            raise Refused(409, "nothing_to_pay_out", f"no transactions to pay out up to {cut}")
        sub_total = Decimal(0)
        fees: dict[str, Decimal] = {}
        for txn in rolled:
            sign = 1 if txn["type"] == "payment" else -1
            sub_total += sign * txn["sub_total"]
            for fee in txn["fees"]:
                if not fee["covered_by_customer"]:
                    kind = PAYOUT_FEE_TYPE.get(fee["type"], "unspecified")
                    fees[kind] = fees.get(kind, Decimal(0)) + fee["amount"]
        fee_total = sum(fees.values(), Decimal(0))
        payout: dict[str, Any] = {
            "id": self._id("po"),
            "customer_id": None,
            "created_at": cut,
            "arrival_date": (when + timedelta(days=arrival_days)).date().isoformat(),
            "status": "succeeded",
            "currency": self.currency,
            "sub_total": sub_total,
            "fees": [
                {
                    "amount": amount,
                    "covered_by_customer": False,
                    "name": f"{kind.replace('_', ' ').capitalize()} fees",
                    "type": kind,
                }
                for kind, amount in sorted(fees.items())
            ],
            "total": sub_total - fee_total,
            "transaction_ids": [t["id"] for t in rolled],
        }
        for txn in rolled:
            txn["payout_id"] = payout["id"]
        self.payouts[payout["id"]] = payout
        self.emit(Topic.PAYOUT_PAID, self.public_payout(payout), at=when)
        return payout

    def public_payout(self, payout: dict[str, Any]) -> dict[str, Any]:
        """A payout as the API shows it (its transactions are a route of their own)."""
        return {k: v for k, v in payout.items() if k != "transaction_ids"}

    def payout_transactions(self, payout_id: str) -> list[dict[str, Any]]:
        payout = self._get(self.payouts, "payout", payout_id)
        return [self.payments[t] for t in payout["transaction_ids"]]

    # -- arithmetic --------------------------------------------------------------------------------

    def _lines(
        self, raw: list[dict[str, Any]] | None, problems: dict[str, str]
    ) -> list[dict[str, Any]]:
        if not isinstance(raw, list) or not raw:
            problems["line_items"] = "at least one line is required"
            return []
        lines: list[dict[str, Any]] = []
        for n, line in enumerate(raw):
            where = f"line_items[{n}]"
            if not isinstance(line, dict):
                problems[where] = "must be an object"
                continue
            description = str(line.get("description") or "").strip()
            if not description:
                problems[f"{where}.description"] = "is required"
            try:
                amount = money(line.get("amount"))
            except (ArithmeticError, ValueError, TypeError):
                problems[f"{where}.amount"] = "must be a number"
                continue
            try:
                quantity = Decimal(str(line.get("quantity", 1)))
            except (ArithmeticError, ValueError, TypeError):
                problems[f"{where}.quantity"] = "must be a number"
                continue
            if quantity <= 0:
                problems[f"{where}.quantity"] = "must be more than 0"
            lines.append({"description": description, "amount": amount, "quantity": quantity})
        if not problems:
            total = sum((money(x["amount"] * x["quantity"]) for x in lines), Decimal(0))
            if total <= 0:
                problems["line_items"] = "the invoice total must be more than 0"
        return lines

    def _due_date(self, raw: str | None, created: datetime, problems: dict[str, str]) -> str | None:
        if raw in (None, ""):
            return (created + timedelta(days=30)).date().isoformat()
        try:
            return date.fromisoformat(str(raw)[:10]).isoformat()
        except ValueError:
            problems["due_date"] = "must be a date like 2025-01-01"
            return None

    def _total(self, invoice: dict[str, Any]) -> None:
        total = sum(
            (money(line["amount"] * line["quantity"]) for line in invoice["line_items"]),
            Decimal(0),
        )
        invoice["sub_total"] = total
        invoice["total"] = total
        self._settle(invoice, quiet=True)

    def _settle(
        self, invoice: dict[str, Any], *, at: datetime | None = None, quiet: bool = False
    ) -> None:
        """Recount what is paid and due, and move the status (and say so when it becomes paid)."""
        paid = Decimal(0)
        for txn in self.payments.values():
            if txn["invoice_id"] == invoice["id"]:
                paid += txn["sub_total"] if txn["type"] == "payment" else -txn["sub_total"]
        paid += sum((e["amount"] for e in invoice["external_payments"]), Decimal(0))
        was = invoice["status"]
        invoice["amount_paid"] = paid
        invoice["amount_due"] = invoice["total"] - paid
        if was == "archived":
            return
        if invoice["amount_due"] <= 0:
            invoice["status"] = "paid"
        elif paid > 0:
            invoice["status"] = "partially_paid"
        else:
            invoice["status"] = "open"
        if invoice["status"] != was or not quiet:
            invoice["updated_at"] = stamp(at or self.now())
        if invoice["status"] == "paid" and was != "paid" and not quiet:
            self.emit(Topic.INVOICE_PAID, invoice, at=at)

    # -- look-ups ----------------------------------------------------------------------------------

    def _get(self, records: dict[str, dict[str, Any]], kind: str, ident: str) -> dict[str, Any]:
        record = records.get(str(ident))
        if record is None:
            raise not_found(kind, str(ident))
        return record

    def _by_external(
        self, records: dict[str, dict[str, Any]], external_id: str
    ) -> dict[str, Any] | None:
        for record in records.values():
            if record.get("external_id") == external_id and record.get("status") != "archived":
                return record
        return None

    def unpaid_out(self) -> Iterable[dict[str, Any]]:
        """Transactions no payout has taken yet."""
        return (p for p in self.payments.values() if p["payout_id"] is None)
