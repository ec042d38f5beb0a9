"""The platform's webhook events: topics, their body, and the bearer secret that proves them.

Each webhook subscription has one topic and an optional `secret_key`, which the platform sends
back as `Authorization: Bearer <secret>` (no HMAC signature). UNVERIFIED: the event body is not
documented; the sandbox sends `{"id", "topic", "created_at", "data": {"object", "id", ...}}`
with the whole record under `data`, and `parse_event` also accepts the record's id at the top
level (`object_id`) in case the real platform sends less.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from xerobridge.sdk import Permanent


class Topic(StrEnum):
    """The platform's webhook topics (its WebhookTopic enum)."""

    PAYOUT_PAID = "payout_paid"
    PAYOUT_FAILED = "payout_failed"
    PAYOUT_PROCESSING = "payout_processing"
    PAYOUT_SCHEDULED = "payout_scheduled"
    CUSTOMER_CREATED = "customer_created"
    CUSTOMER_UPDATED = "customer_updated"
    CUSTOMER_ARCHIVED = "customer_archived"
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_CHARGEBACK = "payment_chargeback"
    PAYMENT_REFUNDED = "payment_refunded"
    PAYMENT_FAILED = "payment_failed"
    INVOICE_PAID = "invoice_paid"
    INVOICE_ARCHIVED = "invoice_archived"
    INVOICE_CREATED = "invoice_created"
    INVOICE_UPDATED = "invoice_updated"
    PAYMENT_METHOD_ADDED = "payment_method_added"
    PAYMENT_METHOD_DELETED = "payment_method_deleted"
    DEFAULT_PAYMENT_METHOD_CHANGED = "default_payment_method_changed"


#: What each topic is about: the kind of record its `data` holds.
TOPIC_OBJECT: dict[Topic, str] = {
    Topic.PAYOUT_PAID: "payout",
    Topic.PAYOUT_FAILED: "payout",
    Topic.PAYOUT_PROCESSING: "payout",
    Topic.PAYOUT_SCHEDULED: "payout",
    Topic.CUSTOMER_CREATED: "customer",
    Topic.CUSTOMER_UPDATED: "customer",
    Topic.CUSTOMER_ARCHIVED: "customer",
    Topic.PAYMENT_SUCCEEDED: "payment",
    Topic.PAYMENT_CHARGEBACK: "payment",
    Topic.PAYMENT_REFUNDED: "payment",
    Topic.PAYMENT_FAILED: "payment",
    Topic.INVOICE_PAID: "invoice",
    Topic.INVOICE_ARCHIVED: "invoice",
    Topic.INVOICE_CREATED: "invoice",
    Topic.INVOICE_UPDATED: "invoice",
    Topic.PAYMENT_METHOD_ADDED: "customer",
    Topic.PAYMENT_METHOD_DELETED: "customer",
    Topic.DEFAULT_PAYMENT_METHOD_CHANGED: "customer",
}

#: The topics a source subscribes to: money moving, and records archived by a person.
SYNC_TOPICS: tuple[Topic, ...] = (
    Topic.INVOICE_PAID,
    Topic.INVOICE_ARCHIVED,
    Topic.PAYMENT_SUCCEEDED,
    Topic.PAYMENT_REFUNDED,
    Topic.PAYMENT_CHARGEBACK,
    Topic.PAYMENT_FAILED,
    Topic.PAYOUT_PAID,
    Topic.PAYOUT_FAILED,
)


@dataclass(frozen=True)
class Event:
    """One webhook delivery: its id (for dropping replays), topic, and the record it names."""

    id: str
    topic: Topic
    object: str
    object_id: str
    created_at: str
    data: dict[str, Any]


def bearer_matches(authorization: str | None, secret: str) -> bool:
    """Whether an Authorization header carries `secret` as its bearer (constant time)."""
    if not secret or not authorization:
        return False
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode(), secret.encode())


def parse_event(body: Any) -> Event:
    """An event from a webhook's JSON body, or Permanent naming what is missing."""
    if not isinstance(body, dict):
        raise Permanent("payments webhook: the body is not a JSON object")
    raw_topic = body.get("topic") or body.get("type")
    try:
        topic = Topic(str(raw_topic))
    except ValueError:
        raise Permanent(f"payments webhook: unknown topic {raw_topic!r}") from None
    event_id = body.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise Permanent(f"payments webhook {topic}: no event id")
    raw_data = body.get("data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    object_id = data.get("id") or body.get("object_id")
    if not isinstance(object_id, str) or not object_id:
        raise Permanent(f"payments webhook {event_id} ({topic}): no record id in data.id")
    return Event(
        id=event_id,
        topic=topic,
        object=str(data.get("object") or TOPIC_OBJECT[topic]),
        object_id=object_id,
        created_at=str(body.get("created_at") or ""),
        data=dict(data),
    )


#: The stream that reads again the record a topic's object names.
_OBJECT_STREAM = {"payment": "payments", "payout": "payouts"}


def notification_reads(body: Any) -> list[tuple[str, list[str]]] | None:
    """The records a webhook names, to be read now (`read_notification`): a payment, refund or
    chargeback, or a payout. Invoices and customers the platform changes are not read: they
    come from Xero, and the platform's changes never go back. None for the core's own body."""
    if isinstance(body, dict) and "topic" not in body and "type" not in body:
        return None
    event = parse_event(body)
    stream = _OBJECT_STREAM.get(event.object)
    if stream is None:
        return []
    keys = [event.object_id]
    original = event.data.get("original_payment_id")
    if isinstance(original, str) and original:
        keys.append(original)  # a refund changes its payment too
    return [(stream, keys)]
