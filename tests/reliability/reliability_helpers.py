"""Shared pieces of the reliability suite: the Magento sandbox synced into the Xero sandbox by
the real engine in one process, on one FakeClock, and the checks every fault test ends with."""

from __future__ import annotations

import asyncio
import importlib.util
import secrets
import shutil
import sys
from collections import Counter
from collections.abc import Coroutine, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import httpx
import pytest
from sqlmodel import select
from starlette.types import ASGIApp

import xerobridge_magento
from xerobridge.clock import FakeClock
from xerobridge.config import sources
from xerobridge.contract.plugins import Plugins, register_module
from xerobridge.sandboxes.xero import SandboxState
from xerobridge.sandboxes.xero import create_app as xero_sandbox
from xerobridge.store.db import Store
from xerobridge.store.models import Job, Link, Source, SyncLog
from xerobridge.sync.accounts import ensure_accounts
from xerobridge.sync.engine import Engine, Summary
from xerobridge.xero.connect import connect_client_credentials
from xerobridge_magento import mapping
from xerobridge_magento.sandbox import SandboxState as MagentoState
from xerobridge_magento.sandbox import create_app as magento_sandbox

T = TypeVar("T")

PREFIX = "REL"
MAGENTO_URL = "http://magento.reliability"
#: Seconds a request may take, by the shared FakeClock, before the client gives up on it.
TIMEOUT = 30.0
SETTINGS = {
    "base_url": MAGENTO_URL,
    "tax_map": "20=OUTPUT2,5=RROUTPUT,0=ZERORATEDOUTPUT",
    "default_tax_type": "OUTPUT2",
    "store_ids": "1",
    "page_size": "20",
}
#: Only the streams that need nothing but themselves, unless a test asks for more.
ONLY_CUSTOMERS_AND_PRODUCTS = "orders,invoices,credit_memos"


class ClockTimeoutTransport(httpx.ASGITransport):
    """An in-process transport that times out by the FakeClock, as a socket would by the wall
    clock: an answer that took longer than `timeout` is never seen, though the app did its work
    (a slow write that commits and times out is a lost answer, as over a real network)."""

    def __init__(self, app: ASGIApp, clock: FakeClock, timeout: float = TIMEOUT) -> None:
        super().__init__(app=app)
        self.clock = clock
        self.timeout = timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = self.clock.monotonic()
        response = await super().handle_async_request(request)
        if self.clock.monotonic() - started > self.timeout:
            await response.aclose()
            raise httpx.ReadTimeout(f"no answer within {self.timeout:g} s", request=request)
        return response


