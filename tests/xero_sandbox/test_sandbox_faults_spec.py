"""The faults spec (`--faults 429-minute:0.1,503:0.05`): parsing, at start and while running."""

from __future__ import annotations

import httpx
import pytest

from xerobridge.clock import FakeClock
from xerobridge.sandboxes.xero import FaultKind, SandboxState, create_app
from xerobridge.sandboxes.xero.faults import parse_faults

from sandbox_helpers import API, Api, invoice, run


def test_parse_faults() -> None:
    assert parse_faults("429-minute:0.1,503:0.05,lost-response:0.2") == [
        (FaultKind.RATE_MINUTE, 0.1),
        (FaultKind.ERROR_503, 0.05),
        (FaultKind.LOST_RESPONSE, 0.2),
    ]
    spec = "429-day:1, 429-concurrent:0 ,500:0.5,slow:1e-1"
    assert [k.value for k, _ in parse_faults(spec)] == [
        "429-day",
        "429-concurrent",
        "500",
        "slow",
    ]
    assert parse_faults("") == [] and parse_faults(" , ") == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("504:0.1", "fault '504:0.1': unknown kind '504' (kinds: 429-minute,"),
        ("503", "fault '503': expected kind:rate"),
        (":0.5", "fault ':0.5': expected kind:rate"),
        ("503:1.5", "fault '503:1.5': rate must be from 0 to 1"),
        ("503:-0.1", "fault '503:-0.1': rate must be from 0 to 1"),
        ("503:nan", "fault '503:nan': rate must be from 0 to 1"),
        ("slow:often", "fault 'slow:often': rate 'often' is not a number"),
        ("503:0.1,503:0.2", "fault '503:0.2': 503 is given twice"),
    ],
)
def test_parse_faults_names_the_bad_part(spec: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_faults(spec)
    assert str(raised.value).startswith(message)


def _api(app: object) -> Api:
    sandbox: SandboxState = app.state.sandbox  # type: ignore[attr-defined]
    return Api(app, sandbox.issue_tokens()["access_token"], sandbox.default_tenant_id)  # type: ignore[arg-type]


def test_spec_at_start_and_replaced_while_running(clock: FakeClock) -> None:
    app = create_app(clock, faults="503:1")
    sandbox: SandboxState = app.state.sandbox
    api = _api(app)

    async def go() -> None:
        async with api.client() as client:
            assert (await client.get(f"{API}/Organisation")).status_code == 503
            async with api.bare() as control:
                changed = await control.post("/_sandbox/faults/spec", json={"spec": "429-minute:1"})
                assert changed.json()["spec"] == "429-minute:1"
                refused = await client.get(f"{API}/Organisation")
                assert refused.status_code == 429
                assert refused.headers["X-Rate-Limit-Problem"] == "minute"
                assert refused.headers["Retry-After"] == "60"
                bad = await control.post("/_sandbox/faults/spec", content="429-hour:1")
                assert bad.status_code == 400 and "429-hour" in bad.json()["error"]
                assert (await control.get("/_sandbox/faults/spec")).json()["spec"] == "429-minute:1"
                cleared = await control.post("/_sandbox/faults/spec", content="")
                assert cleared.json() == {"spec": "", "faults": []}
            assert (await client.get(f"{API}/Organisation")).status_code == 200

    run(go())
    # A one-off rule added by a test is not replaced by a spec change.
    sandbox.faults.add(FaultKind.ERROR_500, times=1)
    sandbox.faults.set_spec("slow:0.5")
    assert sorted(r.kind.value for r in sandbox.faults.rules) == ["500", "slow"]


def test_spec_rates_are_seeded_and_lost_response_hits_writes_only(clock: FakeClock) -> None:
    def statuses(seed: int) -> list[int]:
        app = create_app(clock, seed=seed, limits=False, faults="500:0.3")
        api = _api(app)

        async def go() -> list[int]:
            async with api.client() as client:
                return [(await client.get(f"{API}/Organisation")).status_code for _ in range(30)]

        return run(go())

    assert statuses(3) == statuses(3)
    assert {200, 500} == set(statuses(3))

    app = create_app(clock, faults="lost-response:1")
    sandbox: SandboxState = app.state.sandbox
    api = _api(app)

    async def write() -> None:
        async with api.client() as client:
            assert (await client.get(f"{API}/Invoices")).status_code == 200
            with pytest.raises(httpx.TransportError):
                await client.put(f"{API}/Invoices", json={"Invoices": [invoice()]})

    run(write())
    assert sandbox.counts()["Invoices"] == 1  # committed; only the answer was lost
