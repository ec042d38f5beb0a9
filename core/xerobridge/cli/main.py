"""The `xerobridge` command line: every command module registered on the root command, and
`main()`.

A person's mistake (an unknown plugin, a bad setting, a database that cannot be opened) prints
one line saying what is wrong and what to do, and exits with status 2; never a traceback."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click
import typer

from xerobridge.cli import (  # noqa: F401  (each module registers its commands on the app)
    connect,
    connections,
    db,
    log,
    plugins,
    queue,
    report,
    root,
    run,
    settings,
    sources,
    sync,
)
from xerobridge.cli.root import app
from xerobridge.contract import plugins as plugin_loading
from xerobridge.contract.errors import UserError
from xerobridge.sandboxes.xero.command import sandbox_app
from xerobridge.web.dashboard.commands import admin_app

logger = logging.getLogger(__name__)


app.add_typer(sandbox_app, name="sandbox")
app.add_typer(admin_app, name="admin")

# Typer 0.2x carries its own copy of click, whose exceptions are not click's: catch both kinds,
# or a mistyped command or a missing argument ends in a traceback.
_EXIT = (click.exceptions.Exit, typer.Exit)
_ABORT = (click.exceptions.Abort, typer.Abort)
_USAGE: tuple[type[Any], ...] = (
    click.ClickException,
    getattr(typer, "TyperException", click.ClickException),
)


def add_plugin_commands() -> None:
    """Let each loaded plugin add its commands; a failing one is reported, not fatal."""
    loaded = plugin_loading.load_plugins()
    for info in loaded:
        if info.status != "ok" or "register_commands" not in info.hooks:
            continue
        try:
            loaded.call(info.name, "register_commands", cli=app, sandbox=sandbox_app)
        except Exception as exc:  # a plugin's bug must not take the command line down
            logger.error("plugin %s could not add its commands: %s", info.name, exc)


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
        root.err.print("aborted")
        sys.exit(1)
    except _USAGE as exc:
        exc.show()
        sys.exit(2)
    sys.exit(result if isinstance(result, int) else 0)