class World:
    """A Magento sandbox store, a UK Xero sandbox organisation and the engine between them, on
    one FakeClock and the test's store. The Magento store starts empty: tests add records."""

    def __init__(
        self,
        store_url: str,
        clock: FakeClock,
        *,
        disabled_streams: str = ONLY_CUSTOMERS_AND_PRODUCTS,
        magento_token: str | None = None,
        extra_settings: dict[str, str] | None = None,
    ) -> None:
        self.clock = clock
        self.magento_token = magento_token or f"mage-{secrets.token_hex(12)}"
        self.magento = magento_sandbox(clock, integration_token=self.magento_token)
        self.xero = xero_sandbox(clock, region="UK")
        self.client_id, self.client_secret = "RELIABILITY", f"xs-{secrets.token_hex(16)}"
        self.sandbox.register_app(
            self.client_id, self.client_secret, custom_tenant_id=self.sandbox.default_tenant_id
        )
        self.store = Store(store_url, clock=clock)
        self.loop = asyncio.new_event_loop()
        self.xero_http = httpx.AsyncClient(transport=ClockTimeoutTransport(self.xero, clock))
        self.run(
            connect_client_credentials(
                self.store, name="org", client_id=self.client_id,
                client_secret=self.client_secret, http=self.xero_http,
            )
        )  # fmt: skip
        self.plugins = Plugins([register_module(xerobridge_magento, "magento")])
        values = {
            **SETTINGS,
            "token": self.magento_token,
            "disabled_streams": disabled_streams,
            **(extra_settings or {}),
        }
        self.source = sources.add(self.store, self.plugins, "magento", "shop", connection="org",
                                  values=values, key_prefix=PREFIX)  # fmt: skip
        self.engine = Engine(
            self.store,
            self.plugins,
            clock=clock,
            xero_http=self.xero_http,
            source_http=lambda _s: httpx.AsyncClient(
                transport=ClockTimeoutTransport(self.magento, clock), base_url=MAGENTO_URL
            ),
            worker_id="reliability",
        )
        self.run(ensure_accounts(self.engine, self.source))

    @property
    def sandbox(self) -> SandboxState:
        """The Xero sandbox's state."""
        state: SandboxState = self.xero.state.sandbox
        return state

    @property
    def shop(self) -> MagentoState:
        """The Magento sandbox's state."""
        state: MagentoState = self.magento.state.sandbox
        return state

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on this world's loop (its http clients live there)."""
        return self.loop.run_until_complete(coro)

    def sync(self, *, max_wait: float = 3600.0) -> Summary:
        """One pass, waiting (by the FakeClock) for retries due within `max_wait` s."""
        return self.run(self.engine.sync(max_wait=max_wait))

    def close(self) -> None:
        """Close clients, the loop and the store."""
        self.run(self.engine.aclose())
        self.loop.close()
        self.store.dispose()

    # -- the source's records ---------------------------------------------------------------------

    def add_customers(self, n: int, *, start: int = 1, every: float = 1.0) -> list[int]:
        """Customers with plain names and emails, one each `every` seconds; their ids."""
        ids = []
        for i in range(start, start + n):
            self.clock.advance(every)
            customer = self.shop.add_customer(f"Ada{i}", f"Lovelace{i}", f"ada{i}@example.com")
            ids.append(int(customer["id"]))
        return ids

    def add_products(self, n: int, *, start: int = 1) -> list[str]:
        """Simple products, one a second; their SKUs."""
        skus = []
        for i in range(start, start + n):
            self.clock.advance(1)
            self.shop.add_product(f"REL-{i:04d}", f"Widget {i}", f"{i % 90 + 1}.50")
            skus.append(f"REL-{i:04d}")
        return skus

    # -- what ended where -------------------------------------------------------------------------

    def contact_numbers(self) -> list[str]:
        """ContactNumber of every contact in Xero (one entry per contact, duplicates kept)."""
        return [str(c.get("ContactNumber")) for c in self.sandbox.records("Contacts")]

    def item_codes(self) -> list[str]:
        """Code of every item in Xero."""
        return [str(i.get("Code")) for i in self.sandbox.records("Items")]

    def expected_contacts(self, ids: Iterable[int]) -> set[str]:
        """The ContactNumbers the customers must have."""
        return {mapping.contact_number(PREFIX, i) for i in ids}

    def expected_items(self, skus: Iterable[str]) -> set[str]:
        """The Item Codes the products must have."""
        return {mapping.item_code(PREFIX, sku) for sku in skus}

    def jobs(self) -> list[Job]:
        """Every job left in the queue."""
        with self.store.transaction() as s:
            return list(s.exec(select(Job)).all())

    def links(self) -> list[Link]:
        """Every link."""
        with self.store.transaction() as s:
            return list(s.exec(select(Link)).all())

    def log(self) -> list[SyncLog]:
        """Every sync-log row."""
        with self.store.transaction() as s:
            return list(s.exec(select(SyncLog)).all())

    def source_row(self) -> Source:
        """The source, fresh from the store."""
        with self.store.transaction() as s:
            row = s.get(Source, self.source.id)
            assert row is not None
            return row


def assert_once(what: str, found: list[str], expected: set[str]) -> None:
    """Each expected key exactly once, nothing else."""
    twice = sorted(k for k, n in Counter(found).items() if n > 1)
    assert not twice, f"{what} in Xero more than once: {twice[:10]}"
    missing, extra = sorted(expected - set(found)), sorted(set(found) - expected)
    assert not missing and not extra, f"{what}: missing {missing[:10]}, unexpected {extra[:10]}"


