"""The plugin's streams: accounts and worklog types from Xero, worklogs to Xero.

Accounts come from Xero's contacts and worklog types from Xero's items (sold ones): the core
reads Xero for them; each stream says whether a Xero record is an MSP record already (`match`),
what to write (`on_xero`), writes it (`apply`) and finds a create an earlier try made (`find`,
by the name it carried: names are unique in MSP). Worklogs go to Xero as lines of one invoice
per account and billing period (`XeroDocument(append=True)`); the API gives worklogs no
modified time, so the parents changed since the cursor are read and their worklogs listed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

from xerobridge.sdk import (
    Candidate,
    Change,
    DeleteMode,
    Dependency,
    Direction,
    Permanent,
    Resolution,
    SourceContext,
    SourceWrite,
    Stream,
    XeroDocument,
    XeroEvent,
    posting,
)
from xerobridge_servicedesk import mapping as m
from xerobridge_servicedesk.client import ServiceDeskClient, Worklog, from_millis
from xerobridge_servicedesk.settings import ServiceDeskSettings

Context = SourceContext[ServiceDeskSettings]


def make_client(ctx: Context) -> ServiceDeskClient:
    """The source's client, built once by the core (`ctx.client`)."""
    return ServiceDeskClient.from_settings(ctx.http, ctx.settings)


class _FromXero(Stream[ServiceDeskSettings], ABC):
    """What accounts and worklog types share: made once from their Xero record, then updated
    in place; a create is found again by the name it carried (names are unique in MSP)."""

    direction = Direction.FROM_XERO

    @abstractmethod
    def data(self, ctx: Context, record: Mapping[str, Any]) -> dict[str, Any]:
        """The MSP record's fields as the Xero record has them now."""

    @abstractmethod
    async def named(self, ctx: Context, name: str) -> list[dict[str, Any]]:
        """The MSP records of a name."""

    @abstractmethod
    async def save(self, ctx: Context, key: str | None, data: Mapping[str, Any]) -> str:
        """Add the record (key None) or update it; its id."""

    async def unlinked(self, ctx: Context, name: str) -> tuple[list[dict], list[dict]]:
        """The MSP records of a name, and those of them no Xero record is linked to yet."""
        found = await self.named(ctx, name)
        return found, [r for r in found if not ctx.links.xero_id(self.name, str(r["id"]))]

    def on_xero(self, ctx: Context, event: XeroEvent) -> list[SourceWrite]:
        """Update the linked record, else add one."""
        data = self.data(ctx, event.record or {})
        if event.linked:
            return [SourceWrite(self.name, event.linked[1], "update", data)]
        return [SourceWrite(self.name, "", "create", data, create=True)]

    async def apply(self, ctx: Context, write: SourceWrite) -> str | None:
        """Add or update the record."""
        return await self.save(ctx, None if write.create else write.key, write.data)

    async def find(self, ctx: Context, write: SourceWrite) -> str | None:
        """The record an earlier try added, by the name it carried."""
        found = await self.named(ctx, str(write.data.get("name", "")))
        return str(found[0]["id"]) if found else None


class Accounts(_FromXero):
    """Xero's active contacts, as MSP accounts (added and updated, never deleted)."""

    name = "accounts"
    xero_object = "Contact"
    where = 'ContactStatus=="ACTIVE"'
    title = "Accounts"

    async def match(self, ctx: Context, event: XeroEvent) -> Resolution:
        """The MSP account of the contact's name; on the first sync, none asks a person (MSP's
        own rule: only accounts of the same name are linked, the rest wait to be mapped)."""
        name = str((event.record or {}).get("Name", "")).strip()
        found, free = await self.unlinked(ctx, name)
        if ctx.settings.covered_accounts:
            # Only the accounts this source bills (named by name or by MSP id) are its own.
            found = [a for a in found if ctx.settings.covers(str(a["id"]), name)]
            free = [a for a in free if a in found]
            if not found:
                return Resolution.skip(f"{name} is not among this source's covered_accounts")
        if free:
            return Resolution.link(str(free[0]["id"]))
        if found:
            return Resolution.choose(
                f"the MSP account {name!r} is linked to another Xero contact already: map this "
                "one to an MSP account, or have one created",
                tuple(Candidate(str(a["id"]), str(a.get("name", ""))) for a in found),
            )
        if event.initial:
            return Resolution.choose(
                f"no MSP account is named {name!r}: map the Xero contact to an MSP account, or "
                "have one created"
            )
        return Resolution.create()

    def data(self, ctx: Context, record: Mapping[str, Any]) -> dict[str, Any]:
        return m.account_of(record, ctx.settings.account_fields)

    async def named(self, ctx: Context, name: str) -> list[dict[str, Any]]:
        return await ctx.client.accounts_named(name)

    async def save(self, ctx: Context, key: str | None, data: Mapping[str, Any]) -> str:
        if key is None:
            return str((await ctx.client.create_account(data))["id"])
        await ctx.client.update_account(key, data)
        return key


