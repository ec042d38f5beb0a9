"""The request report page: Xero calls per connection per day against the limit, and 429s."""

from __future__ import annotations

from datetime import timedelta

from starlette.testclient import TestClient

from xerobridge.store import usage
from xerobridge.store.db import Store
from xerobridge.store.models import ApiUsage, Connection

from dashboard_ops_helpers import ESCAPED, HOSTILE, add_source, ops_plugins


def calls(store: Store, connection_id: int, days_ago: int, *statuses: int) -> None:
    """Count calls as the Xero client does."""
    day = store.clock.now().date() - timedelta(days=days_ago)
    dialect = "sqlite" if store.is_sqlite else "postgresql"
    with store.transaction() as s:
        for status in statuses:
            usage.count_call(s, connection_id, day, status=status, dialect=dialect)


def test_the_report_counts_calls_per_connection_per_day(client: TestClient, store: Store) -> None:
    conn, _ = add_source(store, ops_plugins(), "shop")
    with store.transaction() as s:  # a busy day so far, then three more calls
        s.add(ApiUsage(connection_id=conn, day=store.clock.now().date(), calls=4000))
    calls(store, conn, 0, 429, 429, 503)
    calls(store, conn, 1, 200, 200)
    calls(store, conn, 9, 200)  # older than the week shown
    html = client.get("/report").text
    assert "<td>2026-01-01 (today)</td>" in html
    today = html.index("(today)")
    row = html[today : html.index("</tr>", today)]
    # calls, limit, remaining, share of the limit, 429s, errors
    for cell in ("<td>4003</td>", "<td>5000</td>", "<td>997</td>", "80%", ">2</td>", "<td>1</td>"):
        assert cell in row, cell
    assert 'class="meter high"' in row
    assert "<td>2025-12-31</td>" in html
    assert "2025-12-23" not in html
    assert "2025-12-23" in client.get("/report?days=10").text


def test_an_empty_report_says_so(client: TestClient) -> None:
    assert "No Xero API calls in the last 7 day(s)." in client.get("/report").text


def test_a_bad_number_of_days_is_refused(client: TestClient) -> None:
    for days in ("0", "x", "400", "-3"):
        response = client.get(f"/report?days={days}")
        assert response.status_code == 400, days
        assert "must be a whole number from 1 to 366" in response.text, days


def test_the_report_needs_a_login(client: TestClient) -> None:
    with TestClient(client.app, base_url="http://127.0.0.1:8765", follow_redirects=False) as anon:
        assert anon.get("/report").status_code == 303


def test_stored_values_are_escaped(client: TestClient, store: Store) -> None:
    with store.transaction() as s:
        conn = Connection(name=HOSTILE, status="connected")
        s.add(conn)
        s.flush()
        conn_id = conn.id
    assert conn_id is not None
    calls(store, conn_id, 0, 200)
    html = client.get("/report").text
    assert HOSTILE not in html and ESCAPED in html
