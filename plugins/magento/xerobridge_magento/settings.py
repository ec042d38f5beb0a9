"""The settings of a Magento source: the store's API, and how its records become Xero's."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, HttpUrl, SecretStr, field_validator

from xerobridge.sdk import SourceSettings, TaxMap, WebUrl, xero_list


class MagentoSettings(SourceSettings):
    """Settings of one Magento 2 store."""

    base_url: HttpUrl = Field(description="The store's URL, e.g. https://shop.example.com.")
    token: SecretStr | None = Field(
        default=None, description="Integration access token (System > Integrations)."
    )
    username: str = Field(default="", description="Admin user, if no integration token is set.")
    password: SecretStr | None = Field(default=None, description="The admin user's password.")
    admin_url: WebUrl = Field(
        default="", description="The admin panel URL, for links from Xero invoices to orders."
    )
    page_size: int = Field(default=100, ge=1, le=1000, description="Records per API page.")
    match_contacts: Literal["email_then_name", "email", "none"] = Field(
        default="email_then_name",
        description="Match existing Xero contacts by email then name, by email only, or never.",
    )
    invoice_status: Literal["DRAFT", "AUTHORISED"] = Field(
        default="DRAFT", description="Status of the Xero invoice made from an order."
    )
    invoice_number_from: Literal["magento", "xero"] = Field(
        default="magento",
        description="Invoice number: the order's increment id, or Xero's own numbering.",
    )
    bank_account: str = Field(default="Magento Payments", description="Bank account name.")
    sales_account: str = Field(default="Sales", description="Sales account name.")
    inventory_account: str = Field(default="Inventory", description="Inventory account name.")
    cogs_account: str = Field(
        default="Cost of Goods Sold", description="Cost of goods sold account name."
    )
    shipping_account: str = Field(
        default="", description="Account for shipping lines (empty: the sales account)."
    )
    rounding_account: str = Field(
        default="Rounding", description="Account for the line that makes totals match to the cent."
    )
    tax_map: TaxMap = Field(
        default_factory=lambda: {"0": "NONE"},
        description="Magento tax percent to Xero TaxType, e.g. 10=OUTPUT,0=EXEMPTOUTPUT.",
    )
    default_tax_type: str = Field(
        default="",
        description=(
            "Xero TaxType for products and for a tax percent missing from tax_map; empty: "
            "the sales account's own tax type in Xero."
        ),
        json_schema_extra=xero_list("tax_type"),
    )
    payment_accounts: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Magento payment method code to Xero bank account name, e.g. "
            "checkmo=Cash,paypal_express=PayPal; methods not listed use bank_account."
        ),
    )
    store_ids: list[str] = Field(
        default_factory=list,
        description=(
            "Store view ids to sync, comma-separated (empty: all). Orders, invoices "
            "and credit memos of other store views, and customers and products of other "
            "websites, are not read (customers and products an order needs still are)."
        ),
    )
    tax_inclusive_store_ids: list[str] = Field(
        default_factory=list,
        description=(
            "Store view ids whose prices include tax; the others' exclude it. Empty: "
            "tell from each order's amounts."
        ),
    )

    @field_validator("store_ids", "tax_inclusive_store_ids")
    @classmethod
    def _store_view_ids(cls, value: list[str]) -> list[str]:
        ids = [str(ref).strip() for ref in value if str(ref).strip()]
        for ref in ids:
            if not ref.isdigit():
                raise ValueError(
                    f"{ref!r} is not a store view id; use the numbers under Stores > All Stores, "
                    "e.g. 1,2"
                )
        return ids
