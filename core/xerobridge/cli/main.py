"""The `xerobridge` command line.

A person's mistake (an unknown plugin, a bad setting, a database that cannot be opened) prints
one line saying what is wrong and what to do, and exits with status 2; never a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from xerobridge.clock import utcnow
from xerobridge.config import connections as connection_config
from xerobridge.config import sources as source_config
from xerobridge.contract import plugins as plugin_loading
from xerobridge.contract.errors import UserError
from xerobridge.runtime.queue import Queue
from xerobridge.runtime.queue import as_dict as queue_rows
from xerobridge.store import synclog, usage
from xerobridge.store.db import Store
from xerobridge.store.models import Source
from xerobridge.xero.connect import connect

log = logging.getLogger(__name__)

app = typer.Typer(
    name="xerobridge",
    help="Keep your business systems and Xero in sync.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
sources_app = typer.Typer(
    help="Configured sources (one store, one server ...).", no_args_is_help=True
)
settings_app = typer.Typer(help="A source's settings.", no_args_is_help=True)
queue_app = typer.Typer(help="What will be synced next.", no_args_is_help=True)
report_app = typer.Typer(help="Reports.", no_args_is_help=True)
connections_app = typer.Typer(help="Xero organisations connected.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(sources_app, name="sources")
app.add_typer(settings_app, name="settings")
app.add_typer(queue_app, name="queue")
app.add_typer(report_app, name="report")
app.add_typer(connections_app, name="connections")

out = Console()
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _store() -> Store:
    store = Store()
    store.upgrade()
    return store


def _plugins() -> plugin_loading.Plugins:
    return plugin_loading.load_plugins()


def _print_json(data: Any, *, one_line: bool = False) -> None:
    sys.stdout.write(json.dumps(data, indent=None if one_line else 2, default=str) + "\n")


def _escaped(*cells: str) -> list[str]:
    # Table cells are Rich markup: data such as "[type=missing]" in an error must show as typed.
    return [escape(cell) for cell in cells]


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "-" if value is None else str(value)


def _emit(
    rows: list[dict[str, Any]],
    as_json: bool,
    *,
    title: str,
    columns: list[tuple[str, str]],
    empty: str,
) -> None:
    """Print rows as JSON, or as a table of (header, key) columns, or the line for no rows."""
    if as_json:
        _print_json(rows)
        return
    if not rows:
        out.print(empty)
        return
    table = Table(title=title)
    for header, _key in columns:
        table.add_column(header)
    for row in rows:
        table.add_row(*_escaped(*(_cell(row[key]) for _header, key in columns)))
    out.print(table)


def _pairs(items: list[str], what: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{what} {item!r} must look like name=value")
        values[key.strip()] = value
    return values


def _record(raw: str | None) -> tuple[str, str] | None:
    if raw is None:
        return None
    stream, sep, key = raw.partition(":")
    if not sep or not stream or not key:
        raise UserError(f"--record {raw!r} must look like stream:key, e.g. customers:1001")
    return stream, key


# -- plugins --------------------------------------------------------------------------------------


@app.command("plugins")
def plugins_command(as_json: JsonOpt = False) -> None:
    """List installed plugins: version, hooks implemented and status."""
    loaded = _plugins()
    if as_json:
        _print_json([info.as_dict() for info in loaded])
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
        out.print("No plugins installed. Install one, e.g.: pip install -e plugins/magento")
        return
    out.print(table)


@app.command("new-plugin")
def new_plugin_command(
    name: Annotated[str, typer.Argument(help="The plugin's name: a-z, 0-9 and _, e.g. tickets.")],
    directory: Annotated[
        str | None,
        typer.Option("--dir", help="Where to write it, new or empty (default ./xerobridge-NAME)."),
    ] = None,
) -> None:
    """Create a source plugin package (hooks, client, sandbox, tests) to install and build on."""
    from pathlib import Path

    from xerobridge.cli import scaffold

    dest = Path(directory) if directory else scaffold.default_directory(name)
    written = scaffold.render(name, dest)
    out.print(f"wrote plugin {name} to {dest} ({len(written)} files); next:")
    for step in scaffold.next_steps(name, dest):
        out.print(f"  {escape(step)}", soft_wrap=True)


# -- db -------------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the newest version."""
    store = _store()
    out.print(f"database {store.safe_url} is up to date")


