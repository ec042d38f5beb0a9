"""The dashboard in a real browser: headless Chromium (Debian's) driven by Playwright, against
the web app served for real on a free port, over a store that a real sync of the Magento sandbox
into the Xero sandbox has filled, with records that failed on purpose."""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from sqlmodel import select

from xerobridge.config import sources
from xerobridge.contract.plugins import Plugins, load_plugins
from xerobridge.runtime.queue import Queue
from xerobridge.sandboxes.xero import SandboxState
from xerobridge.sandboxes.xero import create_app as xero_sandbox
from xerobridge.store.db import Store
from xerobridge.store.models import Connection, Job, SyncLog
from xerobridge.sync.accounts import ensure_accounts
from xerobridge.sync.engine import Engine
from xerobridge.web.app import create_app
from xerobridge.web.dashboard import logins
from xerobridge.web.serve import base_url, bind
from xerobridge.xero.connect import connect_client_credentials
from xerobridge.xero.deeplinks import view_url

from dashboard_helpers import PASSWORD

CHROMIUM = "/usr/bin/chromium"
#: Flags for a machine whose network is closed: anything that phones home would hang the start.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MAGENTO_SETTINGS = {
    "base_url": "http://magento.test",
    "token": "sandbox-integration-token",
    "tax_map": "20=OUTPUT2,5=RROUTPUT,0=ZERORATEDOUTPUT",
    "default_tax_type": "OUTPUT2",
    # Both store views: the EUR one's orders fail, on purpose, as the organisation lacks EUR.
}
#: Every step waits at most this long (ms); a hang fails the test instead of stalling CI.
STEP_MS = 10_000


@dataclass
class World:
    """A synced store, the Xero sandbox it was synced into, and the plugins."""

    store: Store
    xero: SandboxState
    plugins: Plugins
    failed: int


