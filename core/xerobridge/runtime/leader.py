"""Which process leads the scheduler: one per installation, and another takes over when it dies.

Every `xerobridge run` process works the queue; only the holder of the leader lock schedules.
The lock belongs to the process, so the operating system or the database frees it when the
process dies, however it dies:

- PostgreSQL (any number of machines): a session-level `pg_try_advisory_lock` held on a
  dedicated autocommit connection. The lock lives as long as that session; a dead process's
  socket closes and the server ends the session at once. A partitioned leader is dropped by the
  server once its TCP keepalives fail, and finds out itself at its next check.
- SQLite (one machine): an exclusive `flock` on a lock file next to the database.

A lock is a liveness device, not the guard against double work: two leaders can overlap for a
moment (a partition, a deploy), and the scheduler's slot table makes that harmless.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from xerobridge.store.db import Store

log = logging.getLogger(__name__)

#: The advisory-lock key of the scheduler leader (the schema upgrade uses 0x7862_0001).
LEADER_KEY = 0x7862_0002

#: libpq settings of the lock's connection: notice a dead network in seconds, not minutes.
_PG_CONNECT_ARGS = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
    "application_name": "xerobridge-leader",
}


class LeaderLock(Protocol):
    """A lock that at most one process holds (but for short overlaps after a partition)."""

    def hold(self) -> bool:
        """Take the lock if it is free, or check that it is still ours; whether we lead now."""
        ...

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        ...


class PostgresLeaderLock:
    """`pg_try_advisory_lock` on a connection of its own, outside any pool."""

    def __init__(self, url: str, *, key: int = LEADER_KEY) -> None:
        self.key = key
        self._engine = sa.create_engine(
            url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args=_PG_CONNECT_ARGS
        )
        self._conn: sa.Connection | None = None
        self._held = False

    def hold(self) -> bool:
        try:
            if self._conn is None:
                self._conn = self._engine.connect()
                self._held = False
            if self._held:
                # A session-level advisory lock lasts as long as its session: alive means held.
                self._conn.exec_driver_sql("SELECT 1")
                return True
            got = self._conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})
            self._held = bool(got.scalar())
            return self._held
        except sa.exc.DBAPIError as exc:
            if self._held:
                log.warning("lost the scheduler lock's connection: %s", exc)
            self._drop()
            return False

    def release(self) -> None:
        if self._conn is not None and self._held:
            with contextlib.suppress(sa.exc.DBAPIError):
                self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
        self._drop()
        self._engine.dispose()

    def _drop(self) -> None:
        self._held = False
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None


class FileLeaderLock:
    """An exclusive `flock` on a file; freed by the kernel when the process ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def hold(self) -> bool:
        if self._fd is not None:
            if self._still_ours():
                return True
            log.warning("scheduler lock file %s was replaced; taking it again", self.path)
            self.release()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held by another process (BlockingIOError), or refused
            os.close(fd)
            return False
        # For a person wondering who leads; the lock itself is the flock, not the text.
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def _still_ours(self) -> bool:
        # A deleted or recreated file would let a newcomer lock a different inode.
        try:
            return os.fstat(self._fd).st_ino == os.stat(self.path).st_ino  # type: ignore[arg-type]
        except OSError:
            return False


class SoleLeader:
    """An in-memory SQLite database has one process by definition: it always leads."""

    def hold(self) -> bool:
        return True

    def release(self) -> None:
        return None


def leader_lock(store: Store) -> LeaderLock:
    """The leader lock that fits the store."""
    if not store.is_sqlite:
        return PostgresLeaderLock(store.url)
    path = make_url(store.url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return SoleLeader()
    return FileLeaderLock(Path(path).with_name(Path(path).name + ".leader"))
