"""`xerobridge report`: reports."""

from __future__ import annotations

from typing import Annotated

import typer

from xerobridge.cli import bounds, root
from xerobridge.cli.root import JsonOpt, group
from xerobridge.clock import utcnow
from xerobridge.store import usage

report_app = group("report", "Reports.")


@report_app.command("requests")
def report_requests(
    days: Annotated[int, typer.Option(help="How many days back.", min=1, max=bounds.MAX_DAYS)] = 7,
    as_json: JsonOpt = False,
) -> None:
    """Xero API calls per connection per day against the daily limit."""
    store = root.open_store()
    with store.transaction() as s:
        rows = usage.report(s, since=usage.days_back(utcnow().date(), days))
    root.emit(
        [r.as_dict() for r in rows],
        as_json,
        title="Xero API requests per day",
        columns=[
            ("day", "day"),
            ("connection", "connection"),
            ("calls", "calls"),
            ("daily limit", "daily_limit"),
            ("remaining", "remaining"),
            ("429s", "rate_limited"),
            ("errors", "errors"),
        ],
        empty=f"No Xero API calls in the last {days} day(s).",
    )
