"""The payments client against the sandbox: token, pacing, paging, every error kind, records."""

from __future__ import annotations

import asyncio
import math
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from xerobridge.sdk import FakeClock, Permanent, RetryLater, UserError
from xerobridge_payments.client import Line, PaymentsClient
from xerobridge_payments.errors import (
    PaymentsAuthError,
    PaymentsConfigError,
    PaymentsNotFound,
    PaymentsRequestError,
    PaymentsUnavailable,
)
from xerobridge_payments.pacer import WindowPacer

from payments_helpers import BASE, client_for, control, make_app, run, state_of


async def collect(iterator: Any) -> list[dict[str, Any]]:
    return [record async for record in iterator]


def token_requests(app: Any) -> int:
    return sum(1 for m, p in state_of(app).request_log if (m, p) == ("POST", "/oauth/token"))


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and text.strip() == text
    return text


# -- auth ----------------------------------------------------------------------------------------


def test_the_token_is_asked_for_once_and_again_only_when_it_expires(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, customers=3, invoices=5)

    async def work(client: PaymentsClient) -> None:
        for _ in range(4):
            await client.get_invoice("inv_000001")
        assert token_requests(app) == 1
        clock.advance(3600 - 120)  # still inside the token's life, less the margin
        await client.get_invoice("inv_000001")
        assert token_requests(app) == 1
        clock.advance(90)  # within a minute of expiring: renewed before it dies in flight
        await client.get_invoice("inv_000001")
        assert token_requests(app) == 2

    run(app, clock, work)


def test_a_revoked_token_is_replaced_once_and_the_call_succeeds(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, customers=3, invoices=5)

    async def work(client: PaymentsClient) -> dict[str, Any]:
        await client.get_invoice("inv_000001")
        state_of(app).revoke_tokens()
        return await client.get_invoice("inv_000002")

    assert run(app, clock, work)["id"] == "inv_000002"
    assert token_requests(app) == 2


def test_a_wrong_client_secret_is_a_user_error_naming_both_settings(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, customers=1, invoices=1)

    async def work(client: PaymentsClient) -> None:
        await client.get_invoice("inv_000001")

    with pytest.raises(PaymentsAuthError) as caught:
        run(app, clock, work, client_secret="wrong")
    assert isinstance(caught.value, UserError)
    text = one_line(caught.value)
    assert "'sandbox-client'" in text and "client_secret" in text and "wrong" not in text


# -- pacing and 429 ------------------------------------------------------------------------------


def test_thirty_calls_keep_to_five_a_second_and_meet_no_429(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, customers=2, invoices=3)
    start = clock.monotonic()

    async def work(client: PaymentsClient) -> None:
        await asyncio.gather(*(client.get_invoice("inv_000001") for _ in range(30)))

    run(app, clock, work)
    assert state_of(app).rate_limit is not None
    assert state_of(app).rate_limit.refused == 0
    # 31 requests (the token's too) at 5 a second need at least 6 seconds.
    assert clock.monotonic() - start >= 6


def test_a_429_holds_the_key_for_its_retry_after_and_the_call_is_sent_again(
    clock: FakeClock,
) -> None:
    app = make_app(clock, seed=1, customers=2, invoices=3)
    greedy = WindowPacer(clock, requests=50)

    async def work(client: PaymentsClient) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(client.get_invoice("inv_000002") for _ in range(12))))

    answers = run(app, clock, work, pacer=greedy)
    assert [a["id"] for a in answers] == ["inv_000002"] * 12
    limit = state_of(app).rate_limit
    assert limit is not None and limit.refused > 0


def test_429s_without_end_become_retry_later_with_the_wait(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, customers=2, invoices=3)
    state_of(app).faults.add(429, times=0, path="/invoices", retry_after=7)

    async def work(client: PaymentsClient) -> None:
        await client.get_invoice("inv_000001")

    with pytest.raises(PaymentsUnavailable) as caught:
        run(app, clock, work, max_throttled=2)
    assert isinstance(caught.value, RetryLater)
    assert caught.value.retry_after == 7 and caught.value.status == 429
    assert "invoice inv_000001" in one_line(caught.value)
    attempts = [p for m, p in state_of(app).request_log if p == "/invoices/inv_000001"]
    assert len(attempts) == 3


