"""`xerobridge sandbox servicedesk`: serve the ServiceDesk Plus MSP sandbox over HTTP.

Prints one JSON line to stdout before serving: `base_url` and `token` (the names of the source's
settings), the Zoho OAuth credentials it also accepts, the control API and what the server
holds. Then serves until interrupted. Only for a development machine: the control API under
/_sandbox has no authentication.
"""

from __future__ import annotations

from typing import Annotated

import typer

from xerobridge import sdk


def servicedesk(
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.")] = 0,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    accounts: Annotated[int, typer.Option(min=0, help="Accounts to generate.")] = 8,
    requests: Annotated[
        int,
        typer.Option(
            min=0, help="Requests to generate (problems, changes, projects and tasks follow)."
        ),
    ] = 30,
    seed: Annotated[int, typer.Option(help="Seed of the generated data.")] = 1,
) -> None:
    """Serve a stateful ServiceDesk Plus MSP v3 sandbox filled with generated data."""
    from xerobridge_servicedesk.sandbox import create_app, describe

    sdk.serve_sandbox(
        host, port,
        lambda url: create_app(seed=seed, accounts=accounts, requests=requests, public_url=url),
        lambda app, url: {**describe(app.state.sandbox, url), "seed": seed},
    )  # fmt: skip


def reinitialize(
    source: Annotated[str, typer.Argument(help="The ServiceDesk Plus MSP source.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Forget the source's links to Xero (accounts, worklog types, worklogs pushed), keeping
    MSP's data and the settings: to start it against another Xero organisation (bind it with
    `xerobridge sources connect` first)."""
    sdk.reinitialize(source, yes=yes)
