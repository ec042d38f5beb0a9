"""`Source`: a plugin written as a list of streams; it implements the hooks by dispatching.

The hook names stay the stable contract (see `xerobridge.contract.hookspecs`); a plugin module
that creates a `Source` is registered through it, and may still implement any hook directly
(`register_routes`, `register_commands`) beside it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from xerobridge.contract.context import SourceContext
from xerobridge.contract.errors import Permanent
from xerobridge.contract.hookspecs import hookimpl
from xerobridge.contract.settings import SourceSettings
from xerobridge.contract.types import (
    AccountNeed,
    Change,
    Direction,
    Notice,
    Resolution,
    SourceSandbox,
    SourceSpec,
    SourceWrite,
    StreamSpec,
    XeroDocument,
    XeroEvent,
)
from xerobridge.sdk.stream import Changes, Stream, stream_of


class Source:
    """A source plugin: its name, settings model, streams, client factory and sandbox."""

    #: How the plugin loader recognises a Source among a plugin module's attributes.
    is_xerobridge_source = True

    def __init__(
        self,
        *,
        name: str,
        title: str,
        settings: type[SourceSettings],
        streams: Sequence[Stream[Any]],
        client: Callable[[SourceContext[Any]], Any] | None = None,
        xero_events: Iterable[str] = (),
        xero_accounts: Sequence[AccountNeed] = (),
        sandbox: Callable[[], SourceSandbox] | None = None,
        description: str = "",
        check: Callable[[SourceContext[Any]], Any] | None = None,
        notification: Callable[[Any], list[tuple[str, list[str]]] | None] | None = None,
    ) -> None:
        self.name = name
        self.title = title
        self.settings = settings
        self.streams: dict[str, Stream[Any]] = {s.name: s for s in streams}
        self.client = client
        self.xero_events = frozenset(xero_events)
        self.xero_accounts = tuple(xero_accounts)
        self.sandbox = sandbox
        self.description = description
        self.check = check
        #: Reads the source's own webhook body (`read_notification`).
        self.notification = notification

    def stream(self, name: str) -> Stream[Any]:
        """The stream called `name`."""
        return stream_of(self.streams, name, self.name)

    def _from_xero(self, event: XeroEvent) -> Stream[Any] | None:
        """The stream a Xero record is for: the one it is read for, the one of the record it
        is linked to, or the stream from Xero of its object. None for a record of a kind the
        plugin hears about (`xero_events`) that no stream is for: an invoice a person made in
        Xero, for a plugin that hears of invoices only to learn when its own are paid."""
        if event.stream:
            return self.stream(event.stream)
        if event.linked:
            return self.stream(event.linked[0])
        kind = event.resource.replace("_", "").lower()
        for stream in self.streams.values():
            if stream.direction is Direction.FROM_XERO and stream.xero_object.lower() == kind:
                return stream
        if event.resource.upper() in {e.upper() for e in self.xero_events}:
            return None
        raise Permanent(f"plugin {self.name!r} has no stream from Xero for {event.resource}")

    # -- the hooks ---------------------------------------------------------------------------

    @hookimpl
    def source_spec(self) -> SourceSpec:
        """The plugin's spec, from its streams."""
        return SourceSpec(
            name=self.name,
            title=self.title,
            description=self.description,
            streams=tuple(s.spec() for s in self.streams.values()),
            settings=self.settings,
            xero_events=self.xero_events,
            xero_accounts=self.xero_accounts,
            sandbox=self.sandbox,
            client=self.client,
        )

    @hookimpl
    async def check_source(self, ctx: SourceContext[Any]) -> str | None:
        """The plugin's `check`: one cheap read that proves the URL and credentials."""
        if self.check is None:
            return None
        result = self.check(ctx)
        return await result if inspect.isawaitable(result) else result

    @hookimpl
    def fetch_changes(
        self, ctx: SourceContext[Any], stream: StreamSpec, cursor: str | None, until: str | None
    ) -> Changes:
        """The stream's `fetch`."""
        return self.stream(stream.name).fetch(ctx, cursor, until)

    @hookimpl
    def fetch_records(
        self, ctx: SourceContext[Any], stream: StreamSpec, keys: list[str]
    ) -> Iterable[Change] | Any:
        """The stream's `fetch_keys`."""
        return self.stream(stream.name).fetch_keys(ctx, keys)

    @hookimpl
    def map_record(self, ctx: SourceContext[Any], change: Change) -> Resolution:
        """The stream's `resolve`, or `deleted` for a record deleted at the source."""
        stream = self.stream(change.stream)
        if change.op != "delete":
            return stream.resolve(ctx, change)
        resolution = stream.deleted(ctx, change)
        if resolution is not None:
            return resolution
        return Resolution.skip(
            f"{stream.name.replace('_', ' ')} {change.key} was deleted in {self.title}; "
            f"xerobridge never deletes Xero objects, so its Xero {stream.xero_object.lower()} "
            "stays as it is (archive or void it in Xero if it is no longer wanted)"
        )

    @hookimpl
    def to_xero(
        self,
        ctx: SourceContext[Any],
        change: Change,
        links: Mapping[tuple[str, str, str], str],
        resolution: Resolution,
    ) -> list[XeroDocument]:
        """The stream's `build` (given the resolution when it takes one, as a hook would); a
        skipped record has nothing to build."""
        if resolution is not None and resolution.action == "skip":
            return []
        stream = self.stream(change.stream)
        build: Any = stream.build
        if _takes_resolution(type(stream).build):
            return build(ctx, change, links, resolution=resolution)
        return build(ctx, change, links)

    @hookimpl
    def match_xero_record(
        self, ctx: SourceContext[Any], event: XeroEvent
    ) -> Resolution | Awaitable[Resolution]:
        """The from-Xero stream's `match`."""
        stream = self._from_xero(event)
        if stream is None:
            return Resolution.skip(f"plugin {self.name!r} has no stream from Xero for it")
        return stream.match(ctx, event)

    @hookimpl
    def on_xero_update(
        self, ctx: SourceContext[Any], event: XeroEvent
    ) -> list[SourceWrite | Notice]:
        """The from-Xero stream's `on_xero`; nothing for a record no stream is for."""
        stream = self._from_xero(event)
        return [] if stream is None else list(stream.on_xero(ctx, event))

    @hookimpl
    async def apply_write(self, ctx: SourceContext[Any], write: SourceWrite) -> str | None:
        """The write's stream's `apply`."""
        return await self.stream(write.stream).apply(ctx, write)

    @hookimpl
    async def find_written(self, ctx: SourceContext[Any], write: SourceWrite) -> str | None:
        """The write's stream's `find`."""
        return await self.stream(write.stream).find(ctx, write)

    @hookimpl
    def read_notification(self, body: Any) -> list[tuple[str, list[str]]] | None:
        """The plugin's `notification`: its own webhook body as the records to read."""
        return None if self.notification is None else self.notification(body)


@functools.cache
def _takes_resolution(build: Callable[..., Any]) -> bool:
    """Whether a stream class's `build` declares `resolution` (asked once per class: a build
    runs for every record)."""
    return "resolution" in inspect.signature(build).parameters
