"""`xerobridge db`: the database."""

from __future__ import annotations

from xerobridge.cli import root
from xerobridge.cli.root import group

db_app = group("db", "The database.")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the newest version."""
    store = root.open_store()
    root.out.print(f"database {store.safe_url} is up to date")
