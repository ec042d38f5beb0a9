"""`xerobridge sandbox marketplace`: serve the reseller marketplace sandbox over HTTP.

Prints one JSON line to stdout before serving: `base_url`, `username`, `password`,
`marketplace` and `subscription_key` (the names of the source's settings), the control API and
what the marketplace holds. Then serves until interrupted. Only for a development machine: the
control API under /_sandbox has no authentication.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from xerobridge.sdk import serve_sandbox


def describe(app: Any, url: str, seed: int) -> dict[str, Any]:
    """The JSON line: how a marketplace source reaches the sandbox, and what it holds."""
    from xerobridge_marketplace.sandbox import describe_state

    return {**describe_state(app.state.sandbox, url), "seed": seed}


def marketplace(
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.")] = 0,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    customers: Annotated[int, typer.Option(min=0, help="Customers to generate.")] = 20,
    subscriptions: Annotated[
        int,
        typer.Option(
            min=0,
            help="Subscriptions to generate (with their sales, change, renewal and "
            "cancellation orders).",
        ),
    ] = 40,
    seed: Annotated[int, typer.Option(help="Seed of the generated marketplace.")] = 1,
    country: Annotated[
        list[str] | None,
        typer.Option(
            help="Customers only of this country (GB, DE, FR, AU, NZ, US); repeat it "
            "for several. Default: all of them."
        ),
    ] = None,
) -> None:
    """Serve a stateful CloudBlue reseller marketplace (SimpleAPI) sandbox with generated data."""
    from xerobridge_marketplace.sandbox import create_app
    from xerobridge_marketplace.sandbox.catalog import COUNTRIES

    known = {c.code for c in COUNTRIES}
    wanted = tuple(code.upper() for code in country or ())
    if any(code not in known for code in wanted):
        raise typer.BadParameter(f"use {', '.join(sorted(known))}", param_hint="--country")
    serve_sandbox(
        host, port,
        lambda url: create_app(seed=seed, customers=customers, subscriptions=subscriptions,
                               public_url=url, countries=wanted),
        lambda app, url: describe(app, url, seed),
    )  # fmt: skip
