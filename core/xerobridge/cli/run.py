"""`xerobridge run` (the daemon) and `xerobridge demo`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from xerobridge.cli import root
from xerobridge.cli.root import app
from xerobridge.contract.errors import UserError


def _listen_address(raw: str) -> tuple[str, int]:
    host, sep, port = raw.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise UserError(f"--listen {raw!r} must look like HOST:PORT, e.g. 127.0.0.1:8765")
    return host.strip("[]"), int(port)


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
    raise typer.Exit(daemon.run(root.open_store(), host=host, port=port, workers=workers))


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

    plugins = root.load_plugins()

    async def go() -> tuple[object, object]:
        prepared = await demo.prepare(plugins)
        with progress.bars(root.err, enabled=not as_json) as update:
            summary = await demo.first_sync(prepared, update)  # type: ignore[arg-type]
        return prepared, summary

    prepared, summary = asyncio.run(go())
    if as_json:
        root.print_json(summary.as_dict(), one_line=True)  # type: ignore[attr-defined]
    else:
        root.out.print(progress.table(summary))  # type: ignore[arg-type]
    if once:
        return  # the records that failed (some are bad on purpose) are in the summary
    from xerobridge.web.serve import base_url, bind, serve

    sock = bind("127.0.0.1", port)
    password = demo.one_time_password(prepared)  # type: ignore[arg-type]
    root.out.print(
        f"dashboard on {base_url('127.0.0.1', sock)}/ : log in as admin with password "
        f"{escape(password)} (made for this run; Ctrl-C stops)",
        soft_wrap=True,
    )
    serve(demo.web_app(prepared), sock)  # type: ignore[arg-type]
