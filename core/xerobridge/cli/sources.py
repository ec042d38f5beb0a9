"""`xerobridge sources`: configured sources."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.markup import escape

from xerobridge.cli import root
from xerobridge.cli.root import JsonOpt, group
from xerobridge.config import sources as source_config
from xerobridge.contract.errors import UserError
from xerobridge.sync import checks

sources_app = group("sources", "Configured sources (one store, one server ...).")


@sources_app.command("add")
def sources_add(
    plugin: Annotated[str, typer.Argument(help="The plugin, e.g. magento.")],
    name: Annotated[str, typer.Option("--name", help="A name for this source, e.g. shop-eu.")],
    connection: Annotated[
        str | None, typer.Option("--connection", help="The Xero connection it syncs with.")
    ] = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Key prefix for natural keys (A-Z0-9, max 8).")
    ] = None,
    values: Annotated[
        list[str] | None, typer.Option("--set", help="A setting as name=value; repeatable.")
    ] = None,
    no_check: Annotated[
        bool, typer.Option("--no-check", help="Save it without trying its URL and credentials.")
    ] = False,
) -> None:
    """Configure a new source of a plugin, after one try of its URL and credentials.

    Without --connection it syncs with the only Xero connection; with several, say which.
    """
    store = root.open_store()
    plugins = root.load_plugins()
    source = source_config.add(
        store,
        plugins,
        plugin,
        name,
        connection=connection,
        values=root.pairs(values or [], "--set"),
        ask_connection=True,
        key_prefix=prefix,
    )
    answered = None
    if not no_check:
        assert source.id is not None
        try:
            answered = asyncio.run(checks.check_source(store, plugins, source.id))
        except UserError as exc:
            source_config.remove(store, source.name)
            raise UserError(f"{exc} (not saved; --no-check saves it anyway)") from None
    with store.transaction() as s:
        bound = source_config.as_dict(s, source, plugins)["connection"]
    root.out.print(
        f"added source {source.name} ({plugin}), key prefix {source.key_prefix}, "
        f"syncing with Xero connection {bound}"
    )
    if answered:
        root.out.print(f"  it answered: {escape(answered)}")


@sources_app.command("connect")
def sources_connect(
    name: Annotated[str, typer.Argument(help="The source.")],
    connection: Annotated[str, typer.Argument(help="The Xero connection it is to sync with.")],
) -> None:
    """Bind a source to a Xero connection (see `xerobridge connections list`)."""
    source_config.connect(root.open_store(), name, connection)
    root.out.print(f"source {name} now syncs with Xero connection {connection}")


@sources_app.command("check")
def sources_check(name: str) -> None:
    """Try a source's URL and credentials once and say what answered."""
    store = root.open_store()
    with store.transaction() as s:
        source = source_config.get(s, name)
    assert source.id is not None
    answered = asyncio.run(checks.check_source(store, root.load_plugins(), source.id))
    root.out.print(f"{name}: ok" + (f", {escape(answered)}" if answered else ""))


@sources_app.command("list")
def sources_list(as_json: JsonOpt = False) -> None:
    """List configured sources."""
    store = root.open_store()
    loaded = root.load_plugins()
    with store.transaction() as s:
        rows = [source_config.as_dict(s, src, loaded) for src in source_config.list_all(s)]
    root.emit(
        rows,
        as_json,
        title="sources",
        columns=[
            ("name", "name"),
            ("plugin", "plugin"),
            ("key prefix", "key_prefix"),
            ("connection", "connection"),
            ("enabled", "enabled"),
            ("status", "status"),
            ("why", "reason"),
        ],
        empty="No sources yet. Add one with: xerobridge sources add <plugin> --name <name>",
    )


@sources_app.command("remove")
def sources_remove(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove a source with its settings, cursors, queued jobs and links."""
    store = root.open_store()
    if not yes and not typer.confirm(f"Remove source {name} and its links and queued jobs?"):
        raise typer.Exit(1)
    source_config.remove(store, name)
    root.out.print(f"removed source {name}")


@sources_app.command("reinitialize")
def sources_reinitialize(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Forget a source's links to Xero (and its cursors and queued jobs), keeping its settings
    and the source's own data: to start it against another Xero organisation."""
    reinitialize(name, yes=yes)


def reinitialize(name: str, *, yes: bool) -> None:
    """`sources reinitialize`, for the commands of plugins that offer it under their name."""
    store = root.open_store()
    with store.transaction() as s:
        source_config.get(s, name)  # an unknown source is said before the question
    question = (
        f"Forget every link of source {name} to Xero objects, its cursors and its queued jobs? "
        "Its settings and the source's data stay; its next sync starts afresh against the Xero "
        "connection it is bound to"
    )
    if not yes and not typer.confirm(question):
        raise typer.Exit(1)
    done = source_config.reinitialize(store, name)
    said = ", ".join(f"{n} {what}" for what, n in done.items())
    root.out.print(f"reinitialized source {name}: forgot {said}")
