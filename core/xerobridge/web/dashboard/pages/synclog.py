"""The sync log: what was synced, newest first, filtered and paged (as `xerobridge log`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from xerobridge.config import sources
from xerobridge.contract.errors import UserError
from xerobridge.store import synclog
from xerobridge.store.db import Store
from xerobridge.web.dashboard.pages.queue import page_number
from xerobridge.web.dashboard.render import render

PAGE_SIZE = 50
STATUSES = ("success", "error")
ACTIONS = ("created", "updated", "skipped", "failed", "cancelled", "fetched")


def register_routes() -> list[BaseRoute]:
    """GET /log."""
    return [Route("/log", log_page, methods=["GET"])]


@dataclass(frozen=True)
class LogQuery:
    """The log page's filters as typed, kept to fill the form and the paging links again."""

    source: str = ""
    stream: str = ""
    status: str = ""
    action: str = ""
    record: str = ""
    since: str = ""
    until: str = ""
    page: int = 1

    def query(self, **change: Any) -> str:
        """The query string of these filters with some changed."""
        values = {**self.__dict__, **change}
        return str(QueryParams({k: v for k, v in values.items() if v not in ("", 1)}))

    @property
    def filtered(self) -> bool:
        """Whether any filter is set."""
        return any(v for k, v in self.__dict__.items() if k != "page")


def log_page(request: Request) -> Response:
    """The log rows matching the filters, with a View-in-Xero link and a Sync now per record."""
    store: Store = request.app.state.store
    p = request.query_params
    typed = LogQuery(
        source=p.get("source", "").strip(),
        stream=p.get("stream", "").strip(),
        status=p.get("status", "").strip(),
        action=p.get("action", "").strip(),
        record=p.get("record", "").strip(),
        since=p.get("since", "").strip(),
        until=p.get("until", "").strip(),
    )
    problem = ""
    try:
        typed = LogQuery(**{**typed.__dict__, "page": page_number(p.get("page", ""))})
        rows, names, more = _rows(store, typed)
    except UserError as exc:
        problem = str(exc)
        rows, names, more = _rows(store, LogQuery())
    with store.transaction() as s:
        srcs = sources.list_all(s)
    return render(
        request,
        "dashboard/synclog.html",
        title="Sync log",
        status_code=400 if problem else 200,
        problem=problem,
        q=typed,
        rows=rows,
        more=more,
        source_names=names,
        sources=srcs,
        statuses=STATUSES,
        actions=ACTIONS,
        back=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    )


def _rows(store: Store, q: LogQuery) -> tuple[list[Any], dict[int | None, str], bool]:
    if q.status and q.status not in STATUSES:
        raise UserError(f"status {q.status!r} is not one of: {', '.join(STATUSES)}")
    if q.action and q.action not in ACTIONS:
        raise UserError(f"action {q.action!r} is not one of: {', '.join(ACTIONS)}")
    now = store.clock.now()
    since = synclog.moment(q.since, now, "from")
    until = synclog.moment(q.until, now, "until")
    with store.transaction() as s:
        names: dict[int | None, str] = {src.id: src.name for src in sources.list_all(s)}
        source_id = sources.get(s, q.source).id if q.source else None
        found = synclog.query(
            s,
            synclog.LogFilter(
                source_id=source_id,
                stream=q.stream or None,
                status=q.status or None,
                action=q.action or None,
                record_key=q.record or None,
                since=since,
                until=until,
                limit=PAGE_SIZE + 1,
                offset=(q.page - 1) * PAGE_SIZE,
            ),
        )
    return found[:PAGE_SIZE], names, len(found) > PAGE_SIZE
