"""The environment: nothing installed that would make authlib bypass httpx (and respx)."""

from __future__ import annotations

import importlib.metadata
import importlib.util

from packaging.version import Version


def test_httpx2_is_not_installed() -> None:
    """httpx2 is absent: authlib >= 1.8 would switch to it and respx would stop mocking."""
    assert importlib.util.find_spec("httpx2") is None
    installed = {(d.metadata["Name"] or "").lower() for d in importlib.metadata.distributions()}
    assert "httpx2" not in installed


def test_authlib_is_below_1_8() -> None:
    """authlib is older than 1.8, the release that prefers httpx2 when present."""
    assert Version(importlib.metadata.version("authlib")) < Version("1.8")


def test_authlib_oauth_client_is_built_on_httpx() -> None:
    """authlib's async OAuth client is an httpx client, so respx and our transports see it."""
    import httpx
    from authlib.integrations.httpx_client import AsyncOAuth2Client

    assert issubclass(AsyncOAuth2Client, httpx.AsyncClient)
