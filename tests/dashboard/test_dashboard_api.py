"""`/api/...`: the CLI's --json shapes, for a login or a bearer token, with filters and paging."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from typer.testing import CliRunner

from xerobridge.cli import main as cli
from xerobridge.cli import root
from xerobridge.clock import FakeClock
from xerobridge.config import sources
from xerobridge.contract.plugins import Plugins, load_plugins
from xerobridge.runtime.queue import NewJob, Queue
from xerobridge.store import synclog, usage
from xerobridge.store.db import Store
from xerobridge.store.models import Connection, Job, TokenGrant
from xerobridge.web.app import create_app
from xerobridge.web.dashboard import logins

from config_pages_helpers import plugin_info
from dashboard_helpers import PASSWORD

ENDPOINTS = ("plugins", "connections", "sources", "queue", "log", "report", "unmapped")


@pytest.fixture
def web(store: Store) -> Iterator[Starlette]:
    """The web app with the installed plugins and the form test plugin."""
    logins.set_password(store, PASSWORD)
    installed = list(load_plugins())
    yield create_app(store, plugins=Plugins([*installed, plugin_info()]))


@pytest.fixture
def script(web: Starlette, store: Store) -> Iterator[TestClient]:
    """A client that sends a bearer token, as a script would."""
    token = logins.create_token(store, "tests")
    with TestClient(
        web, base_url="http://127.0.0.1:8765", headers={"Authorization": f"Bearer {token}"}
    ) as client:
        yield client


@pytest.fixture
def filled(store: Store, web: Starlette, clock: FakeClock) -> Store:
    """A connection, two sources, jobs in each state, log rows, request counts, an unmapped."""
    now = clock.now()
    with store.transaction() as s:
        grant = TokenGrant(auth_kind="custom", last_refresh_at=now - timedelta(minutes=3))
        s.add(grant)
        s.flush()
        s.add(
            Connection(
                name="books",
                tenant_name="Books <Ltd>",
                short_code="!ab12",
                status="connected",
                grant_id=grant.id,
                webhook_key="x",
            )
        )
        s.add(Connection(name="spare", status="error", status_reason="token refused"))
    plugins = web.state.plugins
    sources.add(
        store,
        plugins,
        "formtest",
        "shop",
        connection="books",
        values={"base_url": "https://shop.example.com", "token": "tok-secret"},
    )
    sources.add(store, plugins, "formtest", "outlet", values={"base_url": "https://o.example"})
    queue = Queue(store)
    queue.enqueue([NewJob(1, "customers", str(k), connection_id=1) for k in range(1, 6)])
    queue.enqueue([NewJob(2, "orders", "9", held=True)])
    with store.transaction() as s:
        s.add(
            Job(
                source_id=1,
                stream="customers",
                record_key="77",
                state="held",
                hold_reason="mapping",
                last_error="two Xero contacts fit",
                run_after=now,
                payload={"candidates": [{"xero_id": "c-1", "label": "Ann <ann@x>"}]},
            )
        )
        for i in range(4):
            synclog.write(
                s,
                at=now - timedelta(hours=i),
                source_id=1 + i % 2,
                stream="customers",
                record_key=str(i),
                action="created" if i else "failed",
                status="success" if i else "error",
                message="OK" if i else "bad email",
                xero_id=f"x-{i}",
                xero_url=f"https://go.xero.com/x/{i}",
                api_calls=1,
            )
        for status in (200, 200, 429):
            usage.count_call(s, 1, now.date(), status=status, dialect=store.dialect)
    return store


def cli_json(web: Starlette, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    """The CLI's --json on the web app's store, with the web app's plugins."""
    monkeypatch.setenv("XEROBRIDGE_DATABASE_URL", web.state.store.url)
    monkeypatch.setattr(root, "load_plugins", lambda: web.state.plugins)
    result = CliRunner().invoke(cli.app, [*args, "--json"])
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.output)


@pytest.mark.parametrize(
    ("endpoint", "command"),
    [
        ("plugins", ("plugins",)),
        ("connections", ("connections", "list")),
        ("sources", ("sources", "list")),
        ("queue", ("queue", "list")),
        ("log", ("log",)),
        ("report?days=36500", ("report", "requests", "--days", "36500")),
        ("unmapped", ("map",)),
    ],
)
def test_each_answer_has_the_shape_of_the_cli_json(
    script: TestClient,
    filled: Store,
    web: Starlette,
    monkeypatch: pytest.MonkeyPatch,
    endpoint: str,
    command: tuple[str, ...],
) -> None:
    answer = script.get(f"/api/{endpoint}")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    rows, expected = answer.json(), cli_json(web, monkeypatch, *command)
    assert expected, "the CLI printed nothing to compare with"
    # The API may say more (a connection's last refresh, a source's settings), never otherwise.
    assert [{k: row[k] for k in want} for row, want in zip(rows, expected, strict=True)] == expected


