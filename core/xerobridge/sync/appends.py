"""Lines that several records add to one shared Xero document, such as a customer's open
invoice for the month (`XeroDocument(..., append=True)`).

Each record's lines carry its marker at the end of their Description (` [<marker>]`), so the
writer can tell whose line is whose. Under the document's lock (`doclocks`), it reads the
document by its natural key, keeps every line that is not of the records it writes, puts in
theirs, and writes the document whole, creating it if it does not exist yet. Doing that twice
gives the same document: so an answer lost after Xero committed is settled by doing it again,
never by a second copy of the lines, and no write attempt needs to be resent or swept for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from xerobridge.contract.errors import Permanent, RetryLater
from xerobridge.store.db import Store
from xerobridge.sync import doclocks
from xerobridge.xero.client import ElementResult, XeroClient
from xerobridge.xero.objects import xero_object

#: What can be appended to, and the statuses in which Xero takes new lines from anyone.
APPENDABLE = frozenset({"Invoice", "CreditNote"})
OPEN = frozenset({"DRAFT", "SUBMITTED"})
#: The fields of a line that a write takes back as they were read.
_LINE_FIELDS = (
    "LineItemID", "Description", "Quantity", "UnitAmount", "ItemCode", "AccountCode", "TaxType",
    "DiscountRate", "Tracking",
)  # fmt: skip


class Busy(Exception):
    """Another worker is writing the document; try again in a moment."""


@dataclass(frozen=True)
class Part:
    """One record's share of a shared document: its marker and its document as to_xero made it."""

    marker: str
    body: Mapping[str, Any]


def marked(description: str, marker: str) -> str:
    """A line's description with the record's marker at the end."""
    tag = f"[{marker}]"
    text = str(description or "").strip()
    return text if text.endswith(tag) else f"{text} {tag}".strip()


def merge(
    current: Mapping[str, Any] | None, parts: Sequence[Part], id_field: str
) -> dict[str, Any]:
    """The whole document: its other lines as they are, and the parts' lines in place of theirs."""
    tags = tuple(f"[{part.marker}]" for part in parts)
    header = {k: v for k, v in parts[-1].body.items() if k not in ("LineItems", id_field)}
    lines: list[dict[str, Any]] = []
    if current is not None:
        header[id_field] = current[id_field]
        for line in current.get("LineItems") or []:
            if not str(line.get("Description", "")).endswith(tags):
                lines.append({k: line[k] for k in _LINE_FIELDS if k in line})
    for part in parts:
        for line in part.body.get("LineItems") or []:
            lines.append(
                {**line, "Description": marked(str(line.get("Description", "")), part.marker)}
            )
    return {**header, "LineItems": lines}


async def write(
    client: XeroClient,
    store: Store,
    connection_id: int,
    kind: str,
    natural_key: str,
    key_field: str,
    parts: Sequence[Part],
) -> ElementResult:
    """Read, merge and write one shared document under its lock (Busy if someone else holds it)."""
    if kind not in APPENDABLE:
        raise Permanent(f"lines cannot be appended to a {kind}; only to {sorted(APPENDABLE)}")
    res = xero_object(kind)
    with doclocks.hold(store, f"{connection_id}:{kind}:{natural_key}") as held:
        if not held:
            raise Busy(f"{kind} {natural_key} is being written by another worker")
        current = None
        async for record in client.records(
            connection_id, kind, where=f'{key_field}=="{_quoted(natural_key)}"'
        ):
            if record.get("Status") not in ("DELETED", "VOIDED"):
                current = record
                break
        if current is not None and not _takes_lines(current, parts[-1].body):
            raise Permanent(
                f"{kind} {natural_key} is {current.get('Status')} in Xero, so lines can no "
                "longer be added to it; return it to draft in Xero, or let the source start a "
                "new one"
            )
        body = merge(current, parts, res.id_field)
        results = await client.write(connection_id, kind, [body])
    if not results:
        raise RetryLater(f"Xero answered nothing for {kind} {natural_key}")
    return results[0]


def _takes_lines(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether the shared document still takes lines: open (draft or submitted), or approved
    as the source writes it (the source approves its documents itself) with nothing paid or
    credited on it yet, as Xero allows. One a person approved stays as the person left it."""
    status = current.get("Status")
    if status in OPEN:
        return True
    applied = float(current.get("AmountPaid") or 0) + float(current.get("AmountCredited") or 0)
    return status == "AUTHORISED" == wanted.get("Status") and applied == 0


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
