"""A stateful sandbox of the Xero Accounting API and identity service, as an ASGI app.

app = create_app(FakeClock())
sandbox = app.state.sandbox          # SandboxState: seed data, mint tokens, set faults
client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://api.xero.com")
"""

from xerobridge.xero.sandbox.app import create_app
from xerobridge.xero.sandbox.faults import FaultKind, SandboxConnectionReset
from xerobridge.xero.sandbox.identity import pkce_challenge
from xerobridge.xero.sandbox.limits import Problem
from xerobridge.xero.sandbox.state import SandboxState
from xerobridge.xero.sandbox.timescale import ScaledClock
from xerobridge.xero.sandbox.webhooks import build_delivery, sign, verify

__all__ = [
    "FaultKind",
    "Problem",
    "SandboxConnectionReset",
    "SandboxState",
    "ScaledClock",
    "build_delivery",
    "create_app",
    "pkce_challenge",
    "sign",
    "verify",
]
