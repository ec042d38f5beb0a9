"""The hook contract is documented and tested: docstrings, docs/hooks.md, a test per hook.

As datasette does for its hooks: every hook in `HOOK_NAMES` (so a new hook is covered the day
it is added) has a section in the reference headed by its exact arguments, with an example and
links to real code implementing it, and at least one test named for it. The reference also says
which `Stream` method implements each hook, and that is checked against what the SDK's `Source`
really calls.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import inspect
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from xerobridge.contract import hookspecs
from xerobridge.contract.plugins import HOOK_NAMES
from xerobridge.sdk import (
    Change,
    Resolution,
    Source,
    SourceSettings,
    SourceWrite,
    Stream,
    XeroEvent,
)
from xerobridge.testkit import make_context

ROOT = Path(__file__).resolve().parents[1]
DOC_PATH = ROOT / "docs" / "hooks.md"
DOC = DOC_PATH.read_text()
_LINK = re.compile(r"\[[^\]]+\]\(([^)#\s]+)\)")


def test_the_hooks_are_the_designed_set() -> None:
    """Nothing speculative: exactly the hooks the design names."""
    assert set(HOOK_NAMES) == {
        "source_spec",
        "fetch_changes",
        "fetch_records",
        "map_record",
        "to_xero",
        "on_xero_update",
        "register_commands",
        "apply_write",
        "register_routes",
        "match_xero_record",
        "find_written",
        "check_source",
        "read_notification",
    }


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_each_hook_docstring_has_summary_args_returns_and_version(name: str) -> None:
    """A one-line summary, its arguments, what it returns, and versionadded."""
    func = getattr(hookspecs, name)
    doc = inspect.getdoc(func) or ""
    summary = doc.splitlines()[0]
    assert summary.endswith(".") and len(summary) <= 100
    params = list(inspect.signature(func).parameters)
    if params:
        assert "Args:" in doc
        for param in params:
            assert re.search(rf"^\s+{param}:", doc, flags=re.M), f"{name}: {param} undocumented"
    assert "Returns:" in doc
    assert ".. versionadded::" in doc


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_each_hook_has_a_section_in_the_reference(name: str) -> None:
    """docs/hooks.md has a heading with the hook's exact arguments."""
    params = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
    assert f"## {name}({params})" in DOC


def _section(name: str) -> str:
    """The reference's section of one hook: its heading to the next heading."""
    start = DOC.index(f"## {name}(")
    end = DOC.find("\n## ", start + 3)
    return DOC[start : end if end != -1 else len(DOC)]


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_each_hook_section_has_an_example_and_links_to_code_that_implements_it(name: str) -> None:
    """An example implementation, and a "Used by:" line whose links name files defining it."""
    section = _section(name)
    examples = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    body = re.compile(rf"def {name}\([^)]*\)[^\n]*:\n {{4}}\S")
    assert any(body.search(block) for block in examples), (
        f"docs/hooks.md: the {name} section has no example implementation (a python block "
        "with a body)"
    )
    used_by = [line for line in section.splitlines() if line.startswith("Used by:")]
    assert used_by, f"docs/hooks.md: the {name} section has no 'Used by:' line with links"
    links = _LINK.findall(used_by[0])
    assert links, f"docs/hooks.md: the {name} 'Used by:' line links nothing"
    for link in links:
        target = (DOC_PATH.parent / link).resolve()
        assert target.is_file(), f"docs/hooks.md links {link}, which does not exist"
        assert re.search(rf"^\s*(async )?def {name}\(", target.read_text(), flags=re.M), (
            f"docs/hooks.md says {link} uses {name}, but it defines no {name}"
        )


def test_every_relative_link_of_the_reference_resolves() -> None:
    for link in _LINK.findall(DOC):
        if "://" not in link:
            assert (DOC_PATH.parent / link).exists(), f"docs/hooks.md links {link}: not found"


@functools.cache
def _test_names() -> frozenset[str]:
    """The names of every test function of the repository (core and plugins)."""
    files = [*ROOT.glob("tests/**/test_*.py"), *ROOT.glob("plugins/*/tests/test_*.py")]
    names = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            is_function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            if is_function and node.name.startswith("test_"):
                names.add(node.name)
    return frozenset(names)


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_each_hook_has_a_test_named_for_it(name: str) -> None:
    """Some test exercises the hook and says so in its name (`test_hook_<name>_...`)."""
    assert any(name in test for test in _test_names()), (
        f"no test is named for the hook {name}: add one, e.g. test_hook_{name}_<what it does>, "
        "that calls it the way the core does"
    )


