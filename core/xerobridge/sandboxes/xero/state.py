"""The sandbox as a whole: organisations, identity, limits, faults, idempotency, log, webhooks.

One `SandboxState` lives on `app.state.sandbox`; tests use it directly to seed data, mint
tokens, set faults and read counts, and the `/_sandbox` control API exposes the same to a
sandbox served in another process.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from xerobridge.clock import Clock
from xerobridge.sandboxes.xero import seed as seed_data
from xerobridge.sandboxes.xero import wire
from xerobridge.sandboxes.xero.accounting import WRITERS
from xerobridge.sandboxes.xero.faults import Faults
from xerobridge.sandboxes.xero.idempotency import IdempotencyStore
from xerobridge.sandboxes.xero.identity import DEFAULT_SCOPE, App, Identity
from xerobridge.sandboxes.xero.ids import IdSource
from xerobridge.sandboxes.xero.limits import LimitConfig, RateLimiter
from xerobridge.sandboxes.xero.organisation import ID_FIELDS, Organisation
from xerobridge.sandboxes.xero.requestlog import RequestLog
from xerobridge.sandboxes.xero.validation import Outcome, Violation, default_validator
from xerobridge.sandboxes.xero.webhooks import Webhooks
from xerobridge.sandboxes.xero.writes import ElementResult, WriteContext, run_batch

logger = logging.getLogger(__name__)

DEFAULT_CLIENT_ID = "SANDBOXCLIENTID0000000000000000"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"
DEFAULT_WEBHOOK_KEY = "sandbox-webhook-key"
DEFAULT_REDIRECT_URI = "http://localhost:8000/xero/callback"
API_PREFIX = "/api.xro/2.0"

Validation = Literal["enforce", "record", "off"]
VALIDATION_MODES: tuple[Validation, ...] = ("enforce", "record", "off")


class SandboxState:
    """Everything the sandbox knows; the object tests and the control API work through."""

    def __init__(
        self,
        clock: Clock,
        *,
        limits: bool = True,
        time_scale: float = 1.0,
        seed: int = 0,
        daily_limit: int = 5_000,
        organisation_name: str | None = None,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        redirect_uris: list[str] | None = None,
        webhook_key: str = DEFAULT_WEBHOOK_KEY,
        refresh_grace_seconds: float = 0.0,
        provider_name: str = "xerobridge sandbox",
        validation: Validation = "enforce",
        region: str = "AU",
    ) -> None:
        if validation not in VALIDATION_MODES:
            raise ValueError(f"validation must be one of {', '.join(VALIDATION_MODES)}")
        self.clock = clock
        # "enforce": a request that does not conform to the spec is recorded and answered 400;
        # "record": recorded, then served anyway; "off": not checked.
        self.validation: Validation = validation
        self.violations: list[Violation] = []
        self.time_scale = time_scale
        self.random_seed = seed
        self.ids = IdSource(seed)
        self.provider_name = provider_name
        self.organisations: dict[str, Organisation] = {}
        self.tenant_names: dict[str, str] = {}
        self.identity = Identity(
            clock, self.ids, self.tenant_names, refresh_grace_seconds=refresh_grace_seconds
        )
        self.limiter = RateLimiter(
            clock, LimitConfig(daily=daily_limit, enforce=limits), time_scale=time_scale
        )
        self.faults = Faults(seed)
        self.idempotency = IdempotencyStore(clock)
        self.log = RequestLog()
        self.webhooks = Webhooks(webhook_key, clock, self.ids)
        self._gate: asyncio.Event | None = None
        self.held = 0
        # The default organisation: "Sandbox Company (AU)" (or "(UK)") unless named.
        name = organisation_name or seed_data.region(region).default_name
        self.default_tenant_id = self.add_organisation(name, region=region).tenant_id
        self.custom_app: App | None = None  # a custom connection, when one was registered
        self.default_app = self.identity.register_app(
            client_id,
            client_secret,
            redirect_uris=redirect_uris if redirect_uris is not None else [DEFAULT_REDIRECT_URI],
        )

    # ---- organisations ----------------------------------------------------------------------

    def add_organisation(self, name: str, region: str = "AU", **fields: Any) -> Organisation:
        """Create a new organisation (tenant) with the default chart of accounts and tax rates.

        `region` ("AU" or "UK") sets them and the currency, country, version and timezone the
        way Xero sets up a new org there; `fields` (e.g. base_currency="NZD") override those.
        Raises ValueError for a region the sandbox does not model.
        """
        settings = seed_data.region(region)
        fields = {
            "base_currency": settings.base_currency,
            "country_code": settings.country_code,
            "version": settings.version,
            "timezone": settings.timezone,
            **fields,
        }
        org = Organisation(
            region=settings.code,
            tenant_id=self.ids.guid(),
            name=name,
            short_code=fields.pop("short_code", None) or self.ids.short_code(),
            created=self.clock.now(),
            ids=self.ids,
            **fields,
        )
        org.listeners.append(self.webhooks.record)
        self.organisations[org.tenant_id] = org
        self.tenant_names[org.tenant_id] = name
        return org

    def organisation(self, tenant_id: str | None = None) -> Organisation:
        return self.organisations[(tenant_id or self.default_tenant_id).lower()]

    @property
    def default_org(self) -> Organisation:
        return self.organisation()

    # ---- identity shortcuts -----------------------------------------------------------------

    def register_app(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        *,
        redirect_uris: list[str] | None = None,
        custom_tenant_id: str | None = None,
        name: str = "xerobridge sandbox app",
    ) -> App:
        """Register an app; with `custom_tenant_id` it is a custom connection to that org."""
        return self.identity.register_app(
            client_id,
            client_secret,
            redirect_uris=redirect_uris,
            custom_tenant_id=custom_tenant_id,
            name=name,
        )

    def issue_tokens(
        self,
        client_id: str | None = None,
        tenant_ids: list[str] | None = None,
        scope: str = DEFAULT_SCOPE,
    ) -> dict[str, Any]:
        """Connect an app to organisations and mint a token set, skipping the consent pages."""
        client_id = client_id or self.default_app.client_id
        app = self.identity.apps[client_id]
        if app.custom_tenant_id:
            return self.identity.issue(client_id, scope, custom=True)
        auth_event_id = self.ids.guid()
        self.identity.connect(client_id, tenant_ids or [self.default_tenant_id], auth_event_id)
        return self.identity.issue(client_id, scope, auth_event_id=auth_event_id)

    def disconnect(self, tenant_id: str | None = None, client_id: str | None = None) -> int:
        """Revoke access to an organisation: its calls then get 403."""
        return self.identity.disconnect_tenant(tenant_id or self.default_tenant_id, client_id)

    # ---- data -------------------------------------------------------------------------------

    def seed(
        self,
        plural: str,
        elements: list[dict[str, Any]],
        *,
        tenant_id: str | None = None,
        upsert: bool = False,
        unitdp: int = 4,
    ) -> list[dict[str, Any]]:
        """Write records through the same rules as the API (no limits, no log, no faults).

        Raises ValueError listing the messages of any element that failed.
        """
        org = self.organisation(tenant_id)
        results = self._write(org, plural, elements, WRITERS[plural], upsert, unitdp)
        self.webhooks.seal()
        failed = [r for r in results if not r.ok]
        if failed:
            raise ValueError("; ".join(m for r in failed for m in r.errors))
        return [self.record(plural, r.record[ID_FIELDS[plural]], tenant_id) for r in results]  # type: ignore[index]

    def _write(
        self,
        org: Organisation,
        plural: str,
        elements: list[dict[str, Any]],
        writer: Any,
        upsert: bool,
        unitdp: int,
    ) -> list[ElementResult]:
        def context() -> WriteContext:
            return WriteContext(
                org=org,
                now=self.clock.now(),
                ids=self.ids,
                client_id="sandbox",
                mode="upsert" if upsert else "create",
                unitdp=unitdp,
            )

        return run_batch(context, elements, writer)

    def records(
        self, plural: str, tenant_id: str | None = None, *, unitdp: int = 4
    ) -> list[dict[str, Any]]:
        """Every record of a kind, as the API would show it (JSON-ready)."""
        org = self.organisation(tenant_id)
        return [wire.render(org.view(plural, r), unitdp=unitdp) for r in org.all(plural)]

    def record(
        self, plural: str, record_id: str, tenant_id: str | None = None, *, unitdp: int = 4
    ) -> dict[str, Any]:
        """One record as the API would show it (JSON-ready)."""
        org = self.organisation(tenant_id)
        found = org.get(plural, record_id)
        if found is None:
            raise KeyError(record_id)
        return wire.render(org.view(plural, found), unitdp=unitdp)

    def counts(self, tenant_id: str | None = None) -> dict[str, int]:
        return self.organisation(tenant_id).counts()

    # ---- conformance ------------------------------------------------------------------------

    def validate(self, method: str, path: str, query: str, body: bytes) -> Outcome | None:
        """Check one Accounting API request against the spec; record it if it does not conform."""
        if self.validation == "off":
            return None
        below = path[len(API_PREFIX) :] if path.startswith(API_PREFIX) else path
        outcome = default_validator().check(method, below or "/", query, body)
        if outcome.problems:
            self.violations.append(Violation(method.upper(), path, query, list(outcome.problems)))
            logger.info("non-conforming request %s", self.violations[-1])
        return outcome

    # ---- traffic ----------------------------------------------------------------------------

    def stats(self, tenant_id: str | None = None) -> dict[str, object]:
        """Calls, peak in flight, peak per minute and 429s served for one tenant."""
        return self.limiter.stats(tenant_id or self.default_tenant_id).snapshot()

    def hold(self) -> None:
        """Make admitted calls wait (after the rate limiter) until `release()`: builds up
        concurrency deterministically for in-flight tests."""
        self._gate = asyncio.Event()

    def release(self) -> None:
        if self._gate is not None:
            self._gate.set()
        self._gate = None

    async def wait_if_held(self) -> None:
        gate = self._gate
        if gate is not None:
            self.held += 1
            try:
                await gate.wait()
            finally:
                self.held -= 1

    def reset_traffic(self) -> None:
        """Forget calls, windows, faults and idempotency keys; keep data and tokens."""
        self.limiter.reset()
        self.log.clear()
        self.faults.clear()
        self.idempotency.clear()
