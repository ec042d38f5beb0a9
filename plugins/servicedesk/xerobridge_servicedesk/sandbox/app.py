"""The HTTP face of the sandbox: the v3 API under `/api/v3/`, Zoho's token endpoint, and a
`/_sandbox/` control API for tests (no authentication: a development machine only)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from xerobridge.sdk import Clock
from xerobridge_servicedesk.sandbox.listing import ListError, ListInfo, run_list
from xerobridge_servicedesk.sandbox.state import (
    PARENTS,
    SINGULAR,
    SandboxError,
    SandboxState,
    old_format,
)

log = logging.getLogger(__name__)

V3_ACCEPT = "application/vnd.manageengine.sdp.v3+json"
# UNVERIFIED: SDP's exact status codes beyond 2000/4000; these follow the SDP v3 docs' table
# as far as it is known (4002 unauthorised, 4007 invalid URL / no such record, 4008 not
# unique, 4012 mandatory field missing, 4015 rate limit).
UNAUTHORISED = 4002
NOT_FOUND = 4007
RATE_LIMITED = 4015

Handler = Callable[["Call"], Awaitable[Response]]


def ok(**entities: Any) -> JSONResponse:
    """A success envelope with the given entities (a list answer passes `list_info`)."""
    status: Any = {"status_code": 2000, "status": "success"}
    if "list_info" in entities:
        status = [status]  # an array on list answers
    return JSONResponse({"response_status": status, **entities})


def failed(
    http_status: int, message: str, code: int = 4000, field: str | None = None
) -> JSONResponse:
    """A failure envelope: `response_status` with one message."""
    detail: dict[str, Any] = {"status_code": code, "type": "failed", "message": message}
    if field:
        detail["field"] = field
    return JSONResponse(
        {"response_status": {"status_code": 4000, "status": "failed", "messages": [detail]}},
        status_code=http_status,
    )


class Call:
    """One API request, resolved to a route."""

    def __init__(self, request: Request, state: SandboxState, params: dict[str, str]) -> None:
        self.request = request
        self.state = state
        self.params = params
        self.input_data: dict[str, Any] = {}

    @property
    def new_format(self) -> bool:
        """Whether the client asked for the v3 format by Accept header."""
        return V3_ACCEPT in self.request.headers.get("accept", "")

    async def read_input(self) -> None:
        """`input_data`: a query parameter on GET, a form field otherwise."""
        if self.request.method == "GET":
            raw = self.request.query_params.get("input_data")
        else:
            form = await self.request.form()
            value = form.get("input_data")
            raw = value if isinstance(value, str) else None
        if not raw:
            return
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ListError("input_data must be a JSON object")
        self.input_data = data


# -- handlers --------------------------------------------------------------------------------------


def _listed(call: Call, plural: str, records: list[dict[str, Any]]) -> Response:
    info = ListInfo.parse(call.input_data)
    page, more, total = run_list(records, info)
    return ok(list_info=info.echo(more, total), **{plural: list(page)})


def lister(module: str) -> Handler:
    async def handler(call: Call) -> Response:
        return _listed(call, module, list(call.state.records[module].values()))

    return handler


def getter(module: str) -> Handler:
    async def handler(call: Call) -> Response:
        record = call.state.get(module, call.params["id"])
        if record is None:
            return failed(404, f"no {SINGULAR[module]} with id {call.params['id']}", NOT_FOUND)
        return ok(**{SINGULAR[module]: record})

    return handler


def _payload(call: Call, key: str) -> dict[str, Any]:
    data = call.input_data.get(key)
    if not isinstance(data, dict):
        raise SandboxError(f"input_data needs a {key!r} object", 4012, key)
    return data


async def add_account(call: Call) -> Response:
    return ok(account=call.state.add_account(**_payload(call, "account")))


async def put_account(call: Call) -> Response:
    return ok(account=call.state.edit_account(call.params["id"], **_payload(call, "account")))


async def account_metainfo(call: Call) -> Response:
    # UNVERIFIED: the shape of `_metainfo` for accounts (modelled on SDP's request metainfo).
    fields: dict[str, Any] = {
        name: {"display_name": name.replace("_", " ").title(), "type": "string"}
        for name in (
            "name", "description", "email_id", "phone", "fax", "web_url", "support_email",
            "email_domain", "door_no", "street", "landmark", "city", "postal_code", "state",
            "country",
        )
    }  # fmt: skip
    fields["udf_fields"] = {"fields": dict(call.state.account_udfs)}
    return ok(metainfo={"fields": fields})


async def add_worklog_type(call: Call) -> Response:
    data = _payload(call, "worklog_type")
    return ok(
        worklog_type=call.state.add_worklog_type(
            str(data.get("name") or ""), str(data.get("description") or "")
        )
    )


async def put_worklog_type(call: Call) -> Response:
    data = _payload(call, "worklog_type")
    return ok(worklog_type=call.state.edit_worklog_type(call.params["id"], **data))


def _shown(call: Call, worklog: dict[str, Any]) -> dict[str, Any]:
    return worklog if call.new_format else old_format(worklog)


async def list_worklogs(call: Call) -> Response:
    module, parent_id = call.params["module"], call.params["id"]
    worklogs = call.state.worklogs_of(module, parent_id)
    return _listed(call, "worklogs", [_shown(call, w) for w in worklogs])


async def get_worklog(call: Call) -> Response:
    module, parent_id, wid = call.params["module"], call.params["id"], call.params["wid"]
    for worklog in call.state.worklogs_of(module, parent_id):
        if worklog["id"] == wid:
            return ok(worklog=_shown(call, worklog))
    return failed(404, f"no worklog with id {wid}", NOT_FOUND)


def parent_getter() -> Handler:
    async def handler(call: Call) -> Response:
        return await getter(call.params["module"])(call)

    return handler


def parent_lister() -> Handler:
    async def handler(call: Call) -> Response:
        return await lister(call.params["module"])(call)

    return handler


_PARENT = "(?P<module>" + "|".join(PARENTS) + ")"
_ID = r"(?P<id>\d+)"
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    (m, re.compile(f"^{p}$"), h)
    for m, p, h in (
        ("GET", "/accounts", lister("accounts")),
        ("POST", "/accounts", add_account),
        ("GET", "/accounts/_metainfo", account_metainfo),
        ("GET", f"/accounts/{_ID}", getter("accounts")),
        ("PUT", f"/accounts/{_ID}", put_account),
        ("GET", "/technicians", lister("technicians")),
        ("GET", f"/technicians/{_ID}", getter("technicians")),
        ("GET", "/worklog_types", lister("worklog_types")),
        ("POST", "/worklog_types", add_worklog_type),
        ("GET", f"/worklog_types/{_ID}", getter("worklog_types")),
        ("PUT", f"/worklog_types/{_ID}", put_worklog_type),
        ("GET", f"/{_PARENT}", parent_lister()),
        ("GET", f"/{_PARENT}/{_ID}", parent_getter()),
        ("GET", f"/{_PARENT}/{_ID}/worklogs", list_worklogs),
        ("GET", rf"/{_PARENT}/{_ID}/worklogs/(?P<wid>\d+)", get_worklog),
    )
]

_HTML_5XX = {
    500: "<html><head><title>Apache Tomcat - Error report</title></head><body><h1>HTTP Status "
    "500 - Internal Server Error</h1></body></html>",
    502: "<html><body><h1>502 Bad Gateway</h1></body></html>",
    503: "<html><head><title>Service Unavailable</title></head><body><h1>Service Temporarily "
    "Unavailable</h1><p>ServiceDesk Plus MSP is starting up. Please wait.</p></body></html>",
    504: "<html><body><h1>504 Gateway Time-out</h1></body></html>",
}
_LOGIN_PAGE = (
    b"<html><head><title>ManageEngine ServiceDesk Plus - MSP</title></head>"
    b"<body><form action='j_security_check'>Username Password</form></body></html>"
)


async def api(request: Request) -> Response:
    """Dispatch `/api/v3/...` like the MSP server."""
    state: SandboxState = request.app.state.sandbox
    path = "/" + request.path_params["api_path"].strip("/")
    state.request_log.append(
        (request.method, path + (f"?{request.url.query}" if request.url.query else ""))
    )
    fault = state.take_fault(request.method, path)
    if fault is not None:
        if fault.delay:
            await state.clock.sleep(fault.delay)
        if fault.status is not None:
            return _fault_response(fault.status, fault.retry_after)

    for method, pattern, handler in ROUTES:
        found = pattern.match(path)
        if found is None or method != request.method:
            continue
        credential = state.credential(request.headers)
        if credential is None:
            return failed(
                401, "UNAUTHORISED: the authtoken or OAuth token is invalid", UNAUTHORISED
            )
        if state.rate_limit is not None:
            wait = state.rate_limit.retry_after(credential, state.clock.monotonic())
            if wait is not None:
                response: Response = failed(429, "API rate limit exceeded", RATE_LIMITED)
                response.headers["Retry-After"] = str(max(1, round(wait)))
                return response
        call = Call(request, state, found.groupdict())
        try:
            await call.read_input()
            response = await handler(call)
        except json.JSONDecodeError:
            return failed(400, "input_data is not valid JSON", 4000, "input_data")
        except ListError as exc:
            return failed(400, exc.message, 4001, exc.field)
        except SandboxError as exc:
            return failed(404 if exc.code == NOT_FOUND else 400, exc.message, exc.code, exc.field)
        previous = state.last_answers.get(path)
        if request.method == "GET" and response.status_code == 200:
            state.last_answers[path] = (bytes(response.body), response.media_type or "")
        if fault is not None and fault.answer is not None:
            return _spoiled(fault.answer, response, previous)
        return response
    # An unknown path is the servlet container's own HTML 404 (UNVERIFIED wording).
    return Response(
        "<html><body><h1>HTTP Status 404 - Not Found</h1></body></html>",
        status_code=404,
        media_type="text/html",
    )


def _spoiled(answer: str, response: Response, previous: tuple[bytes, str] | None) -> Response:
    body = bytes(response.body)
    if answer == "repeat":
        content, media = previous or (body, response.media_type or "")
        return Response(content, status_code=200, media_type=media)
    if answer == "html":
        return Response(_LOGIN_PAGE, status_code=200, media_type="text/html")
    return Response(body[: len(body) // 2], status_code=200, media_type="application/json")


def _fault_response(status: int, retry_after: float | None) -> Response:
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after is not None else {}
    if status >= 500:
        page = _HTML_5XX.get(status, f"<html><body><h1>HTTP Status {status}</h1></body></html>")
        return Response(page, status_code=status, media_type="text/html", headers=headers)
    response = failed(status, "API rate limit exceeded" if status == 429 else "fault",
                      RATE_LIMITED if status == 429 else 4000)  # fmt: skip
    response.headers.update(headers)
    return response


async def zoho_token(request: Request) -> Response:
    """Zoho accounts' `POST /oauth/v2/token` for the refresh-token grant."""
    state: SandboxState = request.app.state.sandbox
    form = await request.form()
    values = {k: str(v) for k, v in form.items()}
    values.update(request.query_params)  # Zoho's docs pass these in the query string
    if values.get("grant_type") != "refresh_token":
        return JSONResponse({"error": "unsupported_grant_type"})
    answer = state.mint(
        values.get("client_id", ""),
        values.get("client_secret", ""),
        values.get("refresh_token", ""),
    )
    return JSONResponse(answer, status_code=400 if answer.get("error") == "Access Denied" else 200)