# -- paging --------------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["flat", "nested"])
def test_cursor_paging_reads_every_record_once_in_either_envelope(
    clock: FakeClock, style: str
) -> None:
    app = make_app(clock, seed=3, customers=4, invoices=40)
    state_of(app).nested_paging = style == "nested"

    records = run(app, clock, lambda c: collect(c.iter_invoices()), page_size=7)
    assert [r["id"] for r in records] == sorted(state_of(app).invoices)
    pages = [p for m, p in state_of(app).request_log if p.startswith("/invoices?")]
    assert len(pages) == math.ceil(40 / 7)
    assert all("after=" in p for p in pages[1:])


def test_a_repeated_page_stops_the_read_instead_of_looping(clock: FakeClock) -> None:
    app = make_app(clock, seed=3, customers=4, invoices=30)
    state_of(app).faults.add(None, answer="repeat", path="/invoices", after=1)

    with pytest.raises(PaymentsUnavailable) as caught:
        run(app, clock, lambda c: collect(c.iter_invoices()), page_size=10)
    assert "does not move on" in one_line(caught.value)


def test_a_page_in_the_older_nested_form_mid_read_is_taken(clock: FakeClock) -> None:
    app = make_app(clock, seed=3, customers=4, invoices=25)
    state_of(app).faults.add(None, answer="nested", path="/invoices", after=1)

    records = run(app, clock, lambda c: collect(c.iter_invoices()), page_size=10)
    assert len(records) == 25


def test_filters_reach_the_platform(clock: FakeClock) -> None:
    app = make_app(clock, seed=2, customers=4, invoices=30)
    since = clock.now() - timedelta(days=120)

    async def work(client: PaymentsClient) -> list[dict[str, Any]]:
        return await collect(client.iter_payments(since=since))

    payments = run(app, clock, work)
    expected = {
        p["id"]
        for p in state_of(app).payments.values()
        if p["type"] == "payment" and p["created_at"] >= since.strftime("%Y-%m-%dT%H:%M:%SZ")
    }
    assert {p["id"] for p in payments} == expected and expected


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_and_html_error_pages_are_retry_later(clock: FakeClock, status: int) -> None:
    app = make_app(clock, seed=1, customers=1, invoices=2)
    state_of(app).faults.add(status, path="/invoices")

    async def work(client: PaymentsClient) -> None:
        await client.get_invoice("inv_000001")

    with pytest.raises(PaymentsUnavailable) as caught:
        run(app, clock, work)
    assert caught.value.status == status
    assert f"HTTP {status}" in one_line(caught.value)


def test_a_cut_off_answer_is_retry_later(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, customers=1, invoices=2)
    state_of(app).faults.add(None, answer="truncated", path="/invoices")

    with pytest.raises(PaymentsUnavailable, match="does not parse"):
        run(app, clock, lambda c: c.get_invoice("inv_000001"))


def test_an_html_page_with_200_points_at_base_url(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, customers=1, invoices=2)
    state_of(app).faults.add(None, answer="html", path="/invoices")

    with pytest.raises(PaymentsConfigError) as caught:
        run(app, clock, lambda c: c.get_invoice("inv_000001"))
    assert "base_url" in one_line(caught.value)


def test_a_missing_record_is_permanent_and_a_missing_route_is_base_url(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, customers=1, invoices=2)

    with pytest.raises(PaymentsNotFound) as missing:
        run(app, clock, lambda c: c.get_invoice("inv_999999"))
    assert isinstance(missing.value, Permanent)
    assert one_line(missing.value).startswith("invoice inv_999999: not found")

    async def wrong_base(client: PaymentsClient) -> None:
        client.base_url = f"{BASE}/v1"
        await client.get_payout("po_000001")

    with pytest.raises(PaymentsConfigError) as route:
        run(app, clock, wrong_base)
    assert "base_url" in one_line(route.value)


