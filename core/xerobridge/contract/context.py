"""The `ctx` every per-source hook receives: who the source is, its typed settings, its client,
its links, the organisation's facts and a read-only mirror of the organisation's reference data.

The core builds one context per source and keeps it while the source's settings stay the same;
hooks read it and never write through it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from xerobridge.clock import Clock, SystemClock
from xerobridge.contract.errors import RetryLater

if TYPE_CHECKING:
    import httpx

    from xerobridge.contract.settings import SourceSettings

SettingsT = TypeVar("SettingsT", bound="SourceSettings")


class LinkView(Protocol):
    """Read-only look-ups between source keys and Xero ids for one source."""

    def xero_id(self, stream: str, key: str, role: str = "main") -> str | None: ...

    def source_key(self, xero_object: str, xero_id: str) -> tuple[str, str] | None: ...

    def natural_key(self, stream: str, key: str, role: str = "main") -> str | None:
        """The natural key of the document a record was written as (an invoice number)."""
        ...

    def linked(self, stream: str, prefix: str = "", role: str = "main") -> dict[str, str]:
        """The records of a stream linked in a role (key to Xero id), those whose key starts
        with `prefix` (a parent's worklogs: `requests/42/`)."""
        ...

    def claimed_by(self, claim: str) -> tuple[str, str] | None:
        """The (stream, key) of the record holding a claim (`XeroDocument.claims`), if any."""
        ...


class XeroMirror(Protocol):
    """Read-only view of the local copy of the organisation's reference data (no API calls).

    Name and email look-ups are case-insensitive, as Xero's uniqueness rules are.
    """

    def contacts(self) -> list[Mapping[str, Any]]: ...

    def items(self) -> list[Mapping[str, Any]]: ...

    def accounts(self) -> list[Mapping[str, Any]]: ...

    def tax_rates(self) -> list[Mapping[str, Any]]: ...

    def tracking_categories(self) -> list[Mapping[str, Any]]: ...

    def contact_by_number(self, number: str) -> Mapping[str, Any] | None: ...

    def contacts_by_email(self, email: str) -> list[Mapping[str, Any]]: ...

    def contacts_by_name(self, name: str) -> list[Mapping[str, Any]]: ...

    def item_by_code(self, code: str) -> Mapping[str, Any] | None: ...

    def account_by_code(self, code: str) -> Mapping[str, Any] | None: ...

    def account_by_name(self, name: str) -> Mapping[str, Any] | None: ...


@dataclass(frozen=True)
class OrgFacts:
    """What the core knows of the Xero organisation a source is bound to."""

    short_code: str = ""
    base_currency: str = ""
    #: Xero's Organisation.Timezone: a Windows zone id such as NEWZEALANDSTANDARDTIME.
    timezone: str = ""
    #: The currencies the organisation has enabled (its base currency among them), as Xero
    #: lists them; empty when they have not been read yet.
    currencies: frozenset[str] = frozenset()
    name: str = ""

    def date_of(self, moment: datetime) -> date:
        """The organisation's calendar date of a moment (Xero's dates are the organisation's)."""
        from xerobridge.xero.dates import org_day

        return org_day(moment, self.timezone or "UTC")


class Pace(Protocol):
    """Turns to call the source's API, shared by every worker of the installation (`ctx.pace`):
    a plugin whose API allows so many requests a second per key keeps to it across processes."""

    async def acquire(self, key: str, per_second: float) -> None:
        """Wait until a request with `key` keeps within `per_second`, and count it."""
        ...

    def hold(self, key: str, seconds: float) -> None:
        """No request with `key` for `seconds`, in any worker (the API answered 429)."""
        ...


@dataclass
class SourceContext(Generic[SettingsT]):
    """What every per-source hook receives as `ctx`, typed by the plugin's settings model.

    `http` is the source's own client (routed to a sandbox in tests and the demo); `client` is
    the plugin's API client built from it once per source by `SourceSpec.client`. `xero` is the
    mirror of the organisation, present whenever the source has a connection; hooks that map or
    build documents are only called then.
    """

    source: str  # the configured source's name
    plugin: str
    key_prefix: str
    settings: SettingsT
    log: logging.Logger
    http: httpx.AsyncClient
    links: LinkView
    org: OrgFacts = field(default_factory=OrgFacts)
    #: The core's clock: token expiry, windows and "now" in a plugin read it, so tests can move it.
    clock: Clock = field(default_factory=SystemClock)
    mirror: XeroMirror | None = None
    #: Builds the plugin's API client from this context (the spec's `client` factory).
    client_factory: Callable[[SourceContext[Any]], Any] | None = field(default=None, repr=False)
    #: The per-record settings stored for this source: {(stream, key): {name: value}}.
    scoped: Callable[[str, str], SettingsT | None] | None = field(default=None, repr=False)
    #: Turns to call the source's API shared by every worker; None outside a running core.
    pace: Pace | None = field(default=None, repr=False)
    #: The settings naming accounts `xerobridge setup-accounts` creates (the spec's
    #: `xero_accounts`), so that a missing one says to run it.
    account_settings: frozenset[str] = frozenset()
    _client: Any = field(default=None, init=False, repr=False)

    @property
    def xero(self) -> XeroMirror:
        """The mirror of the organisation's contacts, items, accounts and tax rates."""
        if self.mirror is None:
            raise RetryLater(
                f"source {self.source!r} has no Xero connection yet: bind one with "
                f"`xerobridge sources connect {self.source} CONNECTION`"
            )
        return self.mirror

    @property
    def client(self) -> Any:
        """The plugin's API client for this source, built once on the source's http client."""
        if self._client is None:
            if self.client_factory is None:
                raise RuntimeError(f"plugin {self.plugin!r} declares no client factory")
            self._client = self.client_factory(self)
        return self._client

    def settings_for(self, stream: str, key: str) -> SettingsT:
        """The settings of one record: its per-record values (if any) over the source's."""
        if self.scoped is not None:
            found = self.scoped(stream, key)
            if found is not None:
                return found
        return self.settings
