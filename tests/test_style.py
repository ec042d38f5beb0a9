"""The repository keeps its own rules: ruff clean, types checked, and a README with exactly two
commands."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean() -> None:
    """`ruff check` finds nothing anywhere in the repository."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or "ruff"
    result = subprocess.run(
        [ruff, "check", "--no-cache", str(ROOT)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_types_check() -> None:
    """mypy finds no error in the core or the plugins (configured in pyproject.toml)."""
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent)) or "mypy"
    result = subprocess.run(
        [mypy, "--no-incremental", "--hide-error-context", "--no-error-summary"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_readme_gives_one_run_and_one_test_command() -> None:
    """A new user meets exactly two copy-paste commands before the tour."""
    text = (ROOT / "README.md").read_text()
    before_tour = text.split("## A short tour")[0]
    blocks = re.findall(r"```\n(.*?)\n```", before_tour, flags=re.S)
    assert len(blocks) == 2
    run, test = blocks
    assert "xerobridge plugins" in run or "xerobridge demo" in run
    assert "pytest" in test
    assert all("\n" not in block for block in blocks)  # one line each: copy, paste, done
