"""`PluginPages`, what a plugin's dashboard pages may do, on both stores: only its own sources,
settings read and saved through the core's validation, per-record settings, stream counts,
queued syncs, the mirror and the accounts it needs; and `register_routes` with or without it."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import Field
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from xerobridge import hookimpl
from xerobridge.config import sources
from xerobridge.contract.plugins import Plugins, register_module
from xerobridge.sdk import AccountNeed, PluginPages, Source, SourceSettings, Stream, UserError
from xerobridge.store.db import Store
from xerobridge.store.models import Connection, Job, Link
from xerobridge.web import dashboard
from xerobridge.web.app import create_app
from xerobridge.web.dashboard import logins
from xerobridge.xero.mirror import Mirror

from dashboard_helpers import PASSWORD, log_in
from dashboard_ops_helpers import ops_plugins


class PageSettings(SourceSettings):
    """A setting a record may override, and an account it names."""

    per_record_fields = frozenset({"auto_sync"})

    auto_sync: bool = Field(default=True, description="Sync this customer's records at once.")
    page_size: int = Field(default=50, ge=1, le=100, description="Records per page.")
    bank_account: str = Field(default="Shop Bank", description="Bank account name.")


class Customers(Stream[PageSettings]):
    name = "customers"
    xero_object = "Contact"


class Orders(Stream[PageSettings]):
    name = "orders"
    xero_object = "Invoice"
    depends_on = ("customers",)


def _module() -> types.ModuleType:
    module = types.ModuleType("xerobridge_pagetest")
    module.source = Source(  # type: ignore[attr-defined]
        name="pagetest",
        title="Page test",
        settings=PageSettings,
        streams=[Customers(), Orders()],
        xero_accounts=[AccountNeed("bank_account", "BANK", "Shop Bank")],
    )

    @hookimpl
    def register_routes(pages: PluginPages) -> list[Route]:
        def names(request: Request) -> Response:
            listed = ",".join(s.name for s in pages.sources())
            return Response(listed, media_type="text/plain")

        return [Route("/names", names)]

    module.register_routes = register_routes  # type: ignore[attr-defined]
    return module


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> Plugins:
    """The SDK-written test plugin `pagetest`, and the operations pages' `opstest`."""
    module = _module()
    monkeypatch.setitem(sys.modules, module.__name__, module)
    info = register_module(module, "pagetest")
    assert info.status == "ok", info.error
    return Plugins([info, *ops_plugins()])


@pytest.fixture
def pages(store: Store, plugins: Plugins) -> Iterator[PluginPages]:
    """The pages of `pagetest`, with sources `shop` (connected) and `loose` of it, and `other`
    of another plugin."""
    with store.transaction() as s:
        s.add(Connection(name="org", status="connected", tenant_id="t-1"))
    sources.add(store, plugins, "pagetest", "shop", connection="org", values={"page_size": "20"})
    sources.add(store, plugins, "pagetest", "loose", values={})
    sources.add(store, plugins, "opstest", "other", connection="org", values={})
    http = httpx.AsyncClient()
    yield PluginPages("pagetest", store=store, plugins=plugins, xero_http=http)


def test_it_sees_only_its_own_sources(pages: PluginPages) -> None:
    assert [(s.name, s.connection, s.key_prefix) for s in pages.sources()] == [
        ("loose", "", "LOOSE"),
        ("shop", "org", "SHOP"),
    ]
    assert pages.source("shop").accounts_url == "/sources/shop/accounts"
    for call in (
        lambda: pages.source("other"),
        lambda: pages.settings("other"),
        lambda: pages.streams("other"),
        lambda: pages.queue_sync("other"),
        lambda: pages.save_settings("other", {"region": "eu"}),
        lambda: pages.mirror("other"),
    ):
        with pytest.raises(UserError, match="other is a opstest source, not a pagetest one"):
            call()


