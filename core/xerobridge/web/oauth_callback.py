"""`GET /xero/callback`: Xero sends the person back here to finish a web app's connection.

Authenticated by the `state` the consent URL carried (see `xero/connect.py`): unknown, used or
expired states are refused.
"""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from xerobridge.contract.errors import UserError
from xerobridge.xero.connect import complete_authorization


async def oauth_callback(request: Request) -> Response:
    """GET /xero/callback: Xero sends the person back here with `code` and `state`."""
    query = request.query_params
    if query.get("error"):
        detail = query.get("error_description", "")
        text = f"Xero did not connect: {query['error']}" + (f" ({detail})" if detail else "")
        return _page(text, 400)
    code, state = query.get("code"), query.get("state")
    if not code or not state:
        return _page("This page finishes a Xero connection; it needs Xero's code and state.", 400)
    try:
        made = await complete_authorization(
            request.app.state.store, state=state, code=code, http=request.app.state.http
        )
    except UserError as exc:
        return _page(f"Xero did not connect: {exc}", 400)
    return _page("Connected: " + ", ".join(c.tenant_name or c.name for c in made), 200)


def _page(text: str, status: int) -> HTMLResponse:
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>xerobridge: Xero connection</title></head>"
        f"<body><p>{html.escape(text)}</p></body></html>"
    )
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})
