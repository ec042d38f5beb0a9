"""The contract suite passes a good plugin and fails each deliberately flawed one, for its flaw.

The suite runs in a pytest session of its own (pytester), against `kit_flawed_plugin` with one
flaw switched on per test class, and the outcome of every contract test is checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

HERE = Path(__file__).resolve().parent

#: flaw -> {contract test that must fail: text its failure must contain}; the others run for a
#: flaw (the good plugin runs every test, each flaw the spec check and what it breaks) must pass.
EXPECTED: dict[str, dict[str, str]] = {
    "": {},
    "unstable": {"test_a_second_sync_writes_nothing": "sent Xero"},
    "crash": {"test_a_bad_record_fails_alone_saying_which_and_why": "unexpected exception"},
    "blocking": {"test_a_bad_record_fails_alone_saying_which_and_why": "failed as a whole"},
    "no_prefix": {"test_a_first_sync_creates_documents_keyed_by_the_source": "key prefix"},
    "bare_settings": {"test_plugin_loads_with_a_complete_spec": "mode of BareSettings"},
    "unknown_object": {
        "test_plugin_loads_with_a_complete_spec": "unknown Xero object 'Customer'",
        "test_a_first_sync_creates_documents_keyed_by_the_source": "failed to load",
        "test_a_second_sync_writes_nothing": "failed to load",
        "test_a_bad_record_fails_alone_saying_which_and_why": "failed to load",
    },
}
CONTRACT_TESTS = {
    "test_plugin_loads_with_a_complete_spec",
    "test_a_first_sync_creates_documents_keyed_by_the_source",
    "test_a_second_sync_writes_nothing",
    "test_a_bad_record_fails_alone_saying_which_and_why",
}


def _class_name(flaw: str) -> str:
    if not flaw:
        return "TestGood"
    return "TestFlaw" + "".join(part.capitalize() for part in flaw.split("_"))


def _skipped(flaw: str) -> set[str]:
    """The sync-running contract tests a flaw's class leaves out (they cost a sync each)."""
    if not flaw:
        return set()
    return CONTRACT_TESTS - set(EXPECTED[flaw]) - {"test_plugin_loads_with_a_complete_spec"}


def _suite_module() -> str:
    lines = [
        "import pytest",
        "import kit_flawed_plugin",
        "from xerobridge.testkit import SourceContract",
        "",
    ]
    for flaw in EXPECTED:
        lines += [
            f"class {_class_name(flaw)}(SourceContract):",
            "    plugin = kit_flawed_plugin",
            "    name = 'flawed'",
            "    @pytest.fixture(autouse=True)",
            "    def _flaw(self):",
            f"        kit_flawed_plugin.FLAW = {flaw!r}",
            "        yield",
            "        kit_flawed_plugin.FLAW = ''",
            "    def add_bad_record(self, sandbox):",
            "        return kit_flawed_plugin.add_bad_record(sandbox)",
        ]
        # A flawed plugin runs the spec check and the tests its flaw breaks; the good one, all.
        lines += [f"    {test} = None" for test in sorted(_skipped(flaw))]
        lines.append("")
    return "\n".join(lines)


def test_the_suite_passes_the_good_plugin_and_fails_each_flaw_for_its_reason(
    pytester: pytest.Pytester,
) -> None:
    """Every flaw fails exactly the contract tests it breaks, with a message that says why."""
    pytester.syspathinsert(HERE)
    pytester.makepyfile(test_flawed_contract=_suite_module())
    recorder = pytester.inline_run("-p", "no:cacheprovider", "-p", "no:xdist", "-q")
    results: dict[tuple[str, str], tuple[str, str]] = {}
    for report in recorder.getreports("pytest_runtest_logreport"):
        if report.when == "call" or (report.when == "setup" and not report.passed):
            _file, cls, test = report.nodeid.split("::")
            results[(cls, test)] = (report.outcome, str(report.longrepr or ""))
    for flaw, failing in EXPECTED.items():
        cls = _class_name(flaw)
        for test in sorted(CONTRACT_TESTS - _skipped(flaw)):
            outcome, text = results[(cls, test)]
            if test in failing:
                assert outcome == "failed", f"{cls}.{test} should fail for {flaw!r}"
                assert failing[test] in text, f"{cls}.{test}: expected {failing[test]!r} in\n{text}"
            else:
                assert outcome == "passed", f"{cls}.{test} should pass:\n{text}"
