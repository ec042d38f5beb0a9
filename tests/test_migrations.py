"""Migrations: the migrated schema is the models' schema; upgrading is safe to repeat and race."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel, select

from xerobridge.store.db import Store, alembic_config, newest_migration
from xerobridge.store.models import TABLES, Source

#: Imports everything first, says it is ready, waits for "go", then runs `xerobridge db upgrade`.
RACER = """
import sys
import alembic.command
from xerobridge.cli import main as cli
print("ready", flush=True)
sys.stdin.readline()
sys.argv = ["xerobridge", "db", "upgrade"]
cli.main()
"""


def schema_diff(store: Store) -> list[object]:
    """What Alembic's autogenerate would change to make the database match the models."""
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


def head() -> str:
    """The newest migration's revision."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


def current(store: Store) -> list[str]:
    """The revisions recorded in the database."""
    with store.engine.connect() as conn:
        return [r for (r,) in conn.execute(sa.text("SELECT version_num FROM alembic_version"))]


def test_migrated_schema_equals_the_models(store: Store) -> None:
    """The schema the migrations build is exactly the one the models describe."""
    assert schema_diff(store) == []
    assert current(store) == [head()]
    names = set(sa.inspect(store.engine).get_table_names())
    assert {t.__tablename__ for t in TABLES} <= names


def test_the_newest_migration_is_read_from_the_file_names_as_alembic_reads_it(
    store: Store,
) -> None:
    assert newest_migration() == ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert store.at_head()
    version = sa.text("UPDATE alembic_version SET version_num = :v")
    with store.engine.begin() as conn:  # a database a migration behind is not taken as new
        conn.execute(version, {"v": "0001"})
    try:
        assert not store.at_head()
    finally:  # the PostgreSQL test database is shared by the tests that follow
        with store.engine.begin() as conn:
            conn.execute(version, {"v": newest_migration()})


def test_upgrading_twice_is_harmless(store: Store) -> None:
    """Upgrading an up-to-date database changes nothing and keeps the data."""
    with store.transaction() as s:
        s.add(Source(name="shop", plugin="magento", key_prefix="SHOP"))
    store.upgrade()
    store.upgrade()
    assert current(store) == [head()]
    assert schema_diff(store) == []
    with store.transaction() as s:
        assert [src.name for src in s.exec(select(Source)).all()] == ["shop"]


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database that has never been migrated."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    base = make_url(request.getfixturevalue("postgres_url"))
    name = f"{base.database}_fresh"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_two_processes_upgrading_a_fresh_database_at_once_both_succeed(fresh_url: str) -> None:
    """Two `xerobridge db upgrade` started at the same moment on a new database both succeed."""
    env = {**os.environ, "XEROBRIDGE_DATABASE_URL": fresh_url}
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for proc in racers:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        for proc in racers:  # release both together
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outcomes = [proc.communicate(timeout=60) for proc in racers]
    finally:
        for proc in racers:
            if proc.poll() is None:
                proc.kill()
    for proc, (stdout, stderr) in zip(racers, outcomes, strict=True):
        assert proc.returncode == 0, stderr
        assert "is up to date" in " ".join(stdout.split())
    store = Store(fresh_url)
    try:
        assert current(store) == [head()]
        assert schema_diff(store) == []
    finally:
        store.dispose()
