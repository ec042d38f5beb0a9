"""A client for the ServiceDesk Plus MSP REST API v3: accounts, worklog types, parents, worklogs.

Every call carries the v3 Accept header (the new worklog format) and its arguments as
`input_data` JSON: in the query string for reads, form-encoded for writes. Lists page with
`list_info` (1-based `start_index`, `row_count` at most 100, `has_more_rows`). Errors become the
core's categories, each one line naming the record or the setting to fix:
`ServiceDeskUnavailable` (RetryLater: timeouts, 5xx, 429, HTML error pages, a repeated page),
`ServiceDeskSetupError` (a setup error: credentials, base URL, permissions) and
`ServiceDeskRefused` / `ServiceDeskNotFound` (Permanent: this record or request is wrong).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from xerobridge.sdk import (
    Page,
    SourceRefused,
    SourceSetupError,
    SourceUnavailable,
    changed_since,
    retry_after,
)
from xerobridge_servicedesk.auth import AuthtokenAuth, ZohoOAuth
from xerobridge_servicedesk.settings import ServiceDeskSettings

log = logging.getLogger(__name__)

ACCEPT = "application/vnd.manageengine.sdp.v3+json"
MAX_ROW_COUNT = 100
SUCCESS = 2000


# -- errors ----------------------------------------------------------------------------------------


class ServiceDeskUnavailable(SourceUnavailable):
    """The server could not answer now (5xx, 429, timeout, HTML error page): try again later."""


class ServiceDeskSetupError(SourceSetupError):
    """The source is set up wrong (credentials, base_url, the key's role): fix a setting."""


class ServiceDeskRefused(SourceRefused):
    """The server refused this request as such (bad value, duplicate name); retrying won't help."""

    def __init__(
        self, message: str, *, status: int | None = None, codes: Sequence[int] = ()
    ) -> None:
        super().__init__(message, status=status)
        self.codes = tuple(codes)


class ServiceDeskNotFound(ServiceDeskRefused):
    """The record asked for does not exist (any more)."""


# -- time ------------------------------------------------------------------------------------------


def to_millis(moment: datetime) -> int:
    """A datetime as SDP's epoch milliseconds (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def from_millis(value: Any) -> datetime | None:
    """SDP's `{value, display_value}` time (or bare epoch-ms string) as an aware datetime."""
    if isinstance(value, Mapping):
        value = value.get("value")
    if value in (None, "", "-1"):
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


# -- modules ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Module:
    """One kind of SDP record: where it is listed and what its list and record keys are."""

    path: str
    plural: str
    singular: str


MODULES: dict[str, Module] = {
    "accounts": Module("accounts", "accounts", "account"),
    "technicians": Module("technicians", "technicians", "technician"),
    # UNVERIFIED: the worklog type admin list's v3 path.
    "worklog_types": Module("worklog_types", "worklog_types", "worklog_type"),
    "requests": Module("requests", "requests", "request"),
    "problems": Module("problems", "problems", "problem"),
    "changes": Module("changes", "changes", "change"),
    "projects": Module("projects", "projects", "project"),
    # Tasks of every parent (requests, changes, projects, standalone) in one list; UNVERIFIED.
    "tasks": Module("tasks", "tasks", "task"),
}
PARENT_MODULES = ("requests", "problems", "changes", "projects", "tasks")


# -- worklogs --------------------------------------------------------------------------------------


def _cost(value: Any) -> Decimal:
    if value in (None, ""):
        return Decimal(0)
    return Decimal(str(value))


@dataclass(frozen=True)
class Worklog:
    """One worklog, read from either v3 format, with its parent (the API has no modified time).

    `fingerprint` is a hash of the content that matters for billing, so a stream tells an
    edited worklog from an unchanged one by id and fingerprint.
    """

    id: str
    module: str
    parent_id: str
    owner_id: str
    owner_name: str
    description: str  # HTML, as entered
    start: datetime | None
    end: datetime | None
    minutes: int
    type_id: str
    type_name: str
    owner_cost: Decimal
    other_cost: Decimal
    total_cost: Decimal
    is_billable: bool
    created: datetime | None
    raw: Mapping[str, Any] = field(repr=False, compare=False, hash=False)

    @classmethod
    def parse(cls, module: str, parent_id: str, record: Mapping[str, Any]) -> Worklog:
        """A worklog record of the new format (owner, type, time_spent, *_cost) or the old
        (technician, worklog_type, total_time_spent, *_charge)."""
        owner = record.get("owner") or record.get("technician") or {}
        wtype = record.get("type") or record.get("worklog_type") or {}
        spent = record.get("time_spent")
        if isinstance(spent, Mapping):
            minutes = int(spent.get("hours") or 0) * 60 + int(spent.get("minutes") or 0)
        else:
            # The old format's total_time_spent is milliseconds as a string.
            minutes = int(record.get("total_time_spent") or 0) // 60000
        return cls(
            id=str(record["id"]),
            module=module,
            parent_id=str(parent_id),
            owner_id=str(owner.get("id") or ""),
            owner_name=str(owner.get("name") or ""),
            description=str(record.get("description") or ""),
            start=from_millis(record.get("start_time")),
            end=from_millis(record.get("end_time")),
            minutes=minutes,
            type_id=str(wtype.get("id") or ""),
            type_name=str(wtype.get("name") or ""),
            owner_cost=_cost(record.get("owner_cost", record.get("tech_charge"))),
            other_cost=_cost(record.get("other_cost", record.get("other_charge"))),
            total_cost=_cost(record.get("total_cost", record.get("total_charge"))),
            is_billable=bool(record.get("is_billable", True)),
            created=from_millis(record.get("created_time") or record.get("recorded_time")),
            raw=record,
        )

    @property
    def hours(self) -> Decimal:
        """Time spent in hours, to the minute."""
        return (Decimal(self.minutes) / 60).quantize(Decimal("0.0001"))

    @property
    def key(self) -> str:
        """The worklog's source key: ids are unique per parent only (UNVERIFIED), so both."""
        return f"{self.module}/{self.parent_id}/{self.id}"

    @property
    def fingerprint(self) -> str:
        """A hash of what the invoice line is made from."""
        parts = [
            self.owner_id,
            self.description,
            str(self.start),
            str(self.end),
            str(self.minutes),
            self.type_id,
            self.type_name,
            str(self.owner_cost),
            str(self.other_cost),
            str(self.total_cost),
            str(self.is_billable),
        ]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


# -- the client ------------------------------------------------------------------------------------


def auth_for(settings: ServiceDeskSettings, **zoho_kwargs: Any) -> httpx.Auth:
    """The httpx.Auth the settings call for (one per source: it holds the Zoho token cache)."""
    if settings.auth == "zoho":
        assert settings.client_secret is not None and settings.refresh_token is not None
        return ZohoOAuth(
            client_id=settings.client_id,
            client_secret=settings.client_secret.get_secret_value(),
            refresh_token=settings.refresh_token.get_secret_value(),
            accounts_url=str(settings.accounts_url),
            **zoho_kwargs,
        )
    assert settings.token is not None
    return AuthtokenAuth(settings.token.get_secret_value())


def _messages(body: Any) -> tuple[str, list[int]]:
    """The `response_status` messages as one text, and their status codes."""
    status = body.get("response_status") if isinstance(body, Mapping) else None
    statuses = status if isinstance(status, list) else [status] if status else []
    texts: list[str] = []
    codes: list[int] = []
    for one in statuses:
        if not isinstance(one, Mapping):
            continue
        if one.get("status_code") not in (None, SUCCESS):
            codes.append(int(one["status_code"]))
        for message in one.get("messages") or ():
            if not isinstance(message, Mapping):
                continue
            if message.get("status_code") is not None:
                codes.append(int(message["status_code"]))
            text = str(message.get("message") or message.get("type") or "")
            if message.get("field"):
                text = f"{message['field']}: {text}"
            if text:
                texts.append(text)
    return "; ".join(texts) or "no reason given", codes


class ServiceDeskClient:
    """Reads and writes one ServiceDesk Plus MSP server over the v3 API."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        auth: httpx.Auth,
        *,
        page_size: int = MAX_ROW_COUNT,
        auth_kind: str = "authtoken",
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/").removesuffix("/api/v3")
        self.api_url = f"{self.base_url}/api/v3"
        self.auth = auth
        self.page_size = max(1, min(MAX_ROW_COUNT, page_size))
        self.auth_kind = auth_kind

    @classmethod
    def from_settings(
        cls, http: httpx.AsyncClient, settings: ServiceDeskSettings, **zoho_kwargs: Any
    ) -> ServiceDeskClient:
        """A client for a source's settings."""
        return cls(
            http,
            str(settings.base_url),
            auth_for(settings, **zoho_kwargs),
            page_size=settings.page_size,
            auth_kind=settings.auth,
        )

    # -- one call ----------------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        path: str,
        input_data: Mapping[str, Any] | None = None,
        *,
        what: str = "",
    ) -> dict[str, Any]:
        """One API call; returns the decoded body after its `response_status` said success.

        `what` names the record for messages ("account 'Acme'"); it defaults to the path.
        """
        url = f"{self.api_url}/{path.lstrip('/')}"
        what = what or f"{method} /api/v3/{path.lstrip('/')}"
        params: dict[str, str] = {}
        data: dict[str, str] | None = None
        if input_data is not None:
            encoded = json.dumps(input_data, separators=(",", ":"))
            if method == "GET":
                params["input_data"] = encoded
            else:
                data = {"input_data": encoded}
        try:
            response = await self.http.request(
                method,
                url,
                params=params,
                data=data,
                headers={"Accept": ACCEPT},
                auth=self.auth,
            )
        except httpx.TimeoutException as exc:
            raise ServiceDeskUnavailable(
                f"ServiceDesk Plus at {self.base_url} did not answer {what} in time "
                f"({type(exc).__name__}); it will be tried again later"
            ) from exc
        except httpx.TransportError as exc:
            host = exc.request.url.host if exc.request is not None else "the server"
            raise ServiceDeskUnavailable(
                f"could not reach {host} for {what} ({exc or type(exc).__name__}); it will be "
                "tried again later. If this persists, check the source's `base_url`"
                + (" and `accounts_url`" if self.auth_kind == "zoho" else "")
            ) from exc
        log.debug("%s %s -> %s", method, url, response.status_code)
        return self._decode(response, what)

    def _decode(self, response: httpx.Response, what: str) -> dict[str, Any]:
        status = response.status_code
        is_json = "json" in response.headers.get("content-type", "")
        body: Any = None
        if is_json:
            try:
                body = response.json()
            except ValueError:
                raise ServiceDeskUnavailable(
                    f"ServiceDesk Plus at {self.base_url} answered {what} with JSON that does "
                    "not parse (cut off?); it will be tried again later",
                    status=status,
                ) from None
        reason, codes = _messages(body)
        if status == 429 or 4015 in codes:
            raise ServiceDeskUnavailable(
                f"ServiceDesk Plus at {self.base_url} is limiting requests ({what}); slowing "
                "down and trying again later",
                status=status,
                retry_after=retry_after(response),
            )
        if status >= 500:
            raise ServiceDeskUnavailable(
                f"ServiceDesk Plus at {self.base_url} failed with HTTP {status} on {what}"
                + (f": {reason}" if is_json else "")
                + "; it will be tried again later",
                status=status,
                retry_after=retry_after(response),
            )
        if status == 401:
            fix = (
                "`client_id`, `client_secret` and `refresh_token` (and the token's scopes)"
                if self.auth_kind == "zoho"
                else "`token` (the key may have expired, or its technician been disabled)"
            )
            raise ServiceDeskSetupError(
                f"ServiceDesk Plus at {self.base_url} refused the credentials for {what} "
                f"({reason}): check the source's {fix}",
                status=status,
            )
        if status == 403:
            raise ServiceDeskSetupError(
                f"ServiceDesk Plus at {self.base_url} does not let this key do {what} "
                f"({reason}): give the key's technician or role that permission",
                status=status,
            )
        if not is_json or not isinstance(body, dict):
            kind = response.headers.get("content-type") or "no content type"
            if status >= 400:
                raise ServiceDeskSetupError(
                    f"{self.base_url} has no ServiceDesk Plus v3 API ({what} answered HTTP "
                    f"{status}, {kind}): check the source's `base_url`",
                    status=status,
                )
            raise ServiceDeskSetupError(
                f"{what} on {self.base_url} answered with {kind}, not JSON (a login page?): "
                "check that the source's `base_url` is the MSP server's root URL",
                status=status,
            )
        if status == 404 or 4007 in codes:
            if "response_status" not in body:
                raise ServiceDeskSetupError(
                    f"{self.base_url} has no ServiceDesk Plus v3 API ({what} not found): check "
                    "the source's `base_url`",
                    status=status,
                )
            raise ServiceDeskNotFound(
                f"ServiceDesk Plus has no such record: {what} ({reason})",
                status=status,
                codes=codes,
            )
        if status >= 400 or codes:
            if 4002 in codes:
                raise ServiceDeskSetupError(
                    f"ServiceDesk Plus at {self.base_url} does not let this key do {what} "
                    f"({reason}): give the key's technician or role that permission",
                    status=status,
                )
            raise ServiceDeskRefused(
                f"ServiceDesk Plus refused {what}: {reason}", status=status, codes=codes
            )
        return body

    # -- lists -------------------------------------------------------------------------------------

    async def page(
        self,
        module_path: str,
        plural: str,
        *,
        start_index: int = 1,
        row_count: int | None = None,
        search_criteria: Any = None,
        sort_field: str | None = None,
        sort_order: str = "asc",
        what: str = "",
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of a list: its records and whether more rows follow."""
        rows = min(MAX_ROW_COUNT, row_count or self.page_size)
        list_info: dict[str, Any] = {"row_count": rows, "start_index": start_index}
        if search_criteria is not None:
            list_info["search_criteria"] = search_criteria
        if sort_field:
            list_info["sort_field"] = sort_field
            list_info["sort_order"] = sort_order
        body = await self.call(
            "GET", module_path, {"list_info": list_info}, what=what or f"the {plural} list"
        )
        echo = body.get("list_info") or {}
        if str(echo.get("start_index", start_index)) != str(start_index):
            # A cache or proxy answering an earlier page: reading on would skip records.
            raise ServiceDeskUnavailable(
                f"ServiceDesk Plus at {self.base_url} answered the {plural} list from row "
                f"{echo.get('start_index')} when asked from row {start_index} (a repeated "
                "page); it will be tried again later"
            )
        records = body.get(plural)
        if not isinstance(records, list):
            raise ServiceDeskSetupError(
                f"the {plural} list on {self.base_url} has no {plural!r}: check the source's "
                "`base_url` (is it a ServiceDesk Plus MSP server?)"
            )
        return records, bool(echo.get("has_more_rows"))

    async def iter_list(
        self,
        module_path: str,
        plural: str,
        *,
        search_criteria: Any = None,
        sort_field: str | None = "id",
        what: str = "",
    ) -> AsyncIterator[dict[str, Any]]:
        """Every record of a list, page by page, each id once."""
        seen: set[str] = set()
        start = 1
        while True:
            records, more = await self.page(
                module_path,
                plural,
                start_index=start,
                search_criteria=search_criteria,
                sort_field=sort_field,
                what=what,
            )
            for record in records:
                rid = str(record.get("id"))
                if rid not in seen:
                    seen.add(rid)
                    yield record
            if not more or not records:
                return
            start += len(records)

    def iter_module(self, module: str, *, search_criteria: Any = None) -> AsyncIterator[dict]:
        """Every record of a module (accounts, technicians, worklog_types, requests ...)."""
        m = MODULES[module]
        return self.iter_list(m.path, m.plural, search_criteria=search_criteria)

    def iter_changed(
        self, module: str, since: datetime | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Parents (requests, problems ...) whose last_updated_time is after `since`, oldest
        first, each once (keyset paging: see `xerobridge.sdk.changed_since`); a millisecond
        fuller than a page is finished by position."""
        m = MODULES[module]

        async def first(at: int | None, inclusive: bool) -> Page[dict[str, Any]]:
            condition = "greater or equal" if inclusive else "greater than"
            criteria = (
                None if at is None
                else {"field": "last_updated_time", "condition": condition, "value": str(at)}
            )  # fmt: skip
            records, more = await self.page(
                m.path, m.plural, search_criteria=criteria, sort_field="last_updated_time",
                what=f"the {m.plural} changed since {at or 'the start'}",
            )  # fmt: skip
            return Page(records, more)

        async def rest_of(at: int, seen: set[str], read: int) -> Page[dict[str, Any]]:
            records, more = await self.page(
                m.path, m.plural, start_index=read + 1, sort_field="id",
                search_criteria={"field": "last_updated_time", "condition": "is",
                                 "value": str(at)},
                what=f"the {m.plural} changed at {at}",
            )  # fmt: skip
            return Page(records, more)

        start = to_millis(since) if since is not None else None
        return changed_since(first, rest_of, since=start, inclusive=False, stamp=_stamp,
                             key=lambda r: str(r.get("id")))  # fmt: skip

    # -- accounts ----------------------------------------------------------------------------------

    def accounts(self) -> AsyncIterator[dict[str, Any]]:
        """Every MSP account, with its additional fields (`udf_fields`)."""
        return self.iter_module("accounts")

    async def accounts_named(self, name: str) -> list[dict[str, Any]]:
        """The accounts of a name (names are unique in MSP, in any case)."""
        criteria = {"field": "name", "condition": "is", "value": name}
        return [a async for a in self.iter_module("accounts", search_criteria=criteria)]

    async def account(self, account_id: str) -> dict[str, Any]:
        """One account by id."""
        body = await self.call("GET", f"accounts/{account_id}", what=f"account {account_id}")
        return dict(body["account"])

    async def account_fields(self) -> dict[str, str]:
        """The account's fields and additional fields, key to label (for the mapping table)."""
        body = await self.call("GET", "accounts/_metainfo", what="the account fields")
        fields = (body.get("metainfo") or {}).get("fields") or {}
        out: dict[str, str] = {}
        for key, info in fields.items():
            if key == "udf_fields":
                for udf, udf_info in (info.get("fields") or {}).items():
                    out[udf] = str(udf_info.get("display_name") or udf)
            else:
                out[key] = str((info or {}).get("display_name") or key)
        return out

    async def create_account(self, account: Mapping[str, Any]) -> dict[str, Any]:
        """Add an account; returns it with its new id."""
        name = account.get("name", "?")
        body = await self.call(
            "POST", "accounts", {"account": dict(account)}, what=f"adding account {name!r}"
        )
        return dict(body["account"])

    async def update_account(self, account_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change an account's fields (additional fields under `udf_fields`)."""
        body = await self.call(
            "PUT",
            f"accounts/{account_id}",
            {"account": dict(changes)},
            what=f"updating account {account_id}",
        )
        return dict(body["account"])

    # -- worklog types and technicians -------------------------------------------------------------

    def worklog_types(self) -> AsyncIterator[dict[str, Any]]:
        """Every worklog type."""
        return self.iter_module("worklog_types")

    async def worklog_types_named(self, name: str) -> list[dict[str, Any]]:
        """The worklog types of a name (unique in MSP, in any case)."""
        criteria = {"field": "name", "condition": "is", "value": name}
        return [t async for t in self.iter_module("worklog_types", search_criteria=criteria)]

    async def create_worklog_type(self, worklog_type: Mapping[str, Any]) -> dict[str, Any]:
        """Add a worklog type; returns it with its new id."""
        name = worklog_type.get("name", "?")
        body = await self.call(
            "POST",
            "worklog_types",
            {"worklog_type": dict(worklog_type)},
            what=f"adding worklog type {name!r}",
        )
        return dict(body["worklog_type"])

    async def update_worklog_type(self, type_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change a worklog type."""
        body = await self.call(
            "PUT",
            f"worklog_types/{type_id}",
            {"worklog_type": dict(changes)},
            what=f"updating worklog type {type_id}",
        )
        return dict(body["worklog_type"])

    def technicians(self) -> AsyncIterator[dict[str, Any]]:
        """Every technician (with `cost_per_hour`)."""
        return self.iter_module("technicians")

    # -- parents and worklogs ----------------------------------------------------------------------

    async def parent(self, module: str, parent_id: str) -> dict[str, Any]:
        """One request, problem, change, project or task."""
        m = MODULES[module]
        body = await self.call("GET", f"{m.path}/{parent_id}", what=f"{m.singular} {parent_id}")
        return dict(body[m.singular])

    async def worklogs(self, module: str, parent_id: str) -> list[Worklog]:
        """Every worklog of one parent, parsed."""
        m = MODULES[module]
        what = f"the worklogs of {m.singular} {parent_id}"
        return [
            Worklog.parse(module, parent_id, record)
            async for record in self.iter_list(
                f"{m.path}/{parent_id}/worklogs", "worklogs", what=what
            )
        ]


def _stamp(record: Mapping[str, Any]) -> int | None:
    value = record.get("last_updated_time")
    if isinstance(value, Mapping):
        value = value.get("value")
    return int(value) if value not in (None, "") else None
