"""Settings: validation errors a person can act on, schedules, override levels, secrets at rest."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from xerobridge.cli import main as cli
from xerobridge.config import sources as source_config
from xerobridge.contract.errors import UserError
from xerobridge.contract.plugins import Plugins, load_plugins
from xerobridge.contract.settings import (
    Schedule,
    SourceSettings,
    TaxMap,
    WebUrl,
    validate_settings,
)
from xerobridge.store import encryption
from xerobridge.store import home as config
from xerobridge.store.db import Store

FIXTURES = Path(__file__).parent / "fixtures" / "plugins"
SHOP_URL = "https://shop.example.com"
TOKEN = "tok-Sup3rSecretMagentoToken-9f81"
PASSWORD = "pw-CorrectHorseBatteryStaple-77"


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> Plugins:
    """The installed magento plugin and the `good` test plugin (which has per-record fields)."""
    monkeypatch.syspath_prepend(str(FIXTURES))
    eps = list(importlib.metadata.entry_points(group="xerobridge", name="magento"))
    eps.append(importlib.metadata.EntryPoint(name="good", value="xbtest_good", group="xerobridge"))
    loaded = load_plugins(entry_points=eps)
    assert loaded.infos["magento"].status == "ok"
    assert loaded.infos["good"].status == "ok", loaded.infos["good"].error
    return loaded


def add_shop(store: Store, plugins: Plugins, **values: str) -> None:
    """Add the magento source `shop-eu` with a base URL and the given values."""
    source_config.add(store, plugins, "magento", "shop-eu", values={"base_url": SHOP_URL, **values})


def effective(
    store: Store, plugins: Plugins, name: str, *, record: tuple[str, str] | None = None
) -> SourceSettings:
    """The effective settings of a source, read as the daemon reads them."""
    with store.transaction() as s:
        source = source_config.get(s, name)
        return source_config.load_settings(s, source, plugins.spec(source.plugin), record=record)


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"base_url": SHOP_URL, "schedule": "sometimes"}, "setting schedule='sometimes'"),
        ({"base_url": SHOP_URL, "schedule": "daily at 25"}, "setting schedule='daily at 25'"),
        ({"base_url": SHOP_URL, "page_size": "abc"}, "setting page_size='abc'"),
        ({"base_url": SHOP_URL, "page_size": "0"}, "setting page_size='0'"),
        ({"base_url": SHOP_URL, "invoice_status": "PAID"}, "setting invoice_status='PAID'"),
        ({"base_url": SHOP_URL, "require_approval": "perhaps"}, "require_approval='perhaps'"),
        ({"base_url": "not a url"}, "setting base_url='not a url'"),
        ({"base_url": SHOP_URL, "colour": "blue"}, "has no setting 'colour'"),
        ({"page_size": "10"}, "setting 'base_url' is required"),
        ({"base_url": SHOP_URL, "disabled_streams": "orders,refunds"}, "'refunds'"),
    ],
)
def test_bad_input_names_the_field_and_the_value(
    store: Store, plugins: Plugins, values: dict[str, str], expected: str
) -> None:
    """A bad value is refused with a UserError naming the field and the value, and nothing saved."""
    with pytest.raises(UserError) as caught:
        source_config.add(store, plugins, "magento", "shop-eu", values=values)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    with store.transaction() as s:
        assert source_config.list_all(s) == []


def test_a_malformed_table_names_the_field(store: Store, plugins: Plugins) -> None:
    """A table setting typed without '=' names the field and the part that is wrong."""
    with pytest.raises(UserError) as caught:
        add_shop(store, plugins, tax_map="10=OUTPUT,oops")
    message = str(caught.value)
    assert "tax_map" in message
    assert "'oops'" in message
    assert "?" not in message


def test_a_bad_change_saves_nothing(store: Store, plugins: Plugins) -> None:
    """Changes are validated together: one bad value means none of them is saved."""
    add_shop(store, plugins, page_size="50")
    spec = plugins.spec("magento")
    with pytest.raises(UserError, match="invoice_status='PAID'"):
        source_config.update_settings(
            store, spec, "shop-eu", {"page_size": "70", "invoice_status": "PAID"}
        )
    assert effective(store, plugins, "shop-eu").page_size == 50
    settings = source_config.update_settings(store, spec, "shop-eu", {"page_size": "70"})
    assert settings.page_size == 70
    assert effective(store, plugins, "shop-eu").page_size == 70


def test_defaults_fill_what_is_not_set(store: Store, plugins: Plugins) -> None:
    """A source gets the model's defaults, including the seed's five-minute schedule."""
    add_shop(store, plugins)
    settings = effective(store, plugins, "shop-eu")
    assert settings.schedule == Schedule(mode="interval", minutes=5)
    assert settings.notify == "errors"
    assert settings.require_approval is False
    assert settings.page_size == 100
    assert settings.stream_enabled("orders")


# -- schedules ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("immediate", Schedule(mode="immediate")),
        ("every 5 minutes", Schedule(mode="interval", minutes=5)),
        ("Every 1 minute", Schedule(mode="interval", minutes=1)),
        ("15m", Schedule(mode="interval", minutes=15)),
        ("30 min", Schedule(mode="interval", minutes=30)),
        ("daily at 03", Schedule(mode="daily", hour=3)),
        ("daily at 23:00", Schedule(mode="daily", hour=23)),
        ("daily", Schedule(mode="daily", hour=2)),
    ],
)
def test_schedule_parses_what_people_type(text: str, expected: Schedule) -> None:
    """Schedules parse from the forms a person types."""
    assert Schedule.model_validate(text) == expected


@pytest.mark.parametrize(
    "text", ["sometimes", "every 0 minutes", "every 1441 minutes", "daily at 24", "hourly", ""]
)
def test_schedule_refuses_the_rest(text: str) -> None:
    """Anything else is refused rather than guessed."""
    with pytest.raises(ValidationError):
        Schedule.model_validate(text)


schedules = st.one_of(
    st.just(Schedule(mode="immediate")),
    st.builds(lambda m: Schedule(mode="interval", minutes=m), st.integers(1, 1440)),
    st.builds(lambda h: Schedule(mode="daily", hour=h), st.integers(0, 23)),
)


@given(schedules)
def test_schedule_round_trips_through_text(schedule: Schedule) -> None:
    """A schedule shown as text parses back to the same schedule (settings are stored as text)."""
    assert Schedule.model_validate(str(schedule)) == schedule
    settings = validate_settings(SourceSettings, {"schedule": str(schedule)}, source="s")
    assert settings.schedule == schedule
    assert settings.redacted()["schedule"] == str(schedule)


@given(st.text(max_size=30))
def test_any_schedule_text_is_accepted_or_refused_by_name(text: str) -> None:
    """Whatever is typed as a schedule gives a schedule or a UserError naming the field."""
    try:
        settings = validate_settings(SourceSettings, {"schedule": text}, source="s")
    except UserError as exc:
        assert "schedule=" in str(exc)
    else:
        assert settings.schedule.mode in ("immediate", "interval", "daily")


# -- levels: source, record, environment ----------------------------------------------------------


def test_per_record_override_for_declared_fields(store: Store, plugins: Plugins) -> None:
    """A field in per_record_fields can be set for one record; other records keep the source's."""
    source_config.add(store, plugins, "good", "mkt", values={"region": "au"})
    spec = plugins.spec("good")
    source_config.update_settings(
        store, spec, "mkt", {"auto_sync": "false"}, record=("customers", "42")
    )
    assert effective(store, plugins, "mkt", record=("customers", "42")).auto_sync is False
    assert effective(store, plugins, "mkt", record=("customers", "43")).auto_sync is True
    assert effective(store, plugins, "mkt").auto_sync is True
    # The record still sees the source's other values.
    assert effective(store, plugins, "mkt", record=("customers", "42")).region == "au"


