"""xerobridge source plugin for Magento 2 / Adobe Commerce stores.

The plugin is `source`, a `xerobridge.sdk.Source` of the streams in `streams.py`; pluggy
registers it through this module, beside the two hooks a Source leaves to its plugin.
"""

from __future__ import annotations

from typing import Any

from xerobridge.sdk import AccountNeed, Source, SourceContext, SourceSandbox, hookimpl
from xerobridge_magento.settings import MagentoSettings
from xerobridge_magento.streams import STREAMS_IN_ORDER, make_client

__all__ = ["register_commands", "register_routes", "source"]


def _sandbox() -> SourceSandbox:
    """A seeded Magento sandbox and the settings that reach it (the demo's source)."""
    from xerobridge_magento.sandbox import create_app

    app = create_app(seed=1)
    # The sandbox's UK rates map onto a UK Xero organisation's VAT types; 17.5 % (a legacy
    # rate left in on purpose) maps to nothing and its orders fail with a message saying so.
    return SourceSandbox(
        app=app,
        settings={
            "base_url": "http://magento.sandbox",
            "token": "sandbox-integration-token",
            "tax_map": "20=OUTPUT2,5=RROUTPUT,0=ZERORATEDOUTPUT",
            "default_tax_type": "OUTPUT2",
        },
    )


async def _check(ctx: SourceContext[MagentoSettings]) -> str:
    """One cheap read that proves base_url and the credentials: the store views."""
    configs = await ctx.client.get_store_configs()
    views = ", ".join(f"{c.get('code')} ({c.get('base_currency_code')})" for c in configs)
    return f"Magento store with store views {views}"


source = Source(
    name="magento",
    title="Magento 2",
    description="Customers, products, orders, invoices and credit memos to Xero.",
    settings=MagentoSettings,
    streams=STREAMS_IN_ORDER,
    client=make_client,
    xero_accounts=(
        AccountNeed("bank_account", "BANK", "Magento Payments"),
        AccountNeed("sales_account", "REVENUE", "Sales"),
        AccountNeed("inventory_account", "INVENTORY", "Inventory"),
        AccountNeed("cogs_account", "DIRECTCOSTS", "Cost of Goods Sold"),
    ),
    sandbox=_sandbox,
    check=_check,
)


@hookimpl
def register_commands(cli: Any, sandbox: Any) -> None:
    """`xerobridge sandbox magento`: serve the Magento sandbox (setup-accounts is the core's)."""
    del cli
    from xerobridge_magento.sandbox.command import add_sandbox_command

    add_sandbox_command(sandbox)


@hookimpl
def register_routes(pages: Any) -> list[Any]:
    """The dashboard page under /plugins/magento/: each store at a glance."""
    from xerobridge_magento.pages import routes

    return routes(pages)
