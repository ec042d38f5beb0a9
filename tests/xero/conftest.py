"""Fixtures for the Xero auth and connect tests: the sandbox in process and a stored connection."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from xero_auth_helpers import store_connection

from xerobridge.clock import FakeClock
from xerobridge.store import Store
from xerobridge.xero.sandbox import SandboxState, create_app
from xerobridge.xero.sandbox.testing import conformance_guard


@pytest.fixture
def app(clock: FakeClock, request: pytest.FixtureRequest) -> Iterator[Starlette]:
    """A Xero sandbox on the test's clock; non-conforming requests fail the test."""
    yield from conformance_guard(create_app(clock=clock), request)


@pytest.fixture
def sandbox(app: Starlette) -> SandboxState:
    state: SandboxState = app.state.sandbox
    return state


@pytest.fixture
def connection_id(store: Store, sandbox: SandboxState, clock: FakeClock) -> int:
    """A web-app connection to the sandbox's organisation with a fresh token set."""
    return store_connection(
        store, sandbox.issue_tokens(), tenant_id=sandbox.default_tenant_id, now=clock.now()
    )
