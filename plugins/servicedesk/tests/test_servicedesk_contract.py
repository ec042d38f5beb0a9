"""The standard contract every xerobridge source plugin passes (xerobridge.testkit)."""

from __future__ import annotations

import xerobridge_servicedesk
from xerobridge.sdk import SourceSandbox
from xerobridge.testkit import SourceContract, SyncHarness


class TestServiceDeskContract(SourceContract):
    plugin = xerobridge_servicedesk

    settings = {"covered_accounts": ""}  # the bad record's account is covered too

    def add_bad_record(self, sandbox: SourceSandbox) -> tuple[str, str]:
        """A worklog of an account Xero has no contact for: it cannot be billed to anyone."""
        state = sandbox.app.state.sandbox
        account = state.add_account(name="Newco Without A Contact")
        request = state.add_parent("requests", account["id"], "Set up the new office")
        technician = next(iter(state.records["technicians"]))
        worklog = state.add_worklog("requests", request["id"], owner_id=technician, minutes=30)
        return "worklogs", f"requests/{request['id']}/{worklog['id']}"

    def add_xero_records(self, harness: SyncHarness) -> None:
        """The sandbox's `xero` records (a contact per account, an item per type) are there."""
