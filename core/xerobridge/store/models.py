"""The store's tables (SQLModel); the schema itself is created by the Alembic migrations."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC, so comparisons behave alike on SQLite and PostgreSQL."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC time")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQL on SQLite hands back text
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC)


def _ts(*, index: bool = False, nullable: bool = True) -> Any:
    return Field(default=None, sa_column=sa.Column(UTCDateTime(), index=index, nullable=nullable))


def _json() -> Any:
    return Field(default=None, sa_column=sa.Column(sa.JSON(), nullable=True))


def _text() -> Any:
    return Field(default="", sa_column=sa.Column(sa.Text(), nullable=False, server_default=""))


class TokenGrant(SQLModel, table=True):
    """One OAuth token set; a web-app consent can cover several organisations (connections).

    The refresh token rotates on every use, so the set lives once, here, and every connection
    of the grant shares it. `refresh_owner`/`refresh_until` is the lease that lets exactly one
    process at a time spend the refresh token.
    """

    __tablename__ = "token_grant"

    id: int | None = Field(default=None, primary_key=True)
    auth_kind: str = "web"  # web (authorization code) | custom (client credentials)
    client_id: str = ""
    client_secret: str = _text()  # encrypted
    token: str = _text()  # encrypted JSON token set
    token_expires_at: datetime | None = _ts()
    last_refresh_at: datetime | None = _ts()
    identity_url: str = ""
    scope: str = _text()
    refresh_owner: str = ""
    refresh_until: datetime | None = _ts()
    created_at: datetime | None = _ts()


class Connection(SQLModel, table=True):
    """One Xero organisation (tenant)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    grant_id: int | None = Field(default=None, foreign_key="token_grant.id", index=True)
    tenant_id: str = Field(default="", index=True)
    xero_connection_id: str = ""  # the id /connections gives, for disconnecting
    tenant_name: str = ""
    short_code: str = ""
    base_currency: str = ""
    timezone: str = ""
    status: str = "pending"  # pending | connected | error
    status_reason: str = _text()
    api_url: str = ""
    webhook_key: str = _text()  # encrypted
    daily_limit: int = 5000
    parked_until: datetime | None = _ts()  # a 429 or a spent day parks the connection
    created_at: datetime | None = _ts()


class Source(SQLModel, table=True):
    """One configured instance of a plugin, bound to one connection."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    plugin: str = Field(index=True)
    connection_id: int | None = Field(default=None, foreign_key="connection.id", index=True)
    #: Goes into every natural key this source writes, so two stores never collide in one org.
    key_prefix: str = Field(unique=True)
    enabled: bool = True
    created_at: datetime | None = _ts()


class Setting(SQLModel, table=True):
    """One setting value of a source, or of one record of it (`scope` = "stream:key")."""

    __table_args__ = (sa.UniqueConstraint("source_id", "scope", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="source.id", index=True)
    scope: str = ""  # "" for the source itself
    name: str
    value: str = _text()  # text as a person types it; Fernet token when secret
    secret: bool = False
    updated_at: datetime | None = _ts()


class Cursor(SQLModel, table=True):
    """Where a stream's last fetch got to."""

    source_id: int = Field(foreign_key="source.id", primary_key=True)
    stream: str = Field(primary_key=True)
    value: str = _text()
    updated_at: datetime | None = _ts()


