"""The database: SQLite by default (WAL, one writer at a time), PostgreSQL to scale out.

Writes go through `transaction()`. On SQLite it opens with BEGIN IMMEDIATE, which takes the
write lock up front: a deferred transaction that later tries to write fails at once with
"database is locked" instead of waiting, and row locks (FOR UPDATE) do not exist there.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlmodel import Session

from xerobridge.clock import Clock, SystemClock
from xerobridge.contract.errors import UserError
from xerobridge.store import home as config

log = logging.getLogger(__name__)

_MIGRATIONS = Path(__file__).parent / "migrations"
#: pg_advisory_xact_lock key that serialises schema upgrades of processes starting together.
_MIGRATE_LOCK = 0x7862_0001


class Store:
    """An engine on one database and the sessions that use it."""

    def __init__(self, url: str | None = None, *, clock: Clock | None = None) -> None:
        try:
            self.url = url or config.database_url()
        except OSError as exc:
            raise UserError(f"cannot create the data directory: {exc}") from None
        self.clock = clock or SystemClock()
        try:
            parsed = make_url(self.url)
        except ArgumentError:
            raise UserError(
                f"XEROBRIDGE_DATABASE_URL {self.url!r} is not a database URL; "
                "use sqlite:///path or postgresql://user@host/db"
            ) from None
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise UserError(f"database {self.dialect!r} is not supported; use SQLite or PostgreSQL")
        try:
            self.engine = _make_engine(self.url, self.dialect)
        except OSError as exc:
            # A file where the data directory should be, or no permission to make it.
            raise UserError(f"cannot open the database {self.url}: {exc}") from None
        except NoSuchModuleError as exc:
            raise UserError(f"cannot open {self.dialect}: {exc}") from None
        except ModuleNotFoundError:
            raise UserError(
                "PostgreSQL needs its driver: pip install 'xerobridge[postgres]'"
            ) from None

    @property
    def is_sqlite(self) -> bool:
        """Whether this store is SQLite (single writer, no row locks)."""
        return self.dialect == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one write transaction: committed on success, rolled back on error.

        Never inside another of this thread's transactions on the same database: on SQLite
        each holds the write lock from its first statement, so the inner one would wait for
        the outer for ever (until `busy_timeout`, then "database is locked"). That is a bug,
        refused at once.
        """
        if self.url in _open.urls:
            raise NestedTransaction(
                "a store transaction was opened inside another one on the same thread; finish "
                "the outer one first (on SQLite the inner would wait for it for ever)"
            )
        _open.urls.add(self.url)
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                try:
                    yield session
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise
        finally:
            _open.urls.discard(self.url)

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (safe when several processes start at once)."""
        if self.at_head():
            return  # every command upgrades; loading Alembic to learn this costs ~0.1 s
        from alembic import command

        try:
            with self.engine.begin() as conn:
                if not self.is_sqlite:
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATE_LOCK})
                cfg = alembic_config()
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except OperationalError as exc:
            raise UserError(f"cannot open the database {self.safe_url}: {_one_line(exc)}") from None

    def at_head(self) -> bool:
        """Whether the schema is at the newest migration (False for a new database)."""
        try:
            with self.engine.connect() as conn:
                found = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
        except sa.exc.DBAPIError:
            return False  # no version table yet, or the database cannot be opened
        return [row[0] for row in found] == [newest_migration()]

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden."""
        return make_url(self.url).render_as_string(hide_password=True)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


class NestedTransaction(RuntimeError):
    """A transaction opened inside another on the same thread: a programming error."""


class _Open(threading.local):
    def __init__(self) -> None:
        self.urls: set[str] = set()


#: The databases this thread has a store transaction open on (one each at most).
_open = _Open()


def newest_migration() -> str:
    """The newest migration's revision, read from its file's name (`0011_dashboard_sessions.py`
    is revision 0011) rather than by loading Alembic."""
    return max(p.name.split("_", 1)[0] for p in (_MIGRATIONS / "versions").glob("[0-9]*_*.py"))


def alembic_config() -> Any:
    """An Alembic config pointing at the packaged migrations."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def _make_engine(url: str, dialect: str) -> sa.Engine:
    if dialect == "sqlite":
        path = make_url(url).database
        if path and path != ":memory:":
            _private_file(Path(path))
        # Parameters stay out of error messages and logs: they hold customers' personal data.
        engine = sa.create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            hide_parameters=True,
        )

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event decide how transactions start.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return sa.create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=5, hide_parameters=True
    )


def _private_file(path: Path) -> None:
    """The database file readable by its owner only (SQLite gives its WAL and shared-memory
    files the same mode), in a directory only its owner may list."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    if not path.exists():
        path.touch(mode=0o600)
    else:
        path.chmod(0o600)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(getattr(exc, "orig", exc) or exc).split())
    return text or type(exc).__name__