def test_settings_are_read_and_saved_through_the_cores_validation(pages: PluginPages) -> None:
    settings = pages.settings("shop")
    assert isinstance(settings, PageSettings) and settings.page_size == 20
    with pytest.raises(UserError, match="setting page_size='500' is not valid"):
        pages.save_settings("shop", {"page_size": "500"})
    assert pages.settings("shop").page_size == 20  # nothing was saved
    assert pages.save_settings("shop", {"page_size": "30"}).page_size == 30  # type: ignore[attr-defined]
    assert pages.source("shop").settings.page_size == 30  # type: ignore[union-attr]


def test_per_record_settings_override_the_sources_for_that_record(pages: PluginPages) -> None:
    record = ("customers", "42")
    pages.save_settings("shop", {"auto_sync": "false"}, record=record)
    assert pages.settings("shop", record).auto_sync is False  # type: ignore[attr-defined]
    assert pages.settings("shop").auto_sync is True  # type: ignore[attr-defined]
    assert list(pages.record_settings("shop")) == [record]
    with pytest.raises(UserError, match="'page_size' cannot be set per record"):
        pages.save_settings("shop", {"page_size": "10"}, record=record)
    with pytest.raises(UserError, match="has no stream 'tickets'"):
        pages.save_settings("shop", {"auto_sync": "false"}, record=("tickets", "1"))


def test_streams_count_queued_waiting_failed_and_synced(store: Store, pages: PluginPages) -> None:
    shop = pages.source("shop")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with store.transaction() as s:
        src = sources.get(s, shop.name)
        for key, state, reason in [("1", "queued", ""), ("2", "running", ""),
                                   ("3", "held", "mapping"), ("4", "dead", "")]:  # fmt: skip
            s.add(Job(source_id=src.id, kind="push", stream="customers", record_key=key,
                      state=state, hold_reason=reason, run_after=now))  # fmt: skip
        s.add(Link(source_id=src.id, stream="customers", record_key="9", role="main",
                   xero_type="Contact", xero_id="c-9", natural_key="SHOP-9"))  # fmt: skip
        s.add(
            Link(
                source_id=src.id,
                stream="customers",
                record_key="8",
                role="main",
                xero_type="Contact",
                natural_key="SHOP-8",
            )
        )  # in flight, no id yet
    pages.save_settings("shop", {"disabled_streams": "orders"})
    counted = {c.name: (c.queued, c.held, c.failed, c.synced, c.enabled)
               for c in pages.streams("shop")}  # fmt: skip
    assert counted == {"customers": (2, 1, 1, 1, True), "orders": (0, 0, 0, 0, False)}


def test_records_say_which_are_in_xero_and_why_the_others_are_not_and_retry_one(
    store: Store, pages: PluginPages
) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with store.transaction() as s:
        src = sources.get(s, "shop")
        s.add(
            Link(
                source_id=src.id,
                stream="customers",
                record_key="9",
                role="main",
                xero_type="Contact",
                xero_id="c-9",
                natural_key="SHOP-9",
                updated_at=now,
            )
        )
        s.add(
            Link(
                source_id=src.id,
                stream="customers",
                record_key="?c-7",
                role="main",
                xero_type="Contact",
                xero_id="c-7",
            )
        )  # a create in flight: not shown
        for key, state, error in [
            ("4", "dead", "customer 4: no name; give it one"),
            ("5", "dead", "customer 5: no email"),
        ]:
            s.add(
                Job(
                    source_id=src.id,
                    kind="push",
                    stream="customers",
                    record_key=key,
                    state=state,
                    last_error=error,
                    run_after=now,
                    payload={"data": {"n": key}},
                )
            )
    records = {r.key: r for r in pages.records("shop", "customers")}
    assert set(records) == {"9", "4", "5"}
    assert (records["9"].state, records["9"].xero_id, records["9"].natural_key) == (
        "synced",
        "c-9",
        "SHOP-9",
    )
    assert (records["4"].state, records["4"].error, records["4"].data) == (
        "failed",
        "customer 4: no name; give it one",
        {"n": "4"},
    )
    assert pages.retry("shop", "customers", ["4"]) == 1
    states = {r.key: r.state for r in pages.records("shop", "customers")}
    assert (states["4"], states["5"]) == ("queued", "failed")
    with pytest.raises(UserError, match="not a pagetest one"):
        pages.records("other", "customers")


