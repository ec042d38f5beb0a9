"""The HTTP face of the sandbox: the platform's REST routes and a `/_sandbox/` control API."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from xerobridge.sdk import Clock
from xerobridge_payments.events import Topic
from xerobridge_payments.sandbox.generator import generate
from xerobridge_payments.sandbox.paging import PagingError, nested, paginate
from xerobridge_payments.sandbox.render import PlatformJSON
from xerobridge_payments.sandbox.state import (
    KINDS,
    Refused,
    SandboxState,
    invalid,
    not_found,
    parse_stamp,
)
from xerobridge_payments.sandbox.webhooks import Deliverer

log = logging.getLogger(__name__)

Handler = Callable[["Call"], Awaitable[Any]]
Predicate = Callable[[dict[str, Any], str], bool]


class Call:
    """One API request, resolved to a route."""

    def __init__(self, request: Request, state: SandboxState, params: dict[str, str]) -> None:
        self.request = request
        self.state = state
        self.params = params

    @property
    def query(self) -> dict[str, str]:
        return dict(self.request.query_params)

    async def body(self) -> dict[str, Any]:
        raw = await self.request.body()
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            raise Refused(400, "invalid_json", "The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise Refused(400, "invalid_json", "The request body must be a JSON object.")
        return data


# -- lists -----------------------------------------------------------------------------------------


def _time_filter(field: str, after: bool, key: str = "created_at") -> tuple[str, Predicate]:
    def check(record: dict[str, Any], value: str) -> bool:
        try:
            bound = parse_stamp(value)
        except ValueError:
            raise invalid({field: "must be an RFC 3339 time like 2025-01-01T00:00:00Z"}) from None
        raw = record.get(key)
        if raw is None:
            return False
        moment = parse_stamp(raw) if "T" in str(raw) else parse_stamp(f"{raw}T00:00:00Z")
        return moment >= bound if after else moment <= bound

    return field, check


def _equals(field: str, key: str | None = None) -> tuple[str, Predicate]:
    return field, lambda record, value: str(record.get(key or field)) == value


def _email(record: dict[str, Any], value: str) -> bool:
    return str(record.get("email", "")).casefold() == value.casefold()


def _contains(key: str) -> Predicate:
    return lambda record, value: value.casefold() in str(record.get(key, "")).casefold()


FILTERS: dict[str, dict[str, Predicate]] = {
    "customers": dict(
        [
            _equals("external_id"),
            _equals("status"),
            ("email", _email),
            ("company_name", _contains("company_name")),
            _time_filter("created_at_start", True),
            _time_filter("created_at_end", False),
        ]
    ),
    "invoices": dict(
        [
            _equals("external_id"),
            _equals("customer_id"),
            _equals("status"),
            _time_filter("created_at_start", True),
            _time_filter("created_at_end", False),
            _time_filter("due_date_start", True, "due_date"),
            _time_filter("due_date_end", False, "due_date"),
        ]
    ),
    "payments": dict(
        [
            _equals("type"),
            _equals("status"),
            _equals("customer_id"),
            _equals("invoice_id"),
            _equals("payment_method"),
            _time_filter("created_at_start", True),
            _time_filter("created_at_end", False),
        ]
    ),
    "payouts": dict(
        [
            _equals("status"),
            _equals("customer_id"),
            _time_filter("start_date", True),
            _time_filter("end_date", False),
        ]
    ),
    "events": dict(
        [
            _equals("topic"),
            _time_filter("created_at_start", True),
            _time_filter("created_at_end", False),
        ]
    ),
}
PAGING = ("limit", "after", "before")


def _page(call: Call, records: list[dict[str, Any]], kind: str) -> Any:
    query = call.query
    filters = FILTERS.get(kind, {})
    unknown = sorted(set(query) - set(filters) - set(PAGING) - {"invoice_id"})
    if unknown:
        # UNVERIFIED: whether the platform ignores unknown filters; refusing them here makes a
        # misspelt filter in the client fail loudly instead of reading everything.
        raise invalid({unknown[0]: "is not a filter of this list"})
    for name, value in query.items():
        if name in filters:
            check = filters[name]
            records = [r for r in records if check(r, value)]
    if kind == "payouts" and "invoice_id" in query:
        state = call.state
        records = [
            p
            for p in records
            if any(
                state.payments[t]["invoice_id"] == query["invoice_id"] for t in p["transaction_ids"]
            )
        ]
    try:
        envelope = paginate(
            records, limit=query.get("limit"), after=query.get("after"), before=query.get("before")
        )
    except PagingError as exc:
        raise Refused(400, "invalid_paging", exc.message, {exc.field: exc.message}) from None
    if kind == "payouts":
        envelope["data"] = [call.state.public_payout(p) for p in envelope["data"]]
    return nested(envelope) if call.state.nested_paging else envelope


def lister(kind: str) -> Handler:
    async def handler(call: Call) -> Any:
        return _page(call, list(call.state.collection(kind).values()), kind)

    return handler


def getter(kind: str, label: str) -> Handler:
    async def handler(call: Call) -> Any:
        record = call.state.collection(kind).get(call.params["id"])
        if record is None:
            raise not_found(label, call.params["id"])
        return call.state.public_payout(record) if kind == "payouts" else record

    return handler


# -- writes ----------------------------------------------------------------------------------------


async def create_customer(call: Call) -> Any:
    body = await call.body()
    return 201, call.state.create_customer(
        str(body.get("name") or ""),
        str(body.get("email") or ""),
        external_id=body.get("external_id"),
        company_name=body.get("company_name"),
    )


async def update_customer(call: Call) -> Any:
    return call.state.update_customer(call.params["id"], **await call.body())


async def archive_customer(call: Call) -> Any:
    return call.state.archive_customer(call.params["id"])


async def create_invoice(call: Call) -> Any:
    body = await call.body()
    return 201, call.state.create_invoice(
        str(body.get("customer_id") or ""),
        body.get("line_items"),  # type: ignore[arg-type]
        due_date=body.get("due_date"),
        currency=str(body.get("currency") or "") or None,
        external_id=body.get("external_id"),
        invoice_number=body.get("invoice_number"),
        memo=body.get("memo"),
    )


async def update_invoice(call: Call) -> Any:
    body = await call.body()
    unknown = sorted(set(body) - {"line_items", "due_date", "memo"})
    if unknown:
        raise invalid({unknown[0]: "cannot be changed"})
    return call.state.update_invoice(
        call.params["id"],
        line_items=body.get("line_items"),
        due_date=body.get("due_date"),
        memo=body.get("memo"),
    )


async def external_payment(call: Call) -> Any:
    body = await call.body()
    return call.state.record_external_payment(
        call.params["id"],
        amount=body.get("amount"),
        reference=str(body.get("reference") or ""),
        kind=str(body.get("kind") or "payment"),
        on=body.get("date"),
    )


async def mark_paid(call: Call) -> Any:
    body = await call.body()
    if not body.get("reference"):
        raise invalid({"reference": "is required"})
    return call.state.mark_paid(
        call.params["id"], reference=str(body["reference"]), on=body.get("date")
    )


async def archive_invoice(call: Call) -> Any:
    return call.state.archive_invoice(call.params["id"])


async def payout_transactions(call: Call) -> Any:
    return _page(call, call.state.payout_transactions(call.params["id"]), "transactions")


async def list_webhooks(call: Call) -> Any:
    return _page(call, [_public_sub(s) for s in call.state.webhooks.values()], "webhooks")


async def create_webhook(call: Call) -> Any:
    body = await call.body()
    sub = call.state.subscribe(
        str(body.get("endpoint_url") or ""), str(body.get("topic") or ""), body.get("secret_key")
    )
    return 201, _public_sub(sub)


async def delete_webhook(call: Call) -> Any:
    if call.state.webhooks.pop(call.params["id"], None) is None:
        raise not_found("webhook subscription", call.params["id"])
    return 204, None


def _public_sub(sub: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in sub.items() if k != "secret_key"}


ID = r"(?P<id>[A-Za-z0-9_-]+)"
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    (method, re.compile(f"^{pattern}$"), handler)
    for method, pattern, handler in (
        ("GET", "/customers", lister("customers")),
        ("POST", "/customers", create_customer),
        ("GET", f"/customers/{ID}", getter("customers", "customer")),
        ("PATCH", f"/customers/{ID}", update_customer),
        ("DELETE", f"/customers/{ID}", archive_customer),
        ("GET", "/invoices", lister("invoices")),
        ("POST", "/invoices", create_invoice),
        ("GET", f"/invoices/{ID}", getter("invoices", "invoice")),
        ("PATCH", f"/invoices/{ID}", update_invoice),
        ("DELETE", f"/invoices/{ID}", archive_invoice),
        ("POST", f"/invoices/{ID}/external_payments", external_payment),
        ("POST", f"/invoices/{ID}/mark_paid", mark_paid),
        ("GET", "/payments", lister("payments")),
        ("GET", f"/payments/{ID}", getter("payments", "payment")),
        ("GET", "/payouts", lister("payouts")),
        ("GET", f"/payouts/{ID}", getter("payouts", "payout")),
        ("GET", f"/payouts/{ID}/transactions", payout_transactions),
        ("GET", "/webhooks", list_webhooks),
        ("POST", "/webhooks", create_webhook),
        ("GET", "/webhooks/events", lister("events")),
        ("DELETE", f"/webhooks/{ID}", delete_webhook),
    )
]

_HTML = {
    502: "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>"
    "</body></html>",
    503: "<html><head><title>503 Service Temporarily Unavailable</title></head><body>"
    "<h1>503 Service Temporarily Unavailable</h1></body></html>",
    504: "<html><head><title>504 Gateway Time-out</title></head><body>"
    "<h1>504 Gateway Time-out</h1></body></html>",
}


def _error(refused: Refused, headers: dict[str, str] | None = None) -> Response:
    return PlatformJSON(refused.body(), status_code=refused.status, headers=headers)


def _throttled(wait: float) -> Response:
    headers = {"Retry-After": str(max(1, math.ceil(wait)))}
    return _error(
        Refused(429, "rate_limit_exceeded", "Too many requests: 5 per second per API key."),
        headers,
    )


def _fault_response(status: int, retry_after: float | None) -> Response:
    headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after else {}
    if status == 429:
        return _throttled(retry_after or 1)
    if status in _HTML:
        return Response(_HTML[status], status_code=status, media_type="text/html", headers=headers)
    code = "internal_error" if status >= 500 else "error"
    return _error(Refused(status, code, f"Sandbox fault: HTTP {status}."), headers)


def _basic(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


async def _token(request: Request, state: SandboxState) -> Response:
    pair = _basic(request)
    form = parse_qs((await request.body()).decode(errors="replace"))
    if pair is None:  # RFC 6749 also allows the credentials in the form
        pair = (form.get("client_id", [""])[0], form.get("client_secret", [""])[0])
    if form.get("grant_type", [""])[0] != "client_credentials":
        return _error(
            Refused(
                400,
                "unsupported_grant_type",
                "grant_type must be client_credentials",
                {"grant_type": "must be client_credentials"},
            )
        )
    wait = (
        state.rate_limit.retry_after(pair[0], state.clock.monotonic()) if state.rate_limit else None
    )
    if wait is not None:
        return _throttled(wait)
    try:
        return PlatformJSON(state.issue_token(*pair))
    except Refused as refused:
        return _error(refused, {"WWW-Authenticate": 'Basic realm="api"'})


async def api(request: Request) -> Response:
    """Dispatch a request to the platform's REST routes, with auth, rate limit and faults."""
    state: SandboxState = request.app.state.sandbox
    deliverer: Deliverer = request.app.state.deliverer
    path = request.url.path.rstrip("/") or "/"
    method = request.method
    state.request_log.append(
        (method, path + (f"?{request.url.query}" if request.url.query else ""))
    )
    fault = state.faults.take(method, path)
    if fault is not None:
        if fault.delay:
            await state.clock.sleep(fault.delay)
        if fault.status is not None:
            return _fault_response(fault.status, fault.retry_after)
    if method == "POST" and path == "/oauth/token":
        return await _token(request, state)
    for route_method, pattern, handler in ROUTES:
        found = pattern.match(path)
        if found is None or route_method != method:
            continue
        client_id = state.client_of(_bearer(request))
        if client_id is None:
            return _error(
                Refused(401, "unauthorized", "The access token is missing, invalid or expired."),
                {"WWW-Authenticate": 'Bearer realm="api"'},
            )
        if state.rate_limit is not None:
            wait = state.rate_limit.retry_after(client_id, state.clock.monotonic())
            if wait is not None:
                return _throttled(wait)
        try:
            result = await handler(Call(request, state, found.groupdict()))
        except Refused as refused:
            return _error(refused)
        status, content = result if isinstance(result, tuple) else (200, result)
        background = BackgroundTask(deliverer.flush) if state.outbox else None
        if status == 204:
            return Response(status_code=204, background=background)
        response = PlatformJSON(content, status_code=status, background=background)
        previous = state.last_answers.get(path)
        if method == "GET":
            state.last_answers[path] = bytes(response.body)
        if fault is not None and fault.answer is not None:
            return _spoiled(fault.answer, response, previous, state)
        return response
    # UNVERIFIED: what the platform answers for a path it has no route for; a plain-text 404
    # as Go's default mux writes it is a plausible guess (no JSON error body).
    return Response("404 page not found\n", status_code=404, media_type="text/plain")


