"""Batch writes: the request envelope, one result per element, summarizeErrors."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from xerobridge.sandboxes.xero.dates import ms_date, parse_document_date
from xerobridge.sandboxes.xero.errors import ElementInvalid, post_data_invalid, validation_exception
from xerobridge.sandboxes.xero.ids import IdSource
from xerobridge.sandboxes.xero.organisation import Organisation

Mode = Literal["create", "upsert"]
DATE_FIELDS = frozenset({"Date", "DueDate", "ExpectedPaymentDate", "PlannedPaymentDate"})

# Which error flag each element type carries in the spec (Contact and Payment have
# HasValidationErrors, Invoice and CreditNote HasErrors, Item and BankTransaction neither).
ERROR_FLAGS: dict[str, str | None] = {
    "Contacts": "HasValidationErrors",
    "Payments": "HasValidationErrors",
    "Invoices": "HasErrors",
    "CreditNotes": "HasErrors",
    "Items": None,
    "BankTransactions": None,
    "Allocations": None,
    "Accounts": None,
}


@dataclass
class WriteContext:
    """Everything a document rule needs to write one element."""

    org: Organisation
    now: datetime
    ids: IdSource
    client_id: str
    mode: Mode
    unitdp: int = 2
    path_id: str | None = None
    warnings: list[str] = field(default_factory=list)


Writer = Callable[[WriteContext, dict[str, Any]], tuple[str, dict[str, Any]]]
"""Writes one element; returns (the kind the record was stored under, the stored record)."""


@dataclass
class ElementResult:
    submitted: dict[str, Any]
    kind: str = ""
    record: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.record is not None


def elements_of(body: object, plural: str) -> list[dict[str, Any]]:
    """The elements of a write body: `{"Invoices": [...]}`, or one bare object (Xero takes it)."""
    if isinstance(body, dict):
        for key, value in body.items():
            if key.lower() == plural.lower():
                if isinstance(value, list) and all(isinstance(v, dict) for v in value):
                    return value
                if isinstance(value, dict):
                    return [value]
                raise post_data_invalid(f"{plural} must be a list of objects")
        return [body]
    raise post_data_invalid(f"The request body must be a JSON object with a {plural} list")


def run_batch(
    make_context: Callable[[], WriteContext], elements: list[dict[str, Any]], writer: Writer
) -> list[ElementResult]:
    """Write each element on its own: one failing element does not stop the others.

    Elements that succeed are committed even when another fails, which is also what Xero does
    when it summarises errors (xero-ruby#247): the valid ones exist, their ids are not returned.
    """
    results = []
    for element in elements:
        result = ElementResult(submitted=element)
        ctx = make_context()
        try:
            result.kind, result.record = writer(ctx, element)
        except ElementInvalid as exc:
            result.errors = exc.messages
        result.warnings = ctx.warnings
        results.append(result)
    return results


def raise_if_summarised(results: list[ElementResult], plural: str, summarize: bool) -> None:
    """With summarizeErrors=true any failed element turns the answer into the spec's 400."""
    if summarize and any(not r.ok for r in results):
        raise validation_exception([error_element(r, plural) for r in results if not r.ok])


def error_element(result: ElementResult, plural: str) -> dict[str, Any]:
    """A failed element: what was submitted, plus its ValidationErrors."""
    element = dict(result.submitted)
    for key in DATE_FIELDS & element.keys():
        # Xero echoes the element in its own format, so request dates come back as MS-JSON.
        with contextlib.suppress(TypeError, ValueError):
            element[key] = ms_date(parse_document_date(element[key]))
    element["StatusAttributeString"] = "ERROR"
    element["ValidationErrors"] = [{"Message": m} for m in result.errors]
    if result.warnings and plural in ("Invoices", "CreditNotes", "Payments"):
        element["Warnings"] = [{"Message": m} for m in result.warnings]
    flag = ERROR_FLAGS.get(plural)
    if flag:
        element[flag] = True
    return element
