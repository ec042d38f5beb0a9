"""`create_app`: the sandbox as one Starlette application."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.routing import Route

from xerobridge.clock import Clock, SystemClock
from xerobridge.xero.sandbox import control, identity_routes
from xerobridge.xero.sandbox.accounting import PREFIX, api_endpoint
from xerobridge.xero.sandbox.state import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_WEBHOOK_KEY,
    SandboxState,
)
from xerobridge.xero.sandbox.timescale import ScaledClock

logger = logging.getLogger(__name__)

API_METHODS = ["GET", "PUT", "POST", "DELETE", "PATCH"]


def create_app(
    clock: Clock | None = None,
    *,
    limits: bool = True,
    time_scale: float = 1.0,
    seed: int = 0,
    daily_limit: int = 5_000,
    organisation_name: str = "Sandbox Company (AU)",
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    redirect_uris: list[str] | None = None,
    webhook_key: str = DEFAULT_WEBHOOK_KEY,
    refresh_grace_seconds: float = 0.0,
) -> Starlette:
    """A stateful Xero sandbox (Accounting API, identity, control API) as an ASGI app.

    `clock` drives every time rule; `time_scale` > 1 makes sandbox time run faster than the
    given (or system) clock, e.g. 60 for a Xero minute per real second. `limits=False` counts
    traffic without refusing any. The state is on `app.state.sandbox` (a SandboxState).
    """
    base = clock or SystemClock()
    effective: Clock = ScaledClock(time_scale, base) if time_scale != 1.0 else base
    state = SandboxState(
        effective,
        limits=limits,
        time_scale=time_scale,
        seed=seed,
        daily_limit=daily_limit,
        organisation_name=organisation_name,
        client_id=client_id,
        client_secret=client_secret,
        redirect_uris=redirect_uris,
        webhook_key=webhook_key,
        refresh_grace_seconds=refresh_grace_seconds,
    )
    routes = [
        *identity_routes.routes(),
        *control.routes(),
        Route(PREFIX + "/{rest:path}", api_endpoint, methods=API_METHODS),
    ]
    app = Starlette(routes=routes)
    app.state.sandbox = state
    logger.debug("Xero sandbox created (tenant %s)", state.default_tenant_id)
    return app