def test_connections_say_when_the_token_was_refreshed(script: TestClient, filled: Store) -> None:
    books, spare = script.get("/api/connections").json()
    assert books["organisation"] == "Books <Ltd>" and books["webhook_key"] == "set"
    assert books["last_token_refresh"] == (filled.clock.now() - timedelta(minutes=3)).isoformat()
    assert (spare["status"], spare["reason"], spare["last_token_refresh"]) == (
        "error",
        "token refused",
        "",
    )


def test_sources_carry_their_settings_with_secrets_masked(
    script: TestClient, filled: Store
) -> None:
    outlet, shop = script.get("/api/sources").json()
    assert (shop["name"], shop["connection"], outlet["connection"]) == ("shop", "books", "")
    assert shop["settings"]["token"] == "********"
    assert shop["settings"]["base_url"] == "https://shop.example.com/"
    assert shop["settings"]["schedule"] == "every 5 minutes"
    assert outlet["settings"]["token"] == ""
    assert "tok-secret" not in script.get("/api/sources").text


def test_the_queue_filters_and_pages(script: TestClient, filled: Store) -> None:
    everything = script.get("/api/queue").json()
    assert len(everything) == 7
    held = script.get("/api/queue", params={"state": "held"}).json()
    assert [(j["record"], j["state"]) for j in held] == [
        ("9", "held (approval)"),
        ("77", "held (mapping)"),
    ]
    outlet = script.get("/api/queue", params={"source": "outlet"}).json()
    assert [j["stream"] for j in outlet] == ["orders"]
    page = script.get("/api/queue", params={"stream": "customers", "limit": 2, "offset": 2})
    assert [j["record"] for j in page.json()] == ["3", "4"]


def test_the_log_filters_and_pages(script: TestClient, filled: Store) -> None:
    rows = script.get("/api/log").json()
    assert [r["record"] for r in rows] == ["0", "1", "2", "3"]  # newest first
    errors = script.get("/api/log", params={"status": "error"}).json()
    assert [(r["record"], r["message"]) for r in errors] == [("0", "bad email")]
    assert [r["record"] for r in script.get("/api/log?source=outlet").json()] == ["1", "3"]
    assert [r["record"] for r in script.get("/api/log?since=90m").json()] == ["0", "1"]
    assert [r["record"] for r in script.get("/api/log?limit=1&offset=2").json()] == ["2"]
    assert rows[1]["xero_url"] == "https://go.xero.com/x/1"


def test_the_report_counts_calls_and_429s(script: TestClient, filled: Store) -> None:
    (today,) = script.get("/api/report").json()
    assert (today["connection"], today["calls"], today["rate_limited"]) == ("books", 3, 1)
    assert today["remaining"] == today["daily_limit"] - 3


def test_unmapped_records_carry_their_candidates(script: TestClient, filled: Store) -> None:
    (record,) = script.get("/api/unmapped").json()
    assert (record["source"], record["key"], record["reason"]) == (
        "shop",
        "77",
        "two Xero contacts fit",
    )
    assert record["candidates"] == [{"xero_id": "c-1", "label": "Ann <ann@x>"}]
    assert script.get("/api/unmapped?source=outlet").json() == []


BAD_QUERIES = (
    ("queue?state=lost", "state='lost' is not one of: queued, held, running, dead"),
    ("queue?limit=many", "limit='many' is not a whole number"),
    ("queue?limit=0", "limit=0 must be between 1 and 1000"),
    ("queue?source=nope", "no source named 'nope' (configured: outlet, shop)"),
    ("log?status=fine", "status='fine' is not one of: success, error"),
    ("log?since=yesterday", "since 'yesterday' is not a time; use a date like 2026-11-01"),
    ("report?days=-1", "days=-1 must be between 1 and 36500"),
    ("unmapped?source=nope", "no source named 'nope'"),
)


def test_bad_parameters_are_one_line(script: TestClient, filled: Store) -> None:
    for query, problem in BAD_QUERIES:
        answer = script.get(f"/api/{query}")
        assert answer.status_code == 400, query
        assert problem in answer.json()["error"]


def test_the_api_needs_a_login_or_a_token(web: Starlette, browser: TestClient) -> None:
    with TestClient(web, base_url="http://127.0.0.1:8765") as stranger:
        for endpoint in ENDPOINTS:
            refused = stranger.get(f"/api/{endpoint}")
            assert refused.status_code == 401, endpoint
            assert "Bearer" in refused.json()["error"]
            forged = stranger.get(
                f"/api/{endpoint}", headers={"Authorization": "Bearer xbt_forged"}
            )
            assert forged.status_code == 401
    for endpoint in ENDPOINTS:
        assert browser.get(f"/api/{endpoint}").status_code == 200  # the dashboard's own login


def test_numbers_out_of_range_are_refused_not_a_server_error(browser: TestClient) -> None:
    assert browser.get("/api/log?since=1000000000d").status_code == 400
    page = browser.get("/log?page=99999999999999999999")
    assert page.status_code in (200, 400) and "is not a page number" in page.text
