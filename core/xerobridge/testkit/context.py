"""A hook's `ctx` built by hand, for unit tests of a plugin's streams and mapping."""

from __future__ import annotations

import logging
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

    def linked(self, stream: str, prefix: str = "", role: str = "main") -> dict[str, str]:
        return {}


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
    scoped: dict[tuple[str, str], S] | None = None,
    clock: Clock | None = None,
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
    )
    if client is not None:
        ctx._client = client
    return ctx
