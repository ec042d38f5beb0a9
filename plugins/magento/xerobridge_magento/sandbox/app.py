"""The HTTP face of the sandbox: Magento's REST routes and a small `/_sandbox/` control API."""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from xerobridge.sdk import Clock
from xerobridge_magento.sandbox.sales import SalesError
from xerobridge_magento.sandbox.search import (
    SearchCriteria,
    SearchError,
    apply_fields,
    parse_fields,
    parse_php_query,
    parse_search_criteria,
    run_search,
)
from xerobridge_magento.sandbox.state import AuthFailed, SandboxState

log = logging.getLogger(__name__)

Handler = Callable[["Call"], Awaitable[Response]]

NOT_AUTHORIZED = "The consumer isn't authorized to access %resources."
LOGIN_FAILED = (
    "The account sign-in was incorrect or your account is disabled temporarily. "
    "Please wait and try again later."
)
NO_ENTITY = "The entity that was requested doesn't exist. Verify the entity and try again."
NO_PRODUCT = "The product that was requested doesn't exist. Verify the product and try again."
NO_ROUTE = "Request does not match any route."


class MagentoJSON(JSONResponse):
    """JSON the way Magento writes it: unicode as escapes, `/` escaped (PHP json_encode)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":")).replace("/", "\\/").encode()


def error(status: int, message: str, parameters: Any = None, **extra: Any) -> Response:
    """Magento's error-response body."""
    body: dict[str, Any] = {"message": message}
    if parameters:
        body["parameters"] = parameters
    body.update(extra)
    return MagentoJSON(body, status_code=status)


class Call:
    """One REST request, resolved to a route."""

    def __init__(
        self, request: Request, state: SandboxState, params: dict[str, str], store: str
    ) -> None:
        self.request = request
        self.state = state
        self.params = params
        self.store = store

    def query(self) -> dict[str, Any]:
        """The query string nested the way PHP does it."""
        return parse_php_query(self.request.query_params.multi_items())

    async def body(self) -> dict[str, Any]:
        """The JSON body (Magento answers a malformed one with 400)."""
        raw = await self.request.body()
        if not raw:
            return {}
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("body must be an object")
        return data


# -- REST handlers ---------------------------------------------------------------------------------


async def admin_token(call: Call) -> Response:
    try:
        body = await call.body()
    except ValueError:
        return error(400, "Decoding error: \nSyntax error")
    missing = [f for f in ("username", "password") if not body.get(f)]
    if missing:
        return error(
            400,
            "One or more input exceptions have occurred.",
            errors=[
                {
                    "message": '"%fieldName" is required. Enter and try again.',
                    "parameters": {"fieldName": f},
                }
                for f in missing
            ],
        )
    try:
        token = call.state.issue_admin_token(str(body["username"]), str(body["password"]))
    except AuthFailed:
        return error(401, LOGIN_FAILED)
    return MagentoJSON(token)


def _search_response(call: Call, stream: str) -> Response:
    try:
        criteria: SearchCriteria = parse_search_criteria(call.query())
        result = run_search(call.state.collection(stream), criteria)
    except SearchError as exc:
        return error(400, exc.message, exc.parameters)
    return MagentoJSON(
        {
            "items": result.items,
            "search_criteria": criteria.echo(),
            "total_count": result.total_count,
        }
    )


def searcher(stream: str) -> Handler:
    async def handler(call: Call) -> Response:
        return _search_response(call, stream)

    return handler


def getter(stream: str, param: str) -> Handler:
    async def handler(call: Call) -> Response:
        record = call.state.collection(stream).get(call.params[param])
        if record is None:
            if stream == "customers":
                return error(
                    404,
                    "No such entity with %fieldName = %fieldValue",
                    {"fieldName": "customerId", "fieldValue": call.params[param]},
                )
            return error(404, NO_ENTITY)
        return MagentoJSON(record)

    return handler


async def get_product(call: Call) -> Response:
    product = call.state.product_by_sku(call.params["sku"])
    return MagentoJSON(product) if product is not None else error(404, NO_PRODUCT)


async def put_product(call: Call) -> Response:
    sku = call.params["sku"]
    if call.state.product_by_sku(sku) is None:
        return error(404, NO_PRODUCT)
    changes = _editable(
        (await call.body()).get("product") or {}, ("id", "updated_at", "created_at", "type_id")
    )
    return MagentoJSON(call.state.edit_product(sku, **changes))


async def delete_product(call: Call) -> Response:
    if not call.state.delete_product(call.params["sku"]):
        return error(404, NO_PRODUCT)
    return MagentoJSON(True)


