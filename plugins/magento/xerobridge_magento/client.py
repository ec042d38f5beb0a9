"""A client for the Magento 2 REST API: change reads by updated_at, look-ups by id, login.

Errors are the core's categories (`xerobridge.contract.types`): MagentoUnavailable is a RetryLater
(5xx, 429, timeouts, unreachable store), MagentoAuthError and MagentoConfigError are
NeedsPerson (a setting must change), MagentoRequestError and MagentoNotFound are Permanent.
Every message says what is wrong and what to do.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from xerobridge.sdk import NeedsPerson, Permanent, RetryLater

log = logging.getLogger(__name__)

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULT_PAGE_SIZE = 100
NO_ROUTE = "Request does not match any route."


# -- errors ----------------------------------------------------------------------------------------


class MagentoUnavailable(RetryLater):
    """The store could not answer now (5xx, 429, timeout, connection): try again later."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message, retry_after=retry_after)
        self.status = status


class MagentoAuthError(NeedsPerson):
    """Magento refused the credentials: a person must fix the source's settings."""

    def __init__(self, message: str, *, status: int | None = 401):
        super().__init__(message)
        self.status = status


class MagentoConfigError(NeedsPerson):
    """The answers show the source is set up wrong (base_url not a Magento REST API)."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class MagentoRequestError(Permanent):
    """Magento refused this request as such; repeating it will not help."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class MagentoNotFound(MagentoRequestError):
    """The record asked for does not exist (any more)."""


# -- time ------------------------------------------------------------------------------------------