def test_per_record_override_refused_for_other_fields(store: Store, plugins: Plugins) -> None:
    """Fields not in per_record_fields cannot be set per record; the error lists those that can."""
    source_config.add(store, plugins, "good", "mkt")
    with pytest.raises(UserError, match=r"'region' cannot be set per record.*auto_sync"):
        source_config.update_settings(
            store, plugins.spec("good"), "mkt", {"region": "us"}, record=("customers", "42")
        )
    add_shop(store, plugins)
    with pytest.raises(UserError, match="per-record settings: none"):
        source_config.update_settings(
            store, plugins.spec("magento"), "shop-eu", {"page_size": "5"}, record=("orders", "1")
        )
    with pytest.raises(UserError, match="has no stream 'customer'; it has: customers, orders"):
        source_config.update_settings(
            store, plugins.spec("good"), "mkt", {"auto_sync": "false"}, record=("customer", "1")
        )
    with pytest.raises(UserError, match="auto_sync='maybe'"):
        source_config.update_settings(
            store, plugins.spec("good"), "mkt", {"auto_sync": "maybe"}, record=("customers", "1")
        )


def test_environment_overrides_stored_values(
    store: Store, plugins: Plugins, monkeypatch: pytest.MonkeyPatch
) -> None:
    """XEROBRIDGE_<SOURCE>_<FIELD> wins over the stored source and per-record values."""
    add_shop(store, plugins, page_size="50")
    monkeypatch.setenv("XEROBRIDGE_SHOP_EU_PAGE_SIZE", "300")
    assert effective(store, plugins, "shop-eu").page_size == 300
    source_config.add(store, plugins, "good", "mkt")
    source_config.update_settings(
        store, plugins.spec("good"), "mkt", {"auto_sync": "true"}, record=("customers", "42")
    )
    monkeypatch.setenv("XEROBRIDGE_MKT_AUTO_SYNC", "false")
    assert effective(store, plugins, "mkt", record=("customers", "42")).auto_sync is False
    monkeypatch.setenv("XEROBRIDGE_SHOP_EU_PAGE_SIZE", "lots")
    with pytest.raises(UserError, match="page_size='lots'"):
        effective(store, plugins, "shop-eu")


