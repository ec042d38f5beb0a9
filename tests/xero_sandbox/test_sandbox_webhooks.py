"""Webhooks: signatures, events from changes, intent to receive against a receiver app."""

from __future__ import annotations

import asyncio
import json
from collections import deque

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from xerobridge.clock import FakeClock
from xerobridge.sandboxes.xero import (
    SandboxState,
    build_delivery,
    create_app,
    sign,
    verify,
    webhooks,
)
from xerobridge.sandboxes.xero.state import DEFAULT_WEBHOOK_KEY

from sandbox_helpers import API, Api, invoice, run


def _receiver(received: list[dict[str, object]]) -> Starlette:
    """A minimal correct receiver: checks the signature on the raw body."""

    async def hook(request: Request) -> Response:
        body = await request.body()
        if not verify(body, DEFAULT_WEBHOOK_KEY, request.headers.get("x-xero-signature", "")):
            return Response(status_code=401)
        received.append(json.loads(body))
        return Response(status_code=200)

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


def test_signature_is_base64_hmac_sha256_of_raw_body() -> None:
    delivery = build_delivery([], "key", first_sequence=1, entropy="ABC")
    assert delivery.headers["x-xero-signature"] == sign(delivery.body, "key")
    assert verify(delivery.body, "key", delivery.headers["x-xero-signature"])
    assert not verify(delivery.body + b" ", "key", delivery.headers["x-xero-signature"])
    # Checked against `openssl dgst -sha256 -hmac secret -binary | base64`.
    assert sign(b'{"events":[]}', "secret") == "pkK1lVPJPiJ+wPLziRD79xIxohl8AImYM8AEeM7IbzQ="


def test_changes_queue_events_and_flush_delivers_them(sandbox: SandboxState) -> None:
    contact = sandbox.seed("Contacts", [{"Name": "Hooked"}])[0]
    note = {
        "Type": "ACCRECCREDIT",
        "Contact": {"ContactID": contact["ContactID"]},
        "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 1, "AccountCode": "200"}],
    }
    sandbox.seed("CreditNotes", [note])
    sandbox.seed("Items", [{"Code": "NOHOOK"}])  # Xero has no item events
    received: list[dict[str, object]] = []

    async def go() -> None:
        transport = httpx.ASGITransport(app=_receiver(received))
        async with httpx.AsyncClient(transport=transport, base_url="https://receiver") as client:
            response = await sandbox.webhooks.flush(client, "https://receiver/hook")
            assert response is not None and response.status_code == 200

    run(go())
    payload = received[0]
    events = payload["events"]
    assert isinstance(events, list)
    categories = [(e["eventCategory"], e["eventType"]) for e in events]
    assert ("CONTACT", "CREATE") in categories and ("CREDITNOTE", "CREATE") in categories
    assert all(c in ("CONTACT", "CREDITNOTE") for c, _ in categories)
    credit = next(e for e in events if e["eventCategory"] == "CREDITNOTE")
    assert credit["data"] == {"Type": "ACCRECCREDIT", "Status": "DRAFT"}
    assert (
        credit["tenantId"] == sandbox.default_tenant_id and credit["tenantType"] == "ORGANISATION"
    )
    assert credit["resourceUrl"].endswith(f"/CreditNotes/{credit['resourceId']}")
    assert payload["firstEventSequence"] == 1 and payload["lastEventSequence"] == len(events)
    assert not sandbox.webhooks.pending


def test_intent_to_receive_has_one_good_and_one_bad_signature(sandbox: SandboxState) -> None:
    received: list[dict[str, object]] = []
    deliveries = sandbox.webhooks.intent_to_receive()
    assert [d.expected_status for d in deliveries] == [200, 401]

    async def go() -> list[int]:
        transport = httpx.ASGITransport(app=_receiver(received))
        async with httpx.AsyncClient(transport=transport, base_url="https://receiver") as client:
            return [
                (await sandbox.webhooks.deliver(client, "https://receiver/hook", d)).status_code
                for d in deliveries
            ]

    assert run(go()) == [200, 401]
    assert received[0]["events"] == [] and received[0]["firstEventSequence"] == 0


