"""`xerobridge sandbox payments`: serve the Alternative Payments sandbox over HTTP.

Prints one JSON line to stdout before serving: `base_url`, `client_id`, `client_secret` and
`webhook_secret` (the names of the source's settings), the control API and what the platform
holds. Then serves until interrupted. Only for a development machine: the control API under
/_sandbox has no authentication.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from xerobridge import sdk


def describe(app: Any, url: str, seed: int) -> dict[str, Any]:
    """The JSON line: how a payments source reaches the sandbox, and what it holds."""
    from xerobridge_payments.sandbox import info

    return {**info(app.state.sandbox, url), "seed": seed}


def payments(
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.")] = 0,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    customers: Annotated[int, typer.Option(min=0, help="Customers to generate.")] = 10,
    invoices: Annotated[
        int,
        typer.Option(
            min=0, help="Invoices made in the platform to generate (with payments and payouts)."
        ),
    ] = 30,
    seed: Annotated[int, typer.Option(help="Seed of the generated history.")] = 1,
    currency: Annotated[
        str, typer.Option(help="The partner account's currency (USD, CAD, GBP or AUD).")
    ] = "USD",
    webhook_url: Annotated[
        str | None,
        typer.Option(
            help="Send webhooks (payments, refunds, chargebacks, payouts, paid and archived "
            "invoices) to this URL with the webhook secret as bearer, e.g. "
            "http://127.0.0.1:8000/sources/pay/notify."
        ),
    ] = None,
) -> None:
    """Serve a stateful Alternative Payments sandbox filled with generated history."""
    from xerobridge_payments.sandbox import create_app
    from xerobridge_payments.sandbox.state import CURRENCIES

    if currency.upper() not in CURRENCIES:
        raise typer.BadParameter(f"must be one of {', '.join(CURRENCIES)}", param_hint="--currency")
    if webhook_url and not webhook_url.startswith(("http://", "https://")):
        raise typer.BadParameter("must be an http(s) URL", param_hint="--webhook-url")
    sdk.serve_sandbox(
        host, port,
        lambda url: create_app(seed=seed, customers=customers, invoices=invoices,
                               webhook_url=webhook_url, public_url=url, currency=currency.upper()),
        lambda app, url: describe(app, url, seed),
    )  # fmt: skip
