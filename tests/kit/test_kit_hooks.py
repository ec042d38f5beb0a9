"""Each hook of the plugin `new-plugin` generates, called as the core calls it.

The generated plugin is rendered once per session, imported from a temporary directory, and run
in the test kit's harness: its own sandbox, a Xero sandbox and the real engine. These are the
hook tests the hook reference points to for the template (`test_hook_<name>...`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import typer
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient
from typer.testing import CliRunner

from xerobridge.cli import scaffold
from xerobridge.contract.plugins import Plugins, register_module
from xerobridge.contract.settings import validate_settings
from xerobridge.contract.types import Change, Direction, XeroEvent
from xerobridge.store.db import Store
from xerobridge.testkit import SyncHarness
from xerobridge.web import dashboard

Harness = Callable[..., SyncHarness]


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The generated plugin `tickets`, importable as `xerobridge_tickets`."""
    root = tmp_path_factory.mktemp("generated") / "xerobridge-tickets"
    scaffold.render("tickets", root)
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module("xerobridge_tickets")
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m.split(".")[0] == "xerobridge_tickets"]:
            del sys.modules[name]


@pytest.fixture
def kit(xb_harness: Harness, plugin: ModuleType) -> SyncHarness:
    """The generated plugin in the harness, reading two records a page."""
    return xb_harness(plugin, settings={"page_size": "2"})


def test_hook_source_spec_describes_streams_settings_events_and_sandbox(
    plugin: ModuleType,
) -> None:
    info = register_module(plugin, "tickets")
    assert info.status == "ok", info.error
    spec = info.spec
    assert spec is not None
    assert [(s.name, s.xero_object, s.depends_on) for s in spec.streams] == [
        ("customers", "Contact", ()),
        ("invoices", "Invoice", ("customers",)),
    ]
    assert all(s.direction is Direction.TO_XERO for s in spec.streams)
    assert spec.xero_events == {"INVOICE"}
    assert [a.setting for a in spec.xero_accounts] == ["sales_account"]
    assert spec.sandbox is not None
    settings = validate_settings(spec.settings, spec.sandbox().settings, source="t")
    assert settings.secret_fields() == {"token", "notify_secret"}


def test_hook_fetch_changes_reads_every_page_then_only_what_changed(kit: SyncHarness) -> None:
    invoices = kit.spec.stream("invoices")
    everything = kit.call("fetch_changes", stream=invoices, cursor=None)
    assert [c.key for c in everything] == ["1004", "1005", "1006", "1007"]  # over two pages
    newest = max(c.updated_at for c in everything)
    kit.source_state.edit("invoices", "1006", due_on="2026-01-31")
    later = (newest + timedelta(seconds=1)).isoformat()
    changed = kit.call("fetch_changes", stream=invoices, cursor=later)
    assert [(c.key, c.data["due_on"]) for c in changed] == [("1006", "2026-01-31")]


def test_hook_fetch_records_leaves_out_keys_that_are_gone(kit: SyncHarness) -> None:
    found = kit.call("fetch_records", stream=kit.spec.stream("customers"), keys=["1001", "404"])
    assert [(c.key, c.data["name"]) for c in found] == [("1001", "Ada Lovelace Ltd")]


def test_hook_map_record_links_a_customer_to_the_contact_of_the_same_name(
    kit: SyncHarness,
) -> None:
    """A contact already in Xero is linked, not created twice."""
    existing = kit.xero_write("Contact", {"Name": "Ada Lovelace Ltd"})
    summary = kit.sync()
    assert summary.failed == 0
    (link,) = [k for k in kit.links("customers") if k.record_key == "1001"]
    assert (link.xero_id, link.method) == (existing["ContactID"], "matched")
    named = [c for c in kit.xero("Contacts") if c["Name"] == "Ada Lovelace Ltd"]
    assert len(named) == 1 and named[0]["ContactNumber"] == "KIT-C-1001"


def test_hook_map_record_makes_an_invoice_wait_for_its_customer(kit: SyncHarness) -> None:
    invoice = kit.source_state.records["invoices"]["1004"]
    resolution = kit.call("map_record", change=Change("invoices", "1004", invoice))
    assert resolution.action == "create"
    assert [(d.stream, d.key) for d in resolution.needs] == [("customers", "1001")]


