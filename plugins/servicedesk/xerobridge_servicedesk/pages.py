"""The ServiceDesk Plus MSP plugin's dashboard page (`/plugins/servicedesk/`).

Per server: its streams; its worklogs per account, those on Xero invoices and those not (each
with why, and "Retry"); the synced ones as a CSV download; and the worklog types MSP has that
are not Xero items yet (the seed's "worklog type sync status"), read from the server itself.
Everything goes through the `PluginPages` the core hands to `register_routes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from xerobridge.sdk import PageSource, PluginPages, RecordState, StreamCounts, XerobridgeError
from xerobridge_servicedesk import mapping as m


@dataclass
class AccountRow:
    """One MSP account's worklogs: on Xero invoices, and not (with why)."""

    id: str
    name: str
    synced: list[RecordState] = field(default_factory=list)
    unsynced: list[RecordState] = field(default_factory=list)


@dataclass(frozen=True)
class ServerRow:
    """One MSP server as the page shows it."""

    source: PageSource
    streams: list[StreamCounts]
    accounts: list[AccountRow]
    #: MSP's worklog types that are no Xero item yet; None when the server could not be read.
    types_missing: list[str] | None
    problem: str = ""


def routes(pages: PluginPages) -> list[BaseRoute]:
    """The page, the CSV of synced worklogs, and "Retry", relative to the plugin's mount."""

    async def overview(request: Request) -> Response:
        rows = [await _row(pages, src) for src in pages.sources()]
        return pages.render(request, "servicedesk/servers.html", title="ServiceDesk Plus MSP",
                            rows=rows, home=pages.url)  # fmt: skip

    async def synced_csv(request: Request) -> Response:
        name = request.path_params["source"]
        try:
            src = pages.source(name)
            records = pages.records(name, "worklogs")
            names = await _account_names(pages, name)
        except XerobridgeError as exc:
            pages.flash(request, f"{name}: {exc}", "error")
            return RedirectResponse(pages.url, status_code=303)
        rows = []
        for record in records:
            if record.state != "synced":
                continue
            account, _period = m.parse_invoice_number(src.key_prefix, record.natural_key)
            at = record.synced_at.isoformat() if record.synced_at else ""
            rows.append([record.key, account, names.get(account, ""), record.natural_key,
                         record.xero_id, at])  # fmt: skip
        header = ["worklog", "account_id", "account", "invoice", "xero_invoice_id", "synced_at"]
        return pages.csv(f"{name}-synced-worklogs.csv", header, rows)

    async def retry(request: Request) -> Response:
        form = await request.form()
        name = request.path_params["source"]
        keys = [str(k) for k in form.getlist("key")]
        try:
            again = pages.retry(name, "worklogs", keys)
        except XerobridgeError as exc:
            pages.flash(request, f"{name}: {exc}", "error")
        else:
            pages.flash(request, f"{name}: {again} worklog(s) will be tried again.")
        return RedirectResponse(pages.url, status_code=303)

    return [
        Route("/", overview, methods=["GET"]),
        Route("/{source}/synced.csv", synced_csv, methods=["GET"]),
        Route("/{source}/retry", retry, methods=["POST"]),
    ]


async def _account_names(pages: PluginPages, source: str) -> dict[str, str]:
    async with pages.source_client(source) as client:
        return {str(a["id"]): str(a.get("name", "")) async for a in client.accounts()}


async def _row(pages: PluginPages, src: PageSource) -> ServerRow:
    streams = pages.streams(src.name)
    records = pages.records(src.name, "worklogs")
    problem, names, missing = "", {}, None
    try:
        async with pages.source_client(src.name) as client:
            names = {str(a["id"]): str(a.get("name", "")) async for a in client.accounts()}
            types = [t async for t in client.worklog_types()]
        linked = {r.key for r in pages.records(src.name, "worklog_types") if r.state == "synced"}
        missing = sorted(str(t.get("name")) for t in types if str(t["id"]) not in linked)
    except XerobridgeError as exc:  # the page still shows what the core knows
        problem = f"the MSP server could not be read: {exc}"
    accounts: dict[str, AccountRow] = {}
    for record in records:
        if record.state == "synced":
            account, _period = m.parse_invoice_number(src.key_prefix, record.natural_key)
        else:
            account = str(record.data.get("account_id", ""))
            names.setdefault(account, str(record.data.get("account_name", "")))
        row = accounts.setdefault(account, AccountRow(account, names.get(account, account)))
        (row.synced if record.state == "synced" else row.unsynced).append(record)
    ordered = sorted(accounts.values(), key=lambda a: a.name.casefold())
    return ServerRow(src, streams, ordered, missing, problem)
