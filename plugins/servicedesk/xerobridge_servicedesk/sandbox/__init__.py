"""A stateful emulator of the ServiceDesk Plus MSP REST API v3, for tests, demos and plugin authors.

`create_app()` returns a Starlette app; its `app.state.sandbox` is the SandboxState that tests
seed and change. Modules: `listing` (input_data, list_info, search criteria), `state` (records,
credentials, Zoho tokens, faults, technician edits), `generator` (deterministic data), `app`
(HTTP routes and the control API).
"""

from xerobridge_servicedesk.sandbox.app import create_app, describe
from xerobridge_servicedesk.sandbox.state import Fault, RateLimit, SandboxError, SandboxState

__all__ = ["Fault", "RateLimit", "SandboxError", "SandboxState", "create_app", "describe"]
