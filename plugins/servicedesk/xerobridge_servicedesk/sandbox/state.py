"""The emulated MSP server's state: records, credentials, Zoho tokens, faults, and the edits a
technician makes."""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from xerobridge.sdk import Clock, SystemClock

log = logging.getLogger(__name__)

#: Modules with records of their own, in the order the generator fills them.
MODULES = (
    "accounts",
    "technicians",
    "worklog_types",
    "requests",
    "problems",
    "changes",
    "projects",
    "tasks",
)
PARENTS = ("requests", "problems", "changes", "projects", "tasks")
SINGULAR = {
    "accounts": "account",
    "technicians": "technician",
    "worklog_types": "worklog_type",
    "requests": "request",
    "problems": "problem",
    "changes": "change",
    "projects": "project",
    "tasks": "task",
}
ACCOUNT_FIELDS = (
    "name",
    "description",
    "email_id",
    "phone",
    "fax",
    "web_url",
    "support_email",
    "email_domain",
    "door_no",
    "street",
    "landmark",
    "city",
    "postal_code",
    "state",
    "country",
)
#: Zoho: access token lifetime and the minting limit per refresh token.
ZOHO_TOKEN_SECONDS = 3600
ZOHO_MINTS = 10
ZOHO_WINDOW = 600.0
#: Ways a fault can spoil a successful answer (Fault.answer).
MALFORMED = ("truncated", "html", "repeat")
CENT = Decimal("0.01")


