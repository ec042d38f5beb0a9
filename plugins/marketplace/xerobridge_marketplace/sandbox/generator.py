"""A deterministic marketplace history: customers, then subscriptions sold, changed, renewed and
cancelled over the past months, replayed in time order so orders settle as they would have.

The same seed and the same clock give the same marketplace. Some records are odd on purpose and
listed in `state.odd`: customers sharing a name or a billing email (ambiguous matches), one without
a billing contact, one on credit hold, and the orders still processing or failed.
"""

from __future__ import annotations

import heapq
import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from xerobridge_marketplace.sandbox.catalog import (
    COMPANY_WORDS,
    COUNTRIES,
    FIRST_NAMES,
    LAST_NAMES,
    OFFERS,
    PLACES,
    Offer,
)
from xerobridge_marketplace.sandbox.charges import parse_time
from xerobridge_marketplace.sandbox.state import SandboxError, SandboxState

HISTORY_DAYS = 180
#: Orders created this close to now are slow to provision: they stay open for hours.
SLOW_WINDOW = timedelta(hours=3)

Event = tuple[datetime, int, str, dict[str, Any]]


def generate(
    state: SandboxState,
    *,
    seed: int = 1,
    customers: int = 20,
    subscriptions: int = 40,
    countries: tuple[str, ...] = (),
) -> None:
    """Fill the state with `customers` customers and `subscriptions` subscriptions' history;
    the customers are of `countries` (codes such as GB) in turn, of all of them by default."""
    rng = random.Random(seed)
    now = state.now()
    start = now - timedelta(days=HISTORY_DAYS)
    made = _customers(state, rng, customers, start, countries)
    if not made or not subscriptions:
        return
    events: list[Event] = []
    seq = 0
    recent = max(1, subscriptions // 10)
    for n in range(subscriptions):
        customer = rng.choice(made)
        if n >= subscriptions - recent:
            # The newest sales: still provisioning when the sandbox starts.
            at = now - timedelta(minutes=rng.uniform(5, 120))
        else:
            created = parse_time(customer["creationDate"])
            span = max((now - created).total_seconds() - 7200, 3600)
            at = created + timedelta(seconds=rng.uniform(3600, span))
        item = rng.choice(OFFERS)
        qty = 1 if item.max_quantity == 1 else rng.choice((1, 2, 3, 5, 10, 25))
        seq += 1
        heapq.heappush(events, (at, seq, "sell", {"customer": customer["id"], "offer": item,
                                                   "quantity": qty}))  # fmt: skip
    while events:
        at, _, kind, data = heapq.heappop(events)
        if at > now:
            continue
        state.settle(at)
        try:
            follow = _play(state, rng, kind, data, at, now)
        except SandboxError:
            continue  # e.g. the subscription has an order in progress: the reseller waits
        for when, next_kind, next_data in follow:
            seq += 1
            heapq.heappush(events, (when, seq, next_kind, next_data))
    state.settle(now)
    state.odd["processing_orders"] = state.open_orders()
    state.odd["failed_orders"] = [
        o["id"] for o in state.orders.values() if o["status"] in ("error", "cancelled")
    ]


def _customers(
    state: SandboxState,
    rng: random.Random,
    count: int,
    start: datetime,
    countries: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    made: list[dict[str, Any]] = []
    used: set[str] = set()
    pool = [c for c in COUNTRIES if c.code in countries] if countries else list(COUNTRIES)
    if not pool:
        raise ValueError(f"no country among {countries}; use {[c.code for c in COUNTRIES]}")
    for n in range(count):
        country = pool[n % len(pool)]
        while True:
            first, second = rng.choice(COMPANY_WORDS[0]), rng.choice(COMPANY_WORDS[1])
            name = f"{first} {second} {rng.choice(COMPANY_WORDS[2])}"
            if name not in used:
                break
        slug = f"{first}{second}".lower()
        billing_email = f"accounts@{slug}.example"
        if n == 1 and made:
            # Same company name as the first customer, elsewhere: a match by name is ambiguous.
            name = made[0]["name"]
            slug += "-branch"
            state.odd["same_name"].extend([made[0]["id"]])
        if n == 3 and len(made) >= 3:
            # Books kept by the same accountant: a match by billing email is ambiguous.
            billing_email = _billing(made[2])["email"]
        used.add(name)
        street, city, postcode = rng.choice(PLACES[country.code])
        admin = (rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES))
        payer = (rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES))
        contacts = [
            _contact("admin", admin, f"{admin[0].lower()}@{slug}.example"),
            _contact("billing", payer, billing_email),
        ]
        if n == 5:
            contacts = contacts[:1]  # no billing contact: match by name only
        elif rng.random() < 0.3:
            contacts.append(_contact("technical", admin, f"it@{slug}.example"))
        customer = state.add_customer(
            name,
            country=country.code,
            contacts=contacts,
            status="creditHold" if n == 7 else "active",
            address={
                "streetAddress": street,
                "addressExtension": "",
                "postalCode": postcode,
                "city": city,
                "state": "",
                "countryCode": country.code,
            },
            tax_reg_id=f"{country.code}{rng.randint(10**8, 10**9 - 1)}" if n % 3 else None,
            created=start + timedelta(days=rng.uniform(0, 60)),
        )
        if n == 1:
            state.odd["same_name"].append(customer["id"])
        if n == 3 and len(made) >= 3:
            state.odd["same_billing_email"].extend([made[2]["id"], customer["id"]])
        if n == 5:
            state.odd["no_billing_contact"].append(customer["id"])
        if n == 7:
            state.odd["credit_hold"].append(customer["id"])
        made.append(customer)
    return [c for c in made if c["status"] == "active"]


