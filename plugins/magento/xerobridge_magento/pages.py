"""The Magento plugin's dashboard page (`/plugins/magento/`): each store at a glance.

Per store: its streams with what is queued, failed and synced, a "Sync now" per stream, and
what only a Magento store has: its tax map (Magento tax percent to Xero TaxType) and its payment
methods' bank accounts, each checked against the organisation. The Xero accounts every source
needs are the core's page (`/sources/<source>/accounts`), linked from here. Everything goes
through the `PluginPages` the core hands to `register_routes`.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from xerobridge.sdk import PageSource, PluginPages, StreamCounts, UserError, XeroMirror
from xerobridge_magento.settings import MagentoSettings


@dataclass(frozen=True)
class Mapped:
    """One entry of a Magento-to-Xero table setting, and whether Xero has its target."""

    magento: str  # a tax percent or a payment method code
    xero: str  # a TaxType or an account name
    in_xero: bool | None  # None while the source has no connection


@dataclass(frozen=True)
class StoreRow:
    """One Magento store as the page shows it."""

    source: PageSource
    streams: list[StreamCounts]
    taxes: list[Mapped]
    payments: list[Mapped]


def routes(pages: PluginPages) -> list[BaseRoute]:
    """The page and its "Sync now" form, relative to the plugin's mount."""

    def overview(request: Request) -> Response:
        rows = [_row(pages, src) for src in pages.sources()]
        return pages.render(request, "magento/stores.html", title="Magento stores", rows=rows,
                            home=pages.url)  # fmt: skip

    async def sync_now(request: Request) -> Response:
        await request.form()  # the guard has checked its token; nothing else is in it
        name, stream = request.path_params["source"], request.path_params["stream"]
        try:
            pages.queue_sync(name, stream)
        except UserError as exc:
            pages.flash(request, f"{name}: {exc}", "error")
        else:
            pages.flash(request, f"{name}: {stream} will be read now; what changed is synced.")
        return RedirectResponse(pages.url, status_code=303)

    return [
        Route("/", overview, methods=["GET"]),
        Route("/{source}/streams/{stream}/sync", sync_now, methods=["POST"]),
    ]


def _row(pages: PluginPages, src: PageSource) -> StoreRow:
    streams = pages.streams(src.name)
    settings = src.settings
    if not isinstance(settings, MagentoSettings):  # its settings page says which value to fix
        return StoreRow(src, streams, [], [])
    mirror = pages.mirror(src.name)
    taxes = [
        Mapped(percent, tax_type, _has_tax_type(mirror, tax_type))
        for percent, tax_type in sorted(settings.tax_map.items(), key=lambda kv: float(kv[0]))
    ]
    payments = [
        Mapped(method, account, None if mirror is None else bool(mirror.account_by_name(account)))
        for method, account in sorted(settings.payment_accounts.items())
    ]
    return StoreRow(src, streams, taxes, payments)


def _has_tax_type(mirror: XeroMirror | None, tax_type: str) -> bool | None:
    if mirror is None:
        return None
    return any(
        rate.get("TaxType") == tax_type and rate.get("Status", "ACTIVE") == "ACTIVE"
        for rate in mirror.tax_rates()
    )
