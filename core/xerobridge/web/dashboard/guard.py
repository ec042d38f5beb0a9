"""The door of the web app: every route needs a login, a bearer token or its own mechanism.

Default deny: a route is open without a login only when it is listed in `OPEN_PATHS`; those are
the routes that are not for people (Xero's webhooks, source notifications, the OAuth callback,
which check a signature, a secret or the OAuth state themselves), the login page and the health
check. Every unsafe request a session makes must carry the session's CSRF token, in the form
field `csrf_token` or the `X-CSRF-Token` header, and come from this site if the browser says
where it came from (`Origin`).
"""

from __future__ import annotations

import hmac
import re
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xerobridge.store import home as config
from xerobridge.store.db import Store
from xerobridge.web.dashboard import logins, session_registry, sessions
from xerobridge.web.dashboard.sessions import Session

OPEN_PATHS = re.compile(r"^/(healthz|xero/webhooks|xero/callback|sources/[^/]+/notify)$")
LOGIN_PATHS = ("/login",)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Forms are small; a bigger body on a dashboard route is not a form of ours.
MAX_FORM_BODY = 1 << 20
CSRF_FIELD = "csrf_token"
#: On every dashboard answer: no framing by other sites (clickjacking), no guessing a JSON
#: answer to be HTML, no page addresses leaked to other sites.
SAFETY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)


class Guard:
    """ASGI middleware: sessions in, cookies out, logins and CSRF tokens checked."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or OPEN_PATHS.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        store: Store = scope["app"].state.store
        headers = Headers(scope=scope)
        path: str = scope["path"]
        is_api = path == "/api" or path.startswith("/api/")

        bearer = _bearer(headers)
        if is_api and bearer:
            identity = await run_in_threadpool(logins.check_token, store, bearer)
            if identity is None:
                await _deny_api(
                    401,
                    "the bearer token is not known; create one with "
                    "`xerobridge admin create-token NAME`",
                )(scope, receive, send)
                return
            scope.setdefault("state", {})["identity"] = identity
            await self.app(scope, receive, send)
            return

        session = await run_in_threadpool(_session_of, store, headers)
        scope.setdefault("state", {})["session"] = session
        if session.logged_in:
            scope["state"]["identity"] = logins.Identity(session.username, session.epoch)

        if scope["method"] not in SAFE_METHODS:
            receive, problem = await _check_csrf(scope, receive, headers, session)
            if problem:
                response = _deny_api(403, problem) if is_api else PlainTextResponse(problem, 403)
                await _with_cookie(response, session)(scope, receive, send)
                return

        if not session.logged_in and path not in LOGIN_PATHS:
            if is_api:
                response = _deny_api(401, "log in or send `Authorization: Bearer <token>`")
            else:
                target = path + (
                    f"?{scope['query_string'].decode()}" if scope["query_string"] else ""
                )
                response = RedirectResponse(f"/login?next={quote(target)}", status_code=303)
            await _with_cookie(response, session)(scope, receive, send)
            return

        await self.app(scope, receive, _cookie_sender(send, session))


def _session_of(store: Store, headers: Headers) -> Session:
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header is the browser's problem, not a 500
        cookie = SimpleCookie()
    morsel = cookie.get(sessions.COOKIE)
    session = sessions.decode(morsel.value if morsel else "", store.clock.now())
    if session.logged_in and (
        logins.current_epoch(store, session.username) != session.epoch
        or not session_registry.alive(store, session.sid, session.username)
    ):
        session.log_out()
        session.flash("This session was ended (a log out or a new password); log in again.")
    return session


async def _check_csrf(
    scope: Scope, receive: Receive, headers: Headers, session: Session
) -> tuple[Receive, str]:
    """The receive to hand on (the body is read here and replayed) and a problem, or ""."""
    origin = headers.get("origin")
    if origin and origin != "null":
        allowed = {headers.get("host", ""), urlsplit(config.public_url()).netloc}
        if urlsplit(origin).netloc not in allowed:
            return receive, "refused: this form was posted from another site"
    token = headers.get("x-csrf-token", "")
    body = b""
    if not token:
        body, too_big = await _read_body(receive)
        if too_big:
            return _replay(b""), "refused: the form is too large"
        token = _form_token(headers.get("content-type", ""), body)
        receive = _replay(body)
    if not token or not hmac.compare_digest(token, session.csrf):
        return receive, (
            "refused: the form's security token is missing or out of date; "
            "reload the page and try again"
        )
    return receive, ""


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BODY:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), False


def _form_token(content_type: str, body: bytes) -> str:
    if content_type.startswith("application/x-www-form-urlencoded"):
        values = parse_qs(body.decode("latin-1"), keep_blank_values=True).get(CSRF_FIELD)
        return values[0] if values else ""
    if content_type.startswith("multipart/form-data"):
        match = re.search(rb'name="' + CSRF_FIELD.encode() + rb'"\r\n\r\n([^\r\n]*)\r\n', body)
        return match.group(1).decode("latin-1") if match else ""
    return ""


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def _bearer(headers: Headers) -> str:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _deny_api(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


def _with_cookie(response: Response, session: Session) -> Response:
    if session.dirty:
        response.raw_headers.append((b"set-cookie", sessions.cookie_header(session).encode()))
    return response


def _cookie_sender(send: Send, session: Session) -> Send:
    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers: list[Any] = [*message.get("headers", []), *SAFETY_HEADERS]
            if session.dirty:
                headers.append((b"set-cookie", sessions.cookie_header(session).encode()))
            message = {**message, "headers": headers}
        await send(message)

    return sender
