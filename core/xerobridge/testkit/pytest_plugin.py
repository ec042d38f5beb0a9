"""The pytest plugin of the test kit (entry point `pytest11`): fixtures for plugin authors.

Installed with xerobridge, it is loaded by every pytest run, so it imports nothing heavy until a
fixture is used, and every fixture name starts with `xb_` so that it never shadows a project's
own fixtures. Where plugin autoloading is off, add `-p xerobridge.testkit.pytest_plugin`.

- `xb_clock`: the FakeClock the store, the engine and the Xero sandbox share.
- `xb_xero_region`: "UK" unless a conftest overrides the fixture ("AU").
- `xb_xero_sandbox`: a Xero sandbox app; the test fails if a request broke Xero's spec.
- `xb_isolated`: a data directory of the test's own, and no XEROBRIDGE_* settings inherited.
- `xb_store`: a migrated SQLite store in the test's temporary directory (copied from
  `xb_sqlite_template`, migrated once per session).
- `xb_new_store`: makes each harness's store (fresh SQLite); override it for another database.
- `xb_store_url`: the URL of an empty, migrated database, once on SQLite and once on
  PostgreSQL (XEROBRIDGE_TEST_POSTGRES, skipped when it cannot be reached unless
  XEROBRIDGE_REQUIRE_POSTGRES=1), for tests whose workers run in processes of their own.
- `xb_served_xero`: `xerobridge sandbox xero` served in a process of its own (its JSON line),
  for crash tests whose workers are processes.
- `xb_stores_on_each`: makes stores on `xb_store_url`; a test module runs its harnesses on
  both stores by overriding `xb_new_store` with it.
- `xb_harness`: makes a `SyncHarness` for a plugin module: one sync pass, what Xero holds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from xerobridge.clock import FakeClock
    from xerobridge.store.db import Store
    from xerobridge.testkit.harness import SyncHarness

pytest.register_assert_rewrite("xerobridge.testkit.contract")

MARKER = "xero_violations: the test sends requests that break Xero's spec on purpose"


def pytest_configure(config: pytest.Config) -> None:
    """The marker the Xero sandbox's conformance check honours."""
    config.addinivalue_line("markers", MARKER)


@pytest.fixture
def xb_clock() -> FakeClock:
    """The clock a test moves by hand; nothing sleeps for real."""
    from datetime import UTC, datetime

    from xerobridge.clock import FakeClock

    return FakeClock(datetime(2026, 1, 15, 9, 0, tzinfo=UTC))


@pytest.fixture
def xb_xero_region() -> str:
    """The Xero version of the sandbox organisation: "UK" (override the fixture for "AU")."""
    return "UK"


