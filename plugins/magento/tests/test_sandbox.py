"""The Magento sandbox: spec-faithful shapes, searchCriteria, auth, mutations, faults."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx

from xerobridge.clock import FakeClock
from xerobridge_magento.sandbox import ADMIN_TOKEN_LIFETIME, SandboxState
from xerobridge_magento.sandbox.sales import money_items

from magento_helpers import AUTH, REST, criteria, http_for, make_app, spec_definitions

STREAM_DEFINITIONS = {
    "customers": "customer-data-customer-interface",
    "products": "catalog-data-product-interface",
    "orders": "sales-data-order-interface",
    "invoices": "sales-data-invoice-interface",
    "creditmemos": "sales-data-creditmemo-interface",
}
SEARCH_DEFINITIONS = {
    "/customers/search": "customer-data-customer-search-results-interface",
    "/products": "catalog-data-product-search-results-interface",
    "/orders": "sales-data-order-search-result-interface",
    "/invoices": "sales-data-invoice-search-result-interface",
    "/creditmemos": "sales-data-creditmemo-search-result-interface",
    "/taxRates/search": "tax-data-tax-rate-search-results-interface",
}


def get(app: Any, path: str, params: Mapping[str, str] | None = None, **kw: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        async with http_for(app) as http:
            return await http.get(f"{REST}{path}", params=params, headers=kw.get("headers", AUTH))

    return asyncio.run(go())


def send(app: Any, method: str, url: str, body: Any = None, headers: Any = None) -> httpx.Response:
    async def go() -> httpx.Response:
        async with http_for(app) as http:
            return await http.request(
                method, url, json=body, headers=AUTH if headers is None else headers
            )

    return asyncio.run(go())


# -- shapes against the official spec --------------------------------------------------------------


def check_shape(value: Any, schema: Mapping[str, Any], where: str, problems: list[str]) -> None:
    """Collect every field not in the spec, or of an incompatible type, into `problems`."""
    defs = spec_definitions()
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = defs[name]
    kind = schema.get("type", "object")
    if value is None:
        problems.append(f"{where}: null (Magento leaves nulls out)")
        return
    if kind == "object":
        if not isinstance(value, dict):
            problems.append(f"{where}: expected object, got {type(value).__name__}")
            return
        props = schema.get("properties", {})
        for key, item in value.items():
            if key not in props:
                problems.append(f"{where}.{key}: not in the spec")
            else:
                check_shape(item, props[key], f"{where}.{key}", problems)
    elif kind == "array":
        if not isinstance(value, list):
            problems.append(f"{where}: expected array")
            return
        for n, item in enumerate(value):
            check_shape(item, schema.get("items", {}), f"{where}[{n}]", problems)
    else:
        ok = {
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "string": isinstance(value, str),
            "boolean": isinstance(value, bool),
        }.get(kind, True)
        if not ok:
            problems.append(f"{where}: {value!r} is not {kind}")


def test_record_shapes_use_only_spec_fields_with_compatible_types(clock: FakeClock) -> None:
    app = make_app(clock, seed=11, customers=30, products=60, orders=150)
    state: SandboxState = app.state.sandbox
    defs = spec_definitions()
    problems: list[str] = []
    for stream, definition in STREAM_DEFINITIONS.items():
        records = list(state.collection(stream))
        assert records, stream
        required = defs[definition].get("required", [])
        for record in records:
            check_shape(
                record,
                {"$ref": f"#/definitions/{definition}"},
                f"{stream}[{record.get('id', record.get('entity_id'))}]",
                problems,
            )
            missing = [f for f in required if f not in record]
            assert not missing, f"{stream} record lacks required {missing}"
    assert not problems, "\n".join(problems[:30])
    # the check itself notices a stray field and a wrong type
    wrong: list[str] = []
    order = {"grand_total": "12.00", "made_up": 1}
    check_shape(order, {"$ref": "#/definitions/sales-data-order-interface"}, "order", wrong)
    assert len(wrong) == 2


def test_search_envelopes_and_config_answers_match_spec(clock: FakeClock) -> None:
    app = make_app(clock, seed=3, customers=12, products=30, orders=30)
    problems: list[str] = []
    for path, definition in SEARCH_DEFINITIONS.items():
        response = get(app, path, criteria(page_size=5))
        assert response.status_code == 200, (path, response.text)
        body = response.json()
        assert set(body) == {"items", "search_criteria", "total_count"}
        check_shape(body, {"$ref": f"#/definitions/{definition}"}, path, problems)
    configs = get(app, "/store/storeConfigs").json()
    required = spec_definitions()["store-data-store-config-interface"]["required"]
    for config in configs:
        check_shape(
            config,
            {"$ref": "#/definitions/store-data-store-config-interface"},
            "storeConfigs",
            problems,
        )
        assert set(required) <= set(config)
    assert {c["base_currency_code"] for c in configs} == {"GBP"}
    assert {c["default_display_currency_code"] for c in configs} == {"GBP", "EUR"}
    assert configs[0]["base_url"] == "http://magento.test/"
    assert not problems, "\n".join(problems[:30])


# -- generator -------------------------------------------------------------------------------------


def _dump(state: SandboxState) -> str:
    return json.dumps(
        {s: list(state.collection(s)) for s in STREAM_DEFINITIONS} | {"odd": state.odd},
        sort_keys=True,
    )


def test_generator_is_deterministic_for_a_seed() -> None:
    def build(seed: int) -> str:
        state = SandboxState(FakeClock())
        state.generate(seed=seed, customers=25, products=40, orders=80)
        return _dump(state)

    assert build(5) == build(5)
    assert build(5) != build(6)


def test_generator_makes_the_variety_the_mapping_needs(clock: FakeClock) -> None:
    state: SandboxState = make_app(
        clock, seed=21, customers=40, products=80, orders=400
    ).state.sandbox
    assert (len(state.customers), len(state.products), len(state.orders)) == (40, 80, 400)
    orders = list(state.orders)
    assert any(o["customer_is_guest"] == 1 and "customer_id" not in o for o in orders)
    assert {o["order_currency_code"] for o in orders} == {"GBP", "EUR"}
    assert any(o["discount_amount"] < 0 and o.get("coupon_code") for o in orders)
    assert any(o["shipping_amount"] > 0 for o in orders)
    percents = {i["tax_percent"] for o in orders for i in money_items(o)}
    assert {20.0, 5.0, 0.0, 19.0, 17.5} <= percents
    types = {i["product_type"] for o in orders for i in o["items"]}
    assert {"simple", "configurable", "bundle"} <= types
    children = [i for o in orders for i in o["items"] if "parent_item_id" in i]
    assert children and all(i["parent_item"]["item_id"] == i["parent_item_id"] for i in children)
    # Tax-inclusive store: the excl. price has 4 decimals, the incl. price is what was shown.
    de = [i for o in orders if o["store_id"] == 2 for i in money_items(o)]
    assert any(round(i["price"], 2) != i["price"] for i in de)
    assert any(o["discount_tax_compensation_amount"] > 0 for o in orders)
    states = {o["state"] for o in orders}
    assert {"new", "processing", "canceled"} <= states
    memos = list(state.creditmemos)
    assert any(m["grand_total"] < state.orders.records[m["order_id"]]["grand_total"] for m in memos)
    # odd records for the mapping's tests
    odd = state.odd
    assert "<script>" in state.customers.records[odd["script_customer"]]["firstname"]
    long_skus = [state.products.records[i]["sku"] for i in odd["long_sku_products"]]
    assert all(len(s) > 30 for s in long_skus) and long_skus[0][:30] == long_skus[1][:30]
    long_name = state.customers.records[odd["long_name_customer"]]
    assert len(long_name["firstname"] + " " + long_name["lastname"]) > 255
    assert any(
        not c["firstname"].isascii() for c in state.customers if c["id"] in odd["unicode_customers"]
    )
    assert state.products.records[odd["four_decimal_product"]]["price"] == 8.3333
    legacy = state.orders.records[odd["legacy_tax_order"]]
    assert 17.5 in {i["tax_percent"] for i in legacy["items"]}


def _d(value: float) -> Decimal:
    return Decimal(str(value))


def test_documents_add_up_to_the_cent(clock: FakeClock) -> None:
    state: SandboxState = make_app(
        clock, seed=8, customers=30, products=80, orders=500
    ).state.sandbox
    for order in state.orders:
        for p in ("", "base_"):
            lines = money_items(order)
            assert sum(_d(i[p + "row_total"]) for i in lines) == _d(order[p + "subtotal"])
            item_tax = sum(_d(i[p + "tax_amount"]) for i in lines)
            assert item_tax + _d(order[p + "shipping_tax_amount"]) == _d(order[p + "tax_amount"])
            assert -sum(_d(i[p + "discount_amount"]) for i in lines) == _d(
                order[p + "discount_amount"]
            )
            grand = (
                _d(order[p + "subtotal"])
                + _d(order[p + "tax_amount"])
                + _d(order[p + "discount_tax_compensation_amount"])
                + _d(order[p + "shipping_amount"])
                + _d(order[p + "discount_amount"])
            )
            assert grand == _d(order[p + "grand_total"]), order["increment_id"]
            applied = sum(
                _d(t["amount" if not p else "base_amount"])
                for t in order["extension_attributes"]["applied_taxes"]
            )
            assert applied == _d(order[p + "tax_amount"]) + _d(
                order[p + "discount_tax_compensation_amount"]
            )
        refunded = sum(
            (
                _d(m["grand_total"])
                for m in state.creditmemos
                if m["order_id"] == order["entity_id"]
            ),
            Decimal(0),
        )
        assert refunded == _d(order["total_refunded"])
        assert refunded <= _d(order["grand_total"]) + _d(order.get("adjustment_positive", 0))
    for memo in state.creditmemos:
        grand = (
            _d(memo["subtotal"])
            + _d(memo["tax_amount"])
            + _d(memo["discount_tax_compensation_amount"])
            + _d(memo["shipping_amount"])
            + _d(memo["discount_amount"])
            + _d(memo["adjustment"])
        )
        assert grand == _d(memo["grand_total"])
    for invoice in state.invoices:
        assert invoice["grand_total"] == state.orders.records[invoice["order_id"]]["grand_total"]


def test_generation_and_paged_reads_scale(clock: FakeClock) -> None:
    """Large stores stay fast: reading page 1 of a change window does not scan every order."""
    app = make_app(clock, seed=2, customers=200, products=100, orders=2000)
    state: SandboxState = app.state.sandbox
    assert len(state.orders) == 2000
    watermark = state.orders.updated_index[1000][0]
    response = get(
        app,
        "/orders",
        criteria((0, "updated_at", watermark, "gteq"), sort=(("updated_at", "ASC"),), page_size=50),
    )
    body = response.json()
    assert body["total_count"] == sum(1 for o in state.orders if o["updated_at"] >= watermark)
    stamps = [o["updated_at"] for o in body["items"]]
    assert stamps == sorted(stamps) and stamps[0] >= watermark


# -- searchCriteria --------------------------------------------------------------------------------


def test_filters_conditions_and_groups(clock: FakeClock) -> None:
    app = make_app(clock, seed=4, customers=30, products=40, orders=60)
    state: SandboxState = app.state.sandbox
    one = next(iter(state.customers))
    found = get(app, "/customers/search", criteria((0, "email", one["email"].upper(), "eq"))).json()
    assert [c["id"] for c in found["items"]] == [one["id"]]  # MySQL compares case-insensitively
    ids = sorted(state.customers.records)[:3]
    found = get(
        app, "/customers/search", criteria((0, "entity_id", ",".join(map(str, ids)), "in"))
    ).json()
    assert sorted(c["id"] for c in found["items"]) == ids
    like = get(app, "/customers/search", criteria((0, "email", "%@example.com", "like"))).json()
    assert like["total_count"] == sum(
        1 for c in state.customers if c["email"].endswith("@example.com")
    )
    # OR inside a group, AND across groups
    params = criteria(
        (0, "customer_is_guest", "1", "eq"),
        (0, "order_currency_code", "EUR", "eq"),
        (1, "state", "canceled", "neq"),
    )
    got = {o["entity_id"] for o in get(app, "/orders", params).json()["items"]}
    want = {
        o["entity_id"]
        for o in state.orders
        if (o["customer_is_guest"] == 1 or o["order_currency_code"] == "EUR")
        and o["state"] != "canceled"
    }
    assert got == want and got
    # camelCase (the spec) and snake_case (the docs) mean the same
    low = criteria((0, "grand_total", "50", "lt"), sort=(("grand_total", "DESC"),))
    camel = criteria((0, "grand_total", "50", "lt"), sort=(("grand_total", "DESC"),), camel=True)
    a, b = get(app, "/orders", low).json(), get(app, "/orders", camel).json()
    assert a["items"] == b["items"] and a["items"]
    totals = [o["grand_total"] for o in a["items"]]
    assert totals == sorted(totals, reverse=True) and max(totals) < 50
    assert a["search_criteria"]["sort_orders"] == [{"field": "grand_total", "direction": "DESC"}]


def test_page_past_the_end_returns_the_last_page_again(clock: FakeClock) -> None:
    app = make_app(clock, seed=4, customers=23, products=10, orders=0)
    sort = (("entity_id", "ASC"),)
    last = get(app, "/customers/search", criteria(sort=sort, page_size=10, page=3)).json()
    past = get(app, "/customers/search", criteria(sort=sort, page_size=10, page=9)).json()
    assert len(last["items"]) == 3 and past["items"] == last["items"]
    assert past["total_count"] == 23
    assert past["search_criteria"]["current_page"] == 9  # echoes the request, so nothing tells
    zero = get(app, "/customers/search", criteria(sort=sort, page_size=10, page=0)).json()
    first = get(app, "/customers/search", criteria(sort=sort, page_size=10, page=1)).json()
    assert zero["items"] == first["items"]


def test_search_criteria_is_required_and_unknown_fields_are_refused(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, customers=3, products=3, orders=2)
    missing = get(app, "/orders")
    assert missing.status_code == 400
    assert missing.json()["parameters"] == {"fieldName": "searchCriteria"}
    assert get(app, "/orders", {"searchCriteria": ""}).json()["total_count"] == 2
    unknown = get(app, "/orders", criteria((0, "no_such_field", "1", "eq")))
    assert unknown.status_code == 400 and "no_such_field" in json.dumps(unknown.json())


def test_fields_parameter_trims_answers(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, customers=5, products=3, orders=0)
    params = criteria(page_size=2) | {"fields": "items[id,email],total_count"}
    body = get(app, "/customers/search", params).json()
    assert set(body) == {"items", "total_count"}
    assert all(set(c) == {"id", "email"} for c in body["items"])


# -- auth ------------------------------------------------------------------------------------------


def test_requests_without_a_valid_token_get_magentos_401(clock: FakeClock) -> None:
    app = make_app(clock)
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = get(app, "/orders", criteria(), headers=headers)
        assert response.status_code == 401
        assert response.json() == {
            "message": "The consumer isn't authorized to access %resources.",
            "parameters": {"resources": "Magento_Sales::actions_view"},
        }
    assert get(app, "/orders", criteria()).status_code == 200


def test_admin_token_flow_expiry_and_lockout(clock: FakeClock) -> None:
    app = make_app(clock, admin_users={"api": "s3cret"})
    url = f"{REST}/integration/admin/token"
    bad = send(app, "POST", url, {"username": "api", "password": "nope"}, headers={})
    assert bad.status_code == 401 and "sign-in was incorrect" in bad.json()["message"]
    missing = send(app, "POST", url, {"username": "api"}, headers={})
    assert missing.status_code == 400 and missing.json()["errors"][0]["parameters"] == {
        "fieldName": "password"
    }
    good = send(app, "POST", url, {"username": "api", "password": "s3cret"}, headers={})
    token = good.json()
    assert good.status_code == 200 and isinstance(token, str)
    headers = {"Authorization": f"Bearer {token}"}
    assert get(app, "/orders", criteria(), headers=headers).status_code == 200
    clock.advance(ADMIN_TOKEN_LIFETIME.total_seconds() - 1)
    assert get(app, "/orders", criteria(), headers=headers).status_code == 200
    clock.advance(1)
    assert get(app, "/orders", criteria(), headers=headers).status_code == 401
    # six failures lock the account for 30 minutes, even for the right password
    for _ in range(6):
        send(app, "POST", url, {"username": "api", "password": "nope"}, headers={})
    assert (
        send(app, "POST", url, {"username": "api", "password": "s3cret"}, headers={}).status_code
        == 401
    )
    clock.advance(1800)
    assert (
        send(app, "POST", url, {"username": "api", "password": "s3cret"}, headers={}).status_code
        == 200
    )


def test_base_paths_and_unknown_routes(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, customers=3, products=3, orders=1)

    async def go() -> list[httpx.Response]:
        async with http_for(app) as http:
            out = []
            for prefix in ("/rest/V1", "/rest/all/V1", "/rest/de/V1", "/rest/default/V1"):
                out.append(await http.get(f"{prefix}/orders", params=criteria(), headers=AUTH))
            out.append(await http.get("/rest/default/V1/nothing", headers=AUTH))
            out.append(await http.get("/rest/nostore/V1/orders", params=criteria(), headers=AUTH))
            return out

    *ok, no_route, no_store = asyncio.run(go())
    assert [r.status_code for r in ok] == [200] * 4
    assert no_route.status_code == 404 and no_route.json() == {
        "message": "Request does not match any route."
    }
    assert no_store.status_code == 400


# -- mutations -------------------------------------------------------------------------------------


def test_edits_bump_updated_at_and_deletes_leave_no_trace(clock: FakeClock) -> None:
    app = make_app(clock, seed=9, customers=10, products=12, orders=10)
    state: SandboxState = app.state.sandbox
    customer = next(iter(state.customers))
    before = customer["updated_at"]
    clock.advance(60)
    state.edit_customer(customer["id"], lastname="Changed")
    assert customer["updated_at"] > before and customer["updated_at"] == state.now()
    found = get(app, "/customers/search", criteria((0, "updated_at", state.now(), "gteq"))).json()
    assert [c["id"] for c in found["items"]] == [customer["id"]]

    assert send(app, "DELETE", f"{REST}/customers/{customer['id']}").json() is True
    assert get(app, f"/customers/{customer['id']}").status_code == 404
    everyone = get(app, "/customers/search", criteria()).json()
    assert customer["id"] not in {c["id"] for c in everyone["items"]}
    assert everyone["total_count"] == 9

    sku = next(iter(state.products))["sku"]
    assert state.delete_product(sku)
    assert get(app, f"/products/{sku}").status_code == 404
    assert sku not in {p["sku"] for p in get(app, "/products", criteria()).json()["items"]}


def test_order_invoice_refund_through_rest_and_state(clock: FakeClock) -> None:
    app = make_app(clock, seed=9, customers=10, products=30, orders=0)
    state: SandboxState = app.state.sandbox
    skus = [p["sku"] for p in state.products if p["type_id"] == "simple"][:2]
    customer = next(iter(state.customers))
    order = state.place_order(
        [(skus[0], 2), (skus[1], 1)], customer_id=customer["id"], discount_percent=10
    )
    assert order["state"] == "new" and order["customer_is_guest"] == 0
    clock.advance(5)
    invoice_id = send(
        app, "POST", f"{REST}/order/{order['entity_id']}/invoice", {"capture": True}
    ).json()
    invoice = get(app, f"/invoices/{invoice_id}").json()
    assert invoice["state"] == 2 and invoice["grand_total"] == order["grand_total"]
    assert order["state"] == "processing" and order["total_paid"] == order["grand_total"]
    clock.advance(5)
    line = money_items(order)[0]
    memo_id = send(
        app,
        "POST",
        f"{REST}/order/{order['entity_id']}/refund",
        {
            "items": [{"order_item_id": line["item_id"], "qty": 1}],
            "arguments": {"adjustment_negative": 1.5},
        },
    ).json()
    memo = get(app, f"/creditmemo/{memo_id}").json()  # singular path for one credit memo
    assert memo["invoice_id"] == invoice_id and memo["adjustment_negative"] == 1.5
    assert 0 < memo["grand_total"] < order["grand_total"]
    assert order["state"] == "processing" and order["total_refunded"] == memo["grand_total"]
    rest = state.refund_order(order["entity_id"])  # everything left, shipping included
    total = _d(memo["grand_total"]) + _d(rest["grand_total"])
    assert total == _d(order["grand_total"]) - Decimal("1.5")
    assert order["state"] == "closed"
    guest = state.place_order([(skus[0], 1)], guest={"email": "g@example.net", "city": "Leeds"})
    assert guest["customer_is_guest"] == 1 and "customer_id" not in guest
    assert send(app, "POST", f"{REST}/orders/{guest['entity_id']}/cancel").json() is True
    assert guest["state"] == "canceled"


# -- faults ----------------------------------------------------------------------------------------


def test_faults_on_demand(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, customers=3, products=3, orders=1)
    state: SandboxState = app.state.sandbox
    state.add_fault(503, times=2, path="/V1/orders")
    state.add_fault(429, path="/V1/products", retry_after=30)
    state.add_fault(500, path="/V1/invoices")
    state.add_fault(None, path="/V1/customers", delay=45)
    assert get(app, "/orders", criteria()).status_code == 503
    assert get(app, "/orders", criteria()).headers["content-type"].startswith("text/html")
    assert get(app, "/orders", criteria()).status_code == 200
    throttled = get(app, "/products", criteria())
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "30"
    broken = get(app, "/invoices", criteria())
    assert broken.status_code == 500 and "Report ID" in broken.json()["message"]
    before = clock.now()
    assert get(app, "/customers/search", criteria()).status_code == 200
    assert (clock.now() - before).total_seconds() == 45  # slow, on the fake clock only
    assert not state.faults


def test_optional_rate_limit(clock: FakeClock) -> None:
    from xerobridge_magento.sandbox import RateLimit

    app = make_app(clock)
    app.state.sandbox.rate_limit = RateLimit(requests=2, per_seconds=10)
    codes = [get(app, "/orders", criteria()).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    clock.advance(10)
    assert get(app, "/orders", criteria()).status_code == 200


def test_control_api(clock: FakeClock) -> None:
    app = make_app(clock)

    async def go() -> dict[str, Any]:
        async with http_for(app) as http:
            await http.post(
                "/_sandbox/generate", json={"seed": 3, "customers": 10, "products": 12, "orders": 5}
            )
            info = (await http.get("/_sandbox/info")).json()
            cid = next(iter(app.state.sandbox.customers))["id"]
            await http.post("/_sandbox/clock/advance", json={"seconds": 120})
            edited = (
                await http.post(f"/_sandbox/customers/{cid}/edit", json={"firstname": "Neu"})
            ).json()
            sku = next(p["sku"] for p in app.state.sandbox.products if p["type_id"] == "simple")
            order = (
                await http.post(
                    "/_sandbox/orders", json={"customer_id": cid, "items": [{"sku": sku, "qty": 2}]}
                )
            ).json()
            invoice = (
                await http.post(f"/_sandbox/orders/{order['entity_id']}/invoice", json={})
            ).json()
            memo = (
                await http.post(f"/_sandbox/orders/{order['entity_id']}/refund", json={})
            ).json()
            await http.post("/_sandbox/faults", json={"status": 502, "path": "/V1/orders"})
            faulted = await http.get(f"{REST}/orders", params=criteria(), headers=AUTH)
            deleted = await http.delete(f"/_sandbox/customers/{cid}")
            return {
                "info": info,
                "edited": edited,
                "invoice": invoice,
                "memo": memo,
                "faulted": faulted.status_code,
                "deleted": deleted.json(),
                "now": app.state.sandbox.now(),
            }

    out = asyncio.run(go())
    assert out["info"]["token"] == "sandbox-integration-token"
    assert out["info"]["base_url"] == "http://magento.test"
    assert out["info"]["counts"]["customers"] == 10
    assert out["edited"]["firstname"] == "Neu" and out["edited"]["updated_at"] == out["now"]
    assert out["memo"]["grand_total"] == out["invoice"]["grand_total"]
    assert out["faulted"] == 502 and out["deleted"] == {"deleted": True}
