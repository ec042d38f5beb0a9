"""The Accounting API under /api.xro/2.0: the call pipeline and the resource handlers.

Pipeline of every call, in Xero's order as far as it shows from outside: bearer token (401),
tenant (403), rate limits (429), then the sandbox's own hold gate and injected faults, then
conformance to the spec (400 ValidationException, see validation.py; a request is checked and
recorded on arrival, whatever answer it then gets), then Idempotency-Key memory for writes,
then the resource; after a write, webhook events are sealed into a delivery. Every answer
after the tenant check carries the X-...-Remaining headers, and every call is logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from xerobridge.sandboxes.xero import wire
from xerobridge.sandboxes.xero.accounts import delete_account, write_account
from xerobridge.sandboxes.xero.banktransactions import write_bank_transaction
from xerobridge.sandboxes.xero.banktransfers import shown_transfers, write_bank_transfer
from xerobridge.sandboxes.xero.contacts import write_contact
from xerobridge.sandboxes.xero.dates import parse_if_modified_since
from xerobridge.sandboxes.xero.documents import write_credit_note, write_invoice
from xerobridge.sandboxes.xero.errors import (
    ApiError,
    BadRequest,
    ElementInvalid,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    post_data_invalid,
    problem,
    validation_exception,
)
from xerobridge.sandboxes.xero.faults import FaultKind, FaultRule, SandboxConnectionReset
from xerobridge.sandboxes.xero.fields import SPEC_FIELDS
from xerobridge.sandboxes.xero.idempotency import (
    MAX_KEY_LENGTH,
    KeyConflict,
    StoredResponse,
    fingerprint,
)
from xerobridge.sandboxes.xero.identity import AccessToken
from xerobridge.sandboxes.xero.ids import is_guid
from xerobridge.sandboxes.xero.items import write_item
from xerobridge.sandboxes.xero.limits import Problem, RateLimited
from xerobridge.sandboxes.xero.organisation import ID_FIELDS, Organisation
from xerobridge.sandboxes.xero.payments import (
    allocation_view,
    allocation_writer,
    delete_allocation,
    write_payment,
)
from xerobridge.sandboxes.xero.query import (
    modified_since,
    paginate,
    parse_order,
    parse_where,
    sort_records,
)
from xerobridge.sandboxes.xero.requestlog import LoggedRequest
from xerobridge.sandboxes.xero.tracking import add_option, delete_category, write_tracking_category
from xerobridge.sandboxes.xero.validation import Outcome
from xerobridge.sandboxes.xero.writes import (
    ElementResult,
    Mode,
    WriteContext,
    Writer,
    elements_of,
    error_element,
    raise_if_summarised,
    run_batch,
)

if TYPE_CHECKING:
    from xerobridge.sandboxes.xero.state import SandboxState

logger = logging.getLogger(__name__)

PREFIX = "/api.xro/2.0"

WRITERS: dict[str, Writer] = {
    "Contacts": write_contact,
    "Items": write_item,
    "Invoices": write_invoice,
    "CreditNotes": write_credit_note,
    "Payments": write_payment,
    "BankTransactions": write_bank_transaction,
    "BankTransfers": write_bank_transfer,
    "Accounts": write_account,
    "TrackingCategories": write_tracking_category,
}
RESOURCES = {name.lower(): name for name in [*ID_FIELDS, "Organisation"]}
PAGED = frozenset({"Contacts", "Invoices", "CreditNotes", "Payments", "BankTransactions"})
# Unpaged lists of these come without line items (the spec's page descriptions).
LINES_WHEN_PAGED = frozenset({"Invoices", "CreditNotes", "BankTransactions"})
NO_MODIFIED_SINCE = frozenset({"TaxRates", "TrackingCategories"})
# Their spec schemas have no StatusAttributeString (the sandbox answers to the spec).
NO_STATUS_ATTRIBUTE = frozenset({"Accounts", "TrackingCategories", "BankTransfers"})
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
WRITE_METHODS = frozenset({"PUT", "POST", "DELETE"})
INJECTED_PROBLEMS = {
    FaultKind.RATE_MINUTE: Problem.MINUTE,
    FaultKind.RATE_DAY: Problem.DAY,
    FaultKind.RATE_CONCURRENT: Problem.CONCURRENT,
    FaultKind.RATE_APP_MINUTE: Problem.APP_MINUTE,
}


@dataclass
class Call:
    """One accounting call that got past authentication and the tenant check."""

    state: SandboxState
    request: Request
    token: AccessToken
    org: Organisation
    body: bytes
    now: datetime

    @property
    def unitdp(self) -> int:
        return 4 if self.request.query_params.get("unitdp") == "4" else 2

    @property
    def summarize(self) -> bool:
        # Real Xero summarises unless told summarizeErrors=false (the behaviour clients rely
        # on); the spec text declares the parameter's default as false.
        return self.request.query_params.get("summarizeErrors", "true").lower() != "false"

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError as exc:
            raise post_data_invalid(f"The request body is not valid JSON: {exc}") from exc

    def envelope(self, plural: str, records: list[dict[str, Any]], **extra: Any) -> JSONResponse:
        body = wire.envelope(
            plural,
            records,
            request_id=self.state.ids.guid(),
            now=self.now,
            provider_name=self.state.identity.apps[self.token.client_id].name,
            **extra,
        )
        return JSONResponse(body)

    def context(self, mode: Mode, path_id: str | None = None) -> WriteContext:
        return WriteContext(
            org=self.org,
            now=self.state.clock.now(),
            ids=self.state.ids,
            client_id=self.token.client_id,
            mode=mode,
            unitdp=self.unitdp,
            path_id=path_id,
        )


class DroppedConnection(Response):
    """A response that starts and then loses its connection (reset or lost after commit)."""

    def __init__(self, reason: str) -> None:
        super().__init__(status_code=200)
        self.reason = reason

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"1024")],
            }
        )
        raise SandboxConnectionReset(self.reason)


async def api_endpoint(request: Request) -> Response:
    """Every /api.xro/2.0 call enters here."""
    state: SandboxState = request.app.state.sandbox
    method = request.method.upper()
    path = request.url.path
    outcome = state.validate(method, path, request.url.query, await request.body())
    entry = LoggedRequest(
        time=state.clock.now(),
        tenant_id=None,
        method=method,
        path=path,
        query=request.url.query,
        status=0,
        idempotency_key=request.headers.get("idempotency-key"),
    )
    tenant_id: str | None = None
    try:
        token = state.identity.authenticate(request.headers.get("authorization"))
        tenant_id = _tenant(state, token, request)
        entry.tenant_id = tenant_id
        response = await _limited(state, request, token, tenant_id, entry, outcome)
    except ApiError as exc:
        response = exc.response()
    if tenant_id is not None:
        for name, value in state.limiter.headers(tenant_id).items():
            response.headers.setdefault(name, value)
    entry.status = response.status_code
    state.log.add(entry)
    return response


def _tenant(state: SandboxState, token: AccessToken, request: Request) -> str:
    header = (request.headers.get("xero-tenant-id") or "").strip().lower()
    if not header and token.custom_tenant_id:
        # Custom connections need no tenant header: they reach exactly one organisation.
        header = token.custom_tenant_id
    if (
        not header
        or header not in state.organisations
        or not state.identity.can_access(token, header)
    ):
        raise Forbidden("AuthenticationUnsuccessful")
    return header


async def _limited(
    state: SandboxState,
    request: Request,
    token: AccessToken,
    tenant_id: str,
    entry: LoggedRequest,
    outcome: Outcome | None,
) -> Response:
    try:
        state.limiter.admit(tenant_id)
    except RateLimited as exc:
        entry.rate_problem = exc.problem.value
        return _too_many(exc.problem, exc.retry_after, exc.headers)
    try:
        await state.wait_if_held()
        fault = state.faults.draw(tenant_id, request.method, request.url.path)
        if fault is not None:
            entry.fault = fault.kind.value
            early = await _early_fault(state, tenant_id, fault, entry)
            if early is not None:
                return early
        if (
            outcome is not None
            and outcome.problems
            and outcome.operation is not None  # else the router answers Xero's 404 or 405
            and state.validation == "enforce"
        ):
            entry.violation = True
            return _refuse(outcome)
        call = Call(
            state=state,
            request=request,
            token=token,
            org=state.organisations[tenant_id],
            body=await request.body(),
            now=state.clock.now(),
        )
        response = await _idempotent(call, entry)
        if request.method.upper() in WRITE_METHODS:
            state.webhooks.seal()  # the write is committed: its events become a delivery
        if fault is not None and fault.kind is FaultKind.LOST_RESPONSE:
            # The write is committed (and remembered under its Idempotency-Key); only the
            # answer is lost, which is the case exactly-once recovery exists for.
            logger.info("sandbox fault: response to %s %s lost", request.method, request.url.path)
            return DroppedConnection("sandbox fault: response lost after commit")
        return response
    finally:
        state.limiter.release(tenant_id)


def _refuse(outcome: Outcome) -> Response:
    """The answer to a request that does not conform to the spec: Xero's ValidationException.

    What real Xero answers differs by mistake (it ignores unknown properties, and a wrong type
    is a PostDataInvalidException or a per-element validation error); the sandbox answers one
    documented shape so that the client's mistake surfaces, naming every problem.
    """
    if not outcome.body_is_json:
        return post_data_invalid(
            outcome.problems[0][0].upper() + outcome.problems[0][1:]
        ).response()
    elements = [{"ValidationErrors": [{"Message": p} for p in outcome.problems]}]
    return validation_exception(elements).response()


def _too_many(problem_kind: Problem, retry_after: int | None, headers: dict[str, str]) -> Response:
    out = dict(headers)
    out["X-Rate-Limit-Problem"] = problem_kind.value
    if retry_after is not None:
        out["Retry-After"] = str(retry_after)
    body = problem(429, "Too Many Requests", f"Rate limit exceeded: {problem_kind.value}")
    return JSONResponse(body, status_code=429, headers=out)


async def _early_fault(
    state: SandboxState, tenant_id: str, fault: FaultRule, entry: LoggedRequest
) -> Response | None:
    """Faults that act before the resource is touched; None lets the call go on."""
    if fault.kind in INJECTED_PROBLEMS:
        problem_kind = INJECTED_PROBLEMS[fault.kind]
        state.limiter.record_injected(tenant_id, problem_kind)
        entry.rate_problem = problem_kind.value
        retry = None if problem_kind is Problem.CONCURRENT else fault.retry_after
        return _too_many(problem_kind, retry, state.limiter.headers(tenant_id))
    if fault.kind is FaultKind.ERROR_500:
        # Xero's 5xx bodies are not documented; the gateway's problem shape is used.
        return JSONResponse(
            problem(500, "An error occurred", "An error occurred in Xero (sandbox fault)"), 500
        )
    if fault.kind is FaultKind.ERROR_503:
        return JSONResponse(
            problem(503, "Service Unavailable", "The service is unavailable (sandbox fault)"),
            503,
        )
    if fault.kind is FaultKind.RESET:
        return DroppedConnection("sandbox fault: connection reset")
    if fault.kind is FaultKind.SLOW:
        await state.clock.sleep(fault.seconds)
    return None


async def _idempotent(call: Call, entry: LoggedRequest) -> Response:
    request = call.request
    key = request.headers.get("idempotency-key")
    if not key or request.method.upper() not in WRITE_METHODS:
        return await _route_safely(call)
    if len(key) > MAX_KEY_LENGTH:
        raise BadRequest(f"The Idempotency-Key must be at most {MAX_KEY_LENGTH} characters")
    store = call.state.idempotency
    scope = (call.token.client_id, call.org.tenant_id, key)
    print_ = fingerprint(request.method, request.url.path, request.url.query, call.body)
    try:
        stored = await store.begin(scope, print_)
    except KeyConflict as exc:
        # Xero answers a reused key with a different request with a 400; its body is not
        # documented, so the gateway's problem shape is used.
        raise BadRequest(
            "The Idempotency-Key has already been used with a different request"
        ) from exc
    if stored is not None:
        entry.replayed = True
        return Response(stored.body, stored.status, headers=stored.headers)
    try:
        response = await _route_safely(call)
    except BaseException:
        store.finish(scope, None)
        raise
    if response.status_code < 500:
        headers = {"content-type": response.headers.get("content-type", "application/json")}
        store.finish(scope, StoredResponse(response.status_code, bytes(response.body), headers))
    else:
        store.finish(scope, None)
    return response


async def _route_safely(call: Call) -> Response:
    try:
        return await _route(call)
    except ApiError as exc:
        return exc.response()


async def _route(call: Call) -> Response:
    method = call.request.method.upper()
    rest = call.request.url.path[len(PREFIX) :].strip("/")
    segments = [s for s in rest.split("/") if s]
    if not segments or segments[0].lower() not in RESOURCES:
        raise NotFound("unknown resource")
    plural = RESOURCES[segments[0].lower()]
    if plural == "Organisation":
        if len(segments) != 1:
            raise NotFound("unknown resource")
        _allow(method, "GET")
        return call.envelope("Organisations", [wire.render(call.org.organisation_record())])
    if plural == "TrackingCategories":
        return _tracking(call, method, segments)
    if len(segments) == 1:
        if method == "GET":
            return _list(call, plural)
        if plural == "TaxRates":
            # Creating or changing tax rates is not modelled by the sandbox.
            raise MethodNotAllowed(["GET"])
        if plural == "Accounts":
            _allow(method, "GET", "PUT")
        else:
            _allow(method, "GET", "PUT", "POST")
        if plural == "Payments" and method == "POST":
            # POST /Payments creates (a single payment, per the spec), it is not an upsert.
            return _write(call, plural, "create")
        return _write(call, plural, "create" if method == "PUT" else "upsert")
    record_ref = segments[1]
    if len(segments) == 2:
        if method == "GET":
            return _get_one(call, plural, record_ref)
        if method == "DELETE" and plural in ("Items", "Accounts"):
            return _delete(call, plural, record_ref)
        if plural == "TaxRates":
            raise MethodNotAllowed(["GET"])
        _allow(method, "GET", "POST", *(["DELETE"] if plural in ("Items", "Accounts") else []))
        return _write(call, plural, "upsert", path_id=record_ref)
    if plural == "CreditNotes" and segments[2].lower() == "allocations":
        if len(segments) == 3:
            _allow(method, "PUT")
            return _write(
                call, "Allocations", "create", writer=allocation_writer(record_ref.lower())
            )
        if len(segments) == 4:
            _allow(method, "DELETE")
            return _delete_allocation(call, record_ref, segments[3])
    # History, Attachments, pdf, OnlineInvoice, Email ... are Xero endpoints the sandbox does
    # not model.
    raise NotFound("not modelled by the sandbox")


def _tracking(call: Call, method: str, segments: list[str]) -> Response:
    """TrackingCategories: list, one, create, update, delete; options are added to one."""
    plural = "TrackingCategories"
    if len(segments) == 1:
        if method == "GET":
            return _list(call, plural)
        _allow(method, "GET", "PUT")
        return _write(call, plural, "create")
    ref = segments[1]
    if len(segments) == 2:
        if method == "GET":
            return _get_one(call, plural, ref)
        if method == "DELETE":
            return _single(call, plural, lambda ctx: delete_category(ctx, ref))
        _allow(method, "GET", "POST", "DELETE")
        return _write(call, plural, "upsert", path_id=ref)
    if len(segments) == 3 and segments[2].lower() == "options":
        _allow(method, "PUT")
        element = call.json()
        return _single(call, "Options", lambda ctx: add_option(ctx, ref, element))
    # Updating and deleting single options are Xero endpoints the sandbox does not model.
    raise NotFound("not modelled by the sandbox")


def _single(call: Call, plural: str, action: Callable[[WriteContext], dict[str, Any]]) -> Response:
    """A one-record action whose failure is the spec's summarised 400."""
    ctx = call.context("upsert")
    try:
        record = action(ctx)
    except ElementInvalid as exc:
        raise validation_exception(
            [{"ValidationErrors": [{"Message": m} for m in exc.messages]}]
        ) from exc
    shown = call.org.view("TrackingCategories", record) if plural != "Options" else record
    return call.envelope(plural, [wire.render(shown)])


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise MethodNotAllowed(list(allowed))


