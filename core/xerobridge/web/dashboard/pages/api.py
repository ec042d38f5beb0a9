"""`/api/...`: the dashboard's data as JSON for scripts, behind a login or a bearer token.

Each answer has the shape of the matching CLI command's `--json` (`plugins`, `connections
list`, `sources list`, `queue list`, `log`, `report requests`, `map`), so a script can move
between the two; sources carry their settings too, secrets masked as `settings show` masks them.
A bad query parameter is answered 400 with `{"error": "..."}` saying what fits.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from xerobridge.config import connections, sources
from xerobridge.contract.errors import UserError
from xerobridge.contract.plugins import Plugins
from xerobridge.runtime.queue import Queue
from xerobridge.runtime.queue import as_dict as queue_rows
from xerobridge.store import synclog, usage
from xerobridge.store.db import Store
from xerobridge.sync import unmapped

JOB_STATES = ("queued", "held", "running", "dead")
LOG_STATUSES = ("success", "error")
MAX_LIMIT = 1000


def register_routes() -> list[BaseRoute]:
    """GET /api/plugins, connections, sources, queue, log, report, unmapped."""
    return [
        Route("/api/plugins", _answer(plugins_data), methods=["GET"]),
        Route("/api/connections", _answer(connections_data), methods=["GET"]),
        Route("/api/sources", _answer(sources_data), methods=["GET"]),
        Route("/api/queue", _answer(queue_data), methods=["GET"]),
        Route("/api/log", _answer(log_data), methods=["GET"]),
        Route("/api/report", _answer(report_data), methods=["GET"]),
        Route("/api/unmapped", _answer(unmapped_data), methods=["GET"]),
    ]


def _json(data: Any, status_code: int = 200) -> Response:
    # default=str as the CLI's --json: times and ids print the same way in both.
    return Response(json.dumps(data, default=str), status_code, media_type="application/json")


def _answer(build: Callable[[Request], Any]) -> Callable[[Request], Response]:
    def endpoint(request: Request) -> Response:
        try:
            return _json(build(request))
        except UserError as exc:
            return _json({"error": str(exc)}, 400)

    endpoint.__name__ = build.__name__
    endpoint.__doc__ = build.__doc__
    return endpoint


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _int(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise UserError(f"{name}={raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise UserError(f"{name}={value} must be between {low} and {high}")
    return value


def _choice(request: Request, name: str, allowed: tuple[str, ...]) -> str | None:
    raw = request.query_params.get(name) or None
    if raw is not None and raw not in allowed:
        raise UserError(f"{name}={raw!r} is not one of: {', '.join(allowed)}")
    return raw


def _source_id(s: Session, request: Request) -> int | None:
    name = request.query_params.get("source")
    return sources.get(s, name).id if name else None


# -- the answers ----------------------------------------------------------------------------------


def plugins_data(request: Request) -> list[dict[str, Any]]:
    """Installed plugins: version, hooks and status, as `xerobridge plugins --json`."""
    plugins: Plugins = request.app.state.plugins
    return [info.as_dict() for info in plugins]


def connections_data(request: Request) -> list[dict[str, Any]]:
    """Xero connections as `connections list --json`, with the last token refresh."""
    with _store(request).transaction() as s:
        refreshed = connections.last_refreshes(s)
        return [
            {**connections.as_dict(c), "last_token_refresh": _iso(refreshed.get(c.id or 0))}
            for c in connections.list_all(s)
        ]


def sources_data(request: Request) -> list[dict[str, Any]]:
    """Sources as `sources list --json`, with the connection's name and the settings."""
    plugins: Plugins = request.app.state.plugins
    rows = []
    with _store(request).transaction() as s:
        names = {c.id: c.name for c in connections.list_all(s)}
        for src in sources.list_all(s):
            row: dict[str, Any] = {
                **sources.as_dict(s, src, plugins),
                "connection": names.get(src.connection_id, ""),
                "settings": None,
                "problem": "",
            }
            try:
                spec = plugins.spec(src.plugin)
                row["settings"] = sources.load_settings(s, src, spec).redacted()
            except UserError as exc:  # a plugin gone, or a stored value it now refuses
                row["problem"] = str(exc)
            rows.append(row)
    return rows


def queue_data(request: Request) -> list[dict[str, Any]]:
    """Jobs as `queue list --json`; filters source, stream, state; paging limit, offset."""
    store = _store(request)
    state = _choice(request, "state", JOB_STATES)
    limit = _int(request, "limit", 100, low=1, high=MAX_LIMIT)
    offset = _int(request, "offset", 0, low=0, high=10**9)
    with store.transaction() as s:
        names = {src.id: src.name for src in sources.list_all(s)}
        source_id = _source_id(s, request)
    jobs = Queue(store).jobs(
        source_id=source_id,
        stream=request.query_params.get("stream") or None,
        state=state,
        limit=limit,
        offset=offset,
    )
    return [queue_rows(j, names) for j in jobs]


def log_data(request: Request) -> list[dict[str, Any]]:
    """The sync log as `log --json`, newest first; filters source, stream, status, since."""
    store = _store(request)
    status = _choice(request, "status", LOG_STATUSES)
    limit = _int(request, "limit", 100, low=1, high=MAX_LIMIT)
    offset = _int(request, "offset", 0, low=0, high=10**9)
    since = synclog.moment(request.query_params.get("since"), store.clock.now(), "since")
    with store.transaction() as s:
        names = {src.id: src.name for src in sources.list_all(s)}
        rows = synclog.query(
            s,
            synclog.LogFilter(
                source_id=_source_id(s, request),
                stream=request.query_params.get("stream") or None,
                status=status,
                since=since,
                limit=limit,
                offset=offset,
            ),
        )
    return [synclog.as_dict(r, names) for r in rows]


def report_data(request: Request) -> list[dict[str, Any]]:
    """Xero API calls per connection per day, as `report requests --json`; `days` back."""
    store = _store(request)
    days = _int(request, "days", 7, low=1, high=36500)
    with store.transaction() as s:
        rows = usage.report(s, since=usage.days_back(store.clock.now().date(), days))
    return [r.as_dict() for r in rows]


def unmapped_data(request: Request) -> list[dict[str, Any]]:
    """Records waiting for a person, as `map --json`; filter source."""
    with _store(request).transaction() as s:
        return [dict(u.__dict__) for u in unmapped.waiting(s, request.query_params.get("source"))]


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""
