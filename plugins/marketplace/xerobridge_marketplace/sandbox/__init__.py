"""A stateful emulator of the CloudBlue Commerce reseller SimpleAPI, for tests, demos and plugin
authors.

`create_app()` returns a Starlette app; its `app.state.sandbox` is the SandboxState that tests
seed and change. Modules: `catalog` (countries, currencies, plans), `charges` (charge lines and
their arithmetic), `state` (records, credentials, faults, orders that settle on the clock),
`generator` (deterministic history), `app` (HTTP routes and the control API).
"""

from xerobridge_marketplace.sandbox.app import API_PREFIX, MAX_LIMIT, create_app, describe_state
from xerobridge_marketplace.sandbox.state import (
    TOKEN_LIFETIME,
    Fault,
    RateLimit,
    SandboxError,
    SandboxState,
)

__all__ = [
    "API_PREFIX",
    "MAX_LIMIT",
    "TOKEN_LIFETIME",
    "Fault",
    "RateLimit",
    "SandboxError",
    "SandboxState",
    "create_app",
    "describe_state",
]
