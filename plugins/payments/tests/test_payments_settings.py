"""The settings a payments source has, their defaults, and one clear line for a bad value."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from xerobridge_payments.settings import PaymentsSettings, RefundHandling

KEY = {"client_id": "ck_123", "client_secret": "cs_456"}


def first_error(values: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        PaymentsSettings.model_validate(values)
    message = str(caught.value.errors()[0]["msg"])
    assert "\n" not in message
    return message


def test_defaults_follow_the_platform_and_its_xero_integration() -> None:
    settings = PaymentsSettings.model_validate(KEY)
    assert settings.api_url == "https://public-api.alternativepayments.io"
    assert settings.clearing_account == "Undeposited Funds"
    assert settings.payout_bank_account == ""
    assert settings.refund_handling is RefundHandling.RECORD_REFUND
    assert settings.currencies == ["USD"] and settings.requests_per_second == 5
    assert settings.webhook_secret is None and settings.notify_secret is None


def test_secrets_are_marked_and_every_setting_is_described() -> None:
    assert {"client_secret", "webhook_secret", "notify_secret"} <= PaymentsSettings.secret_fields()
    for name, info in PaymentsSettings.model_fields.items():
        assert info.description and "\n" not in info.description, name


def test_the_webhook_secret_is_the_secret_the_notify_route_checks() -> None:
    secret = "s" * 20
    settings = PaymentsSettings.model_validate({**KEY, "webhook_secret": secret})
    assert settings.notify_secret == SecretStr(secret)
    assert settings.redacted()["webhook_secret"] == "********"
    assert "same secret" in first_error(
        {**KEY, "webhook_secret": secret, "notify_secret": "t" * 20}
    )
    assert "at least 16" in first_error({**KEY, "webhook_secret": "short"})
    assert PaymentsSettings.model_validate({**KEY, "webhook_secret": " "}).webhook_secret is None


def test_text_values_parse_as_a_person_types_them() -> None:
    settings = PaymentsSettings.model_validate(
        {
            **KEY,
            "currencies": "usd, cad",
            "refund_handling": "delete_payment",
            "base_url": "https://public-api.demo.alternativepayments.io/",
        }
    )
    assert settings.currencies == ["USD", "CAD"]
    assert settings.refund_handling is RefundHandling.DELETE_PAYMENT
    assert settings.api_url == "https://public-api.demo.alternativepayments.io"


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"client_id": " ", "client_secret": "x"}, "client id"),
        ({**KEY, "currencies": "US"}, "three-letter"),
        ({**KEY, "requests_per_second": "10"}, "less than or equal to 5"),
        ({**KEY, "clearing_account": " "}, "account"),
        ({**KEY, "refund_handling": "ignore"}, "record_refund"),
        ({**KEY, "refund_account": " "}, "needs a Xero account name or code"),
        ({**KEY, "payout_bank_account": "undeposited funds"}, "another account"),
    ],
)
def test_bad_values_say_what_fits(values: dict[str, Any], says: str) -> None:
    assert says in first_error(values)


def test_client_id_and_secret_are_required() -> None:
    with pytest.raises(ValidationError) as caught:
        PaymentsSettings.model_validate({})
    assert {e["loc"][0] for e in caught.value.errors()} == {"client_id", "client_secret"}
