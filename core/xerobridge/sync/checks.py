"""Trying a source's URL and credentials once (`check_source`), before anything is queued."""

from __future__ import annotations

import logging

import httpx

from xerobridge.contract.errors import NeedsPerson, Permanent, RetryLater, UserError
from xerobridge.contract.plugins import Plugins
from xerobridge.store.db import Store
from xerobridge.sync.runtimes import HttpFactory, Runtimes, default_http

log = logging.getLogger(__name__)

#: The http client a check uses (tests route it to a sandbox).
http_factory: HttpFactory = default_http


async def check_source(store: Store, plugins: Plugins, source_id: int) -> str | None:
    """What answered at the source, or a UserError saying what is wrong and what to change."""
    runtimes = Runtimes(store, plugins, http_factory)
    try:
        runtime = runtimes.get(source_id)
        name = runtime.source.name
        if not plugins.has_hook(runtime.source.plugin, "check_source"):
            return None
        try:
            return await plugins.acall(runtime.source.plugin, "check_source", ctx=runtime.ctx)
        except (UserError, NeedsPerson) as exc:
            raise UserError(f"source {name}: {exc}") from None
        except (RetryLater, httpx.TransportError) as exc:
            raise UserError(
                f"source {name} cannot be reached ({exc}); check its base_url and that it is up"
            ) from None
        except Permanent as exc:
            raise UserError(f"source {name} refused the check: {exc}") from None
    finally:
        await runtimes.aclose()
