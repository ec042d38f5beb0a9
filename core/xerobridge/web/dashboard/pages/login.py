"""Logging in and out of the dashboard."""

from __future__ import annotations

import math

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from xerobridge.store.db import Store
from xerobridge.web.dashboard import lockout, logins, session_registry
from xerobridge.web.dashboard.render import render, session_of


def register_routes() -> list[BaseRoute]:
    """GET/POST /login, POST /logout."""
    return [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_submit, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]


def login_page(request: Request) -> Response:
    """The login form (or straight on, for a session already logged in)."""
    target = safe_next(request.query_params.get("next", ""))
    if session_of(request).logged_in:
        return RedirectResponse(target, status_code=303)
    store: Store = request.app.state.store
    return render(
        request,
        "dashboard/login.html",
        next=target,
        username="",
        problem="",
        has_login=logins.has_login(store),
    )


async def login_submit(request: Request) -> Response:
    """Check the username and password; start the session or show the form again."""
    form = await request.form()
    return await run_in_threadpool(_login, request, form)


def _login(request: Request, form: FormData) -> Response:
    store: Store = request.app.state.store
    username = str(form.get("username", "")).strip()
    target = safe_next(str(form.get("next", "")))
    address = request.client.host if request.client else ""
    until = lockout.locked_until(store, username, address)
    identity = None
    if until is None:
        identity = logins.authenticate(store, username, str(form.get("password", "")))
        if identity is None:
            until = lockout.failed(store, username, address)
    if identity is None:
        problem = "Wrong username or password."
        if until is not None:
            minutes = max(1, math.ceil((until - store.clock.now()).total_seconds() / 60))
            problem = (
                f"Too many failed logins for this username or address: try again at "
                f"{until:%H:%M} UTC (in {minutes} minute{'s' if minutes != 1 else ''})."
            )
        return render(
            request,
            "dashboard/login.html",
            status_code=429 if until is not None else 401,
            next=target,
            username=username,
            problem=problem,
            has_login=logins.has_login(store),
        )
    lockout.succeeded(store, identity.username)
    sid = session_registry.start(store, identity.username, address=address,
                                 agent=request.headers.get("user-agent", ""))  # fmt: skip
    session_of(request).log_in(identity.username, identity.epoch, store.clock.now(), sid)
    return RedirectResponse(target, status_code=303)


def logout(request: Request) -> Response:
    """End the session, in the store too: a copy of its cookie no longer opens anything."""
    session = session_of(request)
    if session.logged_in:
        session_registry.end(request.app.state.store, session.username, session.sid)
    session.log_out()
    session.flash("You are logged out.")
    return RedirectResponse("/login", status_code=303)


def safe_next(raw: str) -> str:
    """Where to go after logging in: a path on this site, never another site."""
    if raw.startswith("/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return "/"
