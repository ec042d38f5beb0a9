"""`RestClient`: what every source client does around one HTTP call, so that plugins do not.

A call that cannot reach the source, times out, is throttled (429) or meets a server error
(5xx, 408) raises `SourceUnavailable` (RetryLater, with the wait the source asked for); an
answer that should be JSON and is cut off is `SourceUnavailable` too, while one that is no JSON
at all means the source's `base_url` points elsewhere (`SourceSetupError`). What the source's
4xx answers mean is the plugin's to say (`RestClient.refused`); by default 404 is
`SourceNotFound` and the rest `SourceRefused`. Every message is one line naming the source, the
call and what to do.
"""

from __future__ import annotations

import json
import logging
from typing import Any, ClassVar, NoReturn

import httpx

from xerobridge.contract.errors import NeedsPerson, Permanent, RetryLater, UserError

log = logging.getLogger(__name__)


class SourceUnavailable(RetryLater):
    """The source could not answer now (unreachable, timeout, 429, 5xx): try again later."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.status = status


class SourceSetupError(NeedsPerson, UserError):
    """The source is set up wrong (credentials, base_url, permissions): a setting must change.

    A NeedsPerson to the engine (the records wait for the setup) and a UserError to a command
    (one line, no traceback)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SourceRefused(Permanent):
    """The source refused this request as such; repeating it will not help."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SourceNotFound(SourceRefused):
    """The record asked for does not exist (any more)."""


def retry_after(response: httpx.Response) -> float | None:
    """The seconds a response's Retry-After asks to wait (None if absent or an HTTP date)."""
    try:
        return max(0.0, float(response.headers["retry-after"]))
    except (KeyError, ValueError):
        return None


class RestClient:
    """A source's JSON API over `httpx`: subclass it, name the system, say what its 4xx mean."""

    #: The source system as messages name it ("Magento").
    system: ClassVar[str] = "the source"
    #: Added to a server error's message (where the source keeps its own log, say).
    server_error_hint: ClassVar[str] = ""

    def __init__(
        self, http: httpx.AsyncClient, base_url: str, auth: httpx.Auth | None = None
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.auth = auth

    @property
    def where(self) -> str:
        """The source as messages name it: "Magento at https://shop.example.com"."""
        return f"{self.system} at {self.base_url}"

    async def send(self, method: str, url: str, *, what: str, **kwargs: Any) -> httpx.Response:
        """One request (`what` names it in messages); failures to get an answer are raised."""
        auth: Any = self.auth if self.auth is not None else httpx.USE_CLIENT_DEFAULT
        try:
            response = await self.http.request(method, url, auth=auth, **kwargs)
        except httpx.TimeoutException as exc:
            raise SourceUnavailable(
                f"{self.where} did not answer {what} in time ({type(exc).__name__}); it will be "
                "tried again later"
            ) from exc
        except httpx.UnsupportedProtocol:
            raise SourceSetupError(
                f"{self.base_url} is not an http(s) URL: check the source's `base_url`"
            ) from None
        except httpx.TransportError as exc:
            raise SourceUnavailable(
                f"could not reach {self.where} for {what} ({exc or type(exc).__name__}); it "
                "will be tried again later. If this persists, check the source's `base_url`"
            ) from exc
        log.debug("%s %s -> %s", method, response.request.url, response.status_code)
        return response

    def decode(self, response: httpx.Response, what: str) -> Any:
        """A good answer's JSON (None when empty); a bad answer raised as what it means."""
        status = response.status_code
        is_json = "json" in response.headers.get("content-type", "")
        body = _json(response)
        if status == 429:
            raise SourceUnavailable(
                f"{self.where} is throttling requests (429 on {what}); waiting as it asks",
                status=status,
                retry_after=retry_after(response),
            )
        if status >= 500 or status == 408:
            detail = f": {self.reason(body)}" if is_json and body is not _NOT_JSON else ""
            raise SourceUnavailable(
                f"{self.where} failed with HTTP {status} on {what}{detail}; it will be tried "
                f"again later{self.server_error_hint}",
                status=status,
                retry_after=retry_after(response),
            )
        if status >= 400:
            self.refused(response, None if body is _NOT_JSON else body, what)
        if status == 204 or not response.content:
            return None
        if body is _NOT_JSON:
            if is_json:  # promised but not parseable: cut off on the way, not a setting
                raise SourceUnavailable(
                    f"{self.where} answered {what} with JSON that does not parse (cut off?); "
                    "it will be tried again later",
                    status=status,
                )
            kind = response.headers.get("content-type") or "no content type"
            raise SourceSetupError(
                f"{what} on {self.base_url} answered with {kind}, not JSON: check that the "
                f"source's `base_url` is the {self.system} API's root URL",
                status=status,
            )
        return body

    def refused(self, response: httpx.Response, body: Any, what: str) -> NoReturn:
        """Raise what a 4xx answer means (`body` is its JSON, or None); override per source."""
        status = response.status_code
        if status == 404:
            raise SourceNotFound(f"{self.where} has no such record ({what}): {self.reason(body)}",
                           status=status)  # fmt: skip
        raise SourceRefused(
            f"{self.where} refused {what} with HTTP {status}: {self.reason(body)}", status=status
        )

    def reason(self, body: Any) -> str:
        """The source's own words for a failure, from an error answer's JSON."""
        if isinstance(body, dict):
            return str(body.get("message") or body.get("error") or body)[:300]
        return "no reason given" if body is None else str(body)[:300]


#: What `_json` returns for a body that is not JSON (None is JSON's null).
_NOT_JSON: Any = object()


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _NOT_JSON
