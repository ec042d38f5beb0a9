"""The hook contract is documented: in its docstrings and in docs/hooks.md."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from xerobridge import hookspecs
from xerobridge.plugins import HOOK_NAMES

DOC = (Path(__file__).resolve().parents[1] / "docs" / "hooks.md").read_text()


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