def test_validation_errors_name_the_field_in_one_line(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, customers=1, invoices=0)

    async def work(client: PaymentsClient) -> None:
        await client.create_invoice(
            customer_id="cus_000001",
            lines=[Line("Support", Decimal("10.00"), Decimal(0))],
            due_date=date(2026, 4, 1),
            external_id="xero-inv-1",
            invoice_number="INV-0001",
            currency="EUR",
        )

    with pytest.raises(PaymentsRequestError) as caught:
        run(app, clock, work)
    assert isinstance(caught.value, Permanent)
    text = one_line(caught.value)
    assert caught.value.status == 422 and caught.value.field == "currency"
    assert text.startswith("invoice INV-0001 for customer cus_000001:")
    assert "currency: must be one of USD" in text and "line_items[0].quantity" in text


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (httpx.ReadTimeout("slow"), PaymentsUnavailable),
        (httpx.ConnectError("refused"), PaymentsUnavailable),
    ],
)
def test_transport_failures_are_retry_later(
    clock: FakeClock, error: Exception, kind: type[Exception]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            await client_for(http, clock).get_invoice("inv_1")

    with pytest.raises(kind) as caught:
        asyncio.run(go())
    one_line(caught.value)


def test_a_base_url_that_is_not_http_is_a_user_error(clock: FakeClock) -> None:
    async def go() -> None:
        async with httpx.AsyncClient() as http:
            await PaymentsClient(http, "ftp://x", "a", "b", clock=clock).get_invoice("inv_1")

    with pytest.raises(PaymentsConfigError, match="base_url"):
        asyncio.run(go())


# -- records -------------------------------------------------------------------------------------


def test_customers_are_found_by_external_id_or_email_created_and_updated(clock: FakeClock) -> None:
    app = make_app(clock)

    async def work(client: PaymentsClient) -> None:
        assert await client.find_customer(external_id="contact-1", email="a@b.example") is None
        made = await client.create_customer(
            name="Acme", email="Billing@Acme.example", external_id="contact-1"
        )
        assert (await client.find_customer(external_id="contact-1"))["id"] == made["id"]
        by_mail = await client.find_customer(email="billing@acme.EXAMPLE")
        assert by_mail is not None and by_mail["id"] == made["id"]
        changed = await client.update_customer(made["id"], name="Acme Ltd")
        assert changed["name"] == "Acme Ltd"
        with pytest.raises(PaymentsRequestError) as twice:
            await client.create_customer(
                name="Acme", email="x@acme.example", external_id="contact-1"
            )
        assert twice.value.status == 409 and twice.value.field == "external_id"

    run(app, clock, work)


def test_an_invoice_from_xero_changes_and_its_balance_falls_by_xero_payments(
    clock: FakeClock,
) -> None:
    app = make_app(clock)

    async def work(client: PaymentsClient) -> None:
        customer = await client.create_customer(name="Acme", email="a@acme.example")
        invoice = await client.create_invoice(
            customer_id=customer["id"],
            lines=[
                Line("Managed IT", Decimal("450.00")),
                Line("Licences", Decimal("22.10"), Decimal(3)),
            ],
            due_date=date(2026, 3, 31),
            external_id="xero-inv-1",
            invoice_number="INV-0001",
        )
        assert invoice["total"] == Decimal("516.30") and invoice["status"] == "open"
        assert (await client.find_invoice("xero-inv-1"))["id"] == invoice["id"]
        assert await client.find_invoice("xero-inv-2") is None

        changed = await client.update_invoice(
            invoice["id"], lines=[Line("Managed IT", Decimal("500.01"))], due_date=date(2026, 4, 30)
        )
        assert changed["total"] == Decimal("500.01") and changed["due_date"] == "2026-04-30"

        part = await client.record_external_payment(
            invoice["id"], amount=Decimal("100.01"), reference="pay-1", paid_on=date(2026, 3, 2)
        )
        again = await client.record_external_payment(
            invoice["id"], amount=Decimal("100.01"), reference="pay-1", paid_on=date(2026, 3, 2)
        )
        assert part["amount_due"] == again["amount_due"] == Decimal("400.00")
        assert again["status"] == "partially_paid"
        credit = await client.record_external_payment(
            invoice["id"], amount=Decimal("50"), reference="cn-1", paid_on=date(2026, 3, 3),
            kind="credit",
        )  # fmt: skip
        assert credit["amount_due"] == Decimal("350.00")

        paid = await client.mark_invoice_paid(
            invoice["id"], reference="pay-2", paid_on=date.today()
        )
        assert paid["status"] == "paid" and paid["amount_due"] == 0
        assert (
            await client.mark_invoice_paid(invoice["id"], reference="pay-3", paid_on=date.today())
        )["external_payments"] == paid["external_payments"]
        with pytest.raises(PaymentsRequestError) as locked:
            await client.update_invoice(invoice["id"], due_date=date(2026, 5, 1))
        assert locked.value.status == 409 and "paid" in str(locked.value)

    run(app, clock, work)


def test_payments_refunds_chargebacks_and_payouts_are_read_with_fees(clock: FakeClock) -> None:
    app = make_app(clock, seed=4, customers=4, invoices=30)
    state = state_of(app)
    since = clock.now() - timedelta(days=800)

    async def work(client: PaymentsClient) -> dict[str, Any]:
        payouts = await collect(client.iter_payouts(since=since))
        return {
            "payments": await collect(client.iter_payments(since=since)),
            "refunds": await collect(client.iter_refunds(since=since)),
            "chargebacks": await collect(client.iter_chargebacks(since=since)),
            "payouts": payouts,
            "transactions": {p["id"]: await client.payout_transactions(p["id"]) for p in payouts},
        }

    seen = run(app, clock, work, page_size=25)
    assert seen["payments"]
    for payment in seen["payments"]:
        assert payment["fees"], payment["id"]
        assert not isinstance(payment["sub_total"], float)  # exact cents, never binary floats
    assert {r["original_payment_id"] for r in seen["refunds"]} >= {
        state.odd["refunded_payment"],
        state.odd["partly_refunded_payment"],
    }
    assert [c["original_payment_id"] for c in seen["chargebacks"]] == [
        state.odd["chargeback_payment"]
    ]
    assert len(seen["payouts"]) == len(state.payouts)
    for payout in seen["payouts"]:
        txns = seen["transactions"][payout["id"]]
        gross = sum((t["sub_total"] for t in txns if t["type"] == "payment"), Decimal(0))
        back = sum((t["sub_total"] for t in txns if t["type"] != "payment"), Decimal(0))
        fees = sum(
            (f["amount"] for t in txns for f in t["fees"] if not f["covered_by_customer"]),
            Decimal(0),
        )
        assert payout["total"] == gross - fees - back, payout["id"]
        assert payout["total"] == payout["sub_total"] - sum(f["amount"] for f in payout["fees"])


def test_a_payment_made_by_the_control_api_is_read_back_to_the_cent(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, customers=2, invoices=0)
    invoice = control(
        app,
        "POST",
        "/invoices",
        {
            "customer_id": "cus_000001",
            "line_items": [{"description": "Fix", "amount": 33.33, "quantity": 3}],
        },
    )
    paid = control(app, "POST", f"/invoices/{invoice['id']}/pay", {"amount": "50.00"})

    payment = run(app, clock, lambda c: c.get_payment(paid["id"]))
    assert payment["sub_total"] == Decimal("50.00")
    assert payment["fees"][0]["amount"] == Decimal("1.75")  # 2.9% + 0.30, to the cent
    assert run(app, clock, lambda c: c.get_invoice(invoice["id"]))["amount_due"] == Decimal("49.99")
