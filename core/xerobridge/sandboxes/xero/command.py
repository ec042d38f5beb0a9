"""`xerobridge sandbox xero`: serve the Xero sandbox over HTTP for any program to use.

Prints one JSON line to stdout before serving (the port actually bound, the credentials of a
custom connection for client_credentials and of a web app for the authorization-code flow, the
tenant and the webhook key), then serves until interrupted. Only for a development machine: the
control API under /_sandbox has no authentication.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from xerobridge.web.serve import LOOPBACK_NAMES, bind, serve

sandbox_app = typer.Typer(
    help="Local sandboxes of the APIs xerobridge talks to.", no_args_is_help=True
)


def describe(app: Any, host: str, port: int) -> dict[str, Any]:
    """The JSON line: where the sandbox is and how to connect to it."""
    state = app.state.sandbox
    custom = state.custom_app
    web = state.default_app
    shown = LOOPBACK_NAMES.get(host, host)
    base = f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"
    return {
        "api_url": f"{base}/api.xro/2.0",
        "identity_url": base,
        "client_id": custom.client_id,
        "client_secret": custom.client_secret,
        "tenant_id": state.default_tenant_id,
        "webhook_key": state.webhooks.key,
        # The web app (authorization code, any http://127.0.0.1 or localhost redirect URI).
        "web_client_id": web.client_id,
        "web_client_secret": web.client_secret,
        "control_url": f"{base}/_sandbox",
        # The Xero version of the tenant: "AU" or "UK" (--region).
        "region": state.default_org.region,
    }


def build_app(
    *,
    seed: int,
    time_scale: float,
    faults: str,
    webhook_url: str | None,
    daily_limit: int,
    region: str = "AU",
) -> Any:
    """The served sandbox: a system clock, a loopback web app and a custom connection."""
    from xerobridge.clock import SystemClock
    from xerobridge.sandboxes.xero.app import create_app
    from xerobridge.sandboxes.xero.identity import LOOPBACK_REDIRECTS

    app = create_app(
        SystemClock(),
        seed=seed,
        time_scale=time_scale,
        faults=faults,
        webhook_url=webhook_url,
        daily_limit=daily_limit,
        redirect_uris=[LOOPBACK_REDIRECTS],
        region=region,
    )
    state = app.state.sandbox
    state.custom_app = state.register_app(
        custom_tenant_id=state.default_tenant_id, name="xerobridge sandbox custom connection"
    )
    return app


@sandbox_app.command("xero")
def xero(
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.")] = 0,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    seed: Annotated[int, typer.Option(help="Seed of ids and random faults.")] = 0,
    time_scale: Annotated[
        float, typer.Option(help="Sandbox seconds per real second (60: a Xero minute a second).")
    ] = 1.0,
    faults: Annotated[
        str, typer.Option(help="Faults as kind:rate,... e.g. 429-minute:0.1,503:0.05")
    ] = "",
    webhook_url: Annotated[
        str | None, typer.Option(help="Where to POST signed webhooks after writes.")
    ] = None,
    daily_limit: Annotated[int, typer.Option(help="Calls per tenant per day.")] = 5_000,
    region: Annotated[
        str,
        typer.Option(
            help="Xero version of the organisation: UK (GBP, VAT), as the other sandboxes sell "
            "in pounds, or AU (AUD, GST): its chart of accounts, tax rates, currency and timezone."
        ),
    ] = "UK",
) -> None:
    """Serve a stateful Xero sandbox (Accounting API, identity, webhooks, control API)."""
    from xerobridge.contract.errors import UserError
    from xerobridge.sandboxes.xero.faults import parse_faults
    from xerobridge.sandboxes.xero.seed import region as find_region

    try:
        parse_faults(faults)
    except ValueError as exc:
        raise UserError(f"--faults: {exc}") from exc
    if time_scale <= 0:
        raise UserError("--time-scale must be positive")
    try:
        region = find_region(region).code
    except ValueError as exc:
        raise UserError(f"--region: {exc}") from exc
    app = build_app(
        seed=seed,
        time_scale=time_scale,
        faults=faults,
        webhook_url=webhook_url,
        daily_limit=daily_limit,
        region=region,
    )
    sock = bind(host, port)
    sys.stdout.write(json.dumps(describe(app, host, sock.getsockname()[1])) + "\n")
    sys.stdout.flush()
    serve(app, sock)
