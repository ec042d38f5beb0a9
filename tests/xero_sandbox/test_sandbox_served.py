"""`xerobridge sandbox xero` served for real, and the time scale seen from a client."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import pytest

from xerobridge.clock import FakeClock
from xerobridge.sandboxes.xero import SandboxState, create_app
from xerobridge.sandboxes.xero.command import build_app, describe

from sandbox_helpers import API, Api, run

START = "from xerobridge.cli.main import main; main()"


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The first stdout line, or fail after `timeout` seconds (no blocking forever)."""
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    if not line or not line[0]:
        process.kill()
        stderr = process.stderr.read() if process.stderr else ""  # type: ignore[union-attr]
        pytest.fail(f"the sandbox printed no JSON line within {timeout} s: {stderr}")
    return line[0]


def test_served_sandbox_prints_its_json_line_and_paces_by_headers() -> None:
    """One real server (a socket, real time): token, API calls, minute limit at time scale 60."""
    process = subprocess.Popen(
        [sys.executable, "-c", START, "sandbox", "xero", "--port", "0", "--time-scale", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        info = json.loads(_read_line(process, timeout=10))
        assert set(info) >= {
            "api_url",
            "identity_url",
            "client_id",
            "client_secret",
            "tenant_id",
            "webhook_key",
        }
        port = int(info["api_url"].split(":")[2].split("/")[0])
        assert port > 0 and info["api_url"] == f"http://127.0.0.1:{port}/api.xro/2.0"
        with httpx.Client(timeout=3) as client:
            token = client.post(
                f"{info['identity_url']}/connect/token",
                data={"grant_type": "client_credentials"},
                auth=(info["client_id"], info["client_secret"]),
            )
            assert token.status_code == 200, token.text
            headers = {
                "Authorization": f"Bearer {token.json()['access_token']}",
                "xero-tenant-id": info["tenant_id"],
            }
            org = client.get(f"{info['api_url']}/Organisation", headers=headers)
            assert org.status_code == 200, org.text
            assert org.json()["Organisations"][0]["OrganisationID"] == info["tenant_id"]
            # A Xero minute lasts a real second: 60 calls, then a 429 whose Retry-After is in
            # real seconds; waiting that long is enough.
            refused = None
            for _ in range(120):
                response = client.get(f"{info['api_url']}/Organisation", headers=headers)
                if response.status_code == 429:
                    refused = response
                    break
            assert refused is not None, "no minute limit within 120 calls"
            assert refused.headers["X-Rate-Limit-Problem"] == "minute"
            assert refused.headers["X-MinLimit-Remaining"] == "0"
            retry_after = int(refused.headers["Retry-After"])
            assert retry_after == 1
            time.sleep(retry_after)
            again = client.get(f"{info['api_url']}/Organisation", headers=headers)
            assert again.status_code == 200
    finally:
        process.terminate()
        try:
            process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_bad_faults_spec_is_one_line_and_status_2() -> None:
    from typer.testing import CliRunner

    from xerobridge.cli.main import app

    result = CliRunner().invoke(app, ["sandbox", "xero", "--faults", "503:2"])
    assert result.exit_code != 0
    assert "rate must be from 0 to 1" in str(result.exception or result.output)


def test_time_scale_minute_limit_and_retry_after_in_caller_seconds() -> None:
    """At time scale 60 the minute budget is per sandbox minute = one caller second, and
    Retry-After is in caller seconds: a client sleeping on it needs no knowledge of the scale."""
    real = FakeClock()
    app = create_app(real, time_scale=60)
    sandbox: SandboxState = app.state.sandbox
    api = Api(app, sandbox.issue_tokens()["access_token"], sandbox.default_tenant_id)

    async def calls(count: int) -> list[httpx.Response]:
        async with api.client() as client:
            return [await client.get(f"{API}/Organisation") for _ in range(count)]

    first = run(calls(61))
    assert [r.status_code for r in first[:60]] == [200] * 60
    assert first[59].headers["X-MinLimit-Remaining"] == "0"
    refused = first[60]
    assert refused.status_code == 429
    assert refused.headers["X-Rate-Limit-Problem"] == "minute"
    assert refused.headers["Retry-After"] == "1"
    real.advance(0.5)  # 30 sandbox seconds: still the same sandbox minute
    assert run(calls(1))[0].headers["Retry-After"] == "1"
    real.advance(0.5)  # the full Retry-After: a new sandbox minute
    again = run(calls(1))[0]
    assert again.status_code == 200
    assert again.headers["X-MinLimit-Remaining"] == "59"


def test_json_line_describes_both_apps() -> None:
    app = build_app(seed=1, time_scale=1.0, faults="", webhook_url=None, daily_limit=10)
    info: dict[str, Any] = describe(app, "0.0.0.0", 8123)
    state: SandboxState = app.state.sandbox
    assert info["api_url"] == "http://127.0.0.1:8123/api.xro/2.0"
    assert info["identity_url"] == "http://127.0.0.1:8123"
    assert state.identity.apps[info["client_id"]].custom_tenant_id == info["tenant_id"]
    web = state.identity.apps[info["web_client_id"]]
    assert web.custom_tenant_id is None

    async def authorize(redirect: str) -> int:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sandbox"
        ) as client:
            params = {
                "client_id": web.client_id,
                "redirect_uri": redirect,
                "response_type": "code",
                "scope": "openid offline_access accounting.transactions",
                "state": "s",
            }
            return (await client.get("/connect/authorize", params=params)).status_code

    assert run(authorize("http://127.0.0.1:8765/xero/callback")) == 302
    assert run(authorize("http://localhost:9999/cb")) == 302
    assert run(authorize("https://evil.example/cb")) == 400
