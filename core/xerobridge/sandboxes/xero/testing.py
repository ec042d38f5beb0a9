"""Pytest support: a Xero sandbox that fails the test if the client broke the official spec.

The sandbox records every Accounting API request that does not conform to xero_accounting.yaml
(`SandboxState.violations`). The `xero_sandbox` fixture yields a sandbox app and, at teardown,
fails the test if any were recorded, so a client test cannot pass while sending Xero requests
the spec does not allow. In a test module or conftest:

    from xerobridge.sandboxes.xero.testing import xero_sandbox  # noqa: F401  (the fixture)

    def test_client(xero_sandbox):
        transport = httpx.ASGITransport(app=xero_sandbox)
        ...

A test that sends bad requests on purpose marks it: `@pytest.mark.xero_violations`, or calls
`expect_violations(app)`; it can still assert on `app.state.sandbox.violations`. The marker has
to be registered (pytest runs with --strict-markers): call `register_marker(config)` from the
conftest's `pytest_configure`. The fixture uses the test's `clock` fixture when there is one
(a FakeClock), else a new FakeClock. This module needs pytest (a test dependency).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest
from starlette.applications import Starlette

from xerobridge.clock import Clock, FakeClock
from xerobridge.sandboxes.xero.app import create_app
from xerobridge.sandboxes.xero.state import SandboxState
from xerobridge.sandboxes.xero.validation import Violation

MARKER = "xero_violations"
MARKER_HELP = f"{MARKER}: the test sends requests that break Xero's spec on purpose"
_EXPECTED = "_xerobridge_violations_expected"


def register_marker(config: pytest.Config) -> None:
    """Register the `xero_violations` marker (call from `pytest_configure`)."""
    config.addinivalue_line("markers", MARKER_HELP)


def _state(target: Starlette | SandboxState) -> SandboxState:
    return target if isinstance(target, SandboxState) else target.state.sandbox


def expect_violations(target: Starlette | SandboxState) -> None:
    """Say that this sandbox will receive non-conforming requests on purpose."""
    setattr(_state(target), _EXPECTED, True)


def violations_report(violations: list[Violation]) -> str:
    lines = [f"the client sent {len(violations)} request(s) that break Xero's OpenAPI spec:"]
    lines.extend(f"  - {v}" for v in violations)
    return "\n".join(lines)


def assert_conforming(target: Starlette | SandboxState) -> None:
    """Raise AssertionError listing every non-conforming request the sandbox received."""
    violations = _state(target).violations
    if violations:
        raise AssertionError(violations_report(violations))


def conformance_guard(
    app: Starlette, request: pytest.FixtureRequest | None = None
) -> Iterator[Starlette]:
    """Yield the app, then fail the test if it received a non-conforming request (unless the
    test carries the marker or called `expect_violations`). For use in fixtures:

        @pytest.fixture
        def my_sandbox(request):
            yield from conformance_guard(create_app(FakeClock(), daily_limit=100), request)
    """
    yield app
    state = _state(app)
    marked = request is not None and request.node.get_closest_marker(MARKER) is not None
    if marked or getattr(state, _EXPECTED, False) or not state.violations:
        return
    pytest.fail(violations_report(state.violations), pytrace=False)


def sandbox_fixture(name: str | None = None, **create_kwargs: Any) -> Any:
    """A fixture factory: `my_sandbox = sandbox_fixture("my_sandbox", daily_limit=100)` in a
    conftest gives a conformance-checked sandbox built with those `create_app` arguments."""

    @pytest.fixture(name=name)
    def fixture(request: pytest.FixtureRequest) -> Iterator[Starlette]:
        yield from conformance_guard(create_app(_clock(request), **create_kwargs), request)

    return fixture


def _clock(request: pytest.FixtureRequest) -> Clock:
    try:
        return request.getfixturevalue("clock")
    except pytest.FixtureLookupError:
        return FakeClock()


xero_sandbox = sandbox_fixture("xero_sandbox")
xero_sandbox.__doc__ = "A Xero sandbox app whose teardown fails on non-conforming requests."


@contextmanager
def served(*args: str) -> Iterator[dict[str, Any]]:
    """`xerobridge sandbox xero --port 0 ARGS` in a process of its own, for tests that run
    several processes: yields the JSON line it prints (URLs, credentials); stopped at the end.
    Its organisation is an AU one, as the in-process sandbox's is, unless ARGS say --region."""
    from xerobridge.testkit.processes import served as served_sandbox

    region = () if "--region" in args else ("--region", "AU")
    with served_sandbox("xero", *region, *args) as line:
        yield line


def connect_served(store: Any, sandbox: Mapping[str, Any], name: str = "org") -> None:
    """Connect a store to a served sandbox's organisation (`served()`'s line) as the custom
    connection `name`, for tests whose workers run in processes of their own."""
    import asyncio

    import httpx

    from xerobridge.xero.connect import connect_client_credentials

    async def connect() -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            await connect_client_credentials(
                store, name=name, client_id=sandbox["client_id"],
                client_secret=sandbox["client_secret"], api_url=sandbox["api_url"],
                identity_url=sandbox["identity_url"], http=http,
            )  # fmt: skip

    asyncio.run(connect())
