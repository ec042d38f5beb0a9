"""`xerobridge connections`: the Xero organisations connected."""

from __future__ import annotations

from typing import Annotated

import typer

from xerobridge.cli import root
from xerobridge.cli.root import JsonOpt, group
from xerobridge.config import connections as connection_config

connections_app = group("connections", "Xero organisations connected.")


@connections_app.command("list")
def connections_list(as_json: JsonOpt = False) -> None:
    """List Xero connections: organisation, ShortCode, status and why."""
    store = root.open_store()
    with store.transaction() as s:
        rows = [connection_config.as_dict(c) for c in connection_config.list_all(s)]
    columns = ["name", "organisation", "short_code", "status", "reason", "webhook_key"]
    root.emit(
        rows,
        as_json,
        title="Xero connections",
        columns=[(c.replace("_", " "), c) for c in columns],
        empty="No Xero connections yet. Add one with: xerobridge connect --name <name> ...",
    )


@connections_app.command("webhook-key")
def connections_webhook_key(
    name: str,
    key: Annotated[
        str,
        typer.Option(
            "--key",
            envvar="XEROBRIDGE_WEBHOOK_KEY",
            prompt="Webhook key",
            hide_input=True,
            help="The key from the app's Webhooks page in Xero.",
        ),
    ],
) -> None:
    """Set the key Xero signs this connection's webhooks with (stored encrypted)."""
    connection_config.set_webhook_key(root.open_store(), name, key)
    root.out.print(f"webhook key saved for {name}")


@connections_app.command("remove")
def connections_remove(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    local: Annotated[
        bool,
        typer.Option("--local", help="Only forget it here; Xero keeps the app's access."),
    ] = False,
) -> None:
    """Disconnect an organisation no source uses: its access is revoked at Xero (and the
    refresh token, when no other connection shares it), then it is forgotten here."""
    import asyncio

    import httpx

    from xerobridge.config.disconnect import disconnect

    store = root.open_store()
    if not yes and not typer.confirm(f"Disconnect Xero connection {name}?"):
        raise typer.Exit(1)
    if local:
        connection_config.remove(store, name)
        root.out.print(f"removed connection {name} here; Xero still grants the app access")
        return

    async def go() -> str:
        async with httpx.AsyncClient(timeout=30) as http:
            return (await disconnect(store, name, http=http)).describe()

    root.out.print(asyncio.run(go()))
