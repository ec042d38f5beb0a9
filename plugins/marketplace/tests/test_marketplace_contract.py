"""The standard contract every xerobridge source plugin passes (xerobridge.testkit)."""

from __future__ import annotations

import xerobridge_marketplace
from xerobridge.sdk import SourceSandbox
from xerobridge.testkit import SourceContract


class TestMarketplaceContract(SourceContract):
    plugin = xerobridge_marketplace

    def add_bad_record(self, sandbox: SourceSandbox) -> tuple[str, str]:
        """A customer with no name: Xero cannot make a contact of it."""
        bad = sandbox.app.state.sandbox.add_customer(" ", country="GB")
        return "customers", str(bad["id"])