class SandboxError(ValueError):
    """A refused change; `code` is the SDP status code and `field` the field it is about."""

    def __init__(self, message: str, code: int = 4000, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field


@dataclass
class Fault:
    """A failure the sandbox plays on the next matching API requests.

    `status` answers with that HTTP status (5xx pages as HTML, like the web server in front of
    MSP); `delay` waits on the sandbox's clock first (a served sandbox on the system clock makes
    a client time out); `answer` spoils a successful answer instead: "truncated" JSON, an "html"
    login page with status 200, or "repeat" the previous answer to the same path whatever the
    query asked for (a cache in front of the server). `times` 0 plays until cleared; `after`
    lets that many matching requests through first.
    """

    status: int | None = 503
    times: int = 1
    path: str | None = None  # start of the path after /api/v3, e.g. "/requests"
    method: str | None = None
    delay: float = 0.0
    retry_after: float | None = None
    answer: str | None = None
    after: int = 0

    def __post_init__(self) -> None:
        if self.answer is not None and self.answer not in MALFORMED:
            raise ValueError(f"fault answer {self.answer!r} is not one of {', '.join(MALFORMED)}")
        if self.answer is not None and self.status is not None:
            raise ValueError("a fault spoils either the status or the answer, not both")

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request."""
        if self.method and self.method.upper() != method.upper():
            return False
        return self.path is None or path.startswith(self.path)


@dataclass
class RateLimit:
    """An optional request quota per credential (SDP publishes none for on-premise)."""

    requests: int
    per_seconds: float
    _seen: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def retry_after(self, key: str, now: float) -> float | None:
        """None when the request may pass (and counts it), else seconds until it may."""
        window = self._seen[key]
        while window and window[0] <= now - self.per_seconds:
            window.popleft()
        if len(window) >= self.requests:
            return max(0.0, window[0] + self.per_seconds - now)
        window.append(now)
        return None


def display(moment: datetime) -> str:
    """SDP's display_value of a time, e.g. 'Mar 1, 2026 12:00 PM' (the server's zone: UTC)."""
    return moment.strftime("%b %-d, %Y %I:%M %p")


def money(value: Decimal) -> str:
    """A cost as v3 writes numbers: a string (UNVERIFIED: digits after the point)."""
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


class SandboxState:
    """Everything the emulated server holds; tests seed and change it directly."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        authtoken: str = "sandbox-authtoken",
        client_id: str = "1000.SANDBOXCLIENT",
        client_secret: str = "sandbox-client-secret",
        refresh_token: str = "1000.sandbox-refresh-token",
        public_url: str | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.authtoken = authtoken
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_tokens = {refresh_token}
        self.access_tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._mints: dict[str, deque[float]] = defaultdict(deque)
        self.public_url = public_url
        self.records: dict[str, dict[str, dict[str, Any]]] = {m: {} for m in MODULES}
        #: (module, parent id) -> worklog id -> the worklog in the new format.
        self.worklogs: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
        #: Account additional fields: key -> {display_name, type}.
        self.account_udfs: dict[str, dict[str, str]] = {}
        self._next_id = 0
        self._next_display: defaultdict[str, int] = defaultdict(int)
        self.faults: list[Fault] = []
        self.rate_limit: RateLimit | None = None
        #: (method, path with query) of every API request, newest last.
        self.request_log: deque[tuple[str, str]] = deque(maxlen=100_000)
        #: The last successful GET answer per path, for the "repeat" fault.
        self.last_answers: dict[str, tuple[bytes, str]] = {}
        #: Ids of records made odd on purpose, by what is odd about them (see generator).
        self.odd: dict[str, Any] = {}

    # -- time and ids ------------------------------------------------------------------------------

    def now_ms(self) -> int:
        """The clock's time as epoch milliseconds."""
        return int(self.clock.now().timestamp() * 1000)

    def time(self, millis: int | None = None) -> dict[str, str]:
        """A v3 date-time object."""
        ms = self.now_ms() if millis is None else int(millis)
        return {"value": str(ms), "display_value": display(datetime.fromtimestamp(ms / 1000, UTC))}

    def new_id(self) -> str:
        """A fresh string id, long like SDP's (beyond what a JSON number holds exactly)."""
        self._next_id += 1
        return str(234759000000000000 + self._next_id)

    def counts(self) -> dict[str, int]:
        """How many records of each kind (and worklogs) the server holds."""
        out = {m: len(self.records[m]) for m in MODULES}
        out["worklogs"] = sum(len(w) for w in self.worklogs.values())
        return out

    # -- auth --------------------------------------------------------------------------------------

    def mint(self, client_id: str, client_secret: str, refresh_token: str) -> dict[str, Any]:
        """Zoho's token endpoint answer for a refresh-token grant (always HTTP 200 but for the
        throttle, which answers 400: UNVERIFIED status)."""
        if client_id != self.client_id:
            return {"error": "invalid_client"}
        if client_secret != self.client_secret:
            return {"error": "invalid_client_secret"}
        if refresh_token not in self.refresh_tokens:
            return {"error": "invalid_code"}
        now = self.clock.monotonic()
        window = self._mints[refresh_token]
        while window and window[0] <= now - ZOHO_WINDOW:
            window.popleft()
        if len(window) >= ZOHO_MINTS:
            return {
                "error": "Access Denied",
                "error_description": "You have made too many requests continuously. Please "
                "try again after some time.",
                "status": "failure",
            }
        window.append(now)
        token = "1000." + secrets.token_hex(16)
        self.access_tokens[token] = now + ZOHO_TOKEN_SECONDS
        return {
            "access_token": token,
            "api_domain": self.public_url or "https://www.zohoapis.com",
            "token_type": "Bearer",
            "expires_in": ZOHO_TOKEN_SECONDS,
        }

    def credential(self, headers: Any) -> str | None:
        """The credential a request carries, if valid: the authtoken or a live Zoho token."""
        if headers.get("authtoken") == self.authtoken:
            return self.authtoken
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme == "Zoho-oauthtoken":
            expiry = self.access_tokens.get(value.strip())
            if expiry is not None and self.clock.monotonic() < expiry:
                return value.strip()
        return None

    def revoke_access_tokens(self) -> None:
        """Zoho access tokens stop working (revoked in the console, or expired early)."""
        self.access_tokens.clear()

    # -- faults ------------------------------------------------------------------------------------

    def add_fault(self, **kwargs: Any) -> Fault:
        """Play a fault on matching requests (see Fault)."""
        fault = Fault(**kwargs)
        self.faults.append(fault)
        return fault

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The fault this request meets, counting it down."""
        for fault in list(self.faults):
            if not fault.matches(method, path):
                continue
            if fault.after > 0:
                fault.after -= 1
                continue
            if fault.times > 0:
                fault.times -= 1
                if fault.times == 0:
                    self.faults.remove(fault)
            return fault
        return None

    # -- records -----------------------------------------------------------------------------------

    def get(self, module: str, record_id: str) -> dict[str, Any] | None:
        """A record by module and id."""
        return self.records[module].get(str(record_id))

    def _stamp(self, record: dict[str, Any], *, created: int | None = None) -> None:
        now = self.now_ms()
        record.setdefault("created_time", self.time(created if created is not None else now))
        record["last_updated_time"] = self.time(max(now, int(record["created_time"]["value"])))

    def touch(self, module: str, record_id: str) -> None:
        """Move a record's last_updated_time to now."""
        record = self.records[module][str(record_id)]
        self._stamp(record)

    def _unique_name(self, module: str, name: str, keep: str | None = None) -> None:
        if not name.strip():
            raise SandboxError("name is mandatory", 4012, "name")
        for rid, other in self.records[module].items():
            if rid != keep and str(other.get("name", "")).casefold() == name.casefold():
                raise SandboxError(f"{name} already exists", 4008, "name")

    def add_account(self, *, created: int | None = None, **fields: Any) -> dict[str, Any]:
        """A new account; `udf_fields` holds its additional fields."""
        name = str(fields.get("name", ""))
        self._unique_name("accounts", name)
        record: dict[str, Any] = {"id": self.new_id()}
        record.update(self._account_fields(fields))
        self._stamp(record, created=created)
        self.records["accounts"][record["id"]] = record
        return record

    def edit_account(self, account_id: str, **changes: Any) -> dict[str, Any]:
        """Change an account's fields (additional fields merged)."""
        record = self._existing("accounts", account_id)
        if "name" in changes:
            self._unique_name("accounts", str(changes["name"]), keep=record["id"])
        fields = self._account_fields(changes)
        udfs = fields.pop("udf_fields", None)
        record.update(fields)
        if udfs is not None:
            record.setdefault("udf_fields", {}).update(udfs)
        self._stamp(record)
        return record

    def _account_fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in fields.items():
            if key == "udf_fields":
                udfs = dict(value or {})
                for udf in udfs:
                    if udf not in self.account_udfs:
                        raise SandboxError(f"{udf} is not an account field", 4000, udf)
                out["udf_fields"] = {k: (None if v is None else str(v)) for k, v in udfs.items()}
            elif key in ACCOUNT_FIELDS:
                out[key] = None if value is None else str(value)
            elif key not in ("id", "created_time", "last_updated_time"):
                raise SandboxError(f"{key} is not an account field", 4000, key)
        return out

    def add_worklog_type(self, name: str, description: str = "") -> dict[str, Any]:
        """A new worklog type."""
        self._unique_name("worklog_types", name)
        record: dict[str, Any] = {
            "id": self.new_id(),
            "name": name,
            "description": description or None,
        }
        self.records["worklog_types"][record["id"]] = record
        return record

    def edit_worklog_type(self, type_id: str, **changes: Any) -> dict[str, Any]:
        """Change a worklog type's name or description."""
        record = self._existing("worklog_types", type_id)
        if "name" in changes:
            self._unique_name("worklog_types", str(changes["name"]), keep=record["id"])
        for key in ("name", "description"):
            if key in changes:
                record[key] = changes[key]
        return record

    def add_technician(
        self, name: str, cost_per_hour: Decimal | str, account_ids: list[str] | None = None
    ) -> dict[str, Any]:
        """A new technician with a cost per hour, associated with accounts."""
        record: dict[str, Any] = {
            "id": self.new_id(),
            "name": name,
            "email_id": name.lower().replace(" ", ".") + "@msp.example.com",
            "cost_per_hour": money(Decimal(str(cost_per_hour))),
            "associated_accounts": [
                {"id": a, "name": self._existing("accounts", a)["name"]} for a in account_ids or []
            ],
        }
        self.records["technicians"][record["id"]] = record
        return record

    def add_parent(
        self,
        module: str,
        account_id: str,
        title: str,
        *,
        created: int | None = None,
        parent: tuple[str, str] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A new request, problem, change, project or task of an account."""
        if module not in PARENTS:
            raise SandboxError(f"{module} has no worklogs", 4000, "module")
        account = self._existing("accounts", account_id)
        self._next_display[module] += 1
        record: dict[str, Any] = {
            "id": self.new_id(),
            "display_id": str(self._next_display[module]),
            "subject" if module == "requests" else "title": title,
            "account": {"id": account["id"], "name": account["name"]},
            "status": {"name": "Open"},
        }
        if parent is not None:  # a task's request, change or project
            owner = self._existing(parent[0], parent[1])
            record[SINGULAR[parent[0]]] = {"id": owner["id"]}
        record.update(extra)
        self._stamp(record, created=created)
        self.records[module][record["id"]] = record
        return record

    def _existing(self, module: str, record_id: str) -> dict[str, Any]:
        record = self.records[module].get(str(record_id))
        if record is None:
            raise SandboxError(f"no {SINGULAR.get(module, module)} with id {record_id}", 4007, "id")
        return record

    # -- worklogs ----------------------------------------------------------------------------------

    def add_worklog(
        self,
        module: str,
        parent_id: str,
        *,
        owner_id: str,
        minutes: int,
        description: str = "",
        type_id: str | None = None,
        other_cost: Decimal | str = "0",
        is_billable: bool = True,
        start: int | None = None,
        total_cost: Decimal | str | None = None,
    ) -> dict[str, Any]:
        """A technician logs time on a parent; the parent's last_updated_time moves."""
        self._existing(module, parent_id)
        worklog: dict[str, Any] = {"id": self.new_id()}
        self._fill_worklog(
            worklog,
            owner_id=owner_id,
            minutes=minutes,
            description=description,
            type_id=type_id,
            other_cost=other_cost,
            is_billable=is_billable,
            start=start,
            total_cost=total_cost,
        )
        worklog["created_time"] = self.time()
        worklog[SINGULAR[module]] = {"id": str(parent_id)}
        self.worklogs[(module, str(parent_id))][worklog["id"]] = worklog
        # UNVERIFIED: that logging time moves the parent's last_updated_time in the real API.
        self.touch(module, parent_id)
        return worklog

    def _fill_worklog(self, worklog: dict[str, Any], **given: Any) -> None:
        owner = self._existing("technicians", given["owner_id"])
        minutes = int(given["minutes"])
        if minutes < 1:
            raise SandboxError("time_spent must be at least a minute", 4001, "time_spent")
        wtype = None
        if given.get("type_id"):
            wtype = self._existing("worklog_types", given["type_id"])
        start = int(given["start"]) if given.get("start") is not None else self.now_ms()
        owner_cost = (Decimal(owner["cost_per_hour"]) * minutes / 60).quantize(CENT)
        other = Decimal(str(given.get("other_cost") or 0))
        total = given.get("total_cost")
        total_cost = Decimal(str(total)) if total is not None else owner_cost + other
        worklog.update(
            {
                "owner": {"id": owner["id"], "name": owner["name"], "email_id": owner["email_id"]},
                "description": given.get("description") or "",
                "start_time": self.time(start),
                "end_time": self.time(start + minutes * 60_000),
                "time_spent": {"hours": str(minutes // 60), "minutes": str(minutes % 60)},
                "include_nonoperational_hours": False,
                "type": {"id": wtype["id"], "name": wtype["name"]} if wtype else None,
                "owner_cost": money(owner_cost),
                "other_cost": money(other),
                "total_cost": money(total_cost),
                # UNVERIFIED: the field a billable flag has in v3 (none in the official lists).
                "is_billable": bool(given.get("is_billable", True)),
            }
        )

    def _worklog(self, module: str, parent_id: str, worklog_id: str) -> dict[str, Any]:
        self._existing(module, parent_id)
        worklog = self.worklogs[(module, str(parent_id))].get(str(worklog_id))
        if worklog is None:
            raise SandboxError(f"no worklog with id {worklog_id}", 4007, "id")
        return worklog

    def edit_worklog(
        self, module: str, parent_id: str, worklog_id: str, **changes: Any
    ) -> dict[str, Any]:
        """A technician edits a worklog: time, type, description, costs, billable."""
        worklog = self._worklog(module, parent_id, worklog_id)
        spent = worklog["time_spent"]
        current = {
            "owner_id": worklog["owner"]["id"],
            "minutes": int(spent["hours"]) * 60 + int(spent["minutes"]),
            "description": worklog["description"],
            "type_id": (worklog["type"] or {}).get("id"),
            "other_cost": worklog["other_cost"],
            "is_billable": worklog["is_billable"],
            "start": int(worklog["start_time"]["value"]),
        }
        unknown = set(changes) - set(current) - {"total_cost"}
        if unknown:
            raise SandboxError(f"cannot edit {', '.join(sorted(unknown))}", 4000, "worklog")
        self._fill_worklog(worklog, **{**current, **changes})
        self.touch(module, parent_id)  # UNVERIFIED, as for add_worklog
        return worklog

    def delete_worklog(self, module: str, parent_id: str, worklog_id: str) -> None:
        """A technician deletes a worklog (no tombstone)."""
        self._worklog(module, parent_id, worklog_id)
        del self.worklogs[(module, str(parent_id))][str(worklog_id)]
        self.touch(module, parent_id)  # UNVERIFIED, as for add_worklog

    def worklogs_of(self, module: str, parent_id: str) -> list[dict[str, Any]]:
        """A parent's worklogs (the parent must exist)."""
        self._existing(module, parent_id)
        return list(self.worklogs[(module, str(parent_id))].values())

    # -- generated data ----------------------------------------------------------------------------

    def generate(self, *, seed: int = 1, accounts: int = 8, requests: int = 30) -> None:
        """Replace everything with deterministic generated data (see generator)."""
        from xerobridge_servicedesk.sandbox.generator import generate

        self.records = {m: {} for m in MODULES}
        self.worklogs = defaultdict(dict)
        self.account_udfs = {}
        self._next_display = defaultdict(int)
        self.odd = {}
        generate(self, seed=seed, accounts=accounts, requests=requests)


def old_format(worklog: dict[str, Any]) -> dict[str, Any]:
    """A worklog under the old v3 names (what a client without the v3 Accept header gets)."""
    spent = worklog["time_spent"]
    millis = (int(spent["hours"]) * 60 + int(spent["minutes"])) * 60_000
    renamed = {
        "owner": "technician",
        "type": "worklog_type",
        "owner_cost": "tech_charge",
        "other_cost": "other_charge",
        "total_cost": "total_charge",
        "include_nonoperational_hours": "inc_nonOperationalHours",
    }
    out = {renamed.get(k, k): v for k, v in worklog.items() if k != "time_spent"}
    out["total_time_spent"] = str(millis)
    return out
