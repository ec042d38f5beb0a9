"""The SDK's RestClient: every way a call can fail becomes the core's error, in one line."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, NoReturn

import httpx
import pytest

from xerobridge.sdk import (
    NeedsPerson,
    Permanent,
    RestClient,
    RetryLater,
    SourceNotFound,
    SourceRefused,
    SourceSetupError,
    SourceUnavailable,
)

BASE = "https://desk.example.com"
Handler = Callable[[httpx.Request], httpx.Response]


class Desk(RestClient):
    """A source whose 401 means a setting, as a plugin would say."""

    system = "Desk"
    server_error_hint = " (see the desk's error log)"

    def refused(self, response: httpx.Response, body: Any, what: str) -> NoReturn:
        if response.status_code == 401:
            raise SourceSetupError(f"{self.where} refused the key for {what}: check `token`")
        super().refused(response, body, what)


def call(handler: Handler | None, base: str = BASE) -> Any:
    async def go() -> Any:
        # No handler: httpx's own transport, which refuses a URL that is not http(s) at once.
        transport = httpx.MockTransport(handler) if handler else None
        async with httpx.AsyncClient(transport=transport) as http:
            desk = Desk(http, base)
            response = await desk.send("GET", f"{base}/api/things/7", what="thing 7")
            return desk.decode(response, "thing 7")

    return asyncio.run(go())


def answer(status: int, body: Any = None, **kwargs: Any) -> Handler:
    return lambda request: httpx.Response(status, json=body, **kwargs)


def test_a_good_answer_is_its_json_and_an_empty_one_none() -> None:
    assert call(answer(200, {"id": 7})) == {"id": 7}
    assert call(lambda r: httpx.Response(204)) is None


def test_failing_to_get_an_answer_is_retry_later_naming_the_call() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(SourceUnavailable, match=r"Desk at https://desk\S+ did not answer thing 7"):
        call(slow)
    with pytest.raises(SourceUnavailable, match=r"connection refused.*the source's `base_url`"):
        call(down)
    with pytest.raises(SourceSetupError, match="not an http"):
        call(None, base="ftp://desk.example.com")


@pytest.mark.parametrize(
    ("status", "headers", "wait"),
    [(429, {"Retry-After": "12"}, 12.0), (429, {}, None), (503, {"Retry-After": "3"}, 3.0),
     (500, {}, None), (408, {}, None)],
)  # fmt: skip
def test_throttling_and_server_errors_wait_as_asked(
    status: int, headers: dict[str, str], wait: float | None
) -> None:
    with pytest.raises(SourceUnavailable) as caught:
        call(answer(status, {"message": "busy"}, headers=headers))
    error = caught.value
    assert isinstance(error, RetryLater) and error.status == status and error.retry_after == wait
    if status >= 500:
        assert "busy" in str(error) and str(error).endswith("(see the desk's error log)")


def test_refusals_are_the_plugins_to_name_and_permanent_by_default() -> None:
    with pytest.raises(SourceSetupError, match="refused the key for thing 7: check `token`"):
        call(answer(401, {"message": "bad key"}))
    with pytest.raises(SourceNotFound) as missing:
        call(answer(404, {"message": "no thing 7"}))
    assert isinstance(missing.value, Permanent) and "no thing 7" in str(missing.value)
    with pytest.raises(SourceRefused, match="HTTP 422: name is required") as refused:
        call(answer(422, {"error": "name is required"}))
    assert not isinstance(refused.value, SourceNotFound)


def test_an_answer_cut_off_waits_and_one_not_json_points_at_base_url() -> None:
    json_type = {"content-type": "application/json"}
    cut = httpx.Response(200, content=b'{"id": 7, "na', headers=json_type)
    with pytest.raises(SourceUnavailable, match="does not parse"):
        call(lambda r: cut)
    page = httpx.Response(200, text="<html>log in</html>", headers={"content-type": "text/html"})
    with pytest.raises(SourceSetupError, match=r"text/html, not JSON.*`base_url`") as caught:
        call(lambda r: page)
    assert isinstance(caught.value, NeedsPerson)