def assert_settled(world: World) -> None:
    """Nothing queued, no link left in flight or without its Xero object."""
    jobs = [(j.kind, j.stream, j.record_key, j.state, j.last_error) for j in world.jobs()]
    assert not jobs, jobs[:5]
    stuck = [(k.stream, k.record_key) for k in world.links() if k.in_flight_at or not k.xero_id]
    assert not stuck, f"links left unsettled: {stuck[:10]}"


def large(config: pytest.Config) -> bool:
    """Whether the larger runs were asked for (--large)."""
    return bool(config.getoption("--large", default=False))


# -- real processes -------------------------------------------------------------------------------

TESTS = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("reliability_worker.py")


def crash_plugin() -> ModuleType:
    """tests/crash_plugin.py, the source plugin whose records live in a JSON file."""
    module = sys.modules.get("crash_plugin")
    if module is None:
        spec = importlib.util.spec_from_file_location("crash_plugin", TESTS / "crash_plugin.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["crash_plugin"] = module
        spec.loader.exec_module(module)
    return module


def control(sandbox: dict[str, Any], method: str, path: str, **kwargs: Any) -> Any:
    """A call to a served sandbox's control API; its JSON."""
    response = httpx.request(method, f"{sandbox['control_url']}{path}", timeout=30, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def file_source(
    store_url: str,
    sandbox: dict[str, Any],
    data: Path,
    customers: int,
    invoices: int,
    values: dict[str, str] | None = None,
) -> None:
    """Connect the served sandbox's custom connection and add source `shop` of the crash
    plugin, its records (changed in the past, 10 s apart) written to `data`."""
    crash_plugin().install_source(
        store_url, sandbox, data, customers, invoices, prefix=PREFIX, values=values
    )


def assert_file_source_once(
    store_url: str, sandbox: dict[str, Any], customers: int, invoices: int
) -> None:
    """Xero holds each of the file source's contacts and invoices once, on the right contact;
    every link settled; no push left in the queue."""
    plugin = crash_plugin()
    contacts = control(sandbox, "GET", "/tenants/default/Contacts")["Contacts"]
    found = control(sandbox, "GET", "/tenants/default/Invoices")["Invoices"]
    assert_once(
        "contacts",
        [c.get("ContactNumber") for c in contacts],
        {plugin.contact_number(PREFIX, str(i)) for i in range(1, customers + 1)},
    )
    assert_once(
        "invoices",
        [i.get("InvoiceNumber") for i in found],
        {plugin.invoice_number(PREFIX, str(1000 + i)) for i in range(1, invoices + 1)},
    )
    ids = {c["ContactNumber"]: c["ContactID"] for c in contacts}
    for invoice in found:
        key = int(invoice["InvoiceNumber"].rsplit("-", 1)[1]) - 1000
        customer = plugin.contact_number(PREFIX, str((key * 7) % customers + 1))
        assert invoice["Contact"]["ContactID"] == ids[customer], invoice["InvoiceNumber"]
    store = Store(store_url)
    try:
        with store.transaction() as s:
            links = list(s.exec(select(Link)).all())
            jobs = list(s.exec(select(Job).where(Job.kind == "push")).all())
    finally:
        store.dispose()
    assert not jobs, [(j.stream, j.record_key, j.state, j.last_error) for j in jobs[:5]]
    assert len(links) == customers + invoices
    stuck = [(k.stream, k.record_key) for k in links if k.in_flight_at or not k.xero_id]
    assert not stuck, f"links left unsettled: {stuck[:10]}"
    by_number = {**ids, **{i["InvoiceNumber"]: i["InvoiceID"] for i in found}}
    wrong = [k.natural_key for k in links if by_number[k.natural_key] != k.xero_id]
    assert not wrong, f"links on the wrong object: {wrong[:10]}"


def plugin_site(folder: Path) -> Path:
    """A folder to put on PYTHONPATH in which the crash plugin is an installed distribution
    (entry point `crashtest`), so that `xerobridge run` and its workers load it."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(TESTS / "crash_plugin.py", folder / "crash_plugin.py")
    info = folder / "xbtest_crash-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: xbtest-crash\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[xerobridge]\ncrashtest = crash_plugin\n")
    (info / "RECORD").write_text("")
    return folder
