"""xerobridge source plugin for ServiceDesk Plus MSP: accounts and worklog types from Xero,
worklogs to Xero as invoices per account.

The plugin is `source`, a `xerobridge.sdk.Source` of the streams in `streams.py`; pluggy
registers it through this module, beside the hook a Source leaves to its plugin.
"""

from __future__ import annotations

from typing import Any

from xerobridge.sdk import Source, SourceContext, SourceSandbox, hookimpl
from xerobridge_servicedesk.settings import ServiceDeskSettings
from xerobridge_servicedesk.streams import STREAMS, make_client

__all__ = ["register_commands", "register_routes", "source"]


def _sandbox() -> SourceSandbox:
    """A generated MSP server, the settings that reach it, and what the demo's Xero sandbox
    should hold for it: a contact for each account, a sold item for each worklog type."""
    from xerobridge_servicedesk.sandbox import create_app, describe

    app = create_app(seed=1)
    state = app.state.sandbox
    url = "http://servicedesk.sandbox"
    token = str(describe(state, url)["token"])
    types = [t["name"] for t in state.records["worklog_types"].values()]
    names = [a["name"] for a in state.records["accounts"].values()]
    xero = {
        "Contacts": [{"Name": name} for name in names],
        "Items": [
            {"Code": name.upper().replace(" ", "-"), "Name": name, "IsSold": True,
             "SalesDetails": {"UnitPrice": 80.0, "AccountCode": "200", "TaxType": "OUTPUT2"}}
            for name in types
        ],
    }  # fmt: skip
    # The demo's organisation has other sources' contacts too: this one covers its own.
    settings = {"base_url": url, "token": token, "default_worklog_type": "REMOTE-SUPPORT",
                "covered_accounts": ",".join(names)}  # fmt: skip
    return SourceSandbox(app=app, settings=settings, xero=xero)


async def _check(ctx: SourceContext[ServiceDeskSettings]) -> str:
    """One cheap read that proves base_url and the credentials: one account."""
    await ctx.client.call("GET", "accounts", {"list_info": {"row_count": 1}}, what="the accounts")
    return f"ServiceDesk Plus MSP at {ctx.client.base_url}"


source = Source(
    name="servicedesk",
    title="ServiceDesk Plus MSP",
    description="Accounts and worklog types from Xero; worklogs to invoices per account.",
    settings=ServiceDeskSettings,
    streams=STREAMS,
    client=make_client,
    sandbox=_sandbox,
    check=_check,
)


@hookimpl
def register_commands(cli: Any, sandbox: Any) -> None:
    """`xerobridge sandbox servicedesk`: serve the MSP sandbox; `xerobridge servicedesk
    reinitialize`: start a source afresh against another Xero organisation."""
    import typer

    from xerobridge_servicedesk.commands import reinitialize, servicedesk

    sandbox.command("servicedesk")(servicedesk)
    group = typer.Typer(help="ServiceDesk Plus MSP sources.", no_args_is_help=True)
    group.command("reinitialize")(reinitialize)
    cli.add_typer(group, name="servicedesk")


@hookimpl
def register_routes(pages: Any) -> list[Any]:
    """The dashboard page under /plugins/servicedesk/: worklogs per account, types missing."""
    from xerobridge_servicedesk.pages import routes

    return routes(pages)
