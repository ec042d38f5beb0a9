"""`xerobridge demo`: everything in one process, from nothing to a synced organisation.

The Xero sandbox and the sandbox of every installed plugin run in this process (their HTTP goes
through ASGI transports, so nothing listens but the web app); a connection and one source per
plugin are configured in a fresh demo database; the accounts the sources need are created; the
first full sync runs with progress bars; and then the dashboard is served until Ctrl-C, with a
worker and the scheduler in the same process (the sandboxes live here, so worker processes could
not reach them), and a fresh admin password printed for this run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from xerobridge.config import sources
from xerobridge.contract.plugins import Plugins
from xerobridge.contract.types import SourceSandbox
from xerobridge.runtime.leader import leader_lock
from xerobridge.runtime.scheduler import Scheduler
from xerobridge.runtime.worker import Progress
from xerobridge.sandboxes.xero import create_app as xero_sandbox
from xerobridge.store import home as config
from xerobridge.store.db import Store
from xerobridge.store.models import Source
from xerobridge.sync.accounts import ensure_accounts
from xerobridge.sync.engine import Engine, Summary
from xerobridge.web.dashboard import logins
from xerobridge.xero.connect import connect_client_credentials

log = logging.getLogger(__name__)

DEMO_CLIENT_ID, DEMO_CLIENT_SECRET = "XEROBRIDGEDEMO", "demo-secret"


@dataclass
class Demo:
    """A configured demo: the store, the engine, and the sandboxes it talks to."""

    store: Store
    engine: Engine
    xero_app: object
    sandboxes: dict[str, SourceSandbox]
    plugins: Plugins


def demo_database() -> Path:
    """The demo's own database, next to (never instead of) the real one."""
    return config.home() / "demo.sqlite3"


async def prepare(plugins: Plugins, *, path: Path | None = None) -> Demo:
    """A fresh demo database, a Xero sandbox connection, and a source per plugin sandbox."""
    path = path or demo_database()
    for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        stale.unlink(missing_ok=True)
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    xero_app = xero_sandbox(region="UK")
    state = xero_app.state.sandbox
    state.register_app(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, custom_tenant_id=state.default_tenant_id)
    xero_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=xero_app))
    await connect_client_credentials(
        store, name="demo", client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET,
        http=xero_http,
    )  # fmt: skip
    sandboxes: dict[str, SourceSandbox] = {}
    for info in plugins:
        if info.status != "ok" or info.spec is None or info.spec.sandbox is None:
            continue
        sandbox = info.spec.sandbox()
        sandboxes[info.name] = sandbox
        for plural, records in sandbox.xero.items():
            state.seed(plural, list(records))  # what the source takes from Xero
        sources.add(store, plugins, info.name, f"demo-{info.name}".replace("_", "-"),
                    connection="demo", values=dict(sandbox.settings))  # fmt: skip
    engine = Engine(store, plugins, xero_http=xero_http, source_http=_routed(sandboxes))
    return Demo(store, engine, xero_app, sandboxes, plugins)


def _routed(sandboxes: dict[str, SourceSandbox]) -> Callable[[Source], httpx.AsyncClient]:
    def factory(source: Source) -> httpx.AsyncClient:
        sandbox = sandboxes.get(source.plugin)
        if sandbox is None:
            return httpx.AsyncClient(timeout=30)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.app), timeout=30)

    return factory


async def first_sync(demo: Demo, on_progress: Callable[[Progress], None] | None = None) -> Summary:
    """Create the accounts each source needs, then sync everything once."""
    with demo.store.transaction() as s:
        configured = sources.list_all(s)
    for src in configured:
        await ensure_accounts(demo.engine, src)
    demo.engine.worker.on_progress = on_progress
    return await demo.engine.sync(full=True)


def one_time_password(demo: Demo) -> str:
    """A fresh admin password for this demo run's dashboard."""
    password = secrets.token_urlsafe(12)
    logins.set_password(demo.store, password)
    return password


def web_app(demo: Demo) -> object:
    """The dashboard on the demo's store, with a worker and the scheduler running beside it."""
    from xerobridge.web.app import create_app

    app = create_app(demo.store, plugins=demo.plugins)

    @contextlib.asynccontextmanager
    async def lifespan(_app: object) -> AsyncIterator[None]:
        stop = asyncio.Event()
        demo.engine.worker.on_progress = None
        tasks = [
            asyncio.create_task(demo.engine.worker.run_forever(stop)),
            asyncio.create_task(
                Scheduler(demo.store, demo.plugins).run(stop, leader_lock(demo.store))
            ),
        ]
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)

    app.router.lifespan_context = lifespan
    return app
