"""xerobridge source plugin for Magento 2 / Adobe Commerce stores."""

from __future__ import annotations

from xerobridge import hookimpl
from xerobridge.types import AccountNeed, DeleteMode, SourceSpec, StreamSpec
from xerobridge_magento.settings import MagentoSettings


@hookimpl
def source_spec() -> SourceSpec:
    """Customers, products, orders, invoices and credit memos, to Xero."""
    return SourceSpec(
        name="magento",
        title="Magento 2",
        description="Customers, products, orders, invoices and credit memos to Xero.",
        streams=(
            StreamSpec("customers", "Contact", deletes=DeleteMode.RECONCILE),
            StreamSpec("products", "Item", deletes=DeleteMode.RECONCILE),
            StreamSpec("orders", "Invoice", depends_on=("customers", "products")),
            StreamSpec("invoices", "Payment", depends_on=("orders",)),
            StreamSpec("credit_memos", "CreditNote", depends_on=("orders",)),
        ),
        settings=MagentoSettings,
        xero_accounts=(
            AccountNeed("bank_account", "BANK", "Magento Payments"),
            AccountNeed("sales_account", "REVENUE", "Sales"),
            AccountNeed("inventory_account", "INVENTORY", "Inventory"),
            AccountNeed("cogs_account", "DIRECTCOSTS", "Cost of Goods Sold"),
        ),
    )
