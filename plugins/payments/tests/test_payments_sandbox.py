"""The payments sandbox on its own: money rules to the cent, webhooks out, limits and faults."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx

from xerobridge.sdk import FakeClock
from xerobridge_payments.events import SYNC_TOPICS, Topic, bearer_matches, parse_event
from xerobridge_payments.sandbox.render import dumps

from payments_helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    WEBHOOK_SECRET,
    Catcher,
    control,
    http_for,
    make_app,
    state_of,
)


def api(app: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One API call with a fresh token (or the `token` given)."""

    async def go() -> httpx.Response:
        async with http_for(app) as http:
            token = kwargs.pop("token", None)
            if token is None:
                answer = await http.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(CLIENT_ID, CLIENT_SECRET),
                )
                token = answer.json()["access_token"]
            return await http.request(
                method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
            )

    return asyncio.run(go())


def test_the_same_seed_makes_the_same_history_and_another_seed_another(clock: FakeClock) -> None:
    def history(seed: int) -> bytes:
        state = state_of(make_app(FakeClock(clock.now()), seed=seed, customers=5, invoices=30))
        return dumps([state.customers, state.invoices, state.payments, state.payouts])

    assert history(7) == history(7)
    assert history(7) != history(8)


def test_every_generated_payout_is_its_payments_less_fees_refunds_and_chargebacks(
    clock: FakeClock,
) -> None:
    state = state_of(make_app(clock, seed=11, customers=6, invoices=80))
    assert {"part_paid_invoice", "refunded_payment", "chargeback_payment", "old_invoice"} <= set(
        state.odd
    )
    taken: set[str] = set()
    for payout in state.payouts.values():
        txns = state.payout_transactions(payout["id"])
        assert not taken & {t["id"] for t in txns}  # no transaction in two payouts
        taken |= {t["id"] for t in txns}
        net = Decimal(0)
        for txn in txns:
            if txn["type"] == "payment":
                net += txn["sub_total"]
                net -= sum(f["amount"] for f in txn["fees"] if not f["covered_by_customer"])
            else:
                net -= txn["sub_total"]
        assert payout["total"] == net, payout["id"]
        assert payout["total"] == payout["sub_total"] - sum(f["amount"] for f in payout["fees"])
    assert taken == {p["id"] for p in state.payments.values() if p["payout_id"]}


def test_part_payments_refunds_and_chargebacks_move_the_balance(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, customers=1, invoices=0)
    invoice = control(
        app,
        "POST",
        "/invoices",
        {"customer_id": "cus_000001", "line_items": [{"description": "Work", "amount": "100.00"}]},
    )
    assert invoice["origin"] == "portal" and invoice["external_id"] is None
    first = control(app, "POST", f"/invoices/{invoice['id']}/pay", {"amount": 40})
    state = state_of(app)
    assert state.invoices[invoice["id"]]["status"] == "partially_paid"
    second = control(app, "POST", f"/invoices/{invoice['id']}/pay", {})
    assert second["sub_total"] == 60
    assert state.invoices[invoice["id"]]["status"] == "paid"

    control(app, "POST", f"/payments/{first['id']}/refund", {"amount": "15.50"})
    assert state.invoices[invoice["id"]]["amount_due"] == Decimal("15.50")
    assert state.payments[first["id"]]["status"] == "succeeded"
    control(app, "POST", f"/payments/{second['id']}/chargeback", {})
    assert state.payments[second["id"]]["status"] == "chargeback"
    assert state.invoices[invoice["id"]]["amount_due"] == Decimal("75.50")

    payout = control(app, "POST", "/payouts/run", {})
    fees = (
        state.payments[first["id"]]["fees"][0]["amount"]
        + state.payments[second["id"]]["fees"][0]["amount"]
    )
    assert Decimal(str(payout["total"])) == Decimal("100.00") - fees - Decimal("15.50") - 60
    assert {t["type"] for t in payout["transactions"]} == {"payment", "refund", "chargeback"}


def test_webhooks_carry_the_bearer_secret_and_each_event_once(clock: FakeClock) -> None:
    catcher = Catcher()
    app = make_app(
        clock,
        seed=1,
        customers=2,
        invoices=3,
        webhook_url="http://xerobridge.test/hook",
        webhook_http=catcher.http(),
    )
    assert catcher.received == []  # the generated history happened before anyone listened
    state = state_of(app)
    assert {s["topic"] for s in state.webhooks.values()} == {t.value for t in SYNC_TOPICS}
    invoice = control(
        app,
        "POST",
        "/invoices",
        {"customer_id": "cus_000001", "line_items": [{"description": "Work", "amount": 10}]},
    )
    payment = control(app, "POST", f"/invoices/{invoice['id']}/pay", {})
    control(app, "POST", f"/payments/{payment['id']}/refund", {"amount": 1})
    control(app, "POST", "/payouts/run", {})

    assert catcher.topics == [
        "payment_succeeded",
        "invoice_paid",
        "payment_refunded",
        "payout_paid",
    ]
    for authorization, body in catcher.received:
        assert bearer_matches(authorization, WEBHOOK_SECRET)
        assert not bearer_matches(authorization, WEBHOOK_SECRET + "x")
        event = parse_event(body)
        assert event.object_id == body["data"]["id"]
    paid = parse_event(catcher.received[1][1])
    assert paid.topic is Topic.INVOICE_PAID and paid.object_id == invoice["id"]
    assert [d["outcome"] for d in state.deliveries] == ["delivered"] * 4


