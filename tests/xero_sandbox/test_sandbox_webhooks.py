"""Webhooks: signatures, events from changes, intent to receive against a receiver app."""

from __future__ import annotations

import json

import httpx
from sandbox_helpers import run
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from xerobridge.xero.sandbox import SandboxState, build_delivery, sign, verify
from xerobridge.xero.sandbox.state import DEFAULT_WEBHOOK_KEY


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
