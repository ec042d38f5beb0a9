"""OAuth client credentials for the platform, with every request it sends kept to the pacer.

`POST /oauth/token` with HTTP Basic `client_id:client_secret` and `grant_type=client_credentials`
answers `{access_token, token_type, expires_in}`; there is no refresh token, so a new one is
asked for when the cached one is about to expire, or when a request with it comes back 401.
The auth flow sees every request that goes out (the token's, the call's, the call again after a
401), so it is where the pacer is asked.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncGenerator, Generator
from datetime import datetime, timedelta

import httpx

from xerobridge.sdk import Clock
from xerobridge_payments.errors import (
    PaymentsAuthError,
    PaymentsConfigError,
    PaymentsUnavailable,
    retry_after,
)
from xerobridge_payments.pacer import Pacer

log = logging.getLogger(__name__)

#: A token is renewed this long before the platform says it expires, so none dies in flight.
EXPIRY_MARGIN = timedelta(seconds=60)


class ClientCredentials(httpx.Auth):
    """Bearer tokens from the client-credentials grant, cached until they expire."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        clock: Clock,
        pacer: Pacer | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.clock = clock
        self.pacer = pacer
        self.token: str | None = None
        self.expires_at: datetime | None = None
        self.tokens_issued = 0
        self._lock = asyncio.Lock()

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise RuntimeError("the payments client is async only; use httpx.AsyncClient")

    def _fresh(self) -> bool:
        return (
            self.token is not None
            and self.expires_at is not None
            and self.clock.now() < self.expires_at
        )

    def forget(self) -> None:
        """Drop the cached token; the next request asks for a new one."""
        self.token = None
        self.expires_at = None

    async def _paced(self) -> None:
        if self.pacer is not None:
            await self.pacer.acquire(self.client_id)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        renewed = False
        if not self._fresh():
            async with self._lock:
                if not self._fresh():
                    await self._paced()
                    token_response = yield self._token_request()
                    await token_response.aread()
                    self._store(token_response)
                    renewed = True
        sent_with = self.token
        request.headers["Authorization"] = f"Bearer {sent_with}"
        await self._paced()
        response = yield request
        if response.status_code != 401 or renewed:
            return
        # A cached token refused: revoked or expired early. One new token, one more try.
        async with self._lock:
            if self.token == sent_with:
                await self._paced()
                token_response = yield self._token_request()
                await token_response.aread()
                self._store(token_response)
        request.headers["Authorization"] = f"Bearer {self.token}"
        await self._paced()
        yield request

    def _token_request(self) -> httpx.Request:
        return httpx.Request(
            "POST",
            f"{self.base_url}/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Accept": "application/json", "Authorization": self._basic()},
        )

    def _basic(self) -> str:
        pair = f"{self.client_id}:{self.client_secret}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def _store(self, response: httpx.Response) -> None:
        """Keep the token from the token endpoint's answer, or raise what went wrong."""
        where = f"the payments platform at {self.base_url}"
        status = response.status_code
        if status in (400, 401, 403):
            raise PaymentsAuthError(
                f"{where} refused the API key with client_id {self.client_id!r} "
                f"(HTTP {status}): check the source's client_id and client_secret settings",
                status=status,
            )
        if status == 429 or status >= 500:
            retry = retry_after(response)
            raise PaymentsUnavailable(
                f"{where} could not issue an access token now (HTTP {status}); "
                "it will be tried again later",
                status=status,
                retry_after=retry,
            )
        try:
            body = json.loads(response.content)
            token = body["access_token"]
            lifetime = float(body.get("expires_in") or 3600)
        except (ValueError, KeyError, TypeError):
            raise PaymentsConfigError(
                f"POST {self.base_url}/oauth/token did not answer with an access token "
                f"(HTTP {status}): check the source's base_url setting",
                status=status,
            ) from None
        if not isinstance(token, str) or not token:
            raise PaymentsConfigError(
                f"{where} answered the token request without an access token: check the "
                "source's base_url setting",
                status=status,
            )
        margin = min(EXPIRY_MARGIN, timedelta(seconds=lifetime / 2))
        self.token = token
        self.expires_at = self.clock.now() + timedelta(seconds=lifetime) - margin
        self.tokens_issued += 1
        log.info("new access token for client_id %s, valid %.0f s", self.client_id, lifetime)
