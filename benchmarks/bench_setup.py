"""What every benchmark sets up the same way: sandboxes, a fresh store, a connected source, figures.

The benchmarks import this module by path (`python benchmarks/<name>.py` puts this directory
first on sys.path). Nothing here is part of the product: it drives the product's public pieces
(Store, Engine, the two sandboxes) the way an installation would.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import resource
import tempfile
import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url

import xerobridge_magento
from xerobridge.config import sources
from xerobridge.contract.plugins import Plugins, register_module
from xerobridge.store.db import Store
from xerobridge.store.models import Source
from xerobridge.sync.accounts import ensure_accounts
from xerobridge.sync.engine import Engine
from xerobridge.xero.connect import connect_client_credentials
from xerobridge.xero.ratelimit import Limits

#: The server the PostgreSQL runs use; each run gets a fresh database of its own on it.
POSTGRES = os.environ.get(
    "XEROBRIDGE_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BENCH_DATABASE = "xerobridge_bench"
#: The benchmark's Xero app (a custom connection to the sandbox's organisation).
CLIENT_ID, CLIENT_SECRET = "BENCH", "bench-secret"
#: The Magento source's settings, besides where the store is.
MAGENTO_SETTINGS = {
    "tax_map": "20=OUTPUT2,5=RROUTPUT,0=ZERORATEDOUTPUT",
    "store_ids": "1",
    "default_tax_type": "OUTPUT2",
}
#: Xero's limits per organisation: calls in flight, calls a minute, documents per write.
XERO_CONCURRENT, XERO_PER_MINUTE, XERO_BATCH = 5, 60, 50
#: Xero writes allocations one per call (PUT CreditNotes/{id}/Allocations), never 50.
SINGLE_DOCUMENT = frozenset({"Allocation"})
UNLIMITED = Limits(concurrent=10_000, per_window=10**9, window=timedelta(seconds=60))


# -- stores ---------------------------------------------------------------------------------------


def fresh_url(kind: str) -> str:
    """An empty database: a new SQLite file, or the benchmark database recreated on PostgreSQL."""
    if kind == "sqlite":
        return f"sqlite:///{Path(tempfile.mkdtemp(prefix='xb-bench-')) / 'bench.sqlite3'}"
    if kind != "postgresql":
        raise SystemExit(f"error: --store must be sqlite or postgresql, not {kind!r}")
    server = make_url(POSTGRES)
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {BENCH_DATABASE}"))
    admin.dispose()
    return server.set(database=BENCH_DATABASE).render_as_string(hide_password=False)


def discard(store: Store) -> None:
    """Close the store and delete it if it is a benchmark's SQLite file (they grow large)."""
    import shutil

    store.dispose()
    path = make_url(store.url).database
    if store.is_sqlite and path and Path(path).parent.name.startswith("xb-bench-"):
        shutil.rmtree(Path(path).parent, ignore_errors=True)


def new_store(kind: str) -> Store:
    """A migrated, empty store."""
    store = Store(fresh_url(kind))
    store.upgrade()
    return store


# -- sandboxes ------------------------------------------------------------------------------------


def magento_app(customers: int, products: int, orders: int, *, seed: int = 3) -> Any:
    """The Magento sandbox filled with generated customers, products and orders."""
    from xerobridge_magento.sandbox import create_app

    return create_app(seed=seed, customers=customers, products=products, orders=orders)


def xero_app(
    *, limits: bool, time_scale: float = 1.0, history: Mapping[str, int] | None = None
) -> Any:
    """The Xero sandbox (a UK organisation) with the benchmark's app registered, holding the
    contacts and sales invoices `history` asks for (see `seed_history`).

    With limits off, the minute and the day are made endless too, so that the headers never
    say "0 remaining" (a client rightly waits out a spent minute).
    """
    from xerobridge.sandboxes.xero import create_app

    app = create_app(region="UK", limits=limits, time_scale=time_scale)
    state = app.state.sandbox
    if history:
        seed_history(state, history["contacts"], history["invoices"], history["old_percent"])
    state.register_app(CLIENT_ID, CLIENT_SECRET, custom_tenant_id=state.default_tenant_id)
    if not limits:
        state.limiter.config.minute = state.limiter.config.app_minute = 10**9
        state.limiter.set_daily_limit(10**9)
    else:
        state.limiter.set_daily_limit(10**9)  # a benchmark's day is not the point
    return app


def seed_history(state: Any, contacts: int, invoices: int, old_percent: int) -> None:
    """Contacts and authorised sales invoices made in Xero; `old_percent` of each last changed
    two years ago (history), the rest now. Invoices go round the contacts."""
    from datetime import UTC, datetime

    from xerobridge.clock import FakeClock

    live = state.clock
    two_years_ago = FakeClock(datetime.now(UTC) - timedelta(days=730))
    ids: list[str] = []
    for kind, total in (("Contacts", contacts), ("Invoices", invoices)):
        old = total * old_percent // 100
        for start in range(0, total, 500):
            part = range(start, min(start + 500, total))
            state.clock = two_years_ago if start < old else live
            if kind == "Contacts":
                made = state.seed("Contacts", [{"Name": f"Client {i:05}"} for i in part])
                ids += [c["ContactID"] for c in made]
                continue
            state.seed("Invoices", [_invoice(ids[i % len(ids)], i) for i in part])
    state.clock = live


