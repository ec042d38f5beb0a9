"""The ServiceDesk client against the sandbox: paging, changed parents, worklogs, writes,
auth (authtoken and Zoho OAuth) and each kind of error."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from xerobridge.sdk import FakeClock, Permanent, RetryLater, UserError
from xerobridge_servicedesk.auth import AuthtokenAuth
from xerobridge_servicedesk.client import (
    ServiceDeskClient,
    ServiceDeskNotFound,
    ServiceDeskRefused,
    ServiceDeskSetupError,
    ServiceDeskUnavailable,
    Worklog,
)
from xerobridge_servicedesk.sandbox.state import old_format

from servicedesk_helpers import BASE, collect, lists, make_app, run, state_of, zoho_auth


def list_info_of(query: str) -> dict[str, Any]:
    data = json.loads(parse_qs(urlsplit(query).query)["input_data"][0])
    info: dict[str, Any] = data["list_info"]
    return info


# -- paging ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [9, 10])
def test_lists_page_by_start_index_until_no_more_rows(clock: FakeClock, count: int) -> None:
    app = make_app(clock, seed=2, accounts=count, requests=0)
    state = state_of(app)
    records = run(app, lambda c: collect(c.accounts()), page_size=3)
    assert [r["id"] for r in records] == sorted(state.records["accounts"])
    starts = [list_info_of(q)["start_index"] for q in lists(state, "/accounts")]
    assert starts == list(range(1, count + 1, 3))
    assert all(list_info_of(q)["row_count"] == 3 for q in lists(state, "/accounts"))


def test_row_count_never_exceeds_100(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, accounts=2, requests=0)
    run(app, lambda c: collect(c.accounts()), page_size=500)
    assert list_info_of(lists(state_of(app), "/accounts")[0])["row_count"] == 100


def test_changed_parents_since_a_time_are_exactly_those_touched(clock: FakeClock) -> None:
    app = make_app(clock, seed=3, accounts=4, requests=25)
    state = state_of(app)
    everything = run(app, lambda c: collect(c.iter_changed("requests")), page_size=4)
    assert sorted(r["id"] for r in everything) == sorted(state.records["requests"])
    stamps = [int(r["last_updated_time"]["value"]) for r in everything]
    assert stamps == sorted(stamps)

    since = clock.now()
    clock.advance(60)
    request_ids = sorted(state.records["requests"])
    technician = next(iter(state.records["technicians"]))
    state.add_worklog("requests", request_ids[3], owner_id=technician, minutes=30)
    with_worklogs = [k for k, v in state.worklogs.items() if v and k[0] == "requests"]
    module, parent = with_worklogs[-1]
    worklog_id = next(iter(state.worklogs[(module, parent)]))
    state.edit_worklog(module, parent, worklog_id, minutes=95)
    changed = run(app, lambda c: collect(c.iter_changed("requests", since)), page_size=4)
    assert {r["id"] for r in changed} == {request_ids[3], parent}


def test_a_page_of_one_millisecond_is_finished_by_position(clock: FakeClock) -> None:
    app = make_app(clock, seed=4, accounts=2, requests=11)
    state = state_of(app)
    same = state.time(1_700_000_000_000)
    for record in state.records["requests"].values():
        record["last_updated_time"] = same
    records = run(app, lambda c: collect(c.iter_changed("requests")), page_size=3)
    assert sorted(r["id"] for r in records) == sorted(state.records["requests"])
    assert len(records) == 11


def test_every_parent_module_lists_and_reads(clock: FakeClock) -> None:
    app = make_app(clock, seed=5, accounts=3, requests=12)
    state = state_of(app)

    async def work(client: ServiceDeskClient) -> dict[str, int]:
        out = {}
        for module in ("requests", "problems", "changes", "projects", "tasks"):
            records = await collect(client.iter_module(module))
            one = await client.parent(module, records[0]["id"])
            assert one["account"]["id"] in state.records["accounts"]
            out[module] = len(records)
        return out

    counts = run(app, work, page_size=7)
    assert counts == {m: len(state.records[m]) for m in counts}


# -- worklogs --------------------------------------------------------------------------------------


def test_worklogs_are_read_in_the_new_format_with_costs_and_types(clock: FakeClock) -> None:
    app = make_app(clock, seed=6, accounts=3, requests=20)
    state = state_of(app)
    untyped = set(state.odd["untyped_worklogs"])
    costly = set(state.odd["worklogs_with_additional_cost"])
    parents = [k for k, v in state.worklogs.items() if v]

    async def work(client: ServiceDeskClient) -> list[Worklog]:
        found = []
        for module, parent_id in parents:
            found += await client.worklogs(module, parent_id)
        return found

    worklogs = run(app, work)
    assert len(worklogs) == state.counts()["worklogs"]
    for w in worklogs:
        raw = state.worklogs[(w.module, w.parent_id)][w.id]
        assert w.minutes == int(raw["time_spent"]["hours"]) * 60 + int(raw["time_spent"]["minutes"])
        assert w.total_cost == w.owner_cost + w.other_cost
        assert (w.type_id == "") == (w.id in untyped)
        assert (w.other_cost > 0) == (w.id in costly)
        assert w.start is not None and w.end is not None
    assert any(not w.is_billable for w in worklogs)
    assert any("<" in w.description for w in worklogs)


def test_an_edited_worklog_has_a_new_fingerprint_and_a_deleted_one_is_gone(
    clock: FakeClock,
) -> None:
    app = make_app(clock, seed=7, accounts=2, requests=10)
    state = state_of(app)
    module, parent = next(k for k, v in state.worklogs.items() if len(v) >= 2)
    first, second = list(state.worklogs[(module, parent)])[:2]
    before = {w.id: w.fingerprint for w in run(app, lambda c: c.worklogs(module, parent))}
    state.edit_worklog(module, parent, first, description="<p>Changed</p>")
    state.delete_worklog(module, parent, second)
    after = {w.id: w.fingerprint for w in run(app, lambda c: c.worklogs(module, parent))}
    assert second not in after
    assert after[first] != before[first]
    assert {k: v for k, v in after.items() if k != first} == {
        k: v for k, v in before.items() if k not in (first, second)
    }


def test_old_and_new_format_parse_to_the_same_worklog(clock: FakeClock) -> None:
    state = state_of(make_app(clock, seed=8, accounts=2, requests=10))
    (module, parent), worklogs = next((k, v) for k, v in state.worklogs.items() if v)
    raw = next(iter(worklogs.values()))
    new = Worklog.parse(module, parent, raw)
    old = Worklog.parse(module, parent, old_format(raw))
    assert new.fingerprint == old.fingerprint
    assert new.hours == (Decimal(new.minutes) / 60).quantize(Decimal("0.0001"))


# -- writes ----------------------------------------------------------------------------------------


def test_accounts_are_created_and_updated_with_additional_fields(clock: FakeClock) -> None:
    app = make_app(clock, seed=9, accounts=2, requests=0)
    state = state_of(app)

    async def work(client: ServiceDeskClient) -> tuple[dict[str, Any], dict[str, Any]]:
        made = await client.create_account(
            {"name": "Zenith Travel", "phone": "0113 000", "udf_fields": {"udf_sline_301": "C-9"}}
        )
        changed = await client.update_account(
            made["id"], {"city": "Hull", "udf_fields": {"udf_pick_302": "Gold"}}
        )
        return made, changed

    made, changed = run(app, work)
    stored = state.records["accounts"][made["id"]]
    assert stored["name"] == "Zenith Travel" and stored["city"] == "Hull"
    assert stored["udf_fields"] == {"udf_sline_301": "C-9", "udf_pick_302": "Gold"}
    assert changed["udf_fields"]["udf_sline_301"] == "C-9"


def test_a_duplicate_account_name_is_permanent_and_names_the_account(clock: FakeClock) -> None:
    app = make_app(clock, seed=9, accounts=2, requests=0)
    name = next(iter(state_of(app).records["accounts"].values()))["name"]
    with pytest.raises(ServiceDeskRefused) as caught:
        run(app, lambda c: c.create_account({"name": name}))
    assert isinstance(caught.value, Permanent)
    assert f"adding account {name!r}" in str(caught.value)
    assert "name: " in str(caught.value) and "\n" not in str(caught.value)


def test_worklog_types_are_created_updated_and_listed(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, accounts=1, requests=0)

    async def work(client: ServiceDeskClient) -> list[dict[str, Any]]:
        made = await client.create_worklog_type({"name": "CONSULT", "description": "Consulting"})
        await client.update_worklog_type(made["id"], {"description": "Consulting (hourly)"})
        return await collect(client.worklog_types())

    names = {t["name"]: t["description"] for t in run(app, work)}
    assert names["CONSULT"] == "Consulting (hourly)" and "Remote Support" in names


def test_technicians_carry_their_cost_per_hour(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, accounts=1, requests=0)
    technicians = run(app, lambda c: collect(c.technicians()))
    assert {t["name"]: t["cost_per_hour"] for t in technicians}["Priya Shah"] == "55.00"


def test_account_fields_list_the_additional_fields_by_label(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, accounts=1, requests=0)
    fields = run(app, lambda c: c.account_fields())
    assert fields["udf_pick_302"] == "Support Plan" and "postal_code" in fields


# -- errors ----------------------------------------------------------------------------------------


def test_a_wrong_authtoken_is_a_user_error_naming_the_setting(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, accounts=1, requests=0)
    with pytest.raises(UserError) as caught:
        run(app, lambda c: collect(c.accounts()), auth=AuthtokenAuth("wrong"))
    assert "`token`" in str(caught.value)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_html_pages_are_retried_later(clock: FakeClock, status: int) -> None:
    app = make_app(clock, seed=1, accounts=1, requests=0)
    state_of(app).add_fault(status=status, path="/accounts")
    with pytest.raises(ServiceDeskUnavailable) as caught:
        run(app, lambda c: collect(c.accounts()))
    assert f"HTTP {status}" in str(caught.value) and "<html" not in str(caught.value)
    assert len(run(app, lambda c: collect(c.accounts()))) == 1  # the next call works


def test_429_waits_as_retry_after_says(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, accounts=1, requests=0)
    state_of(app).add_fault(status=429, retry_after=30)
    with pytest.raises(RetryLater) as caught:
        run(app, lambda c: collect(c.accounts()))
    assert caught.value.retry_after == 30


def test_the_rate_limit_answers_429_with_retry_after(clock: FakeClock) -> None:
    from xerobridge_servicedesk.sandbox import RateLimit

    app = make_app(clock, seed=1, accounts=12, requests=0)
    state_of(app).rate_limit = RateLimit(requests=2, per_seconds=60)
    with pytest.raises(ServiceDeskUnavailable) as caught:
        run(app, lambda c: collect(c.accounts()), page_size=5)
    assert caught.value.status == 429 and caught.value.retry_after == 60


def test_a_repeated_page_is_not_read_past(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, accounts=7, requests=0)
    state_of(app).add_fault(status=None, answer="repeat", path="/accounts", after=1)
    with pytest.raises(ServiceDeskUnavailable) as caught:
        run(app, lambda c: collect(c.accounts()), page_size=3)
    assert "repeated page" in str(caught.value)


def test_an_html_login_page_points_at_base_url(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, accounts=1, requests=0)
    state_of(app).add_fault(status=None, answer="html")
    with pytest.raises(ServiceDeskSetupError) as caught:
        run(app, lambda c: collect(c.accounts()))
    assert "`base_url`" in str(caught.value)


def test_truncated_json_is_retried_later(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, accounts=3, requests=0)
    state_of(app).add_fault(status=None, answer="truncated")
    with pytest.raises(ServiceDeskUnavailable, match="does not parse"):
        run(app, lambda c: collect(c.accounts()))


def test_a_base_url_without_the_api_is_a_user_error(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, accounts=1, requests=0)
    with pytest.raises(UserError, match="`base_url`"):
        run(app, lambda c: collect(c.accounts()), base=f"{BASE}/sdp")


def test_a_missing_record_is_permanent_and_named(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, accounts=1, requests=2)
    with pytest.raises(ServiceDeskNotFound, match="worklogs of request 99"):
        run(app, lambda c: c.worklogs("requests", "99"))


def test_timeouts_and_unreachable_servers_are_retried_later(clock: FakeClock) -> None:
    app = make_app(clock)

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ServiceDeskUnavailable, match="in time"):
        run(app, lambda c: collect(c.accounts()), transport=httpx.MockTransport(timeout))
    with pytest.raises(ServiceDeskUnavailable, match="`base_url`"):
        run(app, lambda c: collect(c.accounts()), transport=httpx.MockTransport(refused))


# -- Zoho OAuth ------------------------------------------------------------------------------------


def test_zoho_tokens_are_minted_once_and_reused_until_they_expire(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, accounts=12, requests=0)
    state = state_of(app)
    auth = zoho_auth(clock)
    assert len(run(app, lambda c: collect(c.accounts()), auth=auth, page_size=5)) == 12
    assert len(state.access_tokens) == 1
    run(app, lambda c: collect(c.technicians()), auth=auth)
    assert len(state.access_tokens) == 1
    clock.advance(3600)
    run(app, lambda c: collect(c.technicians()), auth=auth)
    assert len(state.access_tokens) == 2
    assert all("authtoken" not in m for m, _ in state.request_log)


def test_a_revoked_zoho_token_is_replaced_once(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, accounts=2, requests=0)
    state = state_of(app)
    auth = zoho_auth(clock)
    run(app, lambda c: collect(c.accounts()), auth=auth)
    state.revoke_access_tokens()
    assert len(run(app, lambda c: collect(c.accounts()), auth=auth)) == 2
    assert len(state.access_tokens) == 1


def test_zoho_minting_is_throttled_on_our_side(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, accounts=1, requests=0)
    state = state_of(app)
    auth = zoho_auth(clock)
    for _ in range(10):
        run(app, lambda c: collect(c.accounts()), auth=auth)
        state.revoke_access_tokens()
        auth.token = None
    with pytest.raises(RetryLater) as caught:
        run(app, lambda c: collect(c.accounts()), auth=auth)
    assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 600
    assert len(state._mints["1000.sandbox-refresh-token"]) == 10  # never asked an 11th time
    clock.advance(600)
    run(app, lambda c: collect(c.accounts()), auth=auth)


def test_zoho_refusing_to_mint_is_retried_later(clock: FakeClock) -> None:
    app = make_app(clock, seed=1, accounts=1, requests=0)
    for _ in range(10):
        state_of(app).mint(
            "1000.SANDBOXCLIENT", "sandbox-client-secret", "1000.sandbox-refresh-token"
        )
    with pytest.raises(RetryLater, match="too many"):
        run(app, lambda c: collect(c.accounts()), auth=zoho_auth(clock))


@pytest.mark.parametrize(
    ("wrong", "setting"),
    [
        ({"refresh_token": "1000.old"}, "`refresh_token`"),
        ({"client_secret": "x"}, "`client_secret`"),
    ],
)
def test_wrong_zoho_credentials_name_the_setting(
    clock: FakeClock, wrong: dict[str, str], setting: str
) -> None:
    app = make_app(clock, seed=1, accounts=1, requests=0)
    with pytest.raises(UserError, match=setting):
        run(app, lambda c: collect(c.accounts()), auth=zoho_auth(clock, **wrong))
