"""Fixtures of the dashboard tests: the web app on a store, and a logged-in browser-like client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from xerobridge.contract.plugins import Plugins
from xerobridge.store.db import Store
from xerobridge.web.app import create_app
from xerobridge.web.dashboard import logins

from dashboard_helpers import PASSWORD, log_in
from dashboard_ops_helpers import ops_browser


@pytest.fixture
def web(store: Store) -> Starlette:
    """The daemon's web app, with no plugins, and the admin's password set."""
    logins.set_password(store, PASSWORD)
    return create_app(store, plugins=Plugins([]))


@pytest.fixture
def anonymous(web: Starlette) -> Iterator[TestClient]:
    """A client that keeps cookies, not logged in."""
    with TestClient(web, base_url="http://127.0.0.1:8765", follow_redirects=False) as client:
        yield client


@pytest.fixture
def browser(anonymous: TestClient) -> TestClient:
    """A client logged in as the admin."""
    log_in(anonymous)
    return anonymous


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    """Logged in (by a signed session cookie), with the operations pages' test plugin loaded."""
    yield from ops_browser(store)