# -- secrets --------------------------------------------------------------------------------------


def stored_bytes(store: Store) -> bytes:
    """Everything the database holds about settings, as raw bytes."""
    if store.is_sqlite:
        path = Path(make_url(store.url).database or "")
        files = [path, path.with_name(path.name + "-wal")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT name, value FROM setting")).all()
    return "\n".join(f"{name}={value}" for name, value in rows).encode()


def test_secrets_are_encrypted_at_rest(store: Store, plugins: Plugins) -> None:
    """A secret setting never reaches the database in plain text; other settings do."""
    add_shop(store, plugins, token=TOKEN, username="admin-visible-user")
    spec = plugins.spec("magento")
    source_config.update_settings(store, spec, "shop-eu", {"password": PASSWORD})
    raw = stored_bytes(store)
    assert b"admin-visible-user" in raw  # the bytes read are the ones the settings live in
    assert TOKEN.encode() not in raw
    assert PASSWORD.encode() not in raw
    assert b"Sup3rSecret" not in raw
    settings = effective(store, plugins, "shop-eu")
    assert settings.token.get_secret_value() == TOKEN
    assert settings.password.get_secret_value() == PASSWORD


def test_a_refused_secret_is_not_repeated_in_the_error(
    store: Store, plugins: Plugins, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A secret that fails validation is named but its value is not shown in the error."""
    with pytest.raises(UserError) as caught:
        source_config.add(store, plugins, "good", "mkt", values={"pin": "short-pin"})
    assert "pin" in str(caught.value)
    assert "short-pin" not in str(caught.value)
    source_config.add(store, plugins, "good", "mkt")
    monkeypatch.setenv("XEROBRIDGE_MKT_PIN", "env-pin")
    with pytest.raises(UserError) as caught:
        effective(store, plugins, "mkt")
    assert "env-pin" not in str(caught.value)


def run(*args: str) -> str:
    """Run a CLI command in process and return its output."""
    result = CliRunner().invoke(cli.app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_settings_show_redacts_secrets(
    store: Store, plugins: Plugins, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`settings show` (table and JSON) shows a secret as set, never its value."""
    monkeypatch.setenv("XEROBRIDGE_DATABASE_URL", store_url)
    monkeypatch.setenv("COLUMNS", "200")
    add_shop(store, plugins, token=TOKEN, page_size="25")
    shown = json.loads(run("settings", "show", "shop-eu", "--json"))
    assert shown["token"] == "********"
    assert shown["password"] == ""
    assert shown["page_size"] == "25"
    assert shown["base_url"].startswith(SHOP_URL)
    table = run("settings", "show", "shop-eu")
    assert "********" in table
    assert "page_size" in table
    for output in (table, json.dumps(shown)):
        assert TOKEN not in output
        assert "Sup3rSecret" not in output


def test_key_file_is_created_private(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without XEROBRIDGE_SECRET_KEY a key file is created with mode 0600 and then reused."""
    old = os.umask(0)
    try:
        token = encryption.encrypt("hello")
    finally:
        os.umask(old)
    key_file = config.home() / encryption.KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert token != "hello"
    assert encryption.decrypt(token) == "hello"
    assert Fernet(key_file.read_bytes().strip()).decrypt(token.encode()) == b"hello"


def test_wrong_secret_key_gives_a_clear_error(
    store: Store, plugins: Plugins, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A secret saved under one key and read under another gives a UserError saying so."""
    monkeypatch.setenv("XEROBRIDGE_SECRET_KEY", Fernet.generate_key().decode())
    add_shop(store, plugins, token=TOKEN)
    monkeypatch.setenv("XEROBRIDGE_SECRET_KEY", Fernet.generate_key().decode())
    with pytest.raises(UserError, match="cannot be decrypted with this secret key"):
        effective(store, plugins, "shop-eu")
    monkeypatch.setenv("XEROBRIDGE_SECRET_KEY", "not-a-fernet-key")
    with pytest.raises(UserError, match="XEROBRIDGE_SECRET_KEY is not a valid Fernet key"):
        effective(store, plugins, "shop-eu")


class _Shop(SourceSettings):
    tax_map: TaxMap = {}
    admin_url: WebUrl = ""


@pytest.mark.parametrize(
    ("values", "said"),
    [
        ({"tax_map": "nan=OUTPUT"}, "tax percent 'nan' must be a number from 0 to 100"),
        ({"tax_map": "inf=OUTPUT"}, "tax percent 'inf' must be a number from 0 to 100"),
        ({"tax_map": "150=OUTPUT"}, "tax percent '150' must be a number from 0 to 100"),
        ({"tax_map": "ten=OUTPUT"}, "tax percent 'ten' is not a number"),
        ({"admin_url": "javascript:alert(1)"}, "must be an http:// or https:// address"),
        ({"admin_url": "ftp://shop.example.com"}, "must be an http:// or https:// address"),
    ],
)
def test_tax_maps_and_links_refuse_what_cannot_be_right(values: dict[str, str], said: str) -> None:
    with pytest.raises(UserError, match=re.escape(said)):
        validate_settings(_Shop, values, source="shop")


def test_tax_maps_and_links_take_what_can() -> None:
    settings = validate_settings(
        _Shop, {"tax_map": "0=NONE,17.5=OUTPUT", "admin_url": " https://shop.example.com/a "},
        source="shop",
    )  # fmt: skip
    assert isinstance(settings, _Shop)
    assert settings.tax_map == {"0": "NONE", "17.5": "OUTPUT"}
    assert settings.admin_url == "https://shop.example.com/a"
    empty = validate_settings(_Shop, {"admin_url": ""}, source="shop")
    assert isinstance(empty, _Shop) and empty.admin_url == ""