# -- control API -----------------------------------------------------------------------------------


async def control(request: Request) -> Response:
    """`/_sandbox/...`: inspect and change the server from another process."""
    state: SandboxState = request.app.state.sandbox
    parts = [p for p in request.path_params["control_path"].split("/") if p]
    body: dict[str, Any] = {}
    if request.method in ("POST", "PUT"):
        raw = await request.body()
        body = json.loads(raw) if raw else {}
    try:
        return _control(state, request, request.method, parts, body)
    except SandboxError as exc:
        return JSONResponse(
            {"error": exc.message}, status_code=404 if exc.code == NOT_FOUND else 400
        )
    except (KeyError, ValueError, TypeError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)


def describe(state: SandboxState, base: str) -> dict[str, Any]:
    """What a source needs to reach the sandbox, and what the server holds."""
    return {
        "base_url": base,
        "token": state.authtoken,
        "auth": "authtoken",
        "client_id": state.client_id,
        "client_secret": state.client_secret,
        "refresh_token": sorted(state.refresh_tokens)[0] if state.refresh_tokens else "",
        "accounts_url": base,
        "control_url": f"{base}/_sandbox",
        "now": state.now_ms(),
        "counts": state.counts(),
        "odd": state.odd,
    }


def _control(
    state: SandboxState, request: Request, method: str, parts: list[str], body: dict[str, Any]
) -> Response:
    if method == "GET" and parts == ["info"]:
        return JSONResponse(
            describe(state, (state.public_url or str(request.base_url)).rstrip("/"))
        )
    if method == "POST" and parts == ["generate"]:
        state.generate(
            seed=int(body.get("seed", 1)),
            accounts=int(body.get("accounts", 8)),
            requests=int(body.get("requests", 30)),
        )
        return JSONResponse({"counts": state.counts()})
    if parts == ["faults"] and method == "DELETE":
        state.faults.clear()
        return JSONResponse({"ok": True})
    if parts == ["faults"] and method == "POST":
        return JSONResponse({"fault": state.add_fault(**body).__dict__})
    if parts == ["rate_limit"] and method == "POST":
        from xerobridge_servicedesk.sandbox.state import RateLimit

        state.rate_limit = (
            RateLimit(int(body["requests"]), float(body["per_seconds"])) if body else None
        )
        return JSONResponse({"ok": True})
    if method == "POST" and parts == ["clock", "advance"]:
        advance = getattr(state.clock, "advance", None)
        if advance is None:
            raise ValueError("the sandbox runs on the system clock; only a FakeClock advances")
        advance(float(body.get("seconds", 0)))
        return JSONResponse({"now": state.now_ms()})
    if method == "POST" and parts == ["tokens", "revoke"]:
        state.revoke_access_tokens()
        return JSONResponse({"ok": True})
    if method == "GET" and len(parts) == 1 and parts[0] in state.records:
        return JSONResponse(list(state.records[parts[0]].values()))
    if method == "POST" and parts == ["accounts"]:
        return JSONResponse(state.add_account(**body))
    if method == "PUT" and len(parts) == 2 and parts[0] == "accounts":
        return JSONResponse(state.edit_account(parts[1], **body))
    if method == "POST" and parts == ["worklog_types"]:
        return JSONResponse(state.add_worklog_type(str(body["name"]), body.get("description", "")))
    if method == "POST" and parts == ["technicians"]:
        return JSONResponse(
            state.add_technician(body["name"], str(body["cost_per_hour"]), body.get("accounts"))
        )
    if method == "POST" and len(parts) == 1 and parts[0] in PARENTS:
        account_id = body.pop("account_id")
        title = body.pop("title")
        return JSONResponse(state.add_parent(parts[0], account_id, title, **body))
    if method == "PUT" and len(parts) == 2 and parts[0] in PARENTS:
        state.touch(parts[0], parts[1])
        record = state.records[parts[0]][parts[1]]
        record.update({k: v for k, v in body.items() if k not in ("id", "account")})
        return JSONResponse(record)
    if len(parts) >= 3 and parts[0] == "worklogs" and parts[1] in PARENTS:
        module, parent_id = parts[1], parts[2]
        if method == "GET" and len(parts) == 3:
            return JSONResponse(state.worklogs_of(module, parent_id))
        if method == "POST" and len(parts) == 3:
            return JSONResponse(state.add_worklog(module, parent_id, **body))
        if method == "PUT" and len(parts) == 4:
            return JSONResponse(state.edit_worklog(module, parent_id, parts[3], **body))
        if method == "DELETE" and len(parts) == 4:
            state.delete_worklog(module, parent_id, parts[3])
            return JSONResponse({"deleted": True})
    path = "/".join(parts)
    return JSONResponse({"error": f"no control route {method} /_sandbox/{path}"}, status_code=404)


def create_app(
    clock: Clock | None = None,
    *,
    seed: int | None = None,
    accounts: int = 8,
    requests: int = 30,
    public_url: str | None = None,
    **credentials: str,
) -> Starlette:
    """A ServiceDesk Plus MSP v3 emulator; with a `seed` it starts filled with generated data.

    The state is `app.state.sandbox` (a SandboxState). The API lives under `/api/v3/`, Zoho's
    token endpoint at `/oauth/v2/token` (so the sandbox's URL is also its `accounts_url`), the
    control API under `/_sandbox/`. `credentials` may set authtoken, client_id, client_secret
    and refresh_token.
    """
    state = SandboxState(clock, public_url=public_url, **credentials)
    if seed is not None:
        state.generate(seed=seed, accounts=accounts, requests=requests)
    methods = ["GET", "POST", "PUT", "DELETE"]
    app = Starlette(
        routes=[
            Route("/api/v3/{api_path:path}", api, methods=methods),
            Route("/oauth/v2/token", zoho_token, methods=["POST"]),
            Route("/_sandbox/{control_path:path}", control, methods=methods),
        ]
    )
    app.state.sandbox = state
    return app
