"""The standard contract suite every source plugin should pass; a plugin's tests subclass it.

    import xerobridge_tickets
    from xerobridge.testkit import SourceContract

    class TestTicketsContract(SourceContract):
        plugin = xerobridge_tickets

        def add_bad_record(self, sandbox):
            ...  # plant a record Xero cannot take in the plugin's sandbox
            return "invoices", key

It checks what the core relies on and a unit test of one hook cannot see: the plugin loads and
its spec and settings are complete; a first sync against its sandbox creates Xero documents
whose natural keys carry the source's key prefix; a second sync with nothing changed sends Xero
no write at all; and a bad record fails on its own, with a message that names it and says what
to change, while the records around it sync. A plugin with streams from Xero implements
`add_xero_records`; then its Xero records reach the source each once, linked once, and a second
sync makes no write in the source.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import ModuleType
from typing import Any, ClassVar

import pytest

from xerobridge.contract.plugins import GROUP
from xerobridge.contract.types import Direction, SourceSandbox
from xerobridge.testkit.harness import KEY_PREFIX, SyncHarness, plugin_name

#: What the core writes when a hook raised something other than xerobridge's own errors.
_UNEXPECTED = re.compile(r"^\S+ \S+: [A-Z]\w*(Error|Exception): ")
#: Xero object, the plural the sandbox lists it under, and the fields a natural key sits in.
_KEY_FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Contact": ("Contacts", ("ContactNumber",)),
    "Item": ("Items", ("Code",)),
    "Invoice": ("Invoices", ("InvoiceNumber", "Reference")),
    "CreditNote": ("CreditNotes", ("CreditNoteNumber", "Reference")),
    "Payment": ("Payments", ("Reference",)),
    "BankTransaction": ("BankTransactions", ("Reference",)),
    "BankTransfer": ("BankTransfers", ("Reference",)),
}


class SourceContract:
    """Subclass as `Test<Plugin>Contract`, set `plugin` and implement `add_bad_record`."""

    #: The plugin's module, as its `xerobridge` entry point names it.
    plugin: ClassVar[ModuleType]
    #: The plugin's name; by default the entry point's (or the spec's) name.
    name: ClassVar[str | None] = None
    #: Settings to use on top of the sandbox's own (e.g. {"store_ids": "1"}).
    settings: ClassVar[Mapping[str, str]] = {}
    #: The Xero version of the organisation to sync into: "UK" or "AU".
    region: ClassVar[str] = "UK"

    def make_sandbox(self) -> SourceSandbox | None:
        """A fresh sandbox of the source; None uses the spec's `sandbox` factory."""
        return None

    def add_bad_record(self, sandbox: SourceSandbox) -> tuple[str, str]:
        """Plant one record Xero cannot take in the sandbox; return its (stream, key)."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement add_bad_record(sandbox): plant one record that "
            "cannot sync (a line with quantity 0, a customer without a name ...) in the sandbox "
            "and return its (stream, key), so the suite can check it fails alone"
        )

    def add_xero_records(self, harness: SyncHarness) -> None:
        """For a plugin with streams from Xero: make records of their Xero objects (through
        `harness.xero_write`, as a person working in Xero would) for the suite to read."""
        raise NotImplementedError(
            f"{type(self).__name__} has streams from Xero: implement add_xero_records(harness) "
            "and make a few records of their Xero objects with harness.xero_write"
        )

    # -- fixtures ---------------------------------------------------------------------------------

    @pytest.fixture
    def xb_contract(self, xb_harness: Any) -> SyncHarness:
        """The plugin in a harness with a fresh sandbox."""
        harness: SyncHarness = xb_harness(
            self.plugin,
            name=self.name,
            sandbox=self.make_sandbox(),
            settings=dict(self.settings),
            region=self.region,
        )
        return harness

    # -- the contract -----------------------------------------------------------------------------

    def test_plugin_loads_with_a_complete_spec(self, xb_isolated: Any) -> None:
        """It loads as its entry point would, its spec validates, every setting is explained."""
        from xerobridge.contract.plugins import register_module
        from xerobridge.contract.settings import validate_settings

        name = self.name or plugin_name(self.plugin)
        info = register_module(self.plugin, name)
        assert info.status == "ok", f"plugin {name!r} failed to load: {info.error}"
        spec = info.spec
        assert spec is not None
        for ep in _entry_points(name):
            assert ep.value == self.plugin.__name__, (
                f"the installed entry point {name} = {ep.value!r} does not name {self.plugin}"
            )
        assert spec.title.strip(), "give the SourceSpec a title: people see it in lists"
        assert any(s.direction is Direction.TO_XERO for s in spec.streams), "no stream to Xero"
        bare = [n for n, f in spec.settings.model_fields.items() if not (f.description or "")]
        assert not bare, (
            f"settings {', '.join(bare)} of {spec.settings.__name__} have no description: "
            "give each a Field(description=...) that says what to type"
        )
        sandbox = self.make_sandbox() or (spec.sandbox() if spec.sandbox else None)
        assert sandbox is not None, "give the SourceSpec a sandbox factory (see SourceSandbox)"
        validate_settings(
            spec.settings, {**sandbox.settings, **self.settings}, source="contract-check"
        )

    def test_a_first_sync_creates_documents_keyed_by_the_source(
        self, xb_contract: SyncHarness
    ) -> None:
        """Everything in the sandbox syncs, each document under a natural key with the prefix."""
        summary = xb_contract.sync(full=True)
        failed = [f"{r.stream} {r.record_key}: {r.message}" for r in xb_contract.failures()]
        assert not failed, "records of the sandbox failed to sync:\n" + "\n".join(failed)
        left = [f"{j.kind} {j.stream} {j.record_key} ({j.state}): {j.last_error}"
                for j in xb_contract.jobs()]  # fmt: skip
        assert not left, "jobs were left in the queue after the sync:\n" + "\n".join(left)
        pushed = {s.name for s in xb_contract.spec.streams if s.direction is Direction.TO_XERO}
        links = [link for link in xb_contract.links() if link.xero_id and link.stream in pushed]
        assert links, f"the first sync wrote nothing to Xero ({summary.as_dict()})"
        in_xero = _natural_keys(xb_contract)
        for link in links:
            assert KEY_PREFIX in link.natural_key, (
                f"{link.stream} {link.record_key}: natural key {link.natural_key!r} lacks the "
                f"source's key prefix (ctx.key_prefix, {KEY_PREFIX!r} here)"
            )
            if link.method == "created" and link.xero_type in in_xero:
                assert link.natural_key in in_xero[link.xero_type], (
                    f"{link.stream} {link.record_key}: Xero holds no {link.xero_type} whose key "
                    f"field is {link.natural_key!r}"
                )

    def test_a_second_sync_writes_nothing(self, xb_contract: SyncHarness) -> None:
        """Nothing changed at the source: the next pass, even a full one, sends Xero no write."""
        xb_contract.sync(full=True)
        xb_contract.reset_xero_traffic()
        again = xb_contract.sync(full=True)
        writes = xb_contract.xero_writes()
        assert writes == 0 and again.write_calls == 0, (
            f"a second sync with nothing changed sent Xero {writes} write(s): to_xero must build "
            "the same body from the same record (no clocks, counters or random values in it)"
        )

    def test_a_bad_record_fails_alone_saying_which_and_why(self, xb_contract: SyncHarness) -> None:
        """The bad record fails with a message naming it; the records around it sync."""
        stream, key = self.add_bad_record(xb_contract.sandbox)
        summary = xb_contract.sync(full=True)
        for job in xb_contract.jobs("dead"):
            assert job.kind != "fetch", (
                f"reading {job.stream} failed as a whole ({job.last_error}): a bad record must "
                "not stop the read; yield its Change and raise Permanent from map_record or to_xero"
            )
        failures = xb_contract.failures()
        assert failures, f"{stream} {key} was planted bad, yet nothing failed ({summary.as_dict()})"
        others = [f"{r.stream} {r.record_key}: {r.message}" for r in failures
                  if (r.stream, r.record_key) != (stream, key)]  # fmt: skip
        assert not others, "the bad record made other records fail too:\n" + "\n".join(others)
        for row in failures:
            assert key in row.message, (
                f"the message {row.message!r} does not name the record ({stream} {key})"
            )
            assert not _UNEXPECTED.match(row.message), (
                f"{stream} {key} failed on an unexpected exception ({row.message!r}): raise "
                "xerobridge.contract.types.Permanent with what is wrong and what to change"
            )
        synced = [link for link in xb_contract.links(stream) if link.xero_id]
        assert synced, f"no other {stream} record synced beside the bad one"
        assert summary.failed == 1, f"expected one failure, got {summary.failed}"

    def test_records_from_xero_reach_the_source_once_and_stay_once(
        self, xb_contract: SyncHarness
    ) -> None:
        """Each Xero record of a stream from Xero is linked to one source record; a second sync
        writes nothing to the source."""
        spec = xb_contract.info.spec
        assert spec is not None
        inbound = {s.name for s in spec.streams if s.direction is Direction.FROM_XERO}
        if not inbound:
            pytest.skip("the plugin has no stream from Xero")
        self.add_xero_records(xb_contract)
        xb_contract.sync()
        failed = [f"{r.stream} {r.record_key}: {r.message}" for r in xb_contract.failures()]
        assert not failed, "records from Xero failed:\n" + "\n".join(failed)
        links = [link for link in xb_contract.links() if link.stream in inbound]
        assert links, f"no record of {', '.join(sorted(inbound))} came from Xero"
        for stream in inbound:
            ids = [link.xero_id for link in links if link.stream == stream]
            twice = sorted({str(i) for i in ids if ids.count(i) > 1})
            assert not twice, f"{stream}: Xero records linked to two source records: {twice}"
        unsettled = [link.record_key for link in links if link.in_flight_at is not None]
        assert not unsettled, f"creates left unsettled: {unsettled}"
        done = len(xb_contract.log())
        xb_contract.sync()
        made = [f"{r.stream} {r.record_key}: {r.action}" for r in xb_contract.log()[done:]
                if r.stream in inbound and r.action in ("created", "updated")]  # fmt: skip
        assert not made, (
            "a second sync with nothing changed in Xero wrote to the source:\n"
            + "\n".join(made)
            + "\non_xero must give the same data for the same Xero record"
        )


def _entry_points(name: str) -> list[Any]:
    import importlib.metadata

    return [ep for ep in importlib.metadata.entry_points(group=GROUP) if ep.name == name]


def _natural_keys(harness: SyncHarness) -> dict[str, set[str]]:
    """Per Xero object type, the values of its natural-key fields in the Xero sandbox."""
    return {
        kind: {str(r[f]) for r in harness.xero(plural) for f in fields if r.get(f)}
        for kind, (plural, fields) in _KEY_FIELDS.items()
    }
