"""The sandbox on its own: a deterministic marketplace with every order and charge-line type,
amounts as strings that add up, ambiguous customers, orders that settle on the clock, the
gateway's checks, and the control API."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.applications import Starlette

from xerobridge.sdk import FakeClock
from xerobridge_marketplace.sandbox import SandboxState, create_app
from xerobridge_marketplace.sandbox.charges import line_total

from marketplace_helpers import HOST, START

CONNECT_SPEC = Path("/work/shared/source-apis/cloudblue-connect/connect-openapi30-v37.0.yml")


def call(app: Starlette, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=HOST) as h:
            return await h.request(method, path, **kwargs)

    return asyncio.run(go())


def all_orders(state: SandboxState) -> list[dict[str, Any]]:
    return list(state.orders.values())


def test_the_same_seed_and_clock_give_the_same_marketplace() -> None:
    one = create_app(FakeClock(START), seed=3).state.sandbox
    two = create_app(FakeClock(START), seed=3).state.sandbox
    other = create_app(FakeClock(START), seed=4).state.sandbox
    assert one.orders == two.orders and one.customers == two.customers
    assert one.orders != other.orders


def test_history_has_every_order_type_and_charge_line_the_plugin_must_handle() -> None:
    state = create_app(FakeClock(START), seed=1, customers=20, subscriptions=80).state.sandbox
    types = Counter(o["type"] for o in all_orders(state))
    assert {"sales", "change", "renewal", "cancellation"} <= set(types)
    lines = Counter(d["type"] for o in all_orders(state) for d in o["details"])
    must = {"setup", "recurring", "renew", "switch", "downgrade", "recurringRefund", "renewRefund",
            "setupRefund", "cancellation", "overuse", "discount", "handlingFee"}  # fmt: skip
    assert must <= set(lines), must - set(lines)


def test_amounts_are_strings_in_several_currencies_and_add_up_to_the_total(
    state: SandboxState,
) -> None:
    currencies = set()
    for order in all_orders(state):
        assert isinstance(order["total"]["amount"], str)
        currencies.add(order["total"]["currency"])
        total = sum((line_total(d) for d in order["details"]), Decimal(0))
        assert Decimal(order["total"]["amount"]) == total
        for line in order["details"]:
            amount = line["salesExtendedPrice"]["amount"]
            assert isinstance(amount, str) and Decimal(amount) == Decimal(amount).quantize(
                Decimal("0.01")
            )
            if line["type"].endswith("Refund"):
                assert Decimal(amount) <= 0
    assert len(currencies) >= 3


def test_some_customers_match_ambiguously_by_name_or_billing_email(state: SandboxState) -> None:
    same_name = [state.customers[i]["name"] for i in state.odd["same_name"]]
    assert len(same_name) == 2 and same_name[0] == same_name[1]
    emails = [
        next(c["email"] for c in state.customers[i]["contactPersons"] if c["type"] == "billing")
        for i in state.odd["same_billing_email"]
    ]
    assert len(emails) == 2 and emails[0] == emails[1]
    (lonely,) = state.odd["no_billing_contact"]
    assert all(c["type"] != "billing" for c in state.customers[lonely]["contactPersons"])


def test_recent_orders_stay_processing_until_the_clock_moves(
    app: Starlette, state: SandboxState, clock: FakeClock
) -> None:
    waiting = state.odd["processing_orders"]
    assert waiting and all(state.orders[i]["status"] == "processing" for i in waiting)
    sub_ids = {state.orders[i]["subscriptionId"] for i in waiting}
    clock.advance(7 * 3600)
    response = call(app, "POST", "/_sandbox/clock/advance", json={"seconds": 0})
    assert response.status_code == 200
    assert all(state.orders[i]["status"] in ("completed", "error", "cancelled") for i in waiting)
    assert all(state.subscriptions[s]["status"] != "pending" for s in sub_ids)


def test_a_downgrade_refunds_the_rest_of_the_period(state: SandboxState, clock: FakeClock) -> None:
    customer = state.odd["same_name"][0]
    sub, _ = state.sell(customer, "PLN-101", 10, settle_after=60)
    clock.advance(120)
    state.settle()
    clock.advance(10 * 86400)
    order = state.change(sub["id"], quantity=4, settle_after=60)
    kinds = [d["type"] for d in order["details"]]
    assert kinds == ["downgrade", "recurringRefund"]
    refund = order["details"][1]
    assert refund["quantity"] == 6 and Decimal(refund["salesExtendedPrice"]["amount"]) < 0
    assert refund["endDate"] == sub["nextBillingDate"]
    clock.advance(120)
    state.settle()
    assert state.subscriptions[sub["id"]]["products"][0]["quantity"] == 4


def test_the_gateway_wants_the_subscription_key_and_the_api_a_token(
    app: Starlette, state: SandboxState
) -> None:
    no_key = call(app, "GET", "/marketplace/orders")
    assert no_key.status_code == 401 and "subscription key" in no_key.json()["message"]
    key = {"X-Subscription-Key": state.subscription_key}
    no_token = call(app, "GET", "/marketplace/orders", headers=key)
    assert no_token.status_code == 401 and no_token.json()["code"] == "unauthorized"
    got = call(
        app, "POST", "/marketplace/token", headers=key,
        auth=(state.username, state.password), json={"marketplace": state.marketplace},
    )  # fmt: skip
    assert got.status_code == 200 and got.json()["expiresInSeconds"] == 1500
    bearer = {**key, "Authorization": f"Bearer {got.json()['token']}"}
    page = call(app, "GET", "/marketplace/orders", headers=bearer, params={"limit": 5})
    body = page.json()
    assert len(body["data"]) == 5
    assert body["pagination"] == {"offset": 0, "limit": 5, "total": len(state.orders)}
    assert page.headers["X-Correlation-ID"]
    too_many = call(app, "GET", "/marketplace/orders", headers=bearer, params={"limit": 500})
    assert too_many.status_code == 400


def test_the_control_api_adds_customers_subscriptions_and_moves_orders(
    app: Starlette, state: SandboxState
) -> None:
    customer = call(
        app, "POST", "/_sandbox/customers",
        json={"name": "Control Co", "country": "NZ", "contactPersons": [
            {"type": "billing", "firstName": "Al", "lastName": "Lee", "email": "al@c.example"}]},
    ).json()  # fmt: skip
    made = call(
        app, "POST", "/_sandbox/subscriptions",
        json={"customerId": customer["id"], "planId": "PLN-201", "quantity": 3},
    ).json()  # fmt: skip
    order = made["order"]
    assert order["total"]["currency"] == "NZD"
    assert [d["type"] for d in order["details"]] == ["setup", "recurring"]
    moved = call(app, "POST", f"/_sandbox/orders/{order['id']}/status", json={"status": "error"})
    assert moved.json()["status"] == "error"
    assert state.subscriptions[made["subscription"]["id"]]["status"] == "removed"
    again = call(app, "POST", f"/_sandbox/orders/{order['id']}/status", json={"status": "error"})
    assert again.status_code == 400 and "already" in again.json()["error"]
    info = call(app, "GET", "/_sandbox/info").json()
    assert info["counts"]["customers"] == len(state.customers)
    assert info["base_url"] == HOST + "/marketplace"


def test_a_subscription_with_an_order_in_progress_takes_no_other(state: SandboxState) -> None:
    customer = state.odd["same_name"][0]
    sub, _ = state.sell(customer, "PLN-101", 1, settle_after=600)
    state.settle(state.now() + __import__("datetime").timedelta(seconds=600))
    state.change(sub["id"], quantity=2, settle_after=600)
    with pytest.raises(ValueError, match="in progress"):
        state.cancel(sub["id"])


@pytest.mark.skipif(not CONNECT_SPEC.exists(), reason="the official Connect spec is not here")
def test_billing_periods_are_ones_connect_can_express(state: SandboxState) -> None:
    spec = yaml.load(CONNECT_SPEC.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    billing = spec["components"]["schemas"]["subscriptions.Subscriptions"]["properties"]["billing"]
    uoms = set(billing["properties"]["period"]["properties"]["uom"]["enum"])
    for sub in state.subscriptions.values():
        span = sub["billingPeriod"]
        uom = {("month", 1): "monthly", ("year", 1): "yearly"}.get(
            (span["type"], span["duration"]), f"years_{span['duration']}"
        )
        assert uom in uoms, span
    statuses = set(
        spec["components"]["schemas"]["subscriptions.Subscriptions"]["properties"]["status"]["enum"]
    )
    # Connect's vendor-side statuses have counterparts for every reseller-side one generated.
    counterpart = {"pending": "processing", "active": "active", "terminated": "terminated",
                   "removed": "terminated", "hold": "suspended"}  # fmt: skip
    assert {counterpart[s["status"]] for s in state.subscriptions.values()} <= statuses