def _fetches(store: Store) -> list[tuple[str, str, dict | None]]:
    with store.transaction() as s:
        jobs = s.exec(select(Job).where(Job.kind == "fetch").order_by(col(Job.id))).all()
        return [(j.stream, j.record_key, j.payload) for j in jobs]


def test_queue_sync_reads_changes_everything_or_records(store: Store, pages: PluginPages) -> None:
    assert pages.queue_sync("shop") == 2
    assert _fetches(store) == [("customers", "*", None), ("orders", "*", None)]
    assert pages.queue_sync("shop", "customers", keys=["7"]) == 1
    assert ("customers", "7", {"keys": ["7"]}) in _fetches(store)
    pages.queue_sync("shop", "customers")
    assert _fetches(store).count(("customers", "*", None)) == 1  # the waiting read is due now
    pages.queue_sync("shop", "orders", full=True)
    assert ("orders", "*", {"full": True}) in _fetches(store)  # a full read replaces it
    with pytest.raises(UserError, match="name the stream the keys belong to"):
        pages.queue_sync("shop", keys=["1"])
    pages.save_settings("shop", {"disabled_streams": "orders"})
    with pytest.raises(UserError, match="stream 'orders' of 'shop' is switched off"):
        pages.queue_sync("shop", "orders")
    sources.set_enabled(store, "shop", False)
    with pytest.raises(UserError, match="source 'shop' is switched off"):
        pages.queue_sync("shop")


def test_the_mirror_and_the_accounts_it_needs(store: Store, pages: PluginPages) -> None:
    assert pages.mirror("loose") is None
    assert [c.state for c in pages.account_checks("loose")] == ["missing"]
    with store.transaction() as s:
        conn_id = s.exec(select(Connection.id)).one()
    account = {"AccountID": "a-1", "Name": "Shop Bank", "Code": "090", "Type": "BANK",
               "Status": "ACTIVE"}  # fmt: skip
    Mirror(store, client=None, clock=store.clock).remember(conn_id, "Account", [account])  # type: ignore[arg-type]
    mirror = pages.mirror("shop")
    assert mirror is not None and [a["Code"] for a in mirror.accounts()] == ["090"]
    (check,) = pages.account_checks("shop")
    assert (check.setting, check.name, check.code, check.state) == (
        "bank_account", "Shop Bank", "090", "ok"
    )  # fmt: skip


def test_hook_register_routes_hands_each_plugin_its_pages(store: Store, plugins: Plugins) -> None:
    """A plugin asking for `pages` gets its own; one whose hook takes nothing still mounts."""
    sources.add(store, plugins, "pagetest", "shop", values={})
    logins.set_password(store, PASSWORD)
    web = create_app(store, plugins=plugins)
    mounts = [r.path for r in web.routes if isinstance(r, Mount)]
    assert "/plugins/pagetest" in mounts
    with TestClient(web, base_url="http://127.0.0.1:8765", follow_redirects=False) as browser:
        log_in(browser)
        assert browser.get("/plugins/pagetest/names").text == "shop"
    found = dashboard.routes(ops_plugins(), store=store, xero_http=httpx.AsyncClient())
    assert not any(isinstance(r, Mount) for r in found)  # opstest adds no pages


def test_a_csv_download_keeps_text_that_looks_like_a_formula_as_text(pages: PluginPages) -> None:
    answer = pages.csv("worklogs.csv", ["key", "account"], [["1", "=HYPERLINK(x)"], ["2", "Acme"]])
    assert answer.media_type == "text/csv"
    assert answer.headers["content-disposition"] == 'attachment; filename="worklogs.csv"'
    assert bytes(answer.body).decode().splitlines() == [
        "key,account", "1,'=HYPERLINK(x)", "2,Acme"
    ]  # fmt: skip
