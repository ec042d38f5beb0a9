"""Fixtures shared by the core's tests: a migrated store on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

from xerobridge.clock import FakeClock
from xerobridge.sandboxes.xero import SandboxState, create_app
from xerobridge.sandboxes.xero.testing import conformance_guard, register_marker
from xerobridge.store.db import Store
from xerobridge.store.models import TABLES


def pytest_configure(config: pytest.Config) -> None:
    """Markers shared by every test folder."""
    register_marker(config)


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--large` runs the tests marked `large` too (the larger reliability runs)."""
    parser.addoption("--large", action="store_true", help="also run the tests marked large")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `large` are skipped unless --large (or XEROBRIDGE_LARGE=1) asks for them."""
    if config.getoption("--large") or os.environ.get("XEROBRIDGE_LARGE") == "1":
        return
    skip = pytest.mark.skip(reason="a larger run: needs --large")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip)


hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, max_examples=50)
hypothesis_settings.load_profile("ci")

#: The server to make per-worker test databases on; trust auth, as on the project's machines.
PG_ADMIN_URL = os.environ.get(
    "XEROBRIDGE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_PG = os.environ.get("XEROBRIDGE_REQUIRE_POSTGRES") == "1"


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test touches the user's real data directory or inherits their database or key."""
    monkeypatch.setenv("XEROBRIDGE_HOME", str(tmp_path_factory.mktemp("home")))
    for name in list(os.environ):
        if name.startswith("XEROBRIDGE_") and name not in (
            "XEROBRIDGE_HOME",
            "XEROBRIDGE_TEST_POSTGRES",
            "XEROBRIDGE_REQUIRE_POSTGRES",
            # Where the official specs are, for a checkout without shared/ beside it.
            "XEROBRIDGE_XERO_OPENAPI",
            "XEROBRIDGE_SHARED",
        ):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (migrating per test would be slow)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    store.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url(worker_id: str) -> Iterator[str]:
    """A database of this test worker's own, migrated once."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            # The pid too: two test runs on one machine must not drop each other's database.
            name = f"xerobridge_test_{worker_id}_{os.getpid()}"
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        message = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {str(exc).splitlines()[0]}"
        if REQUIRE_PG:
            pytest.fail(message)
        pytest.skip(message)
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    store = Store(url)
    store.upgrade()
    store.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database on each store."""
    if request.param == "sqlite":
        path = tmp_path / "xerobridge.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_url")
    engine = sa.create_engine(url)
    names = ", ".join(f'"{t.__tablename__}"' for t in TABLES)
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()
    yield url


@pytest.fixture
def clock() -> FakeClock:
    """The one clock a test moves by hand."""
    return FakeClock()


@pytest.fixture
def app(clock: FakeClock, request: pytest.FixtureRequest) -> Iterator[Starlette]:
    """A Xero sandbox on the test's clock; a request that breaks Xero's spec fails the test."""
    yield from conformance_guard(create_app(clock=clock), request)


@pytest.fixture
def sandbox(app: Starlette) -> SandboxState:
    """The Xero sandbox's state, for seeding, faults and counts."""
    state: SandboxState = app.state.sandbox
    return state


@pytest.fixture
def store(store_url: str, clock: FakeClock) -> Iterator[Store]:
    """A Store on an empty, migrated database, on SQLite and on PostgreSQL."""
    s = Store(store_url, clock=clock)
    yield s
    s.dispose()


@pytest.fixture
def servers() -> Iterator[list[subprocess.Popen[str]]]:
    """Servers a test starts (sandboxes, the daemon), stopped at its end whatever happens."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
