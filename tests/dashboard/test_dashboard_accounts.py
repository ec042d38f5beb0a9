"""The core's page of the Xero accounts a source needs (`SourceSpec.xero_accounts`), for every
plugin: each need with whether the organisation has it, of the right type, and "Set up
accounts", which creates the missing ones as `xerobridge setup-accounts` does."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from xerobridge.config import sources, xero_lists
from xerobridge.contract.errors import UserError
from xerobridge.contract.plugins import Plugins
from xerobridge.sandboxes.xero import SandboxState
from xerobridge.store.db import Store
from xerobridge.sync.engine import Engine
from xerobridge.web.app import create_app
from xerobridge.web.dashboard import logins
from xerobridge.xero.connect import connect_client_credentials

from config_pages_helpers import plugin_info, xero_only
from dashboard_helpers import PASSWORD, csrf_of

APP_ID, APP_SECRET = "DASHACCOUNTS", "dash-accounts-secret"
SHOP = {"base_url": "https://shop.example.com"}


@pytest.fixture
def plugins() -> Plugins:
    """The configuration pages' test plugin, which needs one BANK account (`bank_account`)."""
    return Plugins([plugin_info()])


@pytest.fixture
def web(store: Store, app: Starlette, sandbox: SandboxState, plugins: Plugins) -> Starlette:
    """The web app reaching the Xero sandbox, with a connection `org` to its organisation."""
    sandbox.register_app(APP_ID, APP_SECRET, custom_tenant_id=sandbox.default_tenant_id)
    http = xero_only(app)
    asyncio.run(
        connect_client_credentials(
            store, name="org", client_id=APP_ID, client_secret=APP_SECRET, http=http
        )
    )
    logins.set_password(store, PASSWORD)
    return create_app(store, http=http, plugins=plugins)


def accounts(sandbox: SandboxState) -> dict[str, dict[str, Any]]:
    return {a["Name"]: a for a in sandbox.records("Accounts")}


def set_up(browser: TestClient, name: str) -> str:
    """Press "Set up accounts"; the page it comes back to."""
    path = f"/sources/{name}/accounts"
    done = browser.post(path, data={"csrf_token": csrf_of(browser.get(path).text)})
    assert done.status_code == 303
    assert done.headers["location"] == path
    return browser.get(path).text


def test_the_page_shows_each_need_and_set_up_creates_the_missing_once(
    browser: TestClient, store: Store, plugins: Plugins, sandbox: SandboxState
) -> None:
    sources.add(store, plugins, "formtest", "shop", connection="org",
                values={**SHOP, "bank_account": "<b>Till</b>"})  # fmt: skip
    page = browser.get("/sources/shop/accounts")
    assert page.status_code == 200
    html = page.text
    assert "<td>bank_account</td><td>&lt;b&gt;Till&lt;/b&gt;</td><td>BANK</td>" in html
    assert "missing" in html and "Creates the 1 missing account in Xero." in html
    assert "<b>Till</b>" not in accounts(sandbox)
    html = set_up(browser, "shop")
    till = accounts(sandbox)["<b>Till</b>"]
    assert till["Type"] == "BANK"
    assert f"shop: &lt;b&gt;Till&lt;/b&gt; ({till['Code']}) created." in html
    assert f'<span class="status-ok">yes</span>, code {till["Code"]}' in html
    html = set_up(browser, "shop")
    assert f"shop: &lt;b&gt;Till&lt;/b&gt; ({till['Code']}) exists." in html
    assert [a["Name"] for a in sandbox.records("Accounts")].count("<b>Till</b>") == 1


def test_an_account_of_the_wrong_type_is_named_with_what_to_do(
    browser: TestClient, store: Store, plugins: Plugins, sandbox: SandboxState
) -> None:
    """The setting names an account Xero has, but not a bank account."""
    sales = next(a for a in sandbox.records("Accounts") if a.get("Type") == "REVENUE")
    sources.add(store, plugins, "formtest", "shop", connection="org",
                values={**SHOP, "bank_account": sales["Name"]})  # fmt: skip
    html = set_up(browser, "shop")  # reads the organisation's accounts into the mirror
    assert "wrong type</span>: it is a REVENUE account" in html
    assert "name a BANK account in bank_account" in html


def test_a_source_without_a_connection_is_told_what_to_do(
    browser: TestClient, store: Store, plugins: Plugins, sandbox: SandboxState
) -> None:
    sources.add(store, plugins, "formtest", "loose", values=SHOP)
    before = len(sandbox.records("Accounts"))
    html = browser.get("/sources/loose/accounts").text
    assert "source loose has no Xero connection" in html
    assert 'action="/sources/loose/accounts"' not in html  # nothing to press
    token = csrf_of(browser.get("/sources").text)
    done = browser.post("/sources/loose/accounts", data={"csrf_token": token})
    assert done.status_code == 303
    back = browser.get(done.headers["location"]).text
    assert "loose: source loose has no Xero connection" in back
    assert len(sandbox.records("Accounts")) == before


def test_an_unknown_source_goes_back_to_the_list_saying_so(browser: TestClient) -> None:
    page = browser.get("/sources/nope/accounts")
    assert (page.status_code, page.headers["location"]) == (303, "/sources")
    token = csrf_of(browser.get("/sources").text)
    done = browser.post("/sources/nope/accounts", data={"csrf_token": token})
    assert (done.status_code, done.headers["location"]) == (303, "/sources")
    assert "no source named &#39;nope&#39;" in browser.get("/sources").text