async def put_customer(call: Call) -> Response:
    customer_id = int(call.params["id"])
    if call.state.customers.get(customer_id) is None:
        return error(
            404,
            "No such entity with %fieldName = %fieldValue",
            {"fieldName": "customerId", "fieldValue": str(customer_id)},
        )
    changes = _editable(
        (await call.body()).get("customer") or {}, ("id", "updated_at", "created_at", "addresses")
    )
    return MagentoJSON(call.state.edit_customer(customer_id, **changes))


async def delete_customer(call: Call) -> Response:
    if not call.state.delete_customer(int(call.params["id"])):
        return error(
            404,
            "No such entity with %fieldName = %fieldValue",
            {"fieldName": "customerId", "fieldValue": call.params["id"]},
        )
    return MagentoJSON(True)


def _editable(data: dict[str, Any], ignored: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ignored}


async def invoice_order(call: Call) -> Response:
    order_id = int(call.params["id"])
    if call.state.orders.get(order_id) is None:
        return error(404, NO_ENTITY)
    body = await call.body()
    try:
        invoice = call.state.invoice_order(order_id, paid=bool(body.get("capture", False)))
    except SalesError as exc:
        return error(400, str(exc))
    return MagentoJSON(invoice["entity_id"])


async def refund_order(call: Call) -> Response:
    order_id = int(call.params["id"])
    if call.state.orders.get(order_id) is None:
        return error(404, NO_ENTITY)
    body = await call.body()
    items = body.get("items")
    qtys = {int(i["order_item_id"]): float(i["qty"]) for i in items} if items else None
    args = body.get("arguments") or {}
    try:
        memo = call.state.refund_order(
            order_id,
            qtys=qtys,
            shipping_amount=args.get("shipping_amount"),
            adjustment_positive=args.get("adjustment_positive", 0),
            adjustment_negative=args.get("adjustment_negative", 0),
        )
    except SalesError as exc:
        return error(400, str(exc))
    return MagentoJSON(memo["entity_id"])


async def cancel_order(call: Call) -> Response:
    order_id = int(call.params["id"])
    if call.state.orders.get(order_id) is None:
        return error(404, NO_ENTITY)
    try:
        call.state.cancel_order(order_id)
    except SalesError:
        return MagentoJSON(False)
    return MagentoJSON(True)


async def order_comment(call: Call) -> Response:
    order_id = int(call.params["id"])
    if call.state.orders.get(order_id) is None:
        return error(404, NO_ENTITY)
    history = (await call.body()).get("statusHistory") or {}
    call.state.add_order_comment(
        order_id, str(history.get("comment", "")), status=history.get("status")
    )
    return MagentoJSON(True)


async def store_configs(call: Call) -> Response:
    wanted = set(
        call.request.query_params.getlist("storeCodes[]")
        + call.request.query_params.getlist("storeCodes")
    )
    base = call.state.public_url or str(call.request.base_url)
    base = base.rstrip("/") + "/"
    out = []
    for store in call.state.stores:
        if wanted and store.code not in wanted:
            continue
        out.append(
            {
                "id": store.id,
                "code": store.code,
                "website_id": store.website_id,
                "locale": store.locale,
                "base_currency_code": store.base_currency,
                "default_display_currency_code": store.display_currency,
                "timezone": store.timezone,
                "weight_unit": "kgs",
                "base_url": base,
                "base_link_url": base,
                "base_static_url": base + "static/",
                "base_media_url": base + "media/",
                "secure_base_url": base,
                "secure_base_link_url": base,
                "secure_base_static_url": base + "static/",
                "secure_base_media_url": base + "media/",
            }
        )
    return MagentoJSON(out)


def _tax_rate_record(rate: Any) -> dict[str, Any]:
    return {
        "id": rate.id,
        "tax_country_id": rate.country,
        "tax_region_id": 0,
        "tax_postcode": "*",
        "rate": float(rate.rate),
        "code": rate.code,
        "titles": [],
    }


async def tax_rates_search(call: Call) -> Response:
    from xerobridge_magento.sandbox.store import Collection

    coll = Collection("tax_rates", "id", {"tax_calculation_rate_id": "id"})
    for rate in call.state.tax_rates:
        record = _tax_rate_record(rate)
        record["updated_at"] = ""  # index key only; tax rates have no timestamps
        coll.put(record)
    try:
        criteria = parse_search_criteria(call.query())
        result = run_search(coll, criteria)
    except SearchError as exc:
        return error(400, exc.message, exc.parameters)
    items = [{k: v for k, v in r.items() if k != "updated_at"} for r in result.items]
    return MagentoJSON(
        {"items": items, "search_criteria": criteria.echo(), "total_count": result.total_count}
    )


