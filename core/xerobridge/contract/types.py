"""The values that pass between the core and source plugins, and the errors hooks raise.

Everything a hook receives or returns is defined here, so that a plugin author reads one module
to know the contract. Values are frozen dataclasses: plugins build them, the core reads them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from xerobridge.contract.settings import SourceSettings

from xerobridge.contract.errors import UserError
from xerobridge.xero.objects import DOCUMENT_KEYS, xero_object

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


# -- specs ----------------------------------------------------------------------------------------


class Direction(StrEnum):
    """Which way a stream's records travel."""

    TO_XERO = "to_xero"
    FROM_XERO = "from_xero"


class CursorKind(StrEnum):
    """How a stream remembers where it got to."""

    TIMESTAMP = "timestamp"  # the core derives the cursor from Change.updated_at
    TOKEN = "token"  # the plugin yields opaque Checkpoint values
    NONE = "none"  # every run reads everything


class DeleteMode(StrEnum):
    """How deletions at the source become known."""

    NONE = "none"  # records are never deleted, or deletions do not matter
    CHANGES = "changes"  # fetch_changes yields Change(op="delete")
    RECONCILE = "reconcile"  # deleted without trace: the core compares known keys via fetch_records


@dataclass(frozen=True)
class StreamSpec:
    """One kind of record of a source and the Xero object it becomes."""

    name: str
    xero_object: str
    direction: Direction = Direction.TO_XERO
    depends_on: tuple[str, ...] = ()
    cursor: CursorKind = CursorKind.TIMESTAMP
    deletes: DeleteMode = DeleteMode.NONE
    #: How far before the saved cursor a run reads again, against writes committed late.
    lookback: timedelta = timedelta(minutes=2)
    title: str = ""
    #: Read history newest first: the first run reads this recent span, then everything older.
    backfill: timedelta | None = None
    #: From Xero: the `where` filter the core reads the Xero object with (`Type=="ACCREC"`).
    where: str | None = None


@dataclass(frozen=True)
class AccountNeed:
    """A Xero account the source needs, named by one of its settings."""

    setting: str
    account_type: str  # Xero AccountType: BANK, REVENUE, INVENTORY, DIRECTCOSTS, ...
    default_name: str


@dataclass(frozen=True)
class SourceSandbox:
    """A fresh emulator of a source, for the demo and tests: its ASGI app, and the source
    settings (base_url, token ...) that reach it when requests are routed to the app.

    `xero` holds what a source with streams from Xero expects the organisation to have (by
    plural: `{"Contacts": [...], "Items": [...]}`); the demo makes it in its Xero sandbox.
    """

    app: Any
    settings: Mapping[str, str]
    xero: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceSpec:
    """What a plugin is: its streams, its settings model, and what it wants from Xero."""

    name: str
    title: str
    streams: tuple[StreamSpec, ...]
    settings: type[SourceSettings]
    xero_events: frozenset[str] = frozenset()  # Xero webhook resource types: INVOICE, CONTACT
    xero_accounts: tuple[AccountNeed, ...] = ()
    sandbox: Callable[[], SourceSandbox] | None = None  # a fresh emulator of the source
    #: Builds the plugin's API client once per source from its context (`ctx.client`); the
    #: client authenticates through `httpx.Auth` on `ctx.http`.
    client: Callable[[Any], Any] | None = None
    description: str = ""

    def stream(self, name: str) -> StreamSpec:
        """The stream called `name`, or a UserError listing the ones that exist."""
        for stream in self.streams:
            if stream.name == name:
                return stream
        known = ", ".join(s.name for s in self.streams)
        raise UserError(f"source type {self.name!r} has no stream {name!r}; it has: {known}")

    def validate(self) -> None:
        """Raise ValueError naming the first thing wrong with this spec."""
        from xerobridge.contract.settings import SourceSettings

        if not _NAME.match(self.name):
            raise ValueError(
                f"source name {self.name!r} must be lower-case letters, digits and _ (max 40)"
            )
        if not self.streams:
            raise ValueError(f"source {self.name!r} declares no streams")
        names = [s.name for s in self.streams]
        for stream in self.streams:
            if not _NAME.match(stream.name):
                raise ValueError(f"stream name {stream.name!r} must be lower-case letters/digits/_")
            if names.count(stream.name) > 1:
                raise ValueError(f"stream {stream.name!r} is declared twice")
            if stream.direction is Direction.TO_XERO and stream.xero_object not in DOCUMENT_KEYS:
                known = ", ".join(DOCUMENT_KEYS)
                raise ValueError(
                    f"stream {stream.name!r}: unknown Xero object {stream.xero_object!r}; "
                    f"use one of {known}"
                )
            if stream.direction is Direction.FROM_XERO:
                try:
                    xero_object(stream.xero_object)
                except KeyError:
                    raise ValueError(
                        f"stream {stream.name!r}: unknown Xero object {stream.xero_object!r}"
                    ) from None
            elif stream.where:
                raise ValueError(f"stream {stream.name!r}: only a stream from Xero has `where`")
            for dep in stream.depends_on:
                if dep not in names:
                    raise ValueError(f"stream {stream.name!r} depends on unknown stream {dep!r}")
        _check_acyclic({s.name: s.depends_on for s in self.streams})
        if not (isinstance(self.settings, type) and issubclass(self.settings, SourceSettings)):
            raise ValueError("settings must be a subclass of xerobridge.sdk.SourceSettings")
        fields = self.settings.model_fields
        for need in self.xero_accounts:
            if need.setting not in fields:
                raise ValueError(f"account need names unknown setting {need.setting!r}")


