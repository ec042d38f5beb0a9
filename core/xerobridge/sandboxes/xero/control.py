"""The control API under /_sandbox: what tests do through `app.state.sandbox`, over HTTP.

For a sandbox served in another process (`xerobridge sandbox`, benchmarks). It has no
authentication: a sandbox is a development tool and must not be exposed beyond the machine.
Tenant `default` names the organisation the sandbox started with.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from xerobridge.sandboxes.xero.faults import FaultKind
from xerobridge.sandboxes.xero.organisation import ID_FIELDS
from xerobridge.sandboxes.xero.writes import elements_of

if TYPE_CHECKING:
    from xerobridge.sandboxes.xero.state import SandboxState

PREFIX = "/_sandbox"


def _state(request: Request) -> SandboxState:
    return request.app.state.sandbox


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


def _tenant(state: SandboxState, value: str | None) -> str:
    if not value or value == "default":
        return state.default_tenant_id
    if value.lower() not in state.organisations:
        raise KeyError(value)
    return value.lower()


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def overview(request: Request) -> Response:
    state = _state(request)
    return JSONResponse(
        {
            "now": state.clock.now().isoformat(),
            "defaultTenantId": state.default_tenant_id,
            "organisations": [
                {
                    "tenantId": org.tenant_id,
                    "name": org.name,
                    "shortCode": org.short_code,
                    "counts": org.counts(),
                }
                for org in state.organisations.values()
            ],
            "apps": [
                {"client_id": app.client_id, "custom_tenant_id": app.custom_tenant_id}
                for app in state.identity.apps.values()
            ],
        }
    )


async def add_organisation(request: Request) -> Response:
    state = _state(request)
    body = await _body(request)
    # "region": "AU" (the default) or "UK"; another answers 400.
    org = state.add_organisation(
        str(body.get("name") or "Sandbox Organisation"), region=str(body.get("region") or "AU")
    )
    return JSONResponse(
        {
            "tenantId": org.tenant_id,
            "name": org.name,
            "shortCode": org.short_code,
            "region": org.region,
        }
    )


async def add_app(request: Request) -> Response:
    state = _state(request)
    body = await _body(request)
    custom = body.get("custom_tenant_id")
    app = state.register_app(
        body.get("client_id"),
        body.get("client_secret"),
        redirect_uris=body.get("redirect_uris"),
        custom_tenant_id=_tenant(state, custom) if custom else None,
    )
    return JSONResponse(
        {
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "redirect_uris": app.redirect_uris,
            "custom_tenant_id": app.custom_tenant_id,
        }
    )


async def mint_tokens(request: Request) -> Response:
    state = _state(request)
    body = await _body(request)
    tenants = [_tenant(state, t) for t in body.get("tenant_ids") or ["default"]]
    kwargs: dict[str, Any] = {"client_id": body.get("client_id"), "tenant_ids": tenants}
    if body.get("scope"):
        kwargs["scope"] = body["scope"]
    return JSONResponse(state.issue_tokens(**kwargs))


async def expire_tokens(request: Request) -> Response:
    _state(request).identity.expire_access_tokens()
    return JSONResponse({"expired": True})


async def disconnect(request: Request) -> Response:
    state = _state(request)
    body = await _body(request)
    count = state.disconnect(_tenant(state, body.get("tenant_id")), body.get("client_id"))
    return JSONResponse({"disconnected": count})


async def records(request: Request) -> Response:
    """GET lists a kind's records; POST writes them through the API's rules (no limits)."""
    state = _state(request)
    tenant_id = _tenant(state, request.path_params["tenant"])
    plural = {k.lower(): k for k in ID_FIELDS}.get(request.path_params["plural"].lower())
    if plural is None:
        return _error(404, "unknown resource")
    if request.method == "GET":
        return JSONResponse({plural: state.records(plural, tenant_id)})
    body = await _body(request)
    try:
        written = state.seed(
            plural,
            elements_of(body, plural),
            tenant_id=tenant_id,
            upsert=request.query_params.get("upsert") == "true",
        )
    except ValueError as exc:
        return _error(400, str(exc))
    return JSONResponse({plural: written})


async def faults(request: Request) -> Response:
    state = _state(request)
    if request.method == "DELETE":
        state.faults.clear()
        return JSONResponse({"faults": []})
    if request.method == "POST":
        body = await _body(request)
        tenant = body.get("tenant_id")
        rule = state.faults.add(
            FaultKind(body["kind"]),
            times=body.get("times"),
            probability=body.get("probability"),
            tenant_id=_tenant(state, tenant) if tenant else None,
            methods=body.get("methods"),
            path_contains=body.get("path_contains"),
            seconds=float(body.get("seconds", 5.0)),
            retry_after=int(body.get("retry_after", 60)),
        )
        if body.get("seed") is not None:
            state.faults.reseed(int(body["seed"]))
        return JSONResponse(rule.snapshot())
    return JSONResponse({"faults": state.faults.snapshot(), "history": state.faults.history})


async def faults_spec(request: Request) -> Response:
    """GET the faults spec in force; POST `{"spec": "503:0.05,slow:0.1"}` (or the spec as a
    plain-text body) to replace it while the sandbox runs; an empty spec removes those faults."""
    state = _state(request)
    if request.method == "POST":
        raw = (await request.body()).decode()
        spec = raw
        if raw.strip().startswith("{"):
            spec = str(json.loads(raw).get("spec") or "")
        state.faults.set_spec(spec)
    return JSONResponse({"spec": state.faults.spec, "faults": state.faults.snapshot()})


async def violations(request: Request) -> Response:
    """The requests that broke Xero's spec (GET), or forget them (DELETE)."""
    state = _state(request)
    if request.method == "DELETE":
        state.violations.clear()
    return JSONResponse(
        {"validation": state.validation, "violations": [v.snapshot() for v in state.violations]}
    )


