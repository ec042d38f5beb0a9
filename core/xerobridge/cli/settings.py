"""`xerobridge settings`: a source's settings."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from xerobridge.cli import root
from xerobridge.cli.root import JsonOpt, group
from xerobridge.config import sources as source_config
from xerobridge.config import xero_lists
from xerobridge.runtime.queue import Queue
from xerobridge.store.db import Store
from xerobridge.store.models import Source

settings_app = group("settings", "A source's settings.")


def _source_and_spec(store: Store, name: str) -> tuple[Source, Any]:
    with store.transaction() as s:
        source = source_config.get(s, name)
    return source, root.load_plugins().spec(source.plugin)


@settings_app.command("show")
def settings_show(
    source: str,
    record: Annotated[
        str | None, typer.Option("--record", help="stream:key for a record's own settings.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a source's effective settings (secrets redacted)."""
    store = root.open_store()
    src, spec = _source_and_spec(store, source)
    with store.transaction() as s:
        settings = source_config.load_settings(s, src, spec, record=root.record_option(record))
    shown = settings.redacted()
    if as_json:
        root.print_json(shown)
        return
    table = Table(title=f"settings of {source}")
    table.add_column("setting")
    table.add_column("value")
    table.add_column("help")
    for name, info in spec.settings.model_fields.items():
        table.add_row(*root.escaped(name, str(shown[name]), info.description or ""))
    root.out.print(table)


@settings_app.command("set")
def settings_set(
    source: str,
    values: Annotated[list[str], typer.Argument(help="name=value pairs.")],
    record: Annotated[
        str | None, typer.Option("--record", help="stream:key to set a record's own value.")
    ] = None,
) -> None:
    """Change settings of a source; all are validated together before any is saved."""
    store = root.open_store()
    src, spec = _source_and_spec(store, source)
    changes = root.pairs(values, "setting")
    # Tax types and currencies the organisation lacks are refused before anything is saved.
    notes = xero_lists.check(store, src, spec, changes)
    source_config.update_settings(store, spec, source, changes, record=root.record_option(record))
    root.out.print(f"saved {', '.join(sorted(changes))} for {source}")
    for note in notes:
        root.err.print(note, soft_wrap=True)
    # A failure the old settings caused (a tax map, an account name) may be gone now.
    again = Queue(store).retry_failed(source_id=src.id)
    if again:
        root.out.print(f"{again} failed record(s) will be tried again with them")
