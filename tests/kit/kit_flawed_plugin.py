"""A small source plugin with flaws switched on one at a time, for testing the contract suite.

With `FLAW` empty it is a good plugin and passes the suite; each flaw is a mistake plugin
authors make, and the suite must fail it for that reason:

- `unstable`: to_xero stamps the time of the push into the invoice, so every pass writes again.
- `crash`: a record without an amount raises KeyError instead of saying what is wrong.
- `blocking`: fetch_changes gives up on the whole stream at the bad record.
- `no_prefix`: natural keys leave out the source's key prefix.
- `bare_settings`: a setting has no description.
- `unknown_object`: a stream becomes a Xero object that does not exist.

It also adds a dashboard page (`register_routes`), for the test of that hook.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from xerobridge import hookimpl
from xerobridge.contract.context import SourceContext
from xerobridge.contract.errors import Permanent
from xerobridge.contract.settings import SourceSettings
from xerobridge.contract.types import (
    AccountNeed,
    Change,
    Dependency,
    Resolution,
    SourceSandbox,
    SourceSpec,
    StreamSpec,
    XeroDocument,
)

FLAW = ""
FLAWS = ("unstable", "crash", "blocking", "no_prefix", "bare_settings", "unknown_object")
SEEDED = "2025-12-01T09:00:00+00:00"
_pushes = itertools.count()


class FlawedSettings(SourceSettings):
    """Where the records are."""

    base_url: str = Field(description="The source's address.")
    sales_account: str = Field(default="Sales", description="The revenue account's name.")


class BareSettings(FlawedSettings):
    """One setting nobody explains."""

    mode: str = "fast"


def _app() -> Starlette:
    async def records(request: Request) -> JSONResponse:
        data = request.app.state.sandbox[request.path_params["stream"]]
        return JSONResponse([{"key": key, **record} for key, record in data.items()])

    app = Starlette(routes=[Route("/records/{stream}", records)])
    app.state.sandbox = {
        "customers": {"1": {"name": "Ada Ltd"}, "2": {"name": "Grace & Co"}},
        "invoices": {"10": {"customer": "1", "amount": 100}, "11": {"customer": "2", "amount": 5}},
    }
    return app


def sandbox() -> SourceSandbox:
    """The records, served."""
    return SourceSandbox(app=_app(), settings={"base_url": "http://flawed.sandbox"})


@hookimpl
def source_spec() -> SourceSpec:
    """Customers and their invoices."""
    return SourceSpec(
        name="flawed",
        title="Flawed",
        streams=(
            StreamSpec("customers", "Customer" if FLAW == "unknown_object" else "Contact"),
            StreamSpec("invoices", "Invoice", depends_on=("customers",)),
        ),
        settings=BareSettings if FLAW == "bare_settings" else FlawedSettings,
        xero_accounts=(AccountNeed("sales_account", "REVENUE", "Sales"),),
        sandbox=sandbox,
    )


@hookimpl
async def fetch_changes(ctx: SourceContext, stream: StreamSpec) -> AsyncIterator[Change]:
    """Everything, every time (the sandbox keeps no change times)."""
    assert ctx.http is not None
    answer = await ctx.http.get(f"{ctx.settings.base_url}/records/{stream.name}")  # type: ignore[attr-defined]
    for record in answer.json():
        if FLAW == "blocking" and stream.name == "invoices" and "amount" not in record:
            raise RuntimeError("cannot read the invoices")
        yield Change(stream.name, record["key"], record, updated_at=datetime.fromisoformat(SEEDED))


def _key(ctx: SourceContext, key: str) -> str:
    return key if FLAW == "no_prefix" else f"{ctx.key_prefix}-{key}"


@hookimpl
def map_record(change: Change) -> Resolution:
    """Invoices need their customer."""
    if change.stream == "invoices":
        return Resolution.create(needs=(Dependency("customers", str(change.data["customer"])),))
    return Resolution.create()


@hookimpl
def to_xero(
    ctx: SourceContext, change: Change, links: Mapping[tuple[str, str, str], str]
) -> list[XeroDocument]:
    """A contact, or an invoice to its customer's contact."""
    if change.stream == "customers":
        number = _key(ctx, f"C-{change.key}")
        body = {"ContactNumber": number, "Name": change.data["name"]}
        return [XeroDocument("Contact", body, number, "ContactNumber")]
    if FLAW == "crash":
        amount = change.data["amount"]
    elif "amount" not in change.data:
        raise Permanent(f"invoice {change.key}: has no amount; enter one at the source")
    else:
        amount = change.data["amount"]
    number = _key(ctx, f"INV-{change.key}")
    description = "Goods"
    if FLAW == "unstable":
        description = f"Goods (push {next(_pushes)} at {datetime.now(UTC):%H:%M:%S.%f})"
    line: dict[str, Any] = {"Description": description, "Quantity": 1, "UnitAmount": amount,
                            "AccountCode": "200"}  # fmt: skip
    body = {
        "Type": "ACCREC",
        "InvoiceNumber": number,
        "Contact": {"ContactID": links[("customers", str(change.data["customer"]), "main")]},
        "Date": "2025-12-01",
        "DueDate": "2025-12-31",
        "Status": "AUTHORISED",
        "LineItems": [line],
    }
    return [XeroDocument("Invoice", body, number, "InvoiceNumber")]


def add_bad_record(source: SourceSandbox) -> tuple[str, str]:
    """An invoice without an amount."""
    source.app.state.sandbox["invoices"]["99"] = {"customer": "1"}
    return "invoices", "99"


@hookimpl
def register_routes() -> list[BaseRoute]:
    """A page that says how many flaws there are to choose from."""

    async def flaws(_request: Request) -> JSONResponse:
        return JSONResponse({"flaws": list(FLAWS), "on": FLAW})

    return [Route("/flaws", flaws)]
