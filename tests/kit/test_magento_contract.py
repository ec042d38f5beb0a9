"""The Magento plugin passes the standard contract suite, the one every plugin author subclasses.

A small generated store without the records the sandbox makes odd on purpose (there are fewer
than ten customers and products), and only the GBP store view, whose tax rates the settings map
onto the UK organisation's. The bad record is a product with a negative price.
"""

from __future__ import annotations

import xerobridge_magento
from xerobridge.contract.types import SourceSandbox
from xerobridge.testkit import SourceContract
from xerobridge_magento.sandbox import create_app


class TestMagentoContract(SourceContract):
    plugin = xerobridge_magento
    name = "magento"
    settings = {"store_ids": "1"}

    def make_sandbox(self) -> SourceSandbox:
        app = create_app(seed=5, customers=6, products=6, orders=8)
        return SourceSandbox(
            app=app,
            settings={
                "base_url": "http://magento.sandbox",
                "token": "sandbox-integration-token",
                "tax_map": "20=OUTPUT2,5=RROUTPUT,0=ZERORATEDOUTPUT",
                "default_tax_type": "OUTPUT2",
            },
        )

    def add_bad_record(self, sandbox: SourceSandbox) -> tuple[str, str]:
        product = sandbox.app.state.sandbox.add_product("KIT-BAD-1", "Broken price", "-5.00")
        return "products", str(product["id"])
