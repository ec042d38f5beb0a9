"""A stateful emulator of the Magento 2 REST API, for tests, demos and plugin authors.

`create_app()` returns a Starlette app; its `app.state.sandbox` is the SandboxState that tests
seed and change. Modules: `config` (store views, tax rates), `store` (indexed collections),
`search` (searchCriteria), `sales` (order, invoice and credit memo arithmetic), `generator`
(deterministic data), `state` (credentials, faults, admin edits), `app` (HTTP routes) and
`command` (`xerobridge sandbox magento`, serving it on a socket).
"""

from typing import TYPE_CHECKING

from xerobridge.sdk import lazy_names

if TYPE_CHECKING:
    from xerobridge_magento.sandbox.app import create_app
    from xerobridge_magento.sandbox.sales import ItemSpec, SalesError
    from xerobridge_magento.sandbox.state import (
        ADMIN_TOKEN_LIFETIME,
        AuthFailed,
        Fault,
        RateLimit,
        SandboxState,
        format_time,
    )

#: Each name's module, loaded on first use: the `xerobridge sandbox magento` command is added
#: on every command line, which must not load the whole emulator to start.
_MODULES = {
    "create_app": ".app",
    "ItemSpec": ".sales",
    "SalesError": ".sales",
    **dict.fromkeys(
        ("ADMIN_TOKEN_LIFETIME", "AuthFailed", "Fault", "RateLimit", "SandboxState",
         "format_time"), ".state",
    ),
}  # fmt: skip


__getattr__ = lazy_names(__name__, _MODULES)


__all__ = [
    "ADMIN_TOKEN_LIFETIME",
    "AuthFailed",
    "Fault",
    "ItemSpec",
    "RateLimit",
    "SalesError",
    "SandboxState",
    "create_app",
    "format_time",
]
