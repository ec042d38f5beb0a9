"""The settings of a ServiceDesk Plus MSP source: the server's API, and what syncs and how."""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import Field, HttpUrl, SecretStr, field_validator, model_validator

from xerobridge.sdk import Schedule, SourceSettings

#: Parents whose worklogs can be billed (the seed's worklog sync configuration page).
WorklogModule = Literal["requests", "problems", "changes", "projects", "tasks"]
WORKLOG_MODULES: tuple[WorklogModule, ...] = (
    "requests",
    "problems",
    "changes",
    "projects",
    "tasks",
)

#: The MSP account's own fields a Xero contact field can fill (v3 names of the legacy
#: account attributes; UNVERIFIED against a live v3 `accounts` answer).
ACCOUNT_FIELDS: tuple[str, ...] = (
    "name",
    "description",
    "email_id",
    "phone",
    "fax",
    "web_url",
    "support_email",
    "email_domain",
    "door_no",
    "street",
    "landmark",
    "city",
    "postal_code",
    "state",
    "country",
)
#: An account additional field, by its key (e.g. udf_sline_301), as the v3 API names it.
UDF_KEY = re.compile(r"^udf_[a-z]+_\d+$")

#: The Xero contact fields a mapping may read; address and phone parts are dotted.
XERO_CONTACT_FIELDS: tuple[str, ...] = (
    "Name",
    "FirstName",
    "LastName",
    "EmailAddress",
    "ContactNumber",
    "AccountNumber",
    "TaxNumber",
    "Website",
    "BankAccountDetails",
    "Phones.DEFAULT",
    "Phones.MOBILE",
    "Phones.FAX",
    "Phones.DDI",
    *(
        f"Addresses.{kind}.{part}"
        for kind in ("POBOX", "STREET")
        for part in (
            "AddressLine1",
            "AddressLine2",
            "AddressLine3",
            "AddressLine4",
            "City",
            "Region",
            "PostalCode",
            "Country",
            "AttentionTo",
        )
    ),
)

DEFAULT_ACCOUNT_FIELDS: dict[str, str] = {
    "name": "Name",
    "email_id": "EmailAddress",
    "phone": "Phones.DEFAULT",
    "fax": "Phones.FAX",
    "web_url": "Website",
    "street": "Addresses.STREET.AddressLine1",
    "landmark": "Addresses.STREET.AddressLine2",
    "city": "Addresses.STREET.City",
    "state": "Addresses.STREET.Region",
    "postal_code": "Addresses.STREET.PostalCode",
    "country": "Addresses.STREET.Country",
}


