"""The action log: notifications for a person, shown as each source's `notify` setting says,
and acknowledged one by one or all at once (which lowers the count in the page header)."""

from __future__ import annotations

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from xerobridge.config import sources
from xerobridge.contract.errors import UserError
from xerobridge.contract.plugins import Plugins
from xerobridge.contract.settings import NotifyLevel
from xerobridge.store import actionlog
from xerobridge.store.db import Store
from xerobridge.store.models import Source
from xerobridge.web.dashboard.pages.login import safe_next
from xerobridge.web.dashboard.pages.queue import page_number
from xerobridge.web.dashboard.render import render, session_of

PAGE_SIZE = 50
#: The `show` choices: each source's own setting, or one level for all.
SHOW = ("setting", *(level.value for level in NotifyLevel))


def register_routes() -> list[BaseRoute]:
    """GET /actions, POST /actions/acknowledge."""
    return [
        Route("/actions", actions_page, methods=["GET"]),
        Route("/actions/acknowledge", acknowledge, methods=["POST"]),
    ]


def notify_levels(session: Session, plugins: Plugins, srcs: list[Source]) -> dict[int, NotifyLevel]:
    """Each source's `notify` setting; a source whose settings cannot be read shows everything,
    so that nothing is hidden because of a broken plugin."""
    levels: dict[int, NotifyLevel] = {}
    for src in srcs:
        assert src.id is not None
        try:
            levels[src.id] = sources.load_settings(session, src, plugins.spec(src.plugin)).notify
        except UserError:
            levels[src.id] = NotifyLevel.ALL
    return levels


def _filter(session: Session, request: Request, params: dict[str, str]) -> actionlog.ActionFilter:
    plugins: Plugins = request.app.state.plugins
    srcs = sources.list_all(session)
    show = params.get("show", "") or "setting"
    if show not in SHOW:
        raise UserError(f"show {show!r} is not one of: {', '.join(SHOW)}")
    source_id = sources.get(session, params["source"]).id if params.get("source") else None
    return actionlog.ActionFilter(
        source_id=source_id,
        show=None if show == "setting" else NotifyLevel(show),
        levels=notify_levels(session, plugins, srcs),
        unacknowledged_only=params.get("unseen", "") == "1",
        limit=PAGE_SIZE + 1,
        offset=(page_number(params.get("page", "")) - 1) * PAGE_SIZE,
    )


def actions_page(request: Request) -> Response:
    """The entries the filters show, newest first, with each source's notify setting."""
    params = {
        k: request.query_params.get(k, "").strip() for k in ("source", "show", "unseen", "page")
    }
    return _render(request, params)


def _render(request: Request, params: dict[str, str], problem: str = "") -> Response:
    store: Store = request.app.state.store
    plugins: Plugins = request.app.state.plugins
    with store.transaction() as s:
        try:
            flt = _filter(s, request, params)
        except UserError as exc:
            problem = problem or str(exc)
            params = {}
            flt = _filter(s, request, params)
        found = actionlog.entries(s, flt)
        srcs = sources.list_all(s)
        levels = notify_levels(s, plugins, srcs)
    page = flt.offset // PAGE_SIZE + 1
    return render(
        request,
        "dashboard/actions.html",
        title="Action log",
        status_code=400 if problem else 200,
        problem=problem,
        params=params,
        base_query=str(QueryParams({k: v for k, v in params.items() if v and k != "page"})),
        show=params.get("show") or "setting",
        show_choices=SHOW,
        entries=found[:PAGE_SIZE],
        more=len(found) > PAGE_SIZE,
        page=page,
        sources=srcs,
        source_names={src.id: src.name for src in srcs},
        levels=levels,
        back=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    )


async def acknowledge(request: Request) -> Response:
    """POST /actions/acknowledge: the entries ticked (`entry_id`), or with `all`, every
    unacknowledged entry the page's filters show."""
    form = await request.form()
    return await run_in_threadpool(_acknowledge, request, form)


def _acknowledge(request: Request, form: FormData) -> Response:
    store: Store = request.app.state.store
    raw = [str(v) for v in form.getlist("entry_id")]
    params = {k: str(form.get(k, "")).strip() for k in ("source", "show", "unseen")}
    try:
        if form.get("all"):
            with store.transaction() as s:
                flt = _filter(s, request, params)
                n = actionlog.acknowledge_all(s, flt)
        else:
            if not raw:
                raise UserError("no entry was chosen; press Acknowledge on an entry")
            bad = [v for v in raw if not v.isdigit()]
            if bad:
                raise UserError(f"entry id {bad[0]!r} is not a number")
            with store.transaction() as s:
                n = actionlog.acknowledge(s, [int(v) for v in raw])
    except UserError as exc:
        return _render(request, {}, problem=str(exc))
    session_of(request).flash(f"acknowledged {n} entr{'y' if n == 1 else 'ies'}")
    return RedirectResponse(safe_next(str(form.get("back", "") or "/actions")), status_code=303)
