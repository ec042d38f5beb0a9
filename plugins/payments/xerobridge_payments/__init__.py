"""xerobridge source plugin for the Alternative Payments platform: Xero's sales invoices (and
their contacts) out to the platform, its payments, refunds and payouts back, reconciled.

The plugin is `source`, a `xerobridge.sdk.Source` of the streams in `streams.py`; pluggy
registers it through this module, beside the hook a Source leaves to its plugin.
"""

from __future__ import annotations

from typing import Any

from xerobridge.sdk import AccountNeed, Source, SourceContext, SourceSandbox, hookimpl
from xerobridge_payments.events import notification_reads
from xerobridge_payments.settings import PaymentsSettings
from xerobridge_payments.streams import STREAMS, make_client

__all__ = ["register_commands", "source"]

#: The demo's Xero organisation (the UK sandbox) settles in pounds; so does its partner account.
_DEMO_CURRENCY = "GBP"
_DEMO_CUSTOMERS = [
    ("Northwind IT", "accounts@northwind.example", "Managed IT services", 450),
    ("Blue Harbor Dental", "billing@blueharbor.example", "Backup and recovery", 89.5),
    ("Cedar & Pine Legal", "office@cedarpine.example", "Onsite support hour", 125),
    ("Summit Logistics", "ap@summit.example", "Firewall subscription", 64.99),
]


def _sandbox() -> SourceSandbox:
    """A platform with a generated history of its own invoices, payments and payouts, and a
    Xero organisation with customers and approved sales invoices to send to it."""
    from xerobridge_payments.sandbox import create_app, info

    app = create_app(seed=1, customers=6, invoices=16, currency=_DEMO_CURRENCY)
    url = "http://payments.sandbox"
    described = info(app.state.sandbox, url)
    xero: dict[str, list[dict[str, Any]]] = {
        "Contacts": [
            {"Name": name, "EmailAddress": email} for name, email, _s, _p in _DEMO_CUSTOMERS
        ],
        "Invoices": [
            {
                "Type": "ACCREC",
                "Contact": {"Name": name},
                "Status": "AUTHORISED",
                "Date": "2026-11-02",
                "DueDate": "2026-12-02",
                "CurrencyCode": _DEMO_CURRENCY,
                "LineAmountTypes": "Exclusive",
                "LineItems": [
                    {
                        "Description": service,
                        "Quantity": 1 + n % 3,
                        "UnitAmount": price,
                        "AccountCode": "200",
                        "TaxType": "OUTPUT2",
                    }
                ],
            }
            for n, (name, _e, service, price) in enumerate(_DEMO_CUSTOMERS)
        ],
    }
    settings = {
        "base_url": url,
        "client_id": str(described["client_id"]),
        "client_secret": str(described["client_secret"]),
        "webhook_secret": str(described["webhook_secret"]),
        "currencies": _DEMO_CURRENCY,
        "payout_bank_account": "Business Bank Account",
    }
    return SourceSandbox(app=app, settings=settings, xero=xero)


async def _check(ctx: SourceContext[PaymentsSettings]) -> str:
    """One cheap read that proves base_url and the API key: a customer."""
    params = {"limit": "1"}
    await ctx.client.request("GET", "/customers", params=params, what="the customers")
    return f"the payments platform at {ctx.client.base_url}"


source = Source(
    name="payments",
    title="Alternative Payments",
    description="Xero sales invoices to the platform; payments and payouts back, reconciled.",
    settings=PaymentsSettings,
    streams=STREAMS,
    client=make_client,
    sandbox=_sandbox,
    xero_events=("INVOICE", "CONTACT"),
    xero_accounts=(
        AccountNeed("clearing_account", "BANK", "Undeposited Funds"),
        AccountNeed("payout_bank_account", "BANK", "Business Bank Account"),
    ),
    notification=notification_reads,
    check=_check,
)


@hookimpl
def register_commands(cli: Any, sandbox: Any) -> None:
    """`xerobridge sandbox payments`: serve the platform's sandbox."""
    del cli
    from xerobridge_payments.commands import payments

    sandbox.command("payments")(payments)
