"""The registry of Xero objects agrees with Xero's official Accounting spec, row by row."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from xerobridge.contract.types import DOCUMENT_KEYS
from xerobridge.xero import objects
from xerobridge.xero.objects import OBJECTS, XeroObject, by_category, xero_object

_HERE = Path(__file__).resolve()
_CANDIDATES = [
    Path(os.environ.get("XEROBRIDGE_XERO_OPENAPI", "/nonexistent")),
    _HERE.parents[2] / "shared" / "xero-openapi" / "xero_accounting.yaml",
    _HERE.parents[3] / "shared" / "xero-openapi" / "xero_accounting.yaml",
]


@cache
def _spec() -> dict[str, Any]:
    path = next((p for p in _CANDIDATES if p.is_file()), None)
    if path is None:
        message = "xero_accounting.yaml not found (set XEROBRIDGE_XERO_OPENAPI)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open("rb") as handle:
        return yaml.load(handle, Loader=loader)


def _schema(name: str) -> dict[str, Any]:
    return _spec()["components"]["schemas"][name]


def _parameters(path: str, method: str) -> set[str]:
    operation = _spec()["paths"][path][method]
    names = set()
    for entry in operation.get("parameters", []):
        param = entry
        if "$ref" in entry:
            param = _spec()["components"]["parameters"][entry["$ref"].rsplit("/", 1)[1]]
        names.add(param["name"])
    return names


ROWS = [pytest.param(o, id=o.kind) for o in OBJECTS]


@pytest.mark.parametrize("obj", ROWS)
def test_each_object_is_a_collection_of_the_spec_with_its_id_and_key_fields(
    obj: XeroObject,
) -> None:
    if obj.kind == "Allocation":  # only under CreditNotes/{id}/Allocations
        assert "/CreditNotes/{CreditNoteID}/Allocations" in _spec()["paths"]
        return
    assert f"/{obj.plural}" in _spec()["paths"]
    properties = _schema(obj.kind)["properties"]
    assert obj.id_field in properties
    for key_field in obj.key_fields:
        assert key_field in properties, f"{obj.kind}.{key_field} is not in the spec"


@pytest.mark.parametrize("obj", [pytest.param(o, id=o.kind) for o in OBJECTS if o.paged])
def test_paged_objects_take_a_page(obj: XeroObject) -> None:
    assert "page" in _parameters(f"/{obj.plural}", "get")


def test_objects_read_back_by_ids_accept_the_ids_filter() -> None:
    for obj in OBJECTS:
        if obj.by_ids:
            assert "IDs" in _parameters(f"/{obj.plural}", "get"), obj.kind


def test_event_categories_are_the_webhook_spec_categories() -> None:
    assert {o.event_category for o in OBJECTS if o.event_category} <= {
        "CONTACT",
        "INVOICE",
        "CREDITNOTE",
    }
    assert by_category("invoice") is xero_object("Invoices")
    assert by_category("SUBSCRIPTION") is None


def test_document_kinds_come_from_the_registry_alone() -> None:
    assert {o.kind: o.key_fields for o in OBJECTS if o.key_fields} == DOCUMENT_KEYS
    assert objects.MIRRORED == ("Contact", "Item", "Account", "TaxRate", "TrackingCategory")
    assert xero_object("Allocation").write_size == 1
    assert xero_object("Invoice").write_size == objects.BATCH_SIZE
    with pytest.raises(KeyError, match="unknown Xero object 'Widget'"):
        xero_object("Widget")


WRITTEN = [pytest.param(o, id=o.kind) for o in OBJECTS if o.key_fields and o.kind != "Allocation"]


@pytest.mark.parametrize("obj", WRITTEN)
def test_each_written_object_is_created_the_way_the_spec_allows(obj: XeroObject) -> None:
    """The create operation exists, takes an Idempotency-Key, and takes summarizeErrors and
    unitdp exactly when the row says it does."""
    method = obj.create_method.lower() if obj.envelope else "put"
    assert method in _spec()["paths"][f"/{obj.plural}"], f"{obj.plural} has no {method}"
    taken = _parameters(f"/{obj.plural}", method)
    assert "Idempotency-Key" in taken
    assert ("summarizeErrors" in taken) is obj.summarize_errors, obj.kind
    assert ("unitdp" in taken) is obj.unitdp, obj.kind


@pytest.mark.parametrize("obj", [pytest.param(o, id=o.kind) for o in OBJECTS
                                 if o.kind != "Allocation"])  # fmt: skip
def test_paging_and_if_modified_since_are_as_the_spec_says(obj: XeroObject) -> None:
    taken = _parameters(f"/{obj.plural}", "get")
    assert ("page" in taken) is obj.paged, obj.kind
    if obj.incremental:
        assert "If-Modified-Since" in taken, obj.kind


def test_bank_transfers_are_made_or_deleted_never_updated() -> None:
    """The one write on a made transfer is a delete: its body takes a Status and nothing else."""
    transfer = xero_object("BankTransfer")
    assert (transfer.key_fields, transfer.create_method, transfer.updatable) == (
        ("Reference",),
        "PUT",
        False,
    )
    by_id = _spec()["paths"]["/BankTransfers/{BankTransferID}"]
    assert set(by_id) - {"parameters"} == {"get", "post"}
    body = by_id["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert set(_schema(body.rsplit("/", 1)[1])["properties"]) == {"Status"}
    assert {"FromBankAccount", "ToBankAccount", "Amount"} <= set(
        _schema("BankTransfer")["required"]
    )
    assert all(o.updatable for o in OBJECTS if o.kind != "BankTransfer")
