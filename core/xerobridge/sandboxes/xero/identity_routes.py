"""HTTP endpoints of the identity service: authorize, token, revocation, connections.

Xero serves these on three hosts (login.xero.com, identity.xero.com, api.xero.com); the sandbox
serves them all on one, at both the short paths and Xero's own (`/identity/connect/authorize`).
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from xerobridge.sandboxes.xero.errors import ApiError
from xerobridge.sandboxes.xero.identity import OAuthError
from xerobridge.sandboxes.xero.requestlog import LoggedRequest

if TYPE_CHECKING:
    from xerobridge.sandboxes.xero.state import SandboxState

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _state(request: Request) -> SandboxState:
    return request.app.state.sandbox


def _log(request: Request, status: int) -> None:
    state = _state(request)
    state.log.add(
        LoggedRequest(
            time=state.clock.now(),
            tenant_id=None,
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            status=status,
        )
    )


async def authorize(request: Request) -> Response:
    """GET /connect/authorize: the sandbox user consents at once and is sent back."""
    try:
        location = _state(request).identity.authorize(dict(request.query_params))
    except OAuthError as exc:
        # Xero shows an error page rather than redirecting when the client or redirect_uri is
        # wrong; a plain 400 page stands in for it.
        _log(request, 400)
        return PlainTextResponse(f"{exc.error}: {exc.description}", status_code=400)
    _log(request, 302)
    return RedirectResponse(location, status_code=302)


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip()).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, _, secret = decoded.partition(":")
    return unquote(client_id), unquote(secret)


async def token(request: Request) -> Response:
    """POST /connect/token."""
    form = await request.form()
    fields = {k: str(v) for k, v in form.items()}
    try:
        body = _state(request).identity.token(fields, _basic(request))
    except OAuthError as exc:
        _log(request, exc.status)
        return JSONResponse(exc.body(), status_code=exc.status, headers=NO_STORE)
    _log(request, 200)
    return JSONResponse(body, headers=NO_STORE)


async def revocation(request: Request) -> Response:
    """POST /connect/revocation: revoke a refresh token (and the grant's connections)."""
    form = await request.form()
    _state(request).identity.revoke(str(form.get("token", "")))
    _log(request, 200)
    return Response(status_code=200)


async def connections(request: Request) -> Response:
    """GET /connections: the organisations this token's app is connected to."""
    state = _state(request)
    try:
        access = state.identity.authenticate(request.headers.get("authorization"))
    except ApiError as exc:
        _log(request, exc.status_code)
        return exc.response()
    found = state.identity.active_connections(access.client_id)
    event = request.query_params.get("authEventId")
    if event:
        found = [c for c in found if c.auth_event_id == event.lower()]
    _log(request, 200)
    return JSONResponse([c.public() for c in found])


async def delete_connection(request: Request) -> Response:
    """DELETE /connections/{id}: disconnect one organisation."""
    state = _state(request)
    try:
        access = state.identity.authenticate(request.headers.get("authorization"))
    except ApiError as exc:
        _log(request, exc.status_code)
        return exc.response()
    connection_id = request.path_params["connection_id"].lower()
    connection = state.identity.connections.get(connection_id)
    if connection is None or connection.client_id != access.client_id or not connection.active:
        _log(request, 404)
        return Response(status_code=404)
    state.identity.disconnect(connection_id)
    _log(request, 204)
    return Response(status_code=204)


def routes() -> list[Route]:
    return [
        Route("/connect/authorize", authorize, methods=["GET"]),
        Route("/identity/connect/authorize", authorize, methods=["GET"]),
        Route("/connect/token", token, methods=["POST"]),
        Route("/connect/revocation", revocation, methods=["POST"]),
        Route("/connections", connections, methods=["GET"]),
        Route("/Connections", connections, methods=["GET"]),
        Route("/connections/{connection_id}", delete_connection, methods=["DELETE"]),
        Route("/Connections/{connection_id}", delete_connection, methods=["DELETE"]),
    ]
