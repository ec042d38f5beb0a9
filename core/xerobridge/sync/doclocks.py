"""Locks on one Xero document, so that the records appending lines to it write one at a time.

Several records may add lines to one shared document (a customer's open invoice for the
month). Writing one means reading it, putting in the record's lines and writing it whole; two
workers doing that at once would each drop the other's lines. The lock is taken without waiting
(a job that finds it taken comes back a moment later) and is one the operating system or the
database drops when its holder dies, so a crashed worker never leaves a document locked:

- PostgreSQL: a session advisory lock, on a connection of its own held while the lock is;
- SQLite (one machine): an exclusive `flock` on a file next to the database.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from xerobridge.store import home as config
from xerobridge.store.db import Store

#: Advisory lock keys of documents live in their own range (see store.py for the others).
_KEY_SPACE = 0x7862_1000_0000_0000


@contextmanager
def hold(store: Store, name: str) -> Iterator[bool]:
    """Try to lock the document `name`; yields whether this process holds it now."""
    digest = hashlib.sha256(name.encode()).digest()
    if store.is_sqlite:
        with _file_lock(store, digest.hex()[:32]) as held:
            yield held
        return
    key = _KEY_SPACE | int.from_bytes(digest[:6], "big")
    with store.engine.connect() as conn:
        held = bool(conn.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar())
        conn.commit()
        try:
            yield held
        finally:
            if held:
                conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
                conn.commit()


@contextmanager
def _file_lock(store: Store, stem: str) -> Iterator[bool]:
    import fcntl  # POSIX; xerobridge's SQLite store is for one machine

    folder = _lock_folder(store)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(folder / f"{stem}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _lock_folder(store: Store) -> Path:
    database = make_url(store.url).database
    if database and database != ":memory:":
        return Path(database).parent / ".xerobridge-locks"
    return config.home() / "locks"