def test_a_dropped_webhook_is_recorded_and_can_be_sent_again(clock: FakeClock) -> None:
    catcher = Catcher()
    app = make_app(clock, seed=1, customers=1, invoices=1, webhook_url="http://xerobridge.test/hook",
                   webhook_http=catcher.http())  # fmt: skip
    control(app, "POST", "/webhooks/drop", {"count": 1})
    invoice = control(
        app,
        "POST",
        "/invoices",
        {"customer_id": "cus_000001", "line_items": [{"description": "Work", "amount": 10}]},
    )
    control(app, "POST", f"/invoices/{invoice['id']}/pay", {"amount": 5})
    assert catcher.received == []
    assert [d["outcome"] for d in control(app, "GET", "/webhooks/deliveries")] == ["dropped"]
    control(app, "POST", "/webhooks/redeliver", {})
    assert catcher.topics == ["payment_succeeded"]


def test_a_failed_delivery_is_recorded_with_the_status(clock: FakeClock) -> None:
    catcher = Catcher(status=500)
    app = make_app(clock, seed=1, customers=1, invoices=1, webhook_url="http://xerobridge.test/hook",
                   webhook_http=catcher.http())  # fmt: skip
    control(app, "POST", "/invoices/inv_000001/archive", {})
    deliveries = state_of(app).deliveries
    assert [(d["topic"], d["status"], d["outcome"]) for d in deliveries] == [
        ("invoice_archived", 500, "failed")
    ]


def test_the_sixth_request_in_a_second_is_refused_with_retry_after(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, customers=1, invoices=1)

    async def go() -> list[httpx.Response]:
        async with http_for(app) as http:
            token = (
                await http.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(CLIENT_ID, CLIENT_SECRET),
                )
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            answers = [await http.get("/invoices", headers=headers) for _ in range(5)]
            clock.advance(1.0)
            answers += [await http.get("/invoices", headers=headers) for _ in range(5)]
            return answers

    statuses = [r.status_code for r in asyncio.run(go())]
    # The token request counted too: four calls pass in the first second, five in the next.
    assert statuses == [200, 200, 200, 200, 429, 200, 200, 200, 200, 200]


def test_429_and_errors_have_the_platform_error_body(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, customers=1, invoices=1)
    state_of(app).rate_limit = None
    refused = api(app, "POST", "/invoices", json={"customer_id": "cus_nope", "line_items": []})
    assert refused.status_code == 422
    body = refused.json()
    assert body["code"] == "validation_error" and body["message"]
    assert set(body["validation_errors"]) == {"customer_id", "line_items"}
    unknown = api(app, "GET", "/invoices", params={"colour": "red"})
    assert unknown.status_code == 422 and "colour" in unknown.json()["validation_errors"]
    bad_cursor = api(app, "GET", "/invoices", params={"after": "!!"})
    assert bad_cursor.status_code == 400 and "after" in bad_cursor.json()["validation_errors"]


def test_tokens_expire_after_an_hour(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, customers=1, invoices=1)

    async def go() -> list[int]:
        async with http_for(app) as http:
            answer = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(CLIENT_ID, CLIENT_SECRET),
            )
            assert answer.json()["expires_in"] == 3600 and answer.json()["token_type"] == "Bearer"
            headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
            before = (await http.get("/customers", headers=headers)).status_code
            clock.advance(3600)
            after = (await http.get("/customers", headers=headers)).status_code
            wrong = await http.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, "no")
            )
            return [before, after, wrong.status_code]

    assert asyncio.run(go()) == [200, 401, 401]


def test_a_slow_fault_waits_on_the_sandbox_clock(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, customers=1, invoices=1)
    state_of(app).faults.add(None, delay=30, path="/customers")
    start = clock.monotonic()
    assert api(app, "GET", "/customers").status_code == 200
    assert clock.monotonic() - start >= 30


def test_html_gateway_pages_for_5xx_faults(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, customers=1, invoices=1)
    control(app, "POST", "/faults", {"status": 502, "path": "/payouts"})
    answer = api(app, "GET", "/payouts")
    assert answer.status_code == 502 and answer.headers["content-type"].startswith("text/html")


def test_lists_filter_by_external_id_and_time(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, customers=3, invoices=20)
    answer = api(app, "GET", "/invoices", params={"created_at_start": "2025-12-01T00:00:00Z"})
    assert answer.status_code == 200
    assert all(r["created_at"] >= "2025-12-01" for r in answer.json()["data"])
    bad = api(app, "GET", "/invoices", params={"created_at_start": "yesterday"})
    assert bad.status_code == 422 and "created_at_start" in bad.json()["validation_errors"]
