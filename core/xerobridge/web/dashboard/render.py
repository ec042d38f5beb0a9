"""Rendering dashboard pages: one Jinja2 environment, autoescaped always, with the page frame.

Templates live in `xerobridge/templates/` (the core's under `dashboard/`); a plugin adds its own
by shipping a `templates/` folder in its package, which is searched after the core's.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup, escape
from sqlmodel import func, select
from starlette.requests import Request
from starlette.responses import HTMLResponse

from xerobridge.store.db import Store
from xerobridge.store.models import ActionLog
from xerobridge.web.dashboard.sessions import Session

#: Main navigation: (path, label).
NAV = (
    ("/", "Overview"),
    ("/connections", "Connections"),
    ("/sources", "Sources"),
    ("/queue", "Queue"),
    ("/log", "Sync log"),
    ("/report", "Requests"),
    ("/actions", "Action log"),
    ("/unmapped", "Unmapped"),
)


@cache
def environment(plugin_packages: tuple[str, ...] = ()) -> jinja2.Environment:
    """The template environment: the core's templates, then each plugin package's."""
    loaders: list[jinja2.BaseLoader] = [jinja2.PackageLoader("xerobridge", "templates")]
    for package in plugin_packages:
        try:
            loaders.append(jinja2.PackageLoader(package, "templates"))
        except ValueError:  # the plugin ships no templates folder
            continue
    # autoescape=True for every template, whatever its file name: nothing a source or a
    # person typed ever reaches a page unescaped.
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders), autoescape=True, undefined=jinja2.StrictUndefined
    )
    env.filters["when"] = _when
    return env


def session_of(request: Request) -> Session:
    """The request's session (the guard puts one on every dashboard request)."""
    return request.scope["state"]["session"]


def csrf_field(request: Request) -> Markup:
    """The hidden input every form carries."""
    token = escape(session_of(request).csrf)
    return Markup(f'<input type="hidden" name="csrf_token" value="{token}">')


def render(
    request: Request, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A page in the frame: navigation, the login, unacknowledged actions, flashed messages."""
    store: Store = request.app.state.store
    session = session_of(request)
    with store.transaction() as s:
        unacknowledged = s.exec(
            select(func.count()).select_from(ActionLog).where(ActionLog.acknowledged.is_(False))  # type: ignore[attr-defined]
        ).one()
    plugins = request.app.state.plugin_packages
    html = (
        environment(plugins)
        .get_template(template)
        .render(
            request=request,
            nav=NAV,
            path=request.url.path,
            user=session.username,
            csrf_field=csrf_field(request),
            csrf_token=session.csrf,
            flashes=session.take_flashes(),
            unacknowledged=unacknowledged,
            **context,
        )
    )
    return HTMLResponse(html, status_code=status_code)


def _when(value: Any) -> str:
    """A stored time as `YYYY-MM-DD HH:MM:SS UTC` (empty for none)."""
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")
