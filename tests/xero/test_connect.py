"""Connecting: custom connections, the web-app consent and its callback, the `connect` command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlmodel import select
from starlette.applications import Starlette
from starlette.routing import Route
from typer.testing import CliRunner

from xerobridge.cli import connect as connect_module
from xerobridge.cli import main as cli
from xerobridge.clock import FakeClock
from xerobridge.config.disconnect import disconnect
from xerobridge.contract.errors import NeedsPerson, UserError
from xerobridge.sandboxes.xero import SandboxState, pkce_challenge
from xerobridge.sandboxes.xero.state import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REDIRECT_URI,
)
from xerobridge.store.db import Store
from xerobridge.store.encryption import decrypt
from xerobridge.store.models import Connection, TokenGrant
from xerobridge.web.oauth_callback import oauth_callback
from xerobridge.xero.auth import (
    DEFAULT_API_URL,
    DEFAULT_IDENTITY_URL,
    TokenManager,
    basic_auth,
    load_tokens,
)
from xerobridge.xero.connect import (
    authorize_url,
    complete_authorization,
    connect_client_credentials,
)

from xero_auth_helpers import asgi_client, run

CUSTOM_ID, CUSTOM_SECRET = "CUSTOMAPPID", "custom-secret"
XERO_HOSTS = {"api.xero.com", "identity.xero.com", "login.xero.com"}


class XeroOnly(httpx.AsyncBaseTransport):
    """Xero's hosts reach the sandbox; every other host is unreachable."""

    def __init__(self, app: Starlette) -> None:
        self.sandbox = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host not in XERO_HOSTS:
            raise httpx.ConnectError(f"connection to {request.url.host} refused", request=request)
        return await self.sandbox.handle_async_request(request)


def xero_only(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=XeroOnly(app))


@pytest.fixture
def custom_app(sandbox: SandboxState) -> str:
    sandbox.register_app(CUSTOM_ID, CUSTOM_SECRET, custom_tenant_id=sandbox.default_tenant_id)
    return CUSTOM_ID


async def _custom(store: Store, app: Starlette, **overrides: str) -> Connection:
    args = {
        "name": "acme",
        "client_id": CUSTOM_ID,
        "client_secret": CUSTOM_SECRET,
        "api_url": DEFAULT_API_URL,
        "identity_url": DEFAULT_IDENTITY_URL,
        **overrides,
    }
    async with xero_only(app) as http:
        return await connect_client_credentials(store, http=http, **args)


async def consent(app: Starlette, url: str) -> tuple[str, str]:
    """The sandbox's person approves at once: the code and state the browser brings back."""
    async with asgi_client(app) as http:
        response = await http.get(url)
    assert response.status_code == 302, response.text
    back = parse_qs(urlsplit(response.headers["location"]).query)
    return back["code"][0], back["state"][0]


def connections(store: Store) -> list[Connection]:
    with store.transaction() as s:
        return list(s.exec(select(Connection).order_by(Connection.id)).all())


def grants(store: Store) -> list[TokenGrant]:
    with store.transaction() as s:
        return list(s.exec(select(TokenGrant).order_by(TokenGrant.id)).all())


# -- custom connections ---------------------------------------------------------------------------