def _play(
    state: SandboxState,
    rng: random.Random,
    kind: str,
    data: dict[str, Any],
    at: datetime,
    now: datetime,
) -> list[tuple[datetime, str, dict[str, Any]]]:
    """Do one event; returns the events it leads to."""
    settle = rng.uniform(2, 6) * 3600 if now - at < SLOW_WINDOW else rng.uniform(60, 900)  # seconds
    if kind == "sell":
        item: Offer = data["offer"]
        roll = rng.random()
        outcome = "error" if roll < 0.04 else "cancelled" if roll < 0.07 else "completed"
        sub, order = state.sell(
            data["customer"], item.plan_id, data["quantity"], at=at, settle_after=settle,
            outcome=outcome,
            discount_percent=Decimal(10) if rng.random() < 0.15 else Decimal(0),
            extra_discount=Decimal(5) if rng.random() < 0.08 else Decimal(0),
            handling_fee=Decimal("2.50") if rng.random() < 0.1 else Decimal(0),
        )  # fmt: skip
        if outcome != "completed":
            return []
        key = {"subscription": sub["id"]}
        follow = [(parse_time(sub["nextBillingDate"]), "renew", key)]
        if rng.random() < 0.4:
            follow.append((at + timedelta(days=rng.uniform(3, 100)), "change", key))
        if rng.random() < 0.2:
            # Some change their mind within days (the setup fee comes back), most later.
            days = rng.uniform(1, 12) if rng.random() < 0.3 else rng.uniform(5, 150)
            follow.append((at + timedelta(days=days), "cancel", key))
        return follow
    sub = state.subscriptions[data["subscription"]]
    busy = any(p["subscriptionId"] == sub["id"] for p in state.pending.values())
    if kind == "renew" and busy and sub["status"] == "active":
        return [(at + timedelta(hours=1), "renew", data)]  # after the change in progress
    if kind == "renew":
        item = _offer(sub["planId"])
        overuse = rng.randint(5, 80) if item.overuse and rng.random() < 0.3 else 0
        order = state.renew(sub["id"], at=at, overuse=overuse, settle_after=settle)
        end = parse_time(order["details"][0]["endDate"])
        return [(end, "renew", data)]
    if kind == "change":
        item = _offer(sub["planId"])
        family = [o for o in OFFERS if o.family == item.family and o.plan_id != item.plan_id]
        qty = int(sub["products"][0]["quantity"])
        if family and rng.random() < 0.5:
            state.change(sub["id"], plan_id=rng.choice(family).plan_id, at=at, settle_after=settle)
        elif qty > 1 and rng.random() < 0.5:
            state.change(sub["id"], quantity=max(1, qty // 2), at=at, settle_after=settle)
        elif qty < item.max_quantity:
            state.change(sub["id"], quantity=min(item.max_quantity, qty + rng.choice((1, 2, 5))),
                         at=at, settle_after=settle)  # fmt: skip
        return []
    if kind == "cancel":
        state.cancel(sub["id"], at=at, settle_after=settle)
    return []


def _offer(plan_id: str) -> Offer:
    return next(o for o in OFFERS if o.plan_id == plan_id)


def _contact(kind: str, person: tuple[str, str], email: str) -> dict[str, Any]:
    return {"type": kind, "firstName": person[0], "lastName": person[1], "email": email,
            "phoneNumber": "+44 20 7946 0000"}  # fmt: skip


def _billing(customer: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in customer["contactPersons"] if c["type"] == "billing")
