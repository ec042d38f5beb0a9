"""The request report: Xero API calls per connection per day against the daily limit, and 429s.

The same figures as `xerobridge report requests`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from xerobridge.store import usage
from xerobridge.store.db import Store
from xerobridge.web.dashboard.render import render

DEFAULT_DAYS = 7
MAX_DAYS = 366


def register_routes() -> list[BaseRoute]:
    """GET /report."""
    return [Route("/report", report_page, methods=["GET"])]


def report_page(request: Request) -> Response:
    """Calls per connection per day, newest day first, for the last `days` days."""
    store: Store = request.app.state.store
    raw = request.query_params.get("days", "").strip()
    problem = ""
    days = DEFAULT_DAYS
    if raw:
        if raw.isdigit() and 1 <= int(raw) <= MAX_DAYS:
            days = int(raw)
        else:
            problem = f"days {raw!r} must be a whole number from 1 to {MAX_DAYS}"
    today = store.clock.now().date()
    with store.transaction() as s:
        rows = usage.report(s, since=usage.days_back(today, days))
    return render(
        request,
        "dashboard/report.html",
        title="Xero API requests",
        status_code=400 if problem else 200,
        problem=problem,
        days=days,
        rows=rows,
        today=today,
    )