async def tax_rate(call: Call) -> Response:
    for rate in call.state.tax_rates:
        if str(rate.id) == call.params["id"]:
            return MagentoJSON(_tax_rate_record(rate))
    return error(
        404,
        "No such entity with %fieldName = %fieldValue",
        {"fieldName": "taxRateId", "fieldValue": call.params["id"]},
    )


# (method, pattern, handler, ACL resource named in 401 answers; None = anonymous)
ROUTES: list[tuple[str, re.Pattern[str], Handler, str | None]] = [
    (m, re.compile(f"^{p}$"), h, acl)
    for m, p, h, acl in (
        ("POST", r"/V1/integration/admin/token", admin_token, None),
        ("GET", r"/V1/customers/search", searcher("customers"), "Magento_Customer::customer"),
        (
            "GET",
            r"/V1/customers/(?P<id>\d+)",
            getter("customers", "id"),
            "Magento_Customer::customer",
        ),
        ("PUT", r"/V1/customers/(?P<id>\d+)", put_customer, "Magento_Customer::manage"),
        ("DELETE", r"/V1/customers/(?P<id>\d+)", delete_customer, "Magento_Customer::delete"),
        ("GET", r"/V1/products", searcher("products"), "Magento_Catalog::products"),
        ("GET", r"/V1/products/(?P<sku>[^/]+)", get_product, "Magento_Catalog::products"),
        ("PUT", r"/V1/products/(?P<sku>[^/]+)", put_product, "Magento_Catalog::products"),
        ("DELETE", r"/V1/products/(?P<sku>[^/]+)", delete_product, "Magento_Catalog::products"),
        ("GET", r"/V1/orders", searcher("orders"), "Magento_Sales::actions_view"),
        ("GET", r"/V1/orders/(?P<id>\d+)", getter("orders", "id"), "Magento_Sales::actions_view"),
        ("POST", r"/V1/orders/(?P<id>\d+)/cancel", cancel_order, "Magento_Sales::cancel"),
        ("POST", r"/V1/orders/(?P<id>\d+)/comments", order_comment, "Magento_Sales::comment"),
        ("POST", r"/V1/order/(?P<id>\d+)/invoice", invoice_order, "Magento_Sales::sales_invoice"),
        ("POST", r"/V1/order/(?P<id>\d+)/refund", refund_order, "Magento_Sales::sales_creditmemo"),
        ("GET", r"/V1/invoices", searcher("invoices"), "Magento_Sales::sales_invoice"),
        (
            "GET",
            r"/V1/invoices/(?P<id>\d+)",
            getter("invoices", "id"),
            "Magento_Sales::sales_invoice",
        ),
        ("GET", r"/V1/creditmemos", searcher("creditmemos"), "Magento_Sales::sales_creditmemo"),
        # Singular for one credit memo, as in Sales/etc/webapi.xml.
        (
            "GET",
            r"/V1/creditmemo/(?P<id>\d+)",
            getter("creditmemos", "id"),
            "Magento_Sales::sales_creditmemo",
        ),
        ("GET", r"/V1/store/storeConfigs", store_configs, "Magento_Backend::store"),
        ("GET", r"/V1/taxRates/search", tax_rates_search, "Magento_Tax::manage_tax"),
        ("GET", r"/V1/taxRates/(?P<id>\d+)", tax_rate, "Magento_Tax::manage_tax"),
    )
]

_REST_PATH = re.compile(r"^/rest(?:/(?P<store>[A-Za-z0-9_]+))?(?P<path>/V1/.*)$")
_HTML_5XX = {
    502: "<html><body><h1>502 Bad Gateway</h1></body></html>",
    503: "<html><head><title>Service Temporarily Unavailable</title></head><body>"
    "<h1>Service Temporarily Unavailable</h1><p>The server is temporarily unable to service "
    "your request due to maintenance downtime or capacity problems.</p></body></html>",
    504: "<html><body><h1>504 Gateway Time-out</h1></body></html>",
}


