"""Rate limits: each 429 kind with its headers, and the sandbox's own traffic counts."""

from __future__ import annotations

import asyncio

import httpx

from xerobridge.clock import FakeClock
from xerobridge.sandboxes.xero import SandboxState, create_app

from sandbox_helpers import API, Api, run


async def _burst(client: httpx.AsyncClient, n: int) -> list[httpx.Response]:
    return [await client.get(f"{API}/Organisation") for _ in range(n)]


def test_headers_on_every_response(api: Api) -> None:
    async def go() -> None:
        async with api.client() as client:
            first, second = await _burst(client, 2)
        assert first.headers["X-MinLimit-Remaining"] == "59"
        assert second.headers["X-MinLimit-Remaining"] == "58"
        assert second.headers["X-DayLimit-Remaining"] == "4998"
        assert second.headers["X-AppMinLimit-Remaining"] == "9998"

    run(go())


def test_minute_limit(api: Api, sandbox: SandboxState, clock: FakeClock) -> None:
    async def go() -> None:
        async with api.client() as client:
            responses = await _burst(client, 61)
            assert {r.status_code for r in responses[:60]} == {200}
            refused = responses[60]
            assert refused.status_code == 429
            assert refused.headers["X-Rate-Limit-Problem"] == "minute"
            assert refused.headers["Retry-After"] == "60"
            assert refused.headers["X-MinLimit-Remaining"] == "0"
            clock.advance(30)
            assert (await client.get(f"{API}/Organisation")).headers["Retry-After"] == "30"
            clock.advance(30)
            assert (await client.get(f"{API}/Organisation")).status_code == 200

    run(go())
    stats = sandbox.stats()
    assert stats["calls"] == 61 and stats["peak_minute"] == 60
    assert stats["throttled"] == {"minute": 2}
    assert sandbox.log.count(status=429) == 2


def test_daily_limit(clock: FakeClock) -> None:
    app = create_app(clock, daily_limit=3)
    sandbox: SandboxState = app.state.sandbox
    api = Api(app, sandbox.issue_tokens()["access_token"], sandbox.default_tenant_id)

    async def go() -> None:
        async with api.client() as client:
            responses = await _burst(client, 4)
            refused = responses[3]
            assert refused.status_code == 429
            assert refused.headers["X-Rate-Limit-Problem"] == "day"
            assert refused.headers["X-DayLimit-Remaining"] == "0"
            assert int(refused.headers["Retry-After"]) == 86_400
            # The minute budget is untouched by the refused call.
            assert refused.headers["X-MinLimit-Remaining"] == "57"
            clock.advance(86_400)
        fresh = sandbox.issue_tokens()["access_token"]  # the old one expired meanwhile
        async with api.client(token=fresh) as client:
            assert (await client.get(f"{API}/Organisation")).status_code == 200

    run(go())


def test_concurrent_limit(api: Api, sandbox: SandboxState) -> None:
    async def go() -> None:
        async with api.client() as client:
            sandbox.hold()
            tasks = [asyncio.create_task(client.get(f"{API}/Organisation")) for _ in range(5)]
            while sandbox.held < 5:
                await asyncio.sleep(0)
            sixth = await client.get(f"{API}/Organisation")
            sandbox.release()
            done = await asyncio.gather(*tasks)
        assert {r.status_code for r in done} == {200}
        assert sixth.status_code == 429
        assert sixth.headers["X-Rate-Limit-Problem"] == "concurrent"
        # Xero documents Retry-After for the minute and daily limits only.
        assert "Retry-After" not in sixth.headers

    run(go())
    stats = sandbox.stats()
    assert stats["peak_in_flight"] == 5 and stats["peak_attempted_in_flight"] == 6
    assert stats["in_flight"] == 0


def test_app_minute_limit_across_tenants(api: Api, sandbox: SandboxState) -> None:
    sandbox.limiter.config.app_minute = 3
    other = sandbox.add_organisation("Second Org")
    token = sandbox.issue_tokens(tenant_ids=[sandbox.default_tenant_id, other.tenant_id])

    async def go() -> None:
        async with api.client(token=token["access_token"]) as first:
            await _burst(first, 2)
        async with api.client(token=token["access_token"], tenant_id=other.tenant_id) as second:
            ok, refused = await _burst(second, 2)
        assert ok.status_code == 200
        assert refused.status_code == 429
        assert refused.headers["X-Rate-Limit-Problem"] == "appminute"
        assert refused.headers["X-AppMinLimit-Remaining"] == "0"

    run(go())


def test_limits_off_still_counts(clock: FakeClock) -> None:
    app = create_app(clock, limits=False)
    sandbox: SandboxState = app.state.sandbox
    api = Api(app, sandbox.issue_tokens()["access_token"], sandbox.default_tenant_id)

    async def go() -> None:
        async with api.client() as client:
            responses = await _burst(client, 70)
            assert {r.status_code for r in responses} == {200}

    run(go())
    assert sandbox.stats()["peak_minute"] == 70
    assert sandbox.stats()["throttled_total"] == 0


def test_time_scale_shortens_retry_after() -> None:
    base = FakeClock()
    app = create_app(base, time_scale=60)
    sandbox: SandboxState = app.state.sandbox
    api = Api(app, sandbox.issue_tokens()["access_token"], sandbox.default_tenant_id)

    async def go() -> None:
        async with api.client() as client:
            refused = (await _burst(client, 61))[60]
            assert refused.headers["X-Rate-Limit-Problem"] == "minute"
            # A Xero minute is one second of the base clock.
            assert refused.headers["Retry-After"] == "1"
            base.advance(1)
            assert (await client.get(f"{API}/Organisation")).status_code == 200

    run(go())
