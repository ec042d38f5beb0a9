"""The HTTP face of the sandbox: the reseller SimpleAPI behind its API gateway, under
`/marketplace/`, and a `/_sandbox/` control API for tests (no auth: local use only).

The gateway checks the subscription key and the rate limit before the API sees a request; its
refusals have the gateway's `{statusCode, message}` body. The API's own errors use
`{code, message}` (UNVERIFIED: the SimpleAPI spec's error schema was not available).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from xerobridge.sdk import Clock
from xerobridge_marketplace.sandbox.charges import format_time, parse_time
from xerobridge_marketplace.sandbox.generator import generate
from xerobridge_marketplace.sandbox.state import AuthFailed, SandboxError, SandboxState

log = logging.getLogger(__name__)

API_PREFIX = "/marketplace"
DEFAULT_LIMIT = 10
#: UNVERIFIED: the largest `limit` the API takes; asking for more is refused with 400.
MAX_LIMIT = 100
COUNTED = ("customers", "products", "plans", "subscriptions", "orders")

Handler = Callable[["Call"], Awaitable[Response]]


class ApiError(Exception):
    """An API refusal: status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Call:
    """One API request, resolved to a route."""

    def __init__(self, request: Request, state: SandboxState, params: dict[str, str]) -> None:
        self.request = request
        self.state = state
        self.params = params

    def arg(self, name: str) -> str | None:
        value = self.request.query_params.get(name)
        return value if value not in (None, "") else None

    def time_arg(self, name: str) -> datetime | None:
        value = self.arg(name)
        if value is None:
            return None
        try:
            return parse_time(value)
        except ValueError:
            raise ApiError(
                400, "invalid_parameter", f"{name} must be an ISO 8601 date-time"
            ) from None


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    out = {"X-Correlation-ID": secrets.token_hex(16), **(headers or {})}
    return JSONResponse(body, status_code=status, headers=out)


