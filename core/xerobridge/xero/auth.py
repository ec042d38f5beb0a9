"""Xero access tokens: reuse while fresh, refresh under a lease held in the database.

Xero's refresh tokens are single use and rotate on every refresh, and one token set (a
`TokenGrant`) serves every connection of one consent. If two workers spent the same refresh token,
the second would get `invalid_grant` and the connection would need a person to reconnect it. So a
refresh runs under the grant's lease (`refresh_owner`, `refresh_until`):

1. In one short transaction (the grant's row locked FOR UPDATE on PostgreSQL; SQLite's
   BEGIN IMMEDIATE serialises writers) re-read the token set. If it is fresh and not the token
   the caller saw fail (`stale`), someone else refreshed: use it. Otherwise, unless another live
   holder has the lease, take it for `LEASE` seconds.
2. With no transaction open, ask Xero's token endpoint (holding SQLite's write lock across an
   `await` would stall every other task and process).
3. In one transaction store the rotated token set (encrypted) and release the lease; only then is
   the new access token handed out.

Waiters poll on the injected clock and re-read; a lease whose holder died expires and is taken
over. Within one process an asyncio lock per grant queues tasks before they reach the database.

Why plain httpx and not authlib's `AsyncOAuth2Client` for the token calls: the manager is handed
the process's shared `httpx.AsyncClient` (its pool, its timeouts, the sandbox's transport in
tests), while `AsyncOAuth2Client` is an `httpx.AsyncClient` of its own; and what authlib adds on
top of three form POSTs is refresh by `expires_at` under a per-instance lock, which is exactly the
part that must live in the database here. Errors also need the raw status (401/403 and 4xx mean a
person must reconnect, 5xx and network errors mean later), which is simplest from the response.
authlib still makes the PKCE verifier, challenge and state (see `connect.py`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import uuid
from base64 import b64encode
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import sqlalchemy as sa
from sqlmodel import Session, col, select

from xerobridge.clock import Clock
from xerobridge.contract.errors import NeedsPerson, RetryLater, UserError
from xerobridge.store.db import Store
from xerobridge.store.encryption import decrypt, encrypt
from xerobridge.store.models import ActionLog, Connection, TokenGrant

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.xero.com/api.xro/2.0"
DEFAULT_IDENTITY_URL = "https://identity.xero.com"

#: A stored access token this close to its expiry is refreshed before use.
LEEWAY = timedelta(minutes=2)
#: How long a refresh lease lasts; a holder that died loses it after this.
LEASE = timedelta(seconds=30)
#: The token call's own timeout, well inside the lease so that a slow call never outlives it.
TOKEN_TIMEOUT = 15.0
#: Waiting for another holder: first poll, doubling up to the longest poll.
POLL_MIN, POLL_MAX = 0.05, 1.0
#: Saving a rotated token set is tried this often before the error is raised.
STORE_ATTEMPTS = 3
#: A waiter gives up (RetryLater) after this long without getting a token or the lease.
MAX_WAIT = 2 * LEASE.total_seconds() + 15


def token_url(identity_url: str) -> str:
    """The token endpoint under an identity base URL."""
    return identity_url.rstrip("/") + "/connect/token"


class TokenEndpointError(Exception):
    """Xero's token endpoint refused (a person must act) or was unavailable (try later)."""

    def __init__(
        self,
        message: str,
        *,
        error: str = "",
        status: int | None = None,
        transient: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.error = error
        self.status = status
        self.transient = transient
        self.retry_after = retry_after


def basic_auth(client_id: str, client_secret: str) -> str:
    # client_secret_basic (RFC 6749 2.3.1): each part form-encoded, then base64.
    raw = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
    return "Basic " + b64encode(raw.encode()).decode()


async def request_token(
    http: httpx.AsyncClient,
    identity_url: str,
    *,
    client_id: str,
    client_secret: str,
    data: dict[str, str],
) -> dict[str, Any]:
    """POST a grant to the token endpoint; the token response, or a TokenEndpointError."""
    url = token_url(identity_url)
    headers = {"Accept": "application/json"}
    if client_secret:
        headers["Authorization"] = basic_auth(client_id, client_secret)
    else:  # a public (PKCE-only) app identifies itself in the form
        data = {**data, "client_id": client_id}
    try:
        response = await http.post(url, data=data, headers=headers, timeout=TOKEN_TIMEOUT)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise TokenEndpointError(
            f"cannot reach Xero's token endpoint {url}: {exc or type(exc).__name__}",
            transient=True,
        ) from None
    status = response.status_code
    if status in (408, 429) or status >= 500:
        retry = response.headers.get("retry-after", "")
        raise TokenEndpointError(
            f"Xero's token endpoint {url} answered {status}; try again later",
            status=status,
            transient=True,
            retry_after=float(retry) if retry.isdigit() else None,
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if status == 200:
        if not isinstance(body, dict) or not body.get("access_token"):
            raise TokenEndpointError(
                f"Xero's token endpoint {url} answered without an access token", transient=True
            )
        return body
    error = str(body.get("error", "")) if isinstance(body, dict) else ""
    description = str(body.get("error_description", "")) if isinstance(body, dict) else ""
    why = error or f"HTTP {status}"
    raise TokenEndpointError(
        f"{why}: {description}" if description else why, error=error or str(status), status=status
    )


def token_set(body: dict[str, Any], now: datetime, *, previous_refresh: str = "") -> dict[str, Any]:
    """What is stored of a token response (encrypted): no id_token, an absolute expiry."""
    expires_in = int(body.get("expires_in") or 1800)
    kept = {
        "access_token": body["access_token"],
        "token_type": body.get("token_type", "Bearer"),
        "scope": body.get("scope", ""),
        "expires_at": int((now + timedelta(seconds=expires_in)).timestamp()),
    }
    refresh = body.get("refresh_token") or previous_refresh
    if refresh:
        kept["refresh_token"] = refresh
    return kept


def expires_at(body: dict[str, Any], now: datetime) -> datetime:
    """When the access token of a token response expires."""
    return now + timedelta(seconds=int(body.get("expires_in") or 1800))


def load_tokens(grant: TokenGrant) -> dict[str, Any]:
    """A grant's token set, decrypted ({} when there is none)."""
    raw = decrypt(grant.token)
    if not raw:
        return {}
    data = json.loads(raw)
    return data if isinstance(data, dict) else {}


def save_tokens(grant: TokenGrant, tokens: dict[str, Any]) -> None:
    """Put a token set on a grant, encrypted (the caller adds the grant to its session)."""
    grant.token = encrypt(json.dumps(tokens, separators=(",", ":")))


def reconnect_command(name: str, grant: TokenGrant, api_url: str) -> str:
    """The `xerobridge connect` command line that gives a connection a new authorisation."""
    parts = ["xerobridge connect", f"--name {name}"]
    if grant.auth_kind == "custom":
        parts.append("--client-credentials")
    parts += [f"--client-id {grant.client_id or '<client id>'}", "--client-secret <secret>"]
    if grant.auth_kind != "custom":
        parts.append("--redirect-uri <callback URL>")
    if api_url and api_url.rstrip("/") != DEFAULT_API_URL:
        parts.append(f"--api-url {api_url}")
    if grant.identity_url and grant.identity_url.rstrip("/") != DEFAULT_IDENTITY_URL:
        parts.append(f"--identity-url {grant.identity_url}")
    return " ".join(parts)


@dataclass(frozen=True)
class _Lease:
    """What the holder of a refresh lease needs for the token call."""

    owner: str
    auth_kind: str
    client_id: str
    client_secret: str
    identity_url: str
    refresh_token: str


class TokenManager:
    """Access tokens for connections, refreshed at most once at a time across all processes."""

    def __init__(
        self,
        store: Store,
        *,
        http: httpx.AsyncClient,
        clock: Clock | None = None,
        worker_id: str = "",
    ) -> None:
        self.store = store
        self.http = http
        self.clock = clock or store.clock
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self._locks: dict[int, asyncio.Lock] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        # connection id -> (access token, expiry): spares a database read per API call. Xero
        # keeps an access token valid until it expires even after a refresh, and a 401 goes
        # through on_unauthorized, so a token cached here is never wrongly reused for long.
        self._cache: dict[int, tuple[str, datetime]] = {}

    # -- the API ----------------------------------------------------------------------------------

    async def access_token(self, connection_id: int) -> str:
        """The stored access token while it has more than LEEWAY to live, else a fresh one."""
        cached = self._cache.get(connection_id)
        if cached is not None and self._fresh(cached[1]):
            return cached[0]
        with self.store.transaction() as s:
            conn, grant = self._grant_of(s, connection_id)
            tokens = load_tokens(grant)
            if tokens.get("error"):
                raise NeedsPerson(conn.status_reason or _refused_text(conn, grant, "error"))
            access = str(tokens.get("access_token") or "")
            until = grant.token_expires_at
        if access and until is not None and self._fresh(until):
            self._cache[connection_id] = (access, until)
            return access
        return await self.refresh(connection_id, stale=access or None)

    async def on_unauthorized(self, connection_id: int, token: str) -> str:
        """Xero answered 401 to `token`: a new access token for the one retry."""
        return await self.refresh(connection_id, stale=token)

    async def refresh(self, connection_id: int, *, stale: str | None = None) -> str:
        """A fresh access token: another process's if it refreshed meanwhile, else a new one.

        `stale` is the access token the caller found wanting (expiring, or refused with 401);
        a stored token that differs from it and is not expiring is returned without a call.
        """
        with self.store.transaction() as s:
            _conn, grant = self._grant_of(s, connection_id)
            grant_id = grant.id
        assert grant_id is not None
        self._cache.pop(connection_id, None)
        async with self._local_lock(grant_id):
            token, until = await self._refresh(connection_id, grant_id, stale)
        if until is not None:
            self._cache[connection_id] = (token, until)
        return token

    # -- the protocol -----------------------------------------------------------------------------

    async def _refresh(
        self, connection_id: int, grant_id: int, stale: str | None
    ) -> tuple[str, datetime | None]:
        owner = f"{self.worker_id}:{uuid.uuid4().hex[:12]}"
        waited, delay = 0.0, POLL_MIN
        while True:
            step = self._try_lease(connection_id, grant_id, owner, stale)
            if isinstance(step, tuple):
                return step
            if isinstance(step, _Lease):
                lease = step
                break
            if waited >= MAX_WAIT:
                raise RetryLater(
                    f"the token refresh of connection {connection_id} is held by another "
                    "process; try again later"
                )
            pause = min(delay, max(step, POLL_MIN))
            await self.clock.sleep(pause)
            waited += pause
            delay = min(delay * 2, POLL_MAX)
        try:
            body = await self._ask(lease)
        except TokenEndpointError as exc:
            if exc.transient:
                self._release(grant_id, owner)
                raise RetryLater(str(exc), retry_after=exc.retry_after) from None
            return self._refused(connection_id, grant_id, lease, exc)
        except BaseException:
            self._release(grant_id, owner)
            raise
        return await self._store(grant_id, lease, body)

    def _try_lease(
        self, connection_id: int, grant_id: int, owner: str, stale: str | None
    ) -> tuple[str, datetime | None] | _Lease | float:
        """A fresh token (and its expiry), the lease, or how long the current lease has left."""
        now = self.clock.now()
        with self.store.transaction() as s:
            grant = self._lock(s, grant_id)
            tokens = load_tokens(grant)
            if tokens.get("error"):
                conn = s.get(Connection, connection_id)
                reason = conn.status_reason if conn else ""
                raise NeedsPerson(reason or f"connection {connection_id} must be reconnected")
            if "pending" in tokens:
                raise NeedsPerson(
                    f"connection {connection_id} is waiting for its authorisation in Xero; "
                    "finish it in the browser or start again with `xerobridge connect`"
                )
            access = str(tokens.get("access_token") or "")
            if access and access != stale and self._fresh(grant.token_expires_at, now):
                return access, grant.token_expires_at
            until = grant.refresh_until
            if grant.refresh_owner and until is not None and until > now:
                return (until - now).total_seconds()
            if grant.refresh_owner:
                log.warning(
                    "taking over the token refresh lease of grant %s from %s, which ran out at %s",
                    grant_id,
                    grant.refresh_owner,
                    until.isoformat() if until else "?",
                )
            grant.refresh_owner, grant.refresh_until = owner, now + LEASE
            s.add(grant)
            return _Lease(
                owner=owner,
                auth_kind=grant.auth_kind,
                client_id=grant.client_id,
                client_secret=decrypt(grant.client_secret),
                identity_url=grant.identity_url or DEFAULT_IDENTITY_URL,
                refresh_token=str(tokens.get("refresh_token") or ""),
            )

    async def _ask(self, lease: _Lease) -> dict[str, Any]:
        if lease.auth_kind == "custom":
            # A custom connection has no refresh token: it asks for a new token outright, with
            # the scopes its app was given (asking for others would be refused: invalid_scope).
            data = {"grant_type": "client_credentials"}
        elif lease.refresh_token:
            data = {"grant_type": "refresh_token", "refresh_token": lease.refresh_token}
        else:
            raise TokenEndpointError(
                "no refresh token was granted (the consent lacked the offline_access scope)",
                error="no_refresh_token",
            )
        return await request_token(
            self.http,
            lease.identity_url,
            client_id=lease.client_id,
            client_secret=lease.client_secret,
            data=data,
        )

    async def _store(
        self, grant_id: int, lease: _Lease, body: dict[str, Any]
    ) -> tuple[str, datetime | None]:
        """Save the rotated token set, trying again if the database fails for a moment: the
        refresh token just spent is dead, so the new one is all the grant has."""
        for attempt in range(1, STORE_ATTEMPTS + 1):
            try:
                return self._store_once(grant_id, lease, body)
            except sa.exc.OperationalError:
                if attempt == STORE_ATTEMPTS:
                    log.error("grant %s: the rotated token set could not be saved", grant_id)
                    raise
                log.warning("grant %s: saving the rotated token set failed; again", grant_id)
                await self.clock.sleep(0.2 * attempt)
        raise AssertionError("unreachable")

    def _store_once(
        self, grant_id: int, lease: _Lease, body: dict[str, Any]
    ) -> tuple[str, datetime | None]:
        """Save the rotated token set and release the lease, in one transaction."""
        now = self.clock.now()
        tokens = token_set(body, now, previous_refresh=lease.refresh_token)
        with self.store.transaction() as s:
            grant = self._lock(s, grant_id)
            save_tokens(grant, tokens)
            grant.token_expires_at = expires_at(body, now)
            grant.last_refresh_at = now
            if body.get("scope"):
                grant.scope = str(body["scope"])
            if grant.refresh_owner == lease.owner:
                grant.refresh_owner, grant.refresh_until = "", None
            else:
                # Our lease ran out during the call and someone took it over; the tokens we
                # were given are still valid, so they are kept until the new holder saves its own.
                log.warning("grant %s: token refresh finished after its lease ran out", grant_id)
            s.add(grant)
        log.info("refreshed the Xero token set of grant %s", grant_id)
        return str(tokens["access_token"]), expires_at(body, now)

    def _refused(
        self, connection_id: int, grant_id: int, lease: _Lease, exc: TokenEndpointError
    ) -> tuple[str, datetime | None]:
        """Xero refused the grant: every connection of it needs a person (or another process
        already refreshed, and its token is used)."""
        now = self.clock.now()
        with self.store.transaction() as s:
            grant = self._lock(s, grant_id)
            if grant.refresh_owner == lease.owner:
                grant.refresh_owner, grant.refresh_until = "", None
            tokens = load_tokens(grant)
            access = str(tokens.get("access_token") or "")
            rotated = tokens.get("refresh_token", "") != lease.refresh_token
            if (
                lease.auth_kind != "custom"
                and rotated
                and access
                and self._fresh(grant.token_expires_at, now)
            ):
                # Someone refreshed while our (expired) lease was taken over: theirs stands.
                s.add(grant)
                return access, grant.token_expires_at
            tokens["error"] = exc.error or "refused"
            save_tokens(grant, tokens)
            s.add(grant)
            message = ""
            connections = s.exec(select(Connection).where(Connection.grant_id == grant_id)).all()
            for conn in connections:
                text = _refused_text(conn, grant, str(exc))
                conn.status, conn.status_reason = "error", text
                s.add(conn)
                s.add(ActionLog(at=now, connection_id=conn.id, level="action", message=text))
                if conn.id == connection_id:
                    message = text
        log.warning("Xero refused the token set of grant %s: %s", grant_id, exc)
        raise NeedsPerson(message or f"connection {connection_id}: {exc}")

    def _release(self, grant_id: int, owner: str) -> None:
        with self.store.transaction() as s:
            s.execute(
                sa.update(TokenGrant)
                .where(col(TokenGrant.id) == grant_id, col(TokenGrant.refresh_owner) == owner)
                .values(refresh_owner="", refresh_until=None)
            )

    # -- helpers ----------------------------------------------------------------------------------

    def _fresh(self, expires: datetime | None, now: datetime | None = None) -> bool:
        return expires is not None and expires > (now or self.clock.now()) + LEEWAY

    def _lock(self, s: Session, grant_id: int) -> TokenGrant:
        query = select(TokenGrant).where(TokenGrant.id == grant_id)
        if not self.store.is_sqlite:
            query = query.with_for_update()
        grant = s.exec(query).first()
        if grant is None:
            raise UserError(f"the token set {grant_id} no longer exists; reconnect to Xero")
        return grant

    @staticmethod
    def _grant_of(s: Session, connection_id: int) -> tuple[Connection, TokenGrant]:
        conn = s.get(Connection, connection_id)
        if conn is None:
            raise UserError(f"there is no Xero connection with id {connection_id}")
        grant = s.get(TokenGrant, conn.grant_id) if conn.grant_id is not None else None
        if grant is None:
            raise NeedsPerson(
                f"connection {conn.name} has no authorisation: connect it with `xerobridge connect`"
            )
        return conn, grant

    def _local_lock(self, grant_id: int) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # locks belong to one event loop
            self._loop, self._locks = loop, {}
        return self._locks.setdefault(grant_id, asyncio.Lock())


def _refused_text(conn: Connection, grant: TokenGrant, why: str) -> str:
    return (
        f"Xero no longer accepts the authorisation of connection {conn.name} ({why}): "
        f"reconnect it with `{reconnect_command(conn.name, grant, conn.api_url)}`"
    )
