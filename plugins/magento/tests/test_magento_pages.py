"""The Magento page of the dashboard: each store's streams and counts, "Sync now", and the
tables of its settings that name things in Xero (tax map, payment accounts)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlmodel import select
from starlette.testclient import TestClient

import xerobridge_magento
from xerobridge.config import sources
from xerobridge.contract.plugins import Plugins, register_module
from xerobridge.store.db import Store
from xerobridge.store.models import Job
from xerobridge.web.app import create_app
from xerobridge.web.dashboard import logins
from xerobridge.xero.connect import connect_client_credentials

PASSWORD = "magento pages password"
APP_ID, APP_SECRET = "MAGENTOPAGES", "magento-pages-secret"
SHOP = {"base_url": "http://magento.test", "token": "sandbox-integration-token"}


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no form"
    return match.group(1)


@pytest.fixture
def plugins() -> Plugins:
    info = register_module(xerobridge_magento, "magento")
    assert info.status == "ok", info.error
    return Plugins([info])


@pytest.fixture
def web(xb_store: Store, xb_xero_sandbox: Any, plugins: Plugins) -> Iterator[TestClient]:
    """The daemon's web app, connected to the Xero sandbox, logged in as the admin."""
    state = xb_xero_sandbox.state.sandbox
    state.register_app(APP_ID, APP_SECRET, custom_tenant_id=state.default_tenant_id)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=xb_xero_sandbox))
    asyncio.run(
        connect_client_credentials(
            xb_store, name="org", client_id=APP_ID, client_secret=APP_SECRET, http=http
        )
    )
    logins.set_password(xb_store, PASSWORD)
    app = create_app(xb_store, http=http, plugins=plugins)
    with TestClient(app, base_url="http://127.0.0.1:8765", follow_redirects=False) as client:
        token = csrf_of(client.get("/login").text)
        client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token})
        yield client


def refresh_mirror(store: Store, plugins: Plugins, xero_app: Any) -> None:
    """Read the organisation's accounts and tax rates into the mirror, as a sync does."""
    from xerobridge.sync.engine import Engine

    engine = Engine(store, plugins, xero_http=httpx.AsyncClient(
        transport=httpx.ASGITransport(app=xero_app)))  # fmt: skip
    asyncio.run(engine.refresh_mirrors())


def test_the_page_shows_each_store_with_its_streams_and_magento_tables(
    web: TestClient, xb_store: Store, plugins: Plugins, xb_xero_sandbox: Any
) -> None:
    sources.add(
        xb_store,
        plugins,
        "magento",
        "shop",
        connection="org",
        values={**SHOP, "tax_map": "20=OUTPUT2,5=NOSUCHTAX",
                "payment_accounts": "checkmo=<b>Till</b>"},
    )  # fmt: skip
    refresh_mirror(xb_store, plugins, xb_xero_sandbox)
    page = web.get("/plugins/magento/")
    assert page.status_code == 200
    html = page.text
    assert "<h2>shop</h2>" in html and "Xero connection: org" in html
    assert 'href="/sources/shop/accounts">Xero accounts it needs</a>' in html
    for stream in plugins.spec("magento").streams:
        assert f'action="/plugins/magento/shop/streams/{stream.name}/sync"' in html
    assert '<td>20</td><td>OUTPUT2</td>\n      <td><span class="status-ok">yes</span>' in html
    assert "orders taxed at 5% fail until it is an active tax type" in html
    assert "<td>checkmo</td><td>&lt;b&gt;Till&lt;/b&gt;</td>" in html
    assert "<b>Till</b>" not in html and "create it in Xero or change payment_accounts" in html
    # The source page links here, and to the core's accounts page.
    source_page = web.get("/sources/shop").text
    assert 'href="/plugins/magento/"' in source_page
    assert 'href="/sources/shop/accounts"' in source_page


def test_sync_now_queues_a_read_of_the_stream_and_the_page_counts_it(
    web: TestClient, xb_store: Store, plugins: Plugins
) -> None:
    sources.add(xb_store, plugins, "magento", "shop", connection="org", values=SHOP)
    token = csrf_of(web.get("/plugins/magento/").text)
    done = web.post("/plugins/magento/shop/streams/orders/sync", data={"csrf_token": token})
    assert (done.status_code, done.headers["location"]) == (303, "/plugins/magento/")
    with xb_store.transaction() as s:
        jobs = list(s.exec(select(Job)).all())
    assert [(j.kind, j.stream, j.record_key, j.state) for j in jobs] == [
        ("fetch", "orders", "*", "queued")
    ]
    html = web.get("/plugins/magento/").text
    assert "shop: orders will be read now; what changed is synced." in html
    row = '<td>Orders <span class="help">orders</span></td><td>Invoice</td>\n      <td>1</td>'
    assert row in html  # one read queued


def test_a_wrong_source_or_stream_is_told_and_nothing_is_queued(
    web: TestClient, xb_store: Store, plugins: Plugins
) -> None:
    sources.add(xb_store, plugins, "magento", "shop", connection="org", values=SHOP)
    token = csrf_of(web.get("/plugins/magento/").text)
    web.post("/plugins/magento/nope/streams/orders/sync", data={"csrf_token": token})
    web.post("/plugins/magento/shop/streams/tickets/sync", data={"csrf_token": token})
    html = web.get("/plugins/magento/").text
    assert "nope: no source named &#39;nope&#39;" in html
    assert "shop: source type &#39;magento&#39; has no stream &#39;tickets&#39;" in html
    with xb_store.transaction() as s:
        assert list(s.exec(select(Job)).all()) == []


