"""The overview: connections, sources, the queue at a glance, and the latest failures."""

from __future__ import annotations

from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from xerobridge.config import connections, sources
from xerobridge.runtime.queue import Queue
from xerobridge.store.db import Store
from xerobridge.store.models import SyncLog
from xerobridge.sync import unmapped
from xerobridge.web.dashboard.render import render

RECENT_FAILURES = 10


def register_routes() -> list[BaseRoute]:
    """GET /."""
    return [Route("/", overview, methods=["GET"])]


def overview(request: Request) -> Response:
    """What a person checks first: is everything connected, is anything stuck or failing."""
    store: Store = request.app.state.store
    with store.transaction() as s:
        conns = connections.list_all(s)
        srcs = sources.list_all(s)
        waiting = len(unmapped.waiting(s))
        failures = list(
            s.exec(
                select(SyncLog)
                .where(SyncLog.status == "error")
                .order_by(col(SyncLog.id).desc())
                .limit(RECENT_FAILURES)
            )
        )
    names = {src.id: src.name for src in srcs}
    return render(
        request,
        "dashboard/home.html",
        title="Overview",
        connections=conns,
        sources=srcs,
        counts=Queue(store).counts(),
        waiting=waiting,
        failures=failures,
        source_names=names,
    )
