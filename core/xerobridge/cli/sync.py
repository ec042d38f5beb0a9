"""`xerobridge sync`, `map` and `setup-accounts`: one pass, and the decisions a pass waits for."""

from __future__ import annotations

from typing import Annotated

import typer

from xerobridge.cli import root
from xerobridge.cli.root import JsonOpt, app
from xerobridge.config import sources as source_config
from xerobridge.contract.errors import UserError

#: Distinct setup reasons printed after a sync; the rest are counted.
SETUPS_SHOWN = 3


def setup_lines(setups: list[str]) -> list[str]:
    """What `sync` prints of the setups its records wait for: a few, and how many more."""
    lines = [f"waiting for the setup: {why}" for why in setups[:SETUPS_SHOWN]]
    if len(setups) > SETUPS_SHOWN:
        lines.append(
            f"... and {len(setups) - SETUPS_SHOWN} more waiting for the setup: "
            "`xerobridge queue list --state held` lists them"
        )
    return lines


@app.command("sync")
def sync_command(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    stream: Annotated[str | None, typer.Option(help="Only this stream.")] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Read everything, not only changes.")
    ] = False,
    reconcile: Annotated[
        bool, typer.Option("--reconcile", help="Also find records deleted at the source.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON line.")
    ] = False,
) -> None:
    """Run one sync pass in the foreground and say how it went.

    Exit codes: 0 all done; 1 a record failed (`xerobridge log --status error`); 3 nothing
    failed but records wait for a person (a choice, `xerobridge map`, or the setup); 4 a
    source could not be read (down, unreachable): the daemon tries it again later.
    """
    import asyncio

    from xerobridge.cli import progress
    from xerobridge.sync.engine import Engine

    store = root.open_store()
    engine = Engine(store, root.load_plugins())

    async def go() -> object:
        try:
            with progress.bars(root.err, enabled=not as_json) as update:
                engine.worker.on_progress = update  # type: ignore[assignment]
                return await engine.sync(source, stream, full=full, reconcile=reconcile)
        finally:
            await engine.aclose()

    summary = asyncio.run(go())
    if as_json:
        root.print_json(summary.as_dict(), one_line=True)  # type: ignore[attr-defined]
    else:
        root.out.print(progress.table(summary))  # type: ignore[arg-type]
    for name, why in summary.unavailable.items():  # type: ignore[attr-defined]
        root.err.print(f"source {name} could not be read: {why}", soft_wrap=True)
    for line in setup_lines(list(summary.setups)):  # type: ignore[attr-defined]
        root.err.print(line, soft_wrap=True)
    if summary.failed:  # type: ignore[attr-defined]
        raise typer.Exit(1)
    if summary.unavailable:  # type: ignore[attr-defined]
        raise typer.Exit(4)
    waiting = summary.waiting  # type: ignore[attr-defined]
    if waiting:
        root.err.print(
            f"{waiting} record{'s' if waiting != 1 else ''} wait for a person: `xerobridge map` "
            "lists the choices, `xerobridge queue list --state held` the setups to fix"
        )
        raise typer.Exit(3)


@app.command("map")
def map_command(
    source: Annotated[str | None, typer.Argument(help="The source.")] = None,
    stream: Annotated[str | None, typer.Argument(help="The stream.")] = None,
    key: Annotated[str | None, typer.Argument(help="The record's key.")] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", help="The Xero id it is (from Xero: the source key it is)."),
    ] = None,
    create: Annotated[bool, typer.Option("--create", help="Make a new Xero object.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Decide an unmapped record (--to ID or --create); with no record, list those waiting."""
    from xerobridge.sync import unmapped

    store = root.open_store()
    if key is None:
        with store.transaction() as s:
            rows = [u.__dict__ for u in unmapped.waiting(s, source)]
        for row in rows:
            row["candidates"] = "; ".join(
                f"{c.get('xero_id')} {c.get('label')}" for c in row["candidates"]
            ) if not as_json else row["candidates"]  # fmt: skip
        columns = ["source", "stream", "key", "reason", "candidates"]
        root.emit(
            rows,
            as_json,
            title="records waiting for a person",
            columns=[(c, c) for c in columns],
            empty="No record is waiting for a person.",
        )
        return
    if source is None or stream is None:
        raise UserError("name the record: xerobridge map <source> <stream> <key> --to ID")
    unmapped.decide(store, root.load_plugins(), source, stream, key, to=to, create=create)
    root.out.print(f"{source} {stream} {key}: queued again as " + (f"Xero {to}" if to else "new"))


@app.command("setup-accounts")
def setup_accounts_command(source: str) -> None:
    """Create the Xero accounts a source's settings name (bank, sales, ...) where missing."""
    import asyncio

    from xerobridge.sync.accounts import ensure_accounts
    from xerobridge.sync.engine import Engine

    store = root.open_store()
    engine = Engine(store, root.load_plugins())
    with store.transaction() as s:
        src = source_config.get(s, source)

    async def go() -> list[object]:
        try:
            return list(await ensure_accounts(engine, src))
        finally:
            await engine.aclose()

    for outcome in asyncio.run(go()):
        state = "created" if outcome.created else "exists"  # type: ignore[attr-defined]
        root.out.print(f"{outcome.name} ({outcome.code}): {state}")  # type: ignore[attr-defined]
