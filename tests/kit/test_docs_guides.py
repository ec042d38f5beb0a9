"""The guides stay true to the command line: every command they show exists, with its options.

The user guide and the plugin author guide are read as a person would copy from them: each
`xerobridge ...` line of their code blocks is resolved against the real CLI (the click command
tree typer builds), and each `--option` must be one that command takes. The plugin guide's
numbered steps are run for real by test_new_plugin_install.py.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main

from xerobridge.cli import main as cli
from xerobridge.cli import scaffold

DOCS = Path(__file__).resolve().parents[2] / "docs"
GUIDES = ("user-guide.md", "plugin-guide.md")
#: Commands plugins add (`register_commands`), which only exist once such a plugin is installed.
PLUGIN_COMMANDS = {("sandbox", "tickets"), ("sandbox", "magento"), ("servicedesk",)}
_BLOCK = re.compile(r"```[a-z]*\n(.*?)```", re.S)
_LINK = re.compile(r"\]\(([^)#\s]+)\)")
_INLINE = re.compile(r"`((?:[A-Z_]+=\S+ )*xerobridge [^`]+)`")
_COMMAND = re.compile(r"^\s*(?:[A-Z_]+=\S+\s+)*(?:\S*/)?xerobridge(?:\s|$)")


def command_lines(name: str) -> list[str]:
    """Every `xerobridge ...` command of a guide, inline or in code blocks (lines joined)."""
    text = (DOCS / name).read_text()
    found = []
    for span in _INLINE.findall(_BLOCK.sub("", text)):
        if "<" not in span and "..." not in span.split()[1:2]:  # placeholders are not commands
            found.append(span)
    for block in _BLOCK.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            if not _COMMAND.match(line):
                continue
            words = shlex.split(line, comments=True)
            while words and re.match(r"^[A-Z_]+=", words[0]):  # VAR=value before a command
                words.pop(0)
            if words and words[0].endswith("xerobridge"):
                found.append(" ".join(shlex.quote(w) for w in words if w != "&"))
    return found


def _is_group(command: Any) -> bool:
    # typer's groups are click groups in behaviour, not always by class (it may vendor click)
    return hasattr(command, "commands")


def resolve(words: list[str]) -> tuple[Any, list[str], list[str]]:
    """The command the words name, the path to it, and the words left for it."""
    command: Any = typer.main.get_command(cli.app)
    path: list[str] = []
    rest = list(words)
    while _is_group(command) and rest and not rest[0].startswith("-"):
        if (*path, rest[0]) in PLUGIN_COMMANDS:
            return None, [*path, rest[0]], rest[1:]
        sub = command.commands.get(rest[0])
        assert sub is not None, f"`xerobridge {' '.join([*path, rest[0]])}` is no command"
        command, path = sub, [*path, rest.pop(0)]
    return command, path, rest


@pytest.mark.parametrize("guide", GUIDES)
def test_every_command_a_guide_shows_exists_with_its_options(guide: str) -> None:
    lines = command_lines(guide)
    assert len(lines) >= 10, f"{guide}: expected its commands, found {lines}"
    for line in lines:
        words = shlex.split(line)
        while not words[0].endswith("xerobridge"):  # VAR=value before an inline command
            words.pop(0)
        command, path, rest = resolve(words[1:])
        if command is None:
            continue  # a plugin's own command
        assert not _is_group(command), f"{guide}: `{line}` names no command"
        known = {opt for param in command.params for opt in param.opts}
        for word in rest:
            if word.startswith("--"):
                option = word.split("=", 1)[0]
                assert option in known, (
                    f"{guide}: `{line}` uses {option}, which `xerobridge {' '.join(path)}` "
                    f"does not take (it takes {', '.join(sorted(known))})"
                )


def test_the_user_guide_covers_install_to_upgrade() -> None:
    headings = re.findall(r"^## (.+)$", (DOCS / "user-guide.md").read_text(), flags=re.M)
    assert headings == [
        "Install",
        "Connect to Xero",
        "Add a source",
        "Records from Xero",
        "ServiceDesk Plus MSP",
        "Alternative Payments",
        "CloudBlue marketplace",
        "Run",
        "Scale out on PostgreSQL",
        "Upgrade",
    ]


@pytest.mark.parametrize("guide", GUIDES)
def test_every_link_of_a_guide_resolves(guide: str) -> None:
    for link in _LINK.findall((DOCS / guide).read_text()):
        if "://" not in link:
            assert (DOCS / link).exists(), f"{guide} links {link}, which does not exist"


def _block_after(guide: str, mark: str) -> str:
    text = (DOCS / guide).read_text()
    found = re.search(rf"<!-- {mark} -->\s*```[a-z]*\n(.*?)```", text, re.S)
    assert found, f"{guide}: no <!-- {mark} --> block"
    return found.group(1)


def _listed_files(tree: str) -> set[str]:
    """The files of an indented tree (two spaces a level, a directory ends with /)."""
    files: set[str] = set()
    parents: list[str] = []
    for line in tree.splitlines()[1:]:  # the first line is the root
        depth = (len(line) - len(line.lstrip())) // 2 - 1
        name = line.split()[0]
        parents = parents[:depth]
        if name.endswith("/"):
            parents.append(name.rstrip("/"))
        else:
            files.add("/".join([*parents, name]))
    return files


def test_the_plugin_guide_lists_the_files_new_plugin_writes(tmp_path: Path) -> None:
    written = scaffold.render("tickets", tmp_path / "xerobridge-tickets")
    made = {p.relative_to(tmp_path / "xerobridge-tickets").as_posix() for p in written}
    assert _listed_files(_block_after("plugin-guide.md", "plugin-files")) == made


def _code(line: str) -> str:
    """A line of code without its comment; a def by its name only (the guide drops hints)."""
    code = line.split("  #", maxsplit=1)[0].strip()
    named = re.match(r"(?:async )?def (\w+)\(", code)
    return f"def {named.group(1)}(" if named else code


def test_the_plugin_guides_stream_code_is_the_generated_code(tmp_path: Path) -> None:
    """Each class the guide shows from the example plugin is, line for line, in streams.py."""
    scaffold.render("tickets", tmp_path / "t")
    streams = (tmp_path / "t" / "xerobridge_tickets" / "streams.py").read_text()
    generated = {_code(line) for line in streams.splitlines()}
    text = (DOCS / "plugin-guide.md").read_text()
    shown = 0
    for block in re.findall(r"```python\n(.*?)```", text, re.S):
        name = re.match(r"class (\w+)\(", block)
        if not name or f"class {name.group(1)}(" not in "\n".join(generated):
            continue
        shown += 1
        for line in block.splitlines():
            code = _code(line)
            assert not code or code in generated, (
                f"plugin-guide.md shows `{code}` in {name.group(1)}, which streams.py lacks"
            )
    assert shown >= 2, "the guide shows the example's Customers and Invoices"


@pytest.mark.parametrize("guide", ("plugin-guide.md", "hooks.md"))
def test_every_complete_python_example_of_a_guide_parses(guide: str) -> None:
    """Examples are Python (a signature alone, as the reference heads a hook with, is not)."""
    import ast
    import textwrap

    for block in re.findall(r"```python\n(.*?)```", (DOCS / guide).read_text(), re.S):
        code = textwrap.dedent(block)
        try:
            ast.parse(code)
        except SyntaxError:
            # A signature heading a hook's section is a def without its body: it parses with one.
            ast.parse(re.sub(r"\)\s*\n(\s*->[^\n]*)$", r") \1", code.rstrip()) + ":\n    ...")
