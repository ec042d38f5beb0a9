"""The sync log page: its columns, filters, paging, View in Xero and Sync now."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from xerobridge.clock import FakeClock
from xerobridge.store import synclog
from xerobridge.store.db import Store
from xerobridge.store.models import Job
from xerobridge.xero.deeplinks import view_url

from dashboard_ops_helpers import (
    ESCAPED,
    HOSTILE,
    add_source,
    ops_plugins,
    pass_time,
    post_form,
)


@pytest.fixture
def shop(store: Store) -> int:
    """The source `shop`'s id."""
    return add_source(store, ops_plugins(), "shop")[1]


def log(store: Store, source_id: int, key: str, **fields: Any) -> None:
    """One sync-log row, as the engine writes it."""
    row: dict[str, Any] = {
        "at": store.clock.now(),
        "source_id": source_id,
        "stream": "customers",
        "record_key": key,
        "action": "created",
        "status": "success",
        **fields,
    }
    with store.transaction() as s:
        synclog.write(s, **row)


def test_the_log_shows_what_was_synced(client: TestClient, store: Store, shop: int) -> None:
    url = view_url("!ab12C", "Contact", "4f1c2a3b-0000-4000-8000-000000000001")
    log(store, shop, "c-1", xero_type="Contact", xero_id="4f1c", xero_url=url, api_calls=1,
        duration_ms=42)  # fmt: skip
    log(store, shop, "o-9", stream="orders", action="failed", status="error",
        message="order o-9: the currency EUR is not enabled in Xero")  # fmt: skip
    html = client.get("/log").text
    assert "2026-01-01 00:00:00 UTC" in html
    assert "<td>OK</td>" in html
    assert "order o-9: the currency EUR is not enabled in Xero" in html
    assert "42 ms" in html
    link = url.replace("&", "&amp;")
    assert f'<a href="{link}" rel="noopener noreferrer">View in Xero</a>' in html
    assert html.count("View in Xero") == 1  # the failed row has no Xero object
    assert html.count(">Sync now</button>") == 2


FILTERS = [
    ("status=error", ["o-9"], ["c-1", "c-2"]),
    ("stream=orders", ["o-9"], ["c-1"]),
    ("action=updated", ["c-2"], ["c-1", "o-9"]),
    ("record=c-1", ["c-1"], ["c-2", "o-9"]),
    ("source=outlet", ["x-1"], ["c-1", "o-9"]),
    ("since=2h", ["c-2", "o-9"], ["c-1"]),
    ("since=2026-01-01T02:00", ["c-2", "o-9"], ["c-1"]),
    ("until=2026-01-01T02:00", ["c-1", "x-1"], ["c-2", "o-9"]),
]


def test_the_log_filters(client: TestClient, store: Store, shop: int, clock: FakeClock) -> None:
    outlet = add_source(store, ops_plugins(), "outlet")[1]
    log(store, shop, "c-1")
    log(store, outlet, "x-1")
    pass_time(client, clock, timedelta(hours=3).total_seconds())
    log(store, shop, "c-2", action="updated")
    log(store, shop, "o-9", stream="orders", action="failed", status="error", message="bad")
    clock.advance(60)
    for query, shown, hidden in FILTERS:
        html = client.get(f"/log?{query}").text
        assert all(f"<td>{key}</td>" in html for key in shown), query
        assert not any(f"<td>{key}</td>" in html for key in hidden), query


def test_the_log_pages_newest_first(client: TestClient, store: Store, shop: int,
                                    clock: FakeClock) -> None:  # fmt: skip
    for i in range(55):
        log(store, shop, f"k{i:03d}")
        clock.advance(1)
    first = client.get("/log?status=success").text
    assert "<td>k054</td>" in first and "<td>k005</td>" in first and "<td>k004</td>" not in first
    assert 'href="/log?status=success&amp;page=2"' in first
    second = client.get("/log?status=success&page=2").text
    assert "<td>k004</td>" in second and "<td>k005</td>" not in second
    assert "page=3" not in second


def test_an_empty_log_says_so(client: TestClient, shop: int) -> None:
    assert "Nothing has been synced yet." in client.get("/log").text
    assert "Nothing in the sync log matches." in client.get("/log?stream=orders").text


BAD_FILTERS = [
    ("status=fine", "status &#39;fine&#39; is not one of: success, error"),
    ("action=eaten", "action &#39;eaten&#39; is not one of"),
    ("since=yesterday", "from &#39;yesterday&#39; is not a time"),
    ("until=13/01/2026", "until &#39;13/01/2026&#39; is not a time"),
    ("source=nowhere", "no source named &#39;nowhere&#39;"),
    ("page=-1", "is not a page number"),
]


def test_bad_filters_are_refused_with_a_reason(client: TestClient, shop: int) -> None:
    for query, problem in BAD_FILTERS:
        response = client.get(f"/log?{query}")
        assert response.status_code == 400, query
        assert problem in response.text, query


def test_sync_now_from_a_log_row_reads_the_record_again(
    client: TestClient, store: Store, shop: int
) -> None:
    log(store, shop, "o-9", stream="orders", action="failed", status="error", message="bad")
    response = post_form(
        client, "/log", "/queue/sync-now",
        {"source": "shop", "stream": "orders", "key": "o-9", "back": "/log?status=error"},
    )  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"] == "/log?status=error"
    with store.transaction() as s:
        job = s.exec(select(Job)).one()
    assert (job.kind, job.stream, job.record_key, job.payload) == (
        "fetch", "orders", "o-9", {"keys": ["o-9"]},
    )  # fmt: skip
    assert "shop orders o-9 will be read from the source" in client.get("/log").text


def test_the_log_needs_a_login(client: TestClient) -> None:
    with TestClient(client.app, base_url="http://127.0.0.1:8765", follow_redirects=False) as anon:
        response = anon.get("/log?status=error")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/log%3Fstatus%3Derror"


def test_stored_values_are_escaped(client: TestClient, store: Store, shop: int) -> None:
    log(store, shop, HOSTILE, status="error", action="failed", message=f"customer {HOSTILE}",
        xero_url="javascript:alert(1)")  # fmt: skip
    html = client.get("/log").text
    assert HOSTILE not in html
    assert ESCAPED in html
    assert "javascript:" not in html
