"""From the dashboard alone: a person connects the Xero sandbox, adds a Magento store, syncs it,
reads why a record failed, decides which Xero contact an ambiguous customer is, and sees it
synced. The forms are filled as a browser fills them (every field the page offers, with its
default), and the syncing is done by the daemon's worker loop."""

from __future__ import annotations

import asyncio
import re
from html.parser import HTMLParser
from typing import Any

import httpx
from sqlmodel import select
from starlette.testclient import TestClient

import xerobridge_magento
from xerobridge.contract.plugins import Plugins, register_module
from xerobridge.store.db import Store
from xerobridge.store.models import Job
from xerobridge.sync.engine import Engine
from xerobridge.web.app import create_app
from xerobridge.web.dashboard import logins
from xerobridge_magento.sandbox import create_app as magento_sandbox

PASSWORD = "journey password"
APP_ID, APP_SECRET = "JOURNEYAPP", "journey-secret"


class FormReader(HTMLParser):
    """The fields of the form posting to `action`, as a browser would send them untouched."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action, self.inside, self.select = action, False, ""
        self.fields: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action
        elif self.inside and tag == "input" and a.get("name"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((a["name"], a.get("value", "")))
        elif self.inside and tag == "select":
            self.select = a.get("name", "")
        elif self.inside and tag == "option" and self.select and "selected" in a:
            self.fields.append((self.select, a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = ""


def form_of(html: str, action: str, **changes: str) -> dict[str, list[str]]:
    """The form's fields as the page fills them, with `changes` typed over them."""
    reader = FormReader(action)
    reader.feed(html)
    assert reader.fields, f"no form posting to {action}"
    fields: dict[str, list[str]] = {}
    for name, value in reader.fields:
        fields.setdefault(name, []).append(value)
    return {**fields, **{name: [value] for name, value in changes.items()}}


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_person_gets_from_nothing_to_a_synced_store_with_the_dashboard_alone(
    xb_store: Store, xb_xero_sandbox: Any, xb_clock: Any
) -> None:
    xero = xb_xero_sandbox.state.sandbox
    xero.register_app(APP_ID, APP_SECRET, custom_tenant_id=xero.default_tenant_id)
    shop = magento_sandbox(xb_clock, seed=3, customers=6, products=4, orders=10)
    ann = shop.state.sandbox.customers.get(1)
    # Two Xero contacts share customer 1's email: only a person can say which one it is.
    twins = xero.seed(
        "Contacts",
        [
            {"Name": "Ann (sales)", "EmailAddress": ann["email"]},
            {"Name": "Ann (support)", "EmailAddress": ann["email"]},
        ],
    )
    info = register_module(xerobridge_magento, "magento")
    plugins = Plugins([info])
    xero_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=xb_xero_sandbox))
    engine = Engine(
        xb_store, plugins, clock=xb_clock, xero_http=xero_http,
        source_http=lambda _src: httpx.AsyncClient(transport=httpx.ASGITransport(app=shop)),
    )  # fmt: skip

    def work() -> None:  # what `xerobridge run`'s workers do meanwhile
        asyncio.run(engine.worker.run_until_idle(max_wait=0))

    logins.set_password(xb_store, PASSWORD)
    web = create_app(xb_store, http=xero_http, plugins=plugins)
    with TestClient(web, base_url="http://127.0.0.1:8765", follow_redirects=False) as browser:
        login = browser.get("/")
        assert login.headers["location"].startswith("/login")
        page = browser.get("/login").text
        answer = browser.post(
            "/login", data=form_of(page, "/login", username="admin", password=PASSWORD)
        )
        assert answer.status_code == 303

        # Connect the organisation.
        page = browser.get("/connections").text
        form = form_of(page, "/connections/custom", name="org", client_id=APP_ID,
                       client_secret=APP_SECRET)  # fmt: skip
        assert browser.post("/connections/custom", data=form).status_code == 303
        assert "connected" in text_of(browser.get("/connections").text)

        # Add the store, with its address and token; everything else as the form offers it.
        page = browser.get("/sources?plugin=magento").text
        typed = {"base_url": "http://magento.test", "token": "sandbox-integration-token"}
        form = form_of(page, "/sources", name="shop", connection="org", **typed)
        added = browser.post("/sources", data=form)
        assert added.status_code == 303, text_of(added.text)[:2000]

        # Create its accounts, then ask for everything to be synced.
        page = browser.get("/sources/shop/accounts").text
        made = browser.post("/sources/shop/accounts", data=form_of(page, "/sources/shop/accounts"))
        assert made.status_code == 303
        page = browser.get("/sources/shop").text
        queued = browser.post(
            "/sources/shop/enqueue-all", data=form_of(page, "/sources/shop/enqueue-all")
        )
        assert queued.status_code == 303
        work()

        # What went wrong is on the log, with the record and what to change.
        failures = text_of(browser.get("/log?status=error").text)
        assert "is in EUR, which is not enabled in the Xero organisation" in failures
        assert "2 Xero contacts have the same email" in failures
        # Two of the store's tax rates have no Xero tax type yet; the log says what to set.
        assert "is taxed at 5.0% in Magento but maps to TaxType" in failures
        assert "add 5.0=&lt;a 5.0% TaxType&gt; to tax_map" in browser.get("/log").text
        page = browser.get("/sources/shop").text
        form = form_of(page, "/sources/shop/settings")
        form["tax_map.key"], form["tax_map.value"] = (
            ["0", "5", "20"],
            ["NONE", "RROUTPUT", "OUTPUT2"],
        )
        saved = browser.post("/sources/shop/settings", data=form)
        assert saved.status_code == 303, text_of(saved.text)[:2000]
        page = browser.get("/sources/shop").text
        queued = browser.post(
            "/sources/shop/enqueue-all", data=form_of(page, "/sources/shop/enqueue-all")
        )
        assert queued.status_code == 303
        xb_clock.advance(60)
        work()
        newest = text_of(browser.get("/log?stream=orders&record=3").text)
        assert newest.index(" OK ") < newest.index("is taxed at 5.0%")  # newest first

        # The ambiguous customer waits for a person, with both contacts as candidates.
        page = browser.get("/unmapped").text
        assert "Ann (sales)" in text_of(page) and "Ann (support)" in text_of(page)
        chosen = twins[1]["ContactID"]
        decided = browser.post(
            "/unmapped/decide", data=form_of(page, "/unmapped/decide", choice=chosen)
        )
        assert decided.status_code == 303
        xb_clock.advance(60)
        work()

        # It is synced onto the contact the person chose.
        with xb_store.transaction() as s:
            waiting = s.exec(select(Job).where(Job.record_key == "1", Job.stream == "customers"))
            assert list(waiting) == []
        log = text_of(browser.get("/log?stream=customers&record=1").text)
        assert "OK" in log
        contact = next(c for c in xero.records("Contacts") if c["ContactID"] == chosen)
        assert contact["ContactNumber"].endswith("1")
        assert "Ann (support)" not in text_of(browser.get("/unmapped").text)
