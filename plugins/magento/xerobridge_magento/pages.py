"""The Magento plugin's dashboard page (`/plugins/magento/`): the Xero accounts each store needs.

The seed's "Configure the Accounts Types in Xero" tab: each Magento source names a bank, sales,
inventory and cost of goods sold account in its settings, and "Set up accounts" creates the ones
Xero lacks, by the same code as `xerobridge setup-accounts <source>`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from xerobridge.config import connections, sources
from xerobridge.contract.errors import UserError, XerobridgeError
from xerobridge.contract.plugins import Plugins
from xerobridge.store.db import Store
from xerobridge.store.models import Source
from xerobridge.sync.accounts import AccountOutcome, ensure_accounts
from xerobridge.sync.engine import Engine
from xerobridge.web.dashboard.render import render, session_of
from xerobridge.xero.mirror import MirrorView

log = logging.getLogger(__name__)

PLUGIN = "magento"
HOME = f"/plugins/{PLUGIN}/"


def routes() -> list[BaseRoute]:
    """The page and its one form, relative to the plugin's mount."""
    return [
        Route("/", accounts_page, methods=["GET"]),
        Route("/{source}/setup-accounts", setup_accounts, methods=["POST"]),
    ]


@dataclass(frozen=True)
class AccountRow:
    """One account a source needs, and whether the organisation's copy here has it."""

    setting: str
    account_type: str
    name: str
    found_code: str  # "" when the mirror does not hold it (yet)


@dataclass(frozen=True)
class StoreRow:
    """One Magento source and its accounts."""

    source: Source
    connection: str
    accounts: list[AccountRow]
    problem: str


def accounts_page(request: Request) -> Response:
    """Every Magento source with the accounts its settings name."""
    store: Store = request.app.state.store
    plugins: Plugins = request.app.state.plugins
    spec = plugins.spec(PLUGIN)
    loaded: list[tuple[Source, Any]] = []
    with store.transaction() as s:
        names = {c.id: c.name for c in connections.list_all(s)}
        for src in sources.list_all(s):
            if src.plugin != PLUGIN:
                continue
            try:
                loaded.append((src, sources.load_settings(s, src, spec)))
            except UserError as exc:  # its settings page says which value to fix
                loaded.append((src, exc))
    rows: list[StoreRow] = []
    # The mirror reads in transactions of its own, so only after the one above has ended.
    for src, settings in loaded:
        conn = names.get(src.connection_id, "")
        if isinstance(settings, UserError):
            rows.append(StoreRow(src, conn, [], str(settings)))
            continue
        view = MirrorView(store, src.connection_id) if src.connection_id else None
        accounts = []
        for need in spec.xero_accounts:
            name = str(getattr(settings, need.setting) or need.default_name)
            found = view.account_by_name(name) if view else None
            code = str(found.get("Code") or "") if found else ""
            accounts.append(AccountRow(need.setting, need.account_type, name, code))
        rows.append(StoreRow(src, conn, accounts, ""))
    return render(request, "magento/accounts.html", title="Magento: Xero accounts", rows=rows)


async def setup_accounts(request: Request) -> Response:
    """Create the accounts a source's settings name where Xero lacks them."""
    await request.form()  # the guard has checked its token; nothing else is in it
    store: Store = request.app.state.store
    name = request.path_params["source"]
    session = session_of(request)
    try:
        with store.transaction() as s:
            src = sources.get(s, name)
        if src.plugin != PLUGIN:
            raise UserError(f"source {name} is a {src.plugin} source, not a Magento one")
        outcomes = await _ensure(request, src)
    except XerobridgeError as exc:
        session.flash(f"{name}: {exc}", "error")
        return RedirectResponse(HOME, status_code=303)
    session.flash(f"{name}: " + "; ".join(_said(o) for o in outcomes) + ".")
    return RedirectResponse(HOME, status_code=303)


async def _ensure(request: Request, source: Source) -> list[AccountOutcome]:
    # The web app's own client reaches Xero; it outlives this engine, so only the source
    # clients the engine made are closed here.
    engine = Engine(
        request.app.state.store, request.app.state.plugins, xero_http=request.app.state.http
    )
    try:
        return await ensure_accounts(engine, source)
    finally:
        await engine.runtimes.aclose()


def _said(outcome: AccountOutcome) -> str:
    return f"{outcome.name} ({outcome.code}) {'created' if outcome.created else 'exists'}"
