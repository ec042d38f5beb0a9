"""`Stream`: one kind of record of a source, written as a class with a method per step.

A stream to Xero reads its records (`fetch`, `fetch_keys`), says which Xero object each one is
(`resolve`) and builds its documents (`build`). A stream from Xero is read by the core; the
stream says whether a Xero record is an existing source record (`match`), what to write in the
source for it (`on_xero`), how to make that write (`apply`) and how to find a create whose answer
was lost (`find`). The core owns cursors, links, queues and every call to Xero.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar, Generic

from xerobridge.contract.context import SettingsT, SourceContext
from xerobridge.contract.errors import Permanent
from xerobridge.contract.types import (
    Change,
    Checkpoint,
    CursorKind,
    DeleteMode,
    Direction,
    Notice,
    Resolution,
    SourceWrite,
    StreamSpec,
    XeroDocument,
    XeroEvent,
)

#: What `fetch` may return: an (async) iterable of changes and checkpoints.
Changes = AsyncIterator[Change | Checkpoint] | Iterable[Change | Checkpoint]


class Stream(Generic[SettingsT]):
    """One stream of a source. Subclass it, set the class attributes, override the steps.

    The defaults make a stream that reads nothing and creates what it is given, so a
    dependency-only stream (records other streams name in their `needs`) overrides only
    `fetch_keys` and `build`.
    """

    name: ClassVar[str]
    #: The Xero object its records become (to Xero) or come from (from Xero).
    xero_object: ClassVar[str]
    direction: ClassVar[Direction] = Direction.TO_XERO
    depends_on: ClassVar[tuple[str, ...]] = ()
    cursor: ClassVar[CursorKind] = CursorKind.TIMESTAMP
    deletes: ClassVar[DeleteMode] = DeleteMode.NONE
    lookback: ClassVar[timedelta] = timedelta(minutes=2)
    backfill: ClassVar[timedelta | None] = None
    title: ClassVar[str] = ""
    #: From Xero: a Xero `where` filter the core reads the object with (`Type=="ACCREC"`).
    where: ClassVar[str | None] = None

    def spec(self) -> StreamSpec:
        """This stream as the core's `StreamSpec`."""
        return StreamSpec(
            name=self.name,
            xero_object=self.xero_object,
            direction=self.direction,
            depends_on=self.depends_on,
            cursor=self.cursor,
            deletes=self.deletes,
            lookback=self.lookback,
            title=self.title,
            backfill=self.backfill,
            where=self.where,
        )

    # -- to Xero -----------------------------------------------------------------------------

    def fetch(
        self, ctx: SourceContext[SettingsT], cursor: str | None, until: str | None
    ) -> Changes:
        """The records changed since `cursor` (and before `until`, for a backfill's history)."""
        return ()

    def fetch_keys(
        self, ctx: SourceContext[SettingsT], keys: list[str]
    ) -> AsyncIterator[Change] | Iterable[Change]:
        """The records with these keys; a key left out is taken as deleted."""
        raise Permanent(
            f"stream {self.name!r} cannot read records by key; wait for the next scheduled read"
        )

    def resolve(self, ctx: SourceContext[SettingsT], change: Change) -> Resolution:
        """Which Xero object the record is, and what it needs first (may run ahead of time)."""
        return Resolution.create()

    def deleted(self, ctx: SourceContext[SettingsT], change: Change) -> Resolution | None:
        """What a record deleted at the source (`change.op == "delete"`) is in Xero, instead of
        `resolve`. None, the default: its Xero object stays as it is, as xerobridge never
        deletes what it wrote; the record is skipped with a message saying so."""
        return None

    def build(
        self,
        ctx: SourceContext[SettingsT],
        change: Change,
        links: Mapping[tuple[str, str, str], str],
    ) -> list[XeroDocument]:
        """The Xero documents for the record; pure: the same input gives the same documents.

        A build that depends on what `resolve` decided declares a keyword argument
        `resolution` and reads its `facts`.
        """
        raise Permanent(f"stream {self.name!r} builds no Xero documents (it has no `build`)")

    # -- from Xero ---------------------------------------------------------------------------

    def match(
        self, ctx: SourceContext[SettingsT], event: XeroEvent
    ) -> Resolution | Awaitable[Resolution]:
        """Whether a Xero record not yet linked is an existing source record (may be async).

        `Resolution.link(source_key)` links it, `Resolution.create()` makes a new source record,
        `Resolution.choose(...)` asks a person, `Resolution.skip(...)` ignores it.
        """
        return Resolution.create()

    def on_xero(
        self, ctx: SourceContext[SettingsT], event: XeroEvent
    ) -> Sequence[SourceWrite | Notice]:
        """The writes to make in the source for a change of a Xero record (pure), and what a
        person must do there by hand (`Notice`)."""
        return []

    async def apply(self, ctx: SourceContext[SettingsT], write: SourceWrite) -> str | None:
        """Make one write in the source; the source key of what it created or updated."""
        raise Permanent(f"stream {self.name!r} writes nothing to its source (it has no `apply`)")

    async def find(self, ctx: SourceContext[SettingsT], write: SourceWrite) -> str | None:
        """Before a create is retried: the source key of a record an earlier try created (found
        by the Xero id the create carried), or None when there is none."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def stream_of(streams: Mapping[str, Stream[Any]], name: str, plugin: str) -> Stream[Any]:
    """The stream called `name`, or a Permanent error naming the plugin's streams."""
    try:
        return streams[name]
    except KeyError:
        known = ", ".join(streams) or "none"
        raise Permanent(f"plugin {plugin!r} has no stream {name!r} (it has: {known})") from None
