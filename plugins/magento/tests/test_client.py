"""The Magento client against the sandbox: paging, watermarks, look-ups, auth and errors."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from xerobridge.clock import FakeClock
from xerobridge.contract.errors import NeedsPerson, Permanent, RetryLater
from xerobridge.sdk import SourceNotFound, SourceRefused, SourceSetupError, SourceUnavailable
from xerobridge_magento.client import MagentoClient, format_time
from xerobridge_magento.sandbox import SandboxState

from magento_helpers import BASE, TOKEN, client_for, http_for, make_app


def run(app: Any, work: Any, **client_kwargs: Any) -> Any:
    """Run `work(client)` against the app in a fresh event loop."""

    async def go() -> Any:
        async with http_for(app) as http:
            return await work(client_for(http, **client_kwargs))

    return asyncio.run(go())


async def collect(iterator: Any) -> list[dict[str, Any]]:
    return [record async for record in iterator]


def searches(state: SandboxState, path: str) -> list[str]:
    return [q for m, q in state.request_log if m == "GET" and q.startswith(path + "?")]


@pytest.mark.parametrize("count", [20, 23])
def test_offset_paging_stops_by_total_count(clock: FakeClock, count: int) -> None:
    app = make_app(clock, seed=1, customers=count, products=3, orders=0)
    state: SandboxState = app.state.sandbox

    async def work(client: MagentoClient) -> list[dict[str, Any]]:
        return await collect(
            client.iter_search("/V1/customers/search", sort=[("entity_id", "ASC")], page_size=10)
        )

    records = run(app, work)
    assert [r["id"] for r in records] == sorted(state.customers.records)  # each exactly once
    assert len(searches(state, "/V1/customers/search")) == (3 if count == 23 else 2)


def test_changes_since_a_watermark_are_exactly_the_edited_records(clock: FakeClock) -> None:
    app = make_app(clock, seed=5, customers=40, products=30, orders=120)
    state: SandboxState = app.state.sandbox

    async def everything(client: MagentoClient) -> dict[str, list[dict[str, Any]]]:
        return {
            s: await collect(client.iter_changes(s, None, page_size=7))
            for s in ("customers", "orders", "invoices", "creditmemos", "products")
        }

    first = run(app, everything)
    for stream, records in first.items():
        key = "id" if stream in ("customers", "products") else "entity_id"
        ids = [r[key] for r in records]
        assert sorted(ids) == sorted(state.collection(stream).records), stream
        assert len(ids) == len(set(ids))
        stamps = [(r["updated_at"], r[key]) for r in records]
        assert stamps == sorted(stamps)

    clock.advance(3600)
    watermark = clock.now()
    customers = sorted(state.customers.records)[5:8]
    for cid in customers:
        state.edit_customer(cid, lastname="Edited")
    order = state.orders.records[sorted(state.orders.records)[3]]
    clock.advance(1)
    state.add_order_comment(order["entity_id"], "paid in Xero")

    async def since(client: MagentoClient) -> tuple[list[int], list[int]]:
        c = [r["id"] async for r in client.iter_changes("customers", watermark, page_size=2)]
        o = [r["entity_id"] async for r in client.iter_changes("orders", format_time(watermark))]
        return c, o

    changed_customers, changed_orders = run(app, since)
    assert changed_customers == customers
    assert changed_orders == [order["entity_id"]]


def test_many_records_in_one_second_are_all_read_once(clock: FakeClock) -> None:
    app = make_app(clock)
    state: SandboxState = app.state.sandbox
    for n in range(25):  # an import: 25 customers saved in the same second
        state.add_customer(f"F{n}", "Bulk", f"bulk{n}@example.com")
    clock.advance(1)
    late = state.add_customer("Late", "One", "late@example.com")

    async def work(client: MagentoClient) -> list[int]:
        found = client.iter_changes("customers", "2020-01-01 00:00:00", page_size=10)
        return [r["id"] async for r in found]

    ids = run(app, work)
    assert ids == sorted(state.customers.records) and ids[-1] == late["id"]


def test_edits_during_a_read_do_not_make_it_skip_records(clock: FakeClock) -> None:
    """Offset paging would skip a record here; keyset paging reads every original record."""
    app = make_app(clock, seed=3, customers=30, products=3, orders=0)
    state: SandboxState = app.state.sandbox
    original = sorted(state.customers.records)

    async def work(client: MagentoClient) -> list[int]:
        seen = []
        async for record in client.iter_changes("customers", None, page_size=5):
            seen.append(record["id"])
            if len(seen) == 5:  # an admin edits an already-read record meanwhile
                clock.advance(10)
                state.edit_customer(seen[0], lastname="Moved")
        return seen

    seen = run(app, work)
    assert set(original) <= set(seen)
    assert seen.count(original[0]) == 2  # read again after its edit, as a change should be


def test_get_by_ids_finds_what_still_exists(clock: FakeClock) -> None:
    app = make_app(clock, seed=7, customers=30, products=25, orders=10)
    state: SandboxState = app.state.sandbox
    ids = sorted(state.customers.records)
    state.delete_customer(ids[3])
    state.delete_customer(ids[17])
    gone_sku = next(p for p in state.products if p["type_id"] == "simple")
    state.delete_product(gone_sku["sku"])

    async def work(client: MagentoClient) -> tuple[list[int], set[int], set[int], list[int]]:
        found = [r["id"] async for r in client.get_by_ids("customers", [*ids, 99999], batch_size=8)]
        alive = {r["id"] async for r in client.get_by_ids("customers", ids, batch_size=8)}
        wanted = [gone_sku["id"], *list(state.products.records)[:3]]
        products = {r["id"] async for r in client.get_by_ids("products", wanted)}
        orders = [r["entity_id"] async for r in client.get_by_ids("orders", [2, 4])]
        return found, alive, products, orders

    found, alive, products, orders = run(app, work)
    expected = [i for i in ids if i not in (ids[3], ids[17])]
    assert found == expected
    assert alive == set(expected)
    assert gone_sku["id"] not in products and len(products) == 3
    assert orders == [2, 4]


def test_single_records_and_store_config(clock: FakeClock) -> None:
    app = make_app(clock, seed=7, customers=12, products=12, orders=12)
    state: SandboxState = app.state.sandbox
    memo = next(iter(state.creditmemos), None)

    async def work(client: MagentoClient) -> dict[str, Any]:
        out: dict[str, Any] = {
            "order": await client.request("GET", "/V1/orders/1"),
            "customer": await client.request("GET", "/V1/customers/1"),
            "configs": await client.get_store_configs(),
        }
        if memo is not None:
            out["memo"] = await client.request("GET", f"/V1/creditmemo/{memo['entity_id']}")
        with pytest.raises(SourceNotFound) as gone:
            await client.request("GET", "/V1/orders/99999")
        assert "GET /V1/orders/99999" in str(gone.value)
        return out

    out = run(app, work)
    assert out["order"]["entity_id"] == 1 and out["customer"]["id"] == 1
    assert out["configs"][0]["base_currency_code"] == "GBP" and out["configs"][0]["timezone"]
    assert memo is None or out["memo"]["entity_id"] == memo["entity_id"]


def test_admin_login_and_relogin_after_expiry(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, customers=3, products=3, orders=2, admin_users={"api": "pw"})
    state: SandboxState = app.state.sandbox

    async def work(client: MagentoClient) -> int:
        first = len(await collect(client.iter_changes("orders")))
        clock.advance(4 * 3600)  # the admin token expires
        second = len(await collect(client.iter_changes("orders")))
        return first + second

    assert run(app, work, username="api", password="pw") == 4
    logins = [q for m, q in state.request_log if q == "/V1/integration/admin/token"]
    assert len(logins) == 2


def test_bad_credentials_say_what_to_fix(clock: FakeClock) -> None:
    app = make_app(clock, admin_users={"api": "pw"})

    async def with_token(client: MagentoClient) -> None:
        await client.get_store_configs()

    with pytest.raises(SourceSetupError) as bad_token:
        run(app, with_token, token="stale")
    assert isinstance(bad_token.value, NeedsPerson)
    message = str(bad_token.value)
    assert f"Magento rejected the access token for {BASE}" in message and "`token`" in message

    with pytest.raises(SourceSetupError) as bad_login:
        run(app, with_token, username="api", password="wrong")
    assert "'api'" in str(bad_login.value) and "`password`" in str(bad_login.value)

    # a stale token with a working login is repaired silently
    assert run(app, with_token, token="stale", username="api", password="pw") is None
    with pytest.raises(ValueError):
        MagentoClient(httpx.AsyncClient(), BASE)


def test_errors_are_classified_retryable_or_permanent(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, customers=3, products=3, orders=2)
    state: SandboxState = app.state.sandbox

    async def call(client: MagentoClient) -> Any:
        return await client.search("/V1/orders", page_size=5)

    for status, retry_after in ((503, None), (500, None), (502, None), (429, 12.0)):
        state.add_fault(status, retry_after=retry_after)
        with pytest.raises(SourceUnavailable) as err:
            run(app, call)
        assert isinstance(err.value, RetryLater) and err.value.status == status
        assert err.value.retry_after == retry_after
    assert run(app, call)["total_count"] == 2

    async def bad_criteria(client: MagentoClient) -> Any:
        return await client.search("/V1/orders", [[("bogus", "1", "eq")]])

    with pytest.raises(SourceRefused) as refused:
        run(app, bad_criteria)
    assert isinstance(refused.value, Permanent) and "bogus" in str(refused.value)

    async def go() -> Any:
        async with http_for(app) as http:
            return await MagentoClient(http, f"{BASE}/shop", token=TOKEN).search("/V1/orders")

    with pytest.raises(SourceSetupError) as config:
        asyncio.run(go())
    assert "base_url" in str(config.value)


def test_timeouts_and_unreachable_stores_are_retryable() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def html(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>shop</html>", headers={"content-type": "text/html"})

    async def go(handler: Any) -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            return await MagentoClient(http, BASE, token=TOKEN).get_store_configs()

    for handler in (timeout, refused):
        with pytest.raises(SourceUnavailable) as err:
            asyncio.run(go(handler))
        assert BASE in str(err.value)
    with pytest.raises(SourceSetupError):
        asyncio.run(go(html))


def test_base_url_may_include_the_rest_prefix(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, customers=3, products=3, orders=1)

    async def go() -> int:
        async with http_for(app) as http:
            client = MagentoClient(http, f"{BASE}/rest/default/V1/", token=TOKEN)
            return len(await collect(client.iter_changes("orders")))

    assert asyncio.run(go()) == 1