async def rest(request: Request) -> Response:
    """Dispatch `/rest[/<store>]/V1/...` like Magento's webapi front controller."""
    state: SandboxState = request.app.state.sandbox
    match = _REST_PATH.match(request.url.path)
    if match is None:
        return error(404, NO_ROUTE)
    store = match.group("store") or "default"
    path = match.group("path").rstrip("/")
    state.request_log.append(
        (request.method, path + (f"?{request.url.query}" if request.url.query else ""))
    )
    if store not in ("default", "all") and store not in {s.code for s in state.stores}:
        # UNVERIFIED wording; Magento refuses unknown store codes before routing.
        return error(
            400, "The store that was requested wasn't found. Verify the store and try again."
        )

    fault = state.take_fault(request.method, path)
    if fault is not None:
        if fault.delay:
            await state.clock.sleep(fault.delay)
        if fault.status is not None:
            return _fault_response(fault.status, fault.retry_after)

    for method, pattern, handler, acl in ROUTES:
        found = pattern.match(path)
        if found is None or method != request.method:
            continue
        token = _bearer(request)
        if acl is not None and not state.token_valid(token):
            return error(401, NOT_AUTHORIZED, {"resources": acl})
        if state.rate_limit is not None and acl is not None:
            wait = state.rate_limit.retry_after(token or "", state.clock.monotonic())
            if wait is not None:
                return _fault_response(429, wait)
        try:
            response = await handler(Call(request, state, found.groupdict(), store))
        except (ValueError, KeyError, TypeError) as exc:
            log.info("sandbox refused %s %s: %s", request.method, path, exc)
            return error(400, str(exc))
        response = _trim(request, response)
        previous = state.last_answers.get(path)
        if request.method == "GET" and response.status_code == 200:
            state.last_answers[path] = (bytes(response.body), response.media_type or "")
        if fault is not None and fault.answer is not None:
            return _spoiled(fault.answer, response, previous)
        return response
    return error(404, NO_ROUTE)


