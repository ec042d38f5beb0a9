"""Items: unique Code of at most 30 characters, sales/purchase details that must make sense."""

from __future__ import annotations

from typing import Any

from xerobridge.sandboxes.xero.errors import ElementInvalid
from xerobridge.sandboxes.xero.ids import is_guid
from xerobridge.sandboxes.xero.lines import to_decimal
from xerobridge.sandboxes.xero.organisation import Organisation
from xerobridge.sandboxes.xero.wire import quantize
from xerobridge.sandboxes.xero.writes import WriteContext

WRITABLE = (
    "Code",
    "Name",
    "Description",
    "PurchaseDescription",
    "IsSold",
    "IsPurchased",
    "IsTrackedAsInventory",
    "InventoryAssetAccountCode",
)
MAX_LENGTHS = {"Code": 30, "Name": 50, "Description": 4000, "PurchaseDescription": 4000}


def write_item(ctx: WriteContext, element: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Create (PUT) or create-or-update (POST, matched by ItemID then Code) one item."""
    org = ctx.org
    existing = _find_existing(ctx, element)
    record: dict[str, Any] = (
        dict(existing)
        if existing
        else {
            "IsSold": True,
            "IsPurchased": True,
            "IsTrackedAsInventory": False,
            "SalesDetails": {},
            "PurchaseDetails": {},
        }
    )
    for key in WRITABLE:
        if key in element:
            record[key] = element[key]
    errors: list[str] = []
    for key in ("SalesDetails", "PurchaseDetails"):
        if key in element:
            record[key] = _details(org, element[key], key, ctx.unitdp, errors)
    _validate(org, record, existing, errors)
    if record.get("IsTrackedAsInventory"):
        record.setdefault("QuantityOnHand", to_decimal(0, "QuantityOnHand"))
        record.setdefault("TotalCostPool", to_decimal(0, "TotalCostPool"))
    if errors:
        raise ElementInvalid(*errors)
    if existing is None:
        return "Items", org.insert("Items", record, ctx.now)
    existing.clear()
    existing.update(record)
    org.touch("Items", existing, ctx.now)
    return "Items", existing


def _find_existing(ctx: WriteContext, element: dict[str, Any]) -> dict[str, Any] | None:
    item_id = ctx.path_id or element.get("ItemID")
    if item_id:
        found = ctx.org.get("Items", str(item_id)) if is_guid(item_id) else None
        if found is None:
            raise ElementInvalid(f"Item with ID {item_id} could not be found")  # (unverified)
        return found
    if ctx.mode == "upsert":
        return ctx.org.item_by_code(element.get("Code"))
    return None


def _details(
    org: Organisation, value: object, key: str, unitdp: int, errors: list[str]
) -> dict[str, Any]:
    if not isinstance(value, dict):
        errors.append(f"{key} must be an object")
        return {}
    details: dict[str, Any] = {}
    if value.get("UnitPrice") is not None:
        try:
            details["UnitPrice"] = quantize(to_decimal(value["UnitPrice"], "UnitPrice"), unitdp)
        except ElementInvalid as exc:
            errors.extend(exc.messages)
    for code_key in ("AccountCode", "COGSAccountCode"):
        code = value.get(code_key)
        if code:
            account = org.account_by_code(code)
            if account is None or account.get("Status") != "ACTIVE":
                errors.append(f"Account code '{code}' is not a valid code for this document.")
            details[code_key] = code
    tax_type = value.get("TaxType")
    if tax_type:
        if org.tax_rate(tax_type) is None:
            errors.append(
                f"The TaxType code '{tax_type}' does not exist or cannot be used for this type "
                "of transaction."
            )
        details["TaxType"] = str(tax_type).upper()
    return details


def _validate(
    org: Organisation,
    record: dict[str, Any],
    existing: dict[str, Any] | None,
    errors: list[str],
) -> None:
    code = record.get("Code")
    if not isinstance(code, str) or not code.strip():
        errors.append("Item Code must be specified.")  # (wording unverified)
        return
    for key, limit in MAX_LENGTHS.items():
        value = record.get(key)
        if isinstance(value, str) and len(value) > limit:
            errors.append(f"{key} must not be more than {limit} characters long.")
    clash = org.item_by_code(code)
    if clash is not None and (existing is None or clash["ItemID"] != existing["ItemID"]):
        # The spec's example shows the code between doubled quotes (''abc''), most likely an
        # escaping artefact of the example generator; single quotes are used here.
        errors.append(f"Price List Item with Code '{code}' already exists")
    if record.get("IsTrackedAsInventory"):
        inventory = record.get("InventoryAssetAccountCode")
        cogs = (record.get("PurchaseDetails") or {}).get("COGSAccountCode")
        if not inventory or not cogs:
            errors.append(
                "A tracked item needs an InventoryAssetAccountCode and a "
                "PurchaseDetails.COGSAccountCode"
            )
        elif org.account_by_code(inventory) is None:
            errors.append(f"Account code '{inventory}' is not a valid code for this document.")