def _missing_browser() -> str:
    """Why the browser test cannot run here, or ""."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install -y chromium; .ci/run does it)"
    return ""


async def _sync(store: Store, plugins: Plugins) -> tuple[SandboxState, int]:
    from xerobridge_magento.sandbox import create_app as magento_sandbox

    magento = magento_sandbox(seed=11, customers=5, products=4, orders=10)
    xero = xero_sandbox(region="UK")
    state: SandboxState = xero.state.sandbox
    state.register_app("BROWSERAPP", "browser-secret", custom_tenant_id=state.default_tenant_id)
    xero_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=xero))
    await connect_client_credentials(
        store, name="org", client_id="BROWSERAPP", client_secret="browser-secret", http=xero_http
    )
    source = sources.add(
        store, plugins, "magento", "shop", connection="org", values=MAGENTO_SETTINGS,
        key_prefix="SHOP",
    )  # fmt: skip
    engine = Engine(
        store,
        plugins,
        xero_http=xero_http,
        source_http=lambda _s: httpx.AsyncClient(transport=httpx.ASGITransport(app=magento)),
    )
    try:
        await ensure_accounts(engine, source)
        summary = await engine.sync(full=True)
    finally:
        await engine.aclose()
    return state, summary.failed


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """The Magento sandbox synced into the Xero sandbox, and a full read of products queued."""
    why = _missing_browser()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"the browser test cannot run: {why}")
        pytest.skip(why)
    plugins = load_plugins()
    info = plugins.infos.get("magento")
    if info is None or info.status != "ok":
        pytest.skip("the Magento plugin is not installed")
    store = Store(f"sqlite:///{tmp_path / 'browser.sqlite3'}")
    store.upgrade()
    xero, failed = asyncio.run(_sync(store, plugins))
    with store.transaction() as s:
        shop = sources.get(s, "shop")
    assert shop.id is not None
    Queue(store).enqueue_all(shop.id, "products", connection_id=shop.connection_id)
    logins.set_password(store, PASSWORD)
    yield World(store, xero, plugins, failed)
    store.dispose()


@pytest.fixture
def served(world: World) -> Iterator[str]:
    """The daemon's web app served by uvicorn on 127.0.0.1, a free port, in a thread."""
    sock = bind("127.0.0.1", 0)
    app = create_app(world.store, plugins=world.plugins)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    # The socket listens already, so the browser's first request waits in its backlog until
    # uvicorn accepts it: no waiting for the server to come up.
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    yield base_url("127.0.0.1", sock)
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.mark.slow
def test_a_person_uses_the_dashboard_in_a_browser(
    world: World, served: str, tmp_path: Path
) -> None:
    from playwright.sync_api import Route, sync_playwright

    assert world.failed > 0  # the EUR orders, so that the log has failures to show
    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            tempfile.mkdtemp(dir=tmp_path, prefix="chromium-"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(STEP_MS)

            # The login: the queue page sends us to the login form and back.
            page.goto(f"{served}/queue")
            assert urlsplit(page.url).path == "/login"
            page.fill("#username", "admin")
            page.fill("#password", PASSWORD)
            page.click("button:has-text('Log in')")
            page.wait_for_url(f"{served}/queue")

            # The queue: cancel the queued full read of products.
            with world.store.transaction() as s:
                job = s.exec(select(Job).where(Job.stream == "products")).one()
            row = page.locator(f"#job-{job.id}")
            assert "fetch" in row.inner_text() and "queued" in row.inner_text()
            row.locator("button:has-text('Cancel')").click()
            page.wait_for_load_state()
            assert "removed 1 job(s) from the queue" in page.inner_text("main")
            assert page.locator(f"#job-{job.id}").count() == 0
            with world.store.transaction() as s:
                assert s.get(Job, job.id) is None

            # A setting: the source's notification level, on its settings page.
            page.click("nav >> text=Sources")
            page.click("main >> a:has-text('shop')")
            page.select_option("#s-notify", "all")
            page.click("button:has-text('Save settings')")
            page.wait_for_load_state()
            with world.store.transaction() as s:
                shop = sources.get(s, "shop")
                assert sources.stored_values(s, shop)["notify"] == "all"
            page.click("nav >> text=Action log")
            assert "all tasks" in page.inner_text("#notify-settings")

            # The log: the failures say why, and a synced contact links to Xero.
            page.click("nav >> text=Sync log")
            page.select_option("select[name=status]", "error")
            page.click("button:has-text('Filter')")
            page.wait_for_url("**/log?*status=error*")
            assert "is in EUR, which is not enabled" in page.inner_text("#log")
            page.goto(f"{served}/log?stream=customers&action=created")
            link = page.locator("#log a:has-text('View in Xero')").first
            href = link.get_attribute("href") or ""
            with world.store.transaction() as s:
                conn = s.exec(select(Connection)).one()
                rows = s.exec(select(SyncLog).where(SyncLog.xero_url == href)).all()
            assert len(rows) == 1 and rows[0].xero_type == "Contact"
            assert href == view_url(conn.short_code, "Contact", rows[0].xero_id)
            contact_ids = {c["ContactID"] for c in world.xero.records("Contacts")}
            assert rows[0].xero_id in contact_ids  # it points at a contact Xero really holds
            # Nothing here can reach Xero: the browser's visit is answered on the way out.
            visited: list[str] = []

            def xero_login(route: Route) -> None:
                visited.append(route.request.url)
                route.fulfill(status=200, content_type="text/html", body="<h1>Xero login</h1>")

            page.route("https://go.xero.com/**", xero_login)
            link.click()
            page.wait_for_url("https://go.xero.com/**")
            assert visited == [href]
            target = parse_qs(urlsplit(page.url).query)
            assert target["shortcode"] == [conn.short_code]
            assert target["redirecturl"] == [f"/Contacts/View/{rows[0].xero_id}"]
            page.go_back()

            shot = tmp_path / "dashboard.png"
            page.goto(f"{served}/log")
            page.screenshot(path=str(shot), full_page=True)
            data = shot.read_bytes()
            assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000
        finally:
            browser.close()
