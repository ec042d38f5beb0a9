"""Connecting xerobridge to Xero organisations: custom connections and the web-app consent.

A custom connection (client credentials) reaches exactly one organisation and is connected in one
step. A web app asks a person for consent: `authorize_url` makes the PKCE verifier and the state
and keeps them, encrypted, in a pending `TokenGrant`; Xero sends the person's browser back to the
daemon's `/xero/callback` (`oauth_callback`), which exchanges the code and makes one connection per
organisation the consent reaches, all sharing the grant's token set.

The state is `<grant id>.<random secret>`: the id finds the pending grant, the secret (compared in
constant time with the encrypted copy) proves the callback answers our own request. That is the
callback's authentication; a state is good for one completion within `PENDING_LIFETIME`.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
import sqlalchemy as sa
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from sqlmodel import Session, col, select

from xerobridge.clock import Clock
from xerobridge.contract.errors import UserError
from xerobridge.store import usage
from xerobridge.store.db import Store
from xerobridge.store.encryption import decrypt, encrypt
from xerobridge.store.models import Connection, TokenGrant
from xerobridge.xero.auth import (
    DEFAULT_API_URL,
    DEFAULT_IDENTITY_URL,
    TokenEndpointError,
    expires_at,
    load_tokens,
    request_token,
    save_tokens,
    token_set,
)

T = TypeVar("T")

#: Scopes asked for by default. Apps created on or after 2 March 2026 must ask for Xero's granular
#: scopes instead (accounting.invoices, accounting.payments ...): pass them with --scope.
DEFAULT_SCOPES = (
    "openid",
    "profile",
    "email",
    "offline_access",
    "accounting.transactions",
    "accounting.contacts",
    "accounting.settings",
)
#: How long a consent started with `authorize_url` may take to come back.
PENDING_LIFETIME = timedelta(hours=1)
#: Xero's own consent page lives on login.xero.com, not on the token endpoint's host.
XERO_AUTHORIZE_URL = "https://login.xero.com/identity/connect/authorize"
READ_TIMEOUT = 30.0

_SLUG = re.compile(r"[^a-z0-9]+")


# -- reads from Xero ------------------------------------------------------------------------------


async def _xero_get(
    http: httpx.AsyncClient, url: str, *, token: str, tenant_id: str | None = None
) -> Any:
    """One GET to Xero's API, as JSON; a person's-mistake UserError on any failure.

    These reads run before the connection exists, so they bypass `XeroClient`; the
    /Organisation reads are counted against their connection once it is saved (`_count`).
    """
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if tenant_id:
        headers["xero-tenant-id"] = tenant_id
    try:
        response = await http.get(url, headers=headers, timeout=READ_TIMEOUT)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise UserError(
            f"cannot reach {url}: {exc or type(exc).__name__}; check --api-url"
        ) from None
    if response.status_code in (401, 403):
        raise UserError(
            f"Xero refused GET {url} ({response.status_code}): the app may lack the "
            "accounting.settings scope, or the organisation was disconnected"
        )
    if response.status_code != 200:
        raise UserError(f"GET {url} answered {response.status_code}; is it Xero's API?")
    try:
        return response.json()
    except ValueError:
        raise UserError(f"GET {url} did not answer JSON; is it Xero's API?") from None


async def _organisation(
    http: httpx.AsyncClient, api_url: str, token: str, tenant_id: str | None = None
) -> dict[str, Any]:
    """The Organisation record of the token's (or the named) organisation."""
    url = api_url.rstrip("/") + "/Organisation"
    data = await _xero_get(http, url, token=token, tenant_id=tenant_id)
    orgs = data.get("Organisations") if isinstance(data, dict) else None
    if not orgs or not isinstance(orgs[0], dict) or not orgs[0].get("OrganisationID"):
        raise UserError(f"GET {url} gave no organisation; is it Xero's Accounting API?")
    return orgs[0]


def connections_url(api_url: str) -> str:
    """Xero's /connections lives at the API host's root (https://api.xero.com/connections)."""
    parts = urlsplit(api_url)
    return urlunsplit((parts.scheme, parts.netloc, "/connections", "", ""))


