"""The one way xerobridge talks to Xero's Accounting API.

Every call takes a rate-limit slot for its connection, carries the access token and the
`xero-tenant-id`, is counted per connection per day, and is retried here when a retry is safe
and quick: a 429 waits as Xero says, a 5xx or a lost connection backs off, a 401 refreshes the
token once. What cannot be settled quickly becomes one of the core's errors (RetryLater,
NeedsPerson, Permanent) for the queue to deal with.

Writes are two steps so that exactly-once can be kept around them: `prepare_write` stores the
exact body and its Idempotency-Key (in the caller's transaction, next to the links it marks in
flight), and `send_write` sends that stored body, so any retry, even after a crash, resends the
identical bytes with the identical key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any, Protocol

import httpx
from sqlmodel import Session

from xerobridge.clock import Clock
from xerobridge.contract.errors import NeedsPerson, Permanent, RetryLater
from xerobridge.store import usage
from xerobridge.store.db import Store
from xerobridge.store.models import ActionLog, Connection, WriteAttempt
from xerobridge.xero.objects import BATCH_SIZE, XeroObject, xero_object
from xerobridge.xero.ratelimit import RateLimiter, Slot

log = logging.getLogger(__name__)

PAGE_SIZE = 1000


class TokenSource(Protocol):
    """Where the client gets access tokens (xerobridge.xero.auth.TokenManager)."""

    async def access_token(self, connection_id: int) -> str: ...

    async def on_unauthorized(self, connection_id: int, token: str) -> str: ...


@dataclass(frozen=True)
class ElementResult:
    """Xero's answer for one document of a batch write.

    `ok` without a `xero_id` means Xero most likely made the document but did not say as
    what: a batch refused in part where the spec allows no summarizeErrors (BankTransfers)
    is answered with the refused elements alone. Such a document is found by its natural key.
    """

    index: int
    ok: bool
    xero_id: str | None
    record: Mapping[str, Any]
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        """Xero's validation messages, verbatim, joined."""
        return "; ".join(self.errors)

    @property
    def unconfirmed(self) -> bool:
        """Taken, as far as the answer tells, but with no id: look it up by its natural key."""
        return self.ok and not self.xero_id


@dataclass
class Retry:
    """How the client retries within one call: few tries, short waits, injected clock."""

    attempts: int = 4
    base: float = 1.0
    cap: float = 30.0
    #: A 429 that asks to wait longer than this is handed back to the queue instead.
    max_wait: float = 90.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        """Seconds before retry `attempt` (1-based), with jitter."""
        return min(self.cap, self.base * 2 ** (attempt - 1)) * (0.5 + 0.5 * self.rng.random())


#: Documents that name a contact; Xero creates a new contact for an unknown Contact.Name.
_WITH_CONTACT = frozenset({"Invoice", "CreditNote", "BankTransaction"})


def contact_problem(kind: str, document: Mapping[str, Any]) -> str | None:
    """Why a document must not be sent as it is: it names its contact without a ContactID.

    Xero matches a Contact given only by Name, and creates a new one when the name is not
    found exactly, so a renamed customer would silently become a second contact.
    """
    if kind not in _WITH_CONTACT:
        return None
    contact = document.get("Contact")
    if isinstance(contact, Mapping) and contact.get("ContactID"):
        return None
    key = next(
        (str(document[f]) for f in ("InvoiceNumber", "CreditNoteNumber", "Reference") if
         document.get(f)),
        "(no number)",
    )  # fmt: skip
    return f"{kind} {key}: its Contact has no ContactID; push the contact first, refer to its id"


def idempotency_key(method: str, path: str, body: str) -> str:
    """The key for a write: a hash of exactly what is sent, so the same bytes get the same key."""
    return hashlib.sha256(f"{method} {path}\n{body}".encode()).hexdigest()


