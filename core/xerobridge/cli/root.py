"""The root `xerobridge` command and what every command module shares: the consoles, the
store and plugins a command opens, and printing rows as a table or JSON."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from xerobridge.contract import plugins as plugin_loading
from xerobridge.contract.errors import UserError
from xerobridge.store.db import Store

app = typer.Typer(
    name="xerobridge",
    help="Keep your business systems and Xero in sync.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

out = Console()
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def group(name: str, help: str) -> typer.Typer:
    """A command group `xerobridge NAME ...`, added to the root command."""
    sub = typer.Typer(help=help, no_args_is_help=True)
    app.add_typer(sub, name=name)
    return sub


def open_store() -> Store:
    """The store, created or migrated to the newest schema."""
    store = Store()
    store.upgrade()
    return store


def load_plugins() -> plugin_loading.Plugins:
    """The installed plugins."""
    return plugin_loading.load_plugins()


def print_json(data: Any, *, one_line: bool = False) -> None:
    """Print data as JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=None if one_line else 2, default=str) + "\n")


def escaped(*cells: str) -> list[str]:
    """Table cells as text: data such as "[type=missing]" must show as typed, not as markup."""
    return [escape(cell) for cell in cells]


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "-" if value is None else str(value)


def emit(
    rows: list[dict[str, Any]],
    as_json: bool,
    *,
    title: str,
    columns: list[tuple[str, str]],
    empty: str,
) -> None:
    """Print rows as JSON, or as a table of (header, key) columns, or the line for no rows."""
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print(empty)
        return
    cells = [[(header, _cell(row[key])) for header, key in columns] for row in rows]
    widest = [max(len(header), *(len(row[i][1]) for row in cells))
              for i, (header, _key) in enumerate(columns)]  # fmt: skip
    if sum(widest) + 3 * len(columns) + 1 > out.width:
        _blocks(cells, title)
        return
    table = Table(title=title)
    for header, _key in columns:
        table.add_column(header)
    for row in cells:
        table.add_row(*escaped(*(value for _header, value in row)))
    out.print(table)


#: A value longer than this gets a line of its own in a row's block.
_SHORT = 24


def _blocks(rows: list[list[tuple[str, str]]], title: str) -> None:
    """Rows too wide for the terminal as a block each: the short values on one line, each
    long one (a message, a Xero id) in full on a line of its own, wrapped at word ends."""
    out.print(title, style="bold", markup=False, highlight=False)
    for row in rows:
        short = [f"{header} {value}" for header, value in row if len(value) <= _SHORT]
        out.print()
        out.print("  ".join(short), markup=False, highlight=False)
        for header, value in row:
            if len(value) > _SHORT:
                out.print(Padding(Text(f"{header}: {value}"), (0, 0, 0, 2), expand=False))


def pairs(items: list[str], what: str) -> dict[str, str]:
    """name=value arguments as a dict (a UserError for one without `=`)."""
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{what} {item!r} must look like name=value")
        values[key.strip()] = value
    return values


def record_option(raw: str | None) -> tuple[str, str] | None:
    """A `--record stream:key` value as (stream, key)."""
    if raw is None:
        return None
    stream, sep, key = raw.partition(":")
    if not sep or not stream or not key:
        raise UserError(f"--record {raw!r} must look like stream:key, e.g. customers:1001")
    return stream, key
