"""A client for the Magento 2 REST API: change reads by updated_at, look-ups by id, admin login.

Errors are the SDK's (`xerobridge.sdk.RestClient`): SourceUnavailable is RetryLater (5xx, 429,
timeouts, an unreachable store, a page that does not answer the query), SourceSetupError asks a
person to fix a setting (credentials, base_url), SourceRefused and SourceNotFound are Permanent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

import httpx

from xerobridge.sdk import (
    Page,
    RenewingToken,
    RestClient,
    SourceSetupError,
    SourceUnavailable,
    changed_since,
)

log = logging.getLogger(__name__)

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULT_PAGE_SIZE = 100
NO_ROUTE = "Request does not match any route."


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


class AdminLogin(RenewingToken):
    """Magento's auth: an integration token, or an admin user's login (renewed when refused)."""

    def __init__(
        self, client: MagentoClient, token: str | None, username: str | None, password: str | None
    ) -> None:
        super().__init__(token=token)
        self.client, self.username, self.password = client, username, password

    def can_renew(self) -> bool:
        return bool(self.username and self.password)

    def token_request(self) -> httpx.Request:
        url = f"{self.client.rest_url}/V1/integration/admin/token"
        body = {"username": self.username, "password": self.password}
        return httpx.Request("POST", url, json=body, headers={"Accept": "application/json"})

    def read_token(self, response: httpx.Response) -> tuple[str, float | None]:
        where = self.client.where
        if response.status_code == 401:
            raise SourceSetupError(
                f"{where} refused the login of admin user {self.username!r}: check the "
                "source's `username` and `password` settings. After 6 failed attempts Magento "
                "locks the account for 30 minutes; an admin can unlock it under System > "
                "Permissions > Locked Users"
            )
        token = self.client.decode(response, "the admin login")
        if not isinstance(token, str) or not token:
            raise SourceSetupError(
                f"{where} answered the admin login without a token: check that base_url is "
                "the store's root URL and two-factor authentication allows API logins"
            )
        log.info("logged in to %s as %s", where, self.username)
        return token, None  # valid four hours by default; renewed when refused


class MagentoClient(RestClient):
    """Reads a Magento 2 store over REST with a bearer token (integration or admin).

    Give `token` (an integration access token usable as a bearer token), or `username` and
    `password` of an admin user (logged in, and again when the token expires), or both (the
    token is tried first).
    """

    system = "Magento"
    server_error_hint = " (if it persists, see the store's var/log and the report ID)"

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
        super().__init__(http, base_url)
        # Accept a base_url copied with the REST prefix (…/rest/default or …/rest/default/V1).
        root = re.sub(r"/rest(/[A-Za-z0-9_]+)?(/V1)?$", "", self.base_url)
        self.rest_url = f"{root}/rest/{store_code}"
        self.login = AdminLogin(self, token or None, username, password)
        self.auth = self.login

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] | None = None,
        json_body: Any = None,
    ) -> Any:
        """Call a REST path (`/V1/...`) and return the decoded JSON, logging in when needed."""
        what = f"{method} {path}"
        response = await self.send(
            method, f"{self.rest_url}{path}", what=what, params=list(params or ()),
            json=json_body, headers={"Accept": "application/json"},
        )  # fmt: skip
        return self.decode(response, what)

    def refused(self, response: httpx.Response, body: Any, what: str) -> NoReturn:
        status = response.status_code
        if status == 401 and self.login.can_renew():
            raise SourceSetupError(
                f"{self.where} accepted the login of {self.login.username!r} but refused "
                f"{what}: {self.reason(body)}. Give the user's role that resource under "
                "System > Permissions > User Roles",
                status=status,
            )
        if status == 401:
            raise SourceSetupError(
                f"Magento rejected the access token for {self.base_url} ({self.reason(body)}): "
                "check the source's `token` setting. An integration token works as a bearer "
                "token only when Stores > Configuration > Services > OAuth > Consumer Settings "
                "> 'Allow OAuth Access Tokens to be used as standalone Bearer tokens' is Yes, "
                "and the integration needs access to the resource named; or set `username` "
                "and `password` instead",
                status=status,
            )
        if status == 404 and (not isinstance(body, dict) or body.get("message") == NO_ROUTE):
            raise SourceSetupError(
                f"{self.where} has no REST route for {what}: check that the source's `base_url` "
                "is the store's root URL (like https://shop.example.com) and that the module "
                "serving it is enabled",
                status=status,
            )
        super().refused(response, body, what)

    def reason(self, body: Any) -> str:
        """Magento's error message with its %placeholders filled in."""
        if not isinstance(body, dict):
            return str(body)[:200]
        message = str(body.get("message", ""))
        params = body.get("parameters")
        if isinstance(params, dict):
            for key, value in params.items():
                message = message.replace(f"%{key}", str(value))
        elif isinstance(params, list):
            for n, value in enumerate(params, start=1):
                message = message.replace(f"%{n}", str(value))
        for item in body.get("errors") or ():
            message += " " + self.reason(item)
        return message.strip()

    # -- searching ---------------------------------------------------------------------------------

    async def search(
        self,
        path: str,
        groups: Sequence[Sequence[Filter]] = (),
        *,
        sort: Sequence[tuple[str, str]] = (),
        page_size: int | None = None,
        current_page: int | None = None,
    ) -> dict[str, Any]:
        """One search request; returns Magento's envelope (items, search_criteria, total_count)."""
        params = criteria_params(groups, sort=sort, page_size=page_size, current_page=current_page)
        data = await self.request("GET", path, params=params)
        if not isinstance(data, dict) or ("items" not in data and "total_count" not in data):
            raise SourceSetupError(
                f"GET {path} on {self.base_url} did not answer with a search result: check the "
                "source's `base_url`"
            )
        echoed = (data.get("search_criteria") or {}).get("filter_groups")
        if isinstance(echoed, list) and _filters_of(echoed) != [
            [(f, str(v), c) for f, v, c in group] for group in groups
        ]:
            # Magento echoes the criteria it answered; other criteria mean another query's
            # answer (a stale cache, a repeated page), which must not move the read on.
            raise SourceUnavailable(
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
    ) -> AsyncIterator[dict[str, Any]]:
        """Every match, page by page; stops by total_count since Magento repeats the last page."""
        page = 1
        while True:
            data = await self.search(
                path, groups, sort=sort, page_size=page_size, current_page=page
            )
            items = data["items"] or []
            for item in items:
                yield item
            if not items or page * page_size >= int(data.get("total_count") or 0):
                return
            page += 1

    def iter_changes(
        self,
        stream: str,
        since: datetime | str | None = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        where: Sequence[Sequence[Filter]] = (),
    ) -> AsyncIterator[dict[str, Any]]:
        """Records of a stream with updated_at at or after `since`, oldest first, each once
        (keyset paging by updated_at, then id: see `xerobridge.sdk.changed_since`). `where` adds
        filter groups every request must also match (e.g. `[[("store_id", "1,2", "in")]]`).
        """
        endpoint = STREAMS[stream]
        id_filter, size = endpoint.id_filter, page_size

        async def first(at: str | None, inclusive: bool) -> Page[dict[str, Any]]:
            op = "gteq" if inclusive else "gt"
            groups = [*([[("updated_at", at, op)]] if at is not None else []), *where]
            sort = [("updated_at", "ASC"), (id_filter, "ASC")]
            return await self._page(endpoint, groups, sort, size, at, op)

        async def rest_of(at: str, seen: set[str], read: int) -> Page[dict[str, Any]]:
            after = max(int(k) for k in seen)  # ids ascend within one second
            groups = [[("updated_at", at, "eq")], [(id_filter, str(after), "gt")], *where]
            return await self._page(endpoint, groups, [(id_filter, "ASC")], size, at, "eq", after)

        at = format_time(since) if since else None
        id_key = endpoint.id_key
        return changed_since(
            first, rest_of, since=at, stamp=lambda r: r["updated_at"], key=lambda r: str(r[id_key])
        )

    async def _page(
        self,
        endpoint: StreamEndpoint,
        groups: Sequence[Sequence[Filter]],
        sort: Sequence[tuple[str, str]],
        size: int,
        at: str | None,
        op: str,
        after_id: int | None = None,
    ) -> Page[dict[str, Any]]:
        """The first page of a search, refused when it does not answer the query asked: a
        record without its id or updated_at, or one outside the filter (a stale page from a
        cache, say). Taking it would move the read, and so the cursor, to the wrong place."""
        data = await self.search(endpoint.search_path, groups, sort=sort, page_size=size,
                                 current_page=1)  # fmt: skip
        items = data["items"]
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
            raise SourceUnavailable(
                f"Magento at {self.base_url} answered {endpoint.search_path} with {problem}; "
                "the page is not used and the read will be tried again later"
            )
        return Page(items, more=int(data.get("total_count") or 0) > len(items))

    async def get_by_ids(
        self, stream: str, ids: Iterable[int | str], *, batch_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[dict[str, Any]]:
        """The records with these ids that still exist (`entity_id in (...)`, in batches)."""
        endpoint = STREAMS[stream]
        for batch in _batches(ids, batch_size):
            groups = [[(endpoint.id_filter, ",".join(batch), "in")]]
            async for record in self.iter_search(
                endpoint.search_path,
                groups,
                sort=[(endpoint.id_filter, "ASC")],
                page_size=batch_size,
            ):
                yield record

    async def get_store_configs(self) -> list[dict[str, Any]]:
        """Every store view's configuration: base currency, timezone, base URL ..."""
        data = await self.request("GET", "/V1/store/storeConfigs")
        if not isinstance(data, list):
            raise SourceSetupError(
                f"GET /V1/store/storeConfigs on {self.base_url} did not answer with a list"
            )
        return data


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
