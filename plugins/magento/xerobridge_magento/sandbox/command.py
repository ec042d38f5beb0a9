"""`xerobridge sandbox magento`: serve the Magento 2 sandbox over HTTP for any program to use.

Prints one JSON line to stdout before serving: `base_url` and `token` (the names of the source's
settings), the admin login, the control API and what the store holds. Then serves until
interrupted. Only for a development machine: the control API under /_sandbox has no
authentication.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from xerobridge import sdk as serving


def describe(app: Any, url: str, seed: int) -> dict[str, Any]:
    """The JSON line: how a Magento source reaches the sandbox, and what the store holds."""
    state = app.state.sandbox
    username, password = next(iter(state.admin_users.items()), ("", ""))
    return {
        "base_url": url,
        "token": state.integration_token,
        "username": username,
        "password": password,
        "rest_url": f"{url}/rest/default/V1",
        "control_url": f"{url}/_sandbox",
        "seed": seed,
        "counts": {
            name: len(state.collection(name))
            for name in ("customers", "products", "orders", "invoices", "creditmemos")
        },
        "stores": [
            {
                "id": store.id,
                "code": store.code,
                "website_id": store.website_id,
                "currency": store.display_currency,
                "base_currency": store.base_currency,
                "prices_include_tax": store.prices_include_tax,
            }
            for store in state.stores
        ],
        "odd": state.odd,
    }


def magento(
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.")] = 0,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    customers: Annotated[int, typer.Option(min=0, help="Customers to generate.")] = 20,
    products: Annotated[int, typer.Option(min=0, help="Products to generate.")] = 20,
    orders: Annotated[
        int, typer.Option(min=0, help="Orders to generate (with invoices and credit memos).")
    ] = 50,
    seed: Annotated[int, typer.Option(help="Seed of the generated store.")] = 1,
) -> None:
    """Serve a stateful Magento 2 REST sandbox filled with generated data."""
    from xerobridge_magento.sandbox import create_app

    serving.serve_sandbox(
        host, port,
        lambda url: create_app(seed=seed, customers=customers, products=products, orders=orders,
                               public_url=url),
        lambda app, url: describe(app, url, seed),
    )  # fmt: skip


def add_sandbox_command(sandbox: typer.Typer) -> None:
    """Add `magento` to the `xerobridge sandbox` group."""
    sandbox.command("magento")(magento)
