"""The ServiceDesk settings: defaults as the seed has them, text as a person types it, checks."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from xerobridge_servicedesk.settings import DEFAULT_ACCOUNT_FIELDS, ServiceDeskSettings

ON_PREM = {"base_url": "https://msp.example.com:8080", "token": "abc"}


def settings(**values: Any) -> ServiceDeskSettings:
    return ServiceDeskSettings.model_validate({**ON_PREM, **values})


def refusal(**values: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        settings(**values)
    return str(caught.value.errors()[0]["msg"])


def test_defaults_follow_the_seed_and_sync_out_of_working_hours() -> None:
    s = settings()
    assert str(s.schedule) == "daily at 01:00"
    assert (s.sync_accounts, s.sync_worklog_types, s.sync_worklogs) == (True, True, True)
    assert s.worklog_modules == ["requests", "problems", "changes", "projects", "tasks"]
    assert s.push_non_billable is True  # "All worklogs will be pushed"
    assert s.additional_cost_line is False  # "We will not push additional cost"
    assert s.update_draft_invoices is False  # once pushed, not pushed again
    assert s.rate_source == "item_price" and s.billing_period == "month"
    assert s.account_fields == DEFAULT_ACCOUNT_FIELDS and s.covered_accounts == []


def test_every_setting_has_a_one_line_description() -> None:
    for name, info in ServiceDeskSettings.model_fields.items():
        assert info.description and "\n" not in info.description, name


def test_secrets_are_the_credentials() -> None:
    assert {"token", "client_secret", "refresh_token"} <= ServiceDeskSettings.secret_fields()
    assert "client_id" not in ServiceDeskSettings.secret_fields()


def test_text_as_typed_becomes_lists_and_tables() -> None:
    s = settings(
        worklog_modules="requests, tasks",
        covered_accounts="Acme Dental, 234759000000000001,",
        account_fields="name=Name,udf_sline_301=ContactNumber,city=Addresses.POBOX.City",
        schedule="daily at 22",
    )
    assert s.worklog_modules == ["requests", "tasks"]
    assert s.covered_accounts == ["Acme Dental", "234759000000000001"]
    assert s.account_fields["udf_sline_301"] == "ContactNumber"
    assert s.schedule.hour == 22


def test_the_auth_kind_needs_its_own_credentials() -> None:
    assert refusal(token="").startswith("Value error, token:")
    zoho = {"auth": "zoho", "token": None, "client_id": "1000.X", "client_secret": "s"}
    assert "refresh_token:" in refusal(**zoho)
    s = settings(**zoho, refresh_token="1000.r")
    assert s.auth == "zoho" and str(s.accounts_url) == "https://accounts.zoho.com/"
    assert isinstance(s.refresh_token, SecretStr)


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ("name=Name,colour=Website", "'colour' is not an MSP account field"),
        ("name=Name,phone=Telephone", "'Telephone' (for phone) is not a Xero contact field"),
        ("phone=Phones.DEFAULT", "map name"),
    ],
)
def test_a_wrong_field_mapping_says_which_row(table: str, says: str) -> None:
    assert says in refusal(account_fields=table)


def test_worklog_modules_are_checked() -> None:
    assert "requests" in refusal(worklog_modules="requests,releases")
    assert "sync_worklogs=false" in refusal(worklog_modules="")


def test_page_size_stays_within_the_api_limit() -> None:
    refusal(page_size=101)
    assert settings(page_size=100).page_size == 100


def test_modules_switch_their_streams() -> None:
    s = settings(sync_worklogs=False, disabled_streams="accounts")
    assert not s.stream_enabled("worklogs")
    assert not s.stream_enabled("accounts")
    assert s.stream_enabled("worklog_types")


def test_covered_accounts_match_by_id_or_name() -> None:
    everyone = settings()
    assert everyone.covers("1", "Anyone Ltd")
    some = settings(covered_accounts="acme dental,42")
    assert some.covers("7", "Acme Dental ")
    assert some.covers("42", "Other")
    assert not some.covers("7", "Birchwood Legal")
