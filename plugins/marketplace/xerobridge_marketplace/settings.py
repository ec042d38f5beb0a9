"""The settings of a marketplace source: the SimpleAPI connection and the Xero integration's
choices, as CloudBlue's own Xero integration offers them in its Settings window."""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, HttpUrl, SecretStr, field_validator

from xerobridge.sdk import Schedule, SourceSettings, TaxMap, xero_list

_MARKETPLACE_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

#: Where a value comes from: the marketplace's order, or what Xero already holds.
Origin = Literal["marketplace", "xero"]


class MarketplaceSettings(SourceSettings):
    """Settings of one CloudBlue Commerce reseller marketplace."""

    # Only auto_sync may differ per customer. A customer's own value is a setting stored with
    # scope "customers:<customer id>" (`xerobridge settings set <source> auto_sync=true
    # --record customers:<id>`, or the switch on the customer's row of the plugin's page); a
    # customer without one follows the source's value below, which is therefore the default for
    # every customer, not a master switch.
    per_record_fields: ClassVar[frozenset[str]] = frozenset({"auto_sync"})

    # -- connection --------------------------------------------------------------------------------

    base_url: HttpUrl = Field(
        description="The SimpleAPI's URL, e.g. https://simpleapiprod.azure-api.net/marketplace."
    )
    username: str = Field(min_length=1, description="The marketplace API user's login.")
    password: SecretStr = Field(description="The marketplace API user's password.")
    marketplace: str = Field(
        description="The marketplace code sent with every token request, e.g. UK or US."
    )
    subscription_key: SecretStr = Field(
        description="The API gateway's subscription key, sent as X-Subscription-Key on each call."
    )
    page_size: int = Field(
        default=100, ge=1, le=100, description="Records per API page (the API's limit, 1-100)."
    )

    schedule: Schedule = Field(
        default=Schedule(mode="interval", minutes=5),
        description="When to read the marketplace: 'every 5 minutes' or 'daily at HH' (UTC).",
    )

    # -- how marketplace records become Xero's -----------------------------------------------------

    prices_from: Origin = Field(
        default="marketplace",
        description="Line prices: 'marketplace' (the order's charge lines) or 'xero' (the item).",
    )
    descriptions_from: Origin = Field(
        default="marketplace",
        description="Line descriptions: 'marketplace' (the charge line's) or 'xero' (the item's).",
    )
    trim_descriptions: bool = Field(
        default=False,
        description="Use only the product name as a line's description, without period details.",
    )
    invoice_number_from: Origin = Field(
        default="marketplace",
        description="Invoice number: 'marketplace' (the order number) or 'xero' (Xero's own).",
    )
    invoice_mode: Literal["new", "existing"] = Field(
        default="new",
        description=(
            "'new': each order makes a new invoice; 'existing': the order is added to the "
            "customer's latest open invoice."
        ),
    )
    refunds: Literal["credit_notes", "quantity_only"] = Field(
        default="credit_notes",
        description=(
            "Refund lines of downgrades: 'credit_notes' allocated to the invoice they reverse, "
            "or 'quantity_only' (sync only the resource quantity change)."
        ),
    )
    allow_shared_items: bool = Field(
        default=False,
        description="Allow mapping several marketplace products to one Xero item.",
    )
    match_customers: Literal["name_or_email", "name", "email", "none"] = Field(
        default="name_or_email",
        description=(
            "Match new customers to Xero contacts by name or billing email, by one of them, or "
            "'none' (create a contact unless a person picked one); ambiguous matches wait."
        ),
    )
    sales_account: str = Field(
        default="Sales", description="Xero account (name or code) of the lines of invoices."
    )
    default_tax_type: str = Field(
        default="",
        description="Xero TaxType of taxed lines (empty: the sales account's own tax type).",
        json_schema_extra=xero_list("tax_type"),
    )
    tax_map: TaxMap = Field(
        default_factory=dict,
        description=(
            "Tax percent to Xero TaxType for other rates, e.g. 0=ZERORATEDOUTPUT (a line's "
            "percent is its tax over its amount)."
        ),
    )
    invoice_status: Literal["DRAFT", "AUTHORISED"] = Field(
        default="AUTHORISED", description="Status of the Xero invoices and credit notes made."
    )
    due_days: int = Field(
        default=30, ge=0, le=365, description="Days from an order's date to its invoice's due date."
    )
    auto_sync: bool = Field(
        # Off, as in the marketplace's own integration: syncing is switched on customer by
        # customer. Setting it here switches it on for every customer without a value of its own.
        default=False,
        description=(
            "Sync a customer's orders and subscriptions automatically; off, their sync tasks "
            "wait for a person's approval. Set per customer, or here for all."
        ),
    )

    @field_validator("marketplace")
    @classmethod
    def _marketplace_code(cls, value: str) -> str:
        code = value.strip()
        if not _MARKETPLACE_CODE.match(code):
            raise ValueError(
                "must be the marketplace code from UX1 for Resellers, letters and digits "
                "without spaces, e.g. UK"
            )
        return code

    @field_validator("username")
    @classmethod
    def _no_blank_username(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must be the API user's login, not blank")
        return value.strip()

    @field_validator("password", "subscription_key")
    @classmethod
    def _not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("schedule")
    @classmethod
    def _polled(cls, value: Schedule) -> Schedule:
        # SimpleAPI sends no notifications, so a source that waits for them would never sync.
        if value.mode == "immediate":
            raise ValueError(
                "the marketplace cannot notify xerobridge; use 'every 5 minutes' or "
                "'daily at HH' (the marketplace's two choices)"
            )
        return value
