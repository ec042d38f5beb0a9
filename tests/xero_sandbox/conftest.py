"""Fixtures for the Xero sandbox tests: a fake clock, the app, an API client factory, the spec."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.applications import Starlette

from xerobridge.clock import FakeClock
from xerobridge.sandboxes.xero import SandboxState, create_app
from xerobridge.sandboxes.xero.testing import (
    conformance_guard,
    register_marker,
    xero_sandbox,  # noqa: F401  (the shared fixture)
)

from sandbox_helpers import Api

_HERE = Path(__file__).resolve()
# The spec lives in the project's shared folder next to the checkout (or in it, once copied).
SPEC_CANDIDATES = [
    Path(os.environ.get("XEROBRIDGE_XERO_OPENAPI", "/nonexistent")),
    _HERE.parents[2] / "shared" / "xero-openapi" / "xero_accounting.yaml",
    _HERE.parents[3] / "shared" / "xero-openapi" / "xero_accounting.yaml",
]


def pytest_configure(config: pytest.Config) -> None:
    register_marker(config)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(clock: FakeClock, request: pytest.FixtureRequest) -> Iterator[Starlette]:
    """The sandbox; the test fails if it sent a request that breaks the spec, unless marked."""
    yield from conformance_guard(create_app(clock), request)


@pytest.fixture
def sandbox(app: Starlette) -> SandboxState:
    return app.state.sandbox


@pytest.fixture
def api(app: Starlette, sandbox: SandboxState) -> Api:
    tokens = sandbox.issue_tokens()
    return Api(app, tokens["access_token"], sandbox.default_tenant_id)


@pytest.fixture(scope="session")
def spec() -> dict[str, Any]:
    """Xero's accounting spec, parsed once per session (it is 900 KB)."""
    path = next((p for p in SPEC_CANDIDATES if p.is_file()), None)
    if path is None:
        message = "xero_accounting.yaml not found (set XEROBRIDGE_XERO_OPENAPI)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI has shared/ beside the checkout: a skip would hide a break
        pytest.skip(message)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open("rb") as handle:
        return yaml.load(handle, Loader=loader)
