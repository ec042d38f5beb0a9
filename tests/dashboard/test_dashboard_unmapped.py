"""The unmapped records page: candidates from the mirror, and mapping or creating requeues."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from xerobridge.runtime.queue import NewJob, Queue
from xerobridge.store.db import Store
from xerobridge.store.models import Job, Link, MirrorRecord

from dashboard_ops_helpers import (
    ESCAPED,
    HOSTILE,
    add_source,
    ops_plugins,
    post_form,
    refusals,
)

ACME_LTD = "a0000000-0000-4000-8000-000000000001"
ACME_LIMITED = "a0000000-0000-4000-8000-000000000002"
ACME_OTHER = "a0000000-0000-4000-8000-000000000003"
WIDGET = "b0000000-0000-4000-8000-000000000001"


@pytest.fixture
def shop(store: Store) -> int:
    """The source `shop`, its organisation's mirror, and customer 7 waiting for a person."""
    conn, source = add_source(store, ops_plugins(), "shop")
    with store.transaction() as s:
        for kind, xero_id, data in (
            ("Contact", ACME_LTD, {"Name": "Acme Ltd", "ContactNumber": "AC-1",
                                   "EmailAddress": "ap@acme.test", "ContactStatus": "ACTIVE"}),
            ("Contact", ACME_LIMITED, {"Name": "Acme Limited", "ContactStatus": "ARCHIVED"}),
            ("Contact", ACME_OTHER, {"Name": "Acme Other", "ContactStatus": "ACTIVE"}),
            ("Item", WIDGET, {"Code": "W-1", "Name": "Widget"}),
        ):  # fmt: skip
            s.add(MirrorRecord(connection_id=conn, kind=kind, xero_id=xero_id, data=data))
    hold(store, source, "customers", "7", "customer 7: two Xero contacts could be Acme",
         [{"xero_id": ACME_LTD, "label": "Acme Ltd", "reason": "same name"},
          {"xero_id": ACME_LIMITED, "label": "Acme Limited", "reason": "same email"}])  # fmt: skip
    return source


def hold(store: Store, source: int, stream: str, key: str, reason: str,
         candidates: list[dict[str, Any]]) -> None:  # fmt: skip
    """A push job held for a person, as the engine leaves it."""
    queue = Queue(store)
    queue.enqueue([NewJob(source, stream, key)])
    (job,) = queue.claim("w1")
    assert queue.fail("w1", job.id or 0, reason, needs_person=True) == "held"
    with store.transaction() as s:
        fresh = s.get(Job, job.id)
        assert fresh is not None
        fresh.payload = {**(fresh.payload or {}), "candidates": candidates}
        s.add(fresh)


def job(store: Store, key: str = "7") -> Job:
    """The record's job."""
    with store.transaction() as s:
        return s.exec(select(Job).where(Job.record_key == key)).one()


def link(store: Store, key: str = "7") -> Link | None:
    """The record's link, if a decision made one."""
    with store.transaction() as s:
        return s.exec(select(Link).where(Link.record_key == key)).first()


def decide(client: TestClient, **data: str) -> Any:
    """Post the mapping form of customer 7 (or of the record given)."""
    form = {"source": "shop", "stream": "customers", "key": "7", **data}
    return post_form(client, "/unmapped", "/unmapped/decide", form)


def test_the_page_shows_the_record_its_reason_and_candidates(client: TestClient, shop: int) -> None:
    html = client.get("/unmapped").text
    assert "shop · customers · 7" in html
    assert "customer 7: two Xero contacts could be Acme" in html
    for text in ("Acme Ltd", "AC-1", "ap@acme.test", "ACTIVE", "Acme Limited", "ARCHIVED",
                 "same email", ACME_LTD):  # fmt: skip
        assert text in html, text
    assert ACME_OTHER not in html
    assert f'value="{ACME_LTD}"' in html and 'value="create"' in html


def test_choosing_a_candidate_maps_the_record_and_queues_it(
    client: TestClient, store: Store, shop: int
) -> None:
    response = decide(client, choice=ACME_LIMITED)
    assert response.status_code == 303
    assert (job(store).state, job(store).hold_reason) == ("queued", "")
    made = link(store)
    assert made is not None and (made.xero_id, made.method) == (ACME_LIMITED, "chosen")
    html = client.get("/unmapped").text
    assert f"shop customers 7: queued again as Xero {ACME_LIMITED}" in html
    assert "No record is waiting for a person." in html


