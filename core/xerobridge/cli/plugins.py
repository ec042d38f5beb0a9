"""`xerobridge plugins` and `xerobridge new-plugin`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from xerobridge.cli import root
from xerobridge.cli.root import JsonOpt, app


@app.command("plugins")
def plugins_command(as_json: JsonOpt = False) -> None:
    """List installed plugins: version, hooks implemented and status."""
    loaded = root.load_plugins()
    if as_json:
        root.print_json([info.as_dict() for info in loaded])
        return
    table = Table(title="xerobridge plugins")
    for column in ("name", "version", "hooks", "status"):
        table.add_column(column)
    for info in loaded:
        status = {"ok": "[green]ok[/]", "disabled": "[yellow]disabled[/]"}.get(
            info.status, f"[red]failed: {escape(info.error)}[/]"
        )
        table.add_row(escape(info.name), escape(info.version), ", ".join(info.hooks), status)
    if not loaded.infos:
        root.out.print("No plugins installed. Install one, e.g.: pip install -e plugins/magento")
        return
    root.out.print(table)


@app.command("new-plugin")
def new_plugin_command(
    name: Annotated[str, typer.Argument(help="The plugin's name: a-z, 0-9 and _, e.g. tickets.")],
    directory: Annotated[
        str | None,
        typer.Option("--dir", help="Where to write it, new or empty (default ./xerobridge-NAME)."),
    ] = None,
    from_xero: Annotated[
        bool,
        typer.Option("--from-xero", help="Add a stream from Xero: its suppliers as vendors."),
    ] = False,
) -> None:
    """Create a source plugin package (hooks, client, sandbox, tests) to install and build on."""
    from pathlib import Path

    from xerobridge.cli import scaffold

    dest = Path(directory) if directory else scaffold.default_directory(name)
    written = scaffold.render(name, dest, from_xero=from_xero)
    root.out.print(f"wrote plugin {name} to {dest} ({len(written)} files); next:")
    for step in scaffold.next_steps(name, dest):
        root.out.print(f"  {escape(step)}", soft_wrap=True)
