"""A race is never a failure (issue 18), on both stores: three workers push one store's
customers, guests, orders, invoices and credit memos together while a quarter of Xero's
writes lose their answer after committing. People share names (registered customers and
guests), so the contact names Xero keeps unique collide with our own writes in flight or
just made. Every order reaches Xero once, no job dies or is held for a person, and no
attempt is spent on a race."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from xerobridge.clock import FakeClock
from xerobridge.sandboxes.xero import FaultKind
from xerobridge.sandboxes.xero import contacts as sandbox_contacts
from xerobridge.sandboxes.xero.faults import FaultRule
from xerobridge.sync.engine import Engine, Summary
from xerobridge_magento import mapping

from reliability_helpers import MAGENTO_URL, PREFIX, ClockTimeoutTransport, World, assert_settled

WORKERS = 3
PEOPLE = [("Jack", "Patel"), ("Priya", "Shah")]


@pytest.fixture
def world(store_url: str, clock: FakeClock) -> Iterator[World]:
    """The sandboxes and the engine with every stream of the store."""
    w = World(store_url, clock, disabled_streams="")
    yield w
    w.close()


def workers(world: World) -> list[Engine]:
    """The world's engine and two more on the same store, each its own worker."""
    extra = [
        Engine(
            world.store, world.plugins, clock=world.clock, xero_http=world.xero_http,
            source_http=lambda _s: httpx.AsyncClient(
                transport=ClockTimeoutTransport(world.magento, world.clock), base_url=MAGENTO_URL
            ),
            worker_id=f"racer-{n}",
        )
        for n in range(1, WORKERS)
    ]  # fmt: skip
    engines = [world.engine, *extra]
    for engine in engines:
        engine.worker.batch = 4  # more, smaller batches: more of them in flight together
    return engines


async def together(engines: list[Engine]) -> list[Summary]:
    """One sync pass of every worker at once."""
    return await asyncio.gather(*(engine.sync(max_wait=3600) for engine in engines))


def shop_with_namesakes(world: World) -> list[str]:
    """Registered customers and guests sharing three names, each with orders that are
    invoiced, and some refunded; the orders' natural keys."""
    shop = world.shop
    skus = world.add_products(3)
    orders = []
    for n in range(16):
        first, last = PEOPLE[n % len(PEOPLE)]
        world.clock.advance(1)
        if n % 2:
            guest = {
                "email": f"{first}.{last}.{n}@guest.example",
                "firstname": first,
                "lastname": last,
                "street": [f"{n} High St"],
                "city": "Leeds",
                "postcode": "LS1 1AA",
                "country_id": "GB",
                "telephone": "0113 000 0000",
            }
            order = shop.place_order([(skus[n % 3], 1)], guest=guest)  # fmt: skip
        else:
            customer = shop.add_customer(first, last, f"{first}.{last}.{n}@example.com")
            order = shop.place_order([(skus[n % 3], 2)], customer_id=int(customer["id"]))
        shop.invoice_order(int(order["entity_id"]))
        if n % 4 == 0:
            shop.refund_order(int(order["entity_id"]))
        orders.append(mapping.order_key(PREFIX, order))
    return orders


def test_namesakes_pushed_by_three_workers_through_lost_answers_all_reach_xero(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused: list[str] = []  # the names Xero refused as taken: the races met
    message = sandbox_contacts.name_taken_message

    def name_taken(name: str) -> str:
        refused.append(name)
        return message(name)

    monkeypatch.setattr(sandbox_contacts, "name_taken_message", name_taken)
    orders = shop_with_namesakes(world)
    world.sandbox.faults.rules = [
        FaultRule(FaultKind.LOST_RESPONSE, probability=0.25, methods=("PUT", "POST"), id=1)
    ]
    world.sandbox.faults.reseed(11)
    engines = workers(world)
    try:
        for _ in range(6):
            summaries = world.run(together(engines))
            if not world.jobs():
                break
            world.clock.advance(600)
    finally:
        for engine in engines[1:]:
            world.run(engine.aclose())
    lost = sum(1 for f in world.sandbox.faults.history if f["kind"] == "lost-response")
    assert lost >= 5 and len(refused) >= 3, f"too few races: {lost} lost, {refused} refused"
    assert sum(s.failed for s in summaries) == 0, [s.streams for s in summaries]
    failures = [(r.stream, r.record_key, r.message) for r in world.log() if r.status == "error"]
    assert failures == []
    assert_settled(world)
    numbers = [str(i.get("InvoiceNumber")) for i in world.sandbox.records("Invoices")]
    assert sorted(numbers) == sorted(orders)
    contact_numbers = world.contact_numbers()
    assert len(contact_numbers) == len(set(contact_numbers)) == len(orders)
