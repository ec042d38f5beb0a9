"""A plugin written as a list of streams: the Source's hooks dispatch to each Stream."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from rich.console import Console

from xerobridge.config import sources
from xerobridge.contract.plugins import Plugins, aiterate, register_module
from xerobridge.sdk import (
    Change,
    Direction,
    Permanent,
    Resolution,
    SourceWrite,
    StreamSpec,
    UserError,
    XeroEvent,
)
from xerobridge.store.db import Store
from xerobridge.store.models import Connection
from xerobridge.sync.runtimes import Runtimes
from xerobridge.testkit.context import make_context

import sdk_plugin


@pytest.fixture
def plugins() -> Plugins:
    info = register_module(sdk_plugin, "notes")
    assert info.status == "ok", info.error
    sdk_plugin.CALLS.clear()
    return Plugins([info])


def _event(resource_id: str, **extra: object) -> XeroEvent:
    return XeroEvent(
        "tenant", "INVOICE", resource_id, "UPDATE", datetime(2026, 1, 1, tzinfo=UTC), **extra
    )  # type: ignore[arg-type]


def test_the_spec_is_built_from_the_streams_and_module_hooks_sit_beside_them(
    plugins: Plugins,
) -> None:
    info = plugins.ok("notes")
    spec = plugins.spec("notes")
    assert [s.name for s in spec.streams] == ["customers", "invoices"]
    invoices = spec.stream("invoices")
    assert invoices.direction is Direction.FROM_XERO
    assert invoices.where == 'Type=="ACCREC"'
    assert spec.xero_events == frozenset({"INVOICE"})
    assert {"source_spec", "fetch_changes", "to_xero", "apply_write", "register_commands"} <= set(
        info.hooks
    )
    plugins.call("notes", "register_commands", cli="root", sandbox=None)
    assert ("register_commands", "root") in sdk_plugin.CALLS


def test_hook_match_xero_record_and_find_written_reach_the_stream_of_the_record(
    plugins: Plugins,
) -> None:
    ctx = make_context(sdk_plugin.NotesSettings(), plugin="notes", key_prefix="NT")
    spec = plugins.spec("notes")

    async def go() -> None:
        changes = [
            c
            async for c in aiterate(
                plugins.call(
                    "notes", "fetch_changes", ctx=ctx, stream=spec.stream("customers"),
                    cursor="c1", until=None,
                )
            )
        ]  # fmt: skip
        assert [c.key for c in changes] == ["1"]
        resolution = await plugins.acall("notes", "map_record", ctx=ctx, change=changes[0])
        assert resolution.action == "create"
        docs = await plugins.acall(
            "notes", "to_xero", ctx=ctx, change=changes[0], links={}, resolution=Resolution.create()
        )
        assert docs[0].natural_key == "NT-C1"
        match = await plugins.acall("notes", "match_xero_record", ctx=ctx, event=_event("known"))
        assert (match.action, match.xero_id) == ("link", "N-7")
        writes = await plugins.acall(
            "notes", "on_xero_update", ctx=ctx, event=_event("inv-9", stream="invoices")
        )
        assert writes == [SourceWrite("invoices", "inv-9", "upsert", xero_id="inv-9")]
        assert await plugins.acall("notes", "apply_write", ctx=ctx, write=writes[0]) == "N-inv-9"
        assert await plugins.acall("notes", "find_written", ctx=ctx, write=writes[0]) is None

    asyncio.run(go())
    assert [c[0] for c in sdk_plugin.CALLS] == ["fetch", "resolve", "apply"]


def test_a_record_of_a_stream_the_plugin_lacks_fails_naming_the_streams(plugins: Plugins) -> None:
    ctx = make_context(sdk_plugin.NotesSettings(), plugin="notes")
    with pytest.raises(Permanent, match=r"no stream 'orders' \(it has: customers, invoices\)"):
        plugins.call("notes", "map_record", ctx=ctx, change=Change("orders", "1"))


def test_a_from_xero_record_finds_its_stream_by_its_xero_object(plugins: Plugins) -> None:
    ctx = make_context(sdk_plugin.NotesSettings(), plugin="notes")
    writes = plugins.call("notes", "on_xero_update", ctx=ctx, event=_event("inv-1"))
    assert writes[0].stream == "invoices"
    unknown = XeroEvent("t", "CONTACT", "c-1", "UPDATE", datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(Permanent, match="no stream from Xero for CONTACT"):
        plugins.call("notes", "on_xero_update", ctx=ctx, event=unknown)


def test_a_stream_without_build_fails_its_record_with_a_message() -> None:
    ctx = make_context(sdk_plugin.NotesSettings())
    with pytest.raises(Permanent, match="stream 'invoices' builds no Xero documents"):
        sdk_plugin.Invoices().build(ctx, Change("invoices", "1"), {})


def test_settings_for_a_record_merge_its_own_values_over_the_sources(
    store: Store, plugins: Plugins
) -> None:
    sources.add(store, plugins, "notes", "pad", key_prefix="PAD")
    spec = plugins.spec("notes")
    sources.update_settings(store, spec, "pad", {"auto_sync": "false"}, record=("customers", "7"))
    with store.transaction() as s:
        source_id = sources.get(s, "pad").id
    assert source_id is not None
    runtimes = Runtimes(
        store, plugins, lambda _source: make_context(sdk_plugin.NotesSettings()).http
    )
    ctx = runtimes.get(source_id).ctx
    assert ctx.settings.auto_sync is True
    assert ctx.settings_for("customers", "7").auto_sync is False
    assert ctx.settings_for("customers", "8").auto_sync is True
    assert ctx.clock is store.clock


def test_linked_lists_a_streams_links_under_a_key_prefix(store: Store, plugins: Plugins) -> None:
    from xerobridge.store.links import StoreLinkView
    from xerobridge.store.models import Link

    sources.add(store, plugins, "notes", "pad", key_prefix="PAD")
    with store.transaction() as s:
        source_id = sources.get(s, "pad").id
        assert source_id is not None
        for key, xero_id in [
            ("requests/4_2/1", "x1"),
            ("requests/4_2/2", "x2"),
            ("requests/412/1", "x3"),
        ]:
            s.add(
                Link(
                    source_id=source_id,
                    stream="worklogs",
                    record_key=key,
                    xero_type="Invoice",
                    xero_id=xero_id,
                )
            )
        s.add(
            Link(
                source_id=source_id,
                stream="worklogs",
                record_key="requests/4_2/3",
                xero_type="Invoice",
            )
        )
    view = StoreLinkView(store, source_id)
    # `_` is no wildcard: requests/412/ is another parent.
    assert view.linked("worklogs", "requests/4_2/") == {
        "requests/4_2/1": "x1",
        "requests/4_2/2": "x2",
    }
    assert len(view.linked("worklogs")) == 3


def test_a_change_on_hold_waits_for_approval(store: Store, plugins: Plugins) -> None:
    from xerobridge.runtime.queue import Queue
    from xerobridge.sync.intake import push_job

    sources.add(store, plugins, "notes", "pad", key_prefix="PAD")
    with store.transaction() as s:
        source_id = sources.get(s, "pad").id
    assert source_id is not None
    runtimes = Runtimes(
        store, plugins, lambda _source: make_context(sdk_plugin.NotesSettings()).http
    )
    runtime = runtimes.get(source_id)
    queue = Queue(store)
    held = Change("customers", "5", {"name": "Bo"}, hold="customer 5 has auto-sync off")
    queue.enqueue(
        [
            push_job(runtime, held, held=bool(held.hold)),
            push_job(runtime, Change("customers", "6", {"name": "Cy"}), held=False),
        ]
    )
    states = {j.record_key: (j.state, j.hold_reason) for j in queue.jobs(source_id=source_id)}
    assert states == {"5": ("held", "approval"), "6": ("queued", "")}


def test_streamspec_defaults_stay_compatible() -> None:
    spec = StreamSpec("orders", "Invoice")
    assert (spec.direction, spec.where, spec.backfill) == (Direction.TO_XERO, None, None)


def test_hook_check_source_refuses_a_wrong_base_url_when_the_source_is_added(
    store_url: str, plugins: Plugins, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from xerobridge.cli import main as cli
    from xerobridge.cli import root

    monkeypatch.setenv("XEROBRIDGE_DATABASE_URL", store_url)
    monkeypatch.setattr(root, "load_plugins", lambda: plugins)
    monkeypatch.setattr(root, "out", Console(width=200))
    with root.open_store().transaction() as s:
        s.add(Connection(name="books", daily_limit=5000))  # the one the sources sync with
    runner = CliRunner()
    bad = runner.invoke(
        cli.app,
        ["sources", "add", "notes", "--name", "pad", "--set", "base_url=http://shop.example"],
    )
    assert isinstance(bad.exception, UserError)
    assert str(bad.exception) == (
        "source pad: base_url http://shop.example is not a notes API; set base_url "
        "(not saved; --no-check saves it anyway)"
    )
    good = runner.invoke(cli.app, ["sources", "add", "notes", "--name", "pad"])
    assert good.exit_code == 0, good.output
    assert "it answered: notes API 1.0" in good.output
    again = runner.invoke(cli.app, ["sources", "check", "pad"])
    assert again.output.strip() == "pad: ok, notes API 1.0"
    unchecked = runner.invoke(
        cli.app,
        ["sources", "add", "notes", "--name", "pad2", "--no-check", "--set", "base_url=http://x"],
    )
    assert unchecked.exit_code == 0, unchecked.output