def _gateway(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return _json({"statusCode": status, "message": message}, status, headers)


# -- API handlers ----------------------------------------------------------------------------------


async def token(call: Call) -> Response:
    header = call.request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    try:
        user, _, password = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        user = password = ""
    if scheme.lower() != "basic" or not user:
        raise ApiError(401, "unauthorized", "Basic authentication is required")
    try:
        body = json.loads(await call.request.body() or b"{}")
    except json.JSONDecodeError:
        raise ApiError(400, "invalid_body", "The body must be JSON") from None
    code = body.get("marketplace") if isinstance(body, dict) else None
    if not code:
        raise ApiError(400, "invalid_body", "marketplace is required")
    try:
        value, lifetime = call.state.issue_token(user, password, str(code))
    except AuthFailed as exc:
        if str(exc) == "marketplace":
            raise ApiError(
                403, "forbidden", f"Marketplace {code} is not available to this user"
            ) from None
        raise ApiError(401, "unauthorized", "Invalid username or password") from None
    return _json({"token": value, "expiresInSeconds": lifetime})


def _page(call: Call, records: list[dict[str, Any]]) -> Response:
    try:
        offset = int(call.arg("offset") or 0)
        limit = int(call.arg("limit") or DEFAULT_LIMIT)
    except ValueError:
        raise ApiError(400, "invalid_parameter", "offset and limit must be integers") from None
    if offset < 0 or not 1 <= limit <= MAX_LIMIT:
        raise ApiError(
            400, "invalid_parameter", f"offset must be 0 or more and limit 1 to {MAX_LIMIT}"
        )
    return _json(
        {
            "data": records[offset : offset + limit],
            "pagination": {"offset": offset, "limit": limit, "total": len(records)},
        }
    )


def _in_window(stamp: str, low: datetime | None, high: datetime | None) -> bool:
    # UNVERIFIED: both bounds inclusive; the client must not count on either.
    moment = parse_time(stamp)
    return (low is None or moment >= low) and (high is None or moment <= high)


async def list_orders(call: Call) -> Response:
    low, high = call.time_arg("creationTimeFrom"), call.time_arg("creationTimeTo")
    statuses = set((call.arg("status") or "").split(",")) - {""}
    wanted = {k: call.arg(k) for k in ("customerId", "subscriptionId", "orderNumber", "statusCode")}
    rows = [
        o
        for o in call.state.orders.values()
        if _in_window(o["creationDate"], low, high)
        and (not statuses or o["status"] in statuses)
        and all(v is None or str(o.get(k)) == v for k, v in wanted.items())
    ]
    # UNVERIFIED default order: oldest first (creation time, then id).
    rows.sort(key=lambda o: (parse_time(o["creationDate"]), int(o["id"])))
    return _page(call, rows)


async def list_subscriptions(call: Call) -> Response:
    low, high = call.time_arg("creationDateFrom"), call.time_arg("creationDateTo")
    customer, status = call.arg("customerId"), call.arg("status")
    rows = [
        s
        for s in call.state.subscriptions.values()
        if _in_window(s["creationDate"], low, high)
        and (customer is None or s["customerId"] == customer)
        and (status is None or s["status"] == status)
    ]
    return _page(call, rows)


def lister(table: str) -> Handler:
    async def handler(call: Call) -> Response:
        return _page(call, list(getattr(call.state, table).values()))

    return handler


def getter(table: str, kind: str) -> Handler:
    async def handler(call: Call) -> Response:
        record = getattr(call.state, table).get(call.params["id"])
        if record is None:
            raise ApiError(404, "not_found", f"{kind} {call.params['id']} was not found")
        return _json(record)

    return handler


ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", "/token", token),
    ("GET", "/customers", lister("customers")),
    ("GET", "/customers/{id}", getter("customers", "Customer")),
    ("GET", "/products", lister("products")),
    ("GET", "/plans", lister("plans")),
    ("GET", "/plans/{id}", getter("plans", "Plan")),
    ("GET", "/subscriptions", list_subscriptions),
    ("GET", "/subscriptions/{id}", getter("subscriptions", "Subscription")),
    ("GET", "/orders", list_orders),
    ("GET", "/orders/{id}", getter("orders", "Order")),
]

_HTML = (
    "<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body><h1>The "
    "service is temporarily unavailable</h1><p>Please try again later.</p></body></html>"
)


