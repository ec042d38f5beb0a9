"""Fixtures for the Xero auth and connect tests: the sandbox in process and a stored connection."""

from __future__ import annotations

import pytest

from xerobridge.clock import FakeClock
from xerobridge.sandboxes.xero import SandboxState
from xerobridge.store.db import Store

from xero_auth_helpers import store_connection


@pytest.fixture
def connection_id(store: Store, sandbox: SandboxState, clock: FakeClock) -> int:
    """A web-app connection to the sandbox's organisation with a fresh token set."""
    return store_connection(
        store, sandbox.issue_tokens(), tenant_id=sandbox.default_tenant_id, now=clock.now()
    )
