"""A login's sessions: where it is logged in, since when, last seen; end one, or all but this."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from xerobridge.store.db import Store
from xerobridge.web.dashboard import session_registry, sessions
from xerobridge.web.dashboard.render import render, session_of


def register_routes() -> list[BaseRoute]:
    """GET /sessions, POST /sessions/{sid}/end, POST /sessions/end-others."""
    return [
        Route("/sessions", sessions_page, methods=["GET"]),
        Route("/sessions/end-others", end_others, methods=["POST"]),
        Route("/sessions/{sid}/end", end_one, methods=["POST"]),
    ]


def sessions_page(request: Request) -> Response:
    """The login's open sessions, this one marked."""
    store: Store = request.app.state.store
    session = session_of(request)
    since = store.clock.now() - sessions.IDLE  # older ones have ended by idling
    rows = session_registry.open_sessions(store, session.username, since=since)
    return render(request, "dashboard/sessions.html", title="Sessions", rows=rows,
                  current=session.sid)  # fmt: skip


async def end_one(request: Request) -> Response:
    """End one session of this login (this one: the same as logging out)."""
    await request.form()  # the guard has checked its token
    store: Store = request.app.state.store
    session = session_of(request)
    sid = request.path_params["sid"]
    if not session_registry.end(store, session.username, sid):
        session.flash("That session had ended already.", "error")
    elif sid == session.sid:
        session.log_out()
        session.flash("You are logged out.")
        return RedirectResponse("/login", status_code=303)
    else:
        session.flash("The session is ended: its browser must log in again.")
    return RedirectResponse("/sessions", status_code=303)


async def end_others(request: Request) -> Response:
    """End every other session of this login."""
    await request.form()
    session = session_of(request)
    n = session_registry.end_others(request.app.state.store, session.username, session.sid)
    session.flash(f"Ended {n} other session{'s' if n != 1 else ''}.")
    return RedirectResponse("/sessions", status_code=303)
