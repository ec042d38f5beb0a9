"""Webhook events: topics, parsing, the bearer check."""

from __future__ import annotations

import pytest

from xerobridge.sdk import Permanent
from xerobridge_payments.events import TOPIC_OBJECT, Topic, bearer_matches, parse_event


def test_every_topic_names_its_record_kind() -> None:
    assert set(TOPIC_OBJECT) == set(Topic) and len(Topic) == 18


def test_an_event_names_its_record_by_data_or_object_id() -> None:
    body = {"id": "evt_1", "topic": "payout_paid", "created_at": "2026-01-01T00:00:00Z",
            "data": {"object": "payout", "id": "po_1", "total": 10}}  # fmt: skip
    event = parse_event(body)
    assert (event.topic, event.object, event.object_id) == (Topic.PAYOUT_PAID, "payout", "po_1")
    bare = parse_event({"id": "evt_2", "topic": "invoice_paid", "object_id": "inv_9"})
    assert (bare.object, bare.object_id) == ("invoice", "inv_9")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ([], "not a JSON object"),
        ({"id": "e", "topic": "nope"}, "unknown topic"),
        ({"topic": "payout_paid", "data": {"id": "po_1"}}, "no event id"),
        ({"id": "e", "topic": "payout_paid"}, "no record id"),
    ],
)
def test_a_malformed_event_is_permanent(body: object, says: str) -> None:
    with pytest.raises(Permanent, match=says):
        parse_event(body)


def test_the_bearer_must_match_exactly() -> None:
    secret = "x" * 20
    assert bearer_matches(f"Bearer {secret}", secret)
    assert bearer_matches(f"bearer  {secret} ", secret)
    assert not bearer_matches(f"Basic {secret}", secret)
    assert not bearer_matches(None, secret)
    assert not bearer_matches("Bearer ", "")