def test_an_id_typed_in_is_checked_against_the_mirror(
    client: TestClient, store: Store, shop: int
) -> None:
    decide(client, choice="other", other_id=ACME_OTHER)
    made = link(store)
    assert made is not None and made.xero_id == ACME_OTHER
    assert job(store).state == "queued"


def test_creating_a_new_object_queues_the_record(
    client: TestClient, store: Store, shop: int
) -> None:
    decide(client, choice="create", other_id="ignored")
    made = link(store)
    assert made is not None and (made.xero_id, made.method) == (None, "create")
    assert job(store).state == "queued"
    assert "shop customers 7: queued again as new" in client.get("/").text


WRONG_CHOICES: list[tuple[dict[str, str], str]] = [
    ({}, "choose a candidate, type a Xero id, or choose to create a new one"),
    ({"choice": "other", "other_id": " "}, "type the Xero id, or choose one of the candidates"),
    (
        {"choice": "other", "other_id": WIDGET},
        f"&#39;{WIDGET}&#39; is a Xero item, but customers records become contacts",
    ),
    (
        {"choice": "other", "other_id": "c0000000-0000-4000-8000-000000000009"},
        "no Xero contact with id &#39;c0000000-0000-4000-8000-000000000009&#39; is known",
    ),
    ({"choice": "not-a-candidate"}, "no Xero contact with id &#39;not-a-candidate&#39;"),
]


def test_a_wrong_choice_is_shown_on_the_form(client: TestClient, store: Store, shop: int) -> None:
    for data, problem in WRONG_CHOICES:
        response = decide(client, **data)
        assert response.status_code == 400, data
        html = response.text
        assert problem in html, data
        form = html[html.index('id="record-') :]
        assert form.index(problem) < form.index("Save and sync")  # at the record's own form
        if data.get("other_id", "").strip():
            assert f'value="{data["other_id"]}"' in html  # what was typed is kept
        assert (job(store).state, link(store)) == ("held", None)


def test_types_the_mirror_lacks_need_a_xero_id(client: TestClient, store: Store, shop: int) -> None:
    hold(store, shop, "orders", "1001", "order 1001: which invoice?", [])
    refused = decide(client, stream="orders", key="1001", choice="other", other_id="INV-1")
    assert refused.status_code == 400
    assert "&#39;INV-1&#39; is not a Xero id" in refused.text
    guid = "d0000000-0000-4000-8000-000000000001"
    assert (
        decide(client, stream="orders", key="1001", choice="other", other_id=guid).status_code
        == 303
    )
    assert job(store, "1001").state == "queued"


def test_a_record_no_longer_waiting_is_said_so(client: TestClient, store: Store, shop: int) -> None:
    decide(client, choice=ACME_LTD)
    again = decide(client, choice=ACME_LIMITED)
    assert again.status_code == 400
    assert "shop customers 7 is not waiting for a decision (any more)" in again.text
    made = link(store)
    assert made is not None and made.xero_id == ACME_LTD


def test_an_unknown_source_is_refused(client: TestClient, shop: int) -> None:
    response = client.get("/unmapped?source=nowhere")
    assert response.status_code == 400
    assert "no source named &#39;nowhere&#39;" in response.text
    assert decide(client, source="nowhere", choice=ACME_LTD).status_code == 400


def test_deciding_needs_a_login_and_the_token(client: TestClient, store: Store, shop: int) -> None:
    refusals(client, "/unmapped/decide",
             {"source": "shop", "stream": "customers", "key": "7", "choice": ACME_LTD})  # fmt: skip
    assert job(store).state == "held"


def test_stored_values_are_escaped(client: TestClient, store: Store, shop: int) -> None:
    hold(store, shop, "customers", HOSTILE, f"customer {HOSTILE}: which one?",
         [{"xero_id": HOSTILE, "label": HOSTILE}])  # fmt: skip
    html = client.get("/unmapped").text
    assert HOSTILE not in html and ESCAPED in html
