"""The sandbox as the v3 API behaves: envelope, list_info paging, search criteria, formats,
auth, Zoho's token endpoint, the generator and the control API."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from xerobridge.sdk import FakeClock
from xerobridge_servicedesk.sandbox import SandboxState

from servicedesk_helpers import V3, http_for, make_app, state_of


def call(app: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        async with http_for(app) as http:
            return await http.request(method, path, **kwargs)

    return asyncio.run(go())


def listing(app: Any, path: str, list_info: dict[str, Any] | None = None, **kw: Any) -> Any:
    params = {"input_data": json.dumps({"list_info": list_info})} if list_info else {}
    return call(app, "GET", f"/api/v3{path}", params=params, headers=kw.get("headers", V3))


def test_the_generator_is_deterministic_and_covers_every_kind(clock: FakeClock) -> None:
    one = state_of(make_app(clock, seed=11, accounts=5, requests=24))
    two = state_of(make_app(clock, seed=11, accounts=5, requests=24))
    assert one.records == two.records and dict(one.worklogs) == dict(two.worklogs)
    assert one.counts()["accounts"] == 5 and one.counts()["requests"] == 24
    for module in ("problems", "changes", "projects", "tasks", "technicians", "worklog_types"):
        assert one.counts()[module] > 0, module
    for kind in ("untyped_worklogs", "non_billable_worklogs", "worklogs_with_additional_cost"):
        assert one.odd[kind], kind
    account = next(iter(one.records["accounts"].values()))
    assert set(account["udf_fields"]) == set(one.account_udfs)
    worklogs = [w for ws in one.worklogs.values() for w in ws.values()]
    assert any("&amp;" in w["description"] for w in worklogs)
    assert all("last_updated_time" not in w for w in worklogs)  # as the real API: none
    for (module, parent_id), ws in one.worklogs.items():
        parent = one.records[module][parent_id]
        for w in ws.values():
            assert int(parent["last_updated_time"]["value"]) >= int(w["created_time"]["value"])


def test_lists_answer_the_v3_envelope_with_string_ids_and_time_objects(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, accounts=3, requests=12)
    body = listing(app, "/requests", {"row_count": 5, "start_index": 11, "get_total_count": True})
    assert body.status_code == 200
    data = body.json()
    assert data["response_status"] == [{"status_code": 2000, "status": "success"}]
    assert data["list_info"]["has_more_rows"] is False
    assert data["list_info"]["total_count"] == 12 and data["list_info"]["start_index"] == 11
    assert len(data["requests"]) == 2
    request = data["requests"][0]
    assert isinstance(request["id"], str) and set(request["created_time"]) == {
        "value",
        "display_value",
    }
    single = call(app, "GET", f"/api/v3/requests/{request['id']}", headers=V3).json()
    assert single["response_status"] == {"status_code": 2000, "status": "success"}


def test_a_list_without_list_info_answers_ten_rows(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, accounts=2, requests=15)
    data = listing(app, "/requests").json()
    assert len(data["requests"]) == 10 and data["list_info"]["has_more_rows"] is True
    assert "total_count" not in data["list_info"]


def test_more_than_100_rows_is_refused(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, accounts=2, requests=0)
    response = listing(app, "/accounts", {"row_count": 101})
    assert response.status_code == 400
    message = response.json()["response_status"]["messages"][0]
    assert message["field"] == "row_count"


def test_search_criteria_filter_by_time_and_nested_fields(clock: FakeClock) -> None:
    app = make_app(clock, seed=2, accounts=3, requests=20)
    state = state_of(app)
    stamps = sorted(
        int(r["last_updated_time"]["value"]) for r in state.records["requests"].values()
    )
    pivot = stamps[9]
    later = listing(
        app,
        "/requests",
        {
            "row_count": 100,
            "search_criteria": {
                "field": "last_updated_time",
                "condition": "greater than",
                "value": str(pivot),
            },
        },
    ).json()["requests"]
    assert len(later) == len([s for s in stamps if s > pivot])
    account = next(iter(state.records["accounts"].values()))
    mine = listing(
        app,
        "/requests",
        {
            "row_count": 100,
            "search_criteria": [
                {"field": "account.name", "condition": "is", "value": account["name"]},
                {
                    "field": "last_updated_time",
                    "condition": "lesser or equal",
                    "value": str(pivot),
                    "logical_operator": "AND",
                },
            ],
        },
    ).json()["requests"]
    expected = [
        r
        for r in state.records["requests"].values()
        if r["account"]["id"] == account["id"] and int(r["last_updated_time"]["value"]) <= pivot
    ]
    assert sorted(r["id"] for r in mine) == sorted(r["id"] for r in expected)


def test_worklogs_switch_names_with_the_accept_header(clock: FakeClock) -> None:
    app = make_app(clock, seed=3, accounts=2, requests=10)
    state = state_of(app)
    module, parent = next(k for k, v in state.worklogs.items() if v)
    path = f"/{module}/{parent}/worklogs"
    new = listing(app, path).json()["worklogs"][0]
    old = listing(app, path, headers={"authtoken": V3["authtoken"]}).json()["worklogs"][0]
    assert {"owner", "type", "time_spent", "total_cost"} <= set(new)
    assert {"technician", "worklog_type", "total_time_spent", "total_charge"} <= set(old)
    assert "owner" not in old and "total_charge" not in new


def test_requests_without_credentials_are_refused(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, accounts=1, requests=0)
    response = listing(app, "/accounts", headers={"Accept": V3["Accept"]})
    assert response.status_code == 401
    assert response.json()["response_status"]["status"] == "failed"


def test_an_unknown_path_is_an_html_404(clock: FakeClock) -> None:
    app = make_app(clock)
    response = call(app, "GET", "/api/v3/nothing_here", headers=V3)
    assert response.status_code == 404 and "text/html" in response.headers["content-type"]


def test_writes_take_input_data_as_a_form_field(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, accounts=1, requests=0)
    payload = {"account": {"name": "Form Co", "udf_fields": {"udf_pick_302": "Silver"}}}
    response = call(
        app, "POST", "/api/v3/accounts", data={"input_data": json.dumps(payload)}, headers=V3
    )
    assert response.status_code == 200
    assert response.json()["account"]["udf_fields"] == {"udf_pick_302": "Silver"}
    missing = call(
        app, "POST", "/api/v3/accounts", data={"input_data": '{"account": {}}'}, headers=V3
    )
    assert missing.status_code == 400
    assert missing.json()["response_status"]["messages"][0]["field"] == "name"


def test_zoho_token_endpoint_mints_and_throttles(clock: FakeClock) -> None:
    app = make_app(clock)
    form = {
        "grant_type": "refresh_token",
        "client_id": "1000.SANDBOXCLIENT",
        "client_secret": "sandbox-client-secret",
        "refresh_token": "1000.sandbox-refresh-token",
    }
    answers = [call(app, "POST", "/oauth/v2/token", data=form) for _ in range(11)]
    first = answers[0].json()
    assert first["expires_in"] == 3600 and first["token_type"] == "Bearer"
    headers = {"Accept": V3["Accept"], "Authorization": f"Zoho-oauthtoken {first['access_token']}"}
    assert listing(app, "/accounts", headers=headers).status_code == 200
    assert answers[10].status_code == 400 and answers[10].json()["error"] == "Access Denied"
    bad = call(app, "POST", "/oauth/v2/token", data={**form, "refresh_token": "x"})
    assert bad.status_code == 200 and bad.json() == {"error": "invalid_code"}


def test_the_control_api_edits_and_deletes_worklogs_and_moves_the_parent(
    clock: FakeClock,
) -> None:
    app = make_app(clock, seed=4, accounts=2, requests=10)
    state: SandboxState = state_of(app)
    module, parent = next(k for k, v in state.worklogs.items() if v)
    worklog_id = next(iter(state.worklogs[(module, parent)]))
    clock.advance(120)
    edited = call(
        app, "PUT", f"/_sandbox/worklogs/{module}/{parent}/{worklog_id}", json={"minutes": 61}
    ).json()
    assert edited["time_spent"] == {"hours": "1", "minutes": "1"}
    assert state.records[module][parent]["last_updated_time"]["value"] == str(state.now_ms())
    clock.advance(60)
    gone = call(app, "DELETE", f"/_sandbox/worklogs/{module}/{parent}/{worklog_id}")
    assert gone.json() == {"deleted": True}
    assert worklog_id not in state.worklogs[(module, parent)]
    assert state.records[module][parent]["last_updated_time"]["value"] == str(state.now_ms())
    info = call(app, "GET", "/_sandbox/info").json()
    assert info["token"] == state.authtoken and info["counts"] == state.counts()
    technician = next(iter(state.records["technicians"]))
    added = call(
        app,
        "POST",
        f"/_sandbox/worklogs/{module}/{parent}",
        json={"owner_id": technician, "minutes": 30, "other_cost": "9.99", "is_billable": False},
    ).json()
    assert added["other_cost"] == "9.99" and added["is_billable"] is False
    bad = call(app, "PUT", f"/_sandbox/worklogs/{module}/{parent}/1", json={"minutes": 5})
    assert bad.status_code == 404


def test_faults_play_as_many_times_as_asked(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, accounts=1, requests=0)
    call(app, "POST", "/_sandbox/faults", json={"status": 503, "times": 2, "path": "/accounts"})
    codes = [listing(app, "/accounts").status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    assert listing(app, "/technicians").status_code == 200