class Job(SQLModel, table=True):
    """One unit of queued work; finished jobs leave this table for the sync log."""

    __table_args__ = (
        # One waiting job per record: a new edit merges into it until a worker claims it.
        sa.Index(
            "ux_job_pending",
            "source_id",
            "kind",
            "stream",
            "record_key",
            unique=True,
            sqlite_where=sa.text("state IN ('queued', 'held', 'dead')"),
            postgresql_where=sa.text("state IN ('queued', 'held', 'dead')"),
        ),
        sa.Index(
            "ix_job_claim",
            "connection_id",
            "state",
            "run_after",
        ),
        sa.Index("ix_job_record", "source_id", "stream", "record_key"),
        # A claim reads due jobs of one kind one priority at a time, oldest first (queue.py).
        sa.Index("ix_job_due", "state", "kind", "priority", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="source.id")
    connection_id: int | None = Field(default=None)
    kind: str = "push"  # fetch | push | apply
    stream: str = ""
    record_key: str = ""
    op: str = "upsert"
    payload: dict[str, Any] | None = _json()
    state: str = "queued"  # queued | held | running | dead
    hold_reason: str = ""  # approval | mapping
    priority: int = 0
    attempts: int = 0
    max_attempts: int = 8
    run_after: datetime | None = _ts(nullable=False)
    lease_owner: str | None = Field(default=None)
    lease_until: datetime | None = _ts()
    last_error: str = _text()
    created_at: datetime | None = _ts()
    updated_at: datetime | None = _ts()


class Link(SQLModel, table=True):
    """Source record X of source S, in a role, is Xero object Y."""

    __table_args__ = (
        sa.UniqueConstraint("source_id", "stream", "record_key", "role"),
        sa.Index("ix_link_xero", "source_id", "xero_type", "xero_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="source.id")
    stream: str
    record_key: str
    role: str = "main"
    xero_type: str
    xero_id: str | None = None
    natural_key: str = ""
    method: str = ""  # matched | chosen | created
    pushed_hash: str = ""
    in_flight_at: datetime | None = _ts()
    in_flight_hash: str = ""
    attempt_id: int | None = Field(default=None, foreign_key="write_attempt.id")
    updated_at: datetime | None = _ts()
    #: The source's change time of the record as our own write into it left it (from Xero):
    #: a change read back at exactly that time is our echo, and is not pushed.
    source_version: str = Field(default="", sa_column_kwargs={"server_default": ""})


class Claim(SQLModel, table=True):
    """Something a source may put in Xero once only (a subscription's billing period), held by
    the record whose document carries it: the first record to write it keeps it."""

    __table_args__ = (sa.UniqueConstraint("source_id", "claim"),)

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="source.id")
    claim: str
    stream: str
    record_key: str
    role: str = "main"
    created_at: datetime | None = _ts()


class WriteAttempt(SQLModel, table=True):
    """One write request to Xero as stored before it is sent."""

    __tablename__ = "write_attempt"

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="connection.id", index=True)
    xero_type: str
    method: str = "POST"
    path: str = ""
    body: str = _text()
    idempotency_key: str = Field(max_length=128)
    prepared_at: datetime | None = _ts()
    sent_at: datetime | None = _ts()
    settled_at: datetime | None = _ts()
    outcome: str = ""  # "" while unresolved | ok | failed | swept


class Worker(SQLModel, table=True):
    """A running worker process and its heartbeat."""

    id: str = Field(primary_key=True)
    hostname: str = ""
    pid: int = 0
    started_at: datetime | None = _ts()
    heartbeat_at: datetime | None = _ts(index=True)


class SyncLog(SQLModel, table=True):
    """What was synced: one row per finished job."""

    __tablename__ = "sync_log"
    __table_args__ = (sa.Index("ix_sync_log_filter", "source_id", "stream", "status", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime | None = _ts(index=True)
    source_id: int | None = Field(default=None)
    stream: str = ""
    record_key: str = ""
    action: str = ""  # created | updated | skipped | failed | cancelled | fetched
    status: str = "success"  # success | error
    message: str = _text()
    xero_type: str = ""
    xero_id: str = ""
    xero_url: str = ""
    api_calls: int = 0
    duration_ms: int = 0
    job_id: int | None = None


class ActionLog(SQLModel, table=True):
    """A notification for a person, with its level."""

    __tablename__ = "action_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime | None = _ts(index=True)
    source_id: int | None = Field(default=None, index=True)
    connection_id: int | None = Field(default=None)
    level: str = "info"  # error | action | info
    message: str = _text()
    stream: str = ""
    record_key: str = ""
    acknowledged: bool = False


class ApiUsage(SQLModel, table=True):
    """API calls made to Xero per connection per day (UTC)."""

    __tablename__ = "api_usage"

    connection_id: int = Field(foreign_key="connection.id", primary_key=True)
    day: date = Field(primary_key=True)
    calls: int = 0
    rate_limited: int = 0  # 429 answers
    errors: int = 0


class MirrorRecord(SQLModel, table=True):
    """A local copy of one Xero Contact, Item, Account, TaxRate or TrackingCategory."""

    __tablename__ = "mirror_record"
    __table_args__ = (
        sa.UniqueConstraint("connection_id", "kind", "xero_id"),
        sa.Index("ix_mirror_number", "connection_id", "kind", "number"),
        sa.Index("ix_mirror_name", "connection_id", "kind", "name_key"),
        sa.Index("ix_mirror_email", "connection_id", "kind", "email_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="connection.id")
    kind: str  # Contacts | Items | Accounts | TaxRates | TrackingCategories
    xero_id: str
    number: str = ""  # ContactNumber, Item Code, Account Code, TaxType
    name_key: str = ""  # the name folded to lower case, as Xero's uniqueness sees it
    email_key: str = ""
    status: str = ""
    data: dict[str, Any] | None = _json()
    updated_at: datetime | None = _ts()


class MirrorCursor(SQLModel, table=True):
    """How fresh the mirror of one kind is: the next read asks If-Modified-Since this."""

    __tablename__ = "mirror_cursor"

    connection_id: int = Field(foreign_key="connection.id", primary_key=True)
    kind: str = Field(primary_key=True)
    modified_since: datetime | None = _ts()
    refreshed_at: datetime | None = _ts()


class XeroEventRow(SQLModel, table=True):
    """A Xero webhook event as received; duplicates are dropped by the unique key."""

    __tablename__ = "xero_event"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "category", "resource_id", "event_type", "event_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str
    category: str  # CONTACT | INVOICE | CREDITNOTE ...
    event_type: str  # CREATE | UPDATE
    resource_id: str
    event_at: datetime = _ts(nullable=False)
    received_at: datetime | None = _ts()
    processed_at: datetime | None = _ts(index=True)


class ScheduleSlot(SQLModel, table=True):
    """The newest scheduled run fired for a source's task, so that no tick fires twice.

    A scheduler fires a slot (a scheduled time, not the time it noticed) only by moving this
    row forward in the transaction that enqueues the run's jobs; two schedulers that overlap
    (a failover, a deploy) race on the row and one of them wins.
    """

    __tablename__ = "schedule_slot"

    source_id: int = Field(foreign_key="source.id", primary_key=True)
    task: str = Field(default="read", primary_key=True)
    slot: datetime = _ts(nullable=False)
    fired_at: datetime | None = _ts()
    fired_by: str = ""


class ApiCall(SQLModel, table=True):
    """A call to Xero in flight or in the last minute: the rate limiter's shared slots."""

    __tablename__ = "api_call"
    __table_args__ = (sa.Index("ix_api_call_window", "connection_id", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="connection.id")
    holder: str = ""
    started_at: datetime = _ts(nullable=False)
    finished_at: datetime | None = _ts()
    expires_at: datetime = _ts(nullable=False)


class Pace(SQLModel, table=True):
    """When the next request with a key to a source's API may go, shared by every worker."""

    __tablename__ = "pace"

    key: str = Field(primary_key=True)
    next_at: datetime = _ts(nullable=False)


class DashboardSession(SQLModel, table=True):
    """One logged-in dashboard session, so that a person can see and end it: its cookie
    carries the id, and a session ended here opens nothing, wherever its cookie is."""

    __tablename__ = "dashboard_session"

    id: str = Field(primary_key=True)
    username: str = Field(index=True)
    created_at: datetime = _ts(nullable=False)
    seen_at: datetime = _ts(nullable=False)
    address: str = ""
    agent: str = ""
    ended_at: datetime | None = _ts()


class LoginFailure(SQLModel, table=True):
    """Failed dashboard logins of one username or one address, counted in a window; past the
    limit, logins for it are locked until `locked_until`."""

    __tablename__ = "login_failure"

    key: str = Field(primary_key=True)  # user:<name> or addr:<address>
    failures: int = 0
    window_start: datetime = _ts(nullable=False)
    locked_until: datetime | None = _ts()


class Login(SQLModel, table=True):
    """A person who may use the dashboard: a slow salted password hash, never the password.

    `epoch` goes up when the password changes, which ends every session signed before.
    """

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True)
    password_hash: str = _text()
    epoch: int = 0
    updated_at: datetime | None = _ts()


class ApiToken(SQLModel, table=True):
    """A bearer token for scripts using `/api/...`; only its SHA-256 is kept."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    token_hash: str = Field(unique=True)
    created_at: datetime | None = _ts()
    last_used_at: datetime | None = _ts()


TABLES = (
    TokenGrant,
    Connection,
    Source,
    Setting,
    Cursor,
    Job,
    Link,
    Claim,
    WriteAttempt,
    Worker,
    SyncLog,
    ActionLog,
    ApiUsage,
    ApiCall,
    Pace,
    MirrorRecord,
    MirrorCursor,
    XeroEventRow,
    ScheduleSlot,
    Login,
    LoginFailure,
    DashboardSession,
    ApiToken,
)
