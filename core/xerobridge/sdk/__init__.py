"""The plugin SDK: everything a source plugin imports from the core, in one place.

A plugin imports only `xerobridge` and `xerobridge.sdk`; the modules behind these names may move,
these names do not.
"""

from typing import TYPE_CHECKING, Any

from xerobridge import posting
from xerobridge.clock import Clock, FakeClock, SystemClock
from xerobridge.contract.context import LinkView, OrgFacts, Pace, SourceContext, XeroMirror
from xerobridge.contract.errors import (
    NeedsChoice,
    NeedsPerson,
    Permanent,
    RetryLater,
    UserError,
    XerobridgeError,
)
from xerobridge.contract.hookspecs import hookimpl
from xerobridge.contract.settings import Schedule, SourceSettings, TaxMap, WebUrl, xero_list
from xerobridge.contract.types import (
    AccountNeed,
    Candidate,
    Change,
    Checkpoint,
    CursorKind,
    DeleteMode,
    Dependency,
    Direction,
    Notice,
    Resolution,
    SourceSandbox,
    SourceSpec,
    SourceWrite,
    StreamSpec,
    Written,
    XeroDocument,
    XeroEvent,
)
from xerobridge.lazy import lazy_names
from xerobridge.sdk.auth import RenewingToken
from xerobridge.sdk.paging import Page, changed_since
from xerobridge.sdk.rest import (
    RestClient,
    SourceNotFound,
    SourceRefused,
    SourceSetupError,
    SourceUnavailable,
    retry_after,
)
from xerobridge.sdk.source import Source
from xerobridge.sdk.stream import Stream
from xerobridge.web.serve import base_url, bind, serve, serve_sandbox

if TYPE_CHECKING:
    from xerobridge.cli.sources import reinitialize
    from xerobridge.web.dashboard.plugin_pages import (
        AccountCheck,
        AccountOutcome,
        PageSource,
        PluginPages,
        RecordState,
        StreamCounts,
    )

#: What a plugin's dashboard pages use, loaded on first use: it brings the store and the web
#: app with it, which a plugin's streams and its tests never need.
_PAGES = frozenset(
    {"AccountCheck", "AccountOutcome", "PageSource", "PluginPages", "RecordState", "StreamCounts"}
)


def __getattr__(name: str) -> Any:
    if name in _PAGES:
        from xerobridge.web.dashboard import plugin_pages

        return getattr(plugin_pages, name)
    if name == "reinitialize":
        # `xerobridge sources reinitialize`, for a plugin's command of that name; loaded on use,
        # as it brings the command line with it.
        from xerobridge.cli.sources import reinitialize

        return reinitialize
    raise AttributeError(f"module 'xerobridge.sdk' has no attribute {name!r}")


__all__ = [
    "AccountCheck",
    "AccountNeed",
    "AccountOutcome",
    "Candidate",
    "Change",
    "Checkpoint",
    "Clock",
    "CursorKind",
    "DeleteMode",
    "Dependency",
    "Direction",
    "FakeClock",
    "LinkView",
    "NeedsChoice",
    "NeedsPerson",
    "Notice",
    "OrgFacts",
    "Pace",
    "Page",
    "PageSource",
    "Permanent",
    "PluginPages",
    "RecordState",
    "RenewingToken",
    "Resolution",
    "RestClient",
    "RetryLater",
    "Schedule",
    "Source",
    "SourceContext",
    "SourceNotFound",
    "SourceRefused",
    "SourceSandbox",
    "SourceSettings",
    "SourceSetupError",
    "SourceSpec",
    "SourceUnavailable",
    "SourceWrite",
    "Stream",
    "StreamCounts",
    "StreamSpec",
    "SystemClock",
    "TaxMap",
    "UserError",
    "WebUrl",
    "Written",
    "XeroDocument",
    "XeroEvent",
    "XeroMirror",
    "XerobridgeError",
    "base_url",
    "bind",
    "changed_since",
    "hookimpl",
    "lazy_names",
    "posting",
    "reinitialize",
    "retry_after",
    "serve",
    "serve_sandbox",
    "xero_list",
]