def test_a_custom_connection_is_connected_with_its_organisation(
    store: Store, app: Starlette, sandbox: SandboxState, clock: FakeClock, custom_app: str
) -> None:
    conn = run(_custom(store, app))
    org = sandbox.default_org.organisation_record()
    assert conn.status == "connected" and conn.status_reason == ""
    assert conn.tenant_id == sandbox.default_tenant_id
    assert conn.tenant_name == org["Name"] == "Sandbox Company (AU)"
    assert conn.short_code == org["ShortCode"] and conn.short_code
    assert (conn.base_currency, conn.timezone) == (org["BaseCurrency"], org["Timezone"])
    assert conn.api_url == DEFAULT_API_URL
    (grant,) = grants(store)
    assert grant.id == conn.grant_id and grant.auth_kind == "custom"
    assert grant.client_id == CUSTOM_ID and decrypt(grant.client_secret) == CUSTOM_SECRET
    assert CUSTOM_SECRET not in grant.client_secret
    assert grant.token_expires_at == clock.now() + timedelta(minutes=30)

    # The token manager keeps it going with new client-credentials tokens.
    clock.advance(29 * 60)

    async def token() -> str:
        async with asgi_client(app) as http:
            return await TokenManager(store, http=http).access_token(conn.id or 0)

    assert run(token()) != load_tokens(grant)["access_token"]

    # Connecting again under the same name updates the same rows.
    again = run(_custom(store, app))
    assert again.id == conn.id
    assert [g.id for g in grants(store)] == [grant.id]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"client_secret": "wrong"}, "Xero refused client id CUSTOMAPPID and its secret"),
        ({"client_id": "NOSUCHAPP"}, "(invalid_client)"),
        ({"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}, "--redirect"),
        ({"identity_url": "https://identity.nowhere.test"}, "cannot reach Xero's token endpoint"),
        ({"api_url": "https://api.nowhere.test/api.xro/2.0"}, "cannot reach https://api.nowhere"),
        ({"name": "two words"}, "--name 'two words' must be"),
    ],
    ids=["bad-secret", "unknown-client", "not-custom", "identity-down", "api-down", "bad-name"],
)
def test_custom_connection_mistakes_are_one_line(
    store: Store,
    app: Starlette,
    custom_app: str,
    overrides: dict[str, str],
    expected: str,
) -> None:
    with pytest.raises(UserError) as raised:
        run(_custom(store, app, **overrides))
    message = str(raised.value)
    assert expected in message and "\n" not in message
    assert connections(store) == [] and grants(store) == []


def test_one_organisation_is_not_connected_twice(
    store: Store, app: Starlette, custom_app: str
) -> None:
    run(_custom(store, app))
    with pytest.raises(UserError, match="already connected as acme; reconnect it with --name"):
        run(_custom(store, app, name="other"))
    assert [c.name for c in connections(store)] == ["acme"]


# -- the web-app consent --------------------------------------------------------------------------


def _start(store: Store, **overrides: object) -> tuple[str, str]:
    args: dict[str, object] = {
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "redirect_uri": DEFAULT_REDIRECT_URI,
        "identity_url": DEFAULT_IDENTITY_URL,
        "api_url": DEFAULT_API_URL,
        "scopes": ["openid", "offline_access", "accounting.transactions", "accounting.settings"],
        "name": "books",
        **overrides,
    }
    return authorize_url(store, **args)  # type: ignore[arg-type]


def test_the_authorize_url_carries_pkce_and_a_state_kept_encrypted(store: Store) -> None:
    url, state = _start(store)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://login.xero.com/identity/connect/authorize"
    )
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["state"] == state
    assert query["response_type"] == "code" and query["client_id"] == DEFAULT_CLIENT_ID
    assert query["redirect_uri"] == DEFAULT_REDIRECT_URI
    assert query["code_challenge_method"] == "S256"
    (grant,) = grants(store)
    pending = load_tokens(grant)["pending"]
    assert query["code_challenge"] == pkce_challenge(pending["code_verifier"])
    assert state == f"{grant.id}.{pending['state']}"
    assert pending["state"] not in grant.token and pending["code_verifier"] not in grant.token
    assert grant.token_expires_at is None and connections(store) == []
    sandbox_url, _ = _start(store, identity_url="http://127.0.0.1:9999/")
    assert sandbox_url.startswith("http://127.0.0.1:9999/connect/authorize?")
    with pytest.raises(UserError, match="offline_access"):
        _start(store, scopes="openid accounting.transactions")


