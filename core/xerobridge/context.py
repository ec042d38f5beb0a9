"""What the engine knows about one configured source while it works: its plugin, spec,
settings and the `ctx` its hooks receive."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from xerobridge import sources
from xerobridge.links import StoreLinkView
from xerobridge.models import Connection, Source
from xerobridge.plugins import Plugins
from xerobridge.store import Store
from xerobridge.types import SourceContext, SourceSpec, UserError
from xerobridge.xero.mirror import MirrorView

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


class Runtimes:
    """Builds and caches a SourceRuntime per source for the life of a worker."""

    def __init__(self, store: Store, plugins: Plugins, http_factory: HttpFactory) -> None:
        self.store = store
        self.plugins = plugins
        self.http_factory = http_factory
        self._cache: dict[int, SourceRuntime] = {}

    def get(self, source_id: int) -> SourceRuntime:
        """The runtime of a source (settings read once per worker; see `forget`)."""
        if source_id in self._cache:
            return self._cache[source_id]
        with self.store.transaction() as s:
            source = s.get(Source, source_id)
            if source is None:
                raise UserError(f"source {source_id} no longer exists")
            spec = self.plugins.spec(source.plugin)
            settings = sources.load_settings(s, source, spec)
            conn = s.get(Connection, source.connection_id) if source.connection_id else None
        ctx = SourceContext(
            source=source.name,
            plugin=source.plugin,
            key_prefix=source.key_prefix,
            settings=settings,
            log=logging.getLogger(f"xerobridge.source.{source.name}"),
            http=self.http_factory(source),
            links=StoreLinkView(self.store, source_id),
            xero=MirrorView(self.store, conn.id) if conn and conn.id else None,
            extra={
                "base_currency": conn.base_currency if conn else "",
                "timezone": conn.timezone if conn else "",
            },
        )
        runtime = SourceRuntime(source, spec, ctx, conn)
        self._cache[source_id] = runtime
        return runtime

    def forget(self, source_id: int | None = None) -> None:
        """Drop cached runtimes (after a settings change)."""
        if source_id is None:
            self._cache.clear()
        else:
            self._cache.pop(source_id, None)

    async def aclose(self) -> None:
        """Close the sources' http clients."""
        for runtime in self._cache.values():
            if runtime.ctx.http is not None:
                await runtime.ctx.http.aclose()
        self._cache.clear()
