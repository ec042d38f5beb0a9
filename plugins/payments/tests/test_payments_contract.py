"""The standard contract every xerobridge source plugin passes (xerobridge.testkit)."""

from __future__ import annotations

import xerobridge_payments
from xerobridge.sdk import SourceSandbox
from xerobridge.testkit import SourceContract, SyncHarness


class TestPaymentsContract(SourceContract):
    plugin = xerobridge_payments

    def make_sandbox(self) -> SourceSandbox:
        """The plugin's own sandbox, its rate limit off: it counts real seconds, while the
        harness's client paces itself on the test's fake clock."""
        sandbox = xerobridge_payments.source.sandbox()
        sandbox.app.state.sandbox.rate_limit = None
        return sandbox

    def add_bad_record(self, sandbox: SourceSandbox) -> tuple[str, str]:
        """A payment in US dollars, which the (pound) Xero organisation does not take."""
        state = sandbox.app.state.sandbox
        customer = next(iter(state.customers.values()))
        invoice = state.create_invoice(
            customer["id"],
            [{"description": "Support", "amount": "40.00", "quantity": 1}],
            currency="USD",
            origin="portal",
        )
        return "payments", state.pay_invoice(invoice["id"])["id"]

    def add_xero_records(self, harness: SyncHarness) -> None:
        """One more customer with an approved invoice, beside the sandbox's own."""
        contact = harness.xero_write(
            "Contact", {"Name": "Maple Leaf Bakery", "EmailAddress": "ap@mapleleaf.example"}
        )
        harness.xero_write(
            "Invoice",
            {
                "Type": "ACCREC",
                "Contact": {"ContactID": contact["ContactID"]},
                "Status": "AUTHORISED",
                "Date": "2026-01-10",
                "DueDate": "2026-02-10",
                "LineItems": [
                    {
                        "Description": "Bread",
                        "Quantity": 3,
                        "UnitAmount": 12.5,
                        "AccountCode": "200",
                        "TaxType": "OUTPUT2",
                    }
                ],
            },
        )
