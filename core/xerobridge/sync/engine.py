"""The sync engine, assembled: store, plugins, Xero client, mirror, queue and a worker.

`Engine.sync()` is one pass in the foreground (`xerobridge sync`, the demo): refresh the mirror
of each connection involved, queue a read of every enabled stream, and work until nothing is
due. The daemon runs the same worker forever beside its scheduler.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlmodel import select

from xerobridge.clock import Clock
from xerobridge.contract import plugins as plugin_loading
from xerobridge.contract.errors import RetryLater, UserError
from xerobridge.contract.types import DeleteMode
from xerobridge.runtime.queue import NewJob, Queue
from xerobridge.runtime.worker import Progress, Worker
from xerobridge.store.db import Store
from xerobridge.store.models import Source
from xerobridge.sync.intake import reconcile_stream
from xerobridge.sync.runtimes import HttpFactory, Runtimes, default_http
from xerobridge.xero.auth import TokenManager
from xerobridge.xero.client import XeroClient
from xerobridge.xero.mirror import Mirror

log = logging.getLogger(__name__)


@dataclass
class Summary:
    """The outcome of a sync pass, as `sync --json` prints it."""

    streams: dict[str, dict[str, int]] = field(default_factory=dict)
    read_calls: int = 0
    write_calls: int = 0
    http_429: int = 0
    failed: int = 0
    #: Records held for a person's decision, or behind one, after the pass.
    waiting: int = 0
    elapsed_s: float = 0.0
    #: Sources that could not be read (down, unreachable, throttling), with why: their jobs
    #: wait, with no attempt spent, and the daemon tries them again later.
    unavailable: dict[str, str] = field(default_factory=dict)
    #: Why records wait for their source's setup (credentials refused, an account missing).
    setups: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The one-line JSON shape."""
        return {
            "streams": self.streams,
            "read_calls": self.read_calls,
            "write_calls": self.write_calls,
            "http_429": self.http_429,
            "failed": self.failed,
            "waiting": self.waiting,
            "unavailable": self.unavailable,
            "setups": self.setups,
            "elapsed_s": round(self.elapsed_s, 3),
        }