def _match(method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
    parts = [p for p in path.split("/") if p]
    for want_method, pattern, handler in ROUTES:
        want = [p for p in pattern.split("/") if p]
        if want_method != method or len(want) != len(parts):
            continue
        params: dict[str, str] = {}
        for w, p in zip(want, parts, strict=True):
            if w.startswith("{"):
                params[w[1:-1]] = p
            elif w != p:
                break
        else:
            return handler, params
    return None


async def api(request: Request) -> Response:
    """Serve one API request as the gateway and the API would."""
    state: SandboxState = request.app.state.sandbox
    path = request.url.path.removeprefix(API_PREFIX) or "/"
    state.request_log.append(
        (request.method, path + (f"?{request.url.query}" if request.url.query else ""))
    )
    fault = state.take_fault(request.method, path)
    if fault is not None:
        if fault.delay:
            await state.clock.sleep(fault.delay)
        if fault.status is not None:
            return _fault(fault.status, fault.retry_after)
    key = request.headers.get("x-subscription-key") or request.query_params.get("subscription-key")
    if not key:
        return _gateway(
            401,
            "Access denied due to missing subscription key. Make sure to include subscription "
            "key when making requests to an API.",
        )
    if key != state.subscription_key:
        return _gateway(
            401,
            "Access denied due to invalid subscription key. Make sure to provide a valid key "
            "for an active subscription.",
        )
    if state.rate_limit is not None:
        wait = state.rate_limit.retry_after(key, state.clock.monotonic())
        if wait is not None:
            return _fault(429, wait)
    found = _match(request.method, path)
    if found is None:
        return _gateway(404, "Resource not found")
    handler, params = found
    try:
        if handler is not token:
            _check_bearer(request, state)
        state.settle()
        response = await handler(Call(request, state, params))
    except ApiError as exc:
        return _json({"code": exc.code, "message": exc.message}, exc.status)
    previous = state.last_answers.get(path)
    if request.method == "GET" and response.status_code == 200:
        state.last_answers[path] = bytes(response.body)
    if fault is not None and fault.answer is not None:
        return _spoiled(fault.answer, bytes(response.body), previous)
    return response


def _check_bearer(request: Request, state: SandboxState) -> None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    status = state.token_state(value.strip() if scheme.lower() == "bearer" else None)
    if status == "expired":
        raise ApiError(401, "token_expired", "The token has expired")
    if status != "valid":
        raise ApiError(401, "unauthorized", "A valid bearer token is required")


def _spoiled(answer: str, body: bytes, previous: bytes | None) -> Response:
    if answer == "repeat":
        return Response(previous or body, media_type="application/json")
    if answer == "html":
        return Response(_HTML, media_type="text/html")
    return Response(body[: len(body) // 2], media_type="application/json")


def _fault(status: int, retry_after: float | None) -> Response:
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after is not None else {}
    if status == 429:
        wait = headers.get("Retry-After", "1")
        return _gateway(429, f"Rate limit is exceeded. Try again in {wait} seconds.", headers)
    if status in (502, 503, 504):
        return Response(_HTML, status_code=status, media_type="text/html", headers=headers)
    return _json({"code": "internal_error", "message": "Internal server error"}, status, headers)


# -- control API -----------------------------------------------------------------------------------


async def control(request: Request) -> Response:
    """`/_sandbox/...`: inspect and change the marketplace from a test or another process."""
    state: SandboxState = request.app.state.sandbox
    parts = [p for p in request.url.path.removeprefix("/_sandbox").split("/") if p]
    body: dict[str, Any] = {}
    if request.method in ("POST", "PUT"):
        raw = await request.body()
        body = json.loads(raw) if raw else {}
    try:
        result = _control(state, request, request.method, parts, body)
    except (SandboxError, KeyError, TypeError, ValueError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    if result is None:
        path = "/".join(parts)
        return JSONResponse({"error": f"no control route {request.method} /_sandbox/{path}"}, 404)
    return JSONResponse(result)


def _control(
    state: SandboxState, request: Request, method: str, parts: list[str], body: dict[str, Any]
) -> Any:
    if method == "GET" and parts == ["info"]:
        return describe_state(state, (state.public_url or str(request.base_url)).rstrip("/"))
    if method == "GET" and parts == ["requests"]:
        return [list(r) for r in state.request_log]
    if method == "POST" and parts == ["generate"]:
        generate(
            state,
            seed=int(body.get("seed", 1)),
            customers=int(body.get("customers", 20)),
            subscriptions=int(body.get("subscriptions", 40)),
        )
        return {"ok": True}
    if parts == ["faults"] and method == "DELETE":
        state.faults.clear()
        return {"ok": True}
    if parts == ["faults"] and method == "POST":
        return {"ok": True, "fault": state.add_fault(**body).__dict__}
    if parts == ["ratelimit"] and method == "POST":
        from xerobridge_marketplace.sandbox.state import RateLimit

        state.rate_limit = RateLimit(int(body["requests"]), float(body["per_seconds"]))
        return {"ok": True}
    if parts == ["ratelimit"] and method == "DELETE":
        state.rate_limit = None
        return {"ok": True}
    if method == "POST" and parts == ["clock", "advance"]:
        advance = getattr(state.clock, "advance", None)
        if advance is None:
            raise SandboxError("the sandbox runs on the system clock; only a FakeClock moves")
        advance(float(body.get("seconds", 0)))
        state.settle()
        return {"now": format_time(state.now())}
    if method == "POST" and parts == ["tokens", "revoke"]:
        state.revoke_tokens()
        return {"ok": True}
    if method == "POST" and parts == ["customers"]:
        return state.add_customer(
            body["name"],
            country=body.get("country", "GB"),
            contacts=body.get("contactPersons"),
            status=body.get("status", "active"),
            address=body.get("address"),
            tax_reg_id=body.get("taxRegId"),
            external_id=body.get("externalId"),
        )
    if method == "POST" and len(parts) == 3 and parts[::2] == ["customers", "edit"]:
        return state.edit_customer(parts[1], **body)
    if method == "POST" and parts == ["subscriptions"]:
        sub, order = state.sell(
            str(body["customerId"]),
            str(body["planId"]),
            int(body.get("quantity", 1)),
            settle_after=float(body.get("settle_after", 120)),
            outcome=body.get("outcome", "completed"),
            discount_percent=Decimal(str(body.get("discount_percent", 0))),
            handling_fee=Decimal(str(body.get("handling_fee", 0))),
            extra_discount=Decimal(str(body.get("extra_discount", 0))),
        )
        return {"subscription": sub, "order": order}
    if method == "POST" and len(parts) == 3 and parts[0] == "subscriptions":
        sub_id, action = parts[1], parts[2]
        settle = {
            "settle_after": float(body.get("settle_after", 120)),
            "outcome": body.get("outcome", "completed"),
        }
        if action == "change":
            quantity = body.get("quantity")
            return state.change(
                sub_id,
                quantity=int(quantity) if quantity is not None else None,
                plan_id=body.get("planId"),
                **settle,
            )
        if action == "renew":
            return state.renew(sub_id, overuse=int(body.get("overuse", 0)), **settle)
        if action == "cancel":
            return state.cancel(sub_id, **settle)
    if method == "POST" and parts == ["orders"]:
        return state.add_order(body)
    if method == "POST" and len(parts) == 3 and parts[::2] == ["orders", "status"]:
        return state.set_order_status(parts[1], body["status"], body.get("statusCode"))
    return None


def describe_state(state: SandboxState, url: str) -> dict[str, Any]:
    """How a source reaches the sandbox, and what it holds."""
    return {
        "base_url": url + API_PREFIX,
        "username": state.username,
        "password": state.password,
        "marketplace": state.marketplace,
        "subscription_key": state.subscription_key,
        "control_url": url + "/_sandbox",
        "now": format_time(state.now()),
        "counts": {name: len(getattr(state, name)) for name in COUNTED},
        "open_orders": len(state.pending),
        "odd": {k: list(v) for k, v in state.odd.items()},
    }


def create_app(
    clock: Clock | None = None,
    *,
    seed: int | None = None,
    countries: tuple[str, ...] = (),
    customers: int = 20,
    subscriptions: int = 40,
    username: str = "api-reseller",
    password: str = "sandbox-password",
    marketplace: str = "UK",
    subscription_key: str = "sandbox-subscription-key",
    public_url: str | None = None,
) -> Starlette:
    """A reseller SimpleAPI emulator; with a `seed` it starts filled with generated history.

    The state is `app.state.sandbox` (a SandboxState); the API lives under `/marketplace/`, the
    control API under `/_sandbox/`.
    """
    state = SandboxState(
        clock,
        username=username,
        password=password,
        marketplace=marketplace,
        subscription_key=subscription_key,
        public_url=public_url,
    )
    if seed is not None:
        generate(state, seed=seed, customers=customers, subscriptions=subscriptions,
                 countries=countries)  # fmt: skip
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    app = Starlette(
        routes=[
            Route(API_PREFIX + "/{api_path:path}", api, methods=methods),
            Route("/_sandbox/{control_path:path}", control, methods=methods),
        ]
    )
    app.state.sandbox = state
    return app
