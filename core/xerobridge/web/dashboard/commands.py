"""`xerobridge admin`: the dashboard's password and the API's bearer tokens."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from xerobridge.contract.errors import UserError
from xerobridge.store.db import Store
from xerobridge.web.dashboard import logins

admin_app = typer.Typer(help="Who may use the dashboard and the API.", no_args_is_help=True)


def _store() -> Store:
    store = Store()
    store.upgrade()
    return store


@admin_app.command("set-password")
def set_password(
    username: Annotated[str, typer.Option(help="The login to set.")] = logins.ADMIN,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Set the dashboard password (asked twice, not echoed); old sessions end."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise UserError("the password is empty; type one, or pipe one with --password-stdin")
    logins.set_password(_store(), password, username=username)
    typer.echo(f"password set for {username}; log in to the dashboard with it")


@admin_app.command("create-token")
def create_token(
    name: Annotated[str, typer.Argument(help="What the token is for, e.g. the script's name.")],
) -> None:
    """Create a bearer token for `/api/...`; it is printed once and only its hash is kept."""
    typer.echo(logins.create_token(_store(), name))


@admin_app.command("tokens")
def list_tokens() -> None:
    """The API tokens by name, with when each was made and last used."""
    rows = logins.list_tokens(_store())
    if not rows:
        typer.echo("no API tokens; create one with `xerobridge admin create-token NAME`")
    for row in rows:
        used = row.last_used_at.isoformat() if row.last_used_at else "never used"
        created = row.created_at.isoformat() if row.created_at else ""
        typer.echo(f"{row.name}\tcreated {created}\t{used}")


@admin_app.command("revoke-token")
def revoke_token(name: Annotated[str, typer.Argument(help="The token's name.")]) -> None:
    """Forget an API token; scripts using it are refused from now on."""
    logins.revoke_token(_store(), name)
    typer.echo(f"token {name} revoked")