def format_time(moment: datetime | str) -> str:
    """A watermark in Magento's UTC `YYYY-MM-DD HH:MM:SS` (naive datetimes are taken as UTC)."""
    if isinstance(moment, str):
        return parse_time(moment).strftime(TIME_FORMAT)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """Magento's `YYYY-MM-DD HH:MM:SS` (always UTC in REST answers) as an aware datetime."""
    value = datetime.fromisoformat(text.strip().replace(" ", "T"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# -- streams ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamEndpoint:
    """Where a stream's records are listed, and how their id is named."""

    search_path: str
    id_key: str  # the id's key in the record
    id_filter: str = "entity_id"  # the id's name in searchCriteria


STREAMS: dict[str, StreamEndpoint] = {
    "customers": StreamEndpoint("/V1/customers/search", "id"),
    "products": StreamEndpoint("/V1/products", "id"),
    "orders": StreamEndpoint("/V1/orders", "entity_id"),
    "invoices": StreamEndpoint("/V1/invoices", "entity_id"),
    "creditmemos": StreamEndpoint("/V1/creditmemos", "entity_id"),
}
STREAMS["credit_memos"] = STREAMS["creditmemos"]  # the plugin's stream name

Filter = tuple[str, str, str]  # field, value, condition_type


def criteria_params(
    groups: Sequence[Sequence[Filter]] = (),
    *,
    sort: Sequence[tuple[str, str]] = (),
    page_size: int | None = None,
    current_page: int | None = None,
) -> list[tuple[str, str]]:
    """Encode searchCriteria as query pairs; groups are ANDed, filters in a group ORed."""
    params: list[tuple[str, str]] = []
    for g, group in enumerate(groups):
        for f, (field, value, condition) in enumerate(group):
            prefix = f"searchCriteria[filter_groups][{g}][filters][{f}]"
            params += [
                (f"{prefix}[field]", field),
                (f"{prefix}[value]", value),
                (f"{prefix}[condition_type]", condition),
            ]
    for k, (field, direction) in enumerate(sort):
        params += [
            (f"searchCriteria[sortOrders][{k}][field]", field),
            (f"searchCriteria[sortOrders][{k}][direction]", direction),
        ]
    if page_size is not None:
        params.append(("searchCriteria[pageSize]", str(page_size)))
    if current_page is not None:
        params.append(("searchCriteria[currentPage]", str(current_page)))
    if not params:
        params.append(("searchCriteria", ""))  # the argument is required even when empty
    return params


def _render(body: Any) -> str:
    """Magento's error message with its %placeholders filled in."""
    if not isinstance(body, dict):
        return str(body)
    message = str(body.get("message", ""))
    params = body.get("parameters")
    if isinstance(params, dict):
        for key, value in params.items():
            message = message.replace(f"%{key}", str(value))
    elif isinstance(params, list):
        for n, value in enumerate(params, start=1):
            message = message.replace(f"%{n}", str(value))
    for item in body.get("errors") or ():
        message += " " + _render(item)
    return message.strip()


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date; the caller's backoff applies


class MagentoClient:
    """Reads a Magento 2 store over REST with a bearer token (integration or admin).

    Give `token` (an integration access token usable as a bearer token), or `username` and
    `password` of an admin user (the client logs in and logs in again when the token expires),
    or both (the token is tried first).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        *,
        store_code: str = "default",
    ) -> None:
        if not token and not (username and password):
            raise ValueError("MagentoClient needs a token, or a username and a password")
        self.http = http
        self.base_url = base_url.rstrip("/")
        # Accept a base_url copied with the REST prefix (…/rest/default or …/rest/default/V1).
        root = re.sub(r"/rest(/[A-Za-z0-9_]+)?(/V1)?$", "", self.base_url)
        self.rest_url = f"{root}/rest/{store_code}"
        self.token = token or None
        self.username = username
        self.password = password
        self._token_is_admin = False
        self._login_lock = asyncio.Lock()

    # -- auth --------------------------------------------------------------------------------------

    async def login(self) -> str:
        """Get an admin token from username and password (valid four hours by default)."""
        if not (self.username and self.password):
            raise MagentoAuthError(
                f"Magento at {self.base_url} needs a new token but the source has no `username` "
                "and `password` to log in with: set them, or set `token`"
            )
        url = f"{self.rest_url}/V1/integration/admin/token"
        response = await self._send(
            "POST", url, json={"username": self.username, "password": self.password}
        )
        if response.status_code == 401:
            raise MagentoAuthError(
                f"Magento at {self.base_url} refused the login of admin user {self.username!r}: "
                "check the source's `username` and `password` settings. After 6 failed attempts "
                "Magento locks the account for 30 minutes; an admin can unlock it under "
                "System > Permissions > Locked Users"
            )
        data = self._decode(response, "POST", url)
        if not isinstance(data, str) or not data:
            raise MagentoConfigError(
                f"Magento at {self.base_url} answered the admin login without a token: check that "
                "base_url is the store's root URL and two-factor authentication allows API logins",
                status=response.status_code,
            )
        self.token = data
        self._token_is_admin = True
        log.info("logged in to Magento at %s as %s", self.base_url, self.username)
        return data

    # -- requests ----------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] | None = None,
        json_body: Any = None,
    ) -> Any:
        """Call a REST path (`/V1/...`) and return the decoded JSON, logging in when needed."""
        if self.token is None:
            async with self._login_lock:
                if self.token is None:
                    await self.login()
        url = f"{self.rest_url}{path}"
        sent_with = self.token
        response = await self._send(method, url, params=params, json=json_body, token=sent_with)
        if response.status_code == 401 and self.username and self.password:
            async with self._login_lock:
                if self.token == sent_with:  # nobody else has logged in meanwhile
                    await self.login()
            response = await self._send(
                method, url, params=params, json=json_body, token=self.token
            )
            if response.status_code == 401:
                raise MagentoAuthError(
                    f"Magento at {self.base_url} accepted the login of {self.username!r} but "
                    "refused "
                    f"{method} {path}: {_render(self._body(response))}. Give the user's role that "
                    "resource under System > Permissions > User Roles"
                )
        if response.status_code == 401:
            raise MagentoAuthError(
                f"Magento rejected the access token for {self.base_url} "
                f"({_render(self._body(response))}): check the source's `token` setting. An "
                "integration token works as a bearer token only when Stores > Configuration > "
                "Services > OAuth > Consumer Settings > 'Allow OAuth Access Tokens to be used as "
                "standalone Bearer tokens' is Yes, and the integration needs access to the "
                "resource named; or set `username` and `password` instead"
            )
        return self._decode(response, method, url)

    async def _send(
        self,
        method: str,
        url: str,
        *,
        params: Sequence[tuple[str, str]] | None = None,
        json: Any = None,
        token: str | None = None,
    ) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = await self.http.request(
                method, url, params=list(params or ()), json=json, headers=headers
            )
        except httpx.TimeoutException as exc:
            raise MagentoUnavailable(
                f"Magento at {self.base_url} did not answer {method} {url} in time "
                f"({type(exc).__name__}); it will be tried again later"
            ) from exc
        except httpx.TransportError as exc:
            raise MagentoUnavailable(
                f"could not reach Magento at {self.base_url} ({exc or type(exc).__name__}); it "
                "will be tried again later. If this persists, check the source's `base_url`"
            ) from exc
        log.debug("%s %s -> %s", method, response.request.url, response.status_code)
        return response

    @staticmethod
    def _body(response: httpx.Response) -> Any:
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return response.text[:200]

    def _decode(self, response: httpx.Response, method: str, url: str) -> Any:
        status = response.status_code
        if status == 429:
            raise MagentoUnavailable(
                f"Magento at {self.base_url} is throttling requests (429 Too Many Requests); "
                "slowing down and trying again later",
                status=status,
                retry_after=_retry_after(response),
            )
        if status >= 500:
            detail = (
                _render(self._body(response))
                if "json" in response.headers.get("content-type", "")
                else ""
            )
            raise MagentoUnavailable(
                f"Magento at {self.base_url} failed with HTTP {status} on {method} {url}"
                + (f": {detail}" if detail else "")
                + "; it will be tried again later (if it persists, see the store's var/log "
                "and the report ID)",
                status=status,
                retry_after=_retry_after(response),
            )
        body = self._body(response)
        if status == 404:
            if not isinstance(body, dict) or body.get("message") == NO_ROUTE:
                raise MagentoConfigError(
                    f"Magento at {self.base_url} has no REST route for {method} {url}: check that "
                    "the source's `base_url` is the store's root URL "
                    "(like https://shop.example.com) "
                    "and that the module serving it is enabled",
                    status=status,
                )
            raise MagentoNotFound(
                f"Magento at {self.base_url} has no such record ({method} {url}): {_render(body)}",
                status=status,
            )
        if status >= 400:
            raise MagentoRequestError(
                f"Magento at {self.base_url} refused {method} {url} with HTTP {status}: "
                f"{_render(body)}",
                status=status,
            )
        if isinstance(body, str) and "json" in response.headers.get("content-type", ""):
            try:
                response.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                # JSON promised but not parseable: an answer cut off on the way, not a setting.
                raise MagentoUnavailable(
                    f"Magento at {self.base_url} answered {method} {url} with JSON that does "
                    "not parse (cut off?); it will be tried again later",
                    status=status,
                ) from None
        if isinstance(body, str) and "json" not in response.headers.get("content-type", ""):
            raise MagentoConfigError(
                f"{method} {url} answered with "
                f"{response.headers.get('content-type') or 'no content type'}, "
                "not JSON: check that the source's `base_url` is the Magento store's root URL",
                status=status,
            )
        return body

    # -- searching ---------------------------------------------------------------------------------

    async def search(
        self,
        path: str,
        groups: Sequence[Sequence[Filter]] = (),
        *,
        sort: Sequence[tuple[str, str]] = (),
        page_size: int | None = None,
        current_page: int | None = None,
        fields: str | None = None,
    ) -> dict[str, Any]:
        """One search request; returns Magento's envelope (items, search_criteria, total_count)."""
        params = criteria_params(groups, sort=sort, page_size=page_size, current_page=current_page)
        if fields:
            params.append(("fields", fields))
        data = await self.request("GET", path, params=params)
        if not isinstance(data, dict) or ("items" not in data and "total_count" not in data):
            raise MagentoConfigError(
                f"GET {path} on {self.base_url} did not answer with a search result: check the "
                "source's `base_url`"
            )
        echoed = (data.get("search_criteria") or {}).get("filter_groups")
        if isinstance(echoed, list) and _filters_of(echoed) != [
            [(f, str(v), c) for f, v, c in group] for group in groups
        ]:
            # Magento echoes the criteria it answered; other criteria mean another query's
            # answer (a stale cache, a repeated page), which must not move the read on.
            raise MagentoUnavailable(
                f"Magento at {self.base_url} answered GET {path} for other search criteria than "
                "asked (a cached or repeated page?); it will be tried again later"
            )
        data.setdefault("items", [])
        return data

    async def iter_search(
        self,
        path: str,
        groups: Sequence[Sequence[Filter]] = (),
        *,
        sort: Sequence[tuple[str, str]] = (),
        page_size: int = DEFAULT_PAGE_SIZE,
        fields: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every match, page by page; stops by total_count since Magento repeats the last page."""
        page = 1
        while True:
            data = await self.search(
                path, groups, sort=sort, page_size=page_size, current_page=page, fields=fields
            )
            items = data["items"] or []
            for item in items:
                yield item
            if not items or page * page_size >= int(data.get("total_count") or 0):
                return
            page += 1

    async def iter_changes(
        self,
        stream: str,
        since: datetime | str | None = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        where: Sequence[Sequence[Filter]] = (),
    ) -> AsyncIterator[dict[str, Any]]:
        """Records of a stream with updated_at at or after `since`, oldest first, each once.

        Pages by key, not by page number: each request asks for page 1 after the last record
        seen (updated_at, then id), so records edited or deleted while the read runs cannot
        shift a page boundary and make it skip one. Stops when a page holds the whole rest
        (total_count), so Magento's repeated last page never matters. `where` adds filter
        groups every request must also match (e.g. `[[("store_id", "1,2", "in")]]`).
        """
        endpoint = self._endpoint(stream)
        id_key, id_filter = endpoint.id_key, endpoint.id_filter
        sort = [("updated_at", "ASC"), (id_filter, "ASC")]
        at: str | None = format_time(since) if since is not None else None
        last_id: int | None = None
        op = "gteq"
        while True:
            groups = [*([[("updated_at", at, op)]] if at is not None else []), *where]
            data = await self.search(
                endpoint.search_path, groups, sort=sort, page_size=page_size, current_page=1
            )
            items = data["items"]
            self._check_page(endpoint, items, at, op)
            fresh = [
                r
                for r in items
                if not (
                    last_id is not None and r.get("updated_at") == at and int(r[id_key]) <= last_id
                )
            ]
            for record in fresh:
                yield record
                at, last_id, op = record["updated_at"], int(record[id_key]), "gteq"
            if int(data.get("total_count") or 0) <= len(items):
                return
            if fresh:
                continue
            # A full page of one second that was read already: finish that second by id.
            while True:
                tie = await self.search(
                    endpoint.search_path,
                    [
                        [("updated_at", str(at), "eq")],
                        [(id_filter, str(last_id), "gt")],
                        *where,
                    ],
                    sort=[(id_filter, "ASC")],
                    page_size=page_size,
                    current_page=1,
                )
                self._check_page(endpoint, tie["items"], at, "eq", after_id=last_id)
                for record in tie["items"]:
                    yield record
                    last_id = int(record[id_key])
                if int(tie.get("total_count") or 0) <= len(tie["items"]):
                    break
            op = "gt"

    def _check_page(
        self,
        endpoint: StreamEndpoint,
        items: Sequence[Any],
        at: str | None,
        op: str,
        *,
        after_id: int | None = None,
    ) -> None:
        """Refuse a page that does not answer the query asked: a record without its id or
        updated_at, or one outside the filter (a stale page from a cache, say). Taking it would
        move the read, and so the cursor, to the wrong place."""
        for record in items:
            stamp = record.get("updated_at") if isinstance(record, dict) else None
            try:
                key = int(record[endpoint.id_key])
            except (TypeError, KeyError, ValueError):
                key = None
            if not isinstance(stamp, str) or key is None:
                problem = f"a record without a valid {endpoint.id_key} or updated_at"
            elif at is not None and not {"gteq": stamp >= at, "gt": stamp > at,
                                         "eq": stamp == at}[op]:  # fmt: skip
                problem = f"record {key} (updated_at {stamp}), outside the query asked"
            elif after_id is not None and key <= after_id:
                problem = f"record {key}, at or before the id asked to start after"
            else:
                continue
            raise MagentoUnavailable(
                f"Magento at {self.base_url} answered {endpoint.search_path} with {problem}; "
                "the page is not used and the read will be tried again later"
            )

    async def iter_customers(
        self, since: datetime | str | None = None, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[dict[str, Any]]:
        """Customers changed at or after `since`."""
        async for record in self.iter_changes("customers", since, page_size=page_size):
            yield record

    async def iter_products(
        self, since: datetime | str | None = None, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[dict[str, Any]]:
        """Products changed at or after `since`."""
        async for record in self.iter_changes("products", since, page_size=page_size):
            yield record

    async def iter_orders(
        self, since: datetime | str | None = None, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[dict[str, Any]]:
        """Orders changed at or after `since`."""
        async for record in self.iter_changes("orders", since, page_size=page_size):
            yield record

    async def iter_invoices(
        self, since: datetime | str | None = None, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[dict[str, Any]]:
        """Invoices changed at or after `since`."""
        async for record in self.iter_changes("invoices", since, page_size=page_size):
            yield record

    async def iter_creditmemos(
        self, since: datetime | str | None = None, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[dict[str, Any]]:
        """Credit memos changed at or after `since`."""
        async for record in self.iter_changes("creditmemos", since, page_size=page_size):
            yield record

    async def get_by_ids(
        self, stream: str, ids: Iterable[int | str], *, batch_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[dict[str, Any]]:
        """The records with these ids that still exist (`entity_id in (...)`, in batches)."""
        endpoint = self._endpoint(stream)
        for batch in _batches(ids, batch_size):
            groups = [[(endpoint.id_filter, ",".join(batch), "in")]]
            async for record in self.iter_search(
                endpoint.search_path,
                groups,
                sort=[(endpoint.id_filter, "ASC")],
                page_size=batch_size,
            ):
                yield record

    async def existing_ids(
        self, stream: str, ids: Iterable[int | str], *, batch_size: int = 300
    ) -> set[int]:
        """Which of these ids still exist; fetches only the ids (for the deletion reconcile)."""
        endpoint = self._endpoint(stream)
        found: set[int] = set()
        for batch in _batches(ids, batch_size):
            groups = [[(endpoint.id_filter, ",".join(batch), "in")]]
            fields = f"items[{endpoint.id_key}],total_count"
            async for record in self.iter_search(
                endpoint.search_path, groups, page_size=batch_size, fields=fields
            ):
                found.add(int(record[endpoint.id_key]))
        return found

    # -- single records and configuration ----------------------------------------------------------

    async def get_customer(self, customer_id: int) -> dict[str, Any]:
        """One customer by id (MagentoNotFound when deleted)."""
        result: dict[str, Any] = await self.request("GET", f"/V1/customers/{int(customer_id)}")
        return result

    async def get_product(self, sku: str) -> dict[str, Any]:
        """One product by SKU."""
        from urllib.parse import quote

        result: dict[str, Any] = await self.request("GET", f"/V1/products/{quote(sku, safe='')}")
        return result

    async def get_order(self, order_id: int) -> dict[str, Any]:
        """One order by entity id."""
        result: dict[str, Any] = await self.request("GET", f"/V1/orders/{int(order_id)}")
        return result

    async def get_invoice(self, invoice_id: int) -> dict[str, Any]:
        """One invoice by entity id."""
        result: dict[str, Any] = await self.request("GET", f"/V1/invoices/{int(invoice_id)}")
        return result

    async def get_creditmemo(self, creditmemo_id: int) -> dict[str, Any]:
        """One credit memo by entity id (note Magento's singular path)."""
        result: dict[str, Any] = await self.request("GET", f"/V1/creditmemo/{int(creditmemo_id)}")
        return result

    async def get_store_configs(self) -> list[dict[str, Any]]:
        """Every store view's configuration: base currency, timezone, base URL ..."""
        data = await self.request("GET", "/V1/store/storeConfigs")
        if not isinstance(data, list):
            raise MagentoConfigError(
                f"GET /V1/store/storeConfigs on {self.base_url} did not answer with a list"
            )
        return data

    async def get_tax_rates(self) -> list[dict[str, Any]]:
        """Every tax rate (code, country, percent)."""
        return [
            r async for r in self.iter_search("/V1/taxRates/search", page_size=DEFAULT_PAGE_SIZE)
        ]

    def _endpoint(self, stream: str) -> StreamEndpoint:
        try:
            return STREAMS[stream]
        except KeyError:
            raise ValueError(
                f"unknown Magento stream {stream!r}; streams: {', '.join(STREAMS)}"
            ) from None


def _filters_of(groups: list[Any]) -> list[list[Filter]]:
    """The (field, value, condition) filters of an echoed `search_criteria.filter_groups`."""
    out = []
    for group in groups:
        filters = group.get("filters") if isinstance(group, dict) else None
        out.append(
            [
                (str(f.get("field")), str(f.get("value")), str(f.get("condition_type") or "eq"))
                for f in filters or []
                if isinstance(f, dict)
            ]
        )
    return out


def _batches(ids: Iterable[int | str], size: int) -> Iterable[list[str]]:
    batch: list[str] = []
    for value in ids:
        batch.append(str(int(value)))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