def test_a_consent_makes_one_connection_per_organisation_sharing_one_grant(
    store: Store, app: Starlette, sandbox: SandboxState, clock: FakeClock
) -> None:
    second = sandbox.add_organisation("Second Ltd", base_currency="NZD")
    url, state = _start(store)

    async def go() -> list[Connection]:
        code, back = await consent(app, url)
        assert back == state
        async with asgi_client(app) as http:
            return await complete_authorization(store, state=back, code=code, http=http)

    made = run(go())
    assert [c.name for c in made] == ["books", "books-second-ltd"]
    assert [c.tenant_id for c in made] == [sandbox.default_tenant_id, second.tenant_id]
    assert [c.short_code for c in made] == [
        sandbox.default_org.short_code,
        second.short_code,
    ]
    assert [c.base_currency for c in made] == ["AUD", "NZD"]
    assert all(c.status == "connected" and c.xero_connection_id for c in made)
    (grant,) = grants(store)
    assert {c.grant_id for c in made} == {grant.id}
    tokens = load_tokens(grant)
    assert "pending" not in tokens and tokens["refresh_token"]
    assert grant.token_expires_at == clock.now() + timedelta(minutes=30)

    # Both organisations work through the shared, refreshed token set.
    clock.advance(30 * 60)

    async def use() -> list[int]:
        async with asgi_client(app) as http:
            manager = TokenManager(store, http=http)
            codes = []
            for conn in made:
                token = await manager.access_token(conn.id or 0)
                response = await http.get(
                    f"{DEFAULT_API_URL}/Organisation",
                    headers={"Authorization": f"Bearer {token}", "xero-tenant-id": conn.tenant_id},
                )
                codes.append(response.status_code)
            return codes

    assert run(use()) == [200, 200]
    assert sandbox.log.count(path_contains="/connect/token") == 2  # the code, one refresh

    # The state is good once.
    with pytest.raises(UserError, match="unknown, used or expired"):
        run(go())


def test_a_state_that_is_wrong_or_old_is_refused(
    store: Store, app: Starlette, sandbox: SandboxState, clock: FakeClock
) -> None:
    url, state = _start(store)

    async def finish(with_state: str) -> list[Connection]:
        code, _ = await consent(app, url)
        async with asgi_client(app) as http:
            return await complete_authorization(store, state=with_state, code=code, http=http)

    grant_id = state.split(".")[0]
    for forged in (f"{grant_id}.guessed", "nonsense", f"999.{state.split('.')[1]}"):
        with pytest.raises(UserError, match="unknown, used or expired"):
            run(finish(forged))
    clock.advance(61 * 60)
    with pytest.raises(UserError, match="unknown, used or expired"):
        run(finish(state))
    assert sandbox.log.count(path_contains="/connect/token") == 0
    # An old, unfinished consent is forgotten when the next one starts.
    _start(store)
    assert len(grants(store)) == 1


def test_consenting_again_repairs_a_refused_connection(
    store: Store, app: Starlette, sandbox: SandboxState, clock: FakeClock
) -> None:
    async def connect_once() -> list[Connection]:
        url, _ = _start(store)
        code, state = await consent(app, url)
        async with asgi_client(app) as http:
            return await complete_authorization(store, state=state, code=code, http=http)

    (first,) = run(connect_once())
    (old_grant,) = grants(store)
    sandbox.identity.revoke(load_tokens(old_grant)["refresh_token"])
    clock.advance(30 * 60)

    async def refresh() -> str:
        async with asgi_client(app) as http:
            return await TokenManager(store, http=http).access_token(first.id or 0)

    with pytest.raises(NeedsPerson):
        run(refresh())
    assert connections(store)[0].status == "error"

    (again,) = run(connect_once())
    assert again.id == first.id and again.name == "books"
    assert again.status == "connected" and again.status_reason == ""
    (new_grant,) = grants(store)  # the refused grant is gone
    assert new_grant.id != old_grant.id and again.grant_id == new_grant.id
    assert run(refresh())


# -- the callback ---------------------------------------------------------------------------------


@pytest.fixture
def daemon(store: Store, app: Starlette) -> Iterator[Starlette]:
    """A web app with the callback mounted as the daemon mounts it."""
    web = Starlette(routes=[Route("/xero/callback", oauth_callback)])
    web.state.store = store
    web.state.http = asgi_client(app)
    yield web