class ServiceDeskSettings(SourceSettings):
    """Settings of one ServiceDesk Plus MSP server (on-premise or MSP Cloud)."""

    # Out of working hours, as the seed recommends; the hour is UTC like every schedule.
    schedule: Schedule = Field(
        default=Schedule(mode="daily", hour=1),
        description=(
            "When to sync: 'daily at HH' (UTC; outside business hours is best), "
            "'every N minutes' or 'immediate'."
        ),
    )

    base_url: HttpUrl = Field(
        description=(
            "The MSP server's URL, e.g. https://msp.example.com:8080; for MSP Cloud the portal "
            "URL, e.g. https://sdpondemand.manageengine.com/app/itdesk."
        )
    )
    auth: Literal["authtoken", "zoho"] = Field(
        default="authtoken",
        description=(
            "'authtoken': an on-premise technician API key or integration key; 'zoho': MSP "
            "Cloud through Zoho OAuth (client_id, client_secret, refresh_token)."
        ),
    )
    token: SecretStr | None = Field(
        default=None,
        description=(
            "On-premise technician API key or integration key (Admin > Developer Space); "
            "auth=authtoken."
        ),
    )
    client_id: str = Field(
        default="", description="Zoho API console client id (Self Client); auth=zoho."
    )
    client_secret: SecretStr | None = Field(
        default=None, description="Zoho API console client secret; auth=zoho."
    )
    refresh_token: SecretStr | None = Field(
        default=None,
        description="Zoho refresh token with the SDPOnDemand scopes the sync needs; auth=zoho.",
    )
    accounts_url: HttpUrl = Field(
        default=HttpUrl("https://accounts.zoho.com"),
        description=(
            "Zoho accounts server of your data centre, e.g. https://accounts.zoho.eu; auth=zoho."
        ),
    )
    sync_accounts: bool = Field(
        default=True, description="Add and update MSP accounts from Xero contacts."
    )
    sync_worklog_types: bool = Field(
        default=True, description="Add and update MSP worklog types from Xero items."
    )
    sync_worklogs: bool = Field(
        default=True, description="Put MSP worklogs on Xero invoices, one per account and period."
    )
    worklog_modules: list[WorklogModule] = Field(
        default_factory=lambda: list(WORKLOG_MODULES),
        description="Modules whose worklogs are billed: requests,problems,changes,projects,tasks.",
    )
    billing_period: Literal["run", "week", "month"] = Field(
        default="month",
        description="One invoice per account per sync run, per week or per calendar month.",
    )
    rate_source: Literal["item_price", "total_charge"] = Field(
        default="item_price",
        description=(
            "Line rate: the Xero item's unit price times the hours, or the worklog's own "
            "total charge."
        ),
    )
    default_worklog_type: str = Field(
        default="",
        description=(
            "Worklog type (Xero item code) for worklogs without one; empty: such worklogs "
            "fail with a message saying so."
        ),
    )
    push_non_billable: bool = Field(
        default=True, description="Put non-billable worklogs on invoices too (as MSP's own sync)."
    )
    additional_cost_line: bool = Field(
        default=False,
        description="Put a worklog's additional cost on a line of its own (MSP's sync does not).",
    )
    update_draft_invoices: bool = Field(
        default=False,
        description=(
            "Change a pushed worklog's line when the worklog is edited or deleted, on draft "
            "invoices (invoice_status DRAFT); off: once pushed, never pushed again."
        ),
    )
    invoice_status: Literal["DRAFT", "AUTHORISED"] = Field(
        default="DRAFT", description="Status of the Xero invoices made from worklogs."
    )
    covered_accounts: list[str] = Field(
        default_factory=list,
        description=(
            "MSP accounts this source bills, by name or id, comma-separated (empty: all). Give "
            "each Xero organisation's source its own accounts when one MSP server feeds several."
        ),
    )
    account_fields: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_ACCOUNT_FIELDS),
        description=(
            "MSP account field (or additional field key like udf_sline_301) = the Xero contact "
            "field that fills it, e.g. phone=Phones.DEFAULT,city=Addresses.STREET.City."
        ),
    )
    page_size: int = Field(default=100, ge=1, le=100, description="Records per API page (≤ 100).")

    @field_validator("client_secret", "refresh_token", "token", mode="before")
    @classmethod
    def _empty_secret_is_unset(cls, value: object) -> object:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        return None if isinstance(raw, str) and not raw.strip() else value

    @field_validator("worklog_modules")
    @classmethod
    def _some_module(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(
                "name at least one of requests,problems,changes,projects,tasks "
                "(to bill no worklogs, set sync_worklogs=false)"
            )
        return list(dict.fromkeys(value))

    @field_validator("covered_accounts")
    @classmethod
    def _account_refs(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(ref.strip() for ref in value if ref.strip()))

    @field_validator("default_worklog_type")
    @classmethod
    def _trimmed(cls, value: str) -> str:
        return value.strip()

    @field_validator("account_fields")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        for msp, xero in value.items():
            if msp not in ACCOUNT_FIELDS and not UDF_KEY.match(msp):
                raise ValueError(
                    f"{msp!r} is not an MSP account field; use one of {', '.join(ACCOUNT_FIELDS)} "
                    "or an additional field's key like udf_sline_301"
                )
            if xero not in XERO_CONTACT_FIELDS:
                raise ValueError(
                    f"{xero!r} (for {msp}) is not a Xero contact field; e.g. Name, EmailAddress, "
                    "Phones.DEFAULT, Addresses.STREET.City"
                )
        if "name" not in value:
            raise ValueError("map name (the account's name, e.g. name=Name): accounts match by it")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> Self:
        # Names the field first, so the dashboard shows the message beside it.
        if self.auth == "authtoken" and self.token is None:
            raise ValueError(
                "token: auth=authtoken needs the technician API key or integration key"
            )
        if self.auth == "zoho":
            for name in ("client_id", "client_secret", "refresh_token"):
                if not getattr(self, name):
                    raise ValueError(f"{name}: auth=zoho needs the Zoho {name.replace('_', ' ')}")
        return self

    def stream_enabled(self, stream: str) -> bool:
        """Whether the stream is switched on: its module's switch and `disabled_streams`."""
        module_switch = {
            "accounts": self.sync_accounts,
            "worklog_types": self.sync_worklog_types,
            "worklogs": self.sync_worklogs,
        }
        return module_switch.get(stream, True) and super().stream_enabled(stream)

    @property
    def drafts_follow(self) -> bool:
        """Whether a pushed worklog's edit or deletion changes its line: only on invoices
        this source keeps as drafts (an approved invoice is as the bookkeeper left it)."""
        return self.update_draft_invoices and self.invoice_status == "DRAFT"

    def covers(self, account_id: str, account_name: str) -> bool:
        """Whether this source bills the account (by id or by name, names case-insensitive)."""
        if not self.covered_accounts:
            return True
        wanted = {ref.casefold() for ref in self.covered_accounts}
        return str(account_id) in wanted or account_name.strip().casefold() in wanted
