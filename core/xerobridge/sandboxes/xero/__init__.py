"""A stateful sandbox of the Xero Accounting API and identity service, as an ASGI app.

app = create_app(FakeClock())
sandbox = app.state.sandbox          # SandboxState: seed data, mint tokens, set faults
client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://api.xero.com")

Every Accounting API request is checked against Xero's official OpenAPI description (packaged
in schema/accounting.json); one that breaks it is answered 400 and kept in
`sandbox.violations`. Tests use the `xero_sandbox` fixture of `xerobridge.sandboxes.xero.testing`,
which fails the test when the client sent such a request. `xerobridge sandbox xero` serves it.
"""

from typing import TYPE_CHECKING

from xerobridge.lazy import lazy_names

if TYPE_CHECKING:
    from xerobridge.sandboxes.xero.app import create_app
    from xerobridge.sandboxes.xero.faults import FaultKind, SandboxConnectionReset, parse_faults
    from xerobridge.sandboxes.xero.identity import pkce_challenge
    from xerobridge.sandboxes.xero.limits import Problem
    from xerobridge.sandboxes.xero.state import SandboxState
    from xerobridge.sandboxes.xero.timescale import ScaledClock
    from xerobridge.sandboxes.xero.validation import Violation
    from xerobridge.sandboxes.xero.webhooks import build_delivery, sign, verify

#: Each name's module, loaded on first use: `xerobridge sandbox xero` is registered on every
#: command line, which must not load the whole sandbox to start.
_MODULES = {
    "create_app": ".app",
    "FaultKind": ".faults",
    "SandboxConnectionReset": ".faults",
    "parse_faults": ".faults",
    "pkce_challenge": ".identity",
    "Problem": ".limits",
    "SandboxState": ".state",
    "ScaledClock": ".timescale",
    "Violation": ".validation",
    "build_delivery": ".webhooks",
    "sign": ".webhooks",
    "verify": ".webhooks",
}


__getattr__ = lazy_names(__name__, _MODULES)


__all__ = [
    "FaultKind",
    "Problem",
    "SandboxConnectionReset",
    "SandboxState",
    "ScaledClock",
    "Violation",
    "build_delivery",
    "create_app",
    "parse_faults",
    "pkce_challenge",
    "sign",
    "verify",
]
