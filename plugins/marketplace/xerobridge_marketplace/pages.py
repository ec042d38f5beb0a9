"""The marketplace plugin's dashboard page (`/plugins/marketplace/`).

Per marketplace: its customers with the Xero contact each is (or why not yet) and its auto-sync
switch, its products with their Xero items, and the orders waiting for a person's approval, each
with "Approve" and "Reject". Everything goes through the `PluginPages` the core hands to
`register_routes`; the names come from the marketplace itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from xerobridge.sdk import PageSource, PluginPages, RecordState, XerobridgeError
from xerobridge_marketplace.settings import MarketplaceSettings


@dataclass(frozen=True)
class Row:
    """A customer or a product: its marketplace id and name, and what the core knows of it."""

    id: str
    name: str
    state: RecordState | None
    auto_sync: bool | None = None  # customers only


@dataclass(frozen=True)
class MarketRow:
    """One marketplace as the page shows it."""

    source: PageSource
    customers: list[Row]
    products: list[Row]
    waiting: list[RecordState]
    problem: str = ""


def routes(pages: PluginPages) -> list[BaseRoute]:
    """The page, the per-customer auto-sync switch, and approving or rejecting orders."""

    async def overview(request: Request) -> Response:
        rows = [await _row(pages, src) for src in pages.sources()]
        return pages.render(request, "marketplace/markets.html", title="CloudBlue marketplaces",
                            rows=rows, home=pages.url)  # fmt: skip

    async def auto_sync(request: Request) -> Response:
        form = await request.form()
        name, customer = request.path_params["source"], request.path_params["customer"]
        value = "true" if form.get("auto_sync") == "on" else "false"
        try:
            pages.save_settings(name, {"auto_sync": value}, record=("customers", customer))
        except XerobridgeError as exc:
            pages.flash(request, f"{name}: {exc}", "error")
        else:
            said = "on" if value == "true" else "off"
            pages.flash(request, f"{name}: auto-sync is {said} for customer {customer}.")
        return RedirectResponse(pages.url, status_code=303)

    async def decide(request: Request) -> Response:
        form = await request.form()
        name, verb = request.path_params["source"], request.path_params["verb"]
        if verb not in ("approve", "reject"):
            return Response("no such decision; approve or reject", status_code=404)
        keys = [str(k) for k in form.getlist("key")]
        try:
            done = (pages.approve if verb == "approve" else pages.reject)(name, "orders", keys)
        except XerobridgeError as exc:
            pages.flash(request, f"{name}: {exc}", "error")
        else:
            what = "will be synced" if verb == "approve" else "were rejected and left the queue"
            pages.flash(request, f"{name}: {done} order(s) {what}.")
        return RedirectResponse(pages.url, status_code=303)

    return [
        Route("/", overview, methods=["GET"]),
        Route("/{source}/customers/{customer}/auto_sync", auto_sync, methods=["POST"]),
        Route("/{source}/orders/{verb:str}", decide, methods=["POST"]),
    ]


async def _row(pages: PluginPages, src: PageSource) -> MarketRow:
    customers = {r.key: r for r in pages.records(src.name, "customers")}
    products = {r.key: r for r in pages.records(src.name, "products")}
    waiting = [r for r in pages.records(src.name, "orders") if r.hold == "approval"]
    settings = src.settings if isinstance(src.settings, MarketplaceSettings) else None
    scoped = pages.record_settings(src.name) if settings else {}
    problem, people, catalogue = "", [], []
    try:
        async with pages.source_client(src.name) as client:
            people = [c async for c in client.iter_customers()]
            catalogue = [p async for p in client.iter_products()]
    except XerobridgeError as exc:  # the page still shows what the core knows
        problem = f"the marketplace could not be read: {exc}"
    default = bool(settings.auto_sync) if settings else False

    def switch(customer: str) -> bool:
        own = scoped.get(("customers", customer))
        return bool(own.auto_sync) if isinstance(own, MarketplaceSettings) else default

    return MarketRow(
        src,
        [Row(str(c["id"]), str(c.get("name", "")), customers.get(str(c["id"])),
             switch(str(c["id"]))) for c in people],
        [Row(str(p["id"]), str(p.get("name", "")), products.get(str(p["id"]))) for p in catalogue],
        waiting,
        problem,
    )  # fmt: skip
