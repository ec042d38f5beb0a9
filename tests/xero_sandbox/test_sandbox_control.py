"""The /_sandbox control API: the same powers as the state object, over HTTP."""

from __future__ import annotations

import pytest

from xerobridge.clock import FakeClock
from xerobridge.sandboxes.xero import SandboxState, create_app

from sandbox_helpers import API, Api, run


def test_control_api_round_trip(api: Api, sandbox: SandboxState, clock: FakeClock) -> None:
    async def go() -> None:
        async with api.bare() as control:
            overview = (await control.get("/_sandbox")).json()
            assert overview["defaultTenantId"] == sandbox.default_tenant_id
            seeded = await control.post(
                "/_sandbox/tenants/default/Contacts", json={"Contacts": [{"Name": "Seeded"}]}
            )
            assert seeded.json()["Contacts"][0]["Name"] == "Seeded"
            duplicate = await control.post(
                "/_sandbox/tenants/default/Contacts", json={"Contacts": [{"Name": "Seeded"}]}
            )
            assert duplicate.status_code == 400
            tokens = (await control.post("/_sandbox/tokens", json={})).json()
            fault = await control.post("/_sandbox/faults", json={"kind": "503", "times": 1})
            assert fault.json()["kind"] == "503"
            headers = {
                "Authorization": f"Bearer {tokens['access_token']}",
                "xero-tenant-id": sandbox.default_tenant_id,
            }
            assert (await control.get(f"{API}/Contacts", headers=headers)).status_code == 503
            listed = await control.get(f"{API}/Contacts", headers=headers)
            assert [c["Name"] for c in listed.json()["Contacts"]] == ["Seeded"]
            stats = (await control.get("/_sandbox/stats")).json()
            assert stats["calls"] == 2
            log = (await control.get("/_sandbox/requests?tenant_id=default")).json()["requests"]
            assert [r["status"] for r in log] == [503, 200]
            limits = await control.post("/_sandbox/limits", json={"daily": 2})
            assert limits.json()["daily"] == 2
            refused = await control.get(f"{API}/Contacts", headers=headers)
            assert refused.headers["X-Rate-Limit-Problem"] == "day"
            advanced = await control.post("/_sandbox/clock/advance", json={"seconds": 10})
            assert advanced.status_code == 200
            assert (await control.post("/_sandbox/tokens/expire")).status_code == 200
            assert (await control.get(f"{API}/Contacts", headers=headers)).status_code == 401
            pending = (await control.get("/_sandbox/webhooks/pending")).json()["events"]
            assert pending[0]["eventCategory"] == "CONTACT"
            org = (await control.post("/_sandbox/organisations", json={"name": "Two"})).json()
            disconnected = await control.post(
                "/_sandbox/disconnect", json={"tenant_id": org["tenantId"]}
            )
            assert disconnected.json() == {"disconnected": 0}
            assert (await control.get("/_sandbox/tenants/nope/Contacts")).status_code == 404

    run(go())
    assert clock.now().second == 10


@pytest.mark.parametrize("path", ["/_sandbox/clock/advance"])
def test_real_clock_cannot_be_advanced(path: str) -> None:
    app = create_app()
    api = Api(app, "", "")

    async def go() -> int:
        async with api.bare() as control:
            return (await control.post(path, json={"seconds": 1})).status_code

    assert run(go()) == 409


@pytest.mark.xero_violations
def test_control_api_lists_and_clears_violations(api: Api, sandbox: SandboxState) -> None:
    async def go() -> None:
        async with api.client() as client:
            assert (await client.get(f"{API}/Items", params={"unitdp": "four"})).status_code == 400
        async with api.bare() as control:
            listed = (await control.get("/_sandbox/violations")).json()
            assert listed["validation"] == "enforce"
            assert listed["violations"] == [
                {
                    "method": "GET",
                    "path": f"{API}/Items",
                    "query": "unitdp=four",
                    "problems": ['query unitdp: expected an integer, got "four"'],
                }
            ]
            cleared = (await control.delete("/_sandbox/violations")).json()
            assert cleared["violations"] == []

    run(go())
