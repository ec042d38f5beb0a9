"""The dashboard: the pages people use to run xerobridge, and `/api/...` for their scripts.

Core pages register their routes exactly as plugins do: each module in `pages/` has a
`register_routes()` returning Starlette routes, and each plugin's `register_routes(pages)` hook
is mounted under `/plugins/<name>/`, with a `PluginPages` of its own (`plugin_pages.py`). Every
route is behind the login (see `guard.py`).
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING

import httpx
from starlette.routing import BaseRoute, Mount

from xerobridge.contract.plugins import Plugins
from xerobridge.store.db import Store

log = logging.getLogger(__name__)

#: The core's page modules, in `xerobridge.web.dashboard.pages`.
PAGES = (
    "login",
    "sessions",
    "home",
    "connections",
    "sources",
    "accounts",
    "api",
    "queue",
    "synclog",
    "report",
    "actions",
    "unmapped",
)

if TYPE_CHECKING:
    from xerobridge.sync.runtimes import HttpFactory


def routes(
    plugins: Plugins,
    *,
    store: Store,
    xero_http: httpx.AsyncClient,
    source_http: HttpFactory | None = None,
) -> list[BaseRoute]:
    """Every dashboard route: the core's pages, then each plugin's under `/plugins/<name>`;
    `store`, `xero_http` and `source_http` (how a plugin's page reaches its source) are the
    web app's, which each plugin's `PluginPages` works on."""
    # Loaded here, not with the package: `xerobridge admin` needs the logins, not the pages.
    from xerobridge.web.dashboard.plugin_pages import PluginPages

    found: list[BaseRoute] = []
    for name in PAGES:
        module = importlib.import_module(f"xerobridge.web.dashboard.pages.{name}")
        found.extend(module.register_routes())
    for info in plugins:
        if info.status != "ok" or "register_routes" not in info.hooks:
            continue
        try:
            pages = PluginPages(info.name, store=store, plugins=plugins, xero_http=xero_http,
                                source_http=source_http)  # fmt: skip
            plugin_routes = plugins.call(info.name, "register_routes", pages=pages)
        except Exception as exc:  # a plugin's bug must not take the dashboard down
            log.error("plugin %s could not add its pages: %s", info.name, exc)
            continue
        found.append(Mount(f"/plugins/{info.name}", routes=list(plugin_routes or [])))
    return found


def template_packages(plugins: Plugins) -> tuple[str, ...]:
    """The packages of loaded plugins, whose `templates/` folders the dashboard searches."""
    return tuple(
        info.module.__name__.partition(".")[0]
        for info in plugins
        if info.status == "ok" and info.module is not None
    )
