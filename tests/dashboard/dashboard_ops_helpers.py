"""Helpers of the operations pages' tests: a small source plugin, and a store with a source on a
connection, so that the queue, log, action and mapping pages have real rows to show."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

from starlette.applications import Starlette
from starlette.testclient import TestClient

from xerobridge import hookimpl
from xerobridge.clock import FakeClock
from xerobridge.config import sources
from xerobridge.contract.plugins import Plugins, register_module
from xerobridge.contract.settings import SourceSettings
from xerobridge.contract.types import SourceSpec, StreamSpec
from xerobridge.store.db import Store
from xerobridge.store.models import Connection, Login
from xerobridge.web.app import create_app
from xerobridge.web.dashboard import logins, session_registry, sessions
from xerobridge.web.dashboard.passwords import hash_password

from dashboard_helpers import PASSWORD, csrf_of

#: What a hostile source could name a record or a customer.
HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


class OpsSettings(SourceSettings):
    """Only the core's settings, and one of its own."""

    region: str = "uk"


@hookimpl
def source_spec() -> SourceSpec:
    """Customers become contacts, products items, orders invoices."""
    return SourceSpec(
        name="opstest",
        title="Operations test source",
        streams=(
            StreamSpec("customers", "Contact"),
            StreamSpec("products", "Item"),
            StreamSpec("orders", "Invoice", depends_on=("customers",)),
        ),
        settings=OpsSettings,
    )


def ops_plugins() -> Plugins:
    """This module as the only plugin."""
    import dashboard_ops_helpers

    info = register_module(dashboard_ops_helpers, "opstest")
    assert info.status == "ok", info.error
    return Plugins([info])


def add_source(
    store: Store, plugins: Plugins, name: str = "shop", **values: Any
) -> tuple[int, int]:
    """A connected organisation and a source of the test plugin on it: (connection, source) ids."""
    with store.transaction() as s:
        conn = Connection(
            name=f"org-{name}", status="connected", short_code="!ab12C", tenant_id=f"t-{name}"
        )
        s.add(conn)
        s.flush()
        assert conn.id is not None
        connection = conn.name
    src = sources.add(
        store,
        plugins,
        "opstest",
        name,
        connection=connection,
        values={k: str(v) for k, v in values.items()},
    )
    assert src.id is not None and src.connection_id is not None
    return src.connection_id, src.id


@cache
def _admin_hash() -> str:
    # scrypt is slow on purpose; these tests need its answer once, not once per test.
    return hash_password(PASSWORD)


def ops_app(store: Store) -> Starlette:
    """The web app with the test plugin, and the admin's password set."""
    with store.transaction() as s:
        s.add(
            Login(username=logins.ADMIN, password_hash=_admin_hash(), updated_at=store.clock.now())
        )
    return create_app(store, plugins=ops_plugins())


def ops_browser(store: Store) -> Iterator[TestClient]:
    """A client of `ops_app` holding a logged-in session cookie (the login form itself is
    tested in test_dashboard_login; logging in through it costs a slow hash per test)."""
    with TestClient(
        ops_app(store), base_url="http://127.0.0.1:8765", follow_redirects=False
    ) as client:
        session = sessions.Session()
        sid = session_registry.start(store, logins.ADMIN, address="testclient", agent="tests")
        session.log_in(logins.ADMIN, 0, store.clock.now(), sid)
        client.cookies.set(sessions.COOKIE, sessions.encode(session))
        yield client


def post_form(client: TestClient, page: str, action: str, data: dict[str, Any]) -> Any:
    """Post a form of `page` to `action` with the page's CSRF token, as the browser would."""
    token = csrf_of(client.get(page).text)
    return client.post(action, data={**data, "csrf_token": token})


def refusals(client: TestClient, action: str, data: dict[str, Any]) -> None:
    """A form is refused without the CSRF token and without a login."""
    no_token = client.post(action, data=data)
    assert no_token.status_code == 403
    assert "security token" in no_token.text
    with TestClient(client.app, base_url="http://127.0.0.1:8765", follow_redirects=False) as anon:
        page = anon.get("/login")
        response = anon.post(action, data={**data, "csrf_token": csrf_of(page.text)})
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")


def pass_time(client: TestClient, clock: FakeClock, seconds: float) -> None:
    """Let time pass with the person using the dashboard (an idle session would end)."""
    step = 20 * 60.0
    while seconds > 0:
        clock.advance(min(step, seconds))
        seconds -= step
        client.get("/")