@pytest.fixture
def xb_xero_sandbox(
    xb_clock: FakeClock, xb_xero_region: str, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """A Xero sandbox app on the test's clock; a request that breaks Xero's spec fails the test."""
    from xerobridge.sandboxes.xero import create_app
    from xerobridge.sandboxes.xero.testing import conformance_guard

    yield from conformance_guard(create_app(xb_clock, region=xb_xero_region), request)


@pytest.fixture(scope="session")
def xb_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, made once per session and copied by each test."""
    from xerobridge.store.db import Store

    path = tmp_path_factory.mktemp("xb-template") / "template.sqlite3"
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    store.dispose()
    return path


@pytest.fixture
def xb_isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory of the test's own (secret key included), and no XEROBRIDGE_ settings."""
    import os

    home = tmp_path / "xb-home"
    home.mkdir(exist_ok=True)
    for name in list(os.environ):
        if name.startswith("XEROBRIDGE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XEROBRIDGE_HOME", str(home))
    return home


def _new_store(template: Path, path: Path, clock: FakeClock) -> Store:
    import shutil

    from xerobridge.store.db import Store

    shutil.copy(template, path)
    return Store(f"sqlite:///{path}", clock=clock)


@pytest.fixture
def xb_store(
    xb_sqlite_template: Path, xb_isolated: Path, tmp_path: Path, xb_clock: FakeClock
) -> Iterator[Store]:
    """An empty, migrated SQLite store in the test's temporary directory."""
    store = _new_store(xb_sqlite_template, tmp_path / "xb-store.sqlite3", xb_clock)
    yield store
    store.dispose()


#: The PostgreSQL server `xb_store_url` makes its databases on.
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextlib.contextmanager
def _postgres_database(name: str) -> Iterator[str]:
    """A migrated PostgreSQL database of this name, dropped at the end (skipped, or failed
    with XEROBRIDGE_REQUIRE_POSTGRES=1, when the server cannot be reached)."""
    import os

    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from xerobridge.store.db import Store

    admin_url = os.environ.get("XEROBRIDGE_TEST_POSTGRES", PG_ADMIN_URL)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        message = f"PostgreSQL not reachable at {admin_url}: {str(exc).splitlines()[0]}"
        if os.environ.get("XEROBRIDGE_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    store = Store(url)
    store.upgrade()
    store.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _database_name(request: pytest.FixtureRequest, n: int = 0) -> str:
    import os

    return f"xb_kit_{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**8}_{n}"


@pytest.fixture(params=["sqlite", "postgresql"])
def xb_store_url(
    request: pytest.FixtureRequest, xb_sqlite_template: Path, tmp_path: Path
) -> Iterator[str]:
    """An empty, migrated database of the test's own, on each store."""
    import shutil

    if request.param == "sqlite":
        path = tmp_path / "xb-store-url.sqlite3"
        shutil.copy(xb_sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    with _postgres_database(_database_name(request)) as url:
        yield url


@pytest.fixture
def xb_served_xero() -> Iterator[dict[str, Any]]:
    """`xerobridge sandbox xero --port 0` in a process of its own (an AU organisation): the JSON
    line it prints (URLs, credentials, control API); stopped when the test ends."""
    from xerobridge.testkit.processes import served

    with served("xero", "--region", "AU") as sandbox:
        yield sandbox


@pytest.fixture
def xb_stores_on_each(
    request: pytest.FixtureRequest,
    xb_store_url: str,
    xb_sqlite_template: Path,
    tmp_path: Path,
    xb_isolated: Path,
    xb_clock: FakeClock,
) -> Iterator[Callable[[], Store]]:
    """Makes stores on the store of `xb_store_url` (SQLite, then PostgreSQL): the first on that
    database, each further one on a fresh one. A module whose harnesses should run on both
    overrides `xb_new_store`:

        @pytest.fixture
        def xb_new_store(xb_stores_on_each):
            return xb_stores_on_each
    """
    import shutil

    from xerobridge.store.db import Store

    made: list[Store] = []
    with contextlib.ExitStack() as more:

        def make() -> Store:
            url = xb_store_url
            if made and url.startswith("sqlite"):
                path = tmp_path / f"xb-each-{len(made)}.sqlite3"
                shutil.copy(xb_sqlite_template, path)
                url = f"sqlite:///{path}"
            elif made:
                name = _database_name(request, len(made))
                url = more.enter_context(_postgres_database(name))
            made.append(Store(url, clock=xb_clock))
            return made[-1]

        yield make
        for store in made:
            store.dispose()


@pytest.fixture
def xb_new_store(
    xb_sqlite_template: Path, xb_isolated: Path, tmp_path: Path, xb_clock: FakeClock
) -> Iterator[Callable[[], Store]]:
    """Makes the store each harness runs on: a fresh, migrated SQLite file per call.

    Override it (same name, in a conftest) to run the harness on another database.
    """
    made: list[Store] = []

    def make() -> Store:
        store = _new_store(xb_sqlite_template, tmp_path / f"xb-kit-{len(made)}.sqlite3", xb_clock)
        made.append(store)
        return store

    yield make
    for store in made:
        store.dispose()


@pytest.fixture
def xb_harness(
    xb_new_store: Callable[[], Store],
    xb_clock: FakeClock,
    xb_xero_region: str,
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., SyncHarness]]:
    """Make a SyncHarness: `h = xb_harness(my_plugin)`, then `h.sync()`, `h.xero("Invoices")`.

    Keyword arguments go to SyncHarness (name, sandbox, settings, region). Each harness has its
    own store and Xero sandbox; all are closed, and checked for requests that break Xero's
    spec, when the test ends.
    """
    from xerobridge.sandboxes.xero import create_app
    from xerobridge.sandboxes.xero.testing import conformance_guard
    from xerobridge.testkit.harness import SyncHarness

    made: list[tuple[SyncHarness, Iterator[Any]]] = []

    def make(plugin: Any, **kwargs: Any) -> SyncHarness:
        region = kwargs.pop("region", xb_xero_region)
        guard = conformance_guard(create_app(xb_clock, region=region), request)
        harness = SyncHarness(plugin, store=xb_new_store(), xero_app=next(guard), **kwargs)
        made.append((harness, guard))
        return harness

    yield make
    for harness, guard in made:
        harness.close()
        next(guard, None)  # fails the test if the engine sent Xero a request its spec forbids
