"""The SDK's `Source` as the core calls it: loaded as a plugin, each hook reaches the right
stream; the hooks of the direction from Xero go to the stream a record is read for, the stream
of the record it is linked to, or the stream from Xero of its object."""

from __future__ import annotations

import asyncio
import sys
import types
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from xerobridge.contract.plugins import Plugins, register_module
from xerobridge.sdk import (
    Direction,
    Permanent,
    Resolution,
    Source,
    SourceContext,
    SourceSettings,
    SourceWrite,
    Stream,
    XeroEvent,
)
from xerobridge.testkit import make_context

#: What the source holds: Xero contact id -> the customer key created for it.
CREATED = {"c-7": "C7"}


class Customers(Stream[SourceSettings]):
    """Customers to Xero."""

    name = "customers"
    xero_object = "Contact"


class XeroContacts(Stream[SourceSettings]):
    """Contacts made in Xero become customers of the source."""

    name = "xero_contacts"
    xero_object = "Contact"
    direction = Direction.FROM_XERO

    def match(self, ctx: SourceContext[SourceSettings], event: XeroEvent) -> Resolution:
        number = str((event.record or {}).get("ContactNumber") or "")
        ours = f"{ctx.key_prefix}-C-"
        if number.startswith(ours):
            return Resolution.link(number.removeprefix(ours))
        return Resolution.create()

    def on_xero(self, ctx: SourceContext[SourceSettings], event: XeroEvent) -> list[SourceWrite]:
        name = str((event.record or {}).get("Name") or "")
        return [SourceWrite(self.name, event.resource_id, "create", {"name": name},
                            xero_id=event.resource_id, create=True)]  # fmt: skip

    async def find(self, ctx: SourceContext[SourceSettings], write: SourceWrite) -> str | None:
        return CREATED.get(write.xero_id or "")


@pytest.fixture
def plugins() -> Iterator[Plugins]:
    module = types.ModuleType("xerobridge_sdktest")
    module.source = Source(  # type: ignore[attr-defined]
        name="sdktest",
        title="SDK test",
        settings=SourceSettings,
        streams=[Customers(), XeroContacts()],
        xero_events={"CONTACT", "INVOICE"},  # not CREDITNOTE
    )
    sys.modules[module.__name__] = module
    try:
        info = register_module(module, "sdktest")
        assert info.status == "ok", info.error
        yield Plugins([info])
    finally:
        del sys.modules[module.__name__]


def _event(resource: str, record: dict, **where: object) -> XeroEvent:
    return XeroEvent("t", resource, "c-7", "CREATE", datetime(2026, 1, 1, tzinfo=UTC),
                     record=record, **where)  # type: ignore[arg-type]  # fmt: skip


def test_the_source_loads_with_every_hook_it_dispatches(plugins: Plugins) -> None:
    assert {"match_xero_record", "find_written", "on_xero_update"} <= set(
        plugins.ok("sdktest").hooks
    )
    directions = {s.name: s.direction for s in plugins.spec("sdktest").streams}
    assert directions == {"customers": Direction.TO_XERO, "xero_contacts": Direction.FROM_XERO}


def test_hook_match_xero_record_asks_the_stream_the_record_is_for(plugins: Plugins) -> None:
    ctx = make_context(SourceSettings(), key_prefix="SHOP")
    ours = {"ContactNumber": "SHOP-C-42", "Name": "Ada"}
    read = _event("CONTACT", ours, stream="xero_contacts")
    assert plugins.call("sdktest", "match_xero_record", ctx=ctx, event=read) == Resolution.link(
        "42"
    )
    # No stream named: the stream from Xero of the record's object.
    new = _event("CONTACT", {"Name": "Grace"})
    assert plugins.call("sdktest", "match_xero_record", ctx=ctx, event=new).action == "create"
    # An invoice: no stream takes invoices from Xero, so it is left out, saying why.
    skipped = plugins.call("sdktest", "match_xero_record", ctx=ctx, event=_event("INVOICE", {}))
    assert skipped.action == "skip" and "no stream from Xero" in skipped.reason


def test_hook_on_xero_update_for_a_record_no_stream_is_for_asks_nothing(plugins: Plugins) -> None:
    """An invoice made in Xero by a person is nothing to this plugin; a credit note, which it
    never asked to hear of, is a mistake of the core's, said so."""
    ctx = make_context(SourceSettings())
    assert plugins.call("sdktest", "on_xero_update", ctx=ctx, event=_event("INVOICE", {})) == []
    with pytest.raises(Permanent, match="no stream from Xero for CREDITNOTE"):
        plugins.call("sdktest", "on_xero_update", ctx=ctx, event=_event("CREDITNOTE", {}))
    (write,) = plugins.call("sdktest", "on_xero_update", ctx=ctx,
                            event=_event("CONTACT", {"Name": "Grace"}))  # fmt: skip
    assert (write.stream, write.action, write.xero_id, write.create) == (
        "xero_contacts", "create", "c-7", True
    )  # fmt: skip


def test_hook_find_written_asks_the_writes_stream_by_the_xero_id(plugins: Plugins) -> None:
    ctx = make_context(SourceSettings())

    def find(write: SourceWrite) -> str | None:
        found: str | None = asyncio.run(
            plugins.acall("sdktest", "find_written", ctx=ctx, write=write)
        )
        return found

    assert find(SourceWrite("xero_contacts", "c-7", "create", xero_id="c-7", create=True)) == "C7"
    assert find(SourceWrite("xero_contacts", "c-8", "create", xero_id="c-8", create=True)) is None
    # A stream that writes nothing finds nothing either (the default).
    assert find(SourceWrite("customers", "1", "create", xero_id="c-7", create=True)) is None
