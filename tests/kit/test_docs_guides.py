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

DOCS = Path(__file__).resolve().parents[2] / "docs"
GUIDES = ("user-guide.md", "plugin-guide.md")
#: Commands plugins add (`register_commands`), which only exist once such a plugin is installed.
PLUGIN_COMMANDS = {("sandbox", "tickets"), ("sandbox", "magento")}
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
        "Run",
        "Scale out on PostgreSQL",
        "Upgrade",
    ]


@pytest.mark.parametrize("guide", GUIDES)
def test_every_link_of_a_guide_resolves(guide: str) -> None:
    for link in _LINK.findall((DOCS / guide).read_text()):
        if "://" not in link:
            assert (DOCS / link).exists(), f"{guide} links {link}, which does not exist"
