"""The connections page: the OAuth consent round trip, custom connections, disconnecting."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from xerobridge.config import sources
from xerobridge.contract.plugins import Plugins
from xerobridge.sandboxes.xero import SandboxState
from xerobridge.sandboxes.xero.state import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REDIRECT_URI,
)
from xerobridge.store.db import Store
from xerobridge.store.encryption import decrypt
from xerobridge.store.models import Connection, TokenGrant
from xerobridge.web.app import create_app
from xerobridge.web.dashboard import logins

from config_pages_helpers import plugin_info, xero_only
from dashboard_helpers import PASSWORD, csrf_of, log_in

CUSTOM_ID, CUSTOM_SECRET = "DASHCUSTOMAPP", "dash-custom-secret"


@pytest.fixture
def web(store: Store, app: Starlette) -> Iterator[Starlette]:
    """The daemon's web app whose calls to Xero reach the sandbox, with the test plugin."""
    logins.set_password(store, PASSWORD)
    yield create_app(store, http=xero_only(app), plugins=Plugins([plugin_info()]))


def connections(store: Store) -> list[Connection]:
    with store.transaction() as s:
        return list(s.exec(select(Connection).order_by(Connection.id)).all())


def token(browser: TestClient) -> str:
    return csrf_of(browser.get("/connections").text)


def consent(sandbox_app: Starlette, url: str) -> tuple[str, str]:
    """The sandbox's person allows access at once: where Xero sends the browser back."""
    with TestClient(sandbox_app, follow_redirects=False) as xero:
        response = xero.get(url)
    assert response.status_code == 302, response.text
    back = response.headers["location"]
    assert back.startswith(DEFAULT_REDIRECT_URI)
    query = parse_qs(urlsplit(back).query)
    return query["code"][0], query["state"][0]


def test_the_page_lists_nothing_yet_and_offers_both_ways(browser: TestClient) -> None:
    page = browser.get("/connections")
    assert page.status_code == 200
    assert "No Xero organisation is connected yet" in page.text
    assert 'action="/connections/authorize"' in page.text
    assert 'action="/connections/custom"' in page.text
    # The default redirect is the daemon's own callback.
    assert 'value="http://127.0.0.1:8765/xero/callback"' in page.text


def test_the_consent_round_trip_connects_the_sandbox(
    browser: TestClient, store: Store, app: Starlette, sandbox: SandboxState
) -> None:
    started = browser.post(
        "/connections/authorize",
        data={
            "csrf_token": token(browser),
            "name": "books",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "redirect_uri": DEFAULT_REDIRECT_URI,
            "scope": "openid offline_access accounting.transactions accounting.settings "
            "accounting.contacts",
            "api_url": "https://api.xero.com/api.xro/2.0",
            "identity_url": "https://identity.xero.com",
        },
    )
    assert started.status_code == 303, started.text
    url = started.headers["location"]
    assert url.startswith("https://login.xero.com/identity/connect/authorize?")
    query = parse_qs(urlsplit(url).query)
    assert query["client_id"] == [DEFAULT_CLIENT_ID] and query["code_challenge_method"] == ["S256"]
    (pending,) = (g for g in grants(store) if g.auth_kind == "web")
    assert DEFAULT_CLIENT_SECRET not in pending.client_secret  # kept encrypted
    assert decrypt(pending.client_secret) == DEFAULT_CLIENT_SECRET

    code, state = consent(app, url)
    back = browser.get("/xero/callback", params={"code": code, "state": state})
    assert back.status_code == 200, back.text
    assert "Connected: Sandbox Company (AU)" in back.text

    (conn,) = connections(store)
    assert (conn.name, conn.status, conn.tenant_id) == (
        "books",
        "connected",
        sandbox.default_tenant_id,
    )
    page = browser.get("/connections").text
    assert "Sandbox Company (AU)" in page and conn.short_code in page
    assert 'class="status-connected">connected<' in page
    assert store.clock.now().strftime("%Y-%m-%d %H:%M:%S UTC") in page  # the token's refresh

    # The state is good once.
    again = browser.get("/xero/callback", params={"code": code, "state": state})
    assert again.status_code == 400


def grants(store: Store) -> list[TokenGrant]:
    with store.transaction() as s:
        return list(s.exec(select(TokenGrant)).all())


CONSENT_MISTAKES = (
    ({"client_secret": ""}, "the client id and client secret are both needed"),
    ({"scope": "openid accounting.contacts"}, "the scopes must include offline_access"),
    ({"redirect_uri": "ftp://x/cb"}, "must be the http(s) URL of xerobridge"),
    ({"name": "two words"}, "must be 1 to 60 characters without spaces"),
)


def test_a_consent_with_a_mistake_shows_the_form_again(browser: TestClient, store: Store) -> None:
    for changes, problem in CONSENT_MISTAKES:
        data = {
            "csrf_token": token(browser),
            "name": "books",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "redirect_uri": DEFAULT_REDIRECT_URI,
            "scope": "openid offline_access",
            **changes,
        }
        response = browser.post("/connections/authorize", data=data)
        assert response.status_code == 400
        assert problem in response.text
        assert f'value="{DEFAULT_CLIENT_ID}"' in response.text  # what was typed stays
        assert DEFAULT_CLIENT_SECRET not in response.text  # the secret never comes back
    assert grants(store) == []


