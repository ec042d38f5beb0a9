"""Unmapped records: each record waiting for a person, its candidates from the Xero mirror, and
the form that maps it to one of them (or an id typed in) or creates a new Xero object. Saving
queues the record again, as `xerobridge map <source> <stream> <key> --to ID | --create` does."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from xerobridge.config import sources
from xerobridge.contract.errors import UserError
from xerobridge.contract.plugins import Plugins
from xerobridge.store.db import Store
from xerobridge.sync import unmapped
from xerobridge.web.dashboard.render import render, session_of

#: The choice values that are not a candidate's Xero id.
CREATE, OTHER = "create", "other"


def register_routes() -> list[BaseRoute]:
    """GET /unmapped, POST /unmapped/decide."""
    return [
        Route("/unmapped", unmapped_page, methods=["GET"]),
        Route("/unmapped/decide", decide, methods=["POST"]),
    ]


def unmapped_page(request: Request) -> Response:
    """Every record waiting for a person, oldest first."""
    return _render(request, source=request.query_params.get("source", "").strip())


def _render(
    request: Request,
    *,
    source: str = "",
    problem: str = "",
    errors: dict[int, str] | None = None,
    typed: dict[int, tuple[str, str]] | None = None,
) -> Response:
    store: Store = request.app.state.store
    with store.transaction() as s:
        srcs = sources.list_all(s)
        try:
            held = unmapped.waiting(s, source or None)
        except UserError as exc:
            problem, source = problem or str(exc), ""
            held = unmapped.waiting(s)
        details = {u.job_id: unmapped.candidate_details(s, u) for u in held}
    bad = bool(problem or errors)
    return render(
        request,
        "dashboard/unmapped.html",
        title="Unmapped records",
        status_code=400 if bad else 200,
        problem=problem,
        errors=errors or {},
        typed=typed or {},
        source=source,
        sources=srcs,
        held=held,
        details=details,
        create=CREATE,
        other=OTHER,
    )


async def decide(request: Request) -> Response:
    """POST /unmapped/decide: map one record, or have it created, and queue it again."""
    form = await request.form()
    return await run_in_threadpool(_decide, request, form)


def _decide(request: Request, form: FormData) -> Response:
    store: Store = request.app.state.store
    plugins: Plugins = request.app.state.plugins
    name, stream, key = (str(form.get(f, "")) for f in ("source", "stream", "key"))
    choice = str(form.get("choice", "")).strip()
    other_id = str(form.get("other_id", "")).strip()
    try:
        with store.transaction() as s:
            held = next(
                (u for u in unmapped.waiting(s, name) if (u.stream, u.key) == (stream, key)),
                None,
            )
    except UserError as exc:
        return _render(request, problem=str(exc))
    if held is None:
        return _render(
            request,
            problem=f"{name} {stream} {key} is not waiting for a decision (any more); "
            "the list below is what still waits",
        )
    to = other_id if choice == OTHER else choice
    try:
        if not choice:
            raise UserError("choose a candidate, type a Xero id, or choose to create a new one")
        if choice == CREATE:
            unmapped.decide(store, plugins, name, stream, key, to=None, create=True)
        else:
            if not to:
                raise UserError("type the Xero id, or choose one of the candidates")
            unmapped.decide(store, plugins, name, stream, key, to=to, create=False)
    except UserError as exc:
        return _render(
            request, errors={held.job_id: str(exc)}, typed={held.job_id: (choice, other_id)}
        )
    outcome = "new" if choice == CREATE else f"Xero {to}"
    session_of(request).flash(f"{name} {stream} {key}: queued again as {outcome}")
    return RedirectResponse("/unmapped", status_code=303)
