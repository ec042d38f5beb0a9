"""xerobridge source plugin for Magento 2 / Adobe Commerce stores.

The hooks live in `hooks.py`; they are imported here because pluggy registers this module.
"""

from __future__ import annotations

from xerobridge import hookimpl
from xerobridge.contract.types import (
    AccountNeed,
    CursorKind,
    DeleteMode,
    SourceSandbox,
    SourceSpec,
    StreamSpec,
)
from xerobridge_magento.hooks import (
    fetch_changes,
    fetch_records,
    map_record,
    register_commands,
    register_routes,
    to_xero,
)
from xerobridge_magento.settings import MagentoSettings

__all__ = [
    "fetch_changes",
    "fetch_records",
    "map_record",
    "register_commands",
    "register_routes",
    "source_spec",
    "to_xero",
]


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


@hookimpl
def source_spec() -> SourceSpec:
    """Customers, products, orders, invoices and credit memos, to Xero."""
    return SourceSpec(
        name="magento",
        title="Magento 2",
        description="Customers, products, orders, invoices and credit memos to Xero.",
        streams=(
            StreamSpec("customers", "Contact", deletes=DeleteMode.RECONCILE),
            # Dependency-only: a guest order's contact, keyed by the normalised email.
            StreamSpec("guests", "Contact", cursor=CursorKind.NONE, title="Guest customers"),
            StreamSpec("products", "Item", deletes=DeleteMode.RECONCILE),
            StreamSpec("orders", "Invoice", depends_on=("customers", "guests", "products")),
            StreamSpec("invoices", "Payment", depends_on=("orders",)),
            StreamSpec("credit_memos", "CreditNote", depends_on=("orders", "invoices")),
        ),
        settings=MagentoSettings,
        xero_accounts=(
            AccountNeed("bank_account", "BANK", "Magento Payments"),
            AccountNeed("sales_account", "REVENUE", "Sales"),
            AccountNeed("inventory_account", "INVENTORY", "Inventory"),
            AccountNeed("cogs_account", "DIRECTCOSTS", "Cost of Goods Sold"),
        ),
        sandbox=_sandbox,
    )
