"""Helpers of the configuration pages' tests: a source plugin with every kind of setting, and
an http client on which only Xero's hosts answer (from the sandbox)."""

from __future__ import annotations

from typing import Literal

import httpx
from pydantic import Field, HttpUrl, SecretStr
from starlette.applications import Starlette

from xerobridge import hookimpl
from xerobridge.contract.plugins import PluginInfo, register_module
from xerobridge.contract.settings import SourceSettings, xero_list
from xerobridge.contract.types import AccountNeed, SourceSpec, StreamSpec

PLUGIN = "formtest"
XERO_HOSTS = frozenset({"api.xero.com", "identity.xero.com", "login.xero.com"})


class FormSettings(SourceSettings):
    """One field of each kind the form generator knows."""

    base_url: HttpUrl = Field(description="Where the shop answers.")
    token: SecretStr | None = Field(default=None, description="The shop's API token.")
    invoice_status: Literal["DRAFT", "AUTHORISED"] = Field(
        default="DRAFT", description="Status of new invoices."
    )
    page_size: int = Field(default=100, ge=1, le=1000, description="Records per page.")
    tax_map: dict[str, str] = Field(
        default_factory=lambda: {"0": "NONE"}, description="Tax percent to Xero TaxType."
    )
    store_ids: list[str] = Field(default_factory=list, description="Store views to read.")
    bank_account: str = Field(default="Shop Bank", description="Bank account name.")
    default_tax_type: str = Field(
        default="", description="Xero TaxType of lines.", json_schema_extra=xero_list("tax_type")
    )


@hookimpl
def source_spec() -> SourceSpec:
    """Customers to contacts, orders to invoices."""
    return SourceSpec(
        name=PLUGIN,
        title="Form test shop",
        streams=(
            StreamSpec("customers", "Contact"),
            StreamSpec("orders", "Invoice", depends_on=("customers",), title="Orders"),
        ),
        settings=FormSettings,
        xero_accounts=(AccountNeed("bank_account", "BANK", "Shop Bank"),),
    )


def plugin_info() -> PluginInfo:
    """This module loaded as the plugin `formtest`."""
    import config_pages_helpers

    info = register_module(config_pages_helpers, PLUGIN)
    assert info.status == "ok", info.error
    return info


class XeroOnly(httpx.AsyncBaseTransport):
    """Xero's hosts reach the sandbox; every other host is unreachable."""

    def __init__(self, app: Starlette) -> None:
        self.sandbox = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host not in XERO_HOSTS:
            raise httpx.ConnectError(f"connection to {request.url.host} refused", request=request)
        return await self.sandbox.handle_async_request(request)


def xero_only(app: Starlette) -> httpx.AsyncClient:
    """An http client for the web app's calls to Xero, answered by the sandbox `app`."""
    return httpx.AsyncClient(transport=XeroOnly(app))