def _invoice(contact_id: str, i: int) -> dict[str, Any]:
    return {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_id},
        "Date": "2025-11-02",
        "DueDate": "2025-12-02",
        "Status": "AUTHORISED",
        "LineAmountTypes": "NoTax",
        "LineItems": [
            {"Description": "Work", "Quantity": 1, "UnitAmount": 10 + i % 90, "AccountCode": "200"}
        ],
    }


def _serve_child(which: str, options: dict[str, Any], pipe: Any) -> None:
    from xerobridge.web.serve import base_url, bind, serve

    app = (
        xero_app(**options)
        if which == "xero"
        else magento_app(
            options["customers"], options["products"], options["orders"], seed=options["seed"]
        )
    )
    sock = bind("127.0.0.1", 0)
    pipe.send(base_url("127.0.0.1", sock))
    pipe.close()
    serve(app, sock)


class Served:
    """A sandbox served over HTTP by a child process, for workers in other processes."""

    def __init__(self, which: str, **options: Any) -> None:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self.process = context.Process(
            target=_serve_child, args=(which, options, child), daemon=True
        )
        self.process.start()
        if not parent.poll(600):
            self.process.kill()
            raise SystemExit(f"error: the {which} sandbox did not start within 600 s")
        self.url: str = parent.recv()

    def cpu_seconds(self) -> float:
        """CPU seconds the child has used so far (Linux: /proc/<pid>/stat)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """Stop the child."""
        self.process.terminate()
        self.process.join(10)


def xero_stats(xero_url: str) -> dict[str, Any]:
    """What the served Xero sandbox saw: calls, peak in flight and per minute, 429s."""
    return dict(httpx.get(f"{xero_url}/_sandbox/stats", timeout=30).json())


# -- the installation -----------------------------------------------------------------------------


async def install(
    store: Store,
    *,
    xero_http: httpx.AsyncClient,
    magento_url: str,
    xero_url: str | None = None,
    source_http: Any = None,
) -> tuple[Engine, Source]:
    """Connect the organisation, add the Magento source, create its accounts; the engine.

    `xero_url` is the served sandbox's address; without it `xero_http` routes to an app.
    """
    await connect(store, xero_http=xero_http, xero_url=xero_url)
    plugins = plugin_set()
    settings = {"base_url": magento_url, "token": "sandbox-integration-token", **MAGENTO_SETTINGS}
    source = sources.add(store, plugins, "magento", "shop", connection="org", values=settings)
    extra = {"source_http": source_http} if source_http is not None else {}
    engine = Engine(store, plugins, xero_http=xero_http, **extra)
    await ensure_accounts(engine, source)
    return engine, source


async def connect(store: Store, *, xero_http: httpx.AsyncClient, xero_url: str | None) -> None:
    """The custom connection `org` to the sandbox's organisation."""
    urls = {}
    if xero_url:
        urls = {"api_url": f"{xero_url}/api.xro/2.0", "identity_url": xero_url}
    await connect_client_credentials(
        store, name="org", client_id=CLIENT_ID, client_secret=CLIENT_SECRET, http=xero_http, **urls
    )


def plugin_set() -> Plugins:
    """The Magento plugin alone, whatever else is installed."""
    return Plugins([register_module(xerobridge_magento, "magento")])


# -- figures --------------------------------------------------------------------------------------


def documents_written(store: Store) -> dict[str, int]:
    """Documents sent to Xero per type, from the stored write attempts (each sent once here)."""
    import json

    from sqlmodel import select

    from xerobridge.store.models import WriteAttempt

    counts: dict[str, int] = {}
    with store.transaction() as s:
        for kind, body in s.exec(select(WriteAttempt.xero_type, WriteAttempt.body)).all():
            payload = json.loads(body)
            values = list(payload.values()) if isinstance(payload, dict) else []
            many = len(values) == 1 and isinstance(values[0], list)
            counts[kind] = counts.get(kind, 0) + (len(values[0]) if many else 1)
    return counts


def call_bound(documents: Mapping[str, int]) -> int:
    """The fewest write calls that carry these documents: 50 a call, allocations one a call."""
    return sum(
        n if kind in SINGLE_DOCUMENT else math.ceil(n / XERO_BATCH) for kind, n in documents.items()
    )


def record_bound(pushed: Mapping[str, int]) -> int:
    """The issue's bound: ceil(n/50) per stream of records pushed."""
    return sum(math.ceil(n / XERO_BATCH) for n in pushed.values() if n)


def bound_seconds(calls: int, time_scale: float) -> float:
    """How long `calls` take at 60 a minute, in real seconds at the given time scale."""
    return calls / XERO_PER_MINUTE * 60.0 / time_scale


def peak_rss_mb() -> float:
    """This process's peak resident memory."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the machine is shared)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def rounded(values: Mapping[str, float], digits: int = 2) -> dict[str, float]:
    """A mapping of floats, rounded for the JSON line."""
    return {k: round(v, digits) for k, v in sorted(values.items())}


class Stopwatch:
    """Wall and CPU seconds since it was made."""

    def __init__(self) -> None:
        self.wall0 = time.perf_counter()
        self.cpu0 = cpu_seconds()

    @property
    def wall(self) -> float:
        """Wall seconds so far."""
        return time.perf_counter() - self.wall0

    @property
    def cpu(self) -> float:
        """CPU seconds so far (this process and its finished children)."""
        return cpu_seconds() - self.cpu0