class WorklogTypes(_FromXero):
    """Xero's sold items, as MSP worklog types (added and updated)."""

    name = "worklog_types"
    xero_object = "Item"
    where = "IsSold==true"
    title = "Worklog types"

    async def match(self, ctx: Context, event: XeroEvent) -> Resolution:
        """The worklog type of the item's name, else a new one."""
        _found, free = await self.unlinked(ctx, self.data(ctx, event.record or {})["name"])
        return Resolution.link(str(free[0]["id"])) if free else Resolution.create()

    def data(self, ctx: Context, record: Mapping[str, Any]) -> dict[str, Any]:
        return m.worklog_type_of(record)

    async def named(self, ctx: Context, name: str) -> list[dict[str, Any]]:
        return await ctx.client.worklog_types_named(name)

    async def save(self, ctx: Context, key: str | None, data: Mapping[str, Any]) -> str:
        if key is None:
            return str((await ctx.client.create_worklog_type(data))["id"])
        await ctx.client.update_worklog_type(key, data)
        return key


def _deleted(parent: Mapping[str, Any], module: str, key: str) -> Change:
    account = parent.get("account") or {}
    data = {"module": module, "parent_id": str(parent["id"]),
            "account_id": str(account.get("id") or ""),
            "account_name": str(account.get("name") or "")}  # fmt: skip
    stamp = (parent.get("last_updated_time") or {}).get("value")
    return Change("worklogs", key, data, op="delete", updated_at=from_millis(stamp))


def _worklog_change(parent: Mapping[str, Any], worklog: Worklog) -> Change:
    account = parent.get("account") or {}
    moment = worklog.start or worklog.created
    data = {
        "module": worklog.module,
        "parent_id": worklog.parent_id,
        "display_id": str(parent.get("display_id") or parent.get("id")),
        "subject": str(parent.get("subject") or parent.get("title") or ""),
        "account_id": str(account.get("id") or ""),
        "account_name": str(account.get("name") or ""),
        "description": worklog.description,
        "hours": str(worklog.hours),
        "type_id": worklog.type_id,
        "type_name": worklog.type_name,
        "total_cost": str(worklog.total_cost),
        "other_cost": str(worklog.other_cost),
        "is_billable": worklog.is_billable,
        "at": moment.isoformat() if moment else None,
    }
    stamp = (parent.get("last_updated_time") or {}).get("value")
    return Change("worklogs", worklog.key, data, updated_at=from_millis(stamp))


