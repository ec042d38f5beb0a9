"""Xero webhooks: signed deliveries of CONTACT, INVOICE and CREDITNOTE events, intent to receive.

Payload shape from xero-webhooks.yaml; the signature is base64(HMAC-SHA256(key, raw body)) in
`x-xero-signature`. Events carry ids only (credit note events also `data: {Type, Status}`);
there are no events for payments, items or bank transactions, as in Xero.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

import httpx

from xerobridge.clock import Clock
from xerobridge.sandboxes.xero.dates import webhook_utc
from xerobridge.sandboxes.xero.ids import IdSource
from xerobridge.sandboxes.xero.organisation import Organisation

logger = logging.getLogger(__name__)

API_BASE = "https://api.xero.com/api.xro/2.0"
CATEGORIES = {"Contacts": "CONTACT", "Invoices": "INVOICE", "CreditNotes": "CREDITNOTE"}
MAX_PENDING = 10_000
SEND_ATTEMPTS = 3  # a delivery is tried this often before it is dropped (best effort)
RETRY_DELAYS = (0.5, 2.0)  # real seconds between attempts
SEND_TIMEOUT = 5.0  # Xero expects an answer within 5 seconds


def sign(body: bytes, key: str) -> str:
    """The x-xero-signature of a raw body."""
    digest = hmac.new(key.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(body: bytes, key: str, signature: str) -> bool:
    """Whether a signature matches the raw body (constant-time)."""
    return hmac.compare_digest(sign(body, key), signature)


@dataclass
class Delivery:
    """One POST Xero would make to the webhook URL."""

    body: bytes
    headers: dict[str, str]
    expected_status: int  # what a correct receiver answers: 200, or 401 for a bad signature

    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


def event(
    category: str,
    event_type: str,
    tenant_id: str,
    resource_id: str,
    event_date: str,
    data: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One webhook event in the spec's shape."""
    plural = {v: k for k, v in CATEGORIES.items()}.get(category, category)
    item: dict[str, Any] = {
        "resourceUrl": f"{API_BASE}/{plural}/{resource_id}",
        "resourceId": resource_id,
        "eventDateUtc": event_date,
        "eventType": event_type,
        "eventCategory": category,
        "tenantId": tenant_id,
        "tenantType": "ORGANISATION",
    }
    if data is not None:
        item["data"] = data
    return item