def test_each_source_page_links_to_it(browser: TestClient, store: Store, plugins: Plugins) -> None:
    sources.add(store, plugins, "formtest", "shop", connection="org", values=SHOP)
    assert 'href="/sources/shop/accounts"' in browser.get("/sources/shop").text


def test_it_needs_a_login_and_the_form_its_token(
    web: Starlette, store: Store, plugins: Plugins, sandbox: SandboxState
) -> None:
    sources.add(store, plugins, "formtest", "shop", connection="org", values=SHOP)
    before = len(sandbox.records("Accounts"))
    with TestClient(web, base_url="http://127.0.0.1:8765", follow_redirects=False) as anon:
        token = csrf_of(anon.get("/login").text)
        page = anon.get("/sources/shop/accounts")
        assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
        refused = anon.post("/sources/shop/accounts", data={"csrf_token": token})
        assert refused.status_code == 303 and refused.headers["location"].startswith("/login")
        assert anon.post("/sources/shop/accounts", data={}).status_code == 403
    assert len(sandbox.records("Accounts")) == before


def test_an_account_the_organisation_has_can_be_chosen_for_a_setting(
    browser: TestClient, store: Store, plugins: Plugins, sandbox: SandboxState
) -> None:
    """ "Use it" names one of the organisation's bank accounts in the setting; an account not
    of that type, or not in the organisation, is refused saying so, and nothing changes."""
    sources.add(store, plugins, "formtest", "shop", connection="org",
                values={**SHOP, "bank_account": "Till"})  # fmt: skip
    html = set_up(browser, "shop")  # reads the organisation's accounts into the mirror
    banks = sorted(a["Name"] for a in sandbox.records("Accounts") if a.get("Type") == "BANK")
    assert "Business Savings Account" in banks
    for name in banks:
        assert f"<option>{name}</option>" in html or f"<option selected>{name}</option>" in html
    path = "/sources/shop/accounts/choose"
    token = csrf_of(html)
    done = browser.post(path, data={"csrf_token": token, "setting": "bank_account",
                                    "account": "Business Savings Account"})  # fmt: skip
    assert done.status_code == 303
    html = browser.get("/sources/shop/accounts").text
    assert "shop: bank_account is now &#39;Business Savings Account&#39;." in html
    with store.transaction() as s:
        assert sources.stored_values(s, sources.get(s, "shop"))["bank_account"] == (
            "Business Savings Account"
        )
    browser.post(path, data={"csrf_token": token, "setting": "bank_account", "account": "Sales"})
    html = browser.get("/sources/shop/accounts").text
    assert "Sales is not an active account of the type bank_account needs" in html
    with store.transaction() as s:
        assert sources.stored_values(s, sources.get(s, "shop"))["bank_account"] == (
            "Business Savings Account"
        )


def test_settings_naming_the_organisations_things_are_chosen_from_its_lists(
    browser: TestClient, store: Store, plugins: Plugins, app: Starlette, sandbox: SandboxState
) -> None:
    """Once the organisation is mirrored, an account setting is a select of its accounts of
    the right type and a tax-type setting one of its tax rates with their percentages; a tax
    type it lacks is refused, by the form and by `settings set`, naming those it has."""
    sources.add(store, plugins, "formtest", "shop", connection="org", values=SHOP)
    with store.transaction() as s:
        conn_id = sources.get(s, "shop").connection_id
    assert conn_id is not None

    async def mirror() -> None:
        engine = Engine(store, plugins, xero_http=xero_only(app))
        try:
            await engine.mirror.refresh(conn_id)
        finally:
            await engine.aclose()

    asyncio.run(mirror())
    banks = sorted(a["Name"] for a in sandbox.records("Accounts") if a["Type"] == "BANK")
    output = next(r for r in sandbox.records("TaxRates") if r["TaxType"] == "OUTPUT")
    page = browser.get("/sources/shop").text
    assert '<select id="s-bank_account" name="bank_account">' in page
    for name in banks:
        assert f'<option value="{name}"' in page
    assert '<select id="s-default_tax_type" name="default_tax_type">' in page
    rate = format(Decimal(str(output["EffectiveRate"])).normalize(), "f")
    assert f'<option value="OUTPUT">OUTPUT: {output["Name"]} ({rate}%)</option>' in page

    token = csrf_of(page)
    wrong = {**SHOP, "csrf_token": token, "default_tax_type": "OUTPUT9"}
    refused = browser.post("/sources/shop/settings", data=wrong)
    assert refused.status_code == 400
    assert "default_tax_type: &#39;OUTPUT9&#39; is not one of the organisation&#39;s:" in (
        refused.text
    )

    with pytest.raises(UserError, match=r"'OUTPUT9' is not one of the organisation's: .*OUTPUT:"):
        with store.transaction() as s:
            source = sources.get(s, "shop")
        xero_lists.check(store, source, plugins.spec("formtest"), {"default_tax_type": "OUTPUT9"})
    good = {"default_tax_type": "OUTPUT", "bank_account": "New Till"}
    notes = xero_lists.check(store, source, plugins.spec("formtest"), good)
    assert notes == [
        "bank_account: account 'New Till' is not in Xero yet; `xerobridge setup-accounts shop` "
        f"creates it (or choose one of: {', '.join(banks)})"
    ]
