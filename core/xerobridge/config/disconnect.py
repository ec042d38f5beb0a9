"""Disconnecting an organisation: revoked at Xero first, then forgotten here.

Xero's side goes in two steps: `DELETE /connections/{id}` (at the API host) ends this app's
access to the organisation, and when no other connection shares the consent, the refresh token
is revoked (`POST /connect/revocation`), so that a copy of it is worth nothing. A consent Xero
has already refused has nothing left to revoke and is only forgotten.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx
from sqlmodel import select

from xerobridge.config import connections as connection_config
from xerobridge.contract.errors import NeedsPerson, UserError
from xerobridge.store.db import Store
from xerobridge.store.encryption import decrypt
from xerobridge.store.models import Connection, TokenGrant
from xerobridge.xero.auth import TokenEndpointError, TokenManager, basic_auth, load_tokens
from xerobridge.xero.connect import connections_url

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Disconnected:
    """What disconnecting did at Xero."""

    name: str
    connection_revoked: bool
    token_revoked: bool
    custom: bool = False

    def describe(self) -> str:
        """One line for a person."""
        done = [
            what
            for what, yes in (
                ("its access removed at Xero", self.connection_revoked),
                ("its refresh token revoked", self.token_revoked),
            )
            if yes
        ]
        if done:
            at_xero = f" ({', '.join(done)})"
        elif self.custom:
            at_xero = " (a custom connection: its app's access ends in Xero's developer portal)"
        else:
            at_xero = " (Xero had already ended its consent)"
        return f"disconnected {self.name}{at_xero}"


async def disconnect(store: Store, name: str, *, http: httpx.AsyncClient) -> Disconnected:
    """Revoke a connection no source uses at Xero, then forget it with what goes with it."""
    with store.transaction() as s:
        conn = connection_config.get(s, name)
        connection_config.check_unused(s, conn)
        grant = s.get(TokenGrant, conn.grant_id) if conn.grant_id is not None else None
        shared = s.exec(
            select(Connection.id).where(
                Connection.grant_id == conn.grant_id, Connection.id != conn.id
            )
        ).first()
    assert conn.id is not None
    revoked_connection = revoked_token = False
    try:
        token = await TokenManager(store, http=http).access_token(conn.id)
    except (NeedsPerson, TokenEndpointError) as exc:
        log.info("connection %s: no token to revoke with (%s)", name, exc)
        token = ""
    try:
        if token and conn.xero_connection_id:
            url = f"{connections_url(conn.api_url)}/{conn.xero_connection_id}"
            answer = await http.delete(url, headers={"Authorization": f"Bearer {token}"})
            _check(answer, name, "remove the connection")
            revoked_connection = answer.status_code < 300
        refresh = str(load_tokens(grant).get("refresh_token") or "") if grant else ""
        if grant is not None and refresh and shared is None:
            answer = await http.post(
                f"{grant.identity_url.rstrip('/')}/connect/revocation",
                data={"token": refresh},
                headers={
                    "Authorization": basic_auth(grant.client_id, decrypt(grant.client_secret))
                },
            )
            _check(answer, name, "revoke the refresh token")
            revoked_token = True
    except httpx.TransportError as exc:
        raise UserError(
            f"could not reach Xero to disconnect {name} ({exc or type(exc).__name__}): nothing "
            f"was forgotten; try again, or `xerobridge connections remove {name} --local` to "
            "forget it here only"
        ) from exc
    connection_config.remove(store, name)
    custom = grant is not None and grant.auth_kind == "custom"
    return Disconnected(name, revoked_connection, revoked_token, custom=custom)


def _check(answer: httpx.Response, name: str, what: str) -> None:
    """Xero's answer to a revocation: gone already (401, 403, 404) counts as done."""
    if answer.status_code < 300 or answer.status_code in (401, 403, 404):
        return
    raise UserError(
        f"Xero refused to {what} of {name} (HTTP {answer.status_code}): nothing was "
        f"forgotten; try again, or `xerobridge connections remove {name} --local` to forget it "
        "here only"
    )