def test_a_custom_connection_connects_at_once(
    browser: TestClient, store: Store, sandbox: SandboxState
) -> None:
    sandbox.register_app(CUSTOM_ID, CUSTOM_SECRET, custom_tenant_id=sandbox.default_tenant_id)
    response = browser.post(
        "/connections/custom",
        data={
            "csrf_token": token(browser),
            "name": "acme",
            "client_id": CUSTOM_ID,
            "client_secret": CUSTOM_SECRET,
            "api_url": "",
            "identity_url": "",
        },
    )
    assert response.status_code == 303, response.text
    (conn,) = connections(store)
    assert (conn.name, conn.status) == ("acme", "connected")
    page = browser.get("/connections").text
    assert f"Connected acme: Sandbox Company (AU) (ShortCode {conn.short_code})." in page


def test_a_custom_connection_refused_by_xero_says_why(
    browser: TestClient, store: Store, sandbox: SandboxState
) -> None:
    sandbox.register_app(CUSTOM_ID, CUSTOM_SECRET, custom_tenant_id=sandbox.default_tenant_id)
    response = browser.post(
        "/connections/custom",
        data={
            "csrf_token": token(browser),
            "name": "acme",
            "client_id": CUSTOM_ID,
            "client_secret": "not-the-secret",
        },
    )
    assert response.status_code == 400
    assert "Xero refused client id DASHCUSTOMAPP and its secret" in response.text
    assert "not-the-secret" not in response.text
    assert 'value="acme"' in response.text
    assert connections(store) == []


def test_disconnecting_asks_first_then_forgets(
    browser: TestClient, store: Store, sandbox: SandboxState
) -> None:
    sandbox.register_app(CUSTOM_ID, CUSTOM_SECRET, custom_tenant_id=sandbox.default_tenant_id)
    browser.post(
        "/connections/custom",
        data={
            "csrf_token": token(browser),
            "name": "acme",
            "client_id": CUSTOM_ID,
            "client_secret": CUSTOM_SECRET,
        },
    )
    ask = browser.get("/connections/acme/remove")
    assert ask.status_code == 200
    assert "Disconnect acme?" in ask.text
    assert connections(store)  # asking changes nothing
    done = browser.post("/connections/acme/remove", data={"csrf_token": csrf_of(ask.text)})
    assert done.status_code == 303
    assert connections(store) == [] and grants(store) == []
    assert "Disconnected acme (a custom connection" in browser.get("/connections").text


def test_a_connection_a_source_uses_is_kept(
    browser: TestClient, store: Store, web: Starlette
) -> None:
    with store.transaction() as s:
        s.add(Connection(name="acme", tenant_name="Acme Ltd", status="connected"))
    sources.add(
        store,
        web.state.plugins,
        "formtest",
        "shop",
        connection="acme",
        values={"base_url": "https://shop.example.com"},
    )
    response = browser.post("/connections/acme/remove", data={"csrf_token": token(browser)})
    assert response.status_code == 303
    assert (
        "connection acme is used by source(s) shop; remove them, or bind them to another "
        "connection (`xerobridge sources connect`), first" in browser.get("/connections").text
    )
    assert [c.name for c in connections(store)] == ["acme"]


def test_an_unknown_connection_is_named(browser: TestClient) -> None:
    assert browser.get("/connections/nope/remove").status_code == 303
    page = browser.get("/connections").text
    assert "no Xero connection named &#39;nope&#39; (none yet)" in page


def test_the_webhook_key_is_stored_encrypted(browser: TestClient, store: Store) -> None:
    with store.transaction() as s:
        s.add(Connection(name="acme", status="connected"))
    saved = browser.post(
        "/connections/acme/webhook-key",
        data={"csrf_token": token(browser), "webhook_key": "k3y-from-xero"},
    )
    assert saved.status_code == 303
    (conn,) = connections(store)
    assert decrypt(conn.webhook_key) == "k3y-from-xero"
    page = browser.get("/connections").text
    assert "Webhook key saved for acme." in page and "k3y-from-xero" not in page
    blank = browser.post(
        "/connections/acme/webhook-key", data={"csrf_token": token(browser), "webhook_key": " "}
    )
    assert blank.status_code == 303
    assert "the webhook key is empty" in browser.get("/connections").text


def test_states_and_reasons_show_escaped(browser: TestClient, store: Store) -> None:
    with store.transaction() as s:
        s.add(Connection(name="a", tenant_name="<script>alert(1)</script>", status="pending"))
        s.add(Connection(name="b", status="error", status_reason="refresh refused <b>now</b>"))
    page = browser.get("/connections").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'class="status-pending">pending<' in page
    assert "error: refresh refused &lt;b&gt;now&lt;/b&gt;" in page


def test_every_form_needs_a_login_and_its_token(
    anonymous: TestClient, web: Starlette, store: Store
) -> None:
    with store.transaction() as s:
        s.add(Connection(name="acme", status="connected"))
    assert anonymous.get("/connections").headers["location"] == "/login?next=/connections"
    for path in ("/connections/authorize", "/connections/custom", "/connections/acme/remove"):
        refused = anonymous.post(path, data={"csrf_token": csrf_of(anonymous.get("/login").text)})
        assert refused.status_code == 303 and refused.headers["location"].startswith("/login")
    with TestClient(web, base_url="http://127.0.0.1:8765", follow_redirects=False) as browser:
        log_in(browser)
        for path in (
            "/connections/authorize",
            "/connections/custom",
            "/connections/acme/remove",
            "/connections/acme/webhook-key",
        ):
            assert browser.post(path, data={"csrf_token": "forged"}).status_code == 403
    assert [c.name for c in connections(store)] == ["acme"]
