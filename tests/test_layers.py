"""The layers of the core, held by reading every module's imports."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core" / "xerobridge"


def _module(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> Iterator[str]:
    """Every `xerobridge...` module a file imports, at any depth of the file."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "xerobridge":
                yield from (f"xerobridge.{alias.name}" for alias in node.names)
            elif node.module.startswith("xerobridge."):
                yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("xerobridge."))


def _core_edges() -> list[tuple[str, str]]:
    edges = []
    for path in CORE.rglob("*.py"):
        if "versions" in path.parts:
            continue
        module = _module(path, CORE.parent)
        edges.extend((module, target) for target in _imports(path))
    return edges


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


#: What each package may import from the core besides itself (by package or module).
ALLOWED: dict[str, tuple[str, ...]] = {
    # The contract is what plugins see: values, errors, settings; it knows Xero's object table
    # and dates, nothing that runs.
    "contract": ("xerobridge.xero.objects", "xerobridge.xero.dates", "xerobridge.clock"),
    # Storage: tables, migrations and the records the engine keeps; no engine, web or Xero call.
    "store": ("xerobridge.contract", "xerobridge.clock"),
    # The Xero client: HTTP, auth, limits, the mirror; never the engine, the queue or the web.
    "xero": ("xerobridge.store", "xerobridge.contract", "xerobridge.clock"),
    "config": ("xerobridge.store", "xerobridge.contract", "xerobridge.clock", "xerobridge.xero"),
    # The engine works the queue and Xero; it serves no page and parses no command.
    "sync": (
        "xerobridge.store",
        "xerobridge.contract",
        "xerobridge.clock",
        "xerobridge.xero",
        "xerobridge.config",
        "xerobridge.runtime",
    ),
}


def _allowed(source: str, target: str) -> bool:
    package = _package(source)
    if _package(target) == package or package not in ALLOWED:
        return True
    return any(target == a or target.startswith(a + ".") for a in ALLOWED[package])


def test_each_core_package_imports_only_the_layers_below_it() -> None:
    wrong = sorted(f"{s} imports {t}" for s, t in _core_edges() if not _allowed(s, t))
    assert wrong == []


def test_only_the_command_line_the_demo_and_the_test_kit_import_a_sandbox() -> None:
    importers = {
        source
        for source, target in _core_edges()
        if target.startswith("xerobridge.sandboxes") and _package(source) != "sandboxes"
    }
    assert importers, "the rule would hold vacuously"
    assert {m for m in importers if _package(m) not in {"cli", "testkit"}} == set()


def test_every_import_of_the_core_names_a_module_that_exists() -> None:
    """Imports inside functions run late: a moved module would fail only when that code runs."""
    import importlib.util

    missing = sorted({t for _s, t in _core_edges() if importlib.util.find_spec(t) is None})
    assert missing == []


def _plugin_violations(path: Path) -> Iterator[str]:
    """The core modules a plugin file imports other than `xerobridge` and `xerobridge.sdk`."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("xerobridge.") and node.module != "xerobridge.sdk":
                yield node.module
        elif isinstance(node, ast.Import):
            yield from (
                a.name
                for a in node.names
                if a.name.startswith("xerobridge.") and a.name != "xerobridge.sdk"
            )


def test_plugins_import_only_xerobridge_and_its_sdk() -> None:
    """A plugin sees the contract, never the machinery: the core may move behind the SDK."""
    files = [
        path
        for path in (ROOT / "plugins").glob("*/xerobridge_*/**/*.py")
        if "tests" not in path.parts
    ]
    assert len({p.parts[len(ROOT.parts) + 1] for p in files}) >= 4, "every plugin is read"
    wrong = sorted(
        f"{path.relative_to(ROOT)} imports {module}"
        for path in files
        for module in _plugin_violations(path)
    )
    assert wrong == []
