"""`xerobridge sources`: configured sources."""

from __future__ import annotations

from typing import Annotated

import typer

from xerobridge.cli import root
from xerobridge.cli.root import JsonOpt, group
from xerobridge.config import sources as source_config

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
) -> None:
    """Configure a new source of a plugin."""
    store = root.open_store()
    source = source_config.add(
        store,
        root.load_plugins(),
        plugin,
        name,
        connection=connection,
        values=root.pairs(values or [], "--set"),
        key_prefix=prefix,
    )
    root.out.print(f"added source {source.name} ({plugin}), key prefix {source.key_prefix}")


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
            ("connection", "connection_id"),
            ("enabled", "enabled"),
            ("status", "status"),
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
