"""The client against the sandbox: token auth and renewal, paging, order windows and re-reads,
and each kind of error."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar

import httpx
import pytest

from xerobridge.sdk import FakeClock, Permanent, RetryLater, UserError
from xerobridge_marketplace.changes import OrderChanges, OrderCursor
from xerobridge_marketplace.client import MarketplaceNotFound, parse_time
from xerobridge_marketplace.sandbox import SandboxState

from marketplace_helpers import BASE

T = TypeVar("T")


def run(work: Awaitable[T]) -> T:
    return asyncio.run(work)  # type: ignore[arg-type]


async def collect(items: Any) -> list[Any]:
    return [item async for item in items]


def token_calls(state: SandboxState) -> int:
    return sum(1 for method, path in state.request_log if (method, path) == ("POST", "/token"))


def test_pages_through_every_order_with_the_subscription_key(make_client: Any, state) -> None:
    orders = run(collect(make_client().iter_orders()))
    assert [o["id"] for o in orders] == sorted(state.orders, key=int)
    pages = [p for m, p in state.request_log if p.startswith("/orders?")]
    assert len(pages) == -(-len(state.orders) // 10)
    assert "offset=10" in pages[1] and "limit=10" in pages[1]


def test_reads_customers_products_plans_and_subscriptions(make_client: Any, state) -> None:
    client = make_client()
    assert len(run(collect(client.iter_customers()))) == len(state.customers)
    assert len(run(collect(client.iter_products()))) == len(state.products)
    assert len(run(collect(client.iter_plans()))) == len(state.plans)
    subs = run(collect(client.iter_subscriptions(status="active")))
    assert subs and all(s["status"] == "active" for s in subs)
    one = run(client.get_plan("PLN-102"))
    assert {s["targetPlanId"] for s in one["planSwitches"]} == {"PLN-101", "PLN-103"}


def test_one_token_serves_many_calls_and_is_renewed_before_it_expires(
    make_client: Any, state: SandboxState, clock: FakeClock
) -> None:
    client = make_client()

    async def work() -> None:
        await client.get_customer(next(iter(state.customers)))
        await client.get_customer(next(iter(state.customers)))
        assert token_calls(state) == 1
        clock.advance(1500 - 30)  # inside the renewal margin, still valid at the sandbox
        await client.get_customer(next(iter(state.customers)))
        assert token_calls(state) == 2

    run(work())


def test_a_revoked_token_is_replaced_once_and_the_call_repeated(
    make_client: Any, state: SandboxState
) -> None:
    client = make_client()
    customer = next(iter(state.customers))

    async def work() -> dict[str, Any]:
        await client.get_customer(customer)
        state.revoke_tokens()
        return await client.get_customer(customer)

    assert run(work())["id"] == customer
    assert token_calls(state) == 2


@pytest.mark.parametrize(
    ("override", "setting"),
    [
        ({"password": "wrong"}, "`password`"),
        ({"marketplace": "US"}, "`marketplace`"),
        ({"subscription_key": "nope"}, "`subscription_key`"),
        ({"base_url": BASE.replace("/marketplace", "/elsewhere")}, "`base_url`"),
    ],
)
def test_bad_settings_are_a_user_error_naming_the_setting(
    make_client: Any, override: dict[str, str], setting: str
) -> None:
    with pytest.raises(UserError) as caught:
        run(collect(make_client(**override).iter_customers()))
    assert setting in str(caught.value)
    assert "\n" not in str(caught.value)


def test_throttling_waits_as_the_gateway_says(make_client: Any, state: SandboxState) -> None:
    state.add_fault(status=429, retry_after=7, path="/orders")
    with pytest.raises(RetryLater) as caught:
        run(collect(make_client().iter_orders()))
    assert caught.value.retry_after == 7
    assert "429" in str(caught.value)


def test_the_gateway_rate_limit_is_a_retry_with_its_wait(
    make_client: Any, state: SandboxState
) -> None:
    from xerobridge_marketplace.sandbox import RateLimit

    state.rate_limit = RateLimit(requests=3, per_seconds=60)
    with pytest.raises(RetryLater) as caught:
        run(collect(make_client().iter_orders()))
    assert caught.value.retry_after == 60


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 502},
        {"status": 503},
        {"status": 504},
        {"status": 500},
        {"status": None, "answer": "html"},
        {"status": None, "answer": "truncated"},
        {"status": None, "answer": "repeat", "after": 1},
    ],
)
def test_gateway_errors_and_spoiled_pages_are_retried_later(
    make_client: Any, state: SandboxState, fault: dict[str, Any]
) -> None:
    state.add_fault(path="/orders", **fault)
    with pytest.raises(RetryLater):
        run(collect(make_client().iter_orders()))
    state.faults.clear()
    assert len(run(collect(make_client().iter_orders()))) == len(state.orders)


def test_a_timeout_is_retried_later(make_client: Any) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(RetryLater) as caught:
        run(make_client(transport=httpx.MockTransport(refuse)).get_order("1"))
    assert "in time" in str(caught.value)


def test_a_missing_order_is_permanent_and_names_it(make_client: Any) -> None:
    with pytest.raises(MarketplaceNotFound) as caught:
        run(make_client().get_order("999"))
    assert isinstance(caught.value, Permanent)
    assert "order 999" in str(caught.value)


def test_creation_windows_are_half_open(make_client: Any, state: SandboxState) -> None:
    stamps = sorted({parse_time(o["creationDate"]) for o in state.orders.values()})
    middle = stamps[len(stamps) // 2]
    client = make_client()
    first = run(collect(client.iter_orders(None, middle)))
    second = run(collect(client.iter_orders(middle, None)))
    assert {o["id"] for o in first}.isdisjoint(o["id"] for o in second)
    assert len(first) + len(second) == len(state.orders)
    assert any(parse_time(o["creationDate"]) == middle for o in second)


def test_open_orders_are_read_again_until_they_settle(
    make_client: Any, state: SandboxState, clock: FakeClock
) -> None:
    client = make_client()

    async def read(cursor: OrderCursor) -> tuple[list[dict[str, Any]], OrderCursor]:
        feed = OrderChanges(client, cursor, now=clock.now())
        orders = [o async for o in feed]
        return orders, feed.cursor

    first, cursor = run(read(OrderCursor()))
    assert {o["id"] for o in first} == set(state.orders)
    assert set(cursor.open) == set(state.pending) and cursor.open
    again, cursor = run(read(OrderCursor.from_text(cursor.to_text())))
    assert again == []  # nothing moved
    clock.advance(timedelta(hours=7).total_seconds())
    settled, cursor = run(read(cursor))
    assert {o["id"] for o in settled} == set(state.odd["processing_orders"])
    assert all(o["status"] in ("completed", "error", "cancelled") for o in settled)
    assert cursor.open == {}
    customer = next(c for c in state.customers.values() if c["status"] == "active")
    _sub, order = state.sell(customer["id"], "PLN-101", 2, settle_after=600)
    clock.advance(180)
    new, cursor = run(read(cursor))
    assert [o["id"] for o in new] == [order["id"]]
    assert cursor.open == {order["id"]: "processing"}