async def stats(request: Request) -> Response:
    state = _state(request)
    tenant_id = _tenant(state, request.query_params.get("tenant_id"))
    return JSONResponse(
        {
            "tenantId": tenant_id,
            **state.stats(tenant_id),
            "idempotentReplays": state.idempotency.replays,
        }
    )


async def limits(request: Request) -> Response:
    state = _state(request)
    body = await _body(request)
    config = state.limiter.config
    if "daily" in body:
        tenant = body.get("tenant_id")
        state.limiter.set_daily_limit(
            int(body["daily"]), _tenant(state, tenant) if tenant else None
        )
    for key in ("minute", "concurrent", "app_minute"):
        if key in body:
            setattr(config, key, int(body[key]))
    if "enforce" in body:
        config.enforce = bool(body["enforce"])
    return JSONResponse(
        {
            "concurrent": config.concurrent,
            "minute": config.minute,
            "daily": config.daily,
            "app_minute": config.app_minute,
            "enforce": config.enforce,
            "daily_overrides": state.limiter.daily_overrides,
        }
    )


async def requests_log(request: Request) -> Response:
    state = _state(request)
    if request.method == "DELETE":
        state.log.clear()
        return JSONResponse({"requests": []})
    tenant = request.query_params.get("tenant_id")
    entries = state.log.for_tenant(_tenant(state, tenant)) if tenant else state.log.entries
    return JSONResponse({"requests": [e.snapshot() for e in entries]})


async def webhooks_pending(request: Request) -> Response:
    hooks = _state(request).webhooks
    return JSONResponse(
        {
            "url": hooks.url,
            "events": list(hooks.pending),
            "outbox": [d.payload() for d in hooks.outbox],
            "sent": hooks.sent,
        }
    )


async def webhooks_url(request: Request) -> Response:
    """POST `{"url": "http://127.0.0.1:8765/xero/webhooks"}` (null to stop sending)."""
    state = _state(request)
    body = await _body(request)
    url = body.get("url")
    state.webhooks.url = str(url) if url else None
    state.webhooks.seal()
    return JSONResponse({"url": state.webhooks.url})


async def webhooks_deliver(request: Request) -> Response:
    """Deliver the queued events to a URL (the sandbox makes a real HTTP request)."""
    state = _state(request)
    body = await _body(request)
    async with httpx.AsyncClient(timeout=10) as client:
        response = await state.webhooks.flush(client, str(body["url"]))
    if response is None:
        return JSONResponse({"delivered": 0})
    return JSONResponse({"status": response.status_code})


async def webhooks_intent(request: Request) -> Response:
    """Run Xero's intent-to-receive check against a URL: it must answer 200 then 401."""
    state = _state(request)
    body = await _body(request)
    results = []
    async with httpx.AsyncClient(timeout=10) as client:
        for delivery in state.webhooks.intent_to_receive():
            response = await state.webhooks.deliver(client, str(body["url"]), delivery)
            results.append({"expected": delivery.expected_status, "status": response.status_code})
    passed = all(r["expected"] == r["status"] for r in results)
    return JSONResponse({"passed": passed, "results": results})


async def advance_clock(request: Request) -> Response:
    state = _state(request)
    body = await _body(request)
    advance = getattr(state.clock, "advance", None)
    if advance is None:
        return _error(409, "the sandbox runs on a real clock; only a FakeClock can be advanced")
    advance(float(body.get("seconds", 0)))
    return JSONResponse({"now": state.clock.now().isoformat()})


async def hold(request: Request) -> Response:
    _state(request).hold()
    return JSONResponse({"held": True})


async def release(request: Request) -> Response:
    _state(request).release()
    return JSONResponse({"held": False})


async def reset_traffic(request: Request) -> Response:
    _state(request).reset_traffic()
    return JSONResponse({"reset": True})


def _guarded(endpoint: Any) -> Any:
    async def run(request: Request) -> Response:
        try:
            return await endpoint(request)
        except KeyError as exc:
            return _error(404, f"unknown: {exc}")
        except (ValueError, TypeError) as exc:
            return _error(400, str(exc))

    return run


def routes() -> list[Route]:
    table = [
        ("", overview, ["GET"]),
        ("/organisations", add_organisation, ["POST"]),
        ("/apps", add_app, ["POST"]),
        ("/tokens", mint_tokens, ["POST"]),
        ("/tokens/expire", expire_tokens, ["POST"]),
        ("/disconnect", disconnect, ["POST"]),
        ("/tenants/{tenant}/{plural}", records, ["GET", "POST"]),
        ("/faults", faults, ["GET", "POST", "DELETE"]),
        ("/faults/spec", faults_spec, ["GET", "POST"]),
        ("/stats", stats, ["GET"]),
        ("/violations", violations, ["GET", "DELETE"]),
        ("/limits", limits, ["POST"]),
        ("/requests", requests_log, ["GET", "DELETE"]),
        ("/webhooks/pending", webhooks_pending, ["GET"]),
        ("/webhooks/url", webhooks_url, ["POST"]),
        ("/webhooks/deliver", webhooks_deliver, ["POST"]),
        ("/webhooks/intent", webhooks_intent, ["POST"]),
        ("/clock/advance", advance_clock, ["POST"]),
        ("/hold", hold, ["POST"]),
        ("/release", release, ["POST"]),
        ("/reset-traffic", reset_traffic, ["POST"]),
    ]
    return [Route(PREFIX + path, _guarded(fn), methods=methods) for path, fn, methods in table]