def _spoiled(
    answer: str, response: Response, previous: bytes | None, state: SandboxState
) -> Response:
    body = bytes(response.body)
    if answer == "repeat":
        return Response(previous or body, status_code=200, media_type="application/json")
    if answer == "html":
        page = b"<html><body><h1>Sign in</h1><p>Please sign in to continue.</p></body></html>"
        return Response(page, status_code=200, media_type="text/html")
    if answer == "truncated":
        return Response(body[: len(body) // 2], status_code=200, media_type="application/json")
    data = json.loads(body)
    if isinstance(data, dict) and "data" in data and "has_next_page" in data:
        return Response(json.dumps(nested(data)), media_type="application/json")
    return response


# -- control API -----------------------------------------------------------------------------------


async def control(request: Request) -> Response:
    """`/_sandbox/...`: what customers, partners and the platform do, faults, and state."""
    state: SandboxState = request.app.state.sandbox
    deliverer: Deliverer = request.app.state.deliverer
    path = request.url.path.removeprefix("/_sandbox").rstrip("/")
    body: dict[str, Any] = {}
    if request.method in ("POST", "PUT", "PATCH"):
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, status_code=400)
    try:
        status, content = await _control(state, deliverer, request, request.method, path, body)
    except Refused as refused:
        return PlatformJSON(
            {"error": refused.message, **refused.body()}, status_code=refused.status
        )
    except (KeyError, ValueError, TypeError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    # What customers and the platform do is announced before the answer, so a caller sees it.
    await deliverer.flush()
    return PlatformJSON(content, status_code=status)


def _at(body: dict[str, Any]) -> datetime | None:
    return parse_stamp(body["at"]) if body.get("at") else None


async def _control(
    state: SandboxState,
    deliverer: Deliverer,
    request: Request,
    method: str,
    path: str,
    body: dict[str, Any],
) -> tuple[int, Any]:
    parts = [p for p in path.split("/") if p]
    match method, parts:
        case "GET", ["info"]:
            return 200, info(state, (state.public_url or str(request.base_url)).rstrip("/"))
        case "POST", ["generate"]:
            generate(
                state,
                seed=int(body.get("seed", 1)),
                customers=int(body.get("customers", 10)),
                invoices=int(body.get("invoices", 30)),
            )
            return 200, {"counts": state.counts()}
        case "POST", ["faults"]:
            return 200, {"fault": state.faults.add(**body).__dict__}
        case "DELETE", ["faults"]:
            state.faults.clear()
            return 200, {"ok": True}
        case "POST", ["rate_limit"]:
            if body.get("requests") is None:
                state.rate_limit = None
            else:
                from xerobridge_payments.sandbox.ratelimit import RateLimit

                state.rate_limit = RateLimit(
                    int(body["requests"]), float(body.get("per_seconds", 1))
                )
            return 200, {"ok": True}
        case "POST", ["paging"]:
            state.nested_paging = body.get("style") == "nested"
            return 200, {"style": "nested" if state.nested_paging else "flat"}
        case "POST", ["clock", "advance"]:
            advance = getattr(state.clock, "advance", None)
            if advance is None:
                raise ValueError("the sandbox runs on the system clock; only a FakeClock moves")
            advance(float(body.get("seconds", 0)))
            return 200, {"now": state.now().isoformat()}
        case "POST", ["tokens", "revoke"]:
            state.revoke_tokens()
            return 200, {"ok": True}
        case "POST", ["customers"]:
            return 201, state.create_customer(
                body["name"], body["email"], company_name=body.get("company_name"), at=_at(body)
            )
        case "POST", ["customers", ident, "archive"]:
            return 200, state.archive_customer(ident)
        case "POST", ["invoices"]:
            # An invoice a partner makes in the platform itself: it never came from Xero.
            return 201, state.create_invoice(
                body["customer_id"],
                body["line_items"],
                due_date=body.get("due_date"),
                memo=body.get("memo"),
                origin="portal",
                at=_at(body),
            )
        case "POST", ["invoices", ident, "edit"]:
            return 200, state.update_invoice(
                ident,
                line_items=body.get("line_items"),
                due_date=body.get("due_date"),
                memo=body.get("memo"),
            )
        case "POST", ["invoices", ident, "pay"]:
            return 201, state.pay_invoice(
                ident,
                body.get("amount"),
                payment_method=str(body.get("payment_method", "card")),
                fee_covered_by_customer=bool(body.get("fee_covered_by_customer", False)),
                at=_at(body),
            )
        case "POST", ["invoices", ident, "archive"]:
            return 200, state.archive_invoice(ident)
        case "POST", ["payments", ident, "refund"]:
            return 201, state.refund(ident, body.get("amount"), at=_at(body))
        case "POST", ["payments", ident, "chargeback"]:
            return 201, state.chargeback(ident, at=_at(body))
        case "POST", ["payouts", "run"]:
            payout = state.run_payout(until=_at(body))
            return 201, {
                **state.public_payout(payout),
                "transactions": state.payout_transactions(payout["id"]),
            }
        case "POST", ["webhooks"]:
            return 201, state.subscribe(
                body["endpoint_url"], body["topic"], body.get("secret_key", state.webhook_secret)
            )
        case "GET", ["webhooks", "deliveries"]:
            return 200, state.deliveries
        case "POST", ["webhooks", "drop"]:
            state.drop_webhooks = int(body.get("count", 1))
            return 200, {"drop": state.drop_webhooks}
        case "POST", ["webhooks", "redeliver"]:
            return 200, await deliverer.redeliver()
        case "GET", [kind] if kind in KINDS:
            return 200, list(state.collection(kind).values())
        case "GET", [kind, ident] if kind in KINDS:
            record = state.collection(kind).get(ident)
            if record is None:
                raise not_found(kind, ident)
            return 200, record
    return 404, {"error": f"no control route {method} /_sandbox{path}"}


def info(state: SandboxState, base_url: str) -> dict[str, Any]:
    """How a payments source reaches the sandbox, and what it holds."""
    return {
        "base_url": base_url,
        "client_id": state.client_id,
        "client_secret": state.client_secret,
        "webhook_secret": state.webhook_secret,
        "control_url": f"{base_url}/_sandbox",
        "counts": state.counts(),
        "webhooks": sorted({s["endpoint_url"] for s in state.webhooks.values()}),
        "odd": state.odd,
    }


def create_app(
    clock: Clock | None = None,
    *,
    seed: int | None = None,
    customers: int = 10,
    invoices: int = 30,
    client_id: str = "sandbox-client",
    client_secret: str = "sandbox-client-secret",
    webhook_secret: str = "sandbox-webhook-secret-0123456789",
    webhook_url: str | None = None,
    webhook_http: httpx.AsyncClient | None = None,
    public_url: str | None = None,
    currency: str = "USD",
) -> Starlette:
    """An Alternative Payments emulator; with a `seed` it starts with generated history.

    The state is `app.state.sandbox` (a SandboxState). `webhook_url` subscribes that URL to the
    topics a source listens to, with `webhook_secret` as the bearer; deliveries go through
    `webhook_http` when given (an httpx client on ASGITransport in tests).
    """
    state = SandboxState(
        clock,
        client_id=client_id,
        client_secret=client_secret,
        webhook_secret=webhook_secret,
        public_url=public_url,
        currency=currency,
    )
    deliverer = Deliverer(state, webhook_http)
    if seed is not None:
        generate(state, seed=seed, customers=customers, invoices=invoices)
        # The history happened before anyone listened.
        state.outbox.clear()
    if webhook_url:
        from xerobridge_payments.events import SYNC_TOPICS

        for topic in SYNC_TOPICS:
            state.subscribe(webhook_url, Topic(topic).value, webhook_secret)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await deliverer.aclose()

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    app = Starlette(
        routes=[
            Route("/_sandbox/{control_path:path}", control, methods=methods),
            Route("/{api_path:path}", api, methods=methods),
        ],
        lifespan=lifespan,
    )
    app.state.sandbox = state
    app.state.deliverer = deliverer
    return app