def _spoiled(answer: str, response: Response, previous: tuple[bytes, str] | None) -> Response:
    """A successful answer spoiled as a fault says (see state.Fault)."""
    body = bytes(response.body)
    if answer == "repeat":
        # Nothing answered before: the first answer is its own repeat.
        content, media = previous or (body, response.media_type or "")
        return Response(content, status_code=200, media_type=media)
    if answer == "html":
        page = b"<html><body><h1>Welcome</h1><p>Please log in.</p></body></html>"
        return Response(page, status_code=200, media_type="text/html")
    if answer == "truncated":
        return Response(body[: len(body) // 2], status_code=200, media_type="application/json")
    data = json.loads(body)
    items = data.get("items") if isinstance(data, dict) else None
    if items:
        for name in ("id", "entity_id", "updated_at"):
            items[0].pop(name, None)
    return MagentoJSON(data)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _fault_response(status: int, retry_after: float | None) -> Response:
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after is not None else {}
    if status in _HTML_5XX:
        return Response(
            _HTML_5XX[status], status_code=status, media_type="text/html", headers=headers
        )
    if status == 429:
        # The body Magento's backpressure limiter sends; proxies in front may send HTML instead.
        return (
            error(429, "Too Many Requests")
            if not headers
            else MagentoJSON({"message": "Too Many Requests"}, status_code=429, headers=headers)
        )
    report = secrets.token_hex(32)
    response = error(
        status,
        f"Internal Error. Details are available in Magento log file. Report ID: webapi-{report}",
    )
    response.headers.update(headers)
    return response


def _trim(request: Request, response: Response) -> Response:
    """Apply `?fields=` to a successful JSON answer (Magento allows it on every GET)."""
    spec = request.query_params.get("fields")
    if not spec or response.status_code != 200 or not isinstance(response, MagentoJSON):
        return response
    data = json.loads(bytes(response.body))
    return MagentoJSON(apply_fields(data, parse_fields(spec)))


# -- control API -----------------------------------------------------------------------------------


async def control(request: Request) -> Response:
    """`/_sandbox/...`: inspect and change the store from another process (no auth: local only)."""
    state: SandboxState = request.app.state.sandbox
    path = request.url.path.removeprefix("/_sandbox").rstrip("/")
    method = request.method
    body: dict[str, Any] = {}
    if method in ("POST", "PUT"):
        raw = await request.body()
        body = json.loads(raw) if raw else {}
    try:
        return await _control(state, request, method, path, body)
    except (KeyError, ValueError, SalesError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)


async def _control(
    state: SandboxState, request: Request, method: str, path: str, body: dict[str, Any]
) -> Response:
    parts = [p for p in path.split("/") if p]
    if method == "GET" and parts == ["info"]:
        base = (state.public_url or str(request.base_url)).rstrip("/")
        return JSONResponse(
            {
                "base_url": base,
                "token": state.integration_token,
                "admin_users": sorted(state.admin_users),
                "now": state.now(),
                "counts": {
                    name: len(state.collection(name))
                    for name in ("customers", "products", "orders", "invoices", "creditmemos")
                },
                "odd": state.odd,
            }
        )
    if method == "POST" and parts == ["generate"]:
        state.generate(
            seed=int(body.get("seed", 1)),
            customers=int(body.get("customers", 20)),
            products=int(body.get("products", 20)),
            orders=int(body.get("orders", 50)),
        )
        return JSONResponse({"ok": True})
    if parts == ["faults"]:
        if method == "DELETE":
            state.faults.clear()
            return JSONResponse({"ok": True})
        if method == "POST":
            fault = state.add_fault(**body)
            return JSONResponse({"ok": True, "fault": fault.__dict__})
    if method == "POST" and parts == ["clock", "advance"]:
        advance = getattr(state.clock, "advance", None)
        if advance is None:
            raise ValueError(
                "the sandbox runs on the system clock; only a FakeClock can be advanced"
            )
        advance(float(body.get("seconds", 0)))
        return JSONResponse({"now": state.now()})
    if method == "POST" and parts == ["tokens", "revoke"]:
        state.revoke_admin_tokens()
        return JSONResponse({"ok": True})
    if len(parts) == 3 and parts[2] == "edit" and method == "POST":
        kind, key = parts[0], parts[1]
        if kind == "customers":
            return JSONResponse(state.edit_customer(int(key), **body))
        if kind == "products":
            return JSONResponse(state.edit_product(key, **body))
        if kind == "orders":
            return JSONResponse(state.edit_order(int(key), **body))
    if method == "DELETE" and len(parts) == 2 and parts[0] in ("customers", "products"):
        gone = (
            state.delete_customer(int(parts[1]))
            if parts[0] == "customers"
            else state.delete_product(parts[1])
        )
        return JSONResponse({"deleted": gone}, status_code=200 if gone else 404)
    if method == "POST" and parts == ["orders"]:
        order = state.place_order(
            [(i["sku"], int(i.get("qty", 1))) for i in body.get("items", [])],
            customer_id=body.get("customer_id"),
            guest=body.get("guest"),
            store=body.get("store"),
            shipping=Decimal(str(body.get("shipping", "4.95"))),
            discount_percent=Decimal(str(body.get("discount_percent", 0))),
            coupon_code=body.get("coupon_code"),
            payment_method=body.get("payment_method", "checkmo"),
        )
        return JSONResponse(order)
    if method == "POST" and len(parts) == 3 and parts[0] == "orders" and parts[2] == "invoice":
        return JSONResponse(state.invoice_order(int(parts[1]), paid=bool(body.get("paid", True))))
    if method == "POST" and len(parts) == 3 and parts[0] == "orders" and parts[2] == "refund":
        qtys = {int(k): float(v) for k, v in body["qtys"].items()} if body.get("qtys") else None
        memo = state.refund_order(
            int(parts[1]),
            qtys=qtys,
            shipping_amount=body.get("shipping_amount"),
            adjustment_positive=body.get("adjustment_positive", 0),
            adjustment_negative=body.get("adjustment_negative", 0),
        )
        return JSONResponse(memo)
    return JSONResponse({"error": f"no control route {method} /_sandbox{path}"}, status_code=404)


def create_app(
    clock: Clock | None = None,
    *,
    seed: int | None = None,
    customers: int = 20,
    products: int = 20,
    orders: int = 50,
    integration_token: str = "sandbox-integration-token",
    admin_users: dict[str, str] | None = None,
    public_url: str | None = None,
) -> Starlette:
    """A Magento 2 REST emulator; with a `seed` it starts filled with generated data.

    The state is `app.state.sandbox` (a SandboxState). REST lives under `/rest/default/V1/`,
    `/rest/V1/`, `/rest/all/V1/` and `/rest/<store code>/V1/`; the control API under `/_sandbox/`.
    """
    state = SandboxState(
        clock, integration_token=integration_token, admin_users=admin_users, public_url=public_url
    )
    if seed is not None:
        state.generate(seed=seed, customers=customers, products=products, orders=orders)
    methods = ["GET", "POST", "PUT", "DELETE"]
    app = Starlette(
        routes=[
            Route("/rest/{rest_path:path}", rest, methods=methods),
            Route("/_sandbox/{control_path:path}", control, methods=methods),
        ]
    )
    app.state.sandbox = state
    return app
