"""`PluginPages`: all a plugin's dashboard pages may do, and nothing else.

A plugin's `register_routes(pages)` gets one, bound to that plugin: its handlers see the
plugin's own sources (their settings, read and saved through the core's validation), each
source's streams with their counts and their records (in Xero, or why not, and "retry"), a way
to queue a sync, the plugin's own API client for a source (to show what the source holds), the
Xero accounts the source needs (and "set up accounts"), a read-only view of the organisation's
mirror, and `render` for a page in the dashboard's frame. The store, the engine, the queue and
the other plugins' sources stay out of reach, so that the core can change them without
breaking a plugin's pages.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import sqlalchemy as sa
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from xerobridge.config import connections, sources
from xerobridge.contract.context import XeroMirror
from xerobridge.contract.errors import UserError
from xerobridge.contract.settings import SourceSettings
from xerobridge.contract.types import SourceSpec
from xerobridge.runtime.queue import NewJob, Queue
from xerobridge.store.models import Job, Link
from xerobridge.store.models import Source as SourceRow
from xerobridge.sync.account_checks import AccountCheck, check_accounts
from xerobridge.sync.accounts import AccountOutcome, ensure_accounts
from xerobridge.web.dashboard.render import render, session_of
from xerobridge.xero.mirror import MirrorView

if TYPE_CHECKING:
    import httpx

    from xerobridge.contract.plugins import Plugins
    from xerobridge.store.db import Store
    from xerobridge.sync.runtimes import HttpFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordState:
    """One record of a stream as the pages see it: in Xero, or waiting and why."""

    key: str
    state: Literal["synced", "queued", "held", "failed"]
    xero_id: str = ""
    #: The Xero document's natural key (an invoice number) for a record in Xero.
    natural_key: str = ""
    synced_at: datetime | None = None
    #: Why it is not in Xero yet (the last error of its job).
    error: str = ""
    #: For a held record, what it waits for: approval, mapping, setup or waiting.
    hold: str = ""
    #: The record as last read from the source, for one that is not in Xero.
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PageSource:
    """One configured source of the plugin, as its pages see it."""

    name: str
    key_prefix: str
    enabled: bool
    #: The name of its Xero connection; "" when it has none yet.
    connection: str
    #: Its validated settings; None when they do not validate (`problem` says why).
    settings: SourceSettings | None
    problem: str = ""

    @property
    def url(self) -> str:
        """The core's page of the source (settings, streams, remove)."""
        return f"/sources/{quote(self.name)}"

    @property
    def accounts_url(self) -> str:
        """The core's page of the Xero accounts the source needs."""
        return f"/sources/{quote(self.name)}/accounts"


@dataclass(frozen=True)
class StreamCounts:
    """One stream of a source and how its records stand."""

    name: str
    title: str
    xero_object: str
    direction: str
    enabled: bool
    queued: int  # jobs waiting to run or running
    held: int  # jobs waiting for a person (approval, a mapping)
    failed: int  # jobs that failed for good until the record or a setting is fixed
    synced: int  # records linked to a Xero object


