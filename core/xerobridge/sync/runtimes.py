"""What the engine knows about one configured source while it works: its plugin, spec,
settings and the `ctx` its hooks receive."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlmodel import Session, col, select

from xerobridge.clock import Clock
from xerobridge.config import sources
from xerobridge.contract.context import OrgFacts, SourceContext
from xerobridge.contract.errors import UserError
from xerobridge.contract.plugins import Plugins
from xerobridge.contract.settings import SourceSettings
from xerobridge.contract.types import SourceSpec
from xerobridge.runtime.pacing import SharedPacer
from xerobridge.store.db import Store
from xerobridge.store.links import StoreLinkView
from xerobridge.store.models import Connection, Setting, Source
from xerobridge.xero.mirror import MirrorView

log = logging.getLogger(__name__)

#: Makes the http client a source's hooks use (tests and the demo route it to a sandbox).
HttpFactory = Callable[[Source], httpx.AsyncClient]


def default_http(_source: Source) -> httpx.AsyncClient:
    """A plain client with sane timeouts."""
    return httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0))


@dataclass
class SourceRuntime:
    """One source, ready for its hooks to be called."""

    source: Source
    spec: SourceSpec
    ctx: SourceContext
    connection: Connection | None

    @property
    def id(self) -> int:
        """The source's id."""
        assert self.source.id is not None
        return self.source.id


@dataclass
class _Cached:
    runtime: SourceRuntime
    stamp: tuple[object, ...]
    checked_at: datetime


class Runtimes:
    """Builds and caches a SourceRuntime per source for the life of a worker.

    A person may change a source's settings (or switch it off) from the dashboard while the
    workers run: a cached runtime is checked against the stored source and settings every
    `RECHECK` and rebuilt when they changed, so a change takes effect within seconds, without
    a restart. (Settings from environment variables are read when a runtime is built.)
    """

    RECHECK = timedelta(seconds=5)

    def __init__(
        self,
        store: Store,
        plugins: Plugins,
        http_factory: HttpFactory,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.plugins = plugins
        self.http_factory = http_factory
        self.clock = clock or store.clock
        self._cache: dict[int, _Cached] = {}

    def get(self, source_id: int) -> SourceRuntime:
        """The runtime of a source, rebuilt when its stored settings have changed."""
        now = self.clock.now()
        cached = self._cache.get(source_id)
        if cached is not None and now - cached.checked_at < self.RECHECK:
            return cached.runtime
        with self.store.transaction() as s:
            source = s.get(Source, source_id)
            if source is None:
                raise UserError(f"source {source_id} no longer exists")
            stamp = _stamp(s, source)
            if cached is not None and cached.stamp == stamp:
                cached.checked_at = now
                return cached.runtime
            spec = self.plugins.spec(source.plugin)
            settings = sources.load_settings(s, source, spec)
            scoped = sources.scoped_values(s, source, spec)
            conn = s.get(Connection, source.connection_id) if source.connection_id else None
        if cached is not None:
            log.info("source %s changed; its new settings are used from now on", source.name)
        ctx: SourceContext[Any] = SourceContext(
            source=source.name,
            plugin=source.plugin,
            key_prefix=source.key_prefix,
            settings=settings,
            log=logging.getLogger(f"xerobridge.source.{source.name}"),
            # The http client outlives a settings change: it may hold open connections.
            http=cached.runtime.ctx.http if cached is not None else self.http_factory(source),
            links=StoreLinkView(self.store, source_id),
            org=org_facts(self.store, conn),
            clock=self.clock,
            mirror=MirrorView(self.store, conn.id) if conn and conn.id else None,
            client_factory=spec.client,
            scoped=_scoped_loader(self.store, source_id, spec, scoped),
            pace=SharedPacer(self.store, clock=self.clock, prefix=f"{source.plugin}:"),
            account_settings=frozenset(need.setting for need in spec.xero_accounts),
        )
        runtime = SourceRuntime(source, spec, ctx, conn)
        self._cache[source_id] = _Cached(runtime, stamp, now)
        return runtime

    async def aclose(self) -> None:
        """Close the sources' http clients."""
        for cached in self._cache.values():
            await cached.runtime.ctx.http.aclose()
        self._cache.clear()


def _stamp(session: Session, source: Source) -> tuple[object, ...]:
    """What a runtime is built from, as stored: the source's row and every setting value."""
    rows = session.exec(
        select(Setting.scope, Setting.name, Setting.value)
        .where(Setting.source_id == source.id)
        .order_by(col(Setting.scope), col(Setting.name))
    ).all()
    return (
        source.name,
        source.enabled,
        source.connection_id,
        source.key_prefix,
        tuple(tuple(row) for row in rows),
    )


def org_facts(store: Store, conn: Connection | None) -> OrgFacts:
    """The organisation's facts a source's hooks see, from its connection and the mirror."""
    if conn is None:
        return OrgFacts()
    currencies = MirrorView(store, conn.id).currencies() if conn.id else frozenset()
    base = conn.base_currency.upper()
    return OrgFacts(
        short_code=conn.short_code,
        base_currency=base,
        timezone=conn.timezone,
        currencies=frozenset(currencies) | ({base} if base else frozenset()),
        name=conn.name,
    )


def _scoped_loader(
    store: Store,
    source_id: int,
    spec: SourceSpec,
    scoped: dict[tuple[str, str], SourceSettings],
) -> Any:
    """`ctx.settings_for`'s look-up: the per-record settings read with the runtime."""

    def settings_for(stream: str, key: str) -> SourceSettings | None:
        return scoped.get((stream, key))

    return settings_for if scoped else None
