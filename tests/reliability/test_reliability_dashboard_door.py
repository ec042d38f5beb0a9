"""Security of the dashboard (issue 7, reliability item 6), swept over every route the web app
has, plugins' pages included, on both stores: nothing but the inbound endpoints opens without a
login, no form is taken without its CSRF token or from another site, and a stored value shows
as text on every page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route
from starlette.testclient import TestClient

from xerobridge.config import sources
from xerobridge.contract.plugins import load_plugins
from xerobridge.store.db import Store
from xerobridge.store.models import ActionLog, Connection, Job, SyncLog
from xerobridge.web.app import create_app
from xerobridge.web.dashboard import logins
from xerobridge.web.dashboard.guard import OPEN_PATHS

SCRIPT = "<script>alert(1)</script>"
PASSWORD = "a long enough password"
#: Values for the path parameters of the routes, naming what `seeded` stores.
PARAMS = {
    "name": "shop",
    "source": "shop",
    "stream": "customers",
    "customer": "7",
    "verb": "approve",
    "sid": "no-such-session",
}


def every_route(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every route, Mounts walked, path parameters filled in."""
    for route in routes:
        if isinstance(route, Mount):
            yield from every_route(list(route.routes), prefix + route.path)
        elif isinstance(route, Route):
            raw = prefix + route.path
            params = {**PARAMS, "name": "org"} if raw.startswith("/connections/") else PARAMS
            path = re.sub(r"{(\w+)(:\w+)?}", lambda m, p=params: p[m.group(1)], raw)
            for method in sorted((route.methods or set()) - {"HEAD"}):
                yield method, path


@pytest.fixture
def web(store: Store) -> Starlette:
    """The web app with the installed plugins, and a store holding hostile text everywhere."""
    plugins = load_plugins()
    if plugins.infos.get("magento") is None or plugins.infos["magento"].status != "ok":
        pytest.skip("the Magento plugin is not installed")
    logins.set_password(store, PASSWORD)
    with store.transaction() as s:
        s.add(Connection(name="org", tenant_name=SCRIPT, status="error", status_reason=SCRIPT))
    shop = sources.add(
        store,
        plugins,
        "magento",
        "shop",
        values={"base_url": "https://shop.example.com", "token": "t", "sales_account": SCRIPT},
    )
    now = store.clock.now()
    with store.transaction() as s:
        s.add(Job(source_id=shop.id, kind="push", stream="customers", record_key=SCRIPT,
                  state="dead", last_error=SCRIPT, run_after=now))  # fmt: skip
        s.add(Job(source_id=shop.id, kind="push", stream="customers", record_key="7",
                  state="held", hold_reason="mapping", last_error=SCRIPT,
                  run_after=now))  # fmt: skip
        s.add(SyncLog(source_id=shop.id, stream="customers", record_key=SCRIPT, action="failed",
                      status="error", message=SCRIPT, xero_url="javascript:alert(1)",
                      at=now))  # fmt: skip
        s.add(ActionLog(source_id=shop.id, level="error", message=SCRIPT, record_key=SCRIPT,
                        at=now))  # fmt: skip
    return create_app(store, plugins=plugins)


def client(web: Starlette) -> TestClient:
    return TestClient(web, base_url="http://127.0.0.1:8765", follow_redirects=False)


def logged_in(web: Starlette) -> tuple[TestClient, str]:
    """A client logged in through the form, and its CSRF token."""
    browser = client(web)
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text)
    assert token
    answer = browser.post(
        "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert answer.status_code == 303
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/").text)
    assert token
    return browser, token.group(1)


def test_every_route_but_the_inbound_ones_needs_a_login(web: Starlette) -> None:
    routes = list(every_route(list(web.routes)))
    assert ("POST", "/sources/shop/accounts") in routes  # the core's accounts page
    assert ("POST", "/plugins/magento/shop/streams/customers/sync") in routes  # plugins' too
    anonymous = client(web)
    anonymous.get("/login")  # an anonymous session with its own CSRF token
    checked = 0
    for method, path in routes:
        if OPEN_PATHS.match(path) or path == "/login":
            continue
        answer = anonymous.request(method, path)
        if path.startswith("/api/"):
            assert answer.status_code == 401, (method, path)
        elif method == "GET":
            assert answer.status_code == 303, (method, path)
            assert answer.headers["location"].startswith("/login?next="), (method, path)
        else:  # refused before anything runs: no token, and no login either
            assert answer.status_code in (303, 403), (method, path)
        checked += 1
    assert checked > 30


def test_no_form_is_taken_without_its_token_or_from_another_site(web: Starlette) -> None:
    browser, token = logged_in(web)
    for method, path in every_route(list(web.routes)):
        if method != "POST" or OPEN_PATHS.match(path) or path == "/login":
            continue
        missing = browser.post(path, data={"confirm": "yes"})
        assert missing.status_code == 403, path
        forged = browser.post(path, data={"csrf_token": "x" * len(token)})
        assert forged.status_code == 403, path
        cross_site = browser.post(
            path, data={"csrf_token": token}, headers={"Origin": "https://evil.example"}
        )
        assert cross_site.status_code == 403, path
    # Still logged in and nothing was removed by any of it.
    assert "shop" in browser.get("/sources").text


def test_stored_values_show_as_text_on_every_page(web: Starlette) -> None:
    browser, _ = logged_in(web)
    pages = [
        path
        for method, path in every_route(list(web.routes))
        if method == "GET" and not OPEN_PATHS.match(path) and path != "/login"
    ]
    pages += ["/queue?state=dead", "/log?status=error", "/actions?level=error"]
    for path in pages:
        # A plugin's page of a source of another plugin sends the person back, saying so.
        answer = browser.get(path, follow_redirects=path.startswith("/plugins/"))
        assert answer.status_code == 200, path
        assert answer.headers["x-frame-options"] == "DENY", path
        assert answer.headers["x-content-type-options"] == "nosniff", path
        if path.startswith("/api/"):  # data for scripts, never rendered as a page
            assert answer.headers["content-type"] == "application/json", path
            continue
        assert answer.headers["content-type"].startswith("text/html"), path
        assert SCRIPT not in answer.text, path
        assert "javascript:alert" not in answer.text, path
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in browser.get("/log").text
