"""The Magento page of the dashboard: each store's Xero accounts, and "Set up accounts"."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

import xerobridge_magento
from xerobridge.config import sources
from xerobridge.contract.plugins import Plugins, register_module
from xerobridge.store.db import Store
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


def accounts(xero_app: Any) -> dict[str, dict[str, Any]]:
    return {a["Name"]: a for a in xero_app.state.sandbox.records("Accounts")}


def test_the_page_lists_each_store_with_its_accounts(
    web: TestClient, xb_store: Store, plugins: Plugins
) -> None:
    sources.add(
        xb_store,
        plugins,
        "magento",
        "shop",
        connection="org",
        values={**SHOP, "sales_account": "<b>Web sales</b>"},
    )
    page = web.get("/plugins/magento/")
    assert page.status_code == 200
    html = page.text
    assert "<h2>shop</h2>" in html and "Xero connection: org" in html
    assert "Magento Payments" in html and "Cost of Goods Sold" in html
    assert "&lt;b&gt;Web sales&lt;/b&gt;" in html and "<b>Web sales</b>" not in html
    assert 'action="/plugins/magento/shop/setup-accounts"' in html
    # The source page links here.
    assert 'href="/plugins/magento/"' in web.get("/sources/shop").text


def test_set_up_accounts_creates_the_missing_ones_once(
    web: TestClient, xb_store: Store, plugins: Plugins, xb_xero_sandbox: Any
) -> None:
    sources.add(
        xb_store,
        plugins,
        "magento",
        "shop",
        connection="org",
        values={**SHOP, "bank_account": "Webshop Bank"},
    )
    assert "Webshop Bank" not in accounts(xb_xero_sandbox)
    done = web.post(
        "/plugins/magento/shop/setup-accounts",
        data={"csrf_token": csrf_of(web.get("/plugins/magento/").text)},
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/plugins/magento/"
    bank = accounts(xb_xero_sandbox)["Webshop Bank"]
    assert bank["Type"] == "BANK"
    html = web.get("/plugins/magento/").text
    assert f"shop: Webshop Bank ({bank['Code']}) created;" in html
    assert f"yes, code {bank['Code']}" in html
    again = web.post("/plugins/magento/shop/setup-accounts", data={"csrf_token": csrf_of(html)})
    assert again.status_code == 303
    html = web.get("/plugins/magento/").text
    assert f"shop: Webshop Bank ({bank['Code']}) exists;" in html and "created" not in html
    assert list(accounts(xb_xero_sandbox)).count("Webshop Bank") == 1


def test_a_source_without_a_connection_is_told_what_to_do(
    web: TestClient, xb_store: Store, plugins: Plugins
) -> None:
    sources.add(xb_store, plugins, "magento", "loose", values=SHOP)
    token = csrf_of(web.get("/plugins/magento/").text)
    web.post("/plugins/magento/loose/setup-accounts", data={"csrf_token": token})
    web.post("/plugins/magento/nope/setup-accounts", data={"csrf_token": token})
    html = web.get("/plugins/magento/").text
    assert "loose: source loose has no Xero connection" in html
    assert "nope: no source named &#39;nope&#39;" in html


def test_the_form_needs_a_login_and_its_token(
    web: TestClient, xb_store: Store, plugins: Plugins, xb_xero_sandbox: Any
) -> None:
    sources.add(xb_store, plugins, "magento", "shop", connection="org", values=SHOP)
    before = len(accounts(xb_xero_sandbox))
    assert web.post("/plugins/magento/shop/setup-accounts", data={}).status_code == 403
    forged = web.post("/plugins/magento/shop/setup-accounts", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    with TestClient(web.app, base_url="http://127.0.0.1:8765", follow_redirects=False) as anon:
        token = csrf_of(anon.get("/login").text)
        assert anon.get("/plugins/magento/").status_code == 303
        refused = anon.post("/plugins/magento/shop/setup-accounts", data={"csrf_token": token})
        assert refused.status_code == 303
        assert refused.headers["location"].startswith("/login?next=")
    assert len(accounts(xb_xero_sandbox)) == before


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
        "xero_currencies": "eur,USD",
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
        "xero_currencies": "EUR,USD",
    }
    assert {name: got[name] for name in expected} == expected
    # The source page shows them back (secrets excepted) in the same inputs.
    page = web.get("/sources/shop").text
    assert 'name="payment_accounts.key" value="paypal_express"' in page
    assert '<option value="xero" selected>xero</option>' in page
    assert "integration-token" not in page and "admin-password" not in page