def authorize_endpoint(identity_url: str) -> str:
    """Where a person consents: login.xero.com for Xero, `<identity>/connect/authorize` else."""
    if urlsplit(identity_url).netloc == urlsplit(DEFAULT_IDENTITY_URL).netloc:
        return XERO_AUTHORIZE_URL
    return identity_url.rstrip("/") + "/connect/authorize"


def _token_problem(exc: TokenEndpointError, identity_url: str, client_id: str) -> UserError:
    if exc.transient and exc.status is None:
        return UserError(f"{exc}; check --identity-url {identity_url}")
    if exc.transient:
        return UserError(f"{exc} (Xero's identity service is busy or down)")
    if exc.error == "invalid_client" or exc.status == 401:
        return UserError(
            f"Xero refused client id {client_id} and its secret (invalid_client): copy both "
            "from the app's page at https://developer.xero.com/app/manage"
        )
    if exc.error == "unauthorized_client":
        return UserError(
            f"app {client_id} may not use this grant (unauthorized_client): a custom connection "
            "needs --client-credentials, a web app needs --redirect-uri instead"
        )
    if exc.error == "invalid_grant":
        return UserError(
            "Xero refused the authorisation code (invalid_grant): it was used or has expired; "
            "start again with `xerobridge connect`"
        )
    return UserError(f"Xero's token endpoint refused: {exc}")


# -- custom connections ---------------------------------------------------------------------------


async def connect_client_credentials(
    store: Store,
    *,
    name: str,
    client_id: str,
    client_secret: str,
    api_url: str = DEFAULT_API_URL,
    identity_url: str = DEFAULT_IDENTITY_URL,
    http: httpx.AsyncClient,
    clock: Clock | None = None,
) -> Connection:
    """Connect (or reconnect) a custom connection: its token, then its organisation."""
    clock = clock or store.clock
    name = _check_name(name)
    try:
        body = await request_token(
            http,
            identity_url,
            client_id=client_id,
            client_secret=client_secret,
            data={"grant_type": "client_credentials"},
        )
    except TokenEndpointError as exc:
        raise _token_problem(exc, identity_url, client_id) from None
    org = await _organisation(http, api_url, str(body["access_token"]))
    tenant_id = str(org["OrganisationID"]).lower()
    now = clock.now()
    with store.transaction() as s:
        conn = s.exec(select(Connection).where(Connection.name == name)).first()
        other = s.exec(
            select(Connection).where(Connection.tenant_id == tenant_id, Connection.name != name)
        ).first()
        if other is not None:
            raise UserError(
                f"organisation {org.get('Name', tenant_id)} is already connected as "
                f"{other.name}; reconnect it with --name {other.name}"
            )
        if conn is not None and conn.tenant_id and conn.tenant_id != tenant_id:
            raise UserError(
                f"connection {name} is organisation {conn.tenant_name or conn.tenant_id}, but "
                f"these credentials reach {org.get('Name', tenant_id)}; choose another --name"
            )
        grant = _own_grant(s, conn, "custom") or TokenGrant(auth_kind="custom", created_at=now)
        grant.client_id, grant.client_secret = client_id, encrypt(client_secret)
        grant.identity_url, grant.scope = identity_url.rstrip("/"), str(body.get("scope", ""))
        save_tokens(grant, token_set(body, now))
        grant.token_expires_at, grant.last_refresh_at = expires_at(body, now), now
        grant.refresh_owner, grant.refresh_until = "", None
        s.add(grant)
        s.flush()
        old_grant = conn.grant_id if conn is not None else None
        conn = conn or Connection(name=name, created_at=now)
        _fill(conn, org, api_url)
        conn.tenant_id, conn.grant_id = tenant_id, grant.id
        s.add(conn)
        s.flush()
        _drop_orphans(s, {old_grant} - {grant.id})
        _count(s, store, conn, now)
    return conn


# -- the web-app consent --------------------------------------------------------------------------


