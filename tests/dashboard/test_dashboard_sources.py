"""The sources pages: adding a source, its settings form, streams, switching, removing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from xerobridge.config import sources
from xerobridge.contract.plugins import Plugins
from xerobridge.store.db import Store
from xerobridge.store.models import Connection, Job, Setting, Source
from xerobridge.web.app import create_app
from xerobridge.web.dashboard import logins

from config_pages_helpers import FormSettings, plugin_info
from dashboard_helpers import PASSWORD, csrf_of

SHOP = "https://shop.example.com/"


@pytest.fixture
def web(store: Store) -> Iterator[Starlette]:
    """The web app with the form test plugin and one Xero connection to choose."""
    logins.set_password(store, PASSWORD)
    with store.transaction() as s:
        s.add(Connection(name="books", tenant_name="Books Ltd", status="connected"))
    yield create_app(store, plugins=Plugins([plugin_info()]))


@pytest.fixture
def shop(store: Store, web: Starlette) -> str:
    """A source `shop` of the test plugin with a token stored."""
    sources.add(
        store,
        web.state.plugins,
        "formtest",
        "shop",
        connection="books",
        values={"base_url": SHOP, "token": "s3cret-token-value"},
    )
    return "shop"


def stored(store: Store, name: str = "shop") -> dict[str, str]:
    with store.transaction() as s:
        return sources.stored_values(s, sources.get(s, name))


def settings_form(**changes: str | list[str]) -> dict[str, str | list[str]]:
    """What the settings form posts when nothing is touched, with `changes`."""
    form: dict[str, str | list[str]] = {
        "schedule.mode": "interval",
        "schedule.minutes": "5",
        "schedule.hour": "2",
        "notify": "errors",
        "require_approval": "false",
        "notify_secret": "",
        "base_url": SHOP,
        "token": "",
        "invoice_status": "DRAFT",
        "page_size": "100",
        "tax_map.key": ["0", "", "", ""],
        "tax_map.value": ["NONE", "", "", ""],
        "store_ids": "",
        "bank_account": "Shop Bank",
    }
    form.update(changes)
    return form


def post(browser: TestClient, path: str, page: str, data: dict[str, str | list[str]]) -> object:
    return browser.post(path, data={"csrf_token": csrf_of(browser.get(page).text), **data})


# -- the list and adding --------------------------------------------------------------------------


def test_the_list_offers_each_plugin(browser: TestClient) -> None:
    page = browser.get("/sources")
    assert page.status_code == 200
    assert "No source is configured yet." in page.text
    assert 'href="/sources?plugin=formtest#add"' in page.text
    assert "Add a Form test shop source" in page.text


def test_the_add_form_is_made_from_the_settings_model(browser: TestClient) -> None:
    page = browser.get("/sources?plugin=formtest").text
    # Choices as a select, the default chosen.
    assert '<select id="s-invoice_status" name="invoice_status">' in page
    assert '<option value="DRAFT" selected>DRAFT</option>' in page
    assert '<option value="AUTHORISED">AUTHORISED</option>' in page
    # Numbers with the model's bounds; defaults filled in; help text under each field.
    assert 'name="page_size" type="number" value="100" min="1" max="1000"' in page
    assert 'name="bank_account" value="Shop Bank"' in page
    assert "Records per page." in page
    # A required field, a URL, a secret, a table of rows, a checkbox, the schedule.
    assert 'name="base_url" type="url" value="" size="50" required' in page
    assert 'name="token" type="password"' in page
    assert 'name="tax_map.key" value="0"' in page and 'name="tax_map.value" value="NONE"' in page
    assert 'type="checkbox" id="s-require_approval" name="require_approval" value="true">' in page
    assert '<option value="interval" selected>Every N minutes</option>' in page
    assert '<option value="errors" selected>errors</option>' in page
    # Streams as boxes, all on; the connection to choose.
    assert 'name="streams" value="orders" checked' in page
    # The only connection is the one a new source syncs with, unless the person picks none.
    assert '<option value="books" selected>books (Books Ltd)</option>' in page


def test_adding_a_source_saves_what_differs_from_the_defaults(
    browser: TestClient, store: Store
) -> None:
    data = {
        "plugin": "formtest",
        "name": "shop-eu",
        "connection": "books",
        "prefix": "",
        "streams": ["customers"],
        **settings_form(
            token="tok-123",
            invoice_status="AUTHORISED",
            **{"tax_map.key": ["0", "20", ""], "tax_map.value": ["NONE", "OUTPUT2", ""]},
        ),
    }
    response = post(browser, "/sources", "/sources?plugin=formtest", data)
    assert response.status_code == 303, response.text  # type: ignore[attr-defined]
    assert response.headers["location"] == "/sources/shop-eu"  # type: ignore[attr-defined]
    assert stored(store, "shop-eu") == {
        "base_url": SHOP,
        "token": "tok-123",
        "invoice_status": "AUTHORISED",
        "tax_map": "0=NONE,20=OUTPUT2",
        "disabled_streams": "orders",
    }
    with store.transaction() as s:
        src = sources.get(s, "shop-eu")
        assert (src.plugin, src.key_prefix, src.connection_id) == ("formtest", "SHOPEU", 1)
        secret_row = s.exec(select(Setting).where(Setting.name == "token")).one()
        assert secret_row.secret and "tok-123" not in secret_row.value
    page = browser.get("/sources/shop-eu").text
    assert "Added source shop-eu (formtest), key prefix SHOPEU." in page
    assert "tok-123" not in page


def test_a_bad_value_is_shown_at_its_field_and_nothing_is_added(
    browser: TestClient, store: Store
) -> None:
    data = {
        "plugin": "formtest",
        "name": "shop",
        "connection": "books",
        "prefix": "",
        "streams": ["customers", "orders"],
        **settings_form(base_url="not a url", page_size="0", bank_account="Typed Bank"),
    }
    response = post(browser, "/sources", "/sources?plugin=formtest", data)
    assert response.status_code == 400  # type: ignore[attr-defined]
    html = response.text  # type: ignore[attr-defined]
    assert "Page size: Input should be greater than or equal to 1" in html
    assert "Base url: Input should be a valid URL" in html
    # What was typed stays in the form.
    assert 'name="bank_account" value="Typed Bank"' in html
    assert 'name="page_size" type="number" value="0"' in html
    assert 'id="add-name" name="name" value="shop"' in html
    with store.transaction() as s:
        assert sources.list_all(s) == []


ADD_MISTAKES = (
    ({"name": "Shop EU"}, "source name &#39;Shop EU&#39; must start with a letter"),
    ({"prefix": "toolongprefix"}, "key prefix &#39;TOOLONGPREFIX&#39; must be 1 to 8"),
    ({"connection": "nope"}, "no Xero connection named &#39;nope&#39;"),
    ({"name": "shop"}, "a source named &#39;shop&#39; exists already"),
)


def test_add_mistakes_are_one_line_above_the_form(
    browser: TestClient, store: Store, shop: str
) -> None:
    for changes, problem in ADD_MISTAKES:
        data = {
            "plugin": "formtest",
            "name": "other",
            "connection": "books",
            "prefix": "",
            "streams": ["customers"],
            **settings_form(),
            **changes,
        }
        response = post(browser, "/sources", "/sources?plugin=formtest", data)
        assert response.status_code == 400  # type: ignore[attr-defined]
        assert problem in response.text  # type: ignore[attr-defined]
        typed = changes.get("name", "other")
        assert f'id="add-name" name="name" value="{typed}"' in response.text  # type: ignore[attr-defined]
    with store.transaction() as s:
        assert [src.name for src in sources.list_all(s)] == ["shop"]


def test_the_list_says_each_sources_state(browser: TestClient, store: Store, shop: str) -> None:
    with store.transaction() as s:
        s.add(Source(name="old", plugin="vanished", key_prefix="OLD"))
    html = browser.get("/sources").text
    assert 'class="status-pending">pending<' in html  # never read yet
    assert 'class="status-plugin-missing">plugin missing<' in html
    sources.set_enabled(store, "shop", False)
    assert 'class="status-disabled">disabled<' in browser.get("/sources").text


def test_an_unknown_plugin_is_named(browser: TestClient) -> None:
    assert browser.get("/sources?plugin=nope").status_code == 303
    assert "no plugin named &#39;nope&#39; (installed: formtest)" in browser.get("/sources").text


# -- the settings form ----------------------------------------------------------------------------


def test_the_source_page_shows_its_state_streams_and_settings(
    browser: TestClient, shop: str
) -> None:
    page = browser.get("/sources/shop")
    assert page.status_code == 200
    html = page.text
    assert "Form test shop (formtest)" in html and "books" in html and "SHOP" in html
    assert "Orders" in html and "Invoice" in html and ">customers<" in html
    assert "Add all orders to queue" in html
    assert f'name="base_url" type="url" value="{SHOP}"' in html
    assert "s3cret-token-value" not in html  # secrets are write-only
    assert "a value is stored; leave blank to keep it" in html
    assert 'name="token.clear"' in html


def test_saving_settings_keeps_blank_secrets_and_saves_what_changed(
    browser: TestClient, store: Store, shop: str
) -> None:
    data = settings_form(
        invoice_status="AUTHORISED",
        require_approval="true",
        store_ids="1, 2",
        **{"schedule.mode": "daily", "schedule.hour": "3"},
        **{"tax_map.key": ["0", "20"], "tax_map.value": ["NONE", "OUTPUT2"]},
    )
    data["require_approval"] = ["false", "true"]  # the hidden default, then the ticked box
    response = post(browser, "/sources/shop/settings", "/sources/shop", data)
    assert response.status_code == 303, response.text  # type: ignore[attr-defined]
    values = stored(store)
    assert values["token"] == "s3cret-token-value"
    assert values["invoice_status"] == "AUTHORISED"
    assert values["schedule"] == "daily at 3"
    assert values["tax_map"] == "0=NONE,20=OUTPUT2"
    assert values["store_ids"] == "1, 2"
    assert values["require_approval"] == "true"
    assert "page_size" not in values and "bank_account" not in values  # untouched defaults
    with store.transaction() as s:
        settings = sources.load_settings(s, sources.get(s, "shop"), plugin_info().spec)  # type: ignore[arg-type]
    assert isinstance(settings, FormSettings)
    assert settings.schedule.mode == "daily" and settings.schedule.hour == 3
    assert settings.require_approval and settings.store_ids == ["1", "2"]
    page = browser.get("/sources/shop").text
    assert "Saved invoice_status, require_approval, schedule, store_ids, tax_map for shop." in page
    assert '<option value="daily" selected>' in page
    assert 'id="s-require_approval" name="require_approval" value="true" checked' in page


def test_nothing_changed_saves_nothing(browser: TestClient, store: Store, shop: str) -> None:
    before = stored(store)
    response = post(browser, "/sources/shop/settings", "/sources/shop", settings_form())
    assert response.status_code == 303  # type: ignore[attr-defined]
    assert stored(store) == before
    assert "Nothing changed." in browser.get("/sources/shop").text


def test_a_secret_is_replaced_or_removed_only_when_asked(
    browser: TestClient, store: Store, shop: str
) -> None:
    post(browser, "/sources/shop/settings", "/sources/shop", settings_form(token="new-token"))
    assert stored(store)["token"] == "new-token"
    post(browser, "/sources/shop/settings", "/sources/shop", settings_form(**{"token.clear": "1"}))
    assert stored(store)["token"] == ""
    assert "a value is stored" not in browser.get("/sources/shop").text


def test_invalid_settings_are_shown_at_their_fields_and_nothing_is_saved(
    browser: TestClient, store: Store, shop: str
) -> None:
    before = stored(store)
    data = settings_form(
        page_size="5000",
        invoice_status="PAID",
        bank_account="Typed <Bank>",
        notify_secret="short",
        **{"schedule.minutes": "0"},
        **{"tax_map.key": ["0", ""], "tax_map.value": ["NONE", "OUTPUT"]},
    )
    response = post(browser, "/sources/shop/settings", "/sources/shop", data)
    assert response.status_code == 400  # type: ignore[attr-defined]
    html = response.text  # type: ignore[attr-defined]
    assert "Page size: Input should be less than or equal to 1000" in html
    assert "Invoice status: Input should be &#39;DRAFT&#39; or &#39;AUTHORISED&#39;" in html
    assert "Notify secret: must be at least 16 characters" in html
    assert "Schedule: Input should be greater than or equal to 1" in html
    assert "Tax map: row 2 has a value (&#39;OUTPUT&#39;) but no key" in html
    assert "Nothing was saved" in html
    # The other fields keep what the person typed, escaped; the secret is not repeated.
    assert 'name="bank_account" value="Typed &lt;Bank&gt;"' in html
    assert 'name="page_size" type="number" value="5000"' in html
    assert 'name="schedule.minutes" type="number" min="1" max="1440" value="0"' in html
    assert 'value="short"' not in html
    assert stored(store) == before


def test_a_value_from_the_environment_is_pointed_out(
    browser: TestClient, shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XEROBRIDGE_SHOP_PAGE_SIZE", "50")
    html = browser.get("/sources/shop").text
    assert "XEROBRIDGE_SHOP_PAGE_SIZE is set in the environment and wins over this value." in html


# -- switching, queueing, removing ----------------------------------------------------------------


def test_a_source_is_disabled_and_enabled(browser: TestClient, store: Store, shop: str) -> None:
    off = post(browser, "/sources/shop/enabled", "/sources/shop", {"enabled": "false"})
    assert off.status_code == 303  # type: ignore[attr-defined]
    with store.transaction() as s:
        assert not sources.get(s, "shop").enabled
    html = browser.get("/sources/shop").text
    assert "Source shop is disabled: nothing is synced." in html and "Enable source" in html
    post(browser, "/sources/shop/enabled", "/sources/shop", {"enabled": "true"})
    with store.transaction() as s:
        assert sources.get(s, "shop").enabled
    post(browser, "/sources/shop/enabled", "/sources/shop", {"enabled": "maybe"})
    assert "enabled must be true or false, not &#39;maybe&#39;" in browser.get("/sources/shop").text


def test_a_source_is_bound_to_another_connection(
    browser: TestClient, store: Store, shop: str
) -> None:
    with store.transaction() as s:
        s.add(Connection(name="spare", tenant_name="Spare Ltd", status="connected"))
    assert '<option value="spare">spare</option>' in browser.get("/sources/shop").text
    post(browser, "/sources/shop/connection", "/sources/shop", {"connection": "spare"})
    with store.transaction() as s:
        bound = sources.as_dict(s, sources.get(s, "shop"), browser.app.state.plugins)
    assert bound["connection"] == "spare"
    html = browser.get("/sources/shop").text
    assert "Source shop now syncs with Xero connection spare." in html
    post(browser, "/sources/shop/connection", "/sources/shop", {"connection": "nosuch"})
    assert "no Xero connection named &#39;nosuch&#39;" in browser.get("/sources/shop").text


def test_streams_are_switched_through_disabled_streams(
    browser: TestClient, store: Store, shop: str
) -> None:
    post(browser, "/sources/shop/streams/orders/enabled", "/sources/shop", {"enabled": "false"})
    assert stored(store)["disabled_streams"] == "orders"
    assert "Stream orders of shop is switched off." in browser.get("/sources/shop").text
    post(browser, "/sources/shop/streams/customers/enabled", "/sources/shop", {"enabled": "false"})
    assert stored(store)["disabled_streams"] == "orders,customers"
    post(browser, "/sources/shop/streams/orders/enabled", "/sources/shop", {"enabled": "true"})
    assert stored(store)["disabled_streams"] == "customers"
    post(browser, "/sources/shop/streams/invoices/enabled", "/sources/shop", {"enabled": "false"})
    html = browser.get("/sources/shop").text
    assert "source type &#39;formtest&#39; has no stream &#39;invoices&#39;" in html
    assert stored(store)["disabled_streams"] == "customers"


def test_add_all_data_to_queue_queues_a_full_read(
    browser: TestClient, store: Store, shop: str
) -> None:
    done = post(browser, "/sources/shop/streams/orders/enqueue-all", "/sources/shop", {})
    assert done.status_code == 303  # type: ignore[attr-defined]
    with store.transaction() as s:
        (job,) = s.exec(select(Job)).all()
    assert (job.kind, job.stream, job.record_key, job.connection_id) == ("fetch", "orders", "*", 1)
    html = browser.get("/sources/shop").text
    assert "Queued a full read of shop orders: every record will be synced." in html
    post(browser, "/sources/shop/streams/nope/enqueue-all", "/sources/shop", {})
    assert "has no stream &#39;nope&#39;" in browser.get("/sources/shop").text


def test_add_all_data_to_queue_reads_every_stream_switched_on(
    browser: TestClient, store: Store, shop: str
) -> None:
    sources.update_settings(store, plugin_info().spec, "shop", {"disabled_streams": "customers"})  # type: ignore[arg-type]
    done = post(browser, "/sources/shop/enqueue-all", "/sources/shop", {})
    assert done.status_code == 303  # type: ignore[attr-defined]
    with store.transaction() as s:
        jobs = s.exec(select(Job)).all()
    assert [(j.kind, j.stream, j.record_key, j.payload) for j in jobs] == [
        ("fetch", "orders", "*", {"full": True})
    ]
    html = browser.get("/sources/shop").text
    assert "Queued a full read of 1 stream(s) of shop: every record will be synced." in html


def test_removing_asks_first(browser: TestClient, store: Store, shop: str) -> None:
    ask = browser.get("/sources/shop/remove")
    assert ask.status_code == 200 and "Remove source shop?" in ask.text
    assert stored(store)
    done = browser.post("/sources/shop/remove", data={"csrf_token": csrf_of(ask.text)})
    assert done.status_code == 303
    with store.transaction() as s:
        assert s.exec(select(Source)).all() == [] and s.exec(select(Setting)).all() == []
    assert "Removed source shop." in browser.get("/sources").text


def test_an_unknown_source_is_named(browser: TestClient, shop: str) -> None:
    assert browser.get("/sources/nope").status_code == 303
    assert "no source named &#39;nope&#39; (configured: shop)" in browser.get("/sources").text


def test_a_source_whose_plugin_is_gone_can_still_be_removed(
    browser: TestClient, store: Store
) -> None:
    with store.transaction() as s:
        s.add(Source(name="old", plugin="vanished", key_prefix="OLD"))
    html = browser.get("/sources/old").text
    assert "no plugin named &#39;vanished&#39;" in html
    assert 'action="/sources/old/settings"' not in html
    browser.post("/sources/old/remove", data={"csrf_token": csrf_of(html)})
    with store.transaction() as s:
        assert s.exec(select(Source)).all() == []


# -- the door -------------------------------------------------------------------------------------

FORMS = (
    "/sources",
    "/sources/shop/enqueue-all",
    "/sources/shop/settings",
    "/sources/shop/enabled",
    "/sources/shop/streams/orders/enabled",
    "/sources/shop/streams/orders/enqueue-all",
    "/sources/shop/remove",
)


def test_every_form_needs_a_login(anonymous: TestClient, store: Store, shop: str) -> None:
    assert anonymous.get("/sources/shop").headers["location"] == "/login?next=/sources/shop"
    token = csrf_of(anonymous.get("/login").text)
    for path in FORMS:
        refused = anonymous.post(path, data={"csrf_token": token, "enabled": "false"})
        assert refused.status_code == 303, path
        assert refused.headers["location"].startswith("/login?next=")
    with store.transaction() as s:
        assert sources.get(s, "shop").enabled


def test_every_form_needs_its_token(browser: TestClient, store: Store, shop: str) -> None:
    for path in FORMS:
        refused = browser.post(path, data={"csrf_token": "forged", "enabled": "false"})
        assert refused.status_code == 403, path
    with store.transaction() as s:
        assert sources.get(s, "shop").enabled
        assert s.exec(select(Job)).all() == []


def test_stored_values_show_as_text(browser: TestClient, store: Store, shop: str) -> None:
    with store.transaction() as s:
        src = sources.get(s, "shop")
        s.add(Setting(source_id=src.id, name="bank_account", value="<script>alert(1)</script>"))
    html = browser.get("/sources/shop").text
    assert "<script>alert(1)</script>" not in html
    assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in html


def test_retry_all_failed_and_saving_settings_try_failed_records_again(
    browser: TestClient, store: Store, shop: str
) -> None:
    from xerobridge.runtime.queue import NewJob, Queue

    with store.transaction() as s:
        source_id = sources.get(s, "shop").id
    assert source_id is not None

    def fail_all() -> None:
        Queue(store).enqueue(
            [NewJob(source_id=source_id, stream=st, record_key="1") for st in ("orders", "items")]
        )
        with store.transaction() as s:
            for job in s.exec(select(Job)).all():
                job.state, job.attempts = "dead", 8
                s.add(job)

    def dead() -> set[str]:
        with store.transaction() as s:
            return {j.stream for j in s.exec(select(Job).where(Job.state == "dead"))}

    fail_all()
    page = browser.get("/sources/shop").text
    assert "Retry all failed" in page and 'action="/sources/shop/streams/orders/retry"' in page
    post(browser, "/sources/shop/streams/orders/retry", "/sources/shop", {})
    assert dead() == {"items"}
    assert "1 failed record(s) of shop orders will be tried again at once." in (
        browser.get("/sources/shop").text
    )
    post(browser, "/sources/shop/retry", "/sources/shop", {})
    assert dead() == set()
    fail_all()
    post(
        browser,
        "/sources/shop/settings",
        "/sources/shop",
        settings_form(invoice_status="AUTHORISED"),
    )
    assert dead() == set()
    assert "2 failed record(s) will be tried again with them." in browser.get("/sources/shop").text