def build_delivery(
    events: list[dict[str, Any]],
    key: str,
    *,
    first_sequence: int,
    entropy: str,
    signed_correctly: bool = True,
) -> Delivery:
    """A delivery of these events, signed with `key` (or deliberately signed wrongly)."""
    last = first_sequence + max(0, len(events) - 1)
    payload = {
        "events": events,
        "firstEventSequence": first_sequence,
        "lastEventSequence": last,
        "entropy": entropy,
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    signature = sign(body, key if signed_correctly else key + "-wrong")
    return Delivery(
        body=body,
        headers={"Content-Type": "application/json", "x-xero-signature": signature},
        expected_status=200 if signed_correctly else 401,
    )


class Webhooks:
    """Collects events as the organisations change and delivers them signed."""

    def __init__(self, key: str, clock: Clock, ids: IdSource) -> None:
        self.key = key
        self.clock = clock
        self.ids = ids
        self.pending: deque[dict[str, Any]] = deque(maxlen=MAX_PENDING)
        self._sequence = 0
        # Where deliveries go when the sandbox is served for real (`sender` posts them); the
        # outbox holds signed deliveries, one per committed write that changed something.
        self.url: str | None = None
        self.outbox: deque[Delivery] = deque(maxlen=MAX_PENDING)
        self.sent: list[dict[str, Any]] = []  # what the sender did: status, attempts, events
        self._wake: asyncio.Event | None = None
        self.transport: httpx.AsyncBaseTransport | None = None  # tests: deliver in-process

    def record(self, org: Organisation, kind: str, record: dict[str, Any], created: bool) -> None:
        """Organisation listener: queue the event Xero would send for this change."""
        category = CATEGORIES.get(kind)
        if category is None:
            return
        id_field = {"Contacts": "ContactID", "Invoices": "InvoiceID"}.get(kind, "CreditNoteID")
        data = None
        if category == "CREDITNOTE":
            data = {"Type": record["Type"], "Status": record["Status"]}
        self.pending.append(
            event(
                category,
                "CREATE" if created else "UPDATE",
                org.tenant_id,
                record[id_field],
                webhook_utc(self.clock.now()),
                data,
            )
        )

    def build(self, events: list[dict[str, Any]], *, signed_correctly: bool = True) -> Delivery:
        """A signed delivery of these events with the next sequence numbers."""
        first = self._sequence + 1
        self._sequence += max(1, len(events))
        return build_delivery(
            events,
            self.key,
            first_sequence=first,
            entropy=self.ids.entropy(),
            signed_correctly=signed_correctly,
        )

    def take_pending(self) -> Delivery | None:
        """Everything queued so far as one delivery (None when nothing is queued)."""
        if not self.pending:
            return None
        events = list(self.pending)
        self.pending.clear()
        return self.build(events)

    def intent_to_receive(self) -> list[Delivery]:
        """Xero's validation round: empty events, sequence 0, one signed right and one wrong.

        The spec's schema says sequences start at 1; intent-to-receive payloads use 0.
        """
        return [
            build_delivery(
                [],
                self.key,
                first_sequence=0,
                entropy=self.ids.entropy(),
                signed_correctly=correct,
            )
            for correct in (True, False)
        ]

    def seal(self) -> Delivery | None:
        """After a committed write: with a URL configured, the events so far become one signed
        delivery in the outbox (and the sender is woken). Without a URL they stay pending."""
        if not self.url or not self.pending:
            return None
        delivery = self.take_pending()
        assert delivery is not None
        self.outbox.append(delivery)
        if self._wake is not None:
            self._wake.set()
        return delivery

    async def send_outbox(self, client: httpx.AsyncClient, url: str | None = None) -> int:
        """POST every delivery in the outbox (bounded retries); returns how many got a 2xx."""
        delivered = 0
        while self.outbox:
            delivery = self.outbox.popleft()
            target = url or self.url
            if not target:
                self.outbox.appendleft(delivery)
                break
            status: int | str = "not sent"
            attempts = 0
            for attempts in range(1, SEND_ATTEMPTS + 1):
                try:
                    response = await self.deliver(client, target, delivery)
                    status = response.status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                if isinstance(status, int) and status < 500:
                    break  # 2xx is done; a 4xx will not get better by retrying
                if attempts < SEND_ATTEMPTS:
                    await asyncio.sleep(RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1])
            ok = isinstance(status, int) and 200 <= status < 300
            delivered += ok
            self.sent.append(
                {
                    "status": status,
                    "attempts": attempts,
                    "events": len(delivery.payload()["events"]),
                }
            )
            if not ok:
                logger.info("webhook delivery to %s failed (%s); dropped", target, status)
        return delivered

    async def sender(self) -> None:
        """Run while the sandbox is served: deliver sealed deliveries as they come."""
        self._wake = asyncio.Event()
        try:
            async with httpx.AsyncClient(timeout=SEND_TIMEOUT, transport=self.transport) as client:
                while True:
                    self._wake.clear()
                    await self.send_outbox(client)  # also what was sealed before it started
                    await self._wake.wait()
        finally:
            self._wake = None

    @staticmethod
    async def deliver(client: httpx.AsyncClient, url: str, delivery: Delivery) -> httpx.Response:
        """POST one delivery to a receiver."""
        return await client.post(url, content=delivery.body, headers=delivery.headers)

    async def flush(self, client: httpx.AsyncClient, url: str) -> httpx.Response | None:
        """Deliver everything queued; on a non-200 answer the events are queued again.

        Sealed deliveries waiting in the outbox go first (each once, best effort)."""
        await self.send_outbox(client, url)
        events = list(self.pending)
        delivery = self.take_pending()
        if delivery is None:
            return None
        response = await self.deliver(client, url, delivery)
        if response.status_code != 200:
            logger.info("webhook receiver answered %s; events kept", response.status_code)
            self.pending.extendleft(reversed(events))
        return response
