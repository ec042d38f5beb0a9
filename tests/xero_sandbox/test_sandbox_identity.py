"""Identity: consent, PKCE, refresh rotation, custom connections, 401 and 403."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
from starlette.applications import Starlette

from xerobridge.clock import FakeClock
from xerobridge.sandboxes.xero import SandboxState, create_app, pkce_challenge
from xerobridge.sandboxes.xero.state import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REDIRECT_URI,
)

from sandbox_helpers import API, Api, run

VERIFIER = "a-long-enough-code-verifier-0123456789-abcdefghijklmnop"


async def _consent(client: httpx.AsyncClient, **extra: str) -> str:
    params = {
        "response_type": "code",
        "client_id": DEFAULT_CLIENT_ID,
        "redirect_uri": DEFAULT_REDIRECT_URI,
        "scope": "openid offline_access accounting.transactions",
        "state": "xyz",
        **extra,
    }
    response = await client.get("/identity/connect/authorize", params=params)
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["state"] == ["xyz"]
    return query["code"][0]


async def _token(
    client: httpx.AsyncClient, data: dict[str, str], *, basic: bool = True
) -> httpx.Response:
    auth = (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET) if basic else None
    return await client.post("/connect/token", data=data, auth=auth)


def test_authorization_code_flow_gives_tokens_and_connections(api: Api) -> None:
    async def go() -> None:
        async with api.bare() as client:
            code = await _consent(client)
            response = await _token(
                client,
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": DEFAULT_REDIRECT_URI,
                },
            )
            assert response.status_code == 200
            tokens = response.json()
            assert tokens["expires_in"] == 1800
            assert tokens["token_type"] == "Bearer"
            assert "refresh_token" in tokens and "id_token" in tokens
            headers = {"Authorization": f"Bearer {tokens['access_token']}"}
            connections = (await client.get("/connections", headers=headers)).json()
            assert [c["tenantType"] for c in connections] == ["ORGANISATION"]
            assert connections[0]["tenantId"] == api.tenant_id
            assert set(connections[0]) >= {"id", "tenantId", "tenantName", "tenantType"}
            # A code is single use.
            again = await _token(
                client,
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": DEFAULT_REDIRECT_URI,
                },
            )
            assert again.json() == {"error": "invalid_grant"}

    run(go())


def test_pkce_verifier_is_checked(api: Api) -> None:
    async def go() -> None:
        async with api.bare() as client:
            challenge = pkce_challenge(VERIFIER)
            code = await _consent(client, code_challenge=challenge, code_challenge_method="S256")
            wrong = await _token(
                client,
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": DEFAULT_REDIRECT_URI,
                    "client_id": DEFAULT_CLIENT_ID,
                    "code_verifier": VERIFIER + "x",
                },
                basic=False,
            )
            assert wrong.status_code == 400
            assert wrong.json()["error"] == "invalid_grant"
            code = await _consent(client, code_challenge=challenge, code_challenge_method="S256")
            right = await _token(
                client,
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": DEFAULT_REDIRECT_URI,
                    "client_id": DEFAULT_CLIENT_ID,
                    "code_verifier": VERIFIER,
                },
                basic=False,
            )
            assert right.status_code == 200, right.text

    run(go())


def test_authorize_refuses_unregistered_redirect(api: Api) -> None:
    async def go() -> None:
        async with api.bare() as client:
            response = await client.get(
                "/connect/authorize",
                params={
                    "response_type": "code",
                    "client_id": DEFAULT_CLIENT_ID,
                    "redirect_uri": "https://evil.example/cb",
                },
            )
            assert response.status_code == 400

    run(go())


def test_refresh_rotates_and_old_token_is_invalid(sandbox: SandboxState, api: Api) -> None:
    first = sandbox.issue_tokens()

    async def go() -> None:
        async with api.bare() as client:
            data = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
            response = await _token(client, data)
            assert response.status_code == 200
            second = response.json()
            assert second["refresh_token"] != first["refresh_token"]
            reused = await _token(client, data)
            assert reused.status_code == 400
            assert reused.json()["error"] == "invalid_grant"
            data = {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]}
            assert (await _token(client, data)).status_code == 200

    run(go())


def test_refresh_grace_period_is_optional(clock: FakeClock) -> None:
    app = create_app(clock, refresh_grace_seconds=1800)
    sandbox: SandboxState = app.state.sandbox
    first = sandbox.issue_tokens()
    api = Api(app, first["access_token"], sandbox.default_tenant_id)

    async def go() -> None:
        async with api.bare() as client:
            data = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
            second = (await _token(client, data)).json()
            clock.advance(60)
            retried = await _token(client, data)
            assert retried.status_code == 200
            assert retried.json()["refresh_token"] == second["refresh_token"]
            clock.advance(1800)
            assert (await _token(client, data)).json()["error"] == "invalid_grant"

    run(go())


def test_bad_client_secret_and_unknown_grant(api: Api) -> None:
    async def go() -> None:
        async with api.bare() as client:
            response = await client.post(
                "/connect/token",
                data={"grant_type": "client_credentials"},
                auth=(DEFAULT_CLIENT_ID, "wrong"),
            )
            assert response.json()["error"] == "invalid_client"
            response = await _token(client, {"grant_type": "password"})
            assert response.json()["error"] == "unsupported_grant_type"

    run(go())


def test_custom_connection_needs_no_tenant_header(app: Starlette, sandbox: SandboxState) -> None:
    custom = sandbox.register_app("CUSTOM", "s3cret", custom_tenant_id=sandbox.default_tenant_id)
    assert custom.client_id == "CUSTOM"

    async def go() -> None:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://api.xero.com"
        ) as client:
            response = await client.post(
                "/connect/token",
                data={"grant_type": "client_credentials"},
                auth=("CUSTOM", "s3cret"),
            )
            tokens = response.json()
            assert response.status_code == 200 and "refresh_token" not in tokens
            organisation = await client.get(
                f"{API}/Organisation",
                headers={"Authorization": f"Bearer {tokens['access_token']}"},
            )
            assert organisation.status_code == 200
            # A web app cannot use client_credentials.
            response = await _token(client, {"grant_type": "client_credentials"})
            assert response.json()["error"] == "unauthorized_client"

    run(go())


def test_expired_and_unknown_tokens_get_401(clock: FakeClock, api: Api) -> None:
    async def go() -> None:
        async with api.client() as client:
            assert (await client.get(f"{API}/Organisation")).status_code == 200
            clock.advance(30 * 60)
            expired = await client.get(f"{API}/Organisation")
            assert expired.status_code == 401
            body = expired.json()
            assert body["Title"] == "Unauthorized" and body["Detail"].startswith("TokenExpired")
        async with api.client(token="not-a-token") as client:
            assert (await client.get(f"{API}/Organisation")).status_code == 401

    run(go())


def test_tenant_header_missing_unknown_or_disconnected_gets_403(
    sandbox: SandboxState, api: Api
) -> None:
    other = sandbox.add_organisation("Not Connected Ltd")

    async def go() -> None:
        for tenant in ("", "00000000-0000-0000-0000-000000000000", other.tenant_id):
            async with api.client(tenant_id=tenant) as client:
                response = await client.get(f"{API}/Contacts")
                assert response.status_code == 403
                assert response.json()["Detail"] == "AuthenticationUnsuccessful"
        sandbox.disconnect()
        async with api.client() as client:
            assert (await client.get(f"{API}/Contacts")).status_code == 403

    run(go())


def test_delete_connection_disconnects(api: Api) -> None:
    async def go() -> None:
        async with api.client(tenant_id="") as client:
            connections = (await client.get("/connections")).json()
            deleted = await client.delete(f"/connections/{connections[0]['id']}")
            assert deleted.status_code == 204
            assert (await client.get("/connections")).json() == []
        async with api.client() as client:
            assert (await client.get(f"{API}/Organisation")).status_code == 403

    run(go())
