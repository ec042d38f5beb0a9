"""The emulated marketplace's state: records, credentials, faults, and what resellers do to
subscriptions (sell, change, renew, cancel), each as an order whose charge lines say what it costs.

Orders settle on the injected clock: each is `submitted`, then `processing` until its settle
time, then takes its planned final status; its effect on the subscription (active, new quantity
or plan, renewed, terminated) lands when it completes, as provisioning does in the real system.
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from xerobridge.sdk import Clock, SystemClock
from xerobridge_marketplace.sandbox.catalog import COUNTRIES, OFFERS, Country, Offer, price_in
from xerobridge_marketplace.sandbox.charges import (
    DETAIL_TYPES,
    FINAL_STATUSES,
    ORDER_STATUSES,
    add_period,
    charge_line,
    format_time,
    fraction_left,
    order_total,
    parse_time,
    period,
)

log = logging.getLogger(__name__)

#: Lifetime of a token from POST /token (the spec's example `expiresInSeconds`).
TOKEN_LIFETIME = 1500
#: How long an order stays `submitted` before it is `processing` (UNVERIFIED).
SUBMITTED_SECONDS = 30
#: The ways a fault can spoil a successful answer (Fault.answer).
MALFORMED = ("truncated", "html", "repeat")
ORDER_PREFIX = {"sales": "SO", "change": "CH", "renewal": "RN", "cancellation": "CL"}


class AuthFailed(Exception):
    """The API user's login or the marketplace code was refused."""


class SandboxError(ValueError):
    """A control request the marketplace would refuse (unknown record, impossible change)."""


