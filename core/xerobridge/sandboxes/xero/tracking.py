"""Tracking categories and their options.

Rules from Xero's documentation: an organisation has at most two active tracking categories;
category names are unique, and option names unique within their category (case-insensitively,
as Xero compares names); names are at most 100 characters. Xero's exact wording of these errors
is not documented, so the messages here are the sandbox's own. Deleted categories and options
are kept with Status DELETED and never listed; archived ones are listed only with
includeArchived=true.

Xero documents adding options through PUT /TrackingCategories/{id}/Options; whether the
category PUT also takes `Options` is not documented. The sandbox accepts them there too, so a
seed can create a category with its options in one step.
"""

from __future__ import annotations

from typing import Any

from xerobridge.sandboxes.xero.errors import ElementInvalid
from xerobridge.sandboxes.xero.organisation import Organisation
from xerobridge.sandboxes.xero.writes import WriteContext

MAX_ACTIVE = 2
MAX_NAME = 100
STATUSES = ("ACTIVE", "ARCHIVED", "DELETED")


def _fold(value: object) -> str:
    return str(value or "").strip().casefold()


def _categories(org: Organisation) -> list[dict[str, Any]]:
    return [c for c in org.all("TrackingCategories") if c["Status"] != "DELETED"]


def _check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ElementInvalid(f"{what} Name is required.")
    if len(name) > MAX_NAME:
        raise ElementInvalid(f"{what} Name must not be longer than {MAX_NAME} characters.")
    return name.strip()


def write_tracking_category(
    ctx: WriteContext, element: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """Create a category (PUT), or rename / archive / reactivate one (POST to its id)."""
    org = ctx.org
    ref = ctx.path_id or element.get("TrackingCategoryID")
    existing = org.get("TrackingCategories", str(ref)) if ref else None
    if ref and (existing is None or existing["Status"] == "DELETED"):
        raise ElementInvalid("The TrackingCategory could not be found.")
    if ctx.mode == "create" and existing is not None:
        raise ElementInvalid("A TrackingCategoryID cannot be given to create a category.")
    name = _check_name(element.get("Name", existing["Name"] if existing else None), "Tracking")
    status = str(element.get("Status", existing["Status"] if existing else "ACTIVE")).upper()
    if status not in ("ACTIVE", "ARCHIVED"):
        raise ElementInvalid("Status must be ACTIVE or ARCHIVED (delete with DELETE).")
    others = [c for c in _categories(org) if existing is None or c is not existing]
    if any(_fold(c["Name"]) == _fold(name) for c in others):
        raise ElementInvalid(f"A tracking category called '{name}' already exists.")
    becomes_active = status == "ACTIVE" and (existing is None or existing["Status"] != "ACTIVE")
    if becomes_active and sum(c["Status"] == "ACTIVE" for c in others) >= MAX_ACTIVE:
        raise ElementInvalid(f"You can have at most {MAX_ACTIVE} active tracking categories.")
    options = [_new_option(ctx, o) for o in element.get("Options") or []]
    if existing is None:
        names: list[str] = []
        for option in options:
            if _fold(option["Name"]) in names:
                raise ElementInvalid(f"The option '{option['Name']}' is given twice.")
            names.append(_fold(option["Name"]))
        record = {"Name": name, "Status": status, "Options": options}
        return "TrackingCategories", org.insert("TrackingCategories", record, ctx.now)
    existing["Name"] = name
    existing["Status"] = status
    for option in options:
        _add_option(existing, option)
    org.touch("TrackingCategories", existing, ctx.now)
    return "TrackingCategories", existing


def _new_option(ctx: WriteContext, element: object) -> dict[str, Any]:
    if not isinstance(element, dict):
        raise ElementInvalid("An option must be an object with a Name.")
    name = _check_name(element.get("Name"), "Tracking Option")
    return {"TrackingOptionID": ctx.ids.guid(), "Name": name, "Status": "ACTIVE"}


def _add_option(category: dict[str, Any], option: dict[str, Any]) -> None:
    live = [o for o in category["Options"] if o["Status"] != "DELETED"]
    if any(_fold(o["Name"]) == _fold(option["Name"]) for o in live):
        raise ElementInvalid(f"The option '{option['Name']}' already exists in this category.")
    category["Options"].append(option)


def add_option(ctx: WriteContext, category_id: str, element: object) -> dict[str, Any]:
    """PUT /TrackingCategories/{id}/Options: one new option."""
    category = ctx.org.get("TrackingCategories", category_id)
    if category is None or category["Status"] == "DELETED":
        raise ElementInvalid("The TrackingCategory could not be found.")
    option = _new_option(ctx, element)
    _add_option(category, option)
    ctx.org.touch("TrackingCategories", category, ctx.now)
    return option


def delete_category(ctx: WriteContext, category_id: str) -> dict[str, Any]:
    category = ctx.org.get("TrackingCategories", category_id)
    if category is None or category["Status"] == "DELETED":
        raise ElementInvalid("The TrackingCategory could not be found.")
    category["Status"] = "DELETED"
    ctx.org.touch("TrackingCategories", category, ctx.now)
    return category