# ---- reads ----------------------------------------------------------------------------------


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _int(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise BadRequest(f"{name} must be an integer") from exc


def _list(call: Call, plural: str) -> Response:
    org = call.org
    params = call.request.query_params
    records = org.all(plural)
    flag = params.get("includeArchived", "false").lower() == "true"
    if plural == "Contacts" and not flag:
        records = [r for r in records if r.get("ContactStatus") != "ARCHIVED"]
    if plural == "Accounts":
        records = [r for r in records if r.get("Status") != "DELETED"]
    if plural == "BankTransfers":
        records = shown_transfers(records, params.get("includeDeleted", "false").lower() == "true")
    if plural == "TrackingCategories":
        shown = ("ACTIVE", "ARCHIVED") if flag else ("ACTIVE",)
        records = [
            {**r, "Options": [o for o in r["Options"] if o["Status"] in shown]}
            for r in records
            if r["Status"] in shown
        ]
    id_field = ID_FIELDS[plural]
    ids = {i.lower() for i in _csv(params.get("IDs"))}
    if ids:
        records = [r for r in records if str(r[id_field]).lower() in ids]
    if plural == "Invoices":
        numbers = {n.casefold() for n in _csv(params.get("InvoiceNumbers"))}
        if numbers:
            records = [r for r in records if (r.get("InvoiceNumber") or "").casefold() in numbers]
        contact_ids = {c.lower() for c in _csv(params.get("ContactIDs"))}
        if contact_ids:
            records = [r for r in records if r["_contact_id"] in contact_ids]
        statuses = {s.upper() for s in _csv(params.get("Statuses"))}
        if statuses:
            records = [r for r in records if r["Status"] in statuses]
        if params.get("createdByMyApp", "").lower() == "true":
            records = [r for r in records if r.get("_created_by") == call.token.client_id]
    term = (params.get("searchTerm") or "").casefold()
    if term and plural in ("Contacts", "Invoices"):
        fields = (
            ("Name", "FirstName", "LastName", "ContactNumber", "EmailAddress")
            if plural == "Contacts"
            else ("InvoiceNumber", "Reference")
        )
        records = [
            r for r in records if any(term in str(r.get(f) or "").casefold() for f in fields)
        ]
    since_header = call.request.headers.get("if-modified-since")
    if since_header and plural not in NO_MODIFIED_SINCE:
        try:
            since = parse_if_modified_since(since_header)
        except (TypeError, ValueError) as exc:
            raise BadRequest("If-Modified-Since is not a valid date") from exc
        records = [r for r in records if modified_since(r, since)]

    page = _int(params.get("page"), "page")
    page_size = _int(params.get("pageSize"), "pageSize")
    paged = plural in PAGED and (page is not None or page_size is not None)
    with_lines = paged or plural not in LINES_WHEN_PAGED
    views = [org.view(plural, r, lines=with_lines) for r in records]

    spec_fields = set(SPEC_FIELDS[plural])
    where = params.get("where")
    if where:
        predicate = parse_where(where, spec_fields)
        views = [v for v in views if predicate(v)]
    order = params.get("order")
    if order:
        sort_records(views, parse_order(order, spec_fields))

    extra: dict[str, Any] = {}
    if paged:
        size = min(max(page_size or DEFAULT_PAGE_SIZE, 1), MAX_PAGE_SIZE)
        views, extra["pagination"] = paginate(views, max(page or 1, 1), size)
    rendered = [wire.render(v, unitdp=call.unitdp) for v in views]
    return call.envelope(plural, rendered, **extra)


def _get_one(call: Call, plural: str, ref: str) -> Response:
    org = call.org
    record = org.get(plural, ref) if (is_guid(ref) or plural == "TaxRates") else None
    if record is None and not is_guid(ref):
        # GET /Contacts/{ContactNumber} is in the spec; Xero also takes an InvoiceNumber.
        if plural == "Contacts":
            record = org.contact_by_number(ref)
        elif plural == "Invoices":
            record = org.sales_invoice_by_number(ref)
        elif plural == "CreditNotes":
            record = org.sales_credit_note_by_number(ref)
    if record is None:
        raise NotFound(f"{plural} {ref}")
    return call.envelope(plural, [wire.render(org.view(plural, record), unitdp=call.unitdp)])


# ---- writes ---------------------------------------------------------------------------------


def _write(
    call: Call,
    plural: str,
    mode: Mode,
    *,
    path_id: str | None = None,
    writer: Writer | None = None,
) -> Response:
    elements = elements_of(call.json(), plural)
    if path_id is not None and len(elements) != 1:
        raise post_data_invalid("A request to a single resource must carry exactly one element")
    if plural == "Accounts":
        # PUT /Accounts takes one Account object; Xero processes only the first of a list
        # (Xero-Net#285).
        elements = elements[:1]
    results = run_batch(lambda: call.context(mode, path_id), elements, writer or WRITERS[plural])
    raise_if_summarised(results, plural, call.summarize)
    return call.envelope(plural, [_result_element(call, plural, r) for r in results])


def _result_element(call: Call, plural: str, result: ElementResult) -> dict[str, Any]:
    if not result.ok:
        return error_element(result, plural)
    assert result.record is not None
    if plural == "Allocations":
        element = wire.render(allocation_view(call.org, result.record), unitdp=call.unitdp)
    else:
        view = call.org.view(result.kind, result.record)
        element = wire.render(view, unitdp=call.unitdp)
    if plural not in NO_STATUS_ATTRIBUTE:
        element["StatusAttributeString"] = "OK"
    if result.warnings and plural in ("Invoices", "CreditNotes", "Payments"):
        element["Warnings"] = [{"Message": m} for m in result.warnings]
    return element


def _delete(call: Call, plural: str, ref: str) -> Response:
    ctx = call.context("upsert", ref)
    if plural == "Items":
        item = call.org.get("Items", ref) if is_guid(ref) else None
        if item is None:
            raise NotFound(ref)
        call.org.remove("Items", item["ItemID"])
        return Response(status_code=204)
    try:
        account = delete_account(ctx, ref)
    except ElementInvalid as exc:
        raise validation_exception(
            [{"AccountID": ref, "ValidationErrors": [{"Message": m} for m in exc.messages]}]
        ) from exc
    return call.envelope("Accounts", [wire.render(account)])


def _delete_allocation(call: Call, credit_note_id: str, allocation_id: str) -> Response:
    ctx = call.context("upsert")
    try:
        allocation = delete_allocation(ctx, credit_note_id, allocation_id)
    except ElementInvalid as exc:
        raise validation_exception(
            [{"ValidationErrors": [{"Message": m} for m in exc.messages]}]
        ) from exc
    rendered = wire.render(allocation_view(call.org, allocation))
    return call.envelope("Allocations", [rendered])