def _callback(daemon: Starlette, **params: str) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=daemon), base_url="http://localhost:8000"
        ) as browser:
            return await browser.get("/xero/callback", params=params)

    return run(go())


def test_the_callback_finishes_the_consent(
    store: Store, app: Starlette, sandbox: SandboxState, daemon: Starlette
) -> None:
    sandbox.add_organisation("Smith & <Sons>")
    url, _ = _start(store)
    code, state = run(consent(app, url))
    response = _callback(daemon, code=code, state=state)
    assert response.status_code == 200
    assert "Connected: Sandbox Company (AU), Smith &amp; &lt;Sons&gt;" in response.text
    assert response.headers["content-type"].startswith("text/html")
    assert [c.status for c in connections(store)] == ["connected", "connected"]

    again = _callback(daemon, code=code, state=state)
    assert again.status_code == 400
    assert "Xero did not connect: this authorisation is unknown, used or expired" in again.text


def test_the_callback_shows_xeros_refusal_in_one_line(store: Store, daemon: Starlette) -> None:
    response = _callback(
        daemon, error="access_denied", error_description="The user said <no>", state="1.x"
    )
    assert response.status_code == 400
    assert "Xero did not connect: access_denied (The user said &lt;no&gt;)" in response.text
    assert _callback(daemon).status_code == 400
    assert connections(store) == []


# -- the command ----------------------------------------------------------------------------------


@pytest.fixture
def cli_to_sandbox(store: Store, app: Starlette, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """`xerobridge connect` in process, on the test's store, reaching the sandbox."""
    monkeypatch.setattr(connect_module, "store_factory", lambda: Store(store.url))
    monkeypatch.setattr(connect_module, "http_factory", lambda: xero_only(app))
    return CliRunner()


def test_the_command_connects_a_custom_connection(
    cli_to_sandbox: CliRunner, store: Store, sandbox: SandboxState, custom_app: str
) -> None:
    result = cli_to_sandbox.invoke(
        cli.app,
        ["connect", "--name", "acme", "--client-credentials",
         "--client-id", CUSTOM_ID, "--client-secret", CUSTOM_SECRET],
    )  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    short_code = sandbox.default_org.short_code
    assert result.output == f"connected acme: Sandbox Company (AU) (ShortCode {short_code})\n"
    (conn,) = connections(store)
    assert (conn.name, conn.status, conn.short_code) == ("acme", "connected", short_code)


def test_the_command_prints_the_authorize_url_of_a_web_app(
    cli_to_sandbox: CliRunner, store: Store, app: Starlette
) -> None:
    result = cli_to_sandbox.invoke(
        cli.app,
        ["connect", "--name", "books", "--client-id", DEFAULT_CLIENT_ID,
         "--client-secret", DEFAULT_CLIENT_SECRET, "--redirect-uri", DEFAULT_REDIRECT_URI],
    )  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    lines = result.output.splitlines()
    assert lines[0].startswith("Open this URL in a browser")
    assert lines[1].startswith("https://login.xero.com/identity/connect/authorize?")
    assert "xerobridge run" in lines[2]
    code, state = run(consent(app, lines[1]))

    async def finish() -> list[Connection]:
        async with asgi_client(app) as http:
            return await complete_authorization(store, state=state, code=code, http=http)

    assert [c.name for c in run(finish())] == ["books"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--client-credentials", "--client-id", CUSTOM_ID], "--client-id and --client-secret"),
        (
            ["--client-credentials", "--client-id", CUSTOM_ID, "--client-secret", "wrong"],
            "(invalid_client)",
        ),
        (
            [
                *("--client-credentials", "--client-id", CUSTOM_ID),
                *(
                    "--client-secret",
                    CUSTOM_SECRET,
                    "--api-url",
                    "https://nowhere.test/api.xro/2.0",
                ),
            ],
            "cannot reach https://nowhere.test/api.xro/2.0/Organisation",
        ),
    ],
    ids=["no-secret", "bad-secret", "bad-api-url"],
)
def test_the_commands_mistakes_are_user_errors(
    cli_to_sandbox: CliRunner, store: Store, custom_app: str, args: list[str], expected: str
) -> None:
    result = cli_to_sandbox.invoke(cli.app, ["connect", "--name", "acme", *args])
    assert isinstance(result.exception, UserError), (result.output, result.exception)
    assert expected in str(result.exception)
    assert connections(store) == []