def test_the_form_needs_a_login_and_its_token(
    web: TestClient, xb_store: Store, plugins: Plugins
) -> None:
    sources.add(xb_store, plugins, "magento", "shop", connection="org", values=SHOP)
    path = "/plugins/magento/shop/streams/orders/sync"
    assert web.post(path, data={}).status_code == 403
    assert web.post(path, data={"csrf_token": "forged"}).status_code == 403
    with TestClient(web.app, base_url="http://127.0.0.1:8765", follow_redirects=False) as anon:
        token = csrf_of(anon.get("/login").text)
        assert anon.get("/plugins/magento/").status_code == 303
        refused = anon.post(path, data={"csrf_token": token})
        assert refused.status_code == 303
        assert refused.headers["location"].startswith("/login?next=")
    with xb_store.transaction() as s:
        assert list(s.exec(select(Job)).all()) == []


def test_the_page_reaches_the_core_only_through_the_sdk() -> None:
    """pages.py imports nothing of xerobridge but `xerobridge` and `xerobridge.sdk`."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(xerobridge_magento.__file__).with_name("pages.py").read_text())
    core = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    core = [name for name in core if name and name.split(".")[0] == "xerobridge"]
    assert core and set(core) <= {"xerobridge", "xerobridge.sdk"}, core


def test_every_magento_setting_is_reachable_from_the_add_form(
    web: TestClient, xb_store: Store, plugins: Plugins
) -> None:
    """The seed's settings (entities, mode and interval, accounts, tax and payment mapping,
    store views, invoice status and number, contact matching, notifications) all in one form."""
    form = web.get("/sources?plugin=magento").text
    model = plugins.spec("magento").settings
    for name in model.model_fields:
        if name != "disabled_streams":
            assert f'name="{name}"' in form or f'name="{name}.' in form, name
    for stream in plugins.spec("magento").streams:
        assert f'name="streams" value="{stream.name}" checked' in form
    data: dict[str, Any] = {
        "csrf_token": csrf_of(form),
        "plugin": "magento",
        "name": "shop",
        "connection": "org",
        "prefix": "WEB",
        "streams": ["customers", "guests", "products", "orders", "invoices"],
        "schedule.mode": "daily",
        "schedule.hour": "4",
        "reconcile.mode": "interval",
        "reconcile.minutes": "120",
        "notify": "all",
        "require_approval": ["false", "true"],
        "notify_secret": "0123456789abcdef0123",
        "base_url": "http://magento.test",
        "token": "integration-token",
        "username": "admin",
        "password": "admin-password",
        "admin_url": "http://magento.test/admin",
        "page_size": "50",
        "match_contacts": "email",
        "invoice_status": "AUTHORISED",
        "invoice_number_from": "xero",
        "bank_account": "Web Bank",
        "sales_account": "Web Sales",
        "inventory_account": "Web Stock",
        "cogs_account": "Web COGS",
        "shipping_account": "Freight",
        "rounding_account": "Pennies",
        "tax_map.key": ["20", "0", ""],
        "tax_map.value": ["OUTPUT2", "ZERORATEDOUTPUT", ""],
        "default_tax_type": "OUTPUT2",
        "payment_accounts.key": ["checkmo", "paypal_express", ""],
        "payment_accounts.value": ["Cash", "PayPal", ""],
        "store_ids": "1,2",
        "tax_inclusive_store_ids": "2",
    }
    added = web.post("/sources", data=data)
    assert added.status_code == 303, added.text
    with xb_store.transaction() as s:
        src = sources.get(s, "shop")
        got = sources.load_settings(s, src, plugins.spec("magento")).redacted()
    expected = {
        "schedule": "daily at 04:00",
        "reconcile": "every 120 minutes",
        "notify": "all",
        "require_approval": "true",
        "disabled_streams": "credit_memos",
        "notify_secret": "********",
        "base_url": "http://magento.test/",
        "token": "********",
        "username": "admin",
        "password": "********",
        "admin_url": "http://magento.test/admin",
        "page_size": "50",
        "match_contacts": "email",
        "invoice_status": "AUTHORISED",
        "invoice_number_from": "xero",
        "bank_account": "Web Bank",
        "sales_account": "Web Sales",
        "inventory_account": "Web Stock",
        "cogs_account": "Web COGS",
        "shipping_account": "Freight",
        "rounding_account": "Pennies",
        "tax_map": "20=OUTPUT2,0=ZERORATEDOUTPUT",
        "default_tax_type": "OUTPUT2",
        "payment_accounts": "checkmo=Cash,paypal_express=PayPal",
        "store_ids": "1,2",
        "tax_inclusive_store_ids": "2",
    }
    assert {name: got[name] for name in expected} == expected
    # The source page shows them back (secrets excepted) in the same inputs.
    page = web.get("/sources/shop").text
    assert 'name="payment_accounts.key" value="paypal_express"' in page
    assert '<option value="xero" selected>xero</option>' in page
    assert "integration-token" not in page and "admin-password" not in page
