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

from xerobridge.config import connections, sources, xero_lists
from xerobridge.contract.errors import UserError, XerobridgeError
from xerobridge.contract.plugins import Plugins
from xerobridge.runtime.queue import Queue
from xerobridge.store.db import Store
from xerobridge.sync.account_checks import AccountCheck, check_accounts
from xerobridge.web.dashboard.plugin_pages import said, setup_accounts
from xerobridge.web.dashboard.render import render, session_of
from xerobridge.xero.mirror import MirrorView


def register_routes() -> list[BaseRoute]:
    """GET and POST /sources/{name}/accounts, and POST .../accounts/choose."""
    return [
        Route("/sources/{name}/accounts", accounts_page, methods=["GET"]),
        Route("/sources/{name}/accounts", set_up, methods=["POST"]),
        Route("/sources/{name}/accounts/choose", choose, methods=["POST"]),
    ]


@dataclass(frozen=True)
class _Page:
    """What the page shows of one source."""

    source: str
    plugin_title: str
    connection: str
    checks: list[AccountCheck]
    problem: str
    #: Per setting, the organisation's active accounts of the type it needs, by name.
    choices: dict[str, list[str]]


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
            return _Page(name, spec.title, conn, [], str(exc), {})
    # The mirror reads in transactions of its own, so only after the one above has ended.
    mirror = MirrorView(store, src.connection_id) if src.connection_id else None
    checks = check_accounts(spec, settings, mirror)
    choices = {c.setting: _of_type(mirror, c.account_type) for c in checks} if mirror else {}
    problem = ""
    if mirror is None and checks:
        problem = (
            f"source {name} has no Xero connection, so its accounts can be neither checked nor "
            "created; a source gets its connection when it is added (--connection)"
        )
    return _Page(name, spec.title, conn, checks, problem, choices)


def _of_type(mirror: MirrorView, account_type: str) -> list[str]:
    """The names of the organisation's active accounts of a type, as the mirror holds them."""
    return [str(a["Name"]) for a in xero_lists.accounts_of_type(mirror, account_type)]


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


async def choose(request: Request) -> Response:
    """Name an account the organisation has in one of the source's account settings."""
    form = await request.form()
    name = request.path_params["name"]
    setting, account = str(form.get("setting", "")), str(form.get("account", "")).strip()
    session = session_of(request)
    try:
        page = await run_in_threadpool(_load, request, name)
        if account not in page.choices.get(setting, []):
            raise UserError(
                f"{account or 'no account'} is not an active account of the type "
                f"{setting or 'the setting'} needs in the organisation; pick one from the list"
            )
        await run_in_threadpool(_save, request, name, setting, account)
    except UserError as exc:
        session.flash(f"{name}: {exc}", "error")
        return RedirectResponse(_path(name), status_code=303)
    session.flash(f"{name}: {setting} is now {account!r}.")
    return RedirectResponse(_path(name), status_code=303)


def _save(request: Request, name: str, setting: str, account: str) -> None:
    store: Store = request.app.state.store
    plugins: Plugins = request.app.state.plugins
    with store.transaction() as s:
        src = sources.get(s, name)
    sources.update_settings(store, plugins.spec(src.plugin), name, {setting: account})
    # Records held for want of the account go again with it.
    Queue(store).retry_failed(source_id=src.id)
