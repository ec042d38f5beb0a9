"""The settings of a payments source: the platform's API, and where its money lands in Xero."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import Field, HttpUrl, SecretStr, field_validator, model_validator

from xerobridge.sdk import SourceSettings, xero_list

PRODUCTION_URL = "https://public-api.alternativepayments.io"
DEMO_URL = "https://public-api.demo.alternativepayments.io"
#: The platform's documented limit: 5 requests a second per API key.
PLATFORM_RATE = 5.0


class RefundHandling(StrEnum):
    """How a refund or chargeback in the platform reverses its payment in Xero."""

    RECORD_REFUND = "record_refund"
    DELETE_PAYMENT = "delete_payment"


class PaymentsSettings(SourceSettings):
    """Settings of one Alternative Payments partner account."""

    base_url: HttpUrl = Field(
        default=HttpUrl(PRODUCTION_URL),
        description=f"The platform's API: {PRODUCTION_URL}, or {DEMO_URL} for the demo.",
    )
    client_id: str = Field(
        description="API key client id (Partner Dashboard > Team Preferences > API Keys)."
    )
    client_secret: SecretStr = Field(description="The API key's client secret.")
    webhook_secret: SecretStr | None = Field(
        default=None,
        description=(
            "Secret key given to the platform's webhook subscriptions; it comes back as "
            "'Authorization: Bearer <secret>' (at least 16 characters; empty: no webhooks, "
            "polling only)."
        ),
    )
    portal_url: HttpUrl = Field(
        default=HttpUrl("https://app.alternativepayments.io"),
        description="The Partner Dashboard, for links in action-log entries (archive by hand).",
    )
    clearing_account: str = Field(
        default="Undeposited Funds",
        description="Xero account that payments are recorded into until their payout arrives.",
    )
    payout_bank_account: str = Field(
        default="",
        description=(
            "Xero bank account where payouts arrive; each payout becomes one transfer into it "
            "(empty: payouts wait until it is set, e.g. by 'Set up accounts')."
        ),
    )
    fee_account: str = Field(
        default="Bank Fees",
        description="Xero account for the platform's fees (a spend line per payout).",
    )
    fee_tax_type: str = Field(
        default="",
        description="Xero TaxType of fee lines (empty: the fee account's own tax type).",
        json_schema_extra=xero_list("tax_type"),
    )
    refund_handling: RefundHandling = Field(
        default=RefundHandling.RECORD_REFUND,
        description=(
            "A refund or chargeback: 'record_refund' (a refund in Xero, keeping the history) "
            "or 'delete_payment' (the Xero payment is deleted; partial refunds are always "
            "recorded)."
        ),
    )
    standalone_account: str = Field(
        default="Sales",
        description=(
            "Xero account for the receive-money made from a payment on an invoice created "
            "only in the platform."
        ),
    )
    standalone_contact: str = Field(
        default="Alternative Payments",
        description=(
            "Xero contact of money from customers that are not Xero contacts (payments on "
            "invoices made only in the platform) and of the platform's fees; created if missing."
        ),
    )
    refund_account: str = Field(
        default="Sales",
        description="Xero account a refund or chargeback is spent against (it reverses a sale).",
    )
    standalone_tax_type: str = Field(
        default="",
        description="Xero TaxType of those receive-money lines (empty: the account's own).",
        json_schema_extra=xero_list("tax_type"),
    )
    currencies: list[str] = Field(
        default_factory=lambda: ["USD"],
        description=(
            "Currencies the platform invoices in, e.g. USD; Xero invoices in others are "
            "skipped with a reason."
        ),
    )
    archive_reminders: bool = Field(
        default=True,
        description=(
            "When a Xero invoice or contact is deleted or voided, add an action-log entry "
            "asking a person to archive it in the platform (it is never archived for them)."
        ),
    )
    page_size: int = Field(default=100, ge=1, le=100, description="Records per API page.")
    requests_per_second: float = Field(
        default=PLATFORM_RATE,
        gt=0,
        le=PLATFORM_RATE,
        description="Requests a second per API key, shared by every worker (the platform's "
        "limit is 5).",
    )

    @model_validator(mode="before")
    @classmethod
    def _webhook_secret_is_the_notify_secret(cls, values: Any) -> Any:
        # The platform sends its webhook secret as the bearer the core's notify route checks,
        # so the two settings are one secret under two names.
        if not isinstance(values, Mapping):
            return values
        values = dict(values)
        webhook = _raw(values.get("webhook_secret"))
        notify = _raw(values.get("notify_secret"))
        if webhook and notify and webhook != notify:
            raise ValueError(
                "webhook_secret and notify_secret are the same secret; set only webhook_secret"
            )
        if webhook and not notify:
            values["notify_secret"] = values["webhook_secret"]
        elif notify and not webhook:
            values["webhook_secret"] = values["notify_secret"]
        return values

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _empty_secret_is_unset(cls, value: Any) -> Any:
        return None if not _raw(value) else value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (try: openssl rand -hex 24)")
        return value

    @field_validator("client_id")
    @classmethod
    def _client_id_given(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError(
                "is empty; copy the client id of an API key from the Partner Dashboard"
            )
        return value

    @field_validator("client_secret")
    @classmethod
    def _client_secret_given(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("is empty; copy the API key's client secret")
        return value

    @field_validator(
        "clearing_account", "fee_account", "standalone_account", "refund_account",
        "standalone_contact",
    )  # fmt: skip
    @classmethod
    def _account_named(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("needs a Xero account name or code")
        return value

    @field_validator("payout_bank_account", "fee_tax_type", "standalone_tax_type")
    @classmethod
    def _stripped(cls, value: str) -> str:
        return value.strip()

    @field_validator("currencies")
    @classmethod
    def _currency_codes(cls, value: list[str]) -> list[str]:
        codes = [code.strip().upper() for code in value if code.strip()]
        if not codes:
            raise ValueError("needs at least one currency, e.g. USD")
        for code in codes:
            if len(code) != 3 or not code.isalpha():
                raise ValueError(f"{code!r} is not a three-letter currency code like USD")
        return codes

    @model_validator(mode="after")
    def _payouts_leave_the_clearing_account(self) -> PaymentsSettings:
        if self.payout_bank_account and (
            self.payout_bank_account.casefold() == self.clearing_account.casefold()
        ):
            raise ValueError(
                "payout_bank_account must be another account than clearing_account: a payout "
                "moves money from the clearing account to the bank account"
            )
        return self

    @property
    def api_url(self) -> str:
        """The API's base URL without a trailing slash."""
        return str(self.base_url).rstrip("/")


def _raw(value: Any) -> str:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value.strip() if isinstance(value, str) else ""