def authorize_url(
    store: Store,
    *,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    identity_url: str = DEFAULT_IDENTITY_URL,
    api_url: str = DEFAULT_API_URL,
    scopes: Sequence[str] | str = DEFAULT_SCOPES,
    name: str = "",
    clock: Clock | None = None,
) -> tuple[str, str]:
    """The URL a person opens to consent, and its state; the pending consent is stored."""
    clock = clock or store.clock
    scope = " ".join(scopes.split() if isinstance(scopes, str) else scopes)
    if "offline_access" not in scope.split():
        raise UserError(
            "the scopes must include offline_access: without it Xero gives no refresh token "
            "and the connection stops working after 30 minutes"
        )
    if not urlsplit(redirect_uri).scheme.startswith("http"):
        raise UserError(
            f"--redirect-uri {redirect_uri!r} must be the http(s) URL of xerobridge's "
            "/xero/callback as registered in the Xero app"
        )
    name = _check_name(name) if name else ""
    verifier = generate_token(64)  # RFC 7636: 43-128 unreserved characters
    secret = generate_token(32)
    now = clock.now()
    with store.transaction() as s:
        _drop_expired_consents(s, now)
        grant = TokenGrant(
            auth_kind="web",
            client_id=client_id,
            client_secret=encrypt(client_secret),
            identity_url=identity_url.rstrip("/"),
            scope=scope,
            created_at=now,
        )
        save_tokens(
            grant,
            {
                "pending": {
                    "state": secret,
                    "code_verifier": verifier,
                    "redirect_uri": redirect_uri,
                    "api_url": api_url.rstrip("/"),
                    "name": name,
                }
            },
        )
        s.add(grant)
        s.flush()
        state = f"{grant.id}.{secret}"
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    return f"{authorize_endpoint(identity_url)}?{urlencode(query)}", state


async def complete_authorization(
    store: Store,
    *,
    state: str,
    code: str,
    http: httpx.AsyncClient,
    clock: Clock | None = None,
) -> list[Connection]:
    """Finish a consent: exchange the code, then one connection per organisation it reaches."""
    clock = clock or store.clock
    grant_id, pending = _pending(store, state, clock.now())
    with store.transaction() as s:
        grant = s.get(TokenGrant, grant_id)
        assert grant is not None
        client_id, client_secret = grant.client_id, decrypt(grant.client_secret)
        identity_url = grant.identity_url
    try:
        body = await request_token(
            http,
            identity_url,
            client_id=client_id,
            client_secret=client_secret,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": pending["redirect_uri"],
                "code_verifier": pending["code_verifier"],
            },
        )
    except TokenEndpointError as exc:
        raise _token_problem(exc, identity_url, client_id) from None
    token = str(body["access_token"])
    api_url = str(pending["api_url"])
    # Every organisation the token reaches, not only this consent's (?authEventId=): they all
    # share the one rotating token set, so they must all move to the grant that holds it.
    tenants = await _xero_get(http, connections_url(api_url), token=token)
    if not isinstance(tenants, list):
        raise UserError(f"GET {connections_url(api_url)} did not list connections")
    tenants = [t for t in tenants if t.get("tenantType", "ORGANISATION") == "ORGANISATION"]
    if not tenants:
        raise UserError(
            "the consent gave access to no organisation; start again with `xerobridge connect` "
            "and pick an organisation in Xero"
        )
    orgs = [
        await _organisation(http, api_url, token, str(tenant["tenantId"])) for tenant in tenants
    ]
    now = clock.now()
    made: list[Connection] = []
    with store.transaction() as s:
        grant = s.get(TokenGrant, grant_id)
        if grant is None or "pending" not in load_tokens(grant):
            raise UserError("this consent was completed already")
        save_tokens(grant, token_set(body, now))
        grant.token_expires_at, grant.last_refresh_at = expires_at(body, now), now
        grant.scope = str(body.get("scope") or grant.scope)
        s.add(grant)
        old_grants: set[int | None] = set()
        for tenant, org in zip(tenants, orgs, strict=True):
            tenant_id = str(tenant["tenantId"]).lower()
            conn = s.exec(select(Connection).where(Connection.tenant_id == tenant_id)).first()
            if conn is None:
                base = pending.get("name") or _slug(str(org.get("Name") or tenant_id))
                if made and pending.get("name"):
                    base = f"{base}-{_slug(str(org.get('Name') or tenant_id))}"
                conn = Connection(name=_free_name(s, base), created_at=now)
            old_grants.add(conn.grant_id)
            _fill(conn, org, api_url)
            conn.tenant_id, conn.grant_id = tenant_id, grant_id
            conn.xero_connection_id = str(tenant.get("id", ""))
            s.add(conn)
            s.flush()
            made.append(conn)
            _count(s, store, conn, now)
        _drop_orphans(s, old_grants - {grant_id})
    return made


