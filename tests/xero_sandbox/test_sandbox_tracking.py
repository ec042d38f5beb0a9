"""Tracking categories: create with options, add options, the two-active rule, archived ones."""

from __future__ import annotations

from typing import Any

from xerobridge.sandboxes.xero import SandboxState
from xerobridge.sandboxes.xero.validation import default_validator

from sandbox_helpers import API, Api, run


async def _call(api: Api, method: str, path: str, body: Any = None, **params: str) -> Any:
    async with api.client() as client:
        response = await client.request(method, f"{API}/{path}", json=body, params=params)
    if response.status_code == 200:
        problems = default_validator().response_problems(method, f"/{path}", response.json())
        assert problems == [], problems
    return response


def test_create_list_add_options_and_read_one(api: Api, sandbox: SandboxState) -> None:
    body = {"Name": "Region", "Options": [{"Name": "North"}, {"Name": "South"}]}
    created = run(_call(api, "PUT", "TrackingCategories", body))
    assert created.status_code == 200, created.text
    category = created.json()["TrackingCategories"][0]
    assert category["Status"] == "ACTIVE"
    assert [o["Name"] for o in category["Options"]] == ["North", "South"]
    category_id = category["TrackingCategoryID"]

    option = run(_call(api, "PUT", f"TrackingCategories/{category_id}/Options", {"Name": "East"}))
    assert option.status_code == 200, option.text
    assert option.json()["Options"][0]["Name"] == "East"
    duplicate = run(
        _call(api, "PUT", f"TrackingCategories/{category_id}/Options", {"Name": "east"})
    )
    assert duplicate.status_code == 400
    assert "already exists" in duplicate.json()["Elements"][0]["ValidationErrors"][0]["Message"]

    one = run(_call(api, "GET", f"TrackingCategories/{category_id}")).json()
    assert [o["Name"] for o in one["TrackingCategories"][0]["Options"]] == [
        "North",
        "South",
        "East",
    ]
    listed = run(_call(api, "GET", "TrackingCategories", where='Name=="Region"')).json()
    assert [c["TrackingCategoryID"] for c in listed["TrackingCategories"]] == [category_id]
    assert sandbox.records("TrackingCategories")[0]["Name"] == "Region"


def test_at_most_two_active_categories_and_unique_names(api: Api, sandbox: SandboxState) -> None:
    for name in ("Region", "Department"):
        assert run(_call(api, "PUT", "TrackingCategories", {"Name": name})).status_code == 200
    same = run(_call(api, "PUT", "TrackingCategories", {"Name": "region"}))
    assert same.status_code == 400
    third = run(_call(api, "PUT", "TrackingCategories", {"Name": "Channel"}))
    assert third.status_code == 400
    assert "at most 2 active" in third.json()["Elements"][0]["ValidationErrors"][0]["Message"]

    region = sandbox.records("TrackingCategories")[0]
    archived = run(
        _call(
            api,
            "POST",
            f"TrackingCategories/{region['TrackingCategoryID']}",
            {"Status": "ARCHIVED"},
        )
    )
    assert archived.status_code == 200, archived.text
    assert run(_call(api, "PUT", "TrackingCategories", {"Name": "Channel"})).status_code == 200
    active = run(_call(api, "GET", "TrackingCategories")).json()["TrackingCategories"]
    assert sorted(c["Name"] for c in active) == ["Channel", "Department"]
    everything = run(_call(api, "GET", "TrackingCategories", includeArchived="true")).json()
    assert len(everything["TrackingCategories"]) == 3

    deleted = run(_call(api, "DELETE", f"TrackingCategories/{region['TrackingCategoryID']}"))
    assert deleted.json()["TrackingCategories"][0]["Status"] == "DELETED"
    everything = run(_call(api, "GET", "TrackingCategories", includeArchived="true")).json()
    assert len(everything["TrackingCategories"]) == 2


def test_seed_and_other_reference_resources_exist(api: Api, sandbox: SandboxState) -> None:
    sandbox.seed("TrackingCategories", [{"Name": "Region", "Options": [{"Name": "North"}]}])
    for path in ("Organisation", "Accounts", "TaxRates", "TrackingCategories"):
        assert run(_call(api, "GET", path)).status_code == 200, path