def test_hook_to_xero_builds_the_invoice_from_the_mirror_and_links(kit: SyncHarness) -> None:
    kit.sync()  # fills the mirror with the organisation's accounts
    invoice = kit.source_state.records["invoices"]["1005"]
    links = {("customers", "1001", "main"): "contact-id"}
    (doc,) = kit.call("to_xero", change=Change("invoices", "1005", invoice), links=links)
    sales = next(a for a in kit.xero("Accounts") if a["Name"] == "Sales")
    assert (doc.kind, doc.natural_key) == ("Invoice", "KIT-INV-1005")
    assert doc.body["Contact"] == {"ContactID": "contact-id"}
    assert {line["AccountCode"] for line in doc.body["LineItems"]} == {sales["Code"]}
    again = kit.call("to_xero", change=Change("invoices", "1005", invoice), links=links)
    assert again == [doc]  # the same record builds the same document: no needless writes


def _event(kit: SyncHarness, record: dict[str, Any], linked: tuple[str, str] | None) -> XeroEvent:
    return XeroEvent(kit.xero_state.default_tenant_id, "INVOICE", record["InvoiceID"], "UPDATE",
                     kit.clock.now(), record=record, linked=linked)  # fmt: skip


def test_hook_on_xero_update_asks_for_a_write_only_for_a_linked_paid_invoice(
    kit: SyncHarness,
) -> None:
    kit.sync()
    invoice = next(i for i in kit.xero("Invoices") if i["InvoiceNumber"] == "KIT-INV-1004")
    assert kit.call("on_xero_update", event=_event(kit, invoice, ("invoices", "1004"))) == []
    paid = {**invoice, "Status": "PAID"}
    assert kit.call("on_xero_update", event=_event(kit, paid, None)) == []
    (write,) = kit.call("on_xero_update", event=_event(kit, paid, ("invoices", "1004")))
    assert (write.stream, write.key, write.action) == ("invoices", "1004", "mark_paid")
    assert write.data["reference"] == "KIT-INV-1004"


def test_hook_apply_write_records_the_payment_at_the_source(kit: SyncHarness) -> None:
    kit.sync()
    invoice = next(i for i in kit.xero("Invoices") if i["InvoiceNumber"] == "KIT-INV-1005")
    event = _event(kit, {**invoice, "Status": "PAID"}, ("invoices", "1005"))
    (write,) = kit.call("on_xero_update", event=event)
    kit.call("apply_write", write=write)
    record = kit.source_state.records["invoices"]["1005"]
    assert (record["status"], record["payment_reference"]) == ("paid", "KIT-INV-1005")


def test_hook_register_commands_adds_the_sandbox_command(plugin: ModuleType) -> None:
    info = register_module(plugin, "tickets")
    assert "register_commands" in info.hooks
    root, sandbox = typer.Typer(), typer.Typer()
    sandbox.command("xero")(lambda: None)  # a group of two, as `xerobridge sandbox` is
    plugin.register_commands(cli=root, sandbox=sandbox)
    shown = CliRunner().invoke(sandbox, ["tickets", "--help"])
    assert shown.exit_code == 0, shown.output
    assert "--port" in shown.output


def test_hook_register_routes_mounts_a_plugins_pages_under_its_name(xb_store: Store) -> None:
    """The dashboard mounts a plugin's routes under /plugins/<name>/ beside the core's pages;
    this plugin's `register_routes()` takes no `pages`, and still works."""
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        import kit_flawed_plugin
    finally:
        sys.path.remove(str(Path(__file__).parent))
    info = register_module(kit_flawed_plugin, "flawed")
    assert "register_routes" in info.hooks
    found = dashboard.routes(Plugins([info]), store=xb_store, xero_http=httpx.AsyncClient())
    (mount,) = [r for r in found if isinstance(r, Mount) and r.path == "/plugins/flawed"]
    with TestClient(Starlette(routes=[mount])) as client:
        answer = client.get("/plugins/flawed/flaws")
    assert answer.status_code == 200
    assert answer.json()["flaws"] == list(kit_flawed_plugin.FLAWS)