def _check_acyclic(graph: Mapping[str, tuple[str, ...]]) -> None:
    state: dict[str, int] = {}

    def visit(node: str, path: tuple[str, ...]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            raise ValueError("streams depend on each other in a cycle: " + " -> ".join(path))
        state[node] = 1
        for dep in graph[node]:
            visit(dep, (*path, dep))
        state[node] = 2

    for node in graph:
        visit(node, (node,))


# -- what fetch_changes yields --------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One created, updated or deleted source record, as read from the source."""

    stream: str
    key: str
    data: Mapping[str, Any] = field(default_factory=dict)
    op: Literal["upsert", "delete"] = "upsert"
    #: The source's own change time; for TIMESTAMP streams the core derives the cursor from it.
    updated_at: datetime | None = None
    #: Why this change waits for a person's approval before it is pushed (a customer whose
    #: auto-sync is off); empty to follow the source's `require_approval` setting.
    hold: str = ""


@dataclass(frozen=True)
class Checkpoint:
    """An opaque position to resume from (for TOKEN streams); saved with the jobs before it."""

    value: str


# -- what map_record returns ----------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A Xero object that might be the record, offered to a person."""

    xero_id: str
    label: str
    reason: str = ""


@dataclass(frozen=True)
class Dependency:
    """A record that must be in Xero before this one (an order's customer, its products).

    A record of a stream from Xero (a worklog's type) is named by its source key; until it has
    come from Xero, the record needing it fails with `missing` (what a person should do), and is
    tried again by itself once it has.
    """

    stream: str
    key: str
    role: str = "main"
    missing: str = ""


@dataclass(frozen=True)
class Resolution:
    """Which Xero object a source record is, and what it needs first.

    `facts` are what `map_record` decided that `to_xero` builds on (a contact name another
    contact already has, so it must be made unique): `to_xero` gets the resolution and reads
    them, and stays pure, looking nothing up itself.
    """

    action: Literal["link", "create", "choose", "skip"]
    xero_id: str | None = None
    candidates: tuple[Candidate, ...] = ()
    reason: str = ""
    needs: tuple[Dependency, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def link(
        cls,
        xero_id: str,
        *,
        needs: tuple[Dependency, ...] = (),
        facts: Mapping[str, Any] | None = None,
    ) -> Resolution:
        """The record is this existing Xero object (found by a match)."""
        return cls("link", xero_id=xero_id, needs=needs, facts=dict(facts or {}))

    @classmethod
    def create(
        cls, *, needs: tuple[Dependency, ...] = (), facts: Mapping[str, Any] | None = None
    ) -> Resolution:
        """The record is new to Xero (or already linked): push it."""
        return cls("create", needs=needs, facts=dict(facts or {}))

    @classmethod
    def choose(cls, reason: str, candidates: tuple[Candidate, ...] = ()) -> Resolution:
        """A person must pick one of the candidates or ask for a new object."""
        return cls("choose", candidates=candidates, reason=reason)

    @classmethod
    def skip(cls, reason: str) -> Resolution:
        """Nothing to do for this record; the reason goes into the sync log."""
        return cls("skip", reason=reason)

    def with_facts(self, **facts: Any) -> Resolution:
        """The same resolution with these facts added."""
        return replace(self, facts={**self.facts, **facts})


# -- what to_xero returns -------------------------------------------------------------------------


@dataclass(frozen=True)
class XeroDocument:
    """One document to write to Xero, with the natural key the core finds it again by.

    `body` is the document as Xero's API takes it (one element of the plural envelope).
    `key_field` is the body field holding `natural_key`, which includes the source's key prefix,
    so that after a crash the core can find what it wrote without one look-up per record.
    `role` tells apart several documents made from one record (an invoice and its payment).
    `append` marks a document several records add lines to (a customer's open invoice for the
    month): `body` carries only this record's lines, and the core merges them into the
    document under a lock (see `xerobridge.sync.appends`).
    `claims` name what the document puts in Xero that must be there once only (a
    subscription's billing period): the first record to write a claim holds it, and another
    record's document carrying it is not written but built again, when `LinkView.claimed_by`
    tells its build who holds it (see `xerobridge.store.claims`).
    """

    kind: str
    body: Mapping[str, Any]
    natural_key: str
    key_field: str
    role: str = "main"
    append: bool = False
    claims: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        fields = DOCUMENT_KEYS.get(self.kind)
        if fields is None:
            raise ValueError(f"unknown Xero object {self.kind!r}")
        if self.key_field not in fields:
            raise ValueError(f"{self.kind} natural key must sit in one of {fields}")
        if self.body.get(self.key_field) != self.natural_key:
            raise ValueError(
                f"{self.kind} body field {self.key_field} must equal the natural key "
                f"{self.natural_key!r}"
            )


# -- Xero to source -------------------------------------------------------------------------------


@dataclass(frozen=True)
class XeroEvent:
    """A change in Xero (from a webhook or a poll), with the object as the core fetched it once."""

    tenant_id: str
    resource: str  # INVOICE, CONTACT, ...
    resource_id: str
    event_type: Literal["CREATE", "UPDATE"]
    event_time: datetime
    record: Mapping[str, Any] | None = None
    #: The source record linked to this Xero object, if any: (stream, key).
    linked: tuple[str, str] | None = None
    #: The from-Xero stream this record is read for, when it belongs to one.
    stream: str | None = None
    #: Read by the stream's first read or its history: a record that was in Xero before the
    #: source was added (a plugin may treat those apart, e.g. link by name but not create).
    initial: bool = False


@dataclass(frozen=True)
class SourceWrite:
    """A write the core makes in the source on a plugin's behalf, as a queued, retried job."""

    stream: str
    key: str
    action: str  # plugin-defined verb the plugin's client understands, e.g. "mark_paid"
    data: Mapping[str, Any] = field(default_factory=dict)
    #: The Xero object this write carries over (a create stores it where the source keeps it).
    xero_id: str | None = None
    #: Whether it creates a record (then the core asks `find_written` before a retry).
    create: bool = False


@dataclass(frozen=True)
class Notice:
    """What `on_xero` may return beside its writes: something a person must do in the source
    by hand (archive a record the API cannot archive). The core adds it to the action log once
    per Xero record and message, however often the record is read again."""

    message: str
    #: Where the person does it (the record's page in the source), if the plugin knows.
    url: str = ""


@dataclass(frozen=True)
class Written:
    """What `apply_write` may return instead of a bare key: the key of the record it wrote and
    the source's change time of that record after the write. A record of a stream to Xero read
    back at exactly that time is the echo of this write, and is not pushed to Xero again."""

    key: str
    updated_at: datetime | None = None
