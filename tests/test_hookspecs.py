"""The hook contract is documented and tested: docstrings, docs/hooks.md, a test per hook.

As datasette does for its hooks: every hook in `HOOK_NAMES` (so a new hook is covered the day
it is added) has a section in the reference headed by its exact arguments, with an example and
links to real code implementing it, and at least one test named for it.
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
from pathlib import Path

import pytest

from xerobridge.contract import hookspecs
from xerobridge.contract.plugins import HOOK_NAMES

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
