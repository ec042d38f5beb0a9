"""`xerobridge new-plugin` renders a plugin package: the names, the files, the refusals, lint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from xerobridge.cli import main as cli
from xerobridge.cli import scaffold
from xerobridge.contract.errors import UserError

RUFF = Path(sys.executable).parent / "ruff"

EXPECTED_FILES = {
    "README.md",
    "pyproject.toml",
    "xerobridge_tickets/__init__.py",
    "xerobridge_tickets/client.py",
    "xerobridge_tickets/mapping.py",
    "xerobridge_tickets/sandbox/__init__.py",
    "xerobridge_tickets/sandbox/app.py",
    "xerobridge_tickets/sandbox/state.py",
    "xerobridge_tickets/settings.py",
    "xerobridge_tickets/streams.py",
    "tests/test_tickets_contract.py",
    "tests/test_tickets_mapping.py",
    "tests/test_tickets_streams.py",
    "tests/test_tickets_sync.py",
}


def test_it_writes_a_package_with_its_tests(tmp_path: Path) -> None:
    """Every template becomes one file, named for the plugin, with no template syntax left."""
    written = scaffold.render("tickets", tmp_path / "out")
    relative = {p.relative_to(tmp_path / "out").as_posix() for p in written}
    assert relative == EXPECTED_FILES
    for path in written:
        text = path.read_text()
        assert "{{" not in text and "{%" not in text, path
    pyproject = (tmp_path / "out" / "pyproject.toml").read_text()
    assert '[project.entry-points.xerobridge]\ntickets = "xerobridge_tickets"' in pyproject
    assert 'name = "xerobridge-tickets"' in pyproject
    assert '"xerobridge>=0.1,<0.2"' in pyproject


def test_the_names_of_a_plugin_follow_from_its_name() -> None:
    """One name gives the package, the distribution, the title and the class prefix."""
    names = scaffold.names_for("help_desk")
    assert (names.package, names.distribution, names.host) == (
        "xerobridge_help_desk", "xerobridge-help-desk", "help-desk",
    )  # fmt: skip
    assert (names.title, names.class_name) == ("Help Desk", "HelpDesk")
    assert scaffold.default_directory("help_desk") == Path("xerobridge-help-desk")


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("Tickets", "must start with a lower-case letter"),
        ("help-desk", "only a-z, 0-9 and _"),
        ("9lives", "must start with a lower-case letter"),
        ("x" * 41, "at most 40"),
        ("", "must start"),
        ("xero", "taken by xerobridge itself"),
        ("sync", "taken by xerobridge itself"),
    ],
)
def test_a_bad_name_is_refused_saying_what_a_name_may_be(name: str, says: str) -> None:
    with pytest.raises(UserError, match=says):
        scaffold.render(name, Path("never-written"))
    assert not Path("never-written").exists()


def test_every_core_command_is_a_reserved_name() -> None:
    """A plugin's CLI group is named after it, so no plugin may take a core command's name."""
    group = typer.main.get_command(cli.app)
    commands = {name.replace("-", "_") for name in group.commands}  # type: ignore[attr-defined]
    assert commands <= scaffold.RESERVED, commands - scaffold.RESERVED


def test_it_writes_only_into_a_new_or_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep me")
    with pytest.raises(UserError, match="is not empty"):
        scaffold.render("tickets", tmp_path / "taken")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(UserError, match="is a file"):
        scaffold.render("tickets", tmp_path / "a-file")
    (tmp_path / "empty").mkdir()
    assert scaffold.render("tickets", tmp_path / "empty")
    assert (tmp_path / "taken" / "mine.txt").read_text() == "keep me"


@pytest.mark.parametrize("name", ["tickets", "customer_relationship_hub"])
def test_the_generated_code_passes_ruff_as_generated(tmp_path: Path, name: str) -> None:
    """Lint and format clean under the generated project's own ruff settings."""
    scaffold.render(name, tmp_path / name)
    for args in (["check", "--no-cache", "."], ["format", "--no-cache", "--check", "."]):
        done = subprocess.run(
            [str(RUFF), *args], cwd=tmp_path / name, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_command_writes_the_plugin_and_says_what_next(tmp_path: Path) -> None:
    """`new-plugin` prints the next steps; a mistake is one `error:` line and exit status 2."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XEROBRIDGE_")}
    env["XEROBRIDGE_HOME"] = str(tmp_path / "home")
    run = [sys.executable, "-m", "xerobridge", "new-plugin"]
    ok = subprocess.Popen([*run, "tickets"], cwd=tmp_path, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    bad = subprocess.Popen([*run, "Tickets", "--dir", "elsewhere"], cwd=tmp_path, env=env,
                           text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    out, err = ok.communicate(timeout=60)
    assert ok.returncode == 0, err
    assert "wrote plugin tickets to xerobridge-tickets (14 files)" in out
    assert "pip install -e xerobridge-tickets" in out
    assert (tmp_path / "xerobridge-tickets" / "xerobridge_tickets" / "streams.py").is_file()
    out, err = bad.communicate(timeout=60)
    assert bad.returncode == 2
    assert err.splitlines() == [
        "error: plugin name 'Tickets' must start with a lower-case letter and use only a-z, "
        "0-9 and _ (at most 40), e.g. tickets or help_desk"
    ]
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.slow
def test_a_plugin_with_a_stream_from_xero_passes_its_own_tests_and_ruff(tmp_path: Path) -> None:
    """`new-plugin --from-xero`: suppliers from Xero become vendors, the tests it writes for
    that pass untouched, and the code is lint clean."""
    root = tmp_path / "xerobridge-tickets"
    scaffold.render("tickets", root, from_xero=True)
    streams = (root / "xerobridge_tickets" / "streams.py").read_text()
    assert "class Vendors(" in streams and "Direction.FROM_XERO" in streams
    for args in (["check", "--no-cache", "."], ["format", "--no-cache", "--check", "."]):
        done = subprocess.run([str(RUFF), *args], cwd=root, capture_output=True, text=True,
                              check=False)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("XEROBRIDGE_")}
    env["PYTHONPATH"] = str(root)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "."],
        cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert (
        "supplier_in_xero_becomes_one_vendor"
        in (root / "tests" / "test_tickets_sync.py").read_text()
    )
