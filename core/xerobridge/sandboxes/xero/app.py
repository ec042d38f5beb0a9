"""`create_app`: the sandbox as one Starlette application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import Route

from xerobridge.clock import Clock, SystemClock
from xerobridge.sandboxes.xero import control, identity_routes
from xerobridge.sandboxes.xero.accounting import PREFIX, api_endpoint
from xerobridge.sandboxes.xero.state import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_WEBHOOK_KEY,
    SandboxState,
    Validation,
)
from xerobridge.sandboxes.xero.timescale import ScaledClock

logger = logging.getLogger(__name__)

API_METHODS = ["GET", "PUT", "POST", "DELETE", "PATCH"]


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    """Served for real (uvicorn runs the lifespan; httpx.ASGITransport does not): a background
    task posts webhook deliveries to the configured URL."""
    state: SandboxState = app.state.sandbox
    task = asyncio.create_task(state.webhooks.sender(), name="xero-sandbox-webhooks")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def create_app(
    clock: Clock | None = None,
    *,
    limits: bool = True,
    time_scale: float = 1.0,
    seed: int = 0,
    daily_limit: int = 5_000,
    organisation_name: str | None = None,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    redirect_uris: list[str] | None = None,
    webhook_key: str = DEFAULT_WEBHOOK_KEY,
    refresh_grace_seconds: float = 0.0,
    validation: Validation = "enforce",
    faults: str = "",
    webhook_url: str | None = None,
    region: str = "AU",
) -> Starlette:
    """A stateful Xero sandbox (Accounting API, identity, control API) as an ASGI app.

    `clock` drives every time rule; `time_scale` > 1 makes sandbox time run faster than the
    given (or system) clock, e.g. 60 for a Xero minute per real second. `limits=False` counts
    traffic without refusing any. `validation`: "enforce" answers a request that breaks the
    official spec with a 400 ValidationException, "record" only records it, "off" skips the
    check; either way `state.violations` lists them. The state is on `app.state.sandbox`
    (a SandboxState). `faults` is a faults spec ("503:0.05,lost-response:0.1", see
    faults.parse_faults); `webhook_url` is where webhook deliveries go when served for real.
    `region` ("AU", the default, or "UK") is the Xero version of the default organisation: its
    chart of accounts, tax rates, currency, country and timezone; `organisation_name` defaults
    to "Sandbox Company (AU)" (or "(UK)"). An unknown region raises ValueError.
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
        validation=validation,
        region=region,
    )
    if faults:
        state.faults.set_spec(faults)
    state.webhooks.url = webhook_url
    routes = [
        *identity_routes.routes(),
        *control.routes(),
        Route(PREFIX + "/{rest:path}", api_endpoint, methods=API_METHODS),
    ]
    app = Starlette(routes=routes, lifespan=_lifespan)
    app.state.sandbox = state
    logger.debug("Xero sandbox created (tenant %s)", state.default_tenant_id)
    return app