def _receiver_with_status(received: list[bytes], status: int) -> Starlette:
    async def hook(request: Request) -> Response:
        received.append(await request.body())
        return Response(status_code=status)

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


def test_writes_seal_signed_deliveries_for_a_configured_url() -> None:
    app = create_app(FakeClock(), webhook_url="https://receiver/hook")
    sandbox: SandboxState = app.state.sandbox
    api = Api(app, sandbox.issue_tokens()["access_token"], sandbox.default_tenant_id)

    async def go() -> None:
        async with api.client() as client:
            await client.put(f"{API}/Contacts", json={"Contacts": [{"Name": "A"}, {"Name": "B"}]})
            await client.put(f"{API}/Items", json={"Items": [{"Code": "NOHOOK"}]})
            await client.put(f"{API}/Invoices", json={"Invoices": [invoice("A")]})

    run(go())
    assert sandbox.webhooks.pending == deque()
    deliveries = list(sandbox.webhooks.outbox)
    categories = [[e["eventCategory"] for e in d.payload()["events"]] for d in deliveries]
    # One delivery per write; the invoice's write also changed its contact. No item events.
    assert categories[0] == ["CONTACT", "CONTACT"] and "INVOICE" in categories[1]
    assert len(deliveries) == 2
    for delivery in deliveries:
        assert verify(delivery.body, DEFAULT_WEBHOOK_KEY, delivery.headers["x-xero-signature"])
    assert deliveries[1].payload()["firstEventSequence"] == 3
    assert deliveries[0].payload()["lastEventSequence"] == 2

    received: list[dict[str, object]] = []

    async def deliver() -> None:
        transport = httpx.ASGITransport(app=_receiver(received))
        async with httpx.AsyncClient(transport=transport, base_url="https://receiver") as client:
            assert await sandbox.webhooks.flush(client, "https://receiver/hook") is None

    run(deliver())
    assert len(received) == 2 and not sandbox.webhooks.outbox
    assert [s["status"] for s in sandbox.webhooks.sent] == [200, 200]


def test_delivery_retries_are_bounded(
    monkeypatch: pytest.MonkeyPatch, sandbox: SandboxState
) -> None:
    monkeypatch.setattr(webhooks, "RETRY_DELAYS", (0.0, 0.0))
    sandbox.webhooks.url = "https://receiver/hook"
    sandbox.seed("Contacts", [{"Name": "Retried"}])
    bodies: list[bytes] = []

    async def go() -> int:
        transport = httpx.ASGITransport(app=_receiver_with_status(bodies, 503))
        async with httpx.AsyncClient(transport=transport) as client:
            return await sandbox.webhooks.send_outbox(client)

    assert run(go()) == 0
    assert len(bodies) == webhooks.SEND_ATTEMPTS and len(set(bodies)) == 1
    assert sandbox.webhooks.sent == [{"status": 503, "attempts": 3, "events": 1}]
    assert not sandbox.webhooks.outbox  # best effort: dropped after the last attempt


def test_served_sandbox_posts_in_the_background() -> None:
    """The lifespan (run by uvicorn) starts the sender; here it runs in-process."""
    app = create_app(FakeClock())
    sandbox: SandboxState = app.state.sandbox
    received: list[dict[str, object]] = []
    sandbox.webhooks.transport = httpx.ASGITransport(app=_receiver(received))
    api = Api(app, sandbox.issue_tokens()["access_token"], sandbox.default_tenant_id)

    async def go() -> None:
        async with app.router.lifespan_context(app), api.bare() as control:
            set_url = await control.post("/_sandbox/webhooks/url", json={"url": "http://r/hook"})
            assert set_url.json() == {"url": "http://r/hook"}
            async with api.client() as client:
                await client.put(f"{API}/Contacts", json={"Contacts": [{"Name": "Live"}]})
            for _ in range(200):  # yield to the sender task until it has posted
                if sandbox.webhooks.sent:
                    break
                await asyncio.sleep(0)
            state = (await control.get("/_sandbox/webhooks/pending")).json()
            assert state["sent"] == [{"status": 200, "attempts": 1, "events": 1}]

    run(go())
    assert received[0]["events"][0]["eventCategory"] == "CONTACT"  # type: ignore[index]
