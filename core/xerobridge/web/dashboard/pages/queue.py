"""The queue: what will be synced next, and what a person can do about each job.

The forms here do what `xerobridge queue cancel|run-now|approve|enqueue-all` do, with the same
words; "Sync now" of one record (also offered on the sync log) is `notify.sync_record`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from xerobridge.config import sources
from xerobridge.contract.errors import UserError
from xerobridge.contract.plugins import Plugins
from xerobridge.runtime.queue import WAITING, Queue
from xerobridge.store.db import Store
from xerobridge.store.models import Source
from xerobridge.web import source_webhooks as notify
from xerobridge.web.dashboard.pages.login import safe_next
from xerobridge.web.dashboard.render import render, session_of

PAGE_SIZE = 50
STATES = ("queued", "held", "running", "dead")


def register_routes() -> list[BaseRoute]:
    """GET /queue and its forms."""
    return [
        Route("/queue", queue_page, methods=["GET"]),
        Route("/queue/cancel", cancel, methods=["POST"]),
        Route("/queue/run-now", run_now, methods=["POST"]),
        Route("/queue/approve", approve, methods=["POST"]),
        Route("/queue/enqueue-all", enqueue_all, methods=["POST"]),
        Route("/queue/sync-now", sync_now, methods=["POST"]),
    ]


@dataclass(frozen=True)
class QueueFilter:
    """The queue page's filters, as read from its query string."""

    source: str = ""
    stream: str = ""
    state: str = ""
    page: int = 1

    def query(self, **change: Any) -> str:
        """The query string of these filters with some changed (for paging links)."""
        values = {**self.__dict__, **change}
        return str(QueryParams({k: v for k, v in values.items() if v not in ("", 1)}))


#: Pages a listing offers at most (past it, an offset no store needs to compute).
MAX_PAGE = 100_000


def page_number(raw: str) -> int:
    """A 1-based page number from a query string, or a UserError."""
    if not raw:
        return 1
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise UserError(f"page {raw!r} is not a page number; pages count from 1 to {MAX_PAGE}")
    return int(raw)


def stream_names(plugins: Plugins, srcs: list[Source]) -> dict[str, list[str]]:
    """Each source's streams, by source name; a source whose plugin is not loaded has none."""
    found: dict[str, list[str]] = {}
    for src in srcs:
        try:
            found[src.name] = [st.name for st in plugins.spec(src.plugin).streams]
        except UserError:
            found[src.name] = []
    return found


def queue_page(request: Request) -> Response:
    """The jobs, filtered and paged, with a form for each thing a person can do."""
    params = request.query_params
    try:
        flt = QueueFilter(
            source=params.get("source", ""),
            stream=params.get("stream", ""),
            state=params.get("state", ""),
            page=page_number(params.get("page", "")),
        )
    except UserError as exc:
        return _render(request, QueueFilter(), problem=str(exc), status_code=400)
    return _render(request, flt)


def _render(
    request: Request, flt: QueueFilter, *, problem: str = "", status_code: int = 200
) -> Response:
    store: Store = request.app.state.store
    plugins: Plugins = request.app.state.plugins
    with store.transaction() as s:
        srcs = sources.list_all(s)
    by_name = {src.name: src for src in srcs}
    if flt.state and flt.state not in STATES:
        problem = f"state {flt.state!r} is not one of: {', '.join(STATES)}"
        flt, status_code = QueueFilter(), 400
    if flt.source and flt.source not in by_name:
        known = ", ".join(by_name) or "none yet"
        problem = f"no source named {flt.source!r} (sources: {known})"
        flt, status_code = QueueFilter(), 400
    queue = Queue(store)
    source = by_name.get(flt.source)
    found = queue.jobs(
        source_id=source.id if source else None,
        stream=flt.stream or None,
        state=flt.state or None,
        limit=PAGE_SIZE + 1,
        offset=(flt.page - 1) * PAGE_SIZE,
    )
    awaiting = queue.held_for_approval()
    held = {src.name: awaiting.get(src.id or 0, 0) for src in srcs}
    names = {src.id: src.name for src in srcs}
    return render(
        request,
        "dashboard/queue.html",
        title="Queue",
        status_code=status_code,
        problem=problem,
        flt=flt,
        states=STATES,
        waiting_states=WAITING,
        jobs=found[:PAGE_SIZE],
        more=len(found) > PAGE_SIZE,
        counts=queue.counts(),
        sources=srcs,
        source_names=names,
        streams=stream_names(plugins, srcs),
        held=held,
        back=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    )


