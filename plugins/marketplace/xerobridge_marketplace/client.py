"""A client for the CloudBlue Commerce reseller SimpleAPI: token auth, offset/limit paging,
customers, products, plans, subscriptions and orders.

Errors are the SDK's categories: MarketplaceUnavailable is a RetryLater (timeouts, 5xx, 429
with its wait, gateway HTML pages, cut-off or repeated pages), a refused login, marketplace
code, subscription key or base URL is a SourceSetupError naming the setting to fix, and
MarketplaceNotFound / MarketplaceRequestError are Permanent (this record or request is wrong).
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from xerobridge.sdk import (
    Clock,
    RenewingToken,
    SourceRefused,
    SourceSetupError,
    SourceUnavailable,
)

log = logging.getLogger(__name__)

KEY_HEADER = "X-Subscription-Key"
MAX_PAGE_SIZE = 100
#: A token is renewed this long before it expires (or at a tenth of its life, if shorter).
RENEW_MARGIN = timedelta(seconds=60)
FINAL_STATUSES = frozenset({"completed", "cancelled", "error"})
OPEN_STATUSES = ("submitted", "processing")
_WAIT_IN_MESSAGE = re.compile(r"try again in (\d+) seconds?", re.IGNORECASE)


# -- errors ----------------------------------------------------------------------------------------


class MarketplaceUnavailable(SourceUnavailable):
    """The marketplace could not answer now (5xx, 429, timeout, gateway page): try later."""


class MarketplaceRequestError(SourceRefused):
    """The marketplace refused this request as such; repeating it will not help."""


class MarketplaceNotFound(MarketplaceRequestError):
    """The record asked for does not exist."""


def format_time(moment: datetime) -> str:
    """A date-time as the API takes it: ISO 8601 in UTC with a Z (naive is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """The API's ISO 8601 date-time as an aware UTC datetime."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# -- answers ---------------------------------------------------------------------------------------


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _message(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("message") or body.get("code") or body)[:300]
    return ""


def _is_gateway(body: Any) -> bool:
    """The API gateway's own refusals carry `statusCode`; the API's carry `code`."""
    return isinstance(body, dict) and "statusCode" in body


def _retry_after(response: httpx.Response, body: Any) -> float | None:
    value = response.headers.get("retry-after")
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass  # an HTTP date: fall back to the message
    found = _WAIT_IN_MESSAGE.search(_message(body))
    return float(found.group(1)) if found else None


def check_answer(response: httpx.Response, base_url: str, what: str) -> Any:
    """The decoded JSON of a good answer, or the right error for a bad one, in one line."""
    status = response.status_code
    body = _body(response)
    html = "html" in response.headers.get("content-type", "")
    if status == 429:
        raise MarketplaceUnavailable(
            f"the marketplace at {base_url} is throttling requests (429 on {what}); "
            "waiting as it asks",
            status=status,
            retry_after=_retry_after(response, body),
        )
    if status >= 500 or status == 408:
        raise MarketplaceUnavailable(
            f"the marketplace at {base_url} failed with HTTP {status} on {what}"
            + (f": {_message(body)}" if body else " (a gateway error page)")
            + "; it will be tried again later",
            status=status,
            retry_after=_retry_after(response, body),
        )
    if status == 401 and _is_gateway(body):
        raise SourceSetupError(
            f"the marketplace's API gateway at {base_url} refused the subscription key "
            f"({_message(body)}): check the source's `subscription_key` setting"
        )
    if status == 401:
        raise SourceSetupError(
            f"the marketplace at {base_url} issued a token but refused it for {what} "
            f"({_message(body)}): check that the source's `username` is an API user of its "
            "`marketplace`"
        )
    if status == 404 and (_is_gateway(body) or body is None):
        raise SourceSetupError(
            f"{base_url} has no SimpleAPI route for {what}: check the source's `base_url` "
            "(like https://simpleapiprod.azure-api.net/marketplace)"
        )
    if status == 404:
        raise MarketplaceNotFound(f"the marketplace has no {what}: {_message(body)}", status=404)
    if status == 403:
        raise SourceSetupError(
            f"the marketplace refused {what} for the source's API user ({_message(body)}): "
            "give the `username` access to it in UX1 for Resellers"
        )
    if status >= 400:
        raise MarketplaceRequestError(
            f"the marketplace refused {what} with HTTP {status}: {_message(body)}", status=status
        )
    if body is None:
        if html or not response.content:
            raise MarketplaceUnavailable(
                f"the marketplace at {base_url} answered {what} with a web page, not JSON (its "
                "gateway in maintenance?); it will be tried again later. If this persists, "
                "check the source's `base_url`",
                status=status,
            )
        raise MarketplaceUnavailable(
            f"the marketplace at {base_url} answered {what} with JSON that does not parse "
            "(cut off?); it will be tried again later",
            status=status,
        )
    return body


# -- auth ------------------------------------------------------------------------------------------


class TokenAuth(RenewingToken):
    """SimpleAPI's auth: a bearer token from `POST /token` (Basic auth and the marketplace code),
    renewed before it expires and once more when refused, plus the subscription key on every
    request, the token request included."""

    margin = RENEW_MARGIN

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        marketplace: str,
        subscription_key: str,
        *,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(clock=clock)
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self.marketplace = marketplace
        self.subscription_key = subscription_key

    def sign(self, request: httpx.Request, token: str | None) -> None:
        request.headers[KEY_HEADER] = self.subscription_key
        super().sign(request, token)

    def refused(self, response: httpx.Response) -> bool:
        # The gateway's own 401 refuses the subscription key, which no new token mends.
        return response.status_code == 401 and not _is_gateway(_body(response))

    def token_request(self) -> httpx.Request:
        return httpx.Request(
            "POST",
            f"{self.base_url}/token",
            json={"marketplace": self.marketplace},
            headers={
                KEY_HEADER: self.subscription_key,
                "Accept": "application/json",
                "Authorization": _basic(self.username, self.password),
            },
        )

    def read_token(self, response: httpx.Response) -> tuple[str, float | None]:
        body = _body(response)
        if response.status_code == 401 and not _is_gateway(body):
            raise SourceSetupError(
                f"the marketplace at {self.base_url} refused the login of {self.username!r} "
                f"({_message(body)}): check the source's `username` and `password` settings"
            )
        if response.status_code in (400, 403) and not _is_gateway(body):
            raise SourceSetupError(
                f"the marketplace at {self.base_url} refused a token for marketplace "
                f"{self.marketplace!r} ({_message(body)}): check the source's `marketplace` "
                "setting (the code shown in UX1 for Resellers)"
            )
        data = check_answer(response, self.base_url, "POST /token")
        token = data.get("token") if isinstance(data, dict) else None
        try:
            lifetime = float(data.get("expiresInSeconds"))
        except (TypeError, ValueError, AttributeError):
            lifetime = 0.0
        if not token or lifetime <= 0:
            raise SourceSetupError(
                f"POST {self.base_url}/token answered without a token and its lifetime: check "
                "the source's `base_url` is the SimpleAPI's"
            )
        log.info("new marketplace token for %s, valid %.0f s", self.username, lifetime)
        return str(token), lifetime


def _basic(username: str, password: str) -> str:
    pair = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


# -- client ----------------------------------------------------------------------------------------


class MarketplaceClient:
    """Reads one reseller marketplace through its SimpleAPI."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        username: str,
        password: str,
        marketplace: str,
        subscription_key: str,
        *,
        clock: Clock | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1 to {MAX_PAGE_SIZE}")
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.auth = TokenAuth(
            self.base_url, username, password, marketplace, subscription_key, clock=clock
        )

    @classmethod
    def from_settings(
        cls, http: httpx.AsyncClient, settings: Any, *, clock: Clock | None = None
    ) -> MarketplaceClient:
        """A client for a source's MarketplaceSettings."""
        return cls(
            http,
            str(settings.base_url),
            settings.username,
            settings.password.get_secret_value(),
            settings.marketplace,
            settings.subscription_key.get_secret_value(),
            clock=clock,
            page_size=settings.page_size,
        )

    # -- requests ----------------------------------------------------------------------------------

    async def request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, what: str = ""
    ) -> Any:
        """Call an API path and return its JSON; `what` names the record in error messages."""
        what = what or f"{method} {path}"
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        try:
            response = await self.http.request(
                method,
                f"{self.base_url}{path}",
                params=query,
                headers={"Accept": "application/json"},
                auth=self.auth,
            )
        except httpx.TimeoutException as exc:
            raise MarketplaceUnavailable(
                f"the marketplace at {self.base_url} did not answer {what} in time "
                f"({type(exc).__name__}); it will be tried again later"
            ) from exc
        except httpx.TransportError as exc:
            raise MarketplaceUnavailable(
                f"could not reach the marketplace at {self.base_url} "
                f"({exc or type(exc).__name__}); it will be tried again later. If this "
                "persists, check the source's `base_url`"
            ) from exc
        log.debug("%s %s -> %s", method, response.request.url, response.status_code)
        return check_answer(response, self.base_url, what)

    async def iter_pages(
        self, path: str, params: Mapping[str, Any] | None = None, *, what: str = ""
    ) -> AsyncIterator[dict[str, Any]]:
        """Every record of a list, page by page with offset and limit, each once.

        A page that does not answer the offset asked, or holds only records already read
        (a cached or repeated page), stops the read with MarketplaceUnavailable rather than
        skipping or repeating records.
        """
        what = what or f"GET {path}"
        offset = 0
        seen: set[str] = set()
        while True:
            page = await self.request(
                "GET", path, params={**(params or {}), "offset": offset, "limit": self.page_size},
                what=f"{what} (offset {offset})",
            )  # fmt: skip
            data, pagination = _envelope(page, self.base_url, what)
            echoed = pagination.get("offset")
            if echoed is not None and int(echoed) != offset:
                raise MarketplaceUnavailable(
                    f"the marketplace at {self.base_url} answered {what} at offset {offset} "
                    f"with the page at offset {echoed} (a cached or repeated page?); it will be "
                    "tried again later"
                )
            ids = [str(r.get("id")) for r in data]
            if data and all(i in seen for i in ids):
                raise MarketplaceUnavailable(
                    f"the marketplace at {self.base_url} repeated a page of {what} at offset "
                    f"{offset}; it will be tried again later"
                )
            for record, key in zip(data, ids, strict=True):
                if key not in seen:
                    seen.add(key)
                    yield record
            offset += len(data)
            if not data or offset >= int(pagination.get("total") or 0):
                return

    # -- records -----------------------------------------------------------------------------------

    def iter_customers(self) -> AsyncIterator[dict[str, Any]]:
        """Every customer of the reseller."""
        return self.iter_pages("/customers", what="customers")

    async def get_customer(self, customer_id: str) -> dict[str, Any]:
        """One customer by id (MarketplaceNotFound when there is none)."""
        return await self._one(f"/customers/{customer_id}", f"customer {customer_id}")

    def iter_products(self) -> AsyncIterator[dict[str, Any]]:
        """Every product of the catalogue."""
        return self.iter_pages("/products", what="products")

    def iter_plans(self) -> AsyncIterator[dict[str, Any]]:
        """Every service plan."""
        return self.iter_pages("/plans", what="plans")

    async def get_plan(self, plan_id: str) -> dict[str, Any]:
        """One plan with its plan switches."""
        return await self._one(f"/plans/{plan_id}", f"plan {plan_id}")

    def iter_subscriptions(
        self,
        *,
        customer_id: str | None = None,
        status: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Subscriptions, optionally of one customer, in one status or created in a window."""
        params = {
            "customerId": customer_id,
            "status": status,
            "creationDateFrom": format_time(created_from) if created_from else None,
            "creationDateTo": format_time(created_to) if created_to else None,
        }
        return self.iter_pages("/subscriptions", params, what="subscriptions")

    async def get_subscription(self, subscription_id: str) -> dict[str, Any]:
        """One subscription by id."""
        return await self._one(
            f"/subscriptions/{subscription_id}", f"subscription {subscription_id}"
        )

    async def iter_orders(
        self,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        *,
        status: str | None = None,
        customer_id: str | None = None,
        subscription_id: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Orders created in [created_from, created_to), oldest first.

        The window is half open whatever the API does at its bounds, so consecutive windows
        never read an order twice nor miss one.
        """
        params = {
            "creationTimeFrom": format_time(created_from) if created_from else None,
            "creationTimeTo": format_time(created_to) if created_to else None,
            "status": status,
            "customerId": customer_id,
            "subscriptionId": subscription_id,
        }
        async for order in self.iter_pages("/orders", params, what="orders"):
            created = _created(order, self.base_url)
            if created_from is not None and created < created_from:
                continue
            if created_to is not None and created >= created_to:
                continue
            yield order

    async def get_order(self, order_id: str) -> dict[str, Any]:
        """One order by id, with its charge lines."""
        return await self._one(f"/orders/{order_id}", f"order {order_id}")

    async def reread_orders(self, order_ids: Iterable[str]) -> AsyncIterator[dict[str, Any]]:
        """These orders as they are now (the API has no modified-since filter: an order not
        yet final is read again by id until it settles); an order gone is logged and skipped."""
        for order_id in order_ids:
            try:
                yield await self.get_order(order_id)
            except MarketplaceNotFound:
                log.warning("marketplace order %s is gone; it is no longer followed", order_id)

    async def _one(self, path: str, what: str) -> dict[str, Any]:
        data = await self.request("GET", path, what=what)
        if not isinstance(data, dict) or "id" not in data:
            raise SourceSetupError(
                f"GET {path} on {self.base_url} did not answer with a record: check the "
                "source's `base_url`"
            )
        return data


def _envelope(page: Any, base_url: str, what: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    if not (
        isinstance(page, dict)
        and isinstance(page.get("data"), list)
        and isinstance(page.get("pagination"), dict)
    ):
        raise SourceSetupError(
            f"{base_url} answered {what} without a `data` list and `pagination`: check the "
            "source's `base_url` is the SimpleAPI's"
        )
    data = page["data"]
    if not all(isinstance(r, dict) and r.get("id") is not None for r in data):
        raise MarketplaceUnavailable(
            f"the marketplace at {base_url} answered {what} with a record without an id; the "
            "page is not used and the read will be tried again later"
        )
    return data, page["pagination"]


def _created(order: dict[str, Any], base_url: str) -> datetime:
    try:
        return parse_time(str(order["creationDate"]))
    except (KeyError, ValueError):
        raise MarketplaceUnavailable(
            f"the marketplace at {base_url} sent order {order.get('id')} without a valid "
            "creationDate; the read will be tried again later"
        ) from None
