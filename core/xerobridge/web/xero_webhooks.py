"""Receiving Xero's webhooks: check the signature on the raw body, record the events, answer.

Xero wants a 200 with an empty body within 5 seconds, and a 401 for a delivery whose
`x-xero-signature` does not match (that is also how it checks a new URL: "intent to receive"
sends one good and one bad delivery). So the route only verifies and records; fetching the
changed objects and telling the plugins happens later, from the queue. A delivery repeated
by Xero records nothing new: each event is unique by tenant, category, resource, type and time.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Iterable

from sqlmodel import select
from starlette.requests import Request
from starlette.responses import Response

from xerobridge.store import encryption
from xerobridge.store.db import Store
from xerobridge.store.models import Connection
from xerobridge.store.xero_events import record_events
from xerobridge.web import bodies

log = logging.getLogger(__name__)


#: Xero's deliveries are a few events of a few hundred bytes each; far more is not Xero.
XERO_BODY_LIMIT = 256 * 1024
#: Bytes to hash (the body once per connection's key) that may be hashed on the event loop.
HASH_ON_LOOP = 64 * 1024


def signature(body: bytes, key: str) -> str:
    """Xero's signature of a raw body: base64 of HMAC-SHA256 with the webhook key."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def matching_tenants(body: bytes, given: str, keys: Iterable[tuple[str, str]]) -> set[str] | None:
    """The tenants whose webhook key signed this body, or None if no key did.

    `keys` pairs a tenant id with its connection's webhook key; every key is compared in
    constant time, so a timing difference tells nothing about which one came close.
    """
    matched: set[str] = set()
    any_match = False
    for tenant_id, key in keys:
        if key and hmac.compare_digest(signature(body, key), given):
            matched.add(tenant_id)
            any_match = True
    return matched if any_match else None


async def receive(request: Request) -> Response:
    """POST /xero/webhooks: 401 unless signed by a connection's key; else record and 200."""
    store: Store = request.app.state.store
    try:
        body = await bodies.read(request, XERO_BODY_LIMIT)  # before the signature is computed
    except bodies.TooLarge:
        log.warning("webhook delivery over %d bytes refused unread", XERO_BODY_LIMIT)
        return Response(status_code=413)
    given = request.headers.get("x-xero-signature", "")
    with store.transaction() as s:
        conns = s.exec(select(Connection).where(Connection.webhook_key != "")).all()
    keys = [(c.tenant_id, encryption.decrypt(c.webhook_key)) for c in conns]
    if not given:
        tenants = None
    elif len(body) * max(1, len(keys)) > HASH_ON_LOOP:
        # Hashing a large body once per key would hold every other request up meanwhile.
        tenants = await asyncio.to_thread(matching_tenants, body, given, keys)
    else:
        tenants = matching_tenants(body, given, keys)
    if tenants is None:
        log.warning("webhook delivery with a bad or missing signature refused")
        return Response(status_code=401)
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return Response(status_code=400)
    events = payload.get("events") or []
    if events:
        new = record_events(store, events, tenants)
        log.info("webhook: %d event(s), %d new", len(events), new)
    return Response(status_code=200)
