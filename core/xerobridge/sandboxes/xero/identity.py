"""Xero's identity service: apps, consent, tokens, refresh rotation, connections.

Facts followed (Xero OAuth FAQ and troubleshooting pages): access tokens live 30 minutes;
refresh tokens are single-use and rotate, and an unused one expires after 60 days; the token
endpoint answers `{"error": "invalid_grant" | "invalid_client" | "unsupported_grant_type"}`;
custom connections use client_credentials, get no refresh token and need no xero-tenant-id.

Differences, on purpose: Xero lets a client retry with the previous refresh token for a 30
minute grace period after rotation; the sandbox defaults to no grace (`refresh_grace_seconds`)
so that refresh races show up in tests. Access tokens here are HS256 JWTs signed with a per-run
key (Xero's are RS256 with published keys); they carry the same claims a client might read
(`authentication_event_id`, `client_id`, `scope`, `exp`). Token endpoint errors use status 400
for every error code; Xero's status for invalid_client is not documented.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from xerobridge.clock import Clock
from xerobridge.sandboxes.xero.errors import Unauthorized
from xerobridge.sandboxes.xero.ids import IdSource

logger = logging.getLogger(__name__)

ACCESS_TOKEN_LIFETIME = timedelta(minutes=30)
REFRESH_TOKEN_LIFETIME = timedelta(days=60)
AUTH_CODE_LIFETIME = timedelta(minutes=5)
DEFAULT_SCOPE = (
    "openid profile email offline_access "
    "accounting.transactions accounting.contacts accounting.settings"
)


class OAuthError(Exception):
    """A token-endpoint error in RFC 6749 form."""

    def __init__(self, error: str, description: str = "", status: int = 400) -> None:
        super().__init__(error)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


# Registered as a redirect URI, this accepts any http callback on the loopback interface
# (127.0.0.1 or localhost, any port and path), for `xerobridge sandbox` and local dashboards.
# Real Xero needs each URI registered exactly.
LOOPBACK_REDIRECTS = "http://127.0.0.1/*"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})


def redirect_allowed(app: App, uri: str) -> bool:
    """Whether an authorize request's redirect_uri is registered for the app."""
    if not app.redirect_uris or uri in app.redirect_uris:
        return True
    if LOOPBACK_REDIRECTS in app.redirect_uris:
        parts = urlsplit(uri)
        return parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS
    return False


@dataclass
class App:
    """A registered Xero app: a web app (auth code, optionally PKCE) or a custom connection."""

    client_id: str
    client_secret: str | None
    redirect_uris: list[str] = field(default_factory=list)
    name: str = "xerobridge sandbox app"
    custom_tenant_id: str | None = None  # set: a custom connection bound to that organisation


@dataclass
class Connection:
    id: str
    tenant_id: str
    tenant_name: str
    client_id: str
    auth_event_id: str
    created: datetime
    updated: datetime
    active: bool = True

    def public(self) -> dict[str, Any]:
        """The shape of GET /connections (identity spec Connection)."""
        return {
            "id": self.id,
            "authEventId": self.auth_event_id,
            "tenantId": self.tenant_id,
            "tenantType": "ORGANISATION",
            "tenantName": self.tenant_name,
            "createdDateUtc": self.created.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0",
            "updatedDateUtc": self.updated.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0",
        }


@dataclass
class AccessToken:
    value: str
    client_id: str
    scope: str
    auth_event_id: str
    expires_at: datetime
    custom_tenant_id: str | None = None
    revoked: bool = False


@dataclass
class RefreshToken:
    value: str
    client_id: str
    scope: str
    auth_event_id: str
    issued_at: datetime
    rotated_at: datetime | None = None
    successor: str | None = None
    revoked: bool = False


@dataclass
class AuthCode:
    value: str
    client_id: str
    redirect_uri: str
    scope: str
    auth_event_id: str
    expires_at: datetime
    code_challenge: str | None
    code_challenge_method: str | None
    used: bool = False