class Worklogs(Stream[ServiceDeskSettings]):
    """Worklogs of the chosen modules, as lines of their account's invoice for the period."""

    name = "worklogs"
    xero_object = "Invoice"
    depends_on = ("accounts", "worklog_types")
    deletes = DeleteMode.CHANGES
    title = "Worklogs"

    async def fetch(
        self, ctx: Context, cursor: str | None, until: str | None
    ) -> AsyncIterator[Change]:
        """The worklogs of every parent changed since the cursor (worklogs have no time)."""
        since = datetime.fromisoformat(cursor) if cursor else None
        for module in ctx.settings.worklog_modules:
            async for parent in ctx.client.iter_changed(module, since):
                listed = await ctx.client.worklogs(module, str(parent["id"]))
                for worklog in listed:
                    yield _worklog_change(parent, worklog)
                if ctx.settings.drafts_follow:
                    # A worklog on an invoice that is no longer listed was deleted in MSP.
                    here = {w.key for w in listed}
                    prefix = f"{module}/{parent['id']}/"
                    for key in ctx.links.linked(self.name, prefix):
                        if key not in here:
                            yield _deleted(parent, module, key)

    def deleted(self, ctx: Context, change: Change) -> Resolution:
        """Its line leaves the draft it is on, when drafts follow MSP."""
        if not ctx.links.xero_id(self.name, change.key):
            return Resolution.skip("deleted in MSP before it reached Xero")
        if not ctx.settings.drafts_follow:
            return Resolution.skip("deleted in MSP; its line stays (its invoices are not "
                                   "drafts that follow, update_draft_invoices)")  # fmt: skip
        return Resolution.create()

    def resolve(self, ctx: Context, change: Change) -> Resolution:
        """A line once its account and worklog type are in Xero; skipped when not billed."""
        data, settings = change.data, ctx.settings
        if not settings.covers(data["account_id"], data["account_name"]):
            return Resolution.skip(f"account {data['account_name']} is billed by another source")
        if not data["is_billable"] and not settings.push_non_billable:
            return Resolution.skip("not billable (push_non_billable is off)")
        if ctx.links.xero_id(self.name, change.key) and not settings.drafts_follow:
            return Resolution.skip("on an invoice already: a worklog goes to Xero once")
        account = Dependency(
            "accounts", data["account_id"],
            missing=f"account {data['account_name']!r} has no Xero contact yet: map it on the "
            "Unmapped page (`xerobridge map`), or add the contact in Xero",
        )  # fmt: skip
        if data["type_id"]:
            kind = Dependency(
                "worklog_types", data["type_id"],
                missing=f"worklog type {data['type_name']!r} is not a Xero item: add a sold item "
                f"named {data['type_name']!r} in Xero, then sync worklog types",
            )  # fmt: skip
            return Resolution.create(needs=(account, kind))
        if not settings.default_worklog_type:
            raise Permanent(
                f"worklog {change.key} has no worklog type and default_worklog_type is not set: "
                "give the worklog a type in ServiceDesk Plus, or set default_worklog_type"
            )
        return Resolution.create(needs=(account,))

    def build(
        self, ctx: Context, change: Change, links: Mapping[tuple[str, str, str], str]
    ) -> list[XeroDocument]:
        """The worklog's lines on its account's invoice for the period (none once deleted)."""
        data, settings = change.data, ctx.settings
        if change.op == "delete":
            return [self._without(ctx, change)]
        item = self._item(ctx, change, links)
        lines = m.worklog_lines(data, key=change.key, item=item, rate_source=settings.rate_source,
                                additional_cost_line=settings.additional_cost_line)  # fmt: skip
        moment = posting.dates.moment(data.get("at"), record=f"worklog {change.key}",
                                      source=m.SOURCE)  # fmt: skip
        day = ctx.org.date_of(moment)
        period = m.period_of(day, settings.billing_period)
        return [
            m.invoice(
                number=m.invoice_number(ctx.key_prefix, data["account_id"], period),
                contact_id=links[("accounts", data["account_id"], "main")],
                day=m.period_start(day, settings.billing_period),
                status=settings.invoice_status,
                lines=lines,
            )
        ]

    def _without(self, ctx: Context, change: Change) -> XeroDocument:
        """The invoice the deleted worklog was on, with no line of it (the others stay)."""
        number = ctx.links.natural_key(self.name, change.key) or ""
        account, period = m.parse_invoice_number(ctx.key_prefix, number)
        contact = ctx.links.xero_id("accounts", account)
        if not contact:
            raise Permanent(f"worklog {change.key} was deleted in MSP, but the Xero contact of "
                            f"account {account} is not known any more; remove its line from "
                            f"invoice {number} in Xero")  # fmt: skip
        day = m.start_of(period, ctx.settings.billing_period)
        return m.invoice(number=number, contact_id=contact, day=day,
                         status=ctx.settings.invoice_status, lines=[])  # fmt: skip

    def _item(
        self, ctx: Context, change: Change, links: Mapping[tuple[str, str, str], str]
    ) -> Mapping[str, Any]:
        """The Xero item of the worklog's type (or of the default type)."""
        type_id = change.data["type_id"]
        if not type_id:
            code = ctx.settings.default_worklog_type
            item = ctx.xero.item_by_code(code)
            if item is None:
                raise Permanent(
                    f"worklog {change.key}: default_worklog_type {code!r} is not a Xero item "
                    "code; set it to the code of a sold item"
                )
            return item
        item_id = links[("worklog_types", type_id, "main")]
        for item in ctx.xero.items():
            if str(item.get("ItemID")) == item_id:
                return item
        raise Permanent(
            f"worklog {change.key}: the Xero item of worklog type {change.data['type_name']!r} "
            "is not in the organisation any more; add it again in Xero and sync worklog types"
        )


STREAMS = [Accounts(), WorklogTypes(), Worklogs()]
