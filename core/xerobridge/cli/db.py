"""`xerobridge db`: the database."""

from __future__ import annotations

from xerobridge.cli import root
from xerobridge.cli.root import group
from xerobridge.store import rekey

db_app = group("db", "The database.")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the newest version."""
    store = root.open_store()
    root.out.print(f"database {store.safe_url} is up to date")


@db_app.command("rotate-key")
def db_rotate_key() -> None:
    """Re-encrypt every stored secret under a new secret key, then retire the old key.

    With the key file, a new key is made and replaces it once every secret opens with it. With
    XEROBRIDGE_SECRET_KEY, set the new key there and the old one in XEROBRIDGE_OLD_SECRET_KEY
    first. Every dashboard session ends, as their cookies are sealed with the key.
    """
    store = root.open_store()
    done = rekey.rotate(store)
    where = done.key_file or "XEROBRIDGE_SECRET_KEY"
    root.out.print(f"{done.secrets} secrets re-encrypted; the secret key is now the one in {where}")
    if not done.key_file:
        root.out.print("unset XEROBRIDGE_OLD_SECRET_KEY and restart the daemon")
