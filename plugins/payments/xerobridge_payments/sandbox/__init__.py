"""A stateful emulator of the Alternative Payments API, for tests, demos and plugin authors.

`create_app()` returns a Starlette app; its `app.state.sandbox` is the SandboxState tests read
and change. Modules: `state` (records and the money rules), `paging` (cursors), `ratelimit`,
`faults`, `webhooks` (events out), `generator` (deterministic history), `render` (JSON with
exact cents), `app` (HTTP routes and the `/_sandbox/` control API).
"""

from xerobridge_payments.sandbox.app import create_app, info
from xerobridge_payments.sandbox.faults import Fault
from xerobridge_payments.sandbox.ratelimit import RateLimit
from xerobridge_payments.sandbox.state import Refused, SandboxState

__all__ = ["Fault", "RateLimit", "Refused", "SandboxState", "create_app", "info"]