class Engine:
    """Everything a worker process needs, built once."""

    def __init__(
        self,
        store: Store,
        plugins: plugin_loading.Plugins | None = None,
        *,
        clock: Clock | None = None,
        xero_http: httpx.AsyncClient | None = None,
        source_http: HttpFactory = default_http,
        worker_id: str | None = None,
    ) -> None:
        self.store = store
        self.clock = clock or store.clock
        self.plugins = plugins or plugin_loading.load_plugins()
        self.xero_http = xero_http or httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0))
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.queue = Queue(store, clock=self.clock)
        self.tokens = TokenManager(store, http=self.xero_http, clock=self.clock,
                                   worker_id=self.worker_id)  # fmt: skip
        self.client = XeroClient(store, self.tokens, http=self.xero_http, clock=self.clock,
                                 worker_id=self.worker_id)  # fmt: skip
        self.mirror = Mirror(store, self.client, clock=self.clock)
        self.runtimes = Runtimes(store, self.plugins, source_http, clock=self.clock)
        self.worker = Worker(
            queue=self.queue,
            plugins=self.plugins,
            runtimes=self.runtimes,
            client=self.client,
            mirror=self.mirror,
            clock=self.clock,
            worker_id=self.worker_id,
        )

    def sources(self, name: str | None = None) -> list[Source]:
        """Enabled sources whose plugin is loaded, or the one named."""
        with self.store.transaction() as s:
            query = select(Source).where(Source.enabled == True)  # noqa: E712
            if name:
                query = select(Source).where(Source.name == name)
            found = list(s.exec(query).all())
        if name and not found:
            raise UserError(f"no source named {name!r}; see `xerobridge sources list`")
        return [src for src in found if self.plugins.infos.get(src.plugin, None) is not None
                and self.plugins.infos[src.plugin].status == "ok"]  # fmt: skip

    def queue_reads(
        self, source: str | None = None, stream: str | None = None, *, full: bool = False
    ) -> int:
        """Queue a read of every enabled stream (or the one named) of the sources."""
        jobs = []
        for src in self.sources(source):
            runtime = self.runtimes.get(src.id)  # type: ignore[arg-type]
            names = [stream] if stream else [s.name for s in runtime.spec.streams]
            for name in names:
                spec = runtime.spec.stream(name)
                if not runtime.ctx.settings.stream_enabled(spec.name):
                    continue
                jobs.append(
                    NewJob(
                        source_id=runtime.id,
                        stream=spec.name,
                        record_key="*",
                        kind="fetch",
                        payload={"full": full} if full else None,
                        connection_id=src.connection_id,
                        priority=10,
                    )
                )
        return self.queue.enqueue(jobs)

    async def reconcile(self, source: str | None = None) -> dict[str, list[str]]:
        """Queue deletions of records gone from sources that delete without trace."""
        found: dict[str, list[str]] = {}
        for src in self.sources(source):
            runtime = self.runtimes.get(src.id)  # type: ignore[arg-type]
            for stream in runtime.spec.streams:
                if stream.deletes is DeleteMode.RECONCILE and runtime.ctx.settings.stream_enabled(
                    stream.name
                ):
                    gone = await reconcile_stream(
                        runtime, stream, plugins=self.plugins, queue=self.queue
                    )
                    found[f"{src.name}.{stream.name}"] = gone
        return found

    async def refresh_mirrors(self, source: str | None = None, *, max_wait: float = 120.0) -> None:
        """Bring the mirror of each connection the sources use up to date.

        Xero unavailable or limiting: wait as it says, up to `max_wait` s, then go on with the
        mirror as it is (the daemon's workers push without a refresh too; each push still
        matches by natural key)."""
        connections = {src.connection_id for src in self.sources(source) if src.connection_id}
        for conn_id in sorted(connections):
            waited = 0.0
            while True:
                try:
                    await self.mirror.refresh(conn_id)
                    break
                except RetryLater as exc:
                    wait = exc.retry_after or 5.0
                    if waited + wait > max_wait:
                        log.warning("mirror of connection %s not refreshed: %s", conn_id, exc)
                        break
                    waited += wait
                    await self.clock.sleep(wait)

    async def sync(
        self,
        source: str | None = None,
        stream: str | None = None,
        *,
        full: bool = False,
        reconcile: bool = False,
        max_wait: float = 120.0,
    ) -> Summary:
        """One foreground pass: mirror, read, push, until nothing is due within `max_wait` s."""
        started = time.perf_counter()
        calls_before = (self.client.read_calls, self.client.write_calls, self.client.rate_limited)
        self.worker.progress = Progress()  # this pass's counts only
        await self.refresh_mirrors(source, max_wait=max_wait)
        self.queue_reads(source, stream, full=full)
        if reconcile:
            await self.reconcile(source)
        progress = await self.worker.run_until_idle(max_wait=max_wait)
        summary = self.summary(progress, started, calls_before)
        summary.waiting = self.queue.waiting_for_people(source)
        names = {src.id: src.name for src in self.sources(source)}
        summary.unavailable = {
            names[i]: why for i, why in progress.unavailable.items() if i in names
        }
        summary.setups = self.queue.setup_reasons([i for i in names if i is not None])
        return summary

    def summary(self, progress: Progress, started: float, before: tuple[int, int, int]) -> Summary:
        """Counts per stream and the calls spent since `before`."""
        summary = Summary(
            read_calls=self.client.read_calls - before[0],
            write_calls=self.client.write_calls - before[1],
            http_429=self.client.rate_limited - before[2],
            elapsed_s=time.perf_counter() - started,
        )
        for (source, stream), counts in sorted(progress.streams.items()):
            summary.streams[f"{source}.{stream}"] = dict(counts.__dict__)
            summary.failed += counts.failed
        return summary

    async def aclose(self) -> None:
        """Close http clients."""
        await self.runtimes.aclose()
        await self.xero_http.aclose()
