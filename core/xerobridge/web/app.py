"""The daemon's web app: Xero's webhooks, the OAuth callback, and the dashboard.

Routes that are not for people (webhooks, source notifications, the OAuth callback)
authenticate by their own mechanism: the webhook signature, the source's notify secret, the
OAuth `state` with its PKCE verifier.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from xerobridge.contract.plugins import Plugins, load_plugins
from xerobridge.store.db import Store
from xerobridge.web import dashboard
from xerobridge.web import source_webhooks as notify
from xerobridge.web import xero_webhooks as webhooks
from xerobridge.web.bodies import BodyLimit
from xerobridge.web.dashboard.guard import Guard
from xerobridge.web.oauth_callback import oauth_callback

if TYPE_CHECKING:
    from xerobridge.sync.runtimes import HttpFactory


async def health(request: Request) -> Response:
    """GET /healthz: the process is up and its store answers."""
    store: Store = request.app.state.store
    with store.transaction() as s:
        s.connection().exec_driver_sql("SELECT 1")
    return JSONResponse({"status": "ok"})


def create_app(
    store: Store,
    *,
    http: httpx.AsyncClient | None = None,
    plugins: Plugins | None = None,
    source_http: HttpFactory | None = None,
) -> Starlette:
    """The web app on a store; `http` is the client used for calls to Xero (OAuth exchange).

    `plugins` are the loaded source plugins (loaded here when not given); `source_http` makes
    the client a plugin's page reaches its source with (the demo routes it to the sandboxes).
    """
    plugins = plugins if plugins is not None else load_plugins()
    http = http or httpx.AsyncClient(timeout=30)
    routes = [
        Route("/healthz", health, methods=["GET"]),
        Route("/xero/webhooks", webhooks.receive, methods=["POST"]),
        Route("/xero/callback", oauth_callback, methods=["GET"]),
        Route("/sources/{source}/notify", notify.receive, methods=["POST"]),
        *dashboard.routes(plugins, store=store, xero_http=http, source_http=source_http),
    ]
    # The body limit comes first: nothing, not even the session guard, reads past it.
    app = Starlette(routes=routes, middleware=[Middleware(BodyLimit), Middleware(Guard)])
    app.state.store = store
    app.state.plugins = plugins
    app.state.plugin_packages = dashboard.template_packages(plugins)
    app.state.http = http
    return app
