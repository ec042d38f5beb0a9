"""Where xerobridge keeps its data: the home directory and the database URL."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def home() -> Path:
    """The data directory (`XEROBRIDGE_HOME`, else the per-user data dir), created on first use."""
    raw = os.environ.get("XEROBRIDGE_HOME")
    path = Path(raw).expanduser() if raw else Path(platformdirs.user_data_dir("xerobridge"))
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def database_url() -> str:
    """`XEROBRIDGE_DATABASE_URL`, else a SQLite file in the data directory."""
    url = os.environ.get("XEROBRIDGE_DATABASE_URL", "").strip()
    if url:
        # People paste libpq URLs; SQLAlchemy needs the driver named.
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url.removeprefix(prefix)
        return url
    return f"sqlite:///{home() / 'xerobridge.sqlite3'}"


def public_url() -> str:
    """Where people and Xero reach the daemon (`XEROBRIDGE_PUBLIC_URL`), for redirects."""
    return os.environ.get("XEROBRIDGE_PUBLIC_URL", "http://127.0.0.1:8765").rstrip("/")
