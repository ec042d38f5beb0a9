"""`RenewingToken`: an `httpx.Auth` for APIs whose token comes from a request of its own.

The token is asked for when there is none or it is about to expire, and once more when a
request carrying it is refused (revoked, or the clocks disagree); one lock per source keeps
concurrent calls from asking twice. The token request is yielded like any other request, so it
goes through the caller's client and transport (in tests: the sandbox). A plugin says how to ask
(`token_request`) and how to read the answer (`read_token`); the rest is here.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Generator
from datetime import datetime, timedelta

import httpx

from xerobridge.clock import Clock, SystemClock


class RenewingToken(httpx.Auth, ABC):
    """A cached token, renewed before it expires and once when refused. Async clients only."""

    #: How a request carries the token (`Authorization: <scheme> <token>`).
    scheme = "Bearer"
    #: Renew this long before the token expires, but never earlier than `margin_share` of its
    #: lifetime before, so that a short-lived token is still used.
    margin = timedelta(seconds=60)
    margin_share = 0.1

    def __init__(self, *, clock: Clock | None = None, token: str | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.token = token
        self.renew_at: datetime | None = None  # None: kept until refused
        self._lock = asyncio.Lock()

    # -- what a plugin says --------------------------------------------------------------------

    @abstractmethod
    def token_request(self) -> httpx.Request:
        """The request that asks for a new token."""

    @abstractmethod
    def read_token(self, response: httpx.Response) -> tuple[str, float | None]:
        """The token and its lifetime in seconds (None: until refused) from the answer to
        `token_request`; raises the plugin's error when the answer gives none."""

    def can_renew(self) -> bool:
        """Whether a new token can be asked for (a fixed API key cannot be renewed)."""
        return True

    def refused(self, response: httpx.Response) -> bool:
        """Whether the answer refuses the token (and not, say, a gateway's own key)."""
        return response.status_code == 401

    def sign(self, request: httpx.Request, token: str | None) -> None:
        """Put the token (and whatever else every request carries) on a request."""
        request.headers["Authorization"] = f"{self.scheme} {token}"

    async def before_send(self, request: httpx.Request) -> None:
        """Called before every request goes out, the token's included (to pace them, say)."""

    # -- the flow ------------------------------------------------------------------------------

    def _stale(self) -> bool:
        return self.token is None or (
            self.renew_at is not None and self.clock.now() >= self.renew_at
        )

    def _keep(self, response: httpx.Response) -> None:
        token, lifetime = self.read_token(response)
        self.token, self.renew_at = token, None
        if lifetime is not None:
            span = timedelta(seconds=lifetime)
            self.renew_at = self.clock.now() + span - min(self.margin, span * self.margin_share)

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise RuntimeError(f"{type(self).__name__} works with httpx.AsyncClient only")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        renewed = False
        if self._stale():
            async with self._lock:
                if self._stale():
                    asked = self.token_request()
                    await self.before_send(asked)
                    self._keep(await _read((yield asked)))
                    renewed = True
        sent = self.token
        self.sign(request, sent)
        await self.before_send(request)
        response = await _read((yield request))
        if renewed or not self.can_renew() or not self.refused(response):
            return  # a token just issued and refused is refused: the caller says why
        async with self._lock:
            if self.token == sent:  # nobody renewed it meanwhile
                asked = self.token_request()
                await self.before_send(asked)
                self._keep(await _read((yield asked)))
        self.sign(request, self.token)
        await self.before_send(request)
        yield request


async def _read(response: httpx.Response) -> httpx.Response:
    # An overridden async_auth_flow reads bodies itself: httpx honours `requires_response_body`
    # only in its default flow.
    await response.aread()
    return response
