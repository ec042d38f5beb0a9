"""xerobridge: keep a business's other systems and its Xero organisation in sync.

The plugin SDK's names are re-exported here (`from xerobridge import Stream`); they load on first
use, so that importing one core module does not import them all.
"""

from __future__ import annotations

from typing import Any

from xerobridge.contract.hookspecs import hookimpl


def __getattr__(name: str) -> Any:
    import importlib

    sdk = importlib.import_module("xerobridge.sdk")
    if name in sdk.__all__:
        return getattr(sdk, name)
    raise AttributeError(f"module 'xerobridge' has no attribute {name!r}")


__all__ = ["hookimpl"]