class XeroClient:
    """Calls to Xero for any connection of this installation."""

    def __init__(
        self,
        store: Store,
        tokens: TokenSource,
        *,
        http: httpx.AsyncClient,
        limiter: RateLimiter | None = None,
        clock: Clock | None = None,
        worker_id: str = "",
        retry: Retry | None = None,
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.http = http
        self.clock = clock or store.clock
        self.limiter = limiter or RateLimiter(store, clock=self.clock)
        self.worker_id = worker_id
        self.retry = retry or Retry()
        # What this client spent, for summaries and benchmarks (the store has the daily totals).
        self.read_calls = 0
        self.write_calls = 0
        self.rate_limited = 0

    @property
    def calls(self) -> int:
        """HTTP requests made so far by this client (retries included)."""
        return self.read_calls + self.write_calls

    # -- the call ---------------------------------------------------------------------------------

    async def request(
        self,
        connection_id: int,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        content: str | None = None,
        if_modified_since: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """One API call with limits, auth, counting and quick retries; 2xx and 4xx returned."""
        conn = self._connection(connection_id)
        url = f"{conn.api_url.rstrip('/')}/{path.lstrip('/')}"
        headers = {"Accept": "application/json", "xero-tenant-id": conn.tenant_id}
        if content is not None:
            headers["Content-Type"] = "application/json"
        if if_modified_since is not None:
            headers["If-Modified-Since"] = format_datetime(if_modified_since, usegmt=True)
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            token = await self.tokens.access_token(connection_id)
            slot = await self.limiter.acquire(connection_id, self.worker_id)
            if method == "GET":
                self.read_calls += 1
            else:
                self.write_calls += 1
            try:
                response = await self.http.request(
                    method,
                    url,
                    params=params,
                    content=content,
                    headers={**headers, "Authorization": f"Bearer {token}"},
                )
            except httpx.TransportError as exc:
                self._finish(slot, None)
                if attempt >= self.retry.attempts:
                    raise RetryLater(
                        f"Xero could not be reached ({type(exc).__name__}: {exc}); will try again"
                    ) from None
                await self.clock.sleep(self.retry.delay(attempt))
                continue
            self._finish(slot, response)
            status = response.status_code
            if status == 429:
                self.rate_limited += 1
                wait, hand_back = self._on_429(conn, response)
                if hand_back or attempt >= self.retry.attempts:
                    raise RetryLater(
                        f"Xero's {_problem(response)} limit is reached; waiting as it asked",
                        retry_after=wait,
                    )
                await self.clock.sleep(wait)
                continue
            if status == 401 and not refreshed:
                refreshed = True
                await self.tokens.on_unauthorized(connection_id, token)
                attempt -= 1  # the refresh, not the call, failed
                continue
            if status in (401, 403):
                raise self._needs_person(conn, response)
            if status >= 500:
                if attempt >= self.retry.attempts:
                    raise RetryLater(f"Xero answered {status} {response.reason_phrase}; will retry")
                await self.clock.sleep(self.retry.delay(attempt))
                continue
            return response

    def _connection(self, connection_id: int) -> Connection:
        with self.store.transaction() as s:
            conn = s.get(Connection, connection_id)
        if conn is None:
            raise NeedsPerson(f"Xero connection {connection_id} no longer exists")
        if not conn.api_url or not conn.tenant_id:
            raise NeedsPerson(f"Xero connection {conn.name} is not connected yet")
        return conn

    def _finish(self, slot: Slot, response: httpx.Response | None) -> None:
        """Release the slot, count the call, and slow down before Xero has to refuse."""
        self.limiter.release(slot)
        now = self.clock.now()
        status = response.status_code if response is not None else 599
        with self.store.transaction() as s:
            usage.count_call(
                s, slot.connection_id, now.date(), status=status, dialect=self.store.dialect
            )
        if response is None:
            return
        minute = _int_header(response, "X-MinLimit-Remaining")
        day = _int_header(response, "X-DayLimit-Remaining")
        app_minute = _int_header(response, "X-AppMinLimit-Remaining")
        if day == 0:
            # The day window resets at a time Xero does not tell; probe again in an hour.
            self.limiter.park(slot.connection_id, now + timedelta(hours=1), "daily limit spent")
        elif minute == 0 or app_minute == 0:
            # The minute is spent (by us or by another app on this organisation). Xero does not
            # say when its window resets, so wait a whole one: that never earns a 429.
            window = self.limiter.limits.window
            self.limiter.park(slot.connection_id, now + window, "minute limit spent")

    def _on_429(self, conn: Connection, response: httpx.Response) -> tuple[float, bool]:
        """Park the connection as Xero asks; the seconds to wait, and whether to hand back."""
        problem = _problem(response)
        retry_after = _float_header(response, "Retry-After")
        assert conn.id is not None
        if problem == "concurrent":
            # No Retry-After for this kind: a short pause lets in-flight calls end.
            return retry_after or 1.0, False
        wait = retry_after if retry_after is not None else self.limiter.limits.window.seconds
        until = self.clock.now() + timedelta(seconds=wait)
        self.limiter.park(conn.id, until, f"429 {problem}")
        # A day limit, or a long wait, is the queue's to sit out, not this call's.
        return wait, problem == "day" or wait > self.retry.max_wait

    def _needs_person(self, conn: Connection, response: httpx.Response) -> NeedsPerson:
        reason = (
            f"Xero refused access to organisation {conn.tenant_name or conn.name} "
            f"({response.status_code}: {_detail(response)}); reconnect it with `xerobridge "
            "connect` or check the app's scopes"
        )
        with self.store.transaction() as s:
            row = s.get(Connection, conn.id)
            if row is not None:
                row.status, row.status_reason = "error", reason
                s.add(row)
            s.add(ActionLog(at=self.clock.now(), connection_id=conn.id, level="action",
                            message=reason))  # fmt: skip
        return NeedsPerson(reason)

    # -- reads ------------------------------------------------------------------------------------

    async def get_json(
        self,
        connection_id: int,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        if_modified_since: datetime | None = None,
    ) -> dict[str, Any]:
        """GET one path and its JSON; a 304 (nothing modified) is an empty dict."""
        response = await self.request(
            connection_id, "GET", path, params=params, if_modified_since=if_modified_since
        )
        if response.status_code == 304:
            return {}
        if response.status_code >= 400:
            raise Permanent(f"Xero refused GET {path}: {_detail(response)}")
        return dict(response.json())

    async def records(
        self,
        connection_id: int,
        kind: str,
        *,
        where: str | None = None,
        if_modified_since: datetime | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every record of a kind, 1,000 a page where the resource pages, oldest change first."""
        res = xero_object(kind)
        query: dict[str, Any] = dict(params or {})
        if where:
            query["where"] = where
        if res.unitdp:
            query["unitdp"] = 4
        if res.paged:
            query["pageSize"] = PAGE_SIZE
        page = 1
        while True:
            if res.paged:
                query["page"] = page
            body = await self.get_json(
                connection_id, res.plural, params=query, if_modified_since=if_modified_since
            )
            items = body.get(res.plural) or []
            for item in items:
                yield item
            if not res.paged or len(items) < PAGE_SIZE:
                return
            page += 1

    # -- writes -----------------------------------------------------------------------------------

    def prepare_write(
        self,
        session: Session,
        connection_id: int,
        kind: str,
        documents: Sequence[Mapping[str, Any]],
        *,
        method: str = "POST",
    ) -> WriteAttempt:
        """Store one batch's exact request (in the caller's transaction) before it is sent."""
        if not 0 < len(documents) <= BATCH_SIZE:
            raise ValueError(f"a batch holds 1 to {BATCH_SIZE} documents, not {len(documents)}")
        res = xero_object(kind)
        if res.create_method != "POST":
            method = res.create_method
        for document in documents:
            if problem := contact_problem(res.kind, document):
                raise ValueError(problem)  # the caller checks each document before batching
        path = res.plural
        if res.kind == "Allocation":
            documents, path, method = _allocation_request(documents)
        payload: Any = {res.plural: list(documents)}
        if not res.envelope:
            if len(documents) != 1:
                raise ValueError(f"{res.plural} are written one at a time")
            payload, method = dict(documents[0]), "PUT"
        body = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        attempt = WriteAttempt(
            connection_id=connection_id,
            xero_type=res.kind,
            method=method,
            path=path,
            body=body,
            idempotency_key=idempotency_key(method, path, body),
            prepared_at=self.clock.now(),
        )
        session.add(attempt)
        session.flush()
        return attempt

    async def send_write(self, attempt: WriteAttempt) -> list[ElementResult]:
        """Send a stored write as it was stored; one result per document, in order."""
        res = xero_object(attempt.xero_type)
        params: dict[str, Any] = {}
        if res.summarize_errors:
            params["summarizeErrors"] = "false"
        if res.unitdp:
            params["unitdp"] = 4
        with self.store.transaction() as s:
            row = s.get(WriteAttempt, attempt.id)
            if row is not None:
                row.sent_at = self.clock.now()
                s.add(row)
        response = await self.request(
            attempt.connection_id,
            attempt.method,
            attempt.path,
            params=params,
            content=attempt.body,
            idempotency_key=attempt.idempotency_key,
        )
        sent = json.loads(attempt.body)
        submitted = sent[res.plural] if res.envelope else [sent]
        results = _element_results(res, submitted, response)
        with self.store.transaction() as s:
            row = s.get(WriteAttempt, attempt.id)
            if row is not None:
                row.settled_at = self.clock.now()
                row.outcome = "ok" if all(r.ok for r in results) else "partial"
                s.add(row)
        return results

    async def write(
        self,
        connection_id: int,
        kind: str,
        documents: Sequence[Mapping[str, Any]],
        *,
        method: str = "POST",
    ) -> list[ElementResult]:
        """Prepare and send documents in batches of 50 (for callers with no links to keep)."""
        results: list[ElementResult] = []
        size = xero_object(kind).write_size
        for start in range(0, len(documents), size):
            chunk = documents[start : start + size]
            with self.store.transaction() as s:
                attempt = self.prepare_write(s, connection_id, kind, chunk, method=method)
            for result in await self.send_write(attempt):
                results.append(
                    ElementResult(
                        start + result.index, result.ok, result.xero_id, result.record,
                        result.errors, result.warnings,
                    )
                )  # fmt: skip
        return results


def _allocation_request(
    documents: Sequence[Mapping[str, Any]],
) -> tuple[list[dict[str, Any]], str, str]:
    """An allocation goes to its credit note's own path; the key fields stay on our side."""
    if len(documents) != 1:
        raise ValueError("allocations are written one at a time")
    document = dict(documents[0])
    credit_note = document.pop("CreditNote", None) or {}
    for key_field in xero_object("Allocation").key_fields:  # ours, not Xero's Allocation's
        document.pop(key_field, None)
    credit_note_id = credit_note.get("CreditNoteID")
    if not credit_note_id:
        raise ValueError("an Allocation needs CreditNote.CreditNoteID")
    return [document], f"CreditNotes/{credit_note_id}/Allocations", "PUT"


def _element_results(
    res: XeroObject, submitted: list[dict[str, Any]], response: httpx.Response
) -> list[ElementResult]:
    """Read each element's outcome; a whole-request refusal fails every element with its reason."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 400:
        elements = body.get("Elements") if isinstance(body, dict) else None
        if not elements:
            reason = _detail(response)
            return [
                ElementResult(i, False, None, doc, (reason,)) for i, doc in enumerate(submitted)
            ]
        if not res.summarize_errors and len(elements) != len(submitted):
            return _refused_in_part(res, submitted, elements)
    else:
        elements = body.get(res.plural) or []
    if len(elements) != len(submitted):
        raise RetryLater(
            f"Xero answered {len(elements)} results for {len(submitted)} {res.plural}; "
            "the batch will be checked and sent again"
        )
    results = []
    for i, element in enumerate(elements):
        errors = tuple(str(e.get("Message", "")) for e in element.get("ValidationErrors") or ())
        warnings = tuple(str(w.get("Message", "")) for w in element.get("Warnings") or ())
        failed = bool(errors) or element.get("StatusAttributeString") == "ERROR"
        results.append(
            ElementResult(
                i,
                not failed,
                None if failed else element.get(res.id_field),
                element,
                errors or (("Xero refused it without a message",) if failed else ()),
                warnings,
            )
        )
    return results


def _refused_in_part(
    res: XeroObject, submitted: list[dict[str, Any]], elements: list[dict[str, Any]]
) -> list[ElementResult]:
    """A 400 that lists only the refused elements of a batch (what Xero answers when it
    summarises errors): each refused one is told apart by its natural key, and the others
    are unconfirmed, since Xero makes them without returning their ids (P2 in the notes)."""
    refused: dict[int, dict[str, Any]] = {}
    for element in elements:
        index = next(
            (
                i
                for i, doc in enumerate(submitted)
                if i not in refused
                and any(doc.get(f) and doc.get(f) == element.get(f) for f in res.key_fields)
            ),
            None,
        )
        if index is None:
            raise RetryLater(
                f"Xero refused part of a batch of {res.plural} without saying which; "
                "the batch will be checked and sent again"
            )
        refused[index] = element
    results = []
    for i, doc in enumerate(submitted):
        refusal = refused.get(i)
        if refusal is None:
            results.append(ElementResult(i, True, None, doc))
            continue
        errors = tuple(str(e.get("Message", "")) for e in refusal.get("ValidationErrors") or ())
        results.append(
            ElementResult(i, False, None, refusal, errors or ("Xero refused it without a message",))
        )
    return results


def _problem(response: httpx.Response) -> str:
    return response.headers.get("X-Rate-Limit-Problem", "minute").lower()


def _int_header(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _float_header(response: httpx.Response, name: str) -> float | None:
    value = response.headers.get(name)
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _detail(response: httpx.Response) -> str:
    """Xero's own words for a refusal, in one line."""
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text.split())[:300] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("Detail", "Message", "Title", "error_description", "error"):
            if body.get(key):
                return " ".join(str(body[key]).split())
    return response.reason_phrase