def pkce_challenge(verifier: str) -> str:
    """The S256 code_challenge of a verifier (RFC 7636)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Identity:
    """The identity service's state and its rules."""

    def __init__(
        self,
        clock: Clock,
        ids: IdSource,
        tenant_names: dict[str, str],
        *,
        refresh_grace_seconds: float = 0.0,
    ) -> None:
        self.clock = clock
        self.ids = ids
        self.tenant_names = tenant_names  # shared with the sandbox state: tenant id -> name
        self.refresh_grace = timedelta(seconds=refresh_grace_seconds)
        self.apps: dict[str, App] = {}
        self.connections: dict[str, Connection] = {}
        self.codes: dict[str, AuthCode] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self._signing_key = IdSource.secret(32).encode()
        self.authorize_tenants: list[str] | None = None  # None: consent connects every org

    # ---- apps and connections ---------------------------------------------------------------

    def register_app(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        *,
        redirect_uris: list[str] | None = None,
        name: str = "xerobridge sandbox app",
        custom_tenant_id: str | None = None,
    ) -> App:
        app = App(
            client_id=client_id or self.ids.guid().replace("-", "").upper(),
            client_secret=client_secret if client_secret is not None else IdSource.secret(36),
            redirect_uris=list(redirect_uris or []),
            name=name,
            custom_tenant_id=custom_tenant_id,
        )
        self.apps[app.client_id] = app
        if custom_tenant_id:
            self.connect(app.client_id, [custom_tenant_id], self.ids.guid())
        return app

    def connect(
        self, client_id: str, tenant_ids: list[str], auth_event_id: str
    ) -> list[Connection]:
        """Consent: connect (or reconnect) the app to these organisations."""
        now = self.clock.now()
        made = []
        for tenant_id in tenant_ids:
            existing = next(
                (
                    c
                    for c in self.connections.values()
                    if c.client_id == client_id and c.tenant_id == tenant_id
                ),
                None,
            )
            if existing is not None:
                existing.active = True
                existing.updated = now
                existing.auth_event_id = auth_event_id
                made.append(existing)
                continue
            connection = Connection(
                id=self.ids.guid(),
                tenant_id=tenant_id,
                tenant_name=self.tenant_names.get(tenant_id, ""),
                client_id=client_id,
                auth_event_id=auth_event_id,
                created=now,
                updated=now,
            )
            self.connections[connection.id] = connection
            made.append(connection)
        return made

    def disconnect(self, connection_id: str) -> bool:
        connection = self.connections.get(connection_id.lower())
        if connection is None or not connection.active:
            return False
        connection.active = False
        return True

    def disconnect_tenant(self, tenant_id: str, client_id: str | None = None) -> int:
        """Revoke the app's access to one organisation (as the user would in Xero's settings)."""
        count = 0
        for connection in self.connections.values():
            mine = client_id is None or connection.client_id == client_id
            if connection.tenant_id == tenant_id and connection.active and mine:
                connection.active = False
                count += 1
        return count

    def active_connections(self, client_id: str) -> list[Connection]:
        return [c for c in self.connections.values() if c.client_id == client_id and c.active]

    def can_access(self, token: AccessToken, tenant_id: str) -> bool:
        return any(c.tenant_id == tenant_id for c in self.active_connections(token.client_id))

    # ---- authorize --------------------------------------------------------------------------

    def authorize(self, params: dict[str, str]) -> str:
        """Auto-approve a consent request; the redirect URL carrying code and state."""
        app = self.apps.get(params.get("client_id", ""))
        if app is None:
            raise OAuthError("invalid_client", "Unknown client_id")
        redirect_uri = params.get("redirect_uri", "")
        # Xero requires the exact registered URI; an app registered with none accepts any,
        # which keeps ad-hoc local demos simple.
        if not redirect_uri or not redirect_allowed(app, redirect_uri):
            raise OAuthError("invalid_request", "redirect_uri is not registered for this app")
        if params.get("response_type") != "code":
            raise OAuthError("unsupported_response_type", "response_type must be code")
        method = params.get("code_challenge_method")
        challenge = params.get("code_challenge")
        if challenge and (method or "plain") != "S256":
            raise OAuthError("invalid_request", "code_challenge_method must be S256")
        auth_event_id = self.ids.guid()
        tenants = self.authorize_tenants or list(self.tenant_names)
        self.connect(app.client_id, tenants, auth_event_id)
        code = AuthCode(
            value=IdSource.secret(32),
            client_id=app.client_id,
            redirect_uri=redirect_uri,
            scope=params.get("scope") or DEFAULT_SCOPE,
            auth_event_id=auth_event_id,
            expires_at=self.clock.now() + AUTH_CODE_LIFETIME,
            code_challenge=challenge,
            code_challenge_method=method,
        )
        self.codes[code.value] = code
        query = {"code": code.value, "scope": code.scope, "session_state": IdSource.secret(16)}
        if params.get("state") is not None:
            query["state"] = params["state"]
        parts = urlsplit(redirect_uri)
        joined = f"{parts.query}&{urlencode(query)}" if parts.query else urlencode(query)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, joined, parts.fragment))

    # ---- token endpoint ---------------------------------------------------------------------

    def token(self, form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        """POST /connect/token."""
        client_id, client_secret = basic or (form.get("client_id", ""), form.get("client_secret"))
        app = self.apps.get(client_id)
        if app is None:
            raise OAuthError("invalid_client")
        grant = form.get("grant_type", "")
        if grant == "authorization_code":
            return self._grant_code(app, client_secret, form)
        if grant == "refresh_token":
            self._authenticate_client(app, client_secret, allow_public=True)
            return self._grant_refresh(app, form)
        if grant == "client_credentials":
            self._authenticate_client(app, client_secret, allow_public=False)
            if not app.custom_tenant_id:
                raise OAuthError("unauthorized_client", "This app is not a custom connection")
            return self.issue(app.client_id, form.get("scope") or DEFAULT_SCOPE, custom=True)
        raise OAuthError("unsupported_grant_type")

    @staticmethod
    def _authenticate_client(app: App, secret: str | None, *, allow_public: bool) -> None:
        if secret is None or secret == "":
            # PKCE apps are public: they refresh and redeem codes without a secret.
            if allow_public:
                return
            raise OAuthError("invalid_client")
        if app.client_secret is None or not hmac.compare_digest(secret, app.client_secret):
            raise OAuthError("invalid_client")

    def _grant_code(self, app: App, secret: str | None, form: dict[str, str]) -> dict[str, Any]:
        code = self.codes.get(form.get("code", ""))
        now = self.clock.now()
        if code is None or code.client_id != app.client_id or code.used or code.expires_at <= now:
            raise OAuthError("invalid_grant")
        if form.get("redirect_uri") != code.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorize request")
        verifier = form.get("code_verifier")
        if code.code_challenge:
            if not verifier or not hmac.compare_digest(
                pkce_challenge(verifier), code.code_challenge
            ):
                raise OAuthError("invalid_grant", "PKCE verification failed")
        elif verifier:
            raise OAuthError("invalid_grant", "code_verifier sent for a code without a challenge")
        # A confidential app authenticates; a PKCE code may be redeemed without a secret.
        self._authenticate_client(app, secret, allow_public=bool(code.code_challenge))
        code.used = True
        return self.issue(app.client_id, code.scope, auth_event_id=code.auth_event_id)

    def _grant_refresh(self, app: App, form: dict[str, str]) -> dict[str, Any]:
        token = self.refresh_tokens.get(form.get("refresh_token", ""))
        now = self.clock.now()
        if token is None or token.client_id != app.client_id or token.revoked:
            raise OAuthError("invalid_grant")
        if token.issued_at + REFRESH_TOKEN_LIFETIME <= now:
            raise OAuthError("invalid_grant")
        if token.rotated_at is not None:
            within_grace = now - token.rotated_at < self.refresh_grace
            successor = self.refresh_tokens.get(token.successor or "")
            if not within_grace or successor is None or successor.revoked:
                raise OAuthError("invalid_grant")
            # Inside the grace period a lost refresh response can be recovered: the same
            # successor refresh token comes back with a new access token.
            return self.issue(
                app.client_id,
                token.scope,
                auth_event_id=token.auth_event_id,
                refresh_value=successor.value,
            )
        if not self.active_connections(app.client_id):
            # Every organisation was disconnected: the grant is gone.
            raise OAuthError("invalid_grant")
        result = self.issue(app.client_id, token.scope, auth_event_id=token.auth_event_id)
        token.rotated_at = now
        token.successor = result.get("refresh_token")
        return result

    def issue(
        self,
        client_id: str,
        scope: str = DEFAULT_SCOPE,
        *,
        auth_event_id: str | None = None,
        custom: bool = False,
        refresh_value: str | None = None,
    ) -> dict[str, Any]:
        """Mint a token set (also used directly by the control API to skip the consent dance)."""
        now = self.clock.now()
        app = self.apps[client_id]
        auth_event_id = auth_event_id or self.ids.guid()
        expires_at = now + ACCESS_TOKEN_LIFETIME
        value = self._jwt(
            {
                "nbf": int(now.timestamp()),
                "exp": int(expires_at.timestamp()),
                "iss": "https://identity.xero.com",
                "aud": "https://identity.xero.com/resources",
                "client_id": client_id,
                "sub": self.ids.guid().replace("-", ""),
                "auth_time": int(now.timestamp()),
                "xero_userid": self.ids.guid(),
                "global_session_id": self.ids.guid().replace("-", ""),
                "jti": IdSource.secret(12),
                "authentication_event_id": auth_event_id,
                "scope": scope.split(),
            }
        )
        self.access_tokens[value] = AccessToken(
            value=value,
            client_id=client_id,
            scope=scope,
            auth_event_id=auth_event_id,
            expires_at=expires_at,
            custom_tenant_id=app.custom_tenant_id if custom else None,
        )
        body: dict[str, Any] = {
            "access_token": value,
            "expires_in": int(ACCESS_TOKEN_LIFETIME.total_seconds()),
            "token_type": "Bearer",
            "scope": scope,
        }
        if "openid" in scope.split():
            body["id_token"] = self._jwt(
                {"iss": "https://identity.xero.com", "aud": client_id, "sub": self.ids.guid()}
            )
        if not custom and "offline_access" in scope.split():
            if refresh_value is None:
                refresh = RefreshToken(
                    value=IdSource.secret(32),
                    client_id=client_id,
                    scope=scope,
                    auth_event_id=auth_event_id,
                    issued_at=now,
                )
                self.refresh_tokens[refresh.value] = refresh
                refresh_value = refresh.value
            body["refresh_token"] = refresh_value
        return body

    def _jwt(self, claims: dict[str, Any]) -> str:
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(self._signing_key, f"{header}.{payload}".encode(), hashlib.sha256)
        return f"{header}.{payload}.{_b64(signature.digest())}"

    def revoke(self, token_value: str) -> None:
        """POST /connect/revocation: a refresh token and its grant's connections go away."""
        refresh = self.refresh_tokens.get(token_value)
        if refresh is None:
            access = self.access_tokens.get(token_value)
            if access is not None:
                access.revoked = True
            return
        refresh.revoked = True
        for connection in self.connections.values():
            if connection.auth_event_id == refresh.auth_event_id:
                connection.active = False
        for access in self.access_tokens.values():
            if access.auth_event_id == refresh.auth_event_id:
                access.revoked = True

    def expire_access_tokens(self) -> None:
        """Make every access token expired now (tests of the 401 path)."""
        now = self.clock.now()
        for token in self.access_tokens.values():
            token.expires_at = min(token.expires_at, now)

    # ---- bearer check -----------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> AccessToken:
        """The access token of a request, or Unauthorized in the gateway's words."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthorized("AuthenticationUnsuccessful")
        token = self.access_tokens.get(authorization[7:].strip())
        if token is None or token.revoked:
            raise Unauthorized("AuthenticationUnsuccessful")
        if token.expires_at <= self.clock.now():
            stamp = token.expires_at.strftime("%m/%d/%Y %H:%M:%S")
            raise Unauthorized(f"TokenExpired: token expired at {stamp}")
        return token
