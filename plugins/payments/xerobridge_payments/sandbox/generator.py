"""A deterministic history from one seed: customers, invoices made in the platform, payments.

The history spans about 18 months before the clock's now, so a first sync meets records both
inside and outside its recent months. Invoices are the platform's own (no external id): the
"stand-alone receive money" case. Outcomes are mixed: paid in full, part paid, refunded in full
or in part, charged back, open; weekly payouts roll up everything settled before them. The
planted cases are listed in `state.odd` (when there are invoices enough):
`part_paid_invoice`, `refunded_payment`, `partly_refunded_payment`, `chargeback_payment`,
`covered_fee_payment`, `old_invoice` (older than 12 months), `unpaid_out_payment`.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xerobridge_payments.sandbox.state import SandboxState

_COMPANIES = [
    "Northwind IT",
    "Blue Harbor Dental",
    "Cedar & Pine Legal",
    "Summit Logistics",
    "Brightline Accounting",
    "Oak Street Clinic",
    "Redwood Builders",
    "Lakeside Realty",
    "Kestrel Engineering",
    "Maple Leaf Bakery",
    "Harbor View Hotel",
    "Ironclad Security",
]
_SERVICES = [
    ("Managed IT services", Decimal("450.00")),
    ("Microsoft 365 Business Premium", Decimal("22.00")),
    ("Backup and recovery", Decimal("89.50")),
    ("Endpoint protection", Decimal("7.25")),
    ("Onsite support hour", Decimal("125.00")),
    ("Firewall subscription", Decimal("64.99")),
]
HISTORY_DAYS = 540


def generate(state: SandboxState, *, seed: int, customers: int, invoices: int) -> None:
    """Fill the state with a history that depends only on `seed` and the counts."""
    rng = random.Random(seed)
    now = state.now()
    start = now - timedelta(days=HISTORY_DAYS)
    made_customers = []
    for n in range(customers):
        company = _COMPANIES[n % len(_COMPANIES)]
        suffix = f" {n // len(_COMPANIES) + 1}" if n >= len(_COMPANIES) else ""
        slug = company.lower().replace(" & ", "-").replace(" ", "-")
        made_customers.append(
            state.create_customer(
                f"{company}{suffix}",
                f"billing{n + 1}@{slug}.example",
                at=start + timedelta(days=n % 30),
                notify=False,
            )
        )
    if not made_customers:
        return
    created = sorted(
        start + timedelta(days=30, seconds=rng.randrange(int((HISTORY_DAYS - 40) * 86400)))
        for _ in range(invoices)
    )
    if created:
        created[0] = start + timedelta(days=31)  # at least one invoice older than a year
    for n, when in enumerate(created):
        customer = made_customers[rng.randrange(len(made_customers))]
        lines = [
            {"description": desc, "amount": price, "quantity": rng.choice([1, 1, 2, 3, 5])}
            for desc, price in rng.sample(_SERVICES, rng.randint(1, 3))
        ]
        invoice = state.create_invoice(
            customer["id"], lines, due_date=None, origin="portal", at=when
        )
        if n == 0:
            state.odd["old_invoice"] = invoice["id"]
        _outcome(state, rng, invoice, when, n, now)
    _payouts(state, start, now)


def _outcome(
    state: SandboxState,
    rng: random.Random,
    invoice: dict[str, object],
    created: datetime,
    n: int,
    now: datetime,
) -> None:
    """What the customer did with invoice number n; the first few plant the odd cases."""
    paid_at = min(created + timedelta(days=rng.randint(1, 40), hours=rng.randint(0, 23)), now)
    method = rng.choice(["card", "standard_ach"])
    ident = str(invoice["id"])
    planted = {
        1: "part_paid_invoice",
        2: "refunded_payment",
        3: "partly_refunded_payment",
        4: "chargeback_payment",
        5: "covered_fee_payment",
    }.get(n)
    if planted == "part_paid_invoice":
        half = (Decimal(str(invoice["total"])) / 2).quantize(Decimal("0.01"))
        state.pay_invoice(ident, half, payment_method=method, at=paid_at)
        state.odd[planted] = ident
        return
    roll = rng.random()
    if planted is None and roll < 0.25:
        return  # still open
    payment = state.pay_invoice(
        ident,
        payment_method=method,
        fee_covered_by_customer=planted == "covered_fee_payment" or rng.random() < 0.2,
        at=paid_at,
    )
    later = min(paid_at + timedelta(days=rng.randint(2, 20)), now)
    if planted == "refunded_payment":
        state.refund(payment["id"], at=later)
    elif planted == "partly_refunded_payment":
        state.refund(payment["id"], (payment["sub_total"] / 3).quantize(Decimal("0.01")), at=later)
    elif planted == "chargeback_payment":
        state.chargeback(payment["id"], at=later)
    if planted is not None:
        state.odd[planted] = payment["id"]


def _payouts(state: SandboxState, start: datetime, now: datetime) -> None:
    """A payout every Friday noon for what settled before it; the last days stay unpaid out."""
    day = start + timedelta(days=(4 - start.weekday()) % 7)
    day = day.replace(hour=12, minute=0, second=0, microsecond=0)
    while day < now - timedelta(days=3):
        cut = day.strftime("%Y-%m-%dT%H:%M:%SZ")
        if any(p["created_at"] <= cut for p in state.unpaid_out()):
            state.run_payout(until=day)
        day += timedelta(days=7)
    left = sorted(state.unpaid_out(), key=lambda p: p["created_at"])
    if left:
        state.odd["unpaid_out_payment"] = left[-1]["id"]
