"""The SDK's RenewingToken: asked for once, renewed before it expires and once when refused."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from xerobridge.sdk import FakeClock, RenewingToken, UserError

TOKEN_URL = "https://api.example.com/token"


class Api:
    """An API issuing numbered tokens of a given lifetime, which it can revoke."""

    def __init__(self, lifetime: float | None = 600.0) -> None:
        self.lifetime = lifetime
        self.issued: list[str] = []
        self.revoked: set[str] = set()
        self.log: list[str] = []

    async def handle(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # calls sent together are answered together
        if str(request.url) == TOKEN_URL:
            self.log.append("token")
            if request.headers.get("x-secret") != "right":
                return httpx.Response(401, json={"error": "bad secret"})
            self.issued.append(f"t{len(self.issued) + 1}")
            return httpx.Response(200, json={"token": self.issued[-1], "ttl": self.lifetime})
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        self.log.append(f"call:{token}")
        if token not in self.issued or token in self.revoked:
            return httpx.Response(401, json={"error": "token refused"})
        return httpx.Response(200, json={"ok": True})


class Login(RenewingToken):
    def __init__(self, clock: FakeClock, secret: str = "right", **kwargs: Any) -> None:
        super().__init__(clock=clock, **kwargs)
        self.secret = secret
        self.sent: list[str] = []

    def token_request(self) -> httpx.Request:
        return httpx.Request("POST", TOKEN_URL, headers={"x-secret": self.secret})

    def read_token(self, response: httpx.Response) -> tuple[str, float | None]:
        if response.status_code == 401:
            raise UserError("the API refused the secret: check `secret`")
        body = response.json()
        return body["token"], body["ttl"]

    async def before_send(self, request: httpx.Request) -> None:
        self.sent.append(request.url.path)


def calls(api: Api, auth: RenewingToken, n: int = 1, *, together: bool = False) -> list[int]:
    async def go() -> list[int]:
        transport = httpx.MockTransport(api.handle)
        async with httpx.AsyncClient(transport=transport, auth=auth) as http:
            if together:
                found = await asyncio.gather(
                    *(http.get("https://api.example.com/x") for _ in range(n))
                )
                return [r.status_code for r in found]
            return [(await http.get("https://api.example.com/x")).status_code for _ in range(n)]

    return asyncio.run(go())


def test_one_token_serves_many_calls_until_shortly_before_it_expires(clock: FakeClock) -> None:
    api, auth = Api(lifetime=600), Login(clock)
    assert calls(api, auth, 3) == [200, 200, 200]
    assert api.issued == ["t1"]
    clock.advance(600 - 61)  # more than a minute left: still good
    calls(api, auth)
    assert api.issued == ["t1"]
    clock.advance(2)  # within the minute's margin: renewed before a call can carry a dead one
    calls(api, auth)
    assert api.issued == ["t1", "t2"] and api.log[-1] == "call:t2"


def test_a_short_lived_token_is_renewed_at_a_tenth_of_its_life(clock: FakeClock) -> None:
    api, auth = Api(lifetime=100), Login(clock)
    calls(api, auth)
    clock.advance(89)
    calls(api, auth)
    clock.advance(2)
    calls(api, auth)
    assert api.issued == ["t1", "t2"]


def test_a_refused_token_is_renewed_once_and_the_call_repeated(clock: FakeClock) -> None:
    api, auth = Api(lifetime=None), Login(clock)
    calls(api, auth)
    api.revoked.add("t1")
    assert calls(api, auth) == [200]
    assert api.log == ["token", "call:t1", "call:t1", "token", "call:t2"]
    assert auth.sent == ["/token", "/x", "/x", "/token", "/x"]  # every request passes before_send


def test_calls_refused_together_share_one_new_token(clock: FakeClock) -> None:
    api, auth = Api(lifetime=None), Login(clock)
    calls(api, auth)
    api.revoked.add("t1")
    assert calls(api, auth, 5, together=True) == [200] * 5
    assert api.issued == ["t1", "t2"]


def test_a_token_refused_as_soon_as_issued_is_answered_not_renewed_again(
    clock: FakeClock,
) -> None:
    api, auth = Api(), Login(clock)
    api.revoked.add("t1")
    assert calls(api, auth) == [401]  # the caller's client says what the refusal means
    assert api.issued == ["t1"]


def test_a_fixed_key_is_never_renewed_and_a_refused_login_raises(clock: FakeClock) -> None:
    class Fixed(Login):
        def can_renew(self) -> bool:
            return False

    api = Api()
    assert calls(api, Fixed(clock, token="stale")) == [401]
    assert api.log == ["call:stale"]
    with pytest.raises(UserError, match="check `secret`"):
        calls(api, Login(clock, secret="wrong"))


def test_a_synchronous_client_is_told_to_use_the_async_one(clock: FakeClock) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    with (
        httpx.Client(transport=transport, auth=Login(clock)) as http,
        pytest.raises(RuntimeError, match="AsyncClient"),
    ):
        http.get("https://api.example.com/x")
