"""xerobridge source plugin for a CloudBlue Commerce reseller marketplace (SimpleAPI): customers,
products and orders to Xero contacts, items and invoices.

The plugin is `source`, a `xerobridge.sdk.Source` of the streams in `streams.py`; pluggy
registers it through this module, beside the hook a Source leaves to its plugin.
"""

from __future__ import annotations

from typing import Any

from xerobridge.sdk import Source, SourceContext, SourceSandbox, hookimpl
from xerobridge_marketplace.settings import MarketplaceSettings
from xerobridge_marketplace.streams import STREAMS, make_client

__all__ = ["register_commands", "register_routes", "source"]


def _sandbox() -> SourceSandbox:
    """A generated marketplace of British customers (the demo's organisation is British and
    takes pounds), and the settings that reach it, every customer synced automatically."""
    from xerobridge_marketplace.sandbox import create_app, describe_state

    app = create_app(seed=1, customers=8, subscriptions=16, countries=("GB",))
    described = describe_state(app.state.sandbox, "http://marketplace.sandbox")
    keys = ("base_url", "username", "password", "marketplace", "subscription_key")
    settings = {key: str(described[key]) for key in keys}
    return SourceSandbox(app=app, settings={**settings, "auto_sync": "true"})


async def _check(ctx: SourceContext[MarketplaceSettings]) -> str:
    """One cheap read that proves the URL, the login, the marketplace and the key: a customer."""
    params = {"offset": 0, "limit": 1}
    await ctx.client.request("GET", "/customers", params=params, what="the customers")
    return f"marketplace {ctx.settings.marketplace!r} at {ctx.client.base_url}"


source = Source(
    name="marketplace",
    title="CloudBlue marketplace",
    description="Customers, products and orders of a reseller marketplace to Xero.",
    settings=MarketplaceSettings,
    streams=STREAMS,
    client=make_client,
    sandbox=_sandbox,
    check=_check,
)


@hookimpl
def register_commands(cli: Any, sandbox: Any) -> None:
    """`xerobridge sandbox marketplace`: serve the marketplace's sandbox."""
    del cli
    from xerobridge_marketplace.commands import marketplace

    sandbox.command("marketplace")(marketplace)


@hookimpl
def register_routes(pages: Any) -> list[Any]:
    """The dashboard page under /plugins/marketplace/: customers, products, approvals."""
    from xerobridge_marketplace.pages import routes

    return routes(pages)
