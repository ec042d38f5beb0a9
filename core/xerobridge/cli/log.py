"""`xerobridge log`: the sync log."""

from __future__ import annotations

from typing import Annotated

import typer

from xerobridge.cli import bounds, root
from xerobridge.cli.root import JsonOpt, app
from xerobridge.clock import utcnow
from xerobridge.config import sources as source_config
from xerobridge.store import synclog
from xerobridge.store.states import SyncStatus


@app.command("log")
def log_command(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    stream: Annotated[str | None, typer.Option(help="Only this stream.")] = None,
    status: Annotated[SyncStatus | None, typer.Option(help="Only rows of this outcome.")] = None,
    since: Annotated[
        str | None, typer.Option(help="From this time: 2026-11-01, 2h, 3d, 1w.")
    ] = None,
    limit: Annotated[
        int, typer.Option(help="At most this many rows.", min=1, max=bounds.MAX_ROWS)
    ] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Show the sync log: what was synced, newest first."""
    store = root.open_store()
    with store.transaction() as s:
        names = {src.id: src.name for src in source_config.list_all(s)}
        source_id = source_config.get(s, source).id if source else None
        rows = synclog.query(
            s,
            synclog.LogFilter(
                source_id=source_id,
                stream=stream,
                status=status,
                since=synclog.moment(since, utcnow(), "--since"),
                limit=limit,
            ),
        )
    data = [synclog.as_dict(r, names) for r in rows]
    columns = ["source", "stream", "record", "action", "status", "message"]
    root.emit(
        data,
        as_json,
        title="sync log",
        columns=[("time", "at"), *((c, c) for c in columns)],
        empty="Nothing in the sync log matches.",
    )
