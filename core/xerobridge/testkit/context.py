"""A hook's `ctx` built by hand, for unit tests of a plugin's streams and mapping, with a
mirror of the Xero organisation made of the records a test gives."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import httpx

from xerobridge.clock import Clock, FakeClock
from xerobridge.contract.context import LinkView, OrgFacts, SourceContext, XeroMirror
from xerobridge.contract.settings import SourceSettings

S = TypeVar("S", bound=SourceSettings)


class NoLinks:
    """A source with nothing linked yet."""

    def xero_id(self, stream: str, key: str, role: str = "main") -> str | None:
        return None

    def source_key(self, xero_object: str, xero_id: str) -> tuple[str, str] | None:
        return None

    def natural_key(self, stream: str, key: str, role: str = "main") -> str | None:
        return None

    def linked(self, stream: str, prefix: str = "", role: str = "main") -> dict[str, str]:
        return {}

    def claimed_by(self, claim: str) -> tuple[str, str] | None:
        return None


def _refuse(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"this test's context has no source to call: {request.url}")


def make_context(
    settings: S,
    *,
    http: httpx.AsyncClient | None = None,
    links: LinkView | None = None,
    mirror: XeroMirror | None = None,
    org: OrgFacts | None = None,
    source: str = "shop",
    plugin: str = "test",
    key_prefix: str = "SHOP",
    client: Any = None,
    client_factory: Callable[[SourceContext[Any]], Any] | None = None,
    scoped: dict[tuple[str, str], S] | None = None,
    clock: Clock | None = None,
    account_settings: Iterable[str] = (),
) -> SourceContext[S]:
    """A context as the core would build it; an http client that refuses calls by default."""
    ctx = SourceContext(
        source=source,
        plugin=plugin,
        key_prefix=key_prefix,
        settings=settings,
        log=logging.getLogger(f"xerobridge.source.{source}"),
        http=http or httpx.AsyncClient(transport=httpx.MockTransport(_refuse)),
        links=links or NoLinks(),
        org=org or OrgFacts(base_currency="GBP", timezone="GMTSTANDARDTIME"),
        mirror=mirror,
        clock=clock or FakeClock(),
        scoped=(lambda stream, key: scoped.get((stream, key))) if scoped else None,
        client_factory=client_factory,
        account_settings=frozenset(account_settings),
    )
    if client is not None:
        ctx._client = client
    return ctx


def _fold(text: Any) -> str:
    return str(text or "").strip().casefold()


class ListMirror:
    """A mirror of the organisation holding the given records; look-ups as the core's mirror
    makes them (names and emails case-insensitively, archived contacts and accounts left out)."""

    def __init__(
        self,
        *,
        contacts: Iterable[Mapping[str, Any]] = (),
        items: Iterable[Mapping[str, Any]] = (),
        accounts: Iterable[Mapping[str, Any]] = (),
        tax_rates: Iterable[Mapping[str, Any]] = (),
        tracking_categories: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        self._contacts = [dict(r) for r in contacts]
        self._items = [dict(r) for r in items]
        self._accounts = [dict(r) for r in accounts]
        self._tax_rates = [dict(r) for r in tax_rates]
        self._tracking = [dict(r) for r in tracking_categories]

    def contacts(self) -> list[Mapping[str, Any]]:
        return list(self._contacts)

    def items(self) -> list[Mapping[str, Any]]:
        return list(self._items)

    def accounts(self) -> list[Mapping[str, Any]]:
        return list(self._accounts)

    def tax_rates(self) -> list[Mapping[str, Any]]:
        return list(self._tax_rates)

    def tracking_categories(self) -> list[Mapping[str, Any]]:
        return list(self._tracking)

    def _active_contacts(self) -> list[Mapping[str, Any]]:
        return [c for c in self._contacts if c.get("ContactStatus", "ACTIVE") == "ACTIVE"]

    def contact_by_number(self, number: str) -> Mapping[str, Any] | None:
        return next((c for c in self._contacts if c.get("ContactNumber") == number), None)

    def contacts_by_email(self, email: str) -> list[Mapping[str, Any]]:
        return [c for c in self._active_contacts() if _fold(c.get("EmailAddress")) == _fold(email)]

    def contacts_by_name(self, name: str) -> list[Mapping[str, Any]]:
        return [c for c in self._active_contacts() if _fold(c.get("Name")) == _fold(name)]

    def item_by_code(self, code: str) -> Mapping[str, Any] | None:
        return next((i for i in self._items if i.get("Code") == code), None)

    def account_by_code(self, code: str) -> Mapping[str, Any] | None:
        return next((a for a in self._accounts if a.get("Code") == code), None)

    def account_by_name(self, name: str) -> Mapping[str, Any] | None:
        active = [a for a in self._accounts if a.get("Status", "ACTIVE") == "ACTIVE"]
        return next((a for a in active if _fold(a.get("Name")) == _fold(name)), None)


def make_mirror(**records: Iterable[Mapping[str, Any]]) -> XeroMirror:
    """A mirror holding these records: `make_mirror(contacts=[...], accounts=[...])`."""
    return ListMirror(**records)
