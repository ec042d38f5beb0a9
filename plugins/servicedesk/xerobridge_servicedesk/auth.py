"""How requests to ServiceDesk Plus MSP prove who sends them: an authtoken, or Zoho OAuth.

On-premise servers take a technician API key in the `authtoken` header. MSP Cloud takes
`Authorization: Zoho-oauthtoken <access token>`, an access token minted from a refresh token at
the Zoho accounts server. Zoho mints at most ten access tokens per refresh token in ten minutes
and then refuses for a while, so tokens are cached until shortly before they expire and a
refresh is never asked for more often than the throttle allows.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Generator
from datetime import timedelta

import httpx

from xerobridge.sdk import Clock, RenewingToken, RetryLater, SourceSetupError

log = logging.getLogger(__name__)

#: Zoho's documented minting limit per refresh token.
MINTS_PER_WINDOW = 10
MINT_WINDOW = 600.0
#: Renew this long before the token's stated expiry, so a request never carries a dead one.
EXPIRY_MARGIN = 60.0


class AuthtokenAuth(httpx.Auth):
    """The on-premise `authtoken` header."""

    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["authtoken"] = self.token
        yield request


class ZohoOAuth(RenewingToken):
    """Zoho OAuth for MSP Cloud: a cached access token, refreshed when expired or refused.

    One instance per source: its cache and throttle are what keep the refresh token within
    Zoho's limit.
    """

    scheme = "Zoho-oauthtoken"
    margin = timedelta(seconds=EXPIRY_MARGIN)
    margin_share = 1.0

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        accounts_url: str = "https://accounts.zoho.com",
        clock: Clock | None = None,
    ) -> None:
        super().__init__(clock=clock)
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.token_url = accounts_url.rstrip("/") + "/oauth/v2/token"
        self._mints: deque[float] = deque()

    def token_request(self) -> httpx.Request:
        """The refresh request, counted against Zoho's minting limit (RetryLater past it)."""
        now = self.clock.monotonic()
        while self._mints and self._mints[0] <= now - MINT_WINDOW:
            self._mints.popleft()
        if len(self._mints) >= MINTS_PER_WINDOW:
            wait = self._mints[0] + MINT_WINDOW - now
            raise RetryLater(
                f"Zoho allows {MINTS_PER_WINDOW} access tokens per refresh token in "
                f"{MINT_WINDOW / 60:.0f} minutes and this source has used them; trying again "
                f"in {wait:.0f} s",
                retry_after=wait,
            )
        self._mints.append(now)
        data = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
        }
        return httpx.Request("POST", self.token_url, data=data)

    def read_token(self, response: httpx.Response) -> tuple[str, float | None]:
        if response.status_code >= 500 or response.status_code == 429:
            raise RetryLater(
                f"the Zoho accounts server failed with HTTP {response.status_code} minting an "
                "access token; it will be tried again later"
            )
        try:
            body = response.json()
        except ValueError:
            raise SourceSetupError(
                f"{self.token_url} did not answer like a Zoho accounts server (no JSON): check "
                "the source's `accounts_url`"
            ) from None
        error = str(body.get("error", "")) if isinstance(body, dict) else "no object"
        # Zoho answers a refused refresh with HTTP 200 and an `error` member.
        if error == "Access Denied":
            raise RetryLater(
                "Zoho refuses to mint more access tokens for now (too many requests); it will "
                "be tried again later",
                retry_after=MINT_WINDOW,
            )
        if error in ("invalid_client", "invalid_client_secret"):
            raise SourceSetupError(
                "Zoho refused the client: check the source's `client_id` and `client_secret` "
                f"(and that `accounts_url` is your data centre's), Zoho said {error!r}"
            )
        if error or not isinstance(body, dict) or not body.get("access_token"):
            raise SourceSetupError(
                f"Zoho refused the refresh token ({error or 'no access_token'}): set a new "
                "`refresh_token` for the source (Zoho API console, Self Client)"
            )
        lifetime = float(body.get("expires_in") or 3600)
        log.info("minted a Zoho access token valid %.0f s", lifetime)
        return str(body["access_token"]), lifetime