def _pending(store: Store, state: str, now: datetime) -> tuple[int, dict[str, Any]]:
    """The pending consent a state names, or a UserError."""
    unknown = UserError(
        "this authorisation is unknown, used or expired; start again with `xerobridge connect`"
    )
    raw_id, _, secret = state.partition(".")
    if not raw_id.isdigit() or not secret:
        raise unknown
    with store.transaction() as s:
        grant = s.get(TokenGrant, int(raw_id))
        if grant is None or grant.auth_kind != "web":
            raise unknown
        pending = load_tokens(grant).get("pending")
        created = grant.created_at
    if not isinstance(pending, dict) or not hmac.compare_digest(
        str(pending.get("state", "")).encode(), secret.encode()
    ):
        raise unknown
    if created is None or created + PENDING_LIFETIME < now:
        raise unknown
    return int(raw_id), pending


def _count(s: Session, store: Store, conn: Connection, now: datetime) -> None:
    """Count the /Organisation read made for a connection before it existed."""
    assert conn.id is not None
    usage.count_call(s, conn.id, now.date(), status=200, dialect=store.dialect)


def _fill(conn: Connection, org: dict[str, Any], api_url: str) -> None:
    conn.tenant_name = str(org.get("Name") or "")
    conn.short_code = str(org.get("ShortCode") or "")
    conn.base_currency = str(org.get("BaseCurrency") or "")
    conn.timezone = str(org.get("Timezone") or "")
    conn.api_url = api_url.rstrip("/")
    conn.status, conn.status_reason = "connected", ""


def _own_grant(s: Session, conn: Connection | None, kind: str) -> TokenGrant | None:
    """The connection's grant if it is of this kind and no other connection shares it."""
    if conn is None or conn.grant_id is None:
        return None
    grant = s.get(TokenGrant, conn.grant_id)
    if grant is None or grant.auth_kind != kind:
        return None
    sharers = s.exec(
        select(sa.func.count())
        .select_from(Connection)
        .where(Connection.grant_id == grant.id, Connection.id != conn.id)
    ).one()
    return None if sharers else grant


def _drop_orphans(s: Session, grant_ids: set[int | None]) -> None:
    """Delete grants no connection uses any more (their tokens are of no use)."""
    ids = [g for g in grant_ids if g is not None]
    if not ids:
        return
    used = set(s.exec(select(Connection.grant_id).where(col(Connection.grant_id).in_(ids))).all())
    for grant_id in set(ids) - used:
        s.execute(sa.delete(TokenGrant).where(col(TokenGrant.id) == grant_id))


def _drop_expired_consents(s: Session, now: datetime) -> None:
    """Forget consents started long ago and never finished (a finished one has an expiry)."""
    used = select(Connection.grant_id).where(col(Connection.grant_id).is_not(None))
    s.execute(
        sa.delete(TokenGrant).where(
            col(TokenGrant.token_expires_at).is_(None),
            col(TokenGrant.auth_kind) == "web",
            col(TokenGrant.created_at) < now - PENDING_LIFETIME,
            col(TokenGrant.id).not_in(used),
        )
    )


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 60 or any(c.isspace() for c in name):
        raise UserError(f"--name {name!r} must be 1 to 60 characters without spaces, e.g. main")
    return name


def _slug(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-")[:40] or "xero"


def _free_name(s: Session, base: str) -> str:
    taken = set(s.exec(select(Connection.name).where(col(Connection.name).startswith(base))).all())
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"