# -- connections ----------------------------------------------------------------------------------


@connections_app.command("list")
def connections_list(as_json: JsonOpt = False) -> None:
    """List Xero connections: organisation, ShortCode, status and why."""
    store = _store()
    with store.transaction() as s:
        rows = [connection_config.as_dict(c) for c in connection_config.list_all(s)]
    columns = ["name", "organisation", "short_code", "status", "reason", "webhook_key"]
    _emit(
        rows,
        as_json,
        title="Xero connections",
        columns=[(c.replace("_", " "), c) for c in columns],
        empty="No Xero connections yet. Add one with: xerobridge connect --name <name> ...",
    )


@connections_app.command("webhook-key")
def connections_webhook_key(
    name: str,
    key: Annotated[
        str,
        typer.Option(
            "--key",
            envvar="XEROBRIDGE_WEBHOOK_KEY",
            prompt="Webhook key",
            hide_input=True,
            help="The key from the app's Webhooks page in Xero.",
        ),
    ],
) -> None:
    """Set the key Xero signs this connection's webhooks with (stored encrypted)."""
    connection_config.set_webhook_key(_store(), name, key)
    out.print(f"webhook key saved for {name}")


@connections_app.command("remove")
def connections_remove(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Forget a connection that no source uses."""
    store = _store()
    if not yes and not typer.confirm(f"Forget Xero connection {name}?"):
        raise typer.Exit(1)
    connection_config.remove(store, name)
    out.print(f"removed connection {name}")


# -- sources --------------------------------------------------------------------------------------


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
    store = _store()
    source = source_config.add(
        store,
        _plugins(),
        plugin,
        name,
        connection=connection,
        values=_pairs(values or [], "--set"),
        key_prefix=prefix,
    )
    out.print(f"added source {source.name} ({plugin}), key prefix {source.key_prefix}")


@sources_app.command("list")
def sources_list(as_json: JsonOpt = False) -> None:
    """List configured sources."""
    store = _store()
    loaded = _plugins()
    with store.transaction() as s:
        rows = [source_config.as_dict(s, src, loaded) for src in source_config.list_all(s)]
    _emit(
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
    store = _store()
    if not yes and not typer.confirm(f"Remove source {name} and its links and queued jobs?"):
        raise typer.Exit(1)
    source_config.remove(store, name)
    out.print(f"removed source {name}")


# -- settings -------------------------------------------------------------------------------------


def _source_and_spec(store: Store, name: str) -> tuple[Source, Any]:
    with store.transaction() as s:
        source = source_config.get(s, name)
    return source, _plugins().spec(source.plugin)


@settings_app.command("show")
def settings_show(
    source: str,
    record: Annotated[
        str | None, typer.Option("--record", help="stream:key for a record's own settings.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a source's effective settings (secrets redacted)."""
    store = _store()
    src, spec = _source_and_spec(store, source)
    with store.transaction() as s:
        settings = source_config.load_settings(s, src, spec, record=_record(record))
    shown = settings.redacted()
    if as_json:
        _print_json(shown)
        return
    table = Table(title=f"settings of {source}")
    table.add_column("setting")
    table.add_column("value")
    table.add_column("help")
    for name, info in spec.settings.model_fields.items():
        table.add_row(*_escaped(name, str(shown[name]), info.description or ""))
    out.print(table)


@settings_app.command("set")
def settings_set(
    source: str,
    values: Annotated[list[str], typer.Argument(help="name=value pairs.")],
    record: Annotated[
        str | None, typer.Option("--record", help="stream:key to set a record's own value.")
    ] = None,
) -> None:
    """Change settings of a source; all are validated together before any is saved."""
    store = _store()
    _src, spec = _source_and_spec(store, source)
    changes = _pairs(values, "setting")
    source_config.update_settings(store, spec, source, changes, record=_record(record))
    out.print(f"saved {', '.join(sorted(changes))} for {source}")


# -- queue ----------------------------------------------------------------------------------------


@queue_app.command("list")
def queue_list(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    stream: Annotated[str | None, typer.Option(help="Only this stream.")] = None,
    state: Annotated[str | None, typer.Option(help="queued, held, running or dead.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """List queued, held, running and dead jobs."""
    store = _store()
    source_id, names = None, {}
    with store.transaction() as s:
        names = {src.id: src.name for src in source_config.list_all(s)}
        if source:
            source_id = source_config.get(s, source).id
    jobs = Queue(store).jobs(source_id=source_id, stream=stream, state=state, limit=limit)
    rows = [queue_rows(j, names) for j in jobs]
    columns = ["id", "source", "kind", "stream", "record", "state", "attempts", "last_error"]
    _emit(
        rows,
        as_json,
        title="queue",
        columns=[(c.replace("_", " "), c) for c in columns],
        empty="The queue is empty.",
    )


@queue_app.command("cancel")
def queue_cancel(job_ids: Annotated[list[int], typer.Argument(help="Job ids.")]) -> None:
    """Remove waiting jobs from the queue."""
    n = Queue(_store()).cancel(job_ids)
    out.print(f"removed {n} job(s) from the queue")
    if n < len(job_ids):
        err.print(f"{len(job_ids) - n} job(s) were running or not found and were left alone")


@queue_app.command("run-now")
def queue_run_now(job_ids: Annotated[list[int], typer.Argument(help="Job ids.")]) -> None:
    """Make waiting, held or dead jobs due at once."""
    n = Queue(_store()).run_now(job_ids)
    out.print(f"{n} job(s) will run at once")


@queue_app.command("approve")
def queue_approve(
    job_ids: Annotated[list[int] | None, typer.Argument(help="Job ids.")] = None,
    source: Annotated[str | None, typer.Option(help="Approve all held jobs of a source.")] = None,
) -> None:
    """Release jobs held for approval."""
    if not job_ids and not source:
        raise UserError("name the jobs to approve, or --source to approve all of a source")
    store = _store()
    source_id = None
    if source:
        with store.transaction() as s:
            source_id = source_config.get(s, source).id
    n = Queue(store).approve(job_ids=job_ids or None, source_id=source_id)
    out.print(f"approved {n} job(s)")


@queue_app.command("enqueue-all")
def queue_enqueue_all(source: str, stream: str) -> None:
    """Queue every record of a stream ("Add all data to queue")."""
    store = _store()
    with store.transaction() as s:
        src = source_config.get(s, source)
    spec = _plugins().spec(src.plugin)
    spec.stream(stream)
    assert src.id is not None
    Queue(store).enqueue_all(src.id, stream, connection_id=src.connection_id)
    out.print(f"queued a full read of {source} {stream}: every record will be synced")


# -- log and report -------------------------------------------------------------------------------


@app.command("log")
def log_command(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    stream: Annotated[str | None, typer.Option(help="Only this stream.")] = None,
    status: Annotated[str | None, typer.Option(help="success or error.")] = None,
    since: Annotated[
        str | None, typer.Option(help="From this time: 2026-11-01, 2h, 3d, 1w.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Show the sync log: what was synced, newest first."""
    store = _store()
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
    _emit(
        data,
        as_json,
        title="sync log",
        columns=[("time", "at"), *((c, c) for c in columns)],
        empty="Nothing in the sync log matches.",
    )


@report_app.command("requests")
def report_requests(
    days: Annotated[int, typer.Option(help="How many days back.")] = 7,
    as_json: JsonOpt = False,
) -> None:
    """Xero API calls per connection per day against the daily limit."""
    store = _store()
    with store.transaction() as s:
        rows = usage.report(s, since=usage.days_back(utcnow().date(), days))
    _emit(
        [r.as_dict() for r in rows],
        as_json,
        title="Xero API requests per day",
        columns=[
            ("day", "day"),
            ("connection", "connection"),
            ("calls", "calls"),
            ("daily limit", "daily_limit"),
            ("remaining", "remaining"),
            ("429s", "rate_limited"),
            ("errors", "errors"),
        ],
        empty=f"No Xero API calls in the last {days} day(s).",
    )


# Typer 0.2x carries its own copy of click, whose exceptions are not click's: catch both kinds,
# or a mistyped command or a missing argument ends in a traceback.
_EXIT = (click.exceptions.Exit, typer.Exit)
_ABORT = (click.exceptions.Abort, typer.Abort)
_USAGE: tuple[type[Any], ...] = (
    click.ClickException,
    getattr(typer, "TyperException", click.ClickException),
)


# -- the daemon -----------------------------------------------------------------------------------


def _listen_address(raw: str) -> tuple[str, int]:
    host, sep, port = raw.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise UserError(f"--listen {raw!r} must look like HOST:PORT, e.g. 127.0.0.1:8765")
    return host.strip("[]"), int(port)


@app.command("demo")
def demo_command(
    once: Annotated[bool, typer.Option("--once", help="Exit after the first sync.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON line.")
    ] = False,
    port: Annotated[int, typer.Option(help="The web app's port (0 picks a free one).")] = 8765,
) -> None:
    """Sync every installed plugin's sandbox into a Xero sandbox, then serve the web app."""
    import asyncio

    from xerobridge.cli import demo, progress

    plugins = _plugins()

    async def go() -> tuple[object, object]:
        prepared = await demo.prepare(plugins)
        with progress.bars(err, enabled=not as_json) as update:
            summary = await demo.first_sync(prepared, update)  # type: ignore[arg-type]
        return prepared, summary

    prepared, summary = asyncio.run(go())
    if as_json:
        _print_json(summary.as_dict(), one_line=True)  # type: ignore[attr-defined]
    else:
        out.print(progress.table(summary))  # type: ignore[arg-type]
    if once:
        return  # the records that failed (some are bad on purpose) are in the summary
    from xerobridge.web.serve import base_url, bind, serve

    sock = bind("127.0.0.1", port)
    password = demo.one_time_password(prepared)  # type: ignore[arg-type]
    out.print(
        f"dashboard on {base_url('127.0.0.1', sock)}/ : log in as admin with password "
        f"{escape(password)} (made for this run; Ctrl-C stops)",
        soft_wrap=True,
    )
    serve(demo.web_app(prepared), sock)  # type: ignore[arg-type]


@app.command("setup-accounts")
def setup_accounts_command(source: str) -> None:
    """Create the Xero accounts a source's settings name (bank, sales, ...) where missing."""
    import asyncio

    from xerobridge.config.accounts import ensure_accounts
    from xerobridge.sync.engine import Engine

    store = _store()
    engine = Engine(store, _plugins())
    with store.transaction() as s:
        src = source_config.get(s, source)

    async def go() -> list[object]:
        try:
            return list(await ensure_accounts(engine, src))
        finally:
            await engine.aclose()

    for outcome in asyncio.run(go()):
        state = "created" if outcome.created else "exists"  # type: ignore[attr-defined]
        out.print(f"{outcome.name} ({outcome.code}): {state}")  # type: ignore[attr-defined]


@app.command("map")
def map_command(
    source: Annotated[str | None, typer.Argument(help="The source.")] = None,
    stream: Annotated[str | None, typer.Argument(help="The stream.")] = None,
    key: Annotated[str | None, typer.Argument(help="The record's key.")] = None,
    to: Annotated[str | None, typer.Option("--to", help="The Xero id it is.")] = None,
    create: Annotated[bool, typer.Option("--create", help="Make a new Xero object.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Decide an unmapped record (--to ID or --create); with no record, list those waiting."""
    from xerobridge.sync import unmapped

    store = _store()
    if key is None:
        with store.transaction() as s:
            rows = [u.__dict__ for u in unmapped.waiting(s, source)]
        for row in rows:
            row["candidates"] = "; ".join(
                f"{c.get('xero_id')} {c.get('label')}" for c in row["candidates"]
            ) if not as_json else row["candidates"]  # fmt: skip
        columns = ["source", "stream", "key", "reason", "candidates"]
        _emit(
            rows,
            as_json,
            title="records waiting for a person",
            columns=[(c, c) for c in columns],
            empty="No record is waiting for a person.",
        )
        return
    if source is None or stream is None:
        raise UserError("name the record: xerobridge map <source> <stream> <key> --to ID")
    unmapped.decide(store, _plugins(), source, stream, key, to=to, create=create)
    out.print(f"{source} {stream} {key}: queued again as " + (f"Xero {to}" if to else "new"))


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
    """Run one sync pass in the foreground; exit 0 only when nothing failed."""
    import asyncio

    from xerobridge.cli import progress
    from xerobridge.sync.engine import Engine

    store = _store()
    engine = Engine(store, _plugins())

    async def go() -> object:
        try:
            with progress.bars(err, enabled=not as_json) as update:
                engine.worker.on_progress = update  # type: ignore[assignment]
                return await engine.sync(source, stream, full=full, reconcile=reconcile)
        finally:
            await engine.aclose()

    summary = asyncio.run(go())
    if as_json:
        _print_json(summary.as_dict(), one_line=True)  # type: ignore[attr-defined]
    else:
        out.print(progress.table(summary))  # type: ignore[arg-type]
    if summary.failed:  # type: ignore[attr-defined]
        raise typer.Exit(1)


@app.command("run")
def run_command(
    listen: Annotated[
        str,
        typer.Option(
            help="Where the web app listens (webhooks, notifications, OAuth callback); "
            "port 0 picks one."
        ),
    ] = "127.0.0.1:8765",
    workers: Annotated[
        int, typer.Option(min=0, max=64, help="Worker processes that run the queued jobs.")
    ] = 2,
) -> None:
    """Run the daemon: web app, scheduler and workers, until SIGTERM or Ctrl-C."""
    from xerobridge.runtime import daemon

    host, port = _listen_address(listen)
    # It prints "xerobridge listening on http://host:port" first, once the socket is bound.
    raise typer.Exit(daemon.run(_store(), host=host, port=port, workers=workers))


app.command("connect")(connect)

from xerobridge.sandboxes.xero.command import sandbox_app  # noqa: E402

app.add_typer(sandbox_app, name="sandbox")

from xerobridge.web.dashboard.commands import admin_app  # noqa: E402

app.add_typer(admin_app, name="admin")


def add_plugin_commands() -> None:
    """Let each loaded plugin add its commands; a failing one is reported, not fatal."""
    loaded = plugin_loading.load_plugins()
    for info in loaded:
        if info.status != "ok" or "register_commands" not in info.hooks:
            continue
        try:
            loaded.call(info.name, "register_commands", cli=app, sandbox=sandbox_app)
        except Exception as exc:  # a plugin's bug must not take the command line down
            log.error("plugin %s could not add its commands: %s", info.name, exc)


def main() -> None:
    """Run the CLI: user errors become one line on stderr and exit status 2."""
    # Commands report what matters themselves (a failed plugin shows in `plugins`).
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    add_plugin_commands()
    try:
        result = app(standalone_mode=False)
    except UserError as exc:
        # One line, unwrapped, whatever the terminal width: scripts grep it.
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)
    except _EXIT as exc:
        sys.exit(exc.exit_code)
    except _ABORT:
        err.print("aborted")
        sys.exit(1)
    except _USAGE as exc:
        exc.show()
        sys.exit(2)
    sys.exit(result if isinstance(result, int) else 0)
