"""Connections: the Xero organisations, connecting one (consent or custom), disconnecting one.

The same functions as `xerobridge connect` and `xerobridge connections ...`: a web app's
consent starts here with a redirect to Xero and finishes at the open `/xero/callback`; a
custom connection connects at once.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from xerobridge.config import connections
from xerobridge.config.disconnect import disconnect
from xerobridge.contract.errors import UserError
from xerobridge.store import home as config
from xerobridge.store.db import Store
from xerobridge.web.dashboard.render import render, session_of
from xerobridge.xero import connect
from xerobridge.xero.auth import DEFAULT_API_URL, DEFAULT_IDENTITY_URL

#: The form fields of each way to connect, and what they start as.
CONSENT_FIELDS = ("name", "client_id", "redirect_uri", "scope", "api_url", "identity_url")
CUSTOM_FIELDS = ("name", "client_id", "api_url", "identity_url")


def register_routes() -> list[BaseRoute]:
    """The connections page and its forms."""
    return [
        Route("/connections", page, methods=["GET"]),
        Route("/connections/authorize", authorize, methods=["POST"]),
        Route("/connections/custom", custom, methods=["POST"]),
        Route("/connections/{name}/remove", confirm_remove, methods=["GET"]),
        Route("/connections/{name}/remove", remove, methods=["POST"]),
        Route("/connections/{name}/webhook-key", webhook_key, methods=["POST"]),
    ]


def _defaults() -> dict[str, dict[str, str]]:
    return {
        "consent": {
            "name": "",
            "client_id": "",
            "redirect_uri": f"{config.public_url()}/xero/callback",
            "scope": " ".join(connect.DEFAULT_SCOPES),
            "api_url": DEFAULT_API_URL,
            "identity_url": DEFAULT_IDENTITY_URL,
        },
        "custom": {
            "name": "",
            "client_id": "",
            "api_url": DEFAULT_API_URL,
            "identity_url": DEFAULT_IDENTITY_URL,
        },
    }


def _page(
    request: Request,
    *,
    status_code: int = 200,
    typed: dict[str, dict[str, str]] | None = None,
    problems: dict[str, str] | None = None,
) -> Response:
    store: Store = request.app.state.store
    with store.transaction() as s:
        conns = connections.list_all(s)
        refreshed = connections.last_refreshes(s)
    forms = _defaults()
    for which, values in (typed or {}).items():
        forms[which].update(values)
    return render(
        request,
        "dashboard/connections.html",
        status_code=status_code,
        title="Connections",
        connections=conns,
        refreshed=refreshed,
        forms=forms,
        problems=problems or {},
    )


def page(request: Request) -> Response:
    """Every connection with its status and last token refresh, and the ways to add one."""
    return _page(request)


def _typed(form: FormData, names: tuple[str, ...]) -> dict[str, str]:
    # Everything but the secret goes back into the form when it has to be shown again.
    return {name: str(form.get(name, "")).strip() for name in names}


async def authorize(request: Request) -> Response:
    """Start a web app's consent: remember it, then send the browser to Xero."""
    form = await request.form()
    return await run_in_threadpool(_authorize, request, form)


def _authorize(request: Request, form: FormData) -> Response:
    store: Store = request.app.state.store
    typed = _typed(form, CONSENT_FIELDS)
    secret = str(form.get("client_secret", ""))
    try:
        if not typed["client_id"] or not secret:
            raise UserError(
                "the client id and client secret are both needed: copy them from the app's "
                "page at https://developer.xero.com/app/manage"
            )
        url, _state = connect.authorize_url(
            store,
            client_id=typed["client_id"],
            client_secret=secret,
            redirect_uri=typed["redirect_uri"],
            identity_url=typed["identity_url"] or DEFAULT_IDENTITY_URL,
            api_url=typed["api_url"] or DEFAULT_API_URL,
            scopes=typed["scope"],
            name=typed["name"],
        )
    except UserError as exc:
        problem = {"consent": str(exc)}
        return _page(request, status_code=400, typed={"consent": typed}, problems=problem)
    return RedirectResponse(url, status_code=303)


async def custom(request: Request) -> Response:
    """Connect a custom connection (client credentials) at once."""
    form = await request.form()
    store: Store = request.app.state.store
    typed = _typed(form, CUSTOM_FIELDS)
    secret = str(form.get("client_secret", ""))
    try:
        if not typed["client_id"] or not secret:
            raise UserError(
                "the client id and client secret are both needed: copy them from the custom "
                "connection's page at https://developer.xero.com/app/manage"
            )
        conn = await connect.connect_client_credentials(
            store,
            name=typed["name"],
            client_id=typed["client_id"],
            client_secret=secret,
            api_url=typed["api_url"] or DEFAULT_API_URL,
            identity_url=typed["identity_url"] or DEFAULT_IDENTITY_URL,
            http=request.app.state.http,
        )
    except UserError as exc:
        problem = {"custom": str(exc)}
        return await run_in_threadpool(
            _page, request, status_code=400, typed={"custom": typed}, problems=problem
        )
    session_of(request).flash(
        f"Connected {conn.name}: {conn.tenant_name} (ShortCode {conn.short_code})."
    )
    return RedirectResponse("/connections", status_code=303)


def confirm_remove(request: Request) -> Response:
    """Ask before forgetting a connection, saying what goes with it."""
    store: Store = request.app.state.store
    name = request.path_params["name"]
    try:
        with store.transaction() as s:
            conn = connections.get(s, name)
    except UserError as exc:
        session_of(request).flash(str(exc), "error")
        return RedirectResponse("/connections", status_code=303)
    return render(request, "dashboard/connection_remove.html", title="Disconnect", connection=conn)


async def remove(request: Request) -> Response:
    """Disconnect an organisation no source uses: revoked at Xero, then forgotten here, as
    `xerobridge connections remove` does."""
    await request.form()  # the guard has checked its token; nothing else is in it
    store: Store = request.app.state.store
    name = request.path_params["name"]
    try:
        done = await disconnect(store, name, http=request.app.state.http)
    except UserError as exc:
        session_of(request).flash(str(exc), "error")
        return RedirectResponse("/connections", status_code=303)
    said = done.describe()
    session_of(request).flash(said[0].upper() + said[1:] + ".")
    return RedirectResponse("/connections", status_code=303)


async def webhook_key(request: Request) -> Response:
    """Store the key Xero signs a connection's webhooks with."""
    form = await request.form()
    return await run_in_threadpool(_webhook_key, request, form)


def _webhook_key(request: Request, form: FormData) -> Response:
    store: Store = request.app.state.store
    name = request.path_params["name"]
    try:
        connections.set_webhook_key(store, name, str(form.get("webhook_key", "")))
    except UserError as exc:
        session_of(request).flash(str(exc), "error")
        return RedirectResponse("/connections", status_code=303)
    session_of(request).flash(f"Webhook key saved for {name}.")
    return RedirectResponse("/connections", status_code=303)