class _Recorder(Stream[SourceSettings]):
    """A stream that records which of its methods the Source called."""

    name = "things"
    xero_object = "Contact"
    called: ClassVar[list[str]] = []

    def fetch(self, ctx: Any, cursor: str | None, until: str | None) -> list[Change]:
        self.called.append("fetch")
        return []

    def fetch_keys(self, ctx: Any, keys: list[str]) -> list[Change]:
        self.called.append("fetch_keys")
        return []

    def resolve(self, ctx: Any, change: Change) -> Resolution:
        self.called.append("resolve")
        return Resolution.create()

    def build(self, ctx: Any, change: Change, links: Any) -> list[Any]:
        self.called.append("build")
        return []

    def match(self, ctx: Any, event: XeroEvent) -> Resolution:
        self.called.append("match")
        return Resolution.create()

    def on_xero(self, ctx: Any, event: XeroEvent) -> list[SourceWrite]:
        self.called.append("on_xero")
        return []

    async def apply(self, ctx: Any, write: SourceWrite) -> str | None:
        self.called.append("apply")
        return None

    async def find(self, ctx: Any, write: SourceWrite) -> str | None:
        self.called.append("find")
        return None


def _source_hooks() -> list[str]:
    """The hooks the SDK's Source implements by dispatching to a stream."""
    return [
        name
        for name in HOOK_NAMES
        if hasattr(getattr(Source, name, None), "xerobridge_impl") and name != "source_spec"
    ]


def _dispatched(hook: str) -> str | None:
    """The Stream method the Source calls for a hook, found by calling it; None for none."""
    stream = _Recorder()
    source = Source(name="things", title="Things", settings=SourceSettings, streams=[stream])
    args = {
        "ctx": make_context(SourceSettings()),
        "stream": stream.spec(),
        "cursor": None,
        "until": None,
        "keys": ["1"],
        "change": Change("things", "1", {}),
        "links": {},
        "resolution": Resolution.create(),
        "event": XeroEvent("t", "CONTACT", "c-1", "UPDATE", datetime.now(UTC), stream="things"),
        "write": SourceWrite("things", "1", "create", create=True),
        "body": {},
    }
    method = getattr(source, hook)
    wanted = inspect.signature(method).parameters
    result = method(**{name: args[name] for name in wanted})
    if inspect.isawaitable(result):
        asyncio.run(result)  # type: ignore[arg-type]
    _Recorder.called, called = [], _Recorder.called
    assert len(called) <= 1, f"Source.{hook} called {called}"
    return called[0] if called else None


def test_the_source_hands_each_step_to_its_stream() -> None:
    """The check holds something: the steps of both directions reach a Stream method."""
    steps = {hook: _dispatched(hook) for hook in _source_hooks()}
    assert {hook for hook, method in steps.items() if method} >= {
        "fetch_changes", "fetch_records", "map_record", "to_xero",
        "match_xero_record", "on_xero_update", "apply_write", "find_written",
    }  # fmt: skip


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_each_hook_section_names_the_stream_method_that_implements_it(name: str) -> None:
    """ "Stream method: `Stream.x(...)`" for what the SDK's Source really calls, linked to code
    defining it; "No `Stream` method" for the hooks a stream does not implement."""
    section = _section(name)
    lines = [line for line in section.splitlines() if line.startswith("Stream method:")]
    method = _dispatched(name) if name in _source_hooks() else None
    if method is None:
        assert not lines and (name == "source_spec" or "No `Stream` method" in section), name
        return
    assert lines, f"docs/hooks.md: the {name} section has no 'Stream method:' line"
    assert f"`Stream.{method}(" in lines[0], (
        f"docs/hooks.md says {lines[0]!r}, but the SDK's Source calls Stream.{method}"
    )
    row = DOC.split(f"| `{name}(")[1].split("\n")[0]
    assert f"`Stream.{method}(" in row, (
        f"docs/hooks.md: the table's row of {name} does not name Stream.{method}"
    )
    for link in _LINK.findall(lines[0]):
        text = (DOC_PATH.parent / link).read_text()
        assert re.search(rf"^\s*(async )?def {method}\(", text, flags=re.M), (
            f"docs/hooks.md links {link} for Stream.{method}, which it does not define"
        )