def test_the_request_report_counts_what_connecting_cost(
    cli_to_sandbox: CliRunner, store: Store, custom_app: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`report requests` shows the /Organisation read that `connect` made for the organisation."""
    result = cli_to_sandbox.invoke(
        cli.app,
        ["connect", "--name", "acme", "--client-credentials",
         "--client-id", CUSTOM_ID, "--client-secret", CUSTOM_SECRET],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("XEROBRIDGE_DATABASE_URL", store.url)
    report = CliRunner().invoke(cli.app, ["report", "requests", "--json", "--days", "36500"])
    assert report.exit_code == 0, report.output
    rows = json.loads(report.output)
    assert [(r["connection"], r["calls"]) for r in rows] == [("acme", 1)]


def test_a_web_app_redirects_to_the_daemons_public_callback_by_default(
    cli_to_sandbox: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --redirect-uri the consent comes back to XEROBRIDGE_PUBLIC_URL/xero/callback."""
    monkeypatch.setenv("XEROBRIDGE_PUBLIC_URL", "https://sync.example.com/")
    result = cli_to_sandbox.invoke(
        cli.app,
        ["connect", "--name", "books", "--client-id", DEFAULT_CLIENT_ID,
         "--client-secret", DEFAULT_CLIENT_SECRET],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    url = next(line for line in result.output.splitlines() if "redirect_uri=" in line)
    query = parse_qs(urlsplit(url).query)
    assert query["redirect_uri"] == ["https://sync.example.com/xero/callback"]


def test_disconnecting_revokes_at_xero_then_forgets(
    store: Store, app: Starlette, sandbox: SandboxState
) -> None:
    """Each organisation's access is removed at Xero; the shared refresh token is revoked with
    the last of them, after which it refreshes nothing."""
    sandbox.add_organisation("Second Ltd", base_currency="NZD")
    url, _state = _start(store)

    async def connect() -> list[Connection]:
        code, back = await consent(app, url)
        async with asgi_client(app) as http:
            return await complete_authorization(store, state=back, code=code, http=http)

    first, second = run(connect())
    refresh = load_tokens(grants(store)[0])["refresh_token"]

    async def drop(name: str) -> str:
        async with xero_only(app) as http:
            return (await disconnect(store, name, http=http)).describe()

    assert run(drop(first.name)) == f"disconnected {first.name} (its access removed at Xero)"
    assert sandbox.log.count(path_contains="/connect/revocation") == 0  # the second shares it
    assert [c.name for c in connections(store)] == [second.name]
    assert run(drop(second.name)) == (
        f"disconnected {second.name} (its access removed at Xero, its refresh token revoked)"
    )
    assert connections(store) == [] and grants(store) == []
    active = [c for c in sandbox.identity.connections.values() if c.active]
    assert active == []

    async def refresh_again() -> int:
        async with asgi_client(app) as http:
            answer = await http.post(
                f"{DEFAULT_IDENTITY_URL}/connect/token",
                data={"grant_type": "refresh_token", "refresh_token": refresh},
                headers={"Authorization": basic_auth(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)},
            )
            return answer.status_code

    assert run(refresh_again()) == 400


def test_a_connection_xero_cannot_be_reached_for_is_kept(
    store: Store, app: Starlette, custom_app: str
) -> None:
    made = run(_custom(store, app))
    with store.transaction() as s:
        conn = s.get(Connection, made.id)
        assert conn is not None
        conn.xero_connection_id = "conn-1"
        s.add(conn)

    async def down() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(_refuse)) as http:
            await disconnect(store, "acme", http=http)

    with pytest.raises(UserError, match="could not reach Xero to disconnect acme"):
        run(down())
    assert [c.name for c in connections(store)] == ["acme"]


def _refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)
