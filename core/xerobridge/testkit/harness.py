"""One plugin synced into a Xero sandbox by the real engine, in one process: the test kit's core.

A `SyncHarness` loads the plugin as its entry point would, starts its source sandbox and a Xero
sandbox, connects a custom connection, adds one source (`kit`, key prefix `KIT`) with the
sandbox's settings, creates the Xero accounts the spec asks for, and then runs sync passes and
reads back what Xero holds, what the sync log says and which links the core keeps. HTTP goes
through ASGI transports: nothing listens and nothing leaves the process.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
import re
from collections.abc import Coroutine, Mapping
from types import ModuleType
from typing import Any, TypeVar

import httpx
from sqlmodel import col, select

from xerobridge.config import sources
from xerobridge.contract import hookspecs
from xerobridge.contract.context import SourceContext
from xerobridge.contract.plugins import (
    GROUP,
    HOOK_NAMES,
    Plugins,
    aiterate,
    register_module,
    resolve,
)
from xerobridge.contract.types import SourceSandbox, SourceSpec
from xerobridge.sandboxes.xero import SandboxState, create_app
from xerobridge.store.db import Store
from xerobridge.store.models import Job, Link, Source, SyncLog
from xerobridge.sync.accounts import ensure_accounts
from xerobridge.sync.engine import Engine, Summary
from xerobridge.xero.connect import connect_client_credentials

T = TypeVar("T")

CLIENT_ID, CLIENT_SECRET = "XEROBRIDGETESTKIT", "testkit-secret"
SOURCE, KEY_PREFIX, CONNECTION = "kit", "KIT", "kit-org"
#: The Accounting API's path; identity calls (tokens) are not API calls.
API_PATH = "/api.xro/2.0/"


class KitError(Exception):
    """The plugin cannot be put in the harness; the message says why and what to do."""


def plugin_name(plugin: ModuleType) -> str:
    """The name the plugin is installed under: its entry point's, else its spec's."""
    for ep in importlib.metadata.entry_points(group=GROUP):
        if ep.value == plugin.__name__:
            return ep.name
    spec_hook = getattr(plugin, "source_spec", None)
    if spec_hook is None:  # a plugin written on the SDK keeps its hooks on a Source
        sdk = [v for v in vars(plugin).values() if getattr(type(v), "is_xerobridge_source", 0)]
        spec_hook = sdk[0].source_spec if sdk else None
    if spec_hook is None:
        raise KitError(
            f"module {plugin.__name__} has neither a Source nor a source_spec hook; "
            "is it the plugin?"
        )
    spec = spec_hook()
    if not isinstance(spec, SourceSpec):
        raise KitError(f"{plugin.__name__}.source_spec returned {type(spec).__name__}")
    return spec.name


class SyncHarness:
    """A plugin, its source sandbox, a Xero sandbox and an engine on the given store."""

    def __init__(
        self,
        plugin: ModuleType,
        *,
        store: Store,
        xero_app: Any | None = None,
        name: str | None = None,
        sandbox: SourceSandbox | None = None,
        settings: Mapping[str, str] | None = None,
        region: str = "UK",
    ) -> None:
        self.name = name or plugin_name(plugin)
        self.info = register_module(plugin, self.name)
        if self.info.status != "ok" or self.info.spec is None:
            raise KitError(f"plugin {self.name!r} failed to load: {self.info.error}")
        self.spec: SourceSpec = self.info.spec
        if sandbox is None and self.spec.sandbox is not None:
            sandbox = self.spec.sandbox()
        if sandbox is None:
            raise KitError(
                f"plugin {self.name!r} has no sandbox: give its SourceSpec a `sandbox` factory "
                "(a SourceSandbox of an emulator of the source) or pass one to the harness"
            )
        self.sandbox = sandbox
        self.store = store
        self.clock = store.clock
        self.xero_app = xero_app or create_app(self.clock, region=region)
        self.xero_state.register_app(
            CLIENT_ID, CLIENT_SECRET, custom_tenant_id=self.xero_state.default_tenant_id
        )
        for plural, records in sandbox.xero.items():
            self.xero_state.seed(plural, list(records))  # what the source takes from Xero
        self.loop = asyncio.new_event_loop()
        xero_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.xero_app))
        self.plugins = Plugins([self.info])
        self.engine = Engine(
            store,
            self.plugins,
            clock=self.clock,
            xero_http=xero_http,
            source_http=lambda _source: httpx.AsyncClient(
                transport=httpx.ASGITransport(app=self.sandbox.app), timeout=30
            ),
            worker_id="xerobridge-testkit",
        )
        try:
            self.run(
                connect_client_credentials(
                    store, name=CONNECTION, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                    http=xero_http, clock=self.clock,
                )
            )  # fmt: skip
            self.source: Source = sources.add(
                store, self.plugins, self.name, SOURCE, connection=CONNECTION,
                values={**sandbox.settings, **(settings or {})}, key_prefix=KEY_PREFIX,
            )  # fmt: skip
            self.run(ensure_accounts(self.engine, self.source))
        except BaseException:
            self.close()
            raise

    # -- running ----------------------------------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the harness's loop (its http clients live on it)."""
        return self.loop.run_until_complete(coro)

    def sync(
        self, *, full: bool = False, stream: str | None = None, reconcile: bool = False
    ) -> Summary:
        """One foreground pass, as `xerobridge sync` runs it."""
        return self.run(self.engine.sync(SOURCE, stream, full=full, reconcile=reconcile))

    @property
    def ctx(self) -> SourceContext:
        """The `ctx` the source's hooks receive."""
        assert self.source.id is not None
        return self.engine.runtimes.get(self.source.id).ctx

    def call(self, hook: str, **kwargs: Any) -> Any:
        """Call one of the plugin's hooks with the source's ctx; iterators come back as lists.

        Arguments of the hook left out are passed as None, as the core does for arguments a
        newer core added, so that a plugin's tests keep working when a hook gains one.
        """
        spec = getattr(hookspecs, hook, None)
        if spec is None:
            raise KitError(f"there is no hook {hook!r}; the hooks are: {', '.join(HOOK_NAMES)}")
        for arg in inspect.signature(spec).parameters:
            kwargs.setdefault(arg, self.ctx if arg == "ctx" else None)

        async def go() -> Any:
            result = await resolve(self.plugins.call(self.name, hook, **kwargs))
            if hasattr(result, "__aiter__"):
                return [item async for item in aiterate(result)]
            return result

        return self.run(go())

    def dashboard(self) -> Any:
        """The dashboard on the harness's store, logged in as the admin, a plugin's pages
        reaching the source's sandbox: a `starlette.testclient.TestClient`. `csrf_of(html)`
        gives the token a page's form carries."""
        from starlette.testclient import TestClient

        from xerobridge.web.app import create_app as create_web_app
        from xerobridge.web.dashboard import logins

        password = "test kit dashboard password"
        logins.set_password(self.store, password)
        transport = httpx.ASGITransport(app=self.sandbox.app)

        def source_http(_source: Any) -> httpx.AsyncClient:
            return httpx.AsyncClient(transport=transport)

        app = create_web_app(self.store, plugins=self.plugins, source_http=source_http)
        browser = TestClient(app, base_url="http://127.0.0.1:8765", follow_redirects=False)
        token = csrf_of(browser.get("/login").text)
        browser.post("/login", data={"username": "admin", "password": password,
                                     "csrf_token": token})  # fmt: skip
        return browser

    # -- reading back ------------------------------------------------------------------------------

    @property
    def xero_state(self) -> SandboxState:
        """The Xero sandbox's state: seed data, faults, the request log."""
        state: SandboxState = self.xero_app.state.sandbox
        return state

    @property
    def source_state(self) -> Any:
        """The source sandbox's own state object (`app.state.sandbox`), if it keeps one."""
        return getattr(self.sandbox.app.state, "sandbox", None)

    def xero(self, plural: str) -> list[dict[str, Any]]:
        """What the Xero organisation holds of a kind: "Contacts", "Invoices", "Items" ..."""
        return self.xero_state.records(plural)

    def xero_writes(self) -> int:
        """Write calls (POST, PUT) the Xero sandbox has answered since it started or was reset."""
        return sum(
            1
            for entry in self.xero_state.log.entries
            if entry.method in ("POST", "PUT") and API_PATH in entry.path
        )

    def xero_write(self, kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Write one document to Xero as a person working in Xero would (a payment, an edit)."""
        assert self.source.connection_id is not None
        (result,) = self.run(self.engine.client.write(self.source.connection_id, kind, [body]))
        if not result.ok:
            raise KitError(f"Xero refused the {kind}: {result.message}")
        return dict(result.record)

    def reset_xero_traffic(self) -> None:
        """Forget the calls the Xero sandbox counted (keeps its data)."""
        self.xero_state.reset_traffic()

    def log(self, *, status: str | None = None, stream: str | None = None) -> list[SyncLog]:
        """The source's sync-log rows, oldest first."""
        query = select(SyncLog).where(SyncLog.source_id == self.source.id)
        if status:
            query = query.where(SyncLog.status == status)
        if stream:
            query = query.where(SyncLog.stream == stream)
        with self.store.transaction() as s:
            return list(s.exec(query.order_by(col(SyncLog.id))).all())

    def failures(self) -> list[SyncLog]:
        """The sync-log rows of records that failed."""
        return self.log(status="error")

    def jobs(self, *states: str) -> list[Job]:
        """The source's jobs still in the queue (in the given states: queued, held, dead ...)."""
        query = select(Job).where(Job.source_id == self.source.id)
        if states:
            query = query.where(col(Job.state).in_(states))
        with self.store.transaction() as s:
            return list(s.exec(query.order_by(col(Job.id))).all())

    def links(self, stream: str | None = None) -> list[Link]:
        """The links of the source's records to Xero objects."""
        query = select(Link).where(Link.source_id == self.source.id)
        if stream:
            query = query.where(Link.stream == stream)
        with self.store.transaction() as s:
            return list(s.exec(query.order_by(col(Link.id))).all())

    def close(self) -> None:
        """Close the http clients and the loop."""
        if self.loop.is_closed():
            return
        try:
            self.run(self.engine.aclose())
        finally:
            self.loop.close()


def csrf_of(html: str) -> str:
    """The CSRF token of a dashboard page's form."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if found is None:
        raise KitError("the page has no form with a CSRF token")
    return found.group(1)
