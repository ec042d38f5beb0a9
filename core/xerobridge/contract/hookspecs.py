"""The hooks a source plugin implements.

Every argument is passed by keyword and an implementation takes only the ones it uses. An
implementation may be a plain function or `async def` (or return an async iterator); the core
awaits what is awaitable. Plugins return values; the core does all I/O against Xero and the store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import pluggy

from xerobridge.contract.context import SourceContext
from xerobridge.contract.types import (
    Change,
    Checkpoint,
    Notice,
    Resolution,
    SourceSpec,
    SourceWrite,
    StreamSpec,
    XeroDocument,
    XeroEvent,
)

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
def check_source(ctx: SourceContext) -> str | None:
    """Try the source's base URL and credentials once, so a person learns at once what is wrong.

    Run by `xerobridge sources add`, `xerobridge sources check` and the dashboard's source form.
    Make one cheap read (the store's name, the current user).

    Args:
        ctx: the source's context, with its client.

    Returns:
        A short description of what answered ("Magento 2 store Main Website"), or None. Raise
        :class:`~xerobridge.contract.errors.UserError` naming the setting to fix when the source
        refuses the credentials or the URL is not the API; RetryLater when it cannot be reached.

    .. versionadded:: 0.2
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
    ctx: SourceContext,
    change: Change,
    links: Mapping[tuple[str, str, str], str],
    resolution: Resolution,
) -> list[XeroDocument]:
    """Build the Xero documents for a record; pure: no I/O, and never what Xero holds.

    The same arguments give the same documents, so that a body's hash changes only when the
    record does: what the mirror tells (another contact has this name) `map_record` decides and
    passes on in `resolution`.

    Args:
        ctx: the source's context.
        change: the record.
        links: the Xero ids of the records it depends on and of its own earlier documents,
            keyed by (stream, key, role).
        resolution: what `map_record` decided for it; its `facts` carry what a build depends
            on that only a look-up can tell (a contact name another contact has). An
            implementation that needs none may leave the argument out.

    Returns:
        The :class:`XeroDocument` list to write, each with its natural key and role.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2 `resolution`.
    """


@hookspec(firstresult=True)
def on_xero_update(ctx: SourceContext, event: XeroEvent) -> list[SourceWrite | Notice] | None:
    """Say what to change in the source after a change in Xero.

    Called only for the resource types the spec's `xero_events` asks for. The plugin does not
    write to the source itself: the core runs the returned writes as queued, retried jobs
    through the plugin and drops the echoes they cause.

    Args:
        ctx: the source's context.
        event: the Xero change, with the object fetched once by the core.

    Returns:
        The :class:`SourceWrite` list to make, or None for nothing; a
        :class:`~xerobridge.contract.types.Notice` among them is something a person must do in
        the source by hand (the core adds it to the action log once per record and message).

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def match_xero_record(ctx: SourceContext, event: XeroEvent) -> Resolution:
    """Say whether a Xero record that no source record is linked to yet is an existing one.

    Called for records of a from-Xero stream before `on_xero_update`, only while the record is
    unlinked; may be called more than once for one record. Read candidates from the source
    through `ctx.client`; the core stores the link.

    Args:
        ctx: the source's context.
        event: the Xero record (`event.record`) and the from-Xero stream it belongs to.

    Returns:
        `Resolution.link(source_key)` for an existing source record, `Resolution.create()`
        for a new one, `Resolution.choose(reason, candidates)` (candidates' `xero_id` holding
        source keys) for a person to decide, `Resolution.skip(reason)` to ignore it.

    .. versionadded:: 0.2
    """


@hookspec(firstresult=True)
def apply_write(ctx: SourceContext, write: SourceWrite) -> str | None:
    """Make in the source one write that ``on_xero_update`` asked for.

    The core calls this from a queued job, so a failure is retried like any other: raise
    :class:`~xerobridge.contract.errors.RetryLater` when the source is unavailable and
    :class:`~xerobridge.contract.errors.Permanent` when the write can never succeed. A create
    carries `write.xero_id` in a field the source keeps, so that `find_written` can find it.

    Args:
        ctx: the source's context, with its http client.
        write: the write to make.

    Returns:
        The source key of the record created or updated (the core links it to the Xero
        object), or None when the write made no record.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2 returns the source key.
    """


@hookspec(firstresult=True)
def find_written(ctx: SourceContext, write: SourceWrite) -> str | None:
    """Find what an earlier try of a create made, before the core retries it.

    Called when a create's answer was lost (a crash, a timeout, an expired lease): look the
    record up by the Xero id the create carried (`write.xero_id`).

    Args:
        ctx: the source's context.
        write: the create about to be retried.

    Returns:
        The source key of the record found, or None when there is none (the core creates it).

    .. versionadded:: 0.2
    """


@hookspec(firstresult=True)
def read_notification(body: Any) -> list[tuple[str, list[str]]] | None:
    """Turn a webhook in the source's own format into the records to read now.

    `POST /sources/<source>/notify` takes `{"stream": ..., "keys": [...]}`; a source whose
    webhooks send their own body (an event naming a payment) says here what it names. The
    route has checked the bearer secret already; the records are read from the source by the
    usual fetch jobs, so a replayed event reads them again and changes nothing.

    Args:
        body: the request's JSON body.

    Returns:
        (stream, keys) pairs to read now (an empty list: nothing to read, e.g. a topic the
        plugin ignores), or None when the body is in the core's own format. Raise
        :class:`~xerobridge.contract.errors.Permanent` saying what is wrong with a body that
        is neither (the sender gets 400 with the message).

    .. versionadded:: 0.3
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
def register_routes(pages: Any) -> list[Any]:
    """Add pages of the plugin to the dashboard, mounted under `/plugins/<plugin name>/`.

    The routes need a login like every dashboard page, and their forms need the CSRF field
    (`{{ csrf_field }}`); the guard checks both before a handler runs. Handlers reach the core
    only through `pages`, a :class:`~xerobridge.sdk.PluginPages` bound to the plugin: its
    sources, their settings, streams and counts, a queued sync, their Xero accounts, the
    mirror, and `pages.render` for a page in the dashboard's frame (templates in a
    `templates/` folder of the plugin's package). An implementation that takes no argument
    keeps working.

    Args:
        pages: the plugin's `xerobridge.sdk.PluginPages`, one per plugin per web app.

    Returns:
        A list of Starlette routes (`starlette.routing.Route`), paths relative to the mount.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2 the `pages` argument.
    """
