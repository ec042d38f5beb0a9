"""The Xero accounts a source needs (`SourceSpec.xero_accounts`), for every plugin's sources.

Each need is named by one of the source's settings (a bank account for payments, a sales
account ...). The page says whether the organisation has an account of that name, as the local
mirror holds it, and of the right type; "Set up accounts" creates the missing ones by the same
code as `xerobridge setup-accounts <source>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from xerobridge.config import connections, sources
from xerobridge.contract.errors import UserError, XerobridgeError
from xerobridge.contract.plugins import Plugins
from xerobridge.store.db import Store
from xerobridge.sync.account_checks import AccountCheck, check_accounts
from xerobridge.web.dashboard.plugin_pages import said, setup_accounts
from xerobridge.web.dashboard.render import render, session_of
from xerobridge.xero.mirror import MirrorView


def register_routes() -> list[BaseRoute]:
    """GET and POST /sources/{name}/accounts."""
    return [
        Route("/sources/{name}/accounts", accounts_page, methods=["GET"]),
        Route("/sources/{name}/accounts", set_up, methods=["POST"]),
    ]


@dataclass(frozen=True)
class _Page:
    """What the page shows of one source."""

    source: str
    plugin_title: str
    connection: str
    checks: list[AccountCheck]
    problem: str


def _path(name: str) -> str:
    return f"/sources/{quote(name)}/accounts"


def _load(request: Request, name: str) -> _Page:
    store: Store = request.app.state.store
    plugins: Plugins = request.app.state.plugins
    with store.transaction() as s:
        src = sources.get(s, name)
        conn = next((c.name for c in connections.list_all(s) if c.id == src.connection_id), "")
        spec = plugins.spec(src.plugin)
        try:
            settings = sources.load_settings(s, src, spec)
        except UserError as exc:  # the settings form says which value to fix
            return _Page(name, spec.title, conn, [], str(exc))
    # The mirror reads in transactions of its own, so only after the one above has ended.
    mirror = MirrorView(store, src.connection_id) if src.connection_id else None
    checks = check_accounts(spec, settings, mirror)
    problem = ""
    if mirror is None and checks:
        problem = (
            f"source {name} has no Xero connection, so its accounts can be neither checked nor "
            "created; a source gets its connection when it is added (--connection)"
        )
    return _Page(name, spec.title, conn, checks, problem)


def accounts_page(request: Request) -> Response:
    """Each account the source needs, whether Xero has it, and "Set up accounts"."""
    name = request.path_params["name"]
    try:
        page = _load(request, name)
    except UserError as exc:
        session_of(request).flash(str(exc), "error")
        return RedirectResponse("/sources", status_code=303)
    return render(
        request,
        "dashboard/source_accounts.html",
        title=f"Xero accounts of {name}",
        page=page,
        missing=sum(1 for c in page.checks if c.state == "missing"),
    )


async def set_up(request: Request) -> Response:
    """Create the accounts the source needs where Xero lacks them."""
    await request.form()  # the guard has checked its token; nothing else is in it
    name = request.path_params["name"]
    session = session_of(request)
    try:
        await run_in_threadpool(_load, request, name)
    except UserError as exc:  # no such source: nothing to come back to
        session.flash(str(exc), "error")
        return RedirectResponse("/sources", status_code=303)
    try:
        outcomes = await setup_accounts(
            request.app.state.store, request.app.state.plugins, request.app.state.http, name
        )
    except XerobridgeError as exc:
        session.flash(f"{name}: {exc}", "error")
        return RedirectResponse(_path(name), status_code=303)
    if outcomes:
        session.flash(f"{name}: " + "; ".join(said(o) for o in outcomes) + ".")
    else:
        session.flash(f"{name}: its plugin needs no Xero accounts.")
    return RedirectResponse(_path(name), status_code=303)