def _job_ids(form: FormData) -> list[int]:
    raw = [str(v) for v in form.getlist("job_id")]
    if not raw:
        raise UserError("no job was chosen; tick or press the button of a job")
    bad = [v for v in raw if not v.isdigit()]
    if bad:
        raise UserError(f"job id {bad[0]!r} is not a number")
    return [int(v) for v in raw]


def _back(form: FormData) -> str:
    return safe_next(str(form.get("back", "") or "/queue"))


async def _handle(request: Request, act: Callable[[Request, FormData], str]) -> Response:
    """Run a form's action in a thread: flash its message and go back, or show the problem."""
    form = await request.form()

    def go() -> Response:
        try:
            message = act(request, form)
        except UserError as exc:
            return _render(request, QueueFilter(), problem=str(exc), status_code=400)
        session_of(request).flash(message)
        return RedirectResponse(_back(form), status_code=303)

    return await run_in_threadpool(go)


def _cancel(request: Request, form: FormData) -> str:
    ids = _job_ids(form)
    n = Queue(request.app.state.store).cancel(ids)
    message = f"removed {n} job(s) from the queue"
    if n < len(ids):
        message += f"; {len(ids) - n} job(s) were running or not found and were left alone"
    return message


def _run_now(request: Request, form: FormData) -> str:
    n = Queue(request.app.state.store).run_now(_job_ids(form))
    return f"{n} job(s) will run at once"


def _approve(request: Request, form: FormData) -> str:
    store: Store = request.app.state.store
    source_name = str(form.get("source", ""))
    ids = _job_ids(form) if form.getlist("job_id") else None
    if ids is None and not source_name:
        raise UserError("name the jobs to approve, or a source to approve all of it")
    source_id = None
    if source_name:
        with store.transaction() as s:
            source_id = sources.get(s, source_name).id
    n = Queue(store).approve(job_ids=ids, source_id=source_id)
    return f"approved {n} job(s)"


def _enqueue_all(request: Request, form: FormData) -> str:
    store: Store = request.app.state.store
    plugins: Plugins = request.app.state.plugins
    name, stream = str(form.get("source", "")), str(form.get("stream", ""))
    with store.transaction() as s:
        src = sources.get(s, name)
    plugins.spec(src.plugin).stream(stream)
    assert src.id is not None
    Queue(store).enqueue_all(src.id, stream, connection_id=src.connection_id)
    return f"queued a full read of {name} {stream}: every record will be synced"


def _sync_now(request: Request, form: FormData) -> str:
    name, stream = str(form.get("source", "")), str(form.get("stream", ""))
    key = str(form.get("key", "")).strip()
    if not key:
        raise UserError("say which record to sync: its key is missing")
    how = notify.sync_record(request.app.state.store, request.app.state.plugins, name, stream, key)
    if how == "run":
        return f"{name} {stream} {key}: its queued job runs at once"
    return f"{name} {stream} {key} will be read from the source and synced at once"


async def cancel(request: Request) -> Response:
    """POST /queue/cancel: remove waiting jobs from the queue."""
    return await _handle(request, _cancel)


async def run_now(request: Request) -> Response:
    """POST /queue/run-now: make waiting, held or dead jobs due at once."""
    return await _handle(request, _run_now)


async def approve(request: Request) -> Response:
    """POST /queue/approve: release held jobs, the given ones or all of a source."""
    return await _handle(request, _approve)


async def enqueue_all(request: Request) -> Response:
    """POST /queue/enqueue-all: "Add all data to queue" for one stream."""
    return await _handle(request, _enqueue_all)


async def sync_now(request: Request) -> Response:
    """POST /queue/sync-now: sync one record now."""
    return await _handle(request, _sync_now)
