"""The hooks a source plugin implements.

Every argument is passed by keyword and an implementation takes only the ones it uses. An
implementation may be a plain function or `async def` (or return an async iterator); the core
awaits what is awaitable. Plugins return values; the core does all I/O against Xero and the store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

from xerobridge.contract.context import SourceContext
from xerobridge.contract.types import (
    Change,
    Checkpoint,
    Resolution,
    SourceSpec,
    SourceWrite,
    StreamSpec,
    XeroDocument,
    XeroEvent,
)

if TYPE_CHECKING:
    from xerobridge.web.dashboard.plugin_pages import PluginPages

hookspec = pluggy.HookspecMarker("xerobridge")
hookimpl = pluggy.HookimplMarker("xerobridge")


@hookspec(firstresult=True)
def source_spec() -> SourceSpec:
    """Describe this plugin: its streams, settings model, Xero events and accounts.

    Called once when the plugin loads; an invalid spec marks the plugin failed.

    Returns:
        A :class:`~xerobridge.contract.types.SourceSpec`.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def fetch_changes(
    ctx: SourceContext, stream: StreamSpec, cursor: str | None, until: str | None
) -> AsyncIterator[Change | Checkpoint] | Iterable[Change | Checkpoint]:
    """Read the records of one stream changed since `cursor`.

    Args:
        ctx: the source's context (settings, http client, logger).
        stream: the stream to read.
        cursor: where the last run got to (an ISO timestamp for TIMESTAMP streams, the last
            Checkpoint value for TOKEN streams), or None to read everything.
        until: for a stream with a `backfill` span, the ISO timestamp before which the older
            history is being read (records changed at or after it are not wanted), else None.
            A plugin that cannot filter by it may leave it out; the core drops the extra.

    Returns:
        An (async) iterator of :class:`Change` and, for TOKEN streams, :class:`Checkpoint`.
        The core saves the cursor in the same transaction that queues the changes.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def fetch_records(
    ctx: SourceContext, stream: StreamSpec, keys: list[str]
) -> AsyncIterator[Change] | Iterable[Change]:
    """Read the given records by key, for a per-record "Sync now" and the deletion reconcile.

    Args:
        ctx: the source's context.
        stream: the stream the keys belong to.
        keys: the record keys to read (at most a few hundred per call).

    Returns:
        The :class:`Change` of each key that exists; a key left out is taken as deleted.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def map_record(ctx: SourceContext, change: Change) -> Resolution:
    """Decide which Xero object a source record is, and which records it needs first.

    Args:
        ctx: the source's context; `ctx.links` and `ctx.xero` answer look-ups without API calls.
        change: the record.

    Returns:
        A :class:`Resolution`: link to an existing object, create, ask a person (with
        candidates), or skip with a reason; with the :class:`Dependency` records it needs.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def to_xero(
    ctx: SourceContext, change: Change, links: Mapping[tuple[str, str, str], str]
) -> list[XeroDocument]:
    """Build the Xero documents for a record; pure, no I/O.

    Args:
        ctx: the source's context.
        change: the record.
        links: the Xero ids of the records it depends on and of its own earlier documents,
            keyed by (stream, key, role).

    Returns:
        The :class:`XeroDocument` list to write, each with its natural key and role.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def on_xero_update(ctx: SourceContext, event: XeroEvent) -> list[SourceWrite] | None:
    """Say what to change in the source after a change in Xero.

    Called only for the resource types the spec's `xero_events` asks for. The plugin does not
    write to the source itself: the core runs the returned writes as queued, retried jobs
    through the plugin and drops the echoes they cause.

    Args:
        ctx: the source's context.
        event: the Xero change, with the object fetched once by the core.

    Returns:
        The :class:`SourceWrite` list to make, or None for nothing.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def apply_write(ctx: SourceContext, write: SourceWrite) -> str | None:
    """Make in the source one write that ``on_xero_update`` asked for.

    The core calls this from a queued job, so a failure is retried like any other: raise
    :class:`~xerobridge.contract.types.RetryLater` when the source is unavailable and
    :class:`~xerobridge.contract.types.Permanent` when the write can never succeed.

    Args:
        ctx: the source's context, with its http client.
        write: the write to make.

    Returns:
        The source key of the record it created or updated (the core links it to the Xero
        object), or None.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def match_xero_record(ctx: SourceContext, event: XeroEvent) -> Resolution | None:
    """Say whether a Xero record not yet linked is a record the source already has.

    Called for a record of a from-Xero stream before `on_xero_update`, once per Xero record
    that has no link yet; the answer is kept as the record's link.

    Args:
        ctx: the source's context; `ctx.links` and `ctx.xero` answer look-ups without API calls.
        event: the Xero record, with the stream it is read for (`event.stream`).

    Returns:
        A :class:`Resolution`: `link(source_key)` to an existing source record, `create()` for a
        new one, `choose(...)` to ask a person, `skip(reason)` to leave it out.

    .. versionadded:: 0.2
    """


@hookspec(firstresult=True)
def find_written(ctx: SourceContext, write: SourceWrite) -> str | None:
    """Find the record an earlier try of a create made, before the core retries it.

    A create whose answer was lost may have happened: the core asks this before running it
    again, so that a source record is never created twice.

    Args:
        ctx: the source's context, with its http client.
        write: the create (`write.create`) about to be retried, with the Xero id it carries.

    Returns:
        The source key of the record found by that Xero id, or None when there is none.

    .. versionadded:: 0.2
    """


@hookspec
def register_commands(cli: Any, sandbox: Any) -> None:
    """Add the plugin's commands to the command line.

    Args:
        cli: the root `typer.Typer`; add a group named after the plugin (`xerobridge magento`).
        sandbox: the `xerobridge sandbox` group; add a command serving the plugin's sandbox.

    Returns:
        Nothing; the plugin calls `add_typer` / `command` on the groups it was given.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def register_routes(pages: PluginPages) -> list[Any]:
    """Add pages of the plugin to the dashboard, mounted under `/plugins/<plugin name>/`.

    The routes need a login like every dashboard page, and their forms need the CSRF field
    (`{{ csrf_field }}`); the guard checks both before a handler runs. Handlers reach the core
    only through `pages`: the plugin's sources, their settings, streams and counts, a queued
    sync, their Xero accounts, the mirror, and `pages.render` for a page in the dashboard's
    frame (templates in a `templates/` folder of the plugin's package). The argument is
    optional: an implementation that takes none keeps working.

    Args:
        pages: the plugin's :class:`~xerobridge.sdk.PluginPages`, one per plugin per web app.

    Returns:
        A list of Starlette routes (`starlette.routing.Route`), paths relative to the mount.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2 the `pages` argument.
    """
