"""A plugin written on the SDK: one stream to Xero, one from Xero, a hook beside its Source."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from xerobridge.sdk import (
    Change,
    Direction,
    Resolution,
    Source,
    SourceContext,
    SourceSettings,
    SourceWrite,
    Stream,
    UserError,
    XeroDocument,
    XeroEvent,
    hookimpl,
)

#: Calls the streams received, for the tests to read.
CALLS: list[tuple[str, Any]] = []


class NotesSettings(SourceSettings):
    """A per-record switch, to show settings_for."""

    per_record_fields: ClassVar[frozenset[str]] = frozenset({"auto_sync"})

    base_url: str = "http://notes.example"
    auto_sync: bool = True


class Customers(Stream[NotesSettings]):
    """Customers to Xero contacts."""

    name = "customers"
    xero_object = "Contact"

    def fetch(
        self, ctx: SourceContext[NotesSettings], cursor: str | None, until: str | None
    ) -> Iterator[Change]:
        CALLS.append(("fetch", cursor))
        yield Change("customers", "1", {"name": "Ada"})

    def resolve(self, ctx: SourceContext[NotesSettings], change: Change) -> Resolution:
        CALLS.append(("resolve", change.key))
        return Resolution.create()

    def build(
        self,
        ctx: SourceContext[NotesSettings],
        change: Change,
        links: Mapping[tuple[str, str, str], str],
    ) -> list[XeroDocument]:
        number = f"{ctx.key_prefix}-C{change.key}"
        body = {"Name": change.data["name"], "ContactNumber": number}
        return [XeroDocument("Contact", body, number, "ContactNumber")]


class Invoices(Stream[NotesSettings]):
    """Xero's sales invoices into the source."""

    name = "invoices"
    xero_object = "Invoice"
    direction = Direction.FROM_XERO
    where = 'Type=="ACCREC"'

    def match(self, ctx: SourceContext[NotesSettings], event: XeroEvent) -> Resolution:
        return Resolution.link("N-7") if event.resource_id == "known" else Resolution.create()

    def on_xero(self, ctx: SourceContext[NotesSettings], event: XeroEvent) -> list[SourceWrite]:
        return [SourceWrite("invoices", event.resource_id, "upsert", xero_id=event.resource_id)]

    async def apply(self, ctx: SourceContext[NotesSettings], write: SourceWrite) -> str | None:
        CALLS.append(("apply", write.key))
        return f"N-{write.key}"

    async def find(self, ctx: SourceContext[NotesSettings], write: SourceWrite) -> str | None:
        return None


async def check(ctx: SourceContext[NotesSettings]) -> str:
    """Refuse a base URL that is not the notes API, as a real check would learn from its answer."""
    if not ctx.settings.base_url.startswith("http://notes."):
        raise UserError(f"base_url {ctx.settings.base_url} is not a notes API; set base_url")
    return "notes API 1.0"


source = Source(
    name="notes",
    title="Notes",
    settings=NotesSettings,
    streams=[Customers(), Invoices()],
    xero_events={"INVOICE"},
    check=check,
)


@hookimpl
def register_commands(cli: Any, sandbox: Any) -> None:
    """A hook the module implements beside its Source."""
    CALLS.append(("register_commands", cli))
