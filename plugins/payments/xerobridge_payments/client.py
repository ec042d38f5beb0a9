"""A client for the Alternative Payments API: customers, invoices, payments, payouts.

Requests go through `ClientCredentials` (token cached until it expires, every request paced to
5 a second per API key); a 429 holds the key for its Retry-After and the request is sent again a
few times before it becomes RetryLater. Lists page by cursor (`limit`, `after` = the previous
`end_cursor`, `has_next_page`), flat as the reference pages show it or nested under
`pagination` as the older quick-start guide does. Amounts are exact: Decimal (int when a
whole number arrives), never float.

UNVERIFIED (not in the published reference; the sandbox implements them as assumed here):
`external_id` on customers and invoices and the `external_id` / `email` list filters,
`PATCH /customers/{id}`, `PATCH /invoices/{id}`, `POST /invoices/{id}/mark_paid`,
`POST /invoices/{id}/external_payments`, `type` values `payment` / `refund` / `chargeback`
on `/payments`, and `original_payment_id` on refunds and chargebacks.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import quote

import httpx

from xerobridge.sdk import Clock, SystemClock, retry_after
from xerobridge_payments.auth import ClientCredentials
from xerobridge_payments.errors import (
    PaymentsAuthError,
    PaymentsConfigError,
    PaymentsNotFound,
    PaymentsRequestError,
    PaymentsUnavailable,
)
from xerobridge_payments.pacer import Pacer, WindowPacer

log = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 100
#: 429s in a row for one request before it becomes RetryLater for the caller's backoff.
MAX_THROTTLED = 4
CENT = Decimal("0.01")


def money(value: Any) -> Decimal:
    """An amount as Decimal to the cent (numbers from JSON arrive as Decimal already)."""
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC, as the platform's filters take it (naive datetimes are UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """An RFC 3339 time from the platform as an aware UTC datetime."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class Line:
    """One invoice line: `amount` is the unit amount; the line's total is amount x quantity."""

    description: str
    amount: Decimal
    quantity: Decimal = Decimal(1)

    def as_json(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "amount": _number(money(self.amount)),
            "quantity": _number(self.quantity),
        }


@dataclass(frozen=True)
class Page:
    """One page of a list: its records and where the next one starts."""

    records: list[dict[str, Any]]
    has_next: bool
    end_cursor: str | None


