"""`xerobridge connect`: connect a Xero organisation (custom connection, or web app consent)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import httpx
import typer

from xerobridge.cli.root import app
from xerobridge.contract.errors import UserError
from xerobridge.store import home as config
from xerobridge.store.db import Store
from xerobridge.xero.auth import DEFAULT_API_URL, DEFAULT_IDENTITY_URL
from xerobridge.xero.connect import (
    DEFAULT_SCOPES,
    PENDING_LIFETIME,
    READ_TIMEOUT,
    authorize_url,
    connect_client_credentials,
)

T = TypeVar("T")


def _open_store() -> Store:
    store = Store()
    store.upgrade()
    return store


def _new_http() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=READ_TIMEOUT)


#: Made once per command; tests replace these to reach the sandbox in process.
store_factory: Callable[[], Store] = _open_store
http_factory: Callable[[], httpx.AsyncClient] = _new_http


async def _with_http(work: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    async with http_factory() as http:
        return await work(http)


@app.command("connect")
def connect(
    name: Annotated[str, typer.Option("--name", help="A name for the connection, e.g. main.")],
    client_credentials: Annotated[
        bool,
        typer.Option(
            "--client-credentials",
            help="A custom connection: client-credentials grant, one organisation.",
        ),
    ] = False,
    client_id: Annotated[str, typer.Option("--client-id", help="The Xero app's client id.")] = "",
    client_secret: Annotated[
        str,
        typer.Option(
            "--client-secret",
            envvar="XEROBRIDGE_CLIENT_SECRET",
            help="The Xero app's client secret (or set XEROBRIDGE_CLIENT_SECRET).",
        ),
    ] = "",
    redirect_uri: Annotated[
        str,
        typer.Option(
            "--redirect-uri",
            help="A web app's redirect URI: the daemon's /xero/callback as registered in Xero.",
        ),
    ] = "",
    api_url: Annotated[
        str,
        typer.Option(
            "--api-url",
            envvar="XEROBRIDGE_XERO_API_URL",
            help="Xero's Accounting API base URL (or set XEROBRIDGE_XERO_API_URL), for a "
            "sandbox or a proxy.",
        ),
    ] = DEFAULT_API_URL,
    identity_url: Annotated[
        str,
        typer.Option(
            "--identity-url",
            envvar="XEROBRIDGE_XERO_IDENTITY_URL",
            help="Xero's identity service base URL (or set XEROBRIDGE_XERO_IDENTITY_URL).",
        ),
    ] = DEFAULT_IDENTITY_URL,
    scope: Annotated[
        str,
        typer.Option(
            "--scope", help="Scopes to ask for (web app), space separated; needs offline_access."
        ),
    ] = " ".join(DEFAULT_SCOPES),
) -> None:
    """Connect to a Xero organisation: a custom connection at once, a web app by consent."""
    if not client_id or not client_secret:
        raise UserError(
            "--client-id and --client-secret are required: copy them from the app's page at "
            "https://developer.xero.com/app/manage"
        )
    if not client_credentials and not redirect_uri:
        # The daemon's own callback, as people and Xero reach it.
        redirect_uri = f"{config.public_url()}/xero/callback"
    store = store_factory()
    try:
        if client_credentials:
            conn = asyncio.run(
                _with_http(
                    lambda http: connect_client_credentials(
                        store,
                        name=name,
                        client_id=client_id,
                        client_secret=client_secret,
                        api_url=api_url,
                        identity_url=identity_url,
                        http=http,
                    )
                )
            )
            typer.echo(f"connected {conn.name}: {conn.tenant_name} (ShortCode {conn.short_code})")
            return
        url, _state = authorize_url(
            store,
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=redirect_uri,
            identity_url=identity_url,
            api_url=api_url,
            scopes=scope,
            name=name,
        )
    finally:
        store.dispose()
    typer.echo("Open this URL in a browser and allow access to your Xero organisation(s):")
    typer.echo(url)
    typer.echo(
        f"Xero then sends the browser to {redirect_uri}, where the running daemon "
        f"(`xerobridge run`) finishes connecting {name}; the link works for "
        f"{int(PENDING_LIFETIME.total_seconds() // 60)} minutes."
    )
