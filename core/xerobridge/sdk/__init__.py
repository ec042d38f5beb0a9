"""The plugin SDK: everything a source plugin imports from the core, in one place.

A plugin imports only `xerobridge` and `xerobridge.sdk`; the modules behind these names may move,
these names do not.
"""

from xerobridge.clock import Clock, FakeClock, SystemClock
from xerobridge.hookspecs import hookimpl
from xerobridge.serve import base_url, bind, serve
from xerobridge.settings import Schedule, SourceSettings
from xerobridge.types import (
    AccountNeed,
    Candidate,
    Change,
    Checkpoint,
    CursorKind,
    DeleteMode,
    Dependency,
    Direction,
    NeedsPerson,
    Permanent,
    Resolution,
    RetryLater,
    SourceContext,
    SourceSandbox,
    SourceSpec,
    SourceWrite,
    StreamSpec,
    UserError,
    XerobridgeError,
    XeroDocument,
    XeroEvent,
)

__all__ = [
    "AccountNeed",
    "Candidate",
    "Change",
    "Checkpoint",
    "Clock",
    "CursorKind",
    "DeleteMode",
    "Dependency",
    "Direction",
    "FakeClock",
    "NeedsPerson",
    "Permanent",
    "Resolution",
    "RetryLater",
    "Schedule",
    "SourceContext",
    "SourceSandbox",
    "SourceSettings",
    "SourceSpec",
    "SourceWrite",
    "StreamSpec",
    "SystemClock",
    "UserError",
    "XeroDocument",
    "XeroEvent",
    "XerobridgeError",
    "base_url",
    "bind",
    "hookimpl",
    "serve",
]