@dataclass
class Fault:
    """A failure the sandbox plays on the next matching requests.

    `status` None answers normally after `delay` (waited on the sandbox's clock); `times` 0
    means until cleared; `path` matches the start of the API path (e.g. "/orders"); `after`
    lets that many matching requests through first. With `status` None, `answer` spoils a good
    answer: "truncated" cuts the JSON in half, "html" sends a gateway's HTML page with status
    200, "repeat" sends the previous answer to the same path again whatever the query asked.
    """

    status: int | None = 503
    times: int = 1
    path: str | None = None
    method: str | None = None
    delay: float = 0.0
    retry_after: float | None = None
    answer: str | None = None
    after: int = 0

    def __post_init__(self) -> None:
        if self.answer is not None and self.answer not in MALFORMED:
            raise SandboxError(f"fault answer {self.answer!r} is not one of {', '.join(MALFORMED)}")
        if self.answer is not None and self.status is not None:
            raise SandboxError("a fault spoils either the status or the answer, not both")

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request."""
        if self.method and self.method.upper() != method.upper():
            return False
        return self.path is None or path.startswith(self.path)


@dataclass
class RateLimit:
    """Requests allowed per subscription key in a sliding window (the gateway's quota)."""

    requests: int
    per_seconds: float
    _seen: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def retry_after(self, key: str, now: float) -> float | None:
        """None when the request may pass (and counts it), else seconds until it may."""
        window = self._seen[key]
        while window and window[0] <= now - self.per_seconds:
            window.popleft()
        if len(window) >= self.requests:
            return max(0.0, window[0] + self.per_seconds - now)
        window.append(now)
        return None


class SandboxState:
    """Everything the emulated marketplace holds; tests seed and change it directly."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        username: str = "api-reseller",
        password: str = "sandbox-password",
        marketplace: str = "UK",
        subscription_key: str = "sandbox-subscription-key",
        public_url: str | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.username = username
        self.password = password
        self.marketplace = marketplace
        self.subscription_key = subscription_key
        self.public_url = public_url
        self.reseller_id = "1000001"
        self.tokens: dict[str, datetime] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.products: dict[str, dict[str, Any]] = {}
        self.plans: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        #: Sandbox-only facts of an order: when it settles, how, and what it does.
        self.pending: dict[str, dict[str, Any]] = {}
        self._ids: dict[str, int] = defaultdict(int)
        self._numbers: dict[str, int] = defaultdict(int)
        #: Ids of records made odd on purpose, by what is odd about them (see generator).
        self.odd: dict[str, list[str]] = defaultdict(list)
        self.faults: list[Fault] = []
        self.rate_limit: RateLimit | None = None
        #: (method, path with query) of every API request, newest last.
        self.request_log: deque[tuple[str, str]] = deque(maxlen=100_000)
        #: The last successful GET answer per path (query left out), for the "repeat" fault.
        self.last_answers: dict[str, bytes] = {}
        self._load_catalog()

    # -- time and ids ------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The clock's time."""
        return self.clock.now()

    def _next_id(self, kind: str, base: int) -> str:
        self._ids[kind] += 1
        return str(base + self._ids[kind])

    # -- auth --------------------------------------------------------------------------------------

    def issue_token(self, username: str, password: str, marketplace: str) -> tuple[str, int]:
        """A bearer token and its lifetime in seconds, or AuthFailed saying what was wrong."""
        if (username, password) != (self.username, self.password):
            raise AuthFailed("credentials")
        if marketplace != self.marketplace:
            raise AuthFailed("marketplace")
        token = secrets.token_urlsafe(24)
        self.tokens[token] = self.now() + timedelta(seconds=TOKEN_LIFETIME)
        return token, TOKEN_LIFETIME

    def token_state(self, token: str | None) -> str:
        """'valid', 'expired' or 'unknown'."""
        expires = self.tokens.get(token or "")
        if expires is None:
            return "unknown"
        return "valid" if self.now() < expires else "expired"

    def revoke_tokens(self) -> None:
        """Forget every token (a password change, a gateway restart)."""
        self.tokens.clear()

    # -- faults ------------------------------------------------------------------------------------

    def add_fault(self, **spec: Any) -> Fault:
        """Queue a fault (see Fault)."""
        fault = Fault(**spec)
        self.faults.append(fault)
        return fault

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The fault to play on this request, if any (counting it down)."""
        for fault in list(self.faults):
            if not fault.matches(method, path):
                continue
            if fault.after > 0:
                fault.after -= 1
                continue
            if fault.times == 1:
                self.faults.remove(fault)
            elif fault.times > 1:
                fault.times -= 1
            return fault
        return None

    # -- catalogue ---------------------------------------------------------------------------------

    def _load_catalog(self) -> None:
        currencies = sorted({c.currency for c in COUNTRIES})
        for item in OFFERS:
            prices = [
                {"type": kind, "currency": cur, "amount": str(price_in(gbp, cur)),
                 "planId": item.plan_id}
                for kind, gbp in (("setup", item.setup), ("recurring", item.recurring),
                                  ("overuse", item.overuse))
                if gbp
                for cur in currencies
            ]  # fmt: skip
            product = self.products.get(item.product_id)
            if product is None:
                self.products[item.product_id] = {
                    "mpn": item.mpn,
                    "vendor": item.vendor,
                    "id": item.product_id,
                    "serviceName": item.service,
                    "name": item.product_name,
                    "minimumQuantity": 1,
                    "maximumQuantity": item.max_quantity,
                    "prices": prices,
                    "costs": [
                        {
                            **p,
                            "amount": str(
                                (Decimal(p["amount"]) * Decimal("0.8")).quantize(Decimal("0.01"))
                            ),
                        }
                        for p in prices
                    ],
                    "billingPeriod": period(*item.billing),
                    "subscriptionPeriod": period(*item.term),
                    "billingModel": "chargeBeforeBillingPeriod",
                    "dependsOn": [],
                    "coterming": False,
                }
            switches = [
                {
                    "targetPlanId": other.plan_id,
                    "billingPolicy": "prorate_refund",
                    "whenEffective": "immediately",
                }
                for other in OFFERS
                if other.family == item.family and other.plan_id != item.plan_id
            ]
            # UNVERIFIED: the plan's shape beyond id, name, periods and planSwitches.
            self.plans[item.plan_id] = {
                "id": item.plan_id,
                "name": item.plan_name,
                "serviceName": item.service,
                "billingPeriod": period(*item.billing),
                "subscriptionPeriod": period(*item.term),
                "billingModel": "chargeBeforeBillingPeriod",
                "autoRenew": True,
                "published": True,
                "products": [{"id": item.product_id, "mpn": item.mpn, "name": item.product_name}],
                "planSwitches": switches,
            }

    # -- customers ---------------------------------------------------------------------------------

    def add_customer(
        self,
        name: str,
        *,
        country: str = "GB",
        contacts: list[dict[str, Any]] | None = None,
        status: str = "active",
        address: dict[str, Any] | None = None,
        tax_reg_id: str | None = None,
        external_id: str | None = None,
        created: datetime | None = None,
    ) -> dict[str, Any]:
        """A new customer with its contact persons (type admin, billing or technical)."""
        place = _country(country)
        customer_id = self._next_id("customer", 2000000)
        customer = {
            "id": customer_id,
            "externalId": external_id,
            "status": status,
            "name": name,
            "address": address
            or {
                "streetAddress": "1 High Street",
                "addressExtension": "",
                "postalCode": "00000",
                "city": "Sandbox",
                "state": "",
                "countryCode": place.code,
            },
            "contactPersons": [
                {
                    "type": c.get("type", "admin"),
                    "firstName": c.get("firstName", ""),
                    "lastName": c.get("lastName", ""),
                    "email": c.get("email", ""),
                    "phoneNumber": c.get("phoneNumber", ""),
                }
                for c in (contacts or [])
            ],
            "language": place.language,
            "taxRegId": tax_reg_id,
            "resellerId": self.reseller_id,
            # UNVERIFIED: the customer's currency is the marketplace's for its country.
            "attributes": {"currency": place.currency},
            # UNVERIFIED: not in the reseller notes; Connect's tier accounts carry created events.
            "creationDate": format_time(created or self.now()),
        }
        self.customers[customer_id] = customer
        return customer

    def edit_customer(self, customer_id: str, **changes: Any) -> dict[str, Any]:
        """Change a customer's fields (name, status, contactPersons ...)."""
        customer = self._get(self.customers, customer_id, "customer")
        unknown = set(changes) - set(customer) - {"contactPersons"}
        if unknown or "id" in changes:
            raise SandboxError(f"customer has no editable field {sorted(unknown or {'id'})[0]!r}")
        customer.update(changes)
        return customer

    # -- subscriptions and their orders ------------------------------------------------------------

    def sell(
        self,
        customer_id: str,
        plan_id: str,
        quantity: int = 1,
        *,
        at: datetime | None = None,
        settle_after: float = 120.0,
        outcome: str = "completed",
        discount_percent: Decimal = Decimal(0),
        handling_fee: Decimal = Decimal(0),
        extra_discount: Decimal = Decimal(0),
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A new subscription and its sales order: setup and first recurring period."""
        at = at or self.now()
        customer = self._get(self.customers, customer_id, "customer")
        item = self._offer(plan_id)
        if not 1 <= quantity <= item.max_quantity:
            raise SandboxError(f"quantity {quantity} is outside 1-{item.max_quantity}")
        currency, rate = self._pricing(customer)
        product = self.products[item.product_id]
        billing, term = period(*item.billing), period(*item.term)
        end = add_period(at, billing)
        sub_id = self._next_id("subscription", 3000000)
        subscription: dict[str, Any] = {
            "id": sub_id,
            "name": f"{item.plan_name} for {customer['name']}",
            "customerId": customer_id,
            "status": "pending",
            "renewalStatus": "autoRenewOn",
            "creationDate": format_time(at),
            "renewalDate": format_time(add_period(at, term)),
            "lastModifiedDate": format_time(at),
            "expirationDate": format_time(add_period(at, term)),
            # UNVERIFIED: SimpleAPI has these on migration orders; the sandbox shows them on the
            # subscription too, as the current billing period.
            "lastBillingDate": format_time(at),
            "nextBillingDate": format_time(end),
            "billingModel": "chargeBeforeBillingPeriod",
            "billingPeriod": billing,
            "subscriptionPeriod": term,
            "totalPrice": None,
            "products": [],
            "orderParameters": [],
            "fulfillmentParameters": [],
            "planId": plan_id,
        }
        self._set_products(subscription, item, quantity, currency)
        self.subscriptions[sub_id] = subscription
        unit = price_in(item.recurring, currency)
        details = []
        if item.setup:
            details.append(
                charge_line(
                    "setup", product=product, quantity=1, unit_price=price_in(item.setup, currency),
                    currency=currency, tax_rate=rate, description=f"{item.product_name} setup fee",
                )
            )  # fmt: skip
        details.append(
            charge_line(
                "recurring", product=product, quantity=quantity, unit_price=unit,
                currency=currency, tax_rate=rate, span=billing, start=at, end=end,
                discount_percent=discount_percent,
                description=_describe(item.product_name, at, end),
            )
        )  # fmt: skip
        if extra_discount:
            details.append(
                charge_line(
                    "discount", product=product, quantity=1,
                    unit_price=price_in(extra_discount, currency), currency=currency,
                    tax_rate=rate, description=f"Welcome discount on {item.product_name}",
                )
            )  # fmt: skip
        if handling_fee:
            details.append(
                charge_line(
                    "handlingFee", product=product, quantity=1,
                    unit_price=price_in(handling_fee, currency), currency=currency,
                    tax_rate=rate, description="Order handling fee",
                )
            )  # fmt: skip
        order = self._order(
            "sales", subscription, details, currency, at=at, settle_after=settle_after,
            outcome=outcome, effect={"activate": True},
        )  # fmt: skip
        return subscription, order

    def change(
        self,
        subscription_id: str,
        *,
        quantity: int | None = None,
        plan_id: str | None = None,
        at: datetime | None = None,
        settle_after: float = 120.0,
        outcome: str = "completed",
    ) -> dict[str, Any]:
        """A change order: more seats (prorated recurring), fewer seats (downgrade and a
        refund of the rest of the period) or a plan switch (new plan prorated, old refunded)."""
        at = at or self.now()
        sub = self._active(subscription_id)
        customer = self.customers[sub["customerId"]]
        currency, rate = self._pricing(customer)
        old = self._offer(sub["planId"])
        old_qty = int(sub["products"][0]["quantity"])
        start, end = _parse(sub["lastBillingDate"]), _parse(sub["nextBillingDate"])
        share = fraction_left(start, end, at)
        span = sub["billingPeriod"]
        details = []
        effect: dict[str, Any] = {}
        if plan_id is not None and plan_id != sub["planId"]:
            new = self._offer(plan_id)
            if new.family != old.family:
                raise SandboxError(f"plan {old.plan_id} cannot switch to {plan_id}")
            qty = quantity or old_qty
            details.append(
                charge_line(
                    "switch", product=self.products[new.product_id], quantity=qty,
                    unit_price=price_in(new.recurring, currency), currency=currency,
                    tax_rate=rate, share=share, span=span, start=at, end=end,
                    description=f"Switch to {new.product_name}, " + _describe("", at, end),
                )
            )  # fmt: skip
            details.append(
                charge_line(
                    "recurringRefund", product=self.products[old.product_id], quantity=old_qty,
                    unit_price=price_in(old.recurring, currency), currency=currency,
                    tax_rate=rate, share=share, span=span, start=at, end=end,
                    description=f"Refund of {old.product_name}, " + _describe("", at, end),
                )
            )  # fmt: skip
            effect = {"plan": plan_id, "quantity": qty}
        elif quantity is not None and quantity != old_qty:
            product = self.products[old.product_id]
            unit = price_in(old.recurring, currency)
            delta = abs(quantity - old_qty)
            if quantity > old_qty:
                details.append(
                    charge_line(
                        "recurring", product=product, quantity=delta, unit_price=unit,
                        currency=currency, tax_rate=rate, share=share, span=span, start=at,
                        end=end, description=f"{old.product_name}: {old_qty} to {quantity}, "
                        + _describe("", at, end),
                    )
                )  # fmt: skip
            else:
                # UNVERIFIED: the downgrade line carries the removed quantity at no charge; the
                # money comes back on the refund line beside it.
                details.append(
                    charge_line(
                        "downgrade", product=product, quantity=delta, unit_price=Decimal(0),
                        currency=currency, tax_rate=rate, span=span, start=at, end=end,
                        description=f"{old.product_name}: {old_qty} to {quantity}",
                    )
                )  # fmt: skip
                details.append(
                    charge_line(
                        "recurringRefund", product=product, quantity=delta, unit_price=unit,
                        currency=currency, tax_rate=rate, share=share, span=span, start=at,
                        end=end, description=f"Refund of {delta} x {old.product_name}, "
                        + _describe("", at, end),
                    )
                )  # fmt: skip
            effect = {"quantity": quantity}
        else:
            raise SandboxError("a change needs a new quantity or another plan")
        return self._order(
            "change", sub, details, currency, at=at, settle_after=settle_after,
            outcome=outcome, effect=effect,
        )  # fmt: skip

    def renew(
        self,
        subscription_id: str,
        *,
        at: datetime | None = None,
        overuse: int = 0,
        settle_after: float = 120.0,
        outcome: str = "completed",
    ) -> dict[str, Any]:
        """The order for the next billing period: `renew` when it starts a new subscription
        period, else `recurring`; `overuse` units beyond the included quantity are charged."""
        sub = self._active(subscription_id)
        start = _parse(sub["nextBillingDate"])
        at = at or start
        customer = self.customers[sub["customerId"]]
        currency, rate = self._pricing(customer)
        item = self._offer(sub["planId"])
        product = self.products[item.product_id]
        qty = int(sub["products"][0]["quantity"])
        end = add_period(start, sub["billingPeriod"])
        new_term = start >= _parse(sub["expirationDate"])
        kind = "renew" if new_term else "recurring"
        details = [
            charge_line(
                kind, product=product, quantity=qty, unit_price=price_in(item.recurring, currency),
                currency=currency, tax_rate=rate, span=sub["billingPeriod"], start=start, end=end,
                description=_describe(item.product_name, start, end),
            )
        ]  # fmt: skip
        if overuse and item.overuse:
            details.append(
                charge_line(
                    "overuse", product=product, quantity=overuse,
                    unit_price=price_in(item.overuse, currency), currency=currency,
                    tax_rate=rate, description=f"{item.product_name} overuse, {overuse} GB",
                )
            )  # fmt: skip
        effect = {"billing": [format_time(start), format_time(end)], "renewed": new_term}
        return self._order(
            "renewal", sub, details, currency, at=at, settle_after=settle_after,
            outcome=outcome, effect=effect,
        )  # fmt: skip

    def cancel(
        self,
        subscription_id: str,
        *,
        at: datetime | None = None,
        settle_after: float = 120.0,
        outcome: str = "completed",
    ) -> dict[str, Any]:
        """A cancellation order: the cancellation line (with any early termination fee), the
        rest of the period refunded where the plan refunds (`renewRefund` within 30 days of a
        renewal), and the setup fee refunded within 14 days of the sale."""
        at = at or self.now()
        sub = self._active(subscription_id)
        customer = self.customers[sub["customerId"]]
        currency, rate = self._pricing(customer)
        item = self._offer(sub["planId"])
        product = self.products[item.product_id]
        qty = int(sub["products"][0]["quantity"])
        start, end = _parse(sub["lastBillingDate"]), _parse(sub["nextBillingDate"])
        details = [
            charge_line(
                "cancellation", product=product, quantity=qty,
                unit_price=price_in(item.cancellation_fee, currency), currency=currency,
                tax_rate=rate, description=f"Cancellation of {item.product_name}"
                + (" (early termination fee)" if item.cancellation_fee else ""),
            )
        ]  # fmt: skip
        share = fraction_left(start, end, at)
        if item.refund_on_cancel and share > 0:
            renewed = self._renewed_at(sub)
            kind = "renewRefund" if renewed and at - renewed < timedelta(days=30) else (
                "recurringRefund")  # fmt: skip
            details.append(
                charge_line(
                    kind, product=product, quantity=qty,
                    unit_price=price_in(item.recurring, currency), currency=currency,
                    tax_rate=rate, share=share, span=sub["billingPeriod"], start=at, end=end,
                    description=f"Refund of {item.product_name}, " + _describe("", at, end),
                )
            )  # fmt: skip
        if item.setup and at - _parse(sub["creationDate"]) < timedelta(days=14):
            details.append(
                charge_line(
                    "setupRefund", product=product, quantity=1,
                    unit_price=price_in(item.setup, currency), currency=currency, tax_rate=rate,
                    description=f"Refund of the {item.product_name} setup fee",
                )
            )  # fmt: skip
        return self._order(
            "cancellation", sub, details, currency, at=at, settle_after=settle_after,
            outcome=outcome, effect={"terminate": True},
        )  # fmt: skip

    def add_order(self, body: dict[str, Any]) -> dict[str, Any]:
        """An order exactly as given (any type, any detail lines), for tests of odd cases."""
        customer = self._get(self.customers, str(body["customerId"]), "customer")
        sub = self.subscriptions.get(str(body.get("subscriptionId") or ""))
        currency = body.get("currency") or self._pricing(customer)[0]
        details = list(body.get("details") or [])
        for line in details:
            if line.get("type") not in DETAIL_TYPES:
                raise SandboxError(f"charge line type {line.get('type')!r} is not an API type")
        at = _parse(body["creationDate"]) if body.get("creationDate") else self.now()
        order = self._order(
            body.get("type", "sales"), sub, details, currency, at=at,
            settle_after=float(body.get("settle_after", 0)),
            outcome=body.get("status", "completed"), effect={}, customer_id=customer["id"],
        )  # fmt: skip
        self.settle()
        return order

    def set_order_status(
        self, order_id: str, status: str, status_code: str | None = None
    ) -> dict[str, Any]:
        """Move an order to a status now; a final status applies its effect at once."""
        order = self._get(self.orders, order_id, "order")
        if status not in ORDER_STATUSES:
            raise SandboxError(f"status {status!r} is not one of {', '.join(ORDER_STATUSES)}")
        if order["status"] in FINAL_STATUSES:
            raise SandboxError(f"order {order_id} is already {order['status']}")
        plan = self.pending.get(order_id)
        if status in FINAL_STATUSES:
            if plan is not None:
                plan["outcome"] = status
            self._finish(order, status, self.now())
        else:
            order["status"] = status
        order["statusCode"] = status_code or order["statusCode"]
        return order

    # -- settling ----------------------------------------------------------------------------------

    def settle(self, now: datetime | None = None) -> None:
        """Move every open order on as the clock says: submitted, processing, then final."""
        now = now or self.now()
        for order_id, plan in list(self.pending.items()):
            order = self.orders[order_id]
            if now >= plan["settle_at"]:
                self._finish(order, plan["outcome"], plan["settle_at"])
            elif now >= plan["created"] + timedelta(seconds=SUBMITTED_SECONDS):
                order["status"], order["statusCode"] = "processing", "PRC"

    def open_orders(self) -> list[str]:
        """Ids of the orders not yet in a final status."""
        return list(self.pending)

    def _finish(self, order: dict[str, Any], status: str, at: datetime) -> None:
        plan = self.pending.pop(order["id"], None)
        order["status"] = status
        order["statusCode"] = {"completed": "CP", "error": "ER", "cancelled": "CL"}[status]
        if status != "completed":
            if order["type"] == "sales" and order.get("subscriptionId"):
                removed = self.subscriptions[order["subscriptionId"]]
                removed["status"] = "removed"
                removed["lastModifiedDate"] = format_time(at)
            return
        order["provisioningDate"] = format_time(at)
        sub = self.subscriptions.get(order.get("subscriptionId") or "")
        if sub is None or plan is None:
            return
        effect = plan["effect"]
        currency = order["total"]["currency"]
        if effect.get("activate"):
            sub["status"] = "active"
        if "plan" in effect:
            sub["planId"] = effect["plan"]
        if "quantity" in effect:
            self._set_products(sub, self._offer(sub["planId"]), int(effect["quantity"]), currency)
        if "billing" in effect:
            sub["lastBillingDate"], sub["nextBillingDate"] = effect["billing"]
            if effect.get("renewed"):
                term_end = add_period(_parse(sub["expirationDate"]), sub["subscriptionPeriod"])
                sub["expirationDate"] = sub["renewalDate"] = format_time(term_end)
        if effect.get("terminate"):
            sub["status"] = "terminated"
            sub["renewalStatus"] = "autoRenewOff"
        sub["lastModifiedDate"] = format_time(at)

    # -- helpers -----------------------------------------------------------------------------------

    def _order(
        self,
        kind: str,
        sub: dict[str, Any] | None,
        details: list[dict[str, Any]],
        currency: str,
        *,
        at: datetime,
        settle_after: float,
        outcome: str,
        effect: dict[str, Any],
        customer_id: str | None = None,
    ) -> dict[str, Any]:
        if outcome not in FINAL_STATUSES:
            raise SandboxError(f"an order ends completed, error or cancelled, not {outcome!r}")
        if sub is not None and any(p["subscriptionId"] == sub["id"] for p in self.pending.values()):
            raise SandboxError(f"subscription {sub['id']} already has an order in progress")
        order_id = self._next_id("order", 5000000)
        prefix = ORDER_PREFIX.get(kind, "OR")
        self._numbers[prefix] += 1
        order = {
            "id": order_id,
            "orderNumber": f"{prefix}{self._numbers[prefix]:06d}",
            "type": kind,
            "customerId": customer_id or (sub["customerId"] if sub else None),
            "subscriptionId": sub["id"] if sub else None,
            "poNumber": None,
            "creationDate": format_time(at),
            "provisioningDate": None,
            "status": "submitted",
            "statusCode": "SB",
            "total": order_total(details, currency),
            "attributes": {},
            "planId": sub["planId"] if sub else None,
            "subscriptionPeriod": dict(sub["subscriptionPeriod"]) if sub else None,
            "scheduledOn": None,
            "upgradeStartType": None,
            "details": details,
        }
        self.orders[order_id] = order
        self.pending[order_id] = {
            "created": at,
            "settle_at": at + timedelta(seconds=settle_after),
            "outcome": outcome,
            "effect": effect,
            "subscriptionId": sub["id"] if sub else None,
        }
        return order

    def _renewed_at(self, sub: dict[str, Any]) -> datetime | None:
        times = [
            _parse(o["creationDate"])
            for o in self.orders.values()
            if o.get("subscriptionId") == sub["id"]
            and o["status"] == "completed"
            and any(d["type"] == "renew" for d in o["details"])
        ]
        return max(times) if times else None

    def _set_products(self, sub: dict[str, Any], item: Offer, quantity: int, currency: str) -> None:
        unit = price_in(item.recurring, currency)
        total = (unit * quantity).quantize(Decimal("0.01"))
        cost = (unit * Decimal("0.8")).quantize(Decimal("0.01"))
        sub["products"] = [
            {
                "mpn": item.mpn,
                "vendor": item.vendor,
                "id": item.product_id,
                "quantity": quantity,
                "name": item.product_name,
                "unitPrice": {"currency": currency, "amount": str(unit)},
                "unitCost": {"currency": currency, "amount": str(cost)},
                "unitProviderCost": {"currency": currency, "amount": str(cost)},
                "extendedPrice": {"currency": currency, "amount": str(total)},
                "vendorSubscriptionId": f"V-{sub['id']}",
            }
        ]
        sub["totalPrice"] = {"currency": currency, "amount": str(total)}

    def _pricing(self, customer: dict[str, Any]) -> tuple[str, Decimal]:
        place = _country(customer["address"].get("countryCode", "GB"))
        return customer.get("attributes", {}).get("currency", place.currency), place.tax_rate

    def _offer(self, plan_id: str) -> Offer:
        for item in OFFERS:
            if item.plan_id == plan_id:
                return item
        raise SandboxError(f"no plan {plan_id!r}")

    def _active(self, subscription_id: str) -> dict[str, Any]:
        sub = self._get(self.subscriptions, subscription_id, "subscription")
        if sub["status"] != "active":
            raise SandboxError(f"subscription {subscription_id} is {sub['status']}, not active")
        return sub

    @staticmethod
    def _get(table: dict[str, dict[str, Any]], key: str, kind: str) -> dict[str, Any]:
        record = table.get(str(key))
        if record is None:
            raise SandboxError(f"no {kind} {key!r}")
        return record


def _country(code: str) -> Country:
    for place in COUNTRIES:
        if place.code == code:
            return place
    raise SandboxError(f"no country {code!r}; countries: {', '.join(c.code for c in COUNTRIES)}")


def _parse(text: str) -> datetime:
    return parse_time(text)


def _describe(name: str, start: datetime, end: datetime) -> str:
    span = f"{start:%d %b %Y} to {end:%d %b %Y}"
    return f"{name}, {span}" if name else span
