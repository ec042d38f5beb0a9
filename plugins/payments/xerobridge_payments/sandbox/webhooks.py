"""Webhooks out: each queued event POSTed to its subscription, with the bearer secret.

The httpx client is injected (tests pass one on `httpx.ASGITransport`, so a delivery reaches an
app in process); every delivery is recorded in `state.deliveries`. UNVERIFIED: the platform's
retry policy is not documented; here a failed delivery is recorded as failed and sent again
only when `redeliver` is called (the control API's `/_sandbox/webhooks/redeliver`).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from xerobridge_payments.sandbox.render import dumps
from xerobridge_payments.sandbox.state import SandboxState, stamp

log = logging.getLogger(__name__)

TIMEOUT = 5.0


class Deliverer:
    """Sends the state's outbox; owns a default client only when none was injected."""

    def __init__(self, state: SandboxState, http: httpx.AsyncClient | None = None) -> None:
        self.state = state
        self.http = http
        self._owned: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self.http is not None:
            return self.http
        if self._owned is None:
            self._owned = httpx.AsyncClient(timeout=TIMEOUT)
        return self._owned

    async def aclose(self) -> None:
        if self._owned is not None:
            await self._owned.aclose()
            self._owned = None

    async def flush(self) -> list[dict[str, Any]]:
        """Deliver every queued event; returns the deliveries made."""
        made = []
        while self.state.outbox:
            event_id, sub_id = self.state.outbox.pop(0)
            made.append(await self._deliver(event_id, sub_id))
        return made

    async def redeliver(self) -> list[dict[str, Any]]:
        """Send every failed or dropped delivery again (once more each)."""
        again = [
            d for d in self.state.deliveries if d["outcome"] != "delivered" and not d["retried"]
        ]
        made = []
        for delivery in again:
            delivery["retried"] = True
            made.append(await self._deliver(delivery["event_id"], delivery["subscription_id"]))
        return made

    async def _deliver(self, event_id: str, sub_id: str) -> dict[str, Any]:
        state = self.state
        event = state.events[event_id]
        sub = state.webhooks[sub_id]
        delivery: dict[str, Any] = {
            "event_id": event_id,
            "topic": event["topic"],
            "subscription_id": sub_id,
            "endpoint_url": sub["endpoint_url"],
            "at": stamp(state.now()),
            "status": None,
            "outcome": "delivered",
            "error": None,
            "retried": False,
        }
        state.deliveries.append(delivery)
        if state.drop_webhooks > 0:
            state.drop_webhooks -= 1
            delivery["outcome"] = "dropped"
            return delivery
        headers = {"Content-Type": "application/json", "User-Agent": "AlternativePayments-Sandbox"}
        if sub["secret_key"]:
            headers["Authorization"] = f"Bearer {sub['secret_key']}"
        body = dumps(event)
        try:
            response = await self._client().post(sub["endpoint_url"], content=body, headers=headers)
        except httpx.HTTPError as exc:
            delivery["outcome"] = "failed"
            delivery["error"] = f"{type(exc).__name__}: {exc}"
            log.info("webhook %s to %s failed: %s", event_id, sub["endpoint_url"], exc)
            return delivery
        delivery["status"] = response.status_code
        if not 200 <= response.status_code < 300:
            delivery["outcome"] = "failed"
            delivery["error"] = response.text[:200]
        return delivery
