"""Faults on demand and Idempotency-Key memory, the two halves of exactly-once testing."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from xerobridge.clock import FakeClock
from xerobridge.sandboxes.xero import FaultKind, SandboxConnectionReset, SandboxState, create_app

from sandbox_helpers import API, Api, invoice, run


async def _put_invoice(api: Api, key: str | None = None, **fields: Any) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    async with api.client() as client:
        return await client.put(
            f"{API}/Invoices",
            params={"summarizeErrors": "false"},
            json={"Invoices": [invoice(**fields)]},
            headers=headers,
        )


@pytest.mark.parametrize(
    ("kind", "problem", "retry_after"),
    [
        (FaultKind.RATE_MINUTE, "minute", "60"),
        (FaultKind.RATE_DAY, "day", "60"),
        (FaultKind.RATE_CONCURRENT, "concurrent", None),
        (FaultKind.RATE_APP_MINUTE, "appminute", "60"),
    ],
)
def test_injected_429s(
    api: Api, sandbox: SandboxState, kind: FaultKind, problem: str, retry_after: str | None
) -> None:
    sandbox.faults.add(kind, times=1)

    async def go() -> None:
        async with api.client() as client:
            refused = await client.get(f"{API}/Contacts")
            assert refused.status_code == 429
            assert refused.headers["X-Rate-Limit-Problem"] == problem
            assert refused.headers.get("Retry-After") == retry_after
            assert "X-DayLimit-Remaining" in refused.headers
            assert (await client.get(f"{API}/Contacts")).status_code == 200

    run(go())
    assert sandbox.stats()["throttled"] == {problem: 1}


@pytest.mark.parametrize(
    ("kind", "status"), [(FaultKind.ERROR_500, 500), (FaultKind.ERROR_503, 503)]
)
def test_server_errors_do_not_write(
    api: Api, sandbox: SandboxState, kind: FaultKind, status: int
) -> None:
    sandbox.faults.add(kind, times=1, methods="write")
    response = run(_put_invoice(api))
    assert response.status_code == status
    assert sandbox.counts()["Invoices"] == 0


def test_connection_reset_is_a_transport_error(api: Api, sandbox: SandboxState) -> None:
    sandbox.faults.add(FaultKind.RESET, times=1)
    with pytest.raises(httpx.TransportError) as raised:
        run(_put_invoice(api))
    assert isinstance(raised.value, SandboxConnectionReset)
    assert sandbox.counts()["Invoices"] == 0


def test_lost_response_applies_the_write_and_key_replays_it(
    api: Api, sandbox: SandboxState
) -> None:
    sandbox.faults.add(FaultKind.LOST_RESPONSE, times=1, methods=["PUT"], path_contains="Invoices")
    with pytest.raises(httpx.TransportError):
        run(_put_invoice(api, key="batch-1", InvoiceNumber="MAG-1"))
    assert sandbox.counts()["Invoices"] == 1
    retry = run(_put_invoice(api, key="batch-1", InvoiceNumber="MAG-1"))
    assert retry.status_code == 200
    assert retry.json()["Invoices"][0]["InvoiceNumber"] == "MAG-1"
    assert sandbox.counts()["Invoices"] == 1
    replayed = [e for e in sandbox.log.entries if e.replayed]
    assert len(replayed) == 1 and sandbox.log.entries[0].fault == "lost-response"
    # Without the key, the natural key still refuses a second copy.
    again = run(_put_invoice(api, InvoiceNumber="MAG-1"))
    assert again.json()["Invoices"][0]["StatusAttributeString"] == "ERROR"


def test_slow_fault_moves_the_sandbox_clock(
    api: Api, sandbox: SandboxState, clock: FakeClock
) -> None:
    sandbox.faults.add(FaultKind.SLOW, times=1, seconds=45)
    before = clock.now()
    assert run(_put_invoice(api)).status_code == 200
    assert (clock.now() - before).total_seconds() == 45


def test_probabilistic_faults_are_deterministic_by_seed(clock: FakeClock) -> None:
    def pattern(seed: int) -> list[int]:
        app = create_app(clock, seed=seed, limits=False)
        sandbox: SandboxState = app.state.sandbox
        sandbox.faults.add(FaultKind.ERROR_503, probability=0.3)
        api = Api(app, sandbox.issue_tokens()["access_token"], sandbox.default_tenant_id)

        async def go() -> list[int]:
            async with api.client() as client:
                return [(await client.get(f"{API}/Organisation")).status_code for _ in range(40)]

        return run(go())

    first = pattern(7)
    assert first == pattern(7)
    assert 503 in first and 200 in first


def test_idempotency_key_replays_within_six_minutes(
    api: Api, sandbox: SandboxState, clock: FakeClock
) -> None:
    first = run(_put_invoice(api, key="k1"))
    second = run(_put_invoice(api, key="k1"))
    assert second.json() == first.json()
    assert sandbox.counts()["Invoices"] == 1
    clock.advance(6 * 60 + 1)
    third = run(_put_invoice(api, key="k1"))
    assert third.json()["Invoices"][0]["InvoiceID"] != first.json()["Invoices"][0]["InvoiceID"]
    assert sandbox.counts()["Invoices"] == 2


def test_idempotency_key_with_different_body_is_refused(api: Api, sandbox: SandboxState) -> None:
    assert run(_put_invoice(api, key="k2", Reference="a")).status_code == 200
    conflict = run(_put_invoice(api, key="k2", Reference="b"))
    assert conflict.status_code == 400
    assert sandbox.counts()["Invoices"] == 1


def test_idempotency_key_too_long(api: Api, sandbox: SandboxState) -> None:
    assert run(_put_invoice(api, key="k" * 129)).status_code == 400
    assert run(_put_invoice(api, key="k" * 128)).status_code == 200
    assert sandbox.counts()["Invoices"] == 1


def test_concurrent_repeat_waits_for_the_first(api: Api, sandbox: SandboxState) -> None:
    async def go() -> list[httpx.Response]:
        sandbox.hold()
        first = asyncio.create_task(_put_invoice(api, key="k3"))
        while sandbox.held < 1:
            await asyncio.sleep(0)
        second = asyncio.create_task(_put_invoice(api, key="k3"))
        while sandbox.held < 2:
            await asyncio.sleep(0)
        sandbox.release()
        return list(await asyncio.gather(first, second))

    first, second = run(go())
    assert first.json() == second.json()
    assert sandbox.counts()["Invoices"] == 1


def test_throttled_call_is_not_remembered(api: Api, sandbox: SandboxState) -> None:
    sandbox.faults.add(FaultKind.RATE_MINUTE, times=1)
    assert run(_put_invoice(api, key="k4")).status_code == 429
    assert run(_put_invoice(api, key="k4")).status_code == 200
    assert sandbox.counts()["Invoices"] == 1
