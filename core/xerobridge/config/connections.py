"""Configured Xero connections: listing them, their webhook key, removing one."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from xerobridge.contract.errors import UserError
from xerobridge.store import encryption
from xerobridge.store.db import Store
from xerobridge.store.models import (
    ApiCall,
    ApiUsage,
    Connection,
    MirrorCursor,
    MirrorRecord,
    Source,
    TokenGrant,
)


def get(session: Session, name: str) -> Connection:
    """The connection called `name`, or a UserError listing those that exist."""
    conn = session.exec(select(Connection).where(Connection.name == name)).first()
    if conn is None:
        names = ", ".join(session.exec(select(Connection.name).order_by(Connection.name)).all())
        hint = f"connected: {names}" if names else "none yet"
        raise UserError(
            f"no Xero connection named {name!r} ({hint}); add one with `xerobridge connect`"
        )
    return conn


def list_all(session: Session) -> list[Connection]:
    """Every connection, by name."""
    return list(session.exec(select(Connection).order_by(col(Connection.name))).all())


def last_refreshes(session: Session) -> dict[int, datetime | None]:
    """When each connection's token set was last fetched or refreshed, by connection id."""
    rows = session.exec(
        select(Connection.id, TokenGrant.last_refresh_at).join(
            TokenGrant, col(TokenGrant.id) == col(Connection.grant_id)
        )
    ).all()
    return {conn_id: at for conn_id, at in rows if conn_id is not None}


def set_webhook_key(store: Store, name: str, key: str) -> None:
    """Store the webhook signing key Xero shows on the app's Webhooks page (encrypted)."""
    if not key.strip():
        raise UserError("the webhook key is empty; copy it from the app's Webhooks page in Xero")
    with store.transaction() as s:
        conn = get(s, name)
        conn.webhook_key = encryption.encrypt(key.strip())
        s.add(conn)


def remove(store: Store, name: str) -> None:
    """Forget a connection that no source uses, with its mirror, counters and unused grant."""
    with store.transaction() as s:
        conn = get(s, name)
        check_unused(s, conn)
        for table in (MirrorRecord, MirrorCursor, ApiUsage, ApiCall):
            s.execute(sa.delete(table).where(col(table.connection_id) == conn.id))
        grant_id = conn.grant_id
        s.delete(conn)
        s.flush()
        others = s.exec(select(Connection.id).where(Connection.grant_id == grant_id)).first()
        if grant_id is not None and others is None:
            s.execute(sa.delete(TokenGrant).where(col(TokenGrant.id) == grant_id))


def check_unused(s: Session, conn: Connection) -> None:
    """A UserError naming the sources that use a connection, if any do."""
    users = s.exec(select(Source.name).where(Source.connection_id == conn.id)).all()
    if users:
        raise UserError(
            f"connection {conn.name} is used by source(s) {', '.join(users)}; remove them, or "
            "bind them to another connection (`xerobridge sources connect`), first"
        )


def as_dict(conn: Connection) -> dict[str, str]:
    """One connection as `xerobridge connections list --json` and `/api/connections` show it."""
    return {
        "name": conn.name,
        "organisation": conn.tenant_name,
        "short_code": conn.short_code,
        "status": conn.status,
        "reason": conn.status_reason,
        "webhook_key": "set" if conn.webhook_key else "",
    }
