"""MarketplaceSettings: every choice of the marketplace's Xero integration, with one-line
refusals, secrets kept secret and auto-sync overridable per customer."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from xerobridge_marketplace.settings import MarketplaceSettings

CONNECTION = {
    "base_url": "https://simpleapiprod.azure-api.net/marketplace",
    "username": "api-reseller",
    "password": "s3cret",
    "marketplace": "UK",
    "subscription_key": "key-123",
}


def settings(**values: Any) -> MarketplaceSettings:
    return MarketplaceSettings.model_validate({**CONNECTION, **values})


def test_defaults_follow_the_marketplace_integration() -> None:
    s = settings()
    assert (s.prices_from, s.descriptions_from, s.invoice_number_from) == (
        "marketplace",
        "marketplace",
        "marketplace",
    )
    assert s.trim_descriptions is False
    assert s.invoice_mode == "new"
    assert s.refunds == "credit_notes"
    assert s.allow_shared_items is False
    assert s.match_customers == "name_or_email"
    assert s.require_approval is False  # create and process sync tasks automatically
    assert str(s.schedule) == "every 5 minutes"
    assert s.notify.value == "errors"
    assert s.auto_sync is False  # switched on customer by customer


def test_every_choice_parses_from_text_as_a_person_types_it() -> None:
    s = settings(
        prices_from="xero",
        descriptions_from="xero",
        trim_descriptions="true",
        invoice_number_from="xero",
        invoice_mode="existing",
        refunds="quantity_only",
        allow_shared_items="yes",
        match_customers="email",
        require_approval="true",
        schedule="daily at 04",
        notify="all",
        auto_sync="true",
    )
    assert s.trim_descriptions and s.allow_shared_items and s.auto_sync and s.require_approval
    assert (s.invoice_mode, s.refunds, s.match_customers) == ("existing", "quantity_only", "email")
    assert str(s.schedule) == "daily at 04:00"
    assert s.notify.value == "all"


def test_password_and_subscription_key_are_secrets() -> None:
    s = settings()
    assert {"password", "subscription_key"} <= MarketplaceSettings.secret_fields()
    shown = s.redacted()
    assert shown["password"] == shown["subscription_key"] == "********"
    assert "s3cret" not in repr(s) and "key-123" not in repr(s)


def test_only_auto_sync_can_be_set_per_customer() -> None:
    assert MarketplaceSettings.per_record_fields == frozenset({"auto_sync"})


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("invoice_mode", "latest", "'new' or 'existing'"),
        ("refunds", "credit", "'credit_notes' or 'quantity_only'"),
        ("prices_from", "erp", "'marketplace' or 'xero'"),
        ("marketplace", "U K", "marketplace code"),
        ("schedule", "immediate", "cannot notify"),
        ("page_size", "500", "less than or equal to 100"),
        ("subscription_key", "  ", "must not be blank"),
    ],
)
def test_a_bad_value_is_refused_in_one_line(field: str, value: str, says: str) -> None:
    with pytest.raises(ValidationError) as caught:
        settings(**{field: value})
    errors = caught.value.errors()
    assert len(errors) == 1 and errors[0]["loc"] == (field,)
    assert says in errors[0]["msg"]


def test_connection_fields_are_required() -> None:
    with pytest.raises(ValidationError) as caught:
        MarketplaceSettings.model_validate({})
    missing = {e["loc"][0] for e in caught.value.errors() if e["type"] == "missing"}
    assert missing == {"base_url", "username", "password", "marketplace", "subscription_key"}
