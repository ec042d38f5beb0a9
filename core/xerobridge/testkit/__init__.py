"""The test kit for plugin authors: a harness that syncs a plugin into a Xero sandbox, pytest
fixtures (`xb_*`, loaded through the `pytest11` entry point) and the standard contract suite.

    from xerobridge.testkit import SourceContract, SyncHarness

Names load on first use: pytest imports the fixtures module in every run, and that must stay
cheap for projects that never touch the kit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xerobridge.lazy import lazy_names

if TYPE_CHECKING:
    from xerobridge.testkit.context import make_context, make_mirror
    from xerobridge.testkit.contract import SourceContract
    from xerobridge.testkit.harness import KitError, SyncHarness, csrf_of

__all__ = ["KitError", "SourceContract", "SyncHarness", "csrf_of", "make_context", "make_mirror"]

_HOMES = {
    "SourceContract": "xerobridge.testkit.contract",
    "SyncHarness": "xerobridge.testkit.harness",
    "KitError": "xerobridge.testkit.harness",
    "csrf_of": "xerobridge.testkit.harness",
    "make_context": "xerobridge.testkit.context",
    "make_mirror": "xerobridge.testkit.context",
}

__getattr__ = lazy_names(__name__, _HOMES)