class PluginPages:
    """What a plugin's pages may do; one per plugin per web app.

    It reaches handlers as the argument of `register_routes(pages)` rather than on the
    request: the routes are built once, so a plugin's page module can close over it (and a
    test can build the routes with one), the hook's signature says what a page may use, and
    a plugin whose `register_routes()` takes no argument keeps working, as pluggy passes only
    what an implementation asks for. Every method that takes a source name refuses a source
    of another plugin.
    """

    def __init__(
        self,
        plugin: str,
        *,
        store: Store,
        plugins: Plugins,
        xero_http: httpx.AsyncClient,
        source_http: HttpFactory | None = None,
    ) -> None:
        self.plugin = plugin
        self._store = store
        self._plugins = plugins
        self._xero_http = xero_http
        self._source_http = source_http

    @property
    def spec(self) -> SourceSpec:
        """The plugin's spec: its streams, settings model and the accounts it needs."""
        return self._plugins.spec(self.plugin)

    @property
    def url(self) -> str:
        """Where the plugin's pages are mounted: `/plugins/<name>/`."""
        return f"/plugins/{quote(self.plugin)}/"

    # -- sources and settings ------------------------------------------------------------------

    def sources(self) -> list[PageSource]:
        """The plugin's sources, by name."""
        with self._store.transaction() as s:
            names = {c.id: c.name for c in connections.list_all(s)}
            rows = [src for src in sources.list_all(s) if src.plugin == self.plugin]
            return [self._page_source(s, src, names) for src in rows]

    def source(self, name: str) -> PageSource:
        """One of the plugin's sources, or a UserError saying why not."""
        with self._store.transaction() as s:
            src = self._own(s, name)
            names = {c.id: c.name for c in connections.list_all(s)}
            return self._page_source(s, src, names)

    def settings(self, source: str, record: tuple[str, str] | None = None) -> SourceSettings:
        """The source's validated settings; with `record` (stream, key), that record's."""
        with self._store.transaction() as s:
            src = self._own(s, source)
            return sources.load_settings(s, src, self.spec, record=record)

    def record_settings(self, source: str) -> dict[tuple[str, str], SourceSettings]:
        """The settings of every record that has values of its own, by (stream, key)."""
        with self._store.transaction() as s:
            return sources.scoped_values(s, self._own(s, source), self.spec)

    def save_settings(
        self,
        source: str,
        changes: Mapping[str, str],
        *,
        record: tuple[str, str] | None = None,
    ) -> SourceSettings:
        """Validate and save values typed as text, as `xerobridge settings set` does; with
        `record`, per-record values (only the fields the model allows). Nothing is saved when
        a value is wrong: the UserError names it."""
        self.source(source)
        return sources.update_settings(self._store, self.spec, source, changes, record=record)

    # -- streams and syncing -------------------------------------------------------------------

    def streams(self, source: str) -> list[StreamCounts]:
        """The source's streams with how many of their jobs wait or failed and records synced."""
        with self._store.transaction() as s:
            src = self._own(s, source)
            try:
                off = set(sources.load_settings(s, src, self.spec).disabled_streams)
            except UserError:
                off = set()
            jobs: dict[tuple[str, str], int] = {
                (stream, state): n
                for stream, state, n in s.execute(
                    sa.select(col(Job.stream), col(Job.state), sa.func.count())
                    .where(col(Job.source_id) == src.id)
                    .group_by(col(Job.stream), col(Job.state))
                ).all()
            }
            rows = s.execute(
                sa.select(col(Link.stream), sa.func.count(sa.distinct(col(Link.record_key))))
                .where(col(Link.source_id) == src.id, col(Link.xero_id).is_not(None))
                .group_by(col(Link.stream))
            ).all()
            linked: dict[str, int] = {stream: n for stream, n in rows}  # noqa: C416 (Rows)
        return [
            StreamCounts(
                name=stream.name,
                title=stream.title or stream.name.replace("_", " ").capitalize(),
                xero_object=stream.xero_object,
                direction=str(stream.direction),
                enabled=stream.name not in off,
                queued=jobs.get((stream.name, "queued"), 0) + jobs.get((stream.name, "running"), 0),
                held=jobs.get((stream.name, "held"), 0),
                failed=jobs.get((stream.name, "dead"), 0),
                synced=linked.get(stream.name, 0),
            )
            for stream in self.spec.streams
        ]

    def queue_sync(
        self,
        source: str,
        stream: str | None = None,
        *,
        keys: Sequence[str] = (),
        full: bool = False,
    ) -> int:
        """Queue a read now: of what changed in every enabled stream (or `stream`), of every
        record with `full`, or of the records with `keys`; the worker syncs what it reads.
        Returns how many reads were queued."""
        from xerobridge.web.source_webhooks import enqueue, record_key

        if keys and stream is None:
            raise UserError("name the stream the keys belong to")
        with self._store.transaction() as s:
            src = self._own(s, source)
            settings = sources.load_settings(s, src, self.spec)
        if not src.enabled:
            raise UserError(f"source {source!r} is switched off; switch it on first")
        if stream is not None:
            self.spec.stream(stream)
            if not settings.stream_enabled(stream):
                raise UserError(f"stream {stream!r} of {source!r} is switched off")
        names = [stream] if stream else [
            s.name for s in self.spec.streams if settings.stream_enabled(s.name)
        ]  # fmt: skip
        wanted = [str(k) for k in keys]
        payload: dict[str, Any] | None = {"keys": wanted} if wanted else None
        if full and not wanted:
            payload = {"full": True}
        assert src.id is not None
        jobs = [
            NewJob(source_id=src.id, stream=name, record_key=record_key(wanted), kind="fetch",
                   payload=payload, connection_id=src.connection_id, priority=10)
            for name in names
        ]  # fmt: skip
        if payload == {"full": True}:
            # A full read takes the place of a waiting read of changes: it reads more.
            Queue(self._store).enqueue(jobs)
        else:
            enqueue(Queue(self._store), jobs)
        return len(jobs)

    def records(self, source: str, stream: str) -> list[RecordState]:
        """The stream's records the core knows: those in Xero, and those whose push waits,
        was held or failed (with why); a record of both shows its waiting push."""
        self.spec.stream(stream)
        with self._store.transaction() as s:
            src = self._own(s, source)
            jobs = s.exec(
                select(Job).where(
                    col(Job.source_id) == src.id, col(Job.stream) == stream, col(Job.kind) == "push"
                )
            ).all()
            links = s.exec(
                select(Link).where(
                    col(Link.source_id) == src.id,
                    col(Link.stream) == stream,
                    col(Link.role) == "main",
                    col(Link.xero_id).is_not(None),
                )
            ).all()
        found: dict[str, RecordState] = {
            lk.record_key: RecordState(
                lk.record_key, "synced", str(lk.xero_id), lk.natural_key, lk.updated_at
            )
            for lk in links
            if not lk.record_key.startswith("?")
        }
        states = {"queued": "queued", "running": "queued", "held": "held", "dead": "failed"}
        for job in jobs:
            payload = job.payload or {}
            found[job.record_key] = RecordState(
                job.record_key, states.get(job.state, "queued"),  # type: ignore[arg-type]
                error=job.last_error, data=dict(payload.get("data") or {}),
                hold=job.hold_reason if job.state == "held" else "",
            )  # fmt: skip
        return sorted(found.values(), key=lambda r: r.key)

    def retry(self, source: str, stream: str, keys: Sequence[str]) -> int:
        """Send the failed records with these keys again (and those held for the setup), as
        `xerobridge queue retry` does; how many will be tried."""
        self.spec.stream(stream)
        with self._store.transaction() as s:
            src = self._own(s, source)
        return Queue(self._store).retry_failed(source_id=src.id, stream=stream, keys=keys)

    def approve(self, source: str, stream: str, keys: Sequence[str]) -> int:
        """Release the records with these keys that are held for a person's approval; how many."""
        return Queue(self._store).approve(job_ids=self._held(source, stream, keys, "approval"))

    def reject(self, source: str, stream: str, keys: Sequence[str]) -> int:
        """Take the records with these keys that are held for approval out of the queue, as a
        person's decision (the sync log says so); how many."""
        return Queue(self._store).cancel(self._held(source, stream, keys, "approval"))

    def _held(self, source: str, stream: str, keys: Sequence[str], reason: str) -> list[int]:
        self.spec.stream(stream)
        with self._store.transaction() as s:
            src = self._own(s, source)
            return [
                int(job_id)
                for job_id in s.exec(
                    select(Job.id).where(
                        col(Job.source_id) == src.id, col(Job.stream) == stream,
                        col(Job.state) == "held", col(Job.hold_reason) == reason,
                        col(Job.record_key).in_(list(keys)),
                    )
                ).all()
                if job_id is not None
            ]  # fmt: skip

    @contextlib.asynccontextmanager
    async def source_client(self, source: str) -> AsyncIterator[Any]:
        """The plugin's own API client for a source (`ctx.client`), to show what the source
        holds; its connections are closed when the block ends."""
        from xerobridge.sync.runtimes import Runtimes, default_http

        with self._store.transaction() as s:
            src = self._own(s, source)
        runtimes = Runtimes(self._store, self._plugins, self._source_http or default_http)
        try:
            assert src.id is not None
            yield runtimes.get(src.id).ctx.client
        finally:
            await runtimes.aclose()

    # -- Xero --------------------------------------------------------------------------------

    def mirror(self, source: str) -> XeroMirror | None:
        """The source's organisation as the local mirror holds it (accounts, items, contacts,
        tax rates; no API calls); None while the source has no connection."""
        src = self.source(source)
        with self._store.transaction() as s:
            row = sources.get(s, src.name)
        if row.connection_id is None:
            return None
        return MirrorView(self._store, row.connection_id)

    def account_checks(self, source: str) -> list[AccountCheck]:
        """The Xero accounts the source needs, each with whether the organisation has it."""
        settings = self.settings(source)
        return check_accounts(self.spec, settings, self.mirror(source))

    async def setup_accounts(self, source: str) -> list[AccountOutcome]:
        """Create the accounts the source needs where Xero lacks them (`setup-accounts`)."""
        self.source(source)
        return await setup_accounts(self._store, self._plugins, self._xero_http, source)

    # -- the page ------------------------------------------------------------------------------

    def render(
        self, request: Request, template: str, *, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        """A template of the plugin's `templates/` folder in the dashboard's frame; it extends
        `dashboard/base.html`, and its forms carry `{{ csrf_field }}`."""
        return render(request, template, status_code=status_code, **context)

    def csv(self, filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
        """A download of rows as CSV; a cell a spreadsheet would run as a formula (`=`, `+`,
        `-`, `@` first) is written with a `'` before it, so that text from a source stays text."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(header)
        for row in rows:
            writer.writerow([_inert(cell) for cell in row])
        disposition = f'attachment; filename="{quote(filename)}"'
        return Response(out.getvalue(), media_type="text/csv",
                        headers={"Content-Disposition": disposition})  # fmt: skip

    def flash(
        self, request: Request, message: str, level: Literal["info", "error"] = "info"
    ) -> None:
        """A message for the next page the person sees (after a form's redirect)."""
        session_of(request).flash(message, level)

    # -- inside --------------------------------------------------------------------------------

    def _own(self, s: Any, name: str) -> SourceRow:
        src = sources.get(s, name)
        if src.plugin != self.plugin:
            raise UserError(f"source {name} is a {src.plugin} source, not a {self.plugin} one")
        return src

    def _page_source(self, s: Any, src: SourceRow, names: Mapping[Any, str]) -> PageSource:
        settings: SourceSettings | None = None
        problem = ""
        try:
            settings = sources.load_settings(s, src, self.spec)
        except UserError as exc:  # the source's settings page says which value to fix
            problem = str(exc)
        return PageSource(
            name=src.name,
            key_prefix=src.key_prefix,
            enabled=src.enabled,
            connection=names.get(src.connection_id, "") if src.connection_id else "",
            settings=settings,
            problem=problem,
        )


async def setup_accounts(
    store: Store, plugins: Plugins, xero_http: httpx.AsyncClient, source: str
) -> list[AccountOutcome]:
    """`xerobridge setup-accounts <source>` for the dashboard, on the web app's Xero client."""
    from xerobridge.sync.engine import Engine

    with store.transaction() as s:
        src = sources.get(s, source)
    engine = Engine(store, plugins, xero_http=xero_http)
    try:
        return await ensure_accounts(engine, src)
    finally:
        # The web app's client outlives this engine: close only the source clients it made.
        await engine.runtimes.aclose()


def _inert(cell: Any) -> str:
    text = "" if cell is None else str(cell)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def said(outcome: AccountOutcome) -> str:
    """One account's outcome as the dashboard says it."""
    return f"{outcome.name} ({outcome.code}) {'created' if outcome.created else 'exists'}"


__all__ = ["AccountCheck", "AccountOutcome", "PageSource", "PluginPages", "StreamCounts"]