class PaymentsClient:
    """The platform's REST API for one API key, on an `httpx.AsyncClient` passed in."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        clock: Clock | None = None,
        pacer: Pacer | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        max_throttled: int = MAX_THROTTLED,
    ) -> None:
        if not client_id or not client_secret:
            raise ValueError("PaymentsClient needs a client_id and a client_secret")
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.clock: Clock = clock or SystemClock()
        self.pacer: Pacer = pacer or WindowPacer(self.clock)
        self.auth = ClientCredentials(
            self.base_url, client_id, client_secret, clock=self.clock, pacer=self.pacer
        )
        self.page_size = page_size
        self.max_throttled = max_throttled

    @property
    def where(self) -> str:
        return f"the payments platform at {self.base_url}"

    # -- requests ----------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        what: str = "",
    ) -> Any:
        """Call an API path and return the decoded JSON; `what` names the record in errors."""
        url = f"{self.base_url}{path}"
        label = what or f"{method} {path}"
        for attempt in range(self.max_throttled + 1):
            try:
                response = await self.http.request(
                    method,
                    url,
                    params=dict(params) if params else None,
                    content=json.dumps(_jsonable(body)).encode() if body is not None else None,
                    headers={"Content-Type": "application/json"} if body is not None else None,
                    auth=self.auth,
                )
            except PaymentsUnavailable as exc:  # the token request was throttled
                if exc.status != 429 or attempt == self.max_throttled:
                    raise
                self.pacer.hold(self.client_id, exc.retry_after or 1.0)
                continue
            except httpx.UnsupportedProtocol:
                raise PaymentsConfigError(
                    f"{self.base_url} is not an http(s) URL: check the source's base_url setting"
                ) from None
            except httpx.TimeoutException:
                raise PaymentsUnavailable(
                    f"{self.where} did not answer {method} {path} in time ({label}); "
                    "it will be tried again later"
                ) from None
            except httpx.TransportError as exc:
                raise PaymentsUnavailable(
                    f"{self.where} could not be reached for {method} {path} ({exc}); "
                    "it will be tried again later"
                ) from None
            if response.status_code != 429:
                return self._decode(response, method, path, label)
            wait = retry_after(response) or 1.0
            self.pacer.hold(self.client_id, wait)
            if attempt == self.max_throttled:
                raise PaymentsUnavailable(
                    f"{self.where} throttled {method} {path} ({label}) {attempt + 1} times in a "
                    "row (HTTP 429); it will be tried again later",
                    status=429,
                    retry_after=wait,
                )
            log.info("429 for %s %s; waiting %.1f s", method, path, wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _decode(self, response: httpx.Response, method: str, path: str, label: str) -> Any:
        status = response.status_code
        kind = response.headers.get("content-type", "")
        body = _json(response)
        if status >= 500 or status == 408:
            detail = _message(body) if isinstance(body, dict) else "an error page"
            raise PaymentsUnavailable(
                f"{self.where} failed {method} {path} ({label}) with HTTP {status} ({detail}); "
                "it will be tried again later",
                status=status,
                retry_after=retry_after(response),
            )
        if status == 401:
            raise PaymentsAuthError(
                f"{self.where} refused the access token of client_id {self.client_id!r} for "
                f"{method} {path}: check the source's client_id and client_secret settings"
            )
        if status == 403:
            raise PaymentsAuthError(
                f"{self.where} does not let client_id {self.client_id!r} {method} {path} "
                f"({_message(body) or 'forbidden'}): give the API key read and write access "
                "in the Partner Dashboard, or set another client_id",
                status=403,
            )
        if status == 404:
            if not isinstance(body, dict) or not ({"code", "message"} & body.keys()):
                raise PaymentsConfigError(
                    f"{self.where} has no API route {method} {path}: check the source's "
                    f"base_url setting (e.g. https://public-api.alternativepayments.io)",
                    status=404,
                )
            raise PaymentsNotFound(
                f"{label}: not found on the payments platform ({_message(body) or 'HTTP 404'})",
                status=404,
                code=_code(body),
            )
        if status >= 400:
            field, reason = _first_problem(body)
            raise PaymentsRequestError(
                f"{label}: the payments platform refused it (HTTP {status}): {reason}",
                status=status,
                code=_code(body),
                field=field,
            )
        if status == 204 or not response.content:
            return None
        if body is _NOT_JSON:
            if "json" in kind:
                # JSON promised but not parseable: an answer cut off on the way, not a setting.
                raise PaymentsUnavailable(
                    f"{self.where} answered {method} {path} with JSON that does not parse "
                    "(cut off?); it will be tried again later",
                    status=status,
                )
            raise PaymentsConfigError(
                f"{self.where} answered {method} {path} with {kind or 'no content type'}, "
                "not JSON: check the source's base_url setting",
                status=status,
            )
        return body

    # -- paging ------------------------------------------------------------------------------------

    async def page(
        self, path: str, params: Mapping[str, str] | None = None, *, after: str | None = None
    ) -> Page:
        """One page of a list; accepts the flat envelope and the older nested `pagination`."""
        query = {**(params or {}), "limit": str(self.page_size)}
        if after:
            query["after"] = after
        body = await self.request("GET", path, params=query, what=f"the list {path}")
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise PaymentsConfigError(
                f"GET {path} on {self.base_url} did not answer with a list ({{data: [...]}}): "
                "check the source's base_url setting"
            )
        paging = body.get("pagination") if isinstance(body.get("pagination"), dict) else body
        end = paging.get("end_cursor")
        return Page(
            records=[r for r in data if isinstance(r, dict)],
            has_next=bool(paging.get("has_next_page")),
            end_cursor=str(end) if end else None,
        )

    async def iter_list(
        self, path: str, params: Mapping[str, str] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every record of a list, page after page, each once."""
        after: str | None = None
        seen: set[str] = set()
        while True:
            page = await self.page(path, params, after=after)
            for record in page.records:
                key = str(record.get("id"))
                if key in seen:
                    continue
                seen.add(key)
                yield record
            if not page.has_next:
                return
            if not page.end_cursor or page.end_cursor == after:
                # A page that does not move on would loop forever, and trusting it could skip
                # records: the read stops here and is tried again.
                raise PaymentsUnavailable(
                    f"{self.where} answered GET {path} with a page that does not move on "
                    f"(end_cursor {page.end_cursor!r} after {after!r}); it will be tried again "
                    "later"
                )
            after = page.end_cursor

    # -- customers ---------------------------------------------------------------------------------

    async def get_customer(self, customer_id: str) -> dict[str, Any]:
        """One customer by the platform's id."""
        return await self._get(f"/customers/{_seg(customer_id)}", f"customer {customer_id}")

    async def find_customer(
        self, *, external_id: str | None = None, email: str | None = None
    ) -> dict[str, Any] | None:
        """The customer with this external id (first) or email, archived ones last; or None."""
        for name, value in (("external_id", external_id), ("email", email)):
            if not value:
                continue
            found = [r async for r in self.iter_list("/customers", {name: value})]
            if name == "email":
                found = [r for r in found if str(r.get("email", "")).casefold() == value.casefold()]
            else:
                found = [r for r in found if r.get("external_id") == value]
            found.sort(key=lambda r: r.get("status") == "archived")
            if found:
                return found[0]
        return None

    async def create_customer(
        self, *, name: str, email: str, external_id: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """A new customer; `external_id` carries the Xero ContactID the platform keeps."""
        body = {"name": name, "email": email, **extra}
        if external_id:
            body["external_id"] = external_id
        return await self._send("POST", "/customers", body, f"customer {name!r} <{email}>")

    async def update_customer(self, customer_id: str, **changes: Any) -> dict[str, Any]:
        """Change a customer's name, email, company_name, ..."""
        return await self._send(
            "PATCH", f"/customers/{_seg(customer_id)}", changes, f"customer {customer_id}"
        )

    def iter_customers(
        self, *, created_since: datetime | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Customers, optionally those created at or after a time."""
        params = {"created_at_start": format_time(created_since)} if created_since else {}
        return self.iter_list("/customers", params)

    # -- invoices ----------------------------------------------------------------------------------

    async def get_invoice(self, invoice_id: str) -> dict[str, Any]:
        """One invoice by the platform's id."""
        return await self._get(f"/invoices/{_seg(invoice_id)}", f"invoice {invoice_id}")

    async def find_invoice(self, external_id: str) -> dict[str, Any] | None:
        """The invoice that carries this external id (the Xero InvoiceID), or None."""
        found = [
            r
            async for r in self.iter_list("/invoices", {"external_id": external_id})
            if r.get("external_id") == external_id
        ]
        found.sort(key=lambda r: r.get("status") == "archived")
        return found[0] if found else None

    async def create_invoice(
        self,
        *,
        customer_id: str,
        lines: Iterable[Line],
        due_date: date,
        external_id: str | None = None,
        invoice_number: str | None = None,
        currency: str = "USD",
        memo: str | None = None,
    ) -> dict[str, Any]:
        """A new invoice; `external_id` carries the Xero InvoiceID so it can be found again."""
        body: dict[str, Any] = {
            "customer_id": customer_id,
            "currency": currency,
            "due_date": due_date.isoformat(),
            "line_items": [line.as_json() for line in lines],
        }
        for name, value in (
            ("external_id", external_id),
            ("invoice_number", invoice_number),
            ("memo", memo),
        ):
            if value:
                body[name] = value
        what = f"invoice {invoice_number or external_id or ''} for customer {customer_id}"
        return await self._send("POST", "/invoices", body, what.replace("  ", " "))

    async def update_invoice(
        self,
        invoice_id: str,
        *,
        lines: Iterable[Line] | None = None,
        due_date: date | None = None,
        memo: str | None = None,
    ) -> dict[str, Any]:
        """Change an unpaid invoice's lines (and so its amount), due date or memo."""
        body: dict[str, Any] = {}
        if lines is not None:
            body["line_items"] = [line.as_json() for line in lines]
        if due_date is not None:
            body["due_date"] = due_date.isoformat()
        if memo is not None:
            body["memo"] = memo
        return await self._send(
            "PATCH", f"/invoices/{_seg(invoice_id)}", body, f"invoice {invoice_id}"
        )

    async def record_external_payment(
        self,
        invoice_id: str,
        *,
        amount: Decimal,
        reference: str,
        paid_on: date,
        kind: str = "payment",
    ) -> dict[str, Any]:
        """Reduce an invoice's balance by a payment or credit made outside the platform (Xero).

        `reference` (the Xero PaymentID or CreditNoteID) makes it idempotent: the platform
        keeps one per reference, so a repeat after a lost answer records nothing twice.
        """
        if kind not in ("payment", "credit"):
            raise ValueError("kind is 'payment' or 'credit'")
        body = {
            "amount": money(amount),
            "reference": reference,
            "date": paid_on.isoformat(),
            "kind": kind,
        }
        return await self._send(
            "POST",
            f"/invoices/{_seg(invoice_id)}/external_payments",
            body,
            f"{kind} {reference} on invoice {invoice_id}",
        )

    async def mark_invoice_paid(
        self, invoice_id: str, *, reference: str, paid_on: date
    ) -> dict[str, Any]:
        """Mark an invoice paid outside the platform (its whole balance); paid is left alone."""
        return await self._send(
            "POST",
            f"/invoices/{_seg(invoice_id)}/mark_paid",
            {"reference": reference, "date": paid_on.isoformat()},
            f"invoice {invoice_id}",
        )

    def iter_invoices(
        self,
        *,
        created_since: datetime | None = None,
        created_before: datetime | None = None,
        status: str | None = None,
        customer_id: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Invoices, filtered by creation time, status or customer."""
        params: dict[str, str] = {}
        if created_since:
            params["created_at_start"] = format_time(created_since)
        if created_before:
            params["created_at_end"] = format_time(created_before)
        if status:
            params["status"] = status
        if customer_id:
            params["customer_id"] = customer_id
        return self.iter_list("/invoices", params)

    # -- payments ----------------------------------------------------------------------------------

    async def get_payment(self, payment_id: str) -> dict[str, Any]:
        """One transaction (payment, refund or chargeback) by id, with its fees."""
        return await self._get(f"/payments/{_seg(payment_id)}", f"payment {payment_id}")

    def iter_payments(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        type: str | None = "payment",
        status: str | None = None,
        invoice_id: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Transactions created at or after `since` (and before `until`), with their fees.

        `type` is "payment", "refund" or "chargeback" (None: all of them).
        """
        params: dict[str, str] = {}
        if since:
            params["created_at_start"] = format_time(since)
        if until:
            params["created_at_end"] = format_time(until)
        if type:
            params["type"] = type
        if status:
            params["status"] = status
        if invoice_id:
            params["invoice_id"] = invoice_id
        return self.iter_list("/payments", params)

    def iter_refunds(self, *, since: datetime | None = None) -> AsyncIterator[dict[str, Any]]:
        """Refunds created at or after `since`; `original_payment_id` names their payment."""
        return self.iter_payments(since=since, type="refund")

    def iter_chargebacks(self, *, since: datetime | None = None) -> AsyncIterator[dict[str, Any]]:
        """Chargebacks created at or after `since`; `original_payment_id` names their payment."""
        return self.iter_payments(since=since, type="chargeback")

    # -- payouts -----------------------------------------------------------------------------------

    async def get_payout(self, payout_id: str) -> dict[str, Any]:
        """One payout by id: `sub_total`, `fees`, and `total` (what reaches the bank)."""
        return await self._get(f"/payouts/{_seg(payout_id)}", f"payout {payout_id}")

    def iter_payouts(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        status: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Payouts created at or after `since` (and before `until`)."""
        params: dict[str, str] = {}
        if since:
            params["start_date"] = format_time(since)
        if until:
            params["end_date"] = format_time(until)
        if status:
            params["status"] = status
        return self.iter_list("/payouts", params)

    async def payout_transactions(self, payout_id: str) -> list[dict[str, Any]]:
        """The transactions (payments, refunds, chargebacks) a payout rolled up."""
        return [r async for r in self.iter_list(f"/payouts/{_seg(payout_id)}/transactions")]

    # -- helpers -----------------------------------------------------------------------------------

    async def _get(self, path: str, what: str) -> dict[str, Any]:
        record = await self.request("GET", path, what=what)
        return self._record(record, "GET", path)

    async def _send(
        self, method: str, path: str, body: Mapping[str, Any], what: str
    ) -> dict[str, Any]:
        record = await self.request(method, path, body=body, what=what)
        return self._record(record, method, path)

    def _record(self, record: Any, method: str, path: str) -> dict[str, Any]:
        if not isinstance(record, dict) or "id" not in record:
            raise PaymentsConfigError(
                f"{method} {path} on {self.base_url} did not answer with a record: check the "
                "source's base_url setting"
            )
        return record


# -- JSON ------------------------------------------------------------------------------------------

_NOT_JSON = object()


def _json(response: httpx.Response) -> Any:
    """The body as JSON with exact decimals, or _NOT_JSON."""
    if not response.content:
        return None
    try:
        return json.loads(response.content, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        return _NOT_JSON


def _number(value: Decimal) -> Any:
    # A two-place Decimal becomes the float whose shortest repr is the same digits, so the
    # JSON text carries exactly the cents.
    return int(value) if value == value.to_integral_value() else float(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _number(value)
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _message(body: Any) -> str:
    return str(body.get("message") or "") if isinstance(body, dict) else ""


def _code(body: Any) -> str | None:
    code = body.get("code") if isinstance(body, dict) else None
    return str(code) if code is not None else None


def _first_problem(body: Any) -> tuple[str | None, str]:
    """The field the platform's validation named first, and the whole reason in one line."""
    if not isinstance(body, dict):
        return None, "no error details"
    errors = body.get("validation_errors")
    pairs: list[tuple[str, str]] = []
    if isinstance(errors, dict):
        pairs = [(str(k), _flat(v)) for k, v in errors.items()]
    elif isinstance(errors, list):
        pairs = [
            (str(e.get("field", "?")), _flat(e.get("message", "invalid")))
            for e in errors
            if isinstance(e, dict)
        ]
    message = _message(body) or str(body.get("code") or "no error details")
    if not pairs:
        return None, message
    detail = "; ".join(f"{field}: {reason}" for field, reason in pairs)
    return pairs[0][0], f"{detail} ({message})" if message else detail


def _flat(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return " ".join(str(value).split())


def _seg(value: str) -> str:
    return quote(str(value), safe="")
