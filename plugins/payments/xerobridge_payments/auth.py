"""OAuth client credentials for the platform, with every request it sends kept to the pacer.

`POST /oauth/token` with HTTP Basic `client_id:client_secret` and `grant_type=client_credentials`
answers `{access_token, token_type, expires_in}`; there is no refresh token, so a new one is
asked for when the cached one is about to expire, or when a request with it comes back 401.
The auth flow sees every request that goes out (the token's, the call's, the call again after a
401), so it is where the pacer is asked.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import timedelta

import httpx

from xerobridge.sdk import Clock, RenewingToken, retry_after
from xerobridge_payments.errors import (
    PaymentsAuthError,
    PaymentsConfigError,
    PaymentsUnavailable,
)
from xerobridge_payments.pacer import Pacer

log = logging.getLogger(__name__)


class ClientCredentials(RenewingToken):
    """Bearer tokens from the client-credentials grant, cached until they expire."""

    #: Renewed a minute (at most half its life) before the platform says it expires.
    margin = timedelta(seconds=60)
    margin_share = 0.5

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        clock: Clock,
        pacer: Pacer | None = None,
    ) -> None:
        super().__init__(clock=clock)
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.pacer = pacer

    async def before_send(self, request: httpx.Request) -> None:
        if self.pacer is not None:
            await self.pacer.acquire(self.client_id)

    def token_request(self) -> httpx.Request:
        pair = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        return httpx.Request(
            "POST",
            f"{self.base_url}/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Accept": "application/json", "Authorization": f"Basic {pair}"},
        )

    def read_token(self, response: httpx.Response) -> tuple[str, float | None]:
        """The token from the token endpoint's answer, or what went wrong."""
        where = f"the payments platform at {self.base_url}"
        status = response.status_code
        if status in (400, 401, 403):
            raise PaymentsAuthError(
                f"{where} refused the API key with client_id {self.client_id!r} "
                f"(HTTP {status}): check the source's client_id and client_secret settings",
                status=status,
            )
        if status == 429 or status >= 500:
            raise PaymentsUnavailable(
                f"{where} could not issue an access token now (HTTP {status}); "
                "it will be tried again later",
                status=status,
                retry_after=retry_after(response),
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
        log.info("new access token for client_id %s, valid %.0f s", self.client_id, lifetime)
        return token, lifetime
